"""The commands of ``disco-pyserini``, one module each, in the order ``--help`` lists them.

Each module has ``add_parser(subparsers)``, which adds its subcommand with ``run`` as the
parser's ``command`` default, and ``run(args) -> int``. Library modules are imported inside
``run`` only, so ``--help`` starts neither torch nor Java. :mod:`disco_pyserini.cli` builds the parser from this
list and handles every command's errors in one place.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS = ("topics", "encode", "index", "encode_queries", "search", "evaluate", "compare", "fuse", "distill",
            "explain", "serve", "run", "demo", "export_onnx")


def command_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}") for name in COMMANDS]
