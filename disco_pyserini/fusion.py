"""Fusing runs: several rankings of the same queries into one.

Multi-teacher DiSCo models learn from several rewrites at once; their teacher is the sum of the
teachers' scores (``disco-pyserini fuse``, and ``distill`` given several ``--teacher-run``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .runs import Run, ranked


def fuse_runs(runs: Sequence[Run], depth: int | None = None) -> Run:
    """Sum of the runs' scores per (query, document); a document absent from a run adds that run's
    lowest score for the query (it ranked below everything the run kept). With ``depth``, each
    query keeps its ``depth`` best documents (ties by document id)."""
    fused: Run = {}
    for run in runs:
        for qid in run:
            fused.setdefault(qid, {})
    for qid, hits in fused.items():
        documents = set().union(*(run.get(qid, {}) for run in runs))
        for run in runs:
            scores = run.get(qid, {})
            floor = min(scores.values()) if scores else 0.0
            for doc in documents:
                hits[doc] = hits.get(doc, 0.0) + scores.get(doc, floor)
        if depth is not None:
            fused[qid] = {hit.doc_id: hit.score for hit in ranked(hits, depth)}
    return fused
