"""``disco-pyserini topics``: a benchmark's topic files (TREC CAsT, iKAT, TopiOCQA, QReCC) as topics JSONL."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..datasets.conversational import FORMATS

    parser = sub.add_parser("topics", help="convert a benchmark's topic files into a topics JSONL",
                            description="Convert conversational topic sets (TREC CAsT 2019-2022, iKAT 2023, "
                                        "TopiOCQA, QReCC) into topics JSONL: one line per turn, with the "
                                        "official query ids, the conversation so far, and every rewrite.")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="the dataset's files (cast2019: topics JSON and resolved TSV; cast2020/2021: "
                             "manual and/or automatic topics JSON; ...)")
    parser.add_argument("--passages", metavar="FILE", default=None,
                        help="cast2020: JSONL of canonical passages ({id, contents}) to fill in the answers")
    parser.add_argument("--output", required=True, metavar="FILE")
    parser.add_argument("--qrels-output", metavar="FILE", default=None,
                        help="topiocqa: also write qrels with each turn's gold passage (relevance 1)")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets.conversational import convert_topics, gold_qrels
    from ..io.runs import write_qrels
    from ..io.topics import conversation_id, write_topics

    topics = convert_topics(args.format, args.inputs, args.passages)
    qrels = gold_qrels(topics) if args.qrels_output else None
    write_topics(topics, args.output)
    if qrels is not None:
        write_qrels(args.qrels_output, qrels)
        print(f"{args.qrels_output}: {len(qrels)} gold passages")
    conversations = len({conversation_id(t.query_id) for t in topics})
    print(f"{args.output}: {len(topics)} turns of {conversations} conversations; "
          f"{sum(1 for t in topics if t.rewrite)} with a manual rewrite, "
          f"{sum(1 for t in topics if t.rewrite_auto)} with an automatic one, "
          f"{sum(1 for t in topics if any(a for _, a in t.conversation))} with answers in their history")
    return 0
