"""``disco-pyserini explain``: why each top hit of a turn was retrieved, term by term."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import UsageError
from .options import (
    add_backend_option,
    add_encoder_options,
    add_java_options,
    encoder_spec,
    non_negative_int,
    positive_int,
)

CONVERSATION_FIX = ('give --conversation \'[["first question", "its answer"], ["current question", null]]\' '
                    '(JSON, oldest turn first)')


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("explain", help="explain a turn's top hits: matched terms, weights and their origins",
                            description="Search one turn (a topics file and a query id, or a conversation given "
                                        "inline) and show, for each top hit, every matched term's query weight × "
                                        "document weight = contribution (they add up to the score), and where each "
                                        "query term comes from: the current question, an earlier question, an "
                                        "earlier answer, or the model's expansion.")
    parser.add_argument("--index", required=True, metavar="DIR", help="the impact index (or a folder of shards)")
    parser.add_argument("--model", required=True,
                        help="preset (its query model), hub id or folder of the query encoder")
    turn = parser.add_mutually_exclusive_group(required=True)
    turn.add_argument("--topics", metavar="FILE", help="topics JSONL holding the turn (with --qid)")
    turn.add_argument("--conversation", metavar="JSON",
                      help='the conversation inline: [["question", "answer"], ..., ["current question", null]]')
    parser.add_argument("--qid", help="the query id of the turn in --topics")
    parser.add_argument("--rewrite", default=None, help="with --conversation: the last turn's rewrite, for "
                                                        "--query-mode rewrite")
    parser.add_argument("--query-mode", default="disco",
                        help="disco (flattened conversation), raw, rewrite, rewrite-auto, history or field:NAME "
                             "(default: disco)")
    parser.add_argument("--hits", type=positive_int, default=10, help="hits to explain (default: 10)")
    parser.add_argument("--doc", action="append", default=[], metavar="DOCID",
                        help="also explain this document, wherever it ranks (repeatable)")
    parser.add_argument("--terms", type=non_negative_int, default=10,
                        help="contributions shown per hit in the table, heaviest first; 0 for all (default: 10; "
                             "--json gives all)")
    parser.add_argument("--json", action="store_true", help="print the explanation as one JSON object")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="explain even if the index's model vocabulary or scale differs from the queries'")
    add_encoder_options(parser)
    add_backend_option(parser)
    add_java_options(parser)
    parser.set_defaults(command=run, flags={"hits": "--hits"})


def parse_conversation(text: str) -> list[Any]:
    try:
        conversation = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"--conversation is not JSON ({error.msg} at character {error.pos}); {CONVERSATION_FIX}") \
            from None
    if not isinstance(conversation, list):
        raise UsageError(f"--conversation must be a JSON list of [question, answer] pairs; {CONVERSATION_FIX}")
    return conversation


def run(args: argparse.Namespace) -> int:
    from ..io.topics import check_query_mode, read_topics
    from ..search.explain import Explainer, as_topic, format_explanation
    from ..search.queries import QueryEncoding

    check_query_mode(args.query_mode)
    if args.topics is not None:
        if args.qid is None:
            raise UsageError("--topics needs --qid: the query id of the turn to explain")
        if args.rewrite is not None:
            raise UsageError("--rewrite goes with --conversation; a topics file has its rewrites")
        topics = {topic.query_id: topic for topic in read_topics(args.topics)}
        if args.qid not in topics:
            raise UsageError(f"--qid {args.qid} is not in {args.topics} (it holds {len(topics)} turns, e.g. "
                             f"{', '.join(list(topics)[:3])})")
        query = topics[args.qid]
    else:
        if args.qid is not None:
            raise UsageError("--qid goes with --topics")
        query = as_topic(parse_conversation(args.conversation), args.rewrite)
    encoding = QueryEncoding(encoder_spec(args, args.model, "query", threads=None))
    explainer = Explainer(args.index, encoding, heap=args.java_heap, allow_mismatch=args.allow_mismatch)
    try:
        explanation = explainer.explain(query, args.query_mode, k=args.hits, doc_ids=args.doc)
    finally:
        explainer.close()
    if args.json:
        print(json.dumps(explanation.to_json(), ensure_ascii=False))
    else:
        print(format_explanation(explanation, terms=args.terms))
    return 0
