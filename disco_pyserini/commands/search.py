"""``disco-pyserini search``: a topics file into a TREC run."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from ..errors import DiscoError
from .options import (
    add_backend_option,
    add_cache_options,
    add_dask_options,
    add_encoder_options,
    add_java_options,
    add_pruning_option,
    encoder_spec,
    positive_int,
    query_cache,
)

if TYPE_CHECKING:
    from ..search.searcher import RunSummary, ShardSet


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="search a topics file into a TREC run",
                            description="Encode every turn of a topics file (batched) and search the "
                                        "impact index into a TREC run file.")
    parser.add_argument("--index", required=True, metavar="DIR", action="append",
                        help="an index, a folder of index shards, or several --index searched as one")
    parser.add_argument("--topics", required=True, metavar="FILE", help="topics JSONL")
    parser.add_argument("--model", default=None,
                        help="preset (its query model), hub id or local folder of the query encoder")
    parser.add_argument("--encoded-queries", metavar="FILE", default=None,
                        help="search these pre-encoded queries instead (.jsonl from encode-queries, or Anserini's "
                             ".tsv[.gz] with each token repeated weight times), keyed by query id")
    parser.add_argument("--output", required=True, metavar="RUN", help="TREC run file to write")
    parser.add_argument("--query-mode", default="disco",
                        help="disco (flattened conversation), raw (current question), rewrite, "
                             "rewrite-auto, history, or field:NAME (default: disco)")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query (default: 1000)")
    parser.add_argument("--run-tag", default="disco-pyserini", help="last column of the run")
    parser.add_argument("--threads", type=positive_int, default=1, help="search and encoding threads")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="search even if the index's model vocabulary or scale differs from the queries'")
    add_pruning_option(parser)
    add_cache_options(parser)
    add_encoder_options(parser)
    add_backend_option(parser)
    add_java_options(parser)
    add_dask_options(parser, "search the index shards on a Dask cluster, each worker keeping its shards open")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..io.topics import check_query_mode, read_topics
    from ..search.encoded_queries import read_encoded_metadata, read_encoded_queries
    from ..search.queries import QueryEncoding
    from ..search.searcher import ShardSet, check_compatible, open_searcher, prepare_queries, search_to_run

    if (args.model is None) == (args.encoded_queries is None):
        raise DiscoError("give a query model (--model) or pre-encoded queries (--encoded-queries), one of them")
    check_query_mode(args.query_mode)
    topics = read_topics(args.topics)
    searcher = ShardSet(args.index) if args.dask else open_searcher(args.index, heap=args.java_heap)
    encoding = encoded = None
    if args.model is not None:
        encoding = QueryEncoding(encoder_spec(args, args.model, "query", threads=args.threads),
                                 max_terms=args.query_max_terms)
        description = {"encoder": encoding.describe(), "query_mode": args.query_mode}
    else:
        encoded = read_encoded_queries(args.encoded_queries)
        made_by = read_encoded_metadata(args.encoded_queries)
        if made_by is not None and "encoder" in made_by:  # ours: check its model and scale against the index
            check_compatible(searcher.metadata, made_by["encoder"], index=searcher.index,
                             allow_mismatch=args.allow_mismatch)
        description = {"encoded_queries": os.path.abspath(args.encoded_queries),
                       "query_max_terms": args.query_max_terms}
    queries = prepare_queries(searcher, topics, encoding, mode=args.query_mode, allow_mismatch=args.allow_mismatch,
                              cache=query_cache(args), encoded=encoded, max_terms=args.query_max_terms)
    description = {"index": args.index if len(args.index) > 1 else args.index[0], "topics": args.topics,
                   "hits": args.hits, **description}
    if args.dask:
        summary = _search_with_dask(args, searcher, queries, description)
    else:
        summary = search_to_run(searcher, queries, args.output, tag=args.run_tag, hits=args.hits,
                                threads=args.threads, description=description)
    print(f"{args.output}: {summary.queries} queries, {summary.lines} lines")
    return 0


def _search_with_dask(args: argparse.Namespace, shards: ShardSet, queries: list, description: dict) -> RunSummary:
    """On the scheduler the options name, or on a local cluster started (and stopped) for the job."""
    from ..cluster.encode import close_client, connect
    from ..cluster.search import search_with_dask
    from ..search.searcher import write_search_run

    client = connect(args.scheduler, args.workers, args.threads)
    try:
        hits = search_with_dask(client, shards.paths, queries, k=args.hits, threads=args.threads)
    finally:
        close_client(client, args.scheduler)
    return write_search_run(args.output, [(qid, hits[qid]) for qid, _ in queries], tag=args.run_tag,
                            description={**description, "dask_workers": args.workers})
