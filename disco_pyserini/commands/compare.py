"""``disco-pyserini compare``: runs side by side, paired significance, measures by turn depth."""

from __future__ import annotations

import argparse

from ..errors import DiscoError
from .options import METRICS_HELP, add_average_option, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..eval.evaluate import PROTOCOLS

    parser = sub.add_parser("compare", help="compare runs: measures, significance, turn depth",
                            description="Evaluate runs side by side with a protocol, test each against the "
                                        "baseline (paired t-test, Bonferroni), break the measures down by "
                                        "turn depth, and write a CSV and a PNG plot.")
    parser.add_argument("--qrels", required=True, metavar="FILE")
    parser.add_argument("--runs", required=True, nargs="+", metavar="RUN")
    parser.add_argument("--baseline", default=None, metavar="RUN", help="one of --runs (default: the first)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="disco",
                        help="the measures and threshold: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROTOCOLS.values()) + " (default: disco)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="MEASURE",
                        help=f"{METRICS_HELP} (default: the protocol's)")
    parser.add_argument("--rel-threshold", type=positive_int, default=None,
                        help="override the protocol's relevance threshold")
    add_average_option(parser)
    parser.add_argument("--topics", metavar="FILE", default=None,
                        help="topics JSONL giving each turn's depth (default: the number after the last _ of the id)")
    parser.add_argument("--output", default="compare", metavar="PREFIX",
                        help="writes PREFIX.csv and PREFIX.png (default: compare)")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..eval.compare import compare_runs, markdown, plot_by_depth, run_labels, write_csv
    from ..eval.evaluate import get_protocol, resolve_measures
    from ..io.runs import read_qrels, read_run
    from ..io.topics import read_topics

    if len(set(args.runs)) != len(args.runs):
        raise DiscoError("--runs lists a run twice")
    protocol = get_protocol(args.protocol)
    metrics = resolve_measures(args.metrics or protocol.metrics)
    qrels = read_qrels(args.qrels)
    runs = {path: read_run(path) for path in args.runs}
    depths = {t.query_id: t.depth for t in read_topics(args.topics)} if args.topics else None
    comparison = compare_runs(qrels, runs, protocol, baseline=args.baseline, depths=depths,
                              rel_threshold=args.rel_threshold, metrics=metrics, average=args.average)
    labels = run_labels(args.runs)
    print(markdown(comparison, labels))
    write_csv(comparison, args.output + ".csv", labels)
    plot_by_depth(comparison, args.output + ".png", labels)
    print(f"\nwritten: {args.output}.csv, {args.output}.png")
    return 0
