"""Fusing runs: several rankings of the same queries into one.

Multi-teacher DiSCo models learn from several rewrites at once; their teacher is the sum of the
teachers' scores (``disco-pyserini fuse``, and ``distill`` given several ``--teacher-run``). The
usual run fusions are here too. A :class:`Fusion` names the method and its settings:

* ``sum`` (the default, DiSCo's multi-teacher sum): ``score(d) = sum_i w_i * s_i(d)``, where a
  document absent from run ``i`` takes that run's lowest kept score for the query (it ranked below
  everything the run kept); a query absent from a run adds nothing. Weights default to 1.
* ``rrf`` (reciprocal rank fusion, Cormack, Clarke and Büttcher, SIGIR 2009):
  ``score(d) = sum_i 1 / (k + rank_i(d))`` over the runs that ranked ``d``; ``k`` is ``rrf_k``, 60
  by default as in the paper. Every run weighs the same.
* ``interpolation``: ``score(d) = sum_i w_i * s_i(d)`` with weights that sum to 1, a document
  absent from a run adding 0. That is ``pyserini.fusion``'s definition: a single weight ``alpha``
  over two runs means ``alpha * run1 + (1 - alpha) * run2`` (its ``interpolation``), and no weights
  mean ``1 / n`` each (its ``average``).

Each run is first ranked per query as Anserini ranks (score descending, ties by doc id,
:func:`~disco_pyserini.io.runs.rank_key`), ``rank_i`` counts from 1 in that order, and ``depth``
keeps its first ``depth`` hits. A fused score is added exactly (:func:`math.fsum`) and kept as a
run file writes it, to six decimals (:func:`~disco_pyserini.io.runs.write_run`); the fused ranking is
in Anserini's order over those scores, cut to ``hits``. So a fused run reads back as it was fused,
and a reader of the file sees its ties broken by doc id: two documents written with the same score
are never ordered by bits the file does not show (``1/3 * 0.125 + 1/3 * 0.625`` is
0.24999999999999997, ``1/3 * 0.25 + 1/3 * 0.5`` is 0.25). Integer scores, as impact searches give,
are exact either way.

Why not call ``pyserini.fusion`` itself: on runs in Anserini's order (as ours and Pyserini's are),
with query ids Pyserini writes back unchanged, its ``reciprocal_rank_fusion``, ``interpolation``
and ``average`` give the same fused scores, but not on every input, nor always the same order:

* its ``TrecRun`` reads the query column with pandas, which turns ids made of digits into
  integers (``007`` comes back as ``7``), and it takes a hit's rank from the file's rank column and
  ``depth`` from the order of the file's lines, where we rank by score and doc id, so a run's line
  order does not matter;
* it adds a document's parts with pandas' grouped sum, whose last bit depends on the order of the
  rows: from three runs on, a document ranked 1, 2, 7 and one ranked 7, 1, 2 can get scores one
  bit apart, ordered by that bit instead of by doc id (``tests/test_fusion.py`` has such a case).
  We add with :func:`math.fsum` (the exactly rounded sum), so equal parts give equal scores
  whatever the order of the runs, and ties are broken by doc id;
* it orders by the full float score, where two documents written with the same score can stand in
  either order;
* it has no DiSCo sum (its sums count an absent document as 0), interpolates exactly two runs, and
  needs at least two runs;
* it writes scores in full (``repr``), where our runs are written as Anserini writes them
  (:func:`~disco_pyserini.io.runs.write_run`).

So the methods are implemented here, with Pyserini's definitions, in a few lines of Python. On runs
that avoid those cases, ``tests/test_fusion.py`` finds Pyserini's fused scores (written to six
decimals) and order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..errors import SettingError, UsageError
from ..io.runs import SCORE_DECIMALS, Hit, Run, pyserini_order, ranked, run_from_results

FusionMethod = Literal["sum", "rrf", "interpolation"]
METHODS: tuple[str, ...] = get_args(FusionMethod)
DEFAULT_RRF_K = 60
WEIGHT_SUM_TOLERANCE = 1e-9
"""How far from 1 the weights of an interpolation may sum (decimal weights are not exact in binary)."""


@dataclass(frozen=True)
class Fusion:
    """How runs are fused (see the module's docstring): ``method``, ``weights`` (one per run for
    ``sum`` and ``interpolation``, or a single ``alpha`` for an interpolation of two runs;
    ``None``: 1 each for ``sum``, ``1 / n`` each for ``interpolation``), ``rrf_k``, ``depth`` (hits
    of each run fused; ``None``: all of them) and ``hits`` (hits per query kept; ``None``: all)."""

    method: FusionMethod = "sum"
    weights: tuple[float, ...] | None = None
    rrf_k: int = DEFAULT_RRF_K
    depth: int | None = None
    hits: int | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SettingError("method", f"{self.method!r}: choose one of {', '.join(METHODS)}")
        if isinstance(self.rrf_k, bool) or not isinstance(self.rrf_k, int) or self.rrf_k < 0:
            raise SettingError("rrf_k", f"must be a whole number, at least 0 (got {self.rrf_k!r})")
        for name in ("depth", "hits"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise SettingError(name, f"must be a whole number, at least 1 (got {value!r})")
        if self.weights is not None:
            object.__setattr__(self, "weights", self._checked_weights(self.weights))

    def _checked_weights(self, given: Sequence[float]) -> tuple[float, ...]:
        if self.method == "rrf":
            raise SettingError("weights", "are not taken by rrf, which weighs every run alike (Cormack et al.); "
                                          "give weights to sum or interpolation")
        try:
            weights = tuple(float(w) for w in given)
        except (TypeError, ValueError):
            raise SettingError("weights", f"must be numbers, one per run (got {given!r})") from None
        if not weights:
            raise SettingError("weights", "are empty: give one per run, or leave them out")
        for weight in weights:
            if not math.isfinite(weight) or weight < 0:
                raise SettingError("weights", f"must be finite and at least 0 (got {weight})")
        if self.method == "interpolation" and len(weights) == 1:
            if weights[0] > 1:
                raise SettingError("weights", f"a single weight is alpha, between 0 and 1 (got {weights[0]})")
        elif not any(weights):
            raise SettingError("weights", "are all 0: at least one run must count")
        elif self.method == "interpolation":
            total = math.fsum(weights)
            if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
                raise SettingError("weights", f"of an interpolation must sum to 1 (these sum to {total:g}); "
                                              f"for other weights use sum")
        return weights

    def run_weights(self, count: int) -> tuple[float, ...]:
        """The weight of each of ``count`` runs (a single ``alpha`` of an interpolation becomes
        ``(alpha, 1 - alpha)``, as Pyserini computes it)."""
        if count < 1:
            raise UsageError("fusion needs at least one run")
        if self.method == "rrf":
            return (1.0,) * count
        if self.weights is None:
            return (1.0,) * count if self.method == "sum" else (1 / count,) * count
        if self.method == "interpolation" and len(self.weights) == 1:
            if count != 2:
                raise SettingError("weights", f"a single weight (alpha) interpolates two runs, not {count}: give "
                                              f"one weight per run")
            return self.weights[0], 1 - self.weights[0]
        if len(self.weights) != count:
            raise SettingError("weights", f"are {len(self.weights)} for {count} runs: give one per run")
        return self.weights

    def describe(self, count: int) -> dict[str, Any]:
        """What a fused run records: the settings, with every run's weight resolved."""
        record: dict[str, Any] = {"method": self.method, "depth": self.depth, "hits": self.hits}
        if self.method == "rrf":
            record["rrf_k"] = self.rrf_k
        else:
            record["weights"] = list(self.run_weights(count))
        return record

    # -- fusing ------------------------------------------------------------------------------------
    def fuse(self, runs: Sequence[Run]) -> Run:
        """``{query: {doc: score}}`` over every query of any run, each query's hits in ranking order."""
        return run_from_results(dict(self._fused(runs)))

    def ranked(self, runs: Sequence[Run]) -> list[tuple[str, list[Hit]]]:
        """``(query, hits)`` in the order Pyserini writes queries (:func:`~disco_pyserini.io.runs.pyserini_order`),
        hits in Anserini's order: what :func:`~disco_pyserini.io.runs.write_run` takes."""
        fused = dict(self._fused(runs))
        return [(qid, fused[qid]) for qid in pyserini_order(fused)]

    def _fused(self, runs: Sequence[Run]) -> list[tuple[str, list[Hit]]]:
        weights = self.run_weights(len(runs))
        queries = list(dict.fromkeys(qid for run in runs for qid in run))
        return [(qid, self.fuse_query([ranked(run[qid], self.depth) if qid in run else [] for run in runs],
                                      weights)) for qid in queries]

    def fuse_query(self, rankings: Sequence[Sequence[Hit]], weights: Sequence[float]) -> list[Hit]:
        """One query: each run's ranked hits (already cut to ``depth``; empty where the run lacks the
        query) and weights, fused and ranked, cut to ``hits``."""
        parts: dict[str, list[float]] = {}
        for hits, weight in zip(rankings, weights):
            for rank, hit in enumerate(hits, start=1):
                part = 1 / (self.rrf_k + rank) if self.method == "rrf" else weight * hit.score
                parts.setdefault(hit.doc_id, []).append(part)
        if self.method == "sum":
            for hits, weight in zip(rankings, weights):
                if hits:
                    _add_floor(parts, {hit.doc_id for hit in hits}, weight * hits[-1].score)
        return ranked({doc: round(math.fsum(values), SCORE_DECIMALS) for doc, values in parts.items()}, self.hits)


def _add_floor(parts: Mapping[str, list[float]], present: set[str], floor: float) -> None:
    """The DiSCo sum: every document a run did not keep counts that run's lowest kept score."""
    for doc, values in parts.items():
        if doc not in present:
            values.append(floor)


def fuse_runs(runs: Sequence[Run], depth: int | None = None) -> Run:
    """The multi-teacher DiSCo sum (:class:`Fusion`'s default): the runs' scores summed per
    (query, document), a document absent from a run taking that run's lowest score for the query.
    ``depth`` here is the number of fused hits each query keeps (``Fusion.hits``), ties by doc id."""
    return Fusion(hits=depth).fuse(runs)
