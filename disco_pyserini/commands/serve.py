"""``disco-pyserini serve``: a local web page and JSON API to search and explain conversations."""

from __future__ import annotations

import argparse
import os

from ..errors import UsageError
from .options import (
    add_backend_option,
    add_java_options,
    add_length_and_scale_options,
    add_pruning_option,
    positive_int,
)

DEMO_MODEL = "splade-tiny"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535 (got {value})")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..serve.backend import DEFAULT_MODES, SERVE_MODES, Limits

    defaults = Limits()
    parser = sub.add_parser("serve", help="explore conversations in the browser: hits side by side, and why",
                            description="Serve a page (and a JSON API) where a conversation typed turn by turn is "
                                        "searched with each query mode side by side, every hit with its matched "
                                        "terms highlighted and their contributions. `serve --demo` serves the "
                                        "index `make demo` built.")
    parser.add_argument("--index", metavar="DIR", help="the impact index (or a folder of shards)")
    parser.add_argument("--model", action="append", default=None,
                        help="a query model: preset, hub id or folder (repeat for several; the first is the default)")
    parser.add_argument("--demo", action="store_true",
                        help=f"serve the demo's index (OUTPUT/demo/index, from `make demo`) with {DEMO_MODEL} and "
                             "the sample conversations as examples; works offline")
    parser.add_argument("--output", default="runs", metavar="DIR",
                        help="with --demo: the folder `disco-pyserini demo` wrote into (default: runs)")
    parser.add_argument("--modes", default=",".join(DEFAULT_MODES),
                        help=f"query modes to offer, comma-separated, among {', '.join(SERVE_MODES)} "
                             f"(default: {','.join(DEFAULT_MODES)}; rewrite runs when a rewrite is typed)")
    parser.add_argument("--topics", metavar="FILE", default=None,
                        help="a topics file whose turns the page offers as examples")
    parser.add_argument("--collection", metavar="DIR", default=None,
                        help="the collection to show passage texts from (default: the one the index metadata names)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; anything else warns: "
                             "the server has no authentication). Requests must name the server by it in their Host "
                             "header (on loopback: 127.0.0.1, localhost or ::1), against DNS rebinding; 0.0.0.0 "
                             "answers any name")
    parser.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--max-turns", type=positive_int, default=defaults.max_turns,
                        help=f"turns per conversation (default: {defaults.max_turns})")
    parser.add_argument("--max-characters", type=positive_int, default=defaults.max_characters,
                        help=f"characters per conversation, rewrite included (default: {defaults.max_characters})")
    parser.add_argument("--max-hits", type=positive_int, default=defaults.max_hits,
                        help=f"largest k a request may ask for (default: {defaults.max_hits})")
    add_length_and_scale_options(parser)
    add_backend_option(parser)
    add_pruning_option(parser)
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="serve even if the index's model vocabulary or scale differs from a query model's")
    add_java_options(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import serve
    from ..serve.backend import Limits

    index, models, topics = args.index, args.model, args.topics
    if args.demo:
        from ..pipeline.demo import sample_path

        index = index or os.path.join(args.output, "demo", "index")
        if not os.path.isdir(index):
            raise UsageError(f"--demo: {index} does not exist; build it first with `make demo` (or "
                             f"`disco-pyserini demo --output {args.output}`)")
        models = models or [DEMO_MODEL]
        topics = topics or sample_path("topics.jsonl")
    if index is None:
        raise UsageError("give --index DIR (and --model), or --demo")
    if not models:
        raise UsageError("give a query model with --model (repeat it for several)")
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    serve(index, models, host=args.host, port=args.port, modes=modes, heap=args.java_heap,
          allow_mismatch=args.allow_mismatch, collection=args.collection, topics=topics,
          limits=Limits(max_turns=args.max_turns, max_characters=args.max_characters, max_hits=args.max_hits),
          max_length=args.max_length, scale=args.scale, backend=args.backend, max_terms=args.query_max_terms)
    return 0
