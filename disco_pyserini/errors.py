"""Errors a user can fix. The command line prints them as one line and exits non-zero.

Errors with fields pickle with them (``__reduce__``), so that one raised in a spawned process or on
a Dask worker reaches the parent as it was raised: the default pickling rebuilds an exception from
its message alone, which their ``__init__`` does not take.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


class DiscoError(Exception):
    """Base class of the errors caused by input, options or the environment, not by a bug."""


class UsageError(DiscoError):
    """A wrong option or combination of options."""


class SettingError(UsageError):
    """A setting with a wrong value, named as the library names it (``max_length``).

    Only the command line knows flags: it shows the setting as ``--max-length`` (or the flag a
    command maps it to, e.g. ``--encoder`` for ``model``).
    """

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting} {problem}")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return type(self), (self.setting, self.problem)

    def with_flag(self, flags: Mapping[str, str] | None = None) -> str:
        flag = (flags or {}).get(self.setting, "--" + self.setting.replace("_", "-"))
        return f"{flag} {self.problem}"


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

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _input_error, (type(self), self.path, self.problem, self.line, self.record, self.fix)


def _input_error(cls: type[InputError], path: str, problem: str, line: int | None, record: str | None,
                 fix: str | None) -> InputError:
    return cls(path, problem, line=line, record=record, fix=fix)


class ModelError(DiscoError):
    """A model that cannot be found or loaded."""
