"""Errors a user can fix. The command line prints them as one line and exits non-zero."""

from __future__ import annotations

import os


class DiscoError(Exception):
    """Base class of the errors caused by input, options or the environment, not by a bug."""


class UsageError(DiscoError):
    """A wrong option or combination of options."""


class QueryTextError(UsageError, ValueError):
    """A topic lacks the text a query mode needs (e.g. no rewrite for ``--query-mode rewrite``)."""


class InputError(DiscoError):
    """Bad content in a file: names the file, the line or record, what is wrong and the fix."""

    def __init__(self, path: str | os.PathLike[str], problem: str, *, line: int | None = None,
                 record: str | None = None, fix: str | None = None) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.record = record
        self.problem = problem
        self.fix = fix
        where = self.path if line is None else f"{self.path}:{line}"
        if record is not None:
            where = f"{where} ({record})"
        message = f"{where}: {problem}"
        if fix:
            message = f"{message}; {fix}"
        super().__init__(message)


class ModelError(DiscoError):
    """A model that cannot be found or loaded."""
