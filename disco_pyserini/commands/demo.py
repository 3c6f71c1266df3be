"""``disco-pyserini demo``: the whole pipeline on the bundled sample."""

from __future__ import annotations

import argparse

from .options import add_java_options, command_line, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the whole pipeline on the bundled sample with SPLADE-tiny",
                            description="Encode, index, search (raw, disco, rewrite) and evaluate the sample "
                                        "conversations that ship with the package.")
    parser.add_argument("--output", default="runs", metavar="DIR", help="where runs and work files go (default: runs)")
    parser.add_argument("--model", default="splade-tiny", help="preset, hub id or folder (default: splade-tiny)")
    parser.add_argument("--threads", type=positive_int, default=None)
    add_java_options(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..pipeline.demo import run_demo

    print(run_demo(args.output, model=args.model, threads=args.threads, heap=args.java_heap,
                   progress=not args.quiet))
    serve = ["serve", "--demo"] + (["--output", args.output] if args.output != "runs" else [])
    if args.model != "splade-tiny":
        serve += ["--model", args.model]
    print(f"\nExplore these conversations in the browser: {command_line(*serve)}")
    return 0
