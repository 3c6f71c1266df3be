"""``disco-pyserini fuse``: several runs fused into one (multi-teacher DiSCo sum, RRF, interpolation)."""

from __future__ import annotations

import argparse

from .options import non_negative_int, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..eval.fusion import DEFAULT_RRF_K, METHODS

    parser = sub.add_parser(
        "fuse", help="fuse runs: the multi-teacher DiSCo sum, reciprocal rank fusion or interpolation",
        description="Fuse several runs of the same queries into one, written as Anserini writes runs (queries in "
                    "Pyserini's order, hits by score then doc id). sum (the default): the scores summed per "
                    "(query, document), as the multi-teacher DiSCo models do; a document missing from a run gets "
                    "that run's lowest score for the query. rrf: sum over the runs of 1 / (k + rank). "
                    "interpolation: weights summing to 1 (alpha for two runs: alpha * run1 + (1 - alpha) * run2; "
                    "by default 1/n each), a missing document adding 0, as pyserini.fusion defines it.")
    parser.add_argument("--runs", required=True, nargs="+", metavar="RUN")
    parser.add_argument("--output", required=True, metavar="RUN")
    parser.add_argument("--method", choices=METHODS, default="sum", help="(default: sum)")
    parser.add_argument("--weights", type=float, nargs="+", default=None, metavar="W",
                        help="one per run, for sum (default: 1 each) and interpolation (default: 1/n each; "
                             "a single W with two runs is alpha)")
    parser.add_argument("--rrf-k", type=non_negative_int, default=DEFAULT_RRF_K, metavar="K",
                        help=f"rrf's k in 1 / (k + rank) (default: {DEFAULT_RRF_K}, as Cormack et al.)")
    parser.add_argument("--depth", type=positive_int, default=None, metavar="N",
                        help="hits of each run fused (its first N by score, then doc id; default: all of them)")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query written (default: 1000)")
    parser.add_argument("--run-tag", default="fused")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.fusion import Fusion
    from ..io.jsonl import write_json
    from ..io.metadata import artifact_header
    from ..io.runs import check_run_tag, metadata_path, read_run, write_run

    check_run_tag(args.run_tag)
    fusion = Fusion(args.method, weights=None if args.weights is None else tuple(args.weights), rrf_k=args.rrf_k,
                    depth=args.depth, hits=args.hits)
    settings = fusion.describe(len(args.runs))  # refuses weights that do not fit the runs before reading them
    results = fusion.ranked([read_run(path) for path in args.runs])
    lines = write_run(args.output, results, tag=args.run_tag)
    write_json(metadata_path(args.output), {**artifact_header("run"), "fusion": settings, "runs": list(args.runs),
                                            "run_tag": args.run_tag, "queries": len(results), "lines": lines})
    print(f"{args.output}: {len(results)} queries, {lines} lines fused ({args.method}) from {len(args.runs)} runs")
    return 0
