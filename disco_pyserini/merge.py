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

from .errors import DiscoError
from .runs import Hit, rank_key

# Anserini's ScoreTiesAdjusterReranker (anserini 1.7.1, the jar of Pyserini 1.6.0), in float32 as Java computes it
_TIE_GAP = np.float32(1e-4)
_TIE_STEP = np.float32(1e-6)


def adjust_ties(hits: Sequence[Hit]) -> list[Hit]:
    """Anserini's score adjustment of a ranked list, exactly: each score rounded to 1e-4 (in
    double, back to float), then within a run of scores less than 1e-4 apart the i-th tied hit
    loses i * 1e-6 (float arithmetic), so that every tool sorts the hits in rank order."""
    adjusted: list[Hit] = []
    previous = np.float32(0)
    tied = 0
    for position, hit in enumerate(hits):
        scaled = float(np.float32(hit.score)) * 10000.0
        whole = math.floor(scaled)  # Java's Math.round(double): halves go up
        score = np.float32((whole + 1 if scaled - whole >= 0.5 else whole) / 10000.0)
        if position == 0 or previous - score > _TIE_GAP:
            tied = 0
        else:
            tied += 1
            score = np.float32(score - _TIE_STEP * np.float32(tied))
        adjusted.append(Hit(hit.doc_id, float(score)))
        previous = score
    return adjusted


EXACT_BELOW = 2**24  # Lucene adds scores in float: integer sums are exact below this


def integer_score(adjusted: float, rank: int) -> int | None:
    """The integer dot product behind a score Anserini returned at ``rank`` (rounded to 1e-4, moved by
    at most 5e-5, and by 1e-6 for each tie above it: :func:`adjust_ties`), or ``None`` where the
    score is no integer dot product below 2^24."""
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


def merge_hits(per_shard: Sequence[Mapping[str, Sequence[Hit]]], query_ids: Sequence[str], k: int
               ) -> dict[str, list[Hit]]:
    """The top ``k`` of every query over all shards (each shard's top ``k`` in Anserini's scores)."""
    merged = {}
    for qid in query_ids:
        hits = [Hit(hit.doc_id, true_score(hit.score, k)) for shard in per_shard for hit in shard.get(qid, ())]
        hits.sort(key=rank_key)
        merged[qid] = adjust_ties(hits[:k])
    return merged
