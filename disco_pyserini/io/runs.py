"""TREC run files and qrels.

Runs are written as Pyserini writes them (``qid Q0 docid rank score tag``, score with six
decimals, queries in Pyserini's order, each query's hits in the searcher's order: score
descending, ties broken by doc id), atomically, so that our runs and Pyserini's are byte-identical.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from ..errors import DiscoError, InputError, UsageError
from .jsonl import atomic_output, iter_lines

Run = dict[str, dict[str, float]]
Qrels = dict[str, dict[str, int]]

SCORE_DECIMALS = 6
"""Decimals of a score in a run file, as Pyserini and Anserini write it (fused scores are kept to them)."""


class Hit(NamedTuple):
    doc_id: str
    score: float


class Qrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int


# How Java's Integer.toString and Python's str(int) write a number.
_CANONICAL_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)", re.ASCII)
QUERY_ID_FIX = "write numeric query ids in ASCII digits without leading zeros or '+', or give them a non-numeric part"


def pyserini_id_problem(query_id: str) -> str | None:
    """Why Pyserini 1.6.0's search command would not keep ``query_id`` as it is, or ``None``.

    Its query iterator reads a topics TSV with Anserini's ``TsvIntTopicReader`` first: each id goes
    through ``Integer.valueOf`` (a sign, then Unicode decimal digits of the BMP) and comes back as
    ``Integer.toString``; when any id fails, ``TsvStringTopicReader`` keeps them all as strings. Then
    ``get_topics_with_reader`` (``pyserini/search/_base.py``) turns every id with ``str.isdigit()``
    into ``int(id)``, which fails for digits such as '²', and writes ``str`` of it in the run.
    """
    if any(ord(c) < 0x20 for c in query_id):
        return "it contains a control character, which Anserini's topic readers strip"
    if query_id.isdigit() and not _CANONICAL_NUMBER.fullmatch(query_id):
        try:
            value = int(query_id)
        except ValueError:
            return "it is made of digits that Python's int() cannot read, and Pyserini's search fails on it"
        return f"Pyserini reads ids made of digits as integers and would write this one as {value}"
    value = _java_integer(query_id)
    if value is not None and str(value) != query_id:
        return f"Anserini reads it as the integer {value} when every query id is a number, and writes {value}"
    return None


def _java_integer(text: str) -> int | None:
    """Java's ``Integer.valueOf(text)``, or ``None`` where it throws ``NumberFormatException``."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits or not all(c.isdecimal() and ord(c) <= 0xFFFF for c in digits):  # Character.digit(char, 10)
        return None
    value = int(text)
    return value if -(2 ** 31) <= value < 2 ** 31 else None


def pyserini_order(query_ids: Iterable[str]) -> list[str]:
    """The order in which Pyserini's search command writes queries: ``sorted`` over its topic ids
    (``QueryIterator``), which are integers for ids made of digits: numerically when every id is
    one, else by ``str`` (which gives back the id). Ids that Pyserini would rewrite or fail on
    (:func:`pyserini_id_problem`) cannot be ordered as it does and are refused."""
    ids = list(query_ids)
    for query_id in ids:
        problem = pyserini_id_problem(query_id)
        if problem is not None:
            raise DiscoError(f"query id {query_id!r}: {problem}; {QUERY_ID_FIX}")
    if all(q.isdigit() for q in ids):
        return sorted(ids, key=int)
    return sorted(ids)


def rank_key(hit: Hit) -> tuple[float, str]:
    """Anserini's ranking order: score descending, ties broken by doc id (Lucene compares the ids'
    UTF-8 bytes, which order as Python compares the strings)."""
    return -hit.score, hit.doc_id


def ranked(scores: Mapping[str, float], depth: int | None = None) -> list[Hit]:
    """``{doc_id: score}`` as hits in Anserini's ranking order, the first ``depth`` of them."""
    return sorted((Hit(doc_id, score) for doc_id, score in scores.items()), key=rank_key)[:depth]


def metadata_path(run: str | os.PathLike[str]) -> str:
    """Where the metadata of a run file is written: beside it, ``RUN.json`` for the run ``RUN``."""
    return os.fspath(run) + ".json"


def check_run_tag(tag: str) -> str:
    if not tag or any(c.isspace() for c in tag):
        raise UsageError(f"--run-tag {tag!r} must be non-empty and without spaces")
    return tag


def trec_lines(query_id: str, hits: Sequence[Hit], tag: str) -> Iterable[str]:
    """The run file lines of one query's hits, scores to ``SCORE_DECIMALS`` decimals as Pyserini writes them."""
    for rank, hit in enumerate(hits, start=1):
        yield f"{query_id} Q0 {hit.doc_id} {rank} {hit.score:.{SCORE_DECIMALS}f} {tag}\n"


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


def read_hits(path: str | os.PathLike[str]) -> dict[str, list[tuple[str, float]]]:
    """``(doc_id, score)`` pairs of every query of a run this package or Anserini just wrote, in the
    file's order (no checks: for runs just written, e.g. by an index shard). The file is split in
    one go and its columns sliced, which reads a million lines in about a third of a second."""
    with open(path, encoding="utf-8") as handle:
        fields = handle.read().split()
    if len(fields) % 6:
        raise InputError(path, "a run line has 6 columns (qid Q0 docid rank score tag)")
    pairs = list(zip(fields[2::6], map(float, fields[4::6])))
    hits: dict[str, list[tuple[str, float]]] = {}
    start = 0
    for query_id, count in Counter(fields[0::6]).items():  # a query's lines are consecutive
        hits[query_id] = pairs[start:start + count]
        start += count
    return hits


def count_run(path: str | os.PathLike[str]) -> tuple[int, set[str]]:
    """``(lines, query ids)`` of a run just written."""
    lines, queries, previous = 0, set(), None
    with open(path, "rb") as handle:
        for line in handle:
            lines += 1
            if previous is None or not line.startswith(previous):  # a query's lines are consecutive
                previous = line[:line.index(b" ") + 1]
                queries.add(previous[:-1].decode("utf-8"))
    return lines, queries


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
