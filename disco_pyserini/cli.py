"""The ``disco-pyserini`` command line: one console script, one subcommand per pipeline stage.

The subcommands live in :mod:`disco_pyserini.commands`, one module each. ``main(argv)`` returns
the exit status; tests call it in-process. Every error caused by input, options or the
environment is handled here, once, for every command (and for ``python -m disco_pyserini.search``
and ``python -m disco_pyserini.java``): one line, ``PROG: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping, Sequence

from .errors import DiscoError, SettingError

PROG = "disco-pyserini"


def build_parser() -> argparse.ArgumentParser:
    from .commands import command_modules

    parser = argparse.ArgumentParser(prog=PROG,
                                     description="DiSCo conversational sparse retrieval on Pyserini and Lucene.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for module in command_modules():
        module.add_parser(sub)
    return parser


def _version() -> str:
    from .io.metadata import package_version

    return package_version()


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and notebooks replace it)."""

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("disco_pyserini")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def run_reporting_errors(prog: str, command: Callable[[], int], flags: Mapping[str, str] | None = None) -> int:
    """Run ``command``; an error a user can fix becomes one line on stderr and exit status 2.

    A :class:`SettingError` names a setting as the library does; it is shown as its flag
    (``max_length`` as ``--max-length``, or as ``flags`` maps it).
    """
    try:
        return int(command())
    except SettingError as error:
        print(f"{prog}: error: {error.with_flag(flags)}", file=sys.stderr)
        return 2
    except DiscoError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system refused: permissions, a full disk, a missing folder
        where = f"{error.filename}: " if error.filename else ""
        print(f"{prog}: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    return run_reporting_errors(PROG, lambda: args.command(args), getattr(args, "flags", None))


if __name__ == "__main__":
    sys.exit(main())
