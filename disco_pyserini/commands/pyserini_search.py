"""``python -m disco_pyserini.search``: Pyserini's own impact search command, with DiSCo queries.

Takes our topics JSONL, a query model (``--encoder``: preset, hub id or folder) and a query mode;
encodes every turn (batched, through the query cache), then runs Pyserini's
``pyserini.search.lucene`` with every other flag passed through unchanged (``--index``,
``--output``, ``--hits``, ``--batch-size``, ``--threads``, ``--output-format``...), the queries
given to it as pre-encoded impact queries. ``--min-idf`` defaults to -1 (keep every term). Our
options are checked as ``disco-pyserini``'s are, and errors are reported the same way.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence

from ..errors import UsageError
from .options import (
    add_backend_option,
    add_cache_options,
    add_encoder_options,
    add_java_options,
    add_pruning_option,
    encoder_spec,
    positive_int,
    query_cache,
)

PROG = "python -m disco_pyserini.search"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Pyserini's impact search (python -m pyserini.search.lucene) with DiSCo query "
                               "encoding. Options not listed here are passed to Pyserini unchanged.")
    parser.add_argument("--encoder", required=True, help="query model: preset, hub id or local folder")
    parser.add_argument("--topics", required=True, help="topics JSONL (conversations)")
    parser.add_argument("--query-mode", default="disco", help="as for disco-pyserini search (default: disco)")
    add_encoder_options(parser, batch_size_flag="--encode-batch-size")
    add_backend_option(parser)
    add_pruning_option(parser)
    add_cache_options(parser)
    parser.add_argument("--run-tag", default=None, help="last column of a trec run (Pyserini writes 'Anserini')")
    parser.add_argument("--allow-mismatch", action="store_true")
    add_java_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..cli import configure_logging, run_reporting_errors

    ours, rest = build_parser().parse_known_args(argv)
    configure_logging(quiet=True)  # Pyserini reports its own progress
    return run_reporting_errors(PROG, lambda: run(ours, rest), {"model": "--encoder"})


def run(ours: argparse.Namespace, rest: list[str]) -> int:
    from ..index.lucene import read_index_metadata
    from ..io.runs import check_run_tag
    from ..io.topics import check_query_mode, read_topics
    from ..java import run_module, start_jvm
    from ..search.encoded_queries import write_encoded_queries
    from ..search.queries import QueryEncoding
    from ..search.searcher import check_compatible, retag_run

    passed = _flag_values(rest)
    if "--output" not in passed or "--index" not in passed:
        raise UsageError("--index and --output are required")
    if "--encoder" in rest or "--onnx-encoder" in passed:
        raise UsageError("--encoder names the DiSCo query model once")
    try:
        threads = positive_int(passed.get("--threads", "1"))
    except argparse.ArgumentTypeError as error:
        raise UsageError(f"--threads: {error}") from None
    check_query_mode(ours.query_mode)
    topics = read_topics(ours.topics)
    start_jvm(ours.java_heap)
    encoding = QueryEncoding(encoder_spec(ours, ours.encoder, "query", threads=threads), option="--encoder",
                             max_terms=ours.query_max_terms)
    check_compatible(read_index_metadata(passed["--index"]), encoding.describe(), index=passed["--index"],
                     allow_mismatch=ours.allow_mismatch)
    vectors = encoding.encode_topics(topics, ours.query_mode, cache=query_cache(ours))
    with tempfile.TemporaryDirectory(prefix="disco-pyserini-") as folder:
        queries = os.path.join(folder, "queries.jsonl")
        write_encoded_queries(queries, zip([t.query_id for t in topics], vectors))
        args = list(rest) + ["--encoder", queries, "--topics", queries[: -len(".jsonl")] + ".topics.tsv"]
        if "--impact" not in rest:
            args.append("--impact")
        if "--min-idf" not in passed:
            args += ["--min-idf", "-1"]
        code = run_module("pyserini.search.lucene", args)
    if code == 0 and ours.run_tag is not None and passed.get("--output-format", "trec") == "trec":
        retag_run(passed["--output"], check_run_tag(ours.run_tag))
    return code


def _flag_values(args: Sequence[str]) -> dict[str, str]:
    """``{--flag: value}`` of the options passed through to Pyserini."""
    values = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            values[name] = value if eq else (args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--")
                                             else "")
    return values
