"""``disco-pyserini run``: an experiment configuration, stage by stage, skipping what is up to date."""

from __future__ import annotations

import argparse

from .options import add_java_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run an experiment configuration (configs/*.yaml)",
                            description="Topics -> encode -> index -> search (each mode) -> evaluate -> compare, "
                                        "skipping every stage whose output exists and matches the configuration.")
    parser.add_argument("config", metavar="CONFIG", help="a YAML file, e.g. configs/demo.yaml")
    add_java_options(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..experiment import run_experiment

    print(run_experiment(load_config(args.config), heap=args.java_heap, progress=not args.quiet))
    return 0
