"""``disco-pyserini fuse``: several runs summed into one (multi-teacher DiSCo)."""

from __future__ import annotations

import argparse

from .options import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fuse", help="fuse teacher runs by summing their scores",
                            description="Sum the scores of several runs per (query, document), as the "
                                        "multi-teacher DiSCo models do; a document missing from a run gets that "
                                        "run's lowest score for the query.")
    parser.add_argument("--runs", required=True, nargs="+", metavar="RUN")
    parser.add_argument("--output", required=True, metavar="RUN")
    parser.add_argument("--hits", type=positive_int, default=1000)
    parser.add_argument("--run-tag", default="fused")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..fusion import fuse_runs
    from ..runs import pyserini_order, ranked, read_run, write_run

    fused = fuse_runs([read_run(path) for path in args.runs], depth=args.hits)
    results = [(qid, ranked(fused[qid])) for qid in pyserini_order(fused)]
    lines = write_run(args.output, results, tag=args.run_tag)
    print(f"{args.output}: {len(results)} queries, {lines} lines fused from {len(args.runs)} runs")
    return 0
