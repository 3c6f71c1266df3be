"""``disco-pyserini index``: a Lucene impact index (or K index shards) from a collection folder."""

from __future__ import annotations

import argparse

from .options import add_java_options, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="build a Lucene impact index from a collection folder",
                            description="Index a collection folder with Pyserini (JsonVectorCollection, "
                                        "impact, pretokenized) and check the document count.")
    parser.add_argument("--collection", required=True, metavar="DIR")
    parser.add_argument("--index", required=True, metavar="DIR")
    parser.add_argument("--threads", type=positive_int, default=1, help="indexing threads (default: 1)")
    parser.add_argument("--store-raw", action="store_true", help="store each document's JSON in the index")
    parser.add_argument("--index-shards", type=positive_int, default=1, metavar="K",
                        help="build K indexes from K groups of collection parts (search them with the folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing index in --index")
    add_java_options(parser)
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..index.lucene import build_index

    info = build_index(args.collection, args.index, threads=args.threads, overwrite=args.overwrite,
                       store_raw=args.store_raw, heap=args.java_heap, shards=args.index_shards)
    shards = f" in {len(info['shards'])} shards" if info.get("shards") else ""
    print(f"{args.index}: {info['documents']} documents{shards}")
    return 0
