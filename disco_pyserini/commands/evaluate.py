"""``disco-pyserini evaluate``: one run against qrels, with trec_eval's measures (pytrec_eval)."""

from __future__ import annotations

import argparse
import json

from .options import METRICS_HELP, add_average_option, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..eval.evaluate import DEFAULT_METRICS, PROTOCOLS

    parser = sub.add_parser("evaluate", help="evaluate a TREC run with pytrec_eval",
                            description="Evaluate a run with trec_eval's measures (pytrec_eval). By default the "
                                        "means are over every judged query, missing ones 0 (trec_eval -c); "
                                        "--average retrieved gives the DiSCo reference code's averaging.")
    parser.add_argument("--qrels", required=True, metavar="FILE")
    parser.add_argument("--run", required=True, metavar="FILE")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="MEASURE",
                        help=f"{METRICS_HELP} (default: {' '.join(DEFAULT_METRICS)}, or the protocol's)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                        help="a named protocol's measures and threshold: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROTOCOLS.values()))
    parser.add_argument("--rel-threshold", type=positive_int, default=None,
                        help="lowest relevance counted as relevant by MRR, recall and MAP (trec_eval -l; "
                             "default 1, or the protocol's)")
    add_average_option(parser)
    parser.add_argument("--per-query", action="store_true", help="also print every query's values")
    parser.add_argument("--json", action="store_true", help="print one JSON object: measure -> mean, and counts")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.evaluate import (
        DEFAULT_METRICS,
        evaluate_run,
        format_table,
        get_protocol,
        resolve_measures,
        summary_json,
    )
    from ..io.runs import read_qrels, read_run

    protocol = get_protocol(args.protocol) if args.protocol else None
    metrics = resolve_measures(args.metrics or (protocol.metrics if protocol else DEFAULT_METRICS))
    qrels = read_qrels(args.qrels)
    run = read_run(args.run)
    threshold = args.rel_threshold or (protocol.threshold(qrels) if protocol else 1)
    result = evaluate_run(qrels, run, metrics, rel_threshold=threshold, average=args.average)
    if args.json:
        print(json.dumps(summary_json(result), sort_keys=False))
        return 0
    print(format_table({args.run: result["mean"]}, metrics))
    if args.per_query:
        print()
        print(format_table(result["per_query"], metrics).replace("| run |", "| query |", 1))
    missing = len(result["missing"])
    if args.average == "judged":
        averaged = f"means over all {result['judged']} judged queries; {missing} missing from the run (scored 0)"
    else:
        averaged = (f"means over the {result['averaged']} judged queries in the run; {missing} judged queries "
                    "missing from the run (not scored)")
    print(f"\n{averaged}; {len(result['unjudged'])} in the run without judgments (not scored); "
          f"relevance >= {threshold} relevant")
    return 0
