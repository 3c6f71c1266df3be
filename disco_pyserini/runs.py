"""TREC run files and qrels.

Runs are written as Pyserini writes them (``qid Q0 docid rank score tag``, score with six
decimals, queries in Pyserini's order, each query's hits in the searcher's order: score
descending, ties broken by doc id), atomically, so that our runs and Pyserini's are byte-identical.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from .errors import InputError, UsageError
from .jsonl import atomic_output, iter_lines

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]


class Hit(NamedTuple):
    doc_id: str
    score: float


class Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int


def pyserini_order(query_ids: Iterable[str]) -> list[str]:
    """The order in which Pyserini's search command writes queries: sorted, numerically when every
    id is an integer (Anserini then reads them as integers), else as strings."""
    ids = list(query_ids)
    if all(q.isdigit() for q in ids):
        return sorted(ids, key=int)
    return sorted(ids)


def check_run_tag(tag: str) -> str:
    if not tag or any(c.isspace() for c in tag):
        raise UsageError(f"--run-tag {tag!r} must be non-empty and without spaces")
    return tag


def trec_lines(query_id: str, hits: Sequence[Hit], tag: str) -> Iterable[str]:
    for rank, hit in enumerate(hits, start=1):
        yield f"{query_id} Q0 {hit.doc_id} {rank} {hit.score:.6f} {tag}\n"


def write_run(path: str | os.PathLike[str], results: Iterable[tuple[str, Sequence[Hit]]], tag: str) -> int:
    """Write ``(query_id, hits)`` in the order given; returns the number of lines."""
    check_run_tag(tag)
    lines = 0
    with atomic_output(path) as handle:
        for query_id, hits in results:
            for line in trec_lines(query_id, hits, tag):
                handle.write(line)
                lines += 1
    return lines


def read_run(path: str | os.PathLike[str]) -> Run:
    """``{qid: {docid: score}}``; malformed lines and duplicate (qid, docid) pairs are errors."""
    path = os.fspath(path)
    run: Run = {}
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        columns = text.split()
        if len(columns) != 6:
            raise InputError(path, f"a run line has 6 columns (qid Q0 docid rank score tag), this one {len(columns)}",
                             line=number)
        query_id, _, doc_id, rank, score_text, _ = columns
        try:
            score = float(score_text)
            int(rank)
        except ValueError:
            raise InputError(path, f"rank {rank!r} or score {score_text!r} is not a number", line=number) from None
        if not math.isfinite(score):
            raise InputError(path, f"score {score_text} is not finite", line=number)
        hits = run.setdefault(query_id, {})
        if doc_id in hits:
            raise InputError(path, f"document {doc_id} is listed twice for query {query_id}", line=number,
                             fix="keep one line per (query, document)")
        hits[doc_id] = score
    return run


def read_qrels(path: str | os.PathLike[str]) -> Qrels:
    """``{qid: {docid: relevance}}`` from a TREC qrels file (``qid iter docid relevance``)."""
    path = os.fspath(path)
    qrels: Qrels = {}
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        columns = text.split()
        if len(columns) != 4:
            raise InputError(path, f"a qrels line has 4 columns (qid iteration docid relevance), this one "
                             f"{len(columns)}", line=number)
        query_id, _, doc_id, relevance = columns
        try:
            value = int(relevance)
        except ValueError:
            raise InputError(path, f"relevance {relevance!r} is not an integer", line=number) from None
        judged = qrels.setdefault(query_id, {})
        if doc_id in judged and judged[doc_id] != value:
            raise InputError(path, f"document {doc_id} is judged twice for query {query_id} "
                             f"({judged[doc_id]} and {value})", line=number)
        judged[doc_id] = value
    if not qrels:
        raise InputError(path, "the qrels file holds no judgments")
    return qrels


def write_qrels(path: str | os.PathLike[str], qrels: Iterable[Qrel]) -> None:
    with atomic_output(path) as handle:
        for qrel in qrels:
            handle.write(f"{qrel.query_id} 0 {qrel.doc_id} {qrel.relevance}\n")


def run_from_results(results: Mapping[str, Sequence[Hit]]) -> Run:
    return {qid: {hit.doc_id: hit.score for hit in hits} for qid, hits in results.items()}
