"""Merging the hits of index shards into the run one index holding every document gives.

Impact scores are plain dot products without collection statistics, so a document scores the
same in its shard as in one index holding everything. But Anserini does not return the plain
score: after ranking, it rounds scores to 1e-4 and subtracts 1e-6 per position inside a run of
tied scores (:func:`adjust_ties`), so a shard's scores depend on where its ties fall in *its*
list. :func:`merge_hits` therefore recovers each hit's true score (:func:`true_score`: an
integer, the dot product of integer impacts, exact in Lucene's float below 2^24), ranks the union
by score then doc id as Anserini does, cuts it at k and adjusts the ties once: the single index's
run, byte for byte. Used by sharded search in one process and on a Dask cluster.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import DiscoError
from ..io.runs import Hit

# Anserini's ScoreTiesAdjusterReranker (anserini 1.7.1, the jar of Pyserini 1.6.0), in float32 as Java computes it
_TIE_GAP = np.float32(1e-4)
_TIE_STEP = np.float32(1e-6)
EXACT_BELOW = 2**24  # Lucene adds scores in float: integer sums are exact below this


def _java_float_round(score: float) -> float:
    """``(float) (Math.round((double) score * 10000.0) / 10000.0)``: Java's rounding to 1e-4."""
    scaled = float(np.float32(score)) * 10000.0
    whole = math.floor(scaled)  # Java's Math.round(double): halves go up
    return float(np.float32((whole + 1 if scaled - whole >= 0.5 else whole) / 10000.0))


def _tied(previous: float, score: float) -> bool:
    """Java's ``previous - score <= 1e-4f`` on two floats. Both are float32 values, so their
    difference in double is exact and its float32 rounding moves it by 2^-24 of itself at most:
    only a difference within 0.1% of 1e-4 needs the float32 arithmetic."""
    difference = previous - score
    if abs(difference - 1e-4) > 1e-7:
        return difference <= 1e-4
    return not np.float32(np.float32(previous) - np.float32(score)) > _TIE_GAP


def adjust_ties(hits: Sequence[Hit]) -> list[Hit]:
    """Anserini's score adjustment of a ranked list, exactly: each score rounded to 1e-4 (in
    double, back to float), then within a run of scores less than 1e-4 apart the i-th tied hit
    loses i * 1e-6 (float arithmetic), so that every tool sorts the hits in rank order.

    An integer below 2^24 (every impact score that Anserini has not adjusted) rounds to itself:
    only the other scores and the tied ones go through numpy's float32.
    """
    adjusted: list[Hit] = []
    previous = 0.0
    tied = 0
    for position, hit in enumerate(hits):
        score = hit.score
        if not (score.is_integer() and abs(score) < EXACT_BELOW):
            score = _java_float_round(score)
        if position == 0 or not _tied(previous, score):
            tied = 0
        else:
            tied += 1
            score = float(np.float32(np.float32(score) - _TIE_STEP * np.float32(tied)))
        adjusted.append(Hit(hit.doc_id, score))
        previous = score
    return adjusted


def integer_score(adjusted: float, rank: int) -> int | None:
    """The integer dot product behind a score Anserini returned at ``rank`` (rounded to 1e-4, moved by
    at most 5e-5, and by 1e-6 for each tie above it: :func:`adjust_ties`), or ``None`` where the
    score is no integer dot product below 2^24."""
    if adjusted.is_integer():  # left as it was: no tie above it, no rounding
        return int(adjusted) if abs(adjusted) < EXACT_BELOW else None
    whole = round(adjusted)
    if abs(whole) >= EXACT_BELOW or abs(adjusted - whole) > 5e-5 + 1e-6 * rank + abs(whole) * 2**-23:
        return None
    return int(whole)


def true_score(adjusted: float, hits: int) -> float:
    """:func:`integer_score` of a hit among the first ``hits``; an error where there is none."""
    score = integer_score(adjusted, hits)
    if score is None:
        raise DiscoError(f"score {adjusted!r} is not an integer dot product below 2^24: shards of this index cannot "
                         f"be merged exactly; search one index holding every document")
    return float(score)


def merge_hits(per_shard: Sequence[Mapping[str, Sequence[tuple[str, float]]]], query_ids: Sequence[str], k: int,
               *, names: Sequence[str] | None = None) -> dict[str, list[Hit]]:
    """The top ``k`` of every query over all shards (each shard's top ``k``, ``(doc_id, score)``
    with Anserini's scores); ``names`` (of the shards, in order) for the error of a document found in two.

    Shards must not share documents: one retrieved by two shards for a query would be written twice,
    a run :func:`runs.read_run` refuses. Checked here, on the hits merged anyway, rather than on every
    document id of every shard up front.
    """
    merged = {}
    for qid in query_ids:  # an integer score is its own true score: true_score only for the others
        keyed = [(-(score if score.is_integer() and -EXACT_BELOW < score < EXACT_BELOW else true_score(score, k)),
                  doc_id) for shard in per_shard for doc_id, score in shard.get(qid, ())]
        if len({doc_id for _, doc_id in keyed}) != len(keyed):
            _refuse_overlap(per_shard, qid, names)
        keyed.sort()  # score descending, then doc id: runs.rank_key
        merged[qid] = adjust_ties([Hit(doc_id, -score) for score, doc_id in keyed[:k]])
    return merged


def _refuse_overlap(per_shard: Sequence[Mapping[str, Sequence[tuple[str, float]]]], qid: str,
                    names: Sequence[str] | None) -> None:
    seen: dict[str, int] = {}
    for number, shard in enumerate(per_shard):
        for doc_id, _ in shard.get(qid, ()):
            if doc_id in seen:
                first, second = (names[seen[doc_id]], names[number]) if names else (
                    f"shard {seen[doc_id] + 1}", f"shard {number + 1}")
                raise DiscoError(f"document {doc_id} (retrieved for query {qid}) is in both {first} and {second}: "
                                 f"the indexes overlap; search shards that each hold different documents")
            seen[doc_id] = number
