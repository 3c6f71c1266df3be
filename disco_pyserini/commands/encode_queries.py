"""``disco-pyserini encode-queries``: topics into pre-encoded impact queries stock Pyserini reads."""

from __future__ import annotations

import argparse
import os

from .options import (
    add_backend_option,
    add_cache_options,
    add_encoder_options,
    add_pruning_option,
    encoder_spec,
    positive_int,
    query_cache,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("encode-queries", help="encode a topics file into queries stock Pyserini reads",
                            description="Encode every turn once (batched) into pre-encoded impact queries that "
                                        "stock `python -m pyserini.search.lucene --impact` searches unchanged.")
    parser.add_argument("--topics", required=True, metavar="FILE", help="topics JSONL")
    parser.add_argument("--model", required=True, help="preset (its query model), hub id or local folder")
    parser.add_argument("--query-mode", default="disco", help="as for search (default: disco)")
    parser.add_argument("--output", required=True, metavar="QUERIES",
                        help="QUERIES.jsonl (with QUERIES.topics.tsv beside it: search with --encoder QUERIES.jsonl "
                             "--topics QUERIES.topics.tsv) or QUERIES.tsv[.gz] (Anserini's format: --topics only)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="encoding threads (ONNX Runtime's on the CPU default, torch's with --backend torch)")
    add_pruning_option(parser)
    add_cache_options(parser)
    add_encoder_options(parser)
    add_backend_option(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..io.topics import check_query_mode, read_topics
    from ..java import python_command
    from ..search.encoded_queries import encoded_format, topics_tsv_path, write_encoded_queries
    from ..search.queries import QueryEncoding

    check_query_mode(args.query_mode)
    fmt = encoded_format(args.output)
    topics = read_topics(args.topics)
    encoding = QueryEncoding(encoder_spec(args, args.model, "query", threads=args.threads),
                             max_terms=args.query_max_terms)
    vectors = encoding.encode_topics(topics, args.query_mode, cache=query_cache(args))
    count = write_encoded_queries(args.output, zip([t.query_id for t in topics], vectors), description={
        "topics": os.path.abspath(args.topics), "query_mode": args.query_mode, "encoder": encoding.describe()})
    print(f"{args.output}: {count} queries")
    # stock Pyserini, as printed: the import hook gives it Java 21 (see disco_pyserini.java)
    topics_flags = ["--encoder", args.output, "--topics", topics_tsv_path(args.output)] if fmt == "jsonl" \
        else ["--topics", args.output]
    print("search them with: " + python_command("-m", "pyserini.search.lucene", "--index", "INDEX", "--impact",
                                                "--min-idf", "-1", *topics_flags, "--output", "RUN",
                                                "--hits", "1000"))
    return 0
