"""Evaluating runs with pytrec_eval, counting every judged query.

pytrec_eval (like trec_eval without ``-c``) averages over the queries found in both the run and
the qrels. Here a judged query missing from the run scores 0 on every measure and is counted in
the mean, and the report says how many there were; queries of the run without judgments are
reported and not scored.

``rel_threshold`` is trec_eval's ``-l``: the lowest relevance counted as relevant by the binary
measures (MRR, recall, MAP). nDCG uses the graded relevance values as gains whatever it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .runs import Qrels, Run

logger = logging.getLogger(__name__)

DEFAULT_METRICS = ("recip_rank", "ndcg_cut_3", "recall_10", "recall_100", "ndcg_cut_10", "map")


@dataclass(frozen=True)
class Protocol:
    """Named measures and the relevance threshold used when the qrels are graded (above 0-1)."""

    name: str
    metrics: tuple[str, ...]
    graded_threshold: int
    description: str

    def threshold(self, qrels: Qrels) -> int:
        """``graded_threshold`` for graded qrels (TREC CAsT, iKAT: 0-4), 1 for binary ones."""
        highest = max((r for judged in qrels.values() for r in judged.values()), default=1)
        return self.graded_threshold if highest > 1 else 1


PROTOCOLS: dict[str, Protocol] = {
    "disco": Protocol("disco", ("recip_rank", "ndcg_cut_3", "recall_10", "recall_100"), 2,
                      "the DiSCo paper: MRR over the whole run, nDCG@3, Recall@10, Recall@100; on graded qrels "
                      "relevance >= 2 is relevant for MRR and recall, nDCG uses the graded gains"),
    "cast": Protocol("cast", ("ndcg_cut_3", "map", "recall_1000"), 2,
                     "TREC CAsT: nDCG@3, MAP, Recall@1000, relevance >= 2 relevant for MAP and recall"),
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UsageError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
_FAMILIES_WITH_CUTOFFS = ("ndcg_cut", "recall", "P", "map_cut", "success", "iprec_at_recall")


def pytrec_measures(metrics: Sequence[str]) -> set[str]:
    """pytrec_eval's request for output names such as ``ndcg_cut_3`` or ``recall_100``."""
    import pytrec_eval

    supported = pytrec_eval.supported_measures
    requested: dict[str, list[str]] = {}
    for metric in metrics:
        family, cutoff = metric, None
        for candidate in _FAMILIES_WITH_CUTOFFS:
            prefix = candidate + "_"
            if metric.startswith(prefix) and metric[len(prefix):].replace(".", "", 1).isdigit():
                family, cutoff = candidate, metric[len(prefix):]
                break
        if family not in supported:
            raise UsageError(f"unknown measure {metric!r}; use pytrec_eval names such as "
                             f"{', '.join(DEFAULT_METRICS)}")
        requested.setdefault(family, [])
        if cutoff is not None:
            requested[family].append(cutoff)
    return {family if not cutoffs else f"{family}.{','.join(cutoffs)}" for family, cutoffs in requested.items()}


def evaluate_run(qrels: Qrels, run: Run, metrics: Sequence[str] = DEFAULT_METRICS, *,
                 rel_threshold: int = 1) -> dict[str, Any]:
    """Per-query values and means over every judged query.

    Returns ``{"mean": {metric: value}, "per_query": {qid: {metric: value}}, "judged": n,
    "missing": [qids judged but absent from the run], "unjudged": [qids of the run without qrels]}``.
    """
    import pytrec_eval

    if rel_threshold < 1:
        raise UsageError(f"--rel-threshold must be at least 1 (got {rel_threshold})")
    metrics = list(dict.fromkeys(metrics))
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, pytrec_measures(metrics), relevance_level=rel_threshold)
    judged_in_run = {qid: hits for qid, hits in run.items() if qid in qrels}
    scored = evaluator.evaluate(judged_in_run) if judged_in_run else {}
    per_query: dict[str, dict[str, float]] = {}
    for qid in qrels:
        values = scored.get(qid, {})
        per_query[qid] = {metric: float(values.get(metric, 0.0)) for metric in metrics}
    missing = sorted(qid for qid in qrels if qid not in run or not run[qid])
    unjudged = sorted(qid for qid in run if qid not in qrels)
    mean = {metric: sum(values[metric] for values in per_query.values()) / len(per_query) for metric in metrics}
    return {"mean": mean, "per_query": per_query, "judged": len(qrels), "missing": missing, "unjudged": unjudged,
            "rel_threshold": rel_threshold}


def summary_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--json`` output: measure -> mean, plus the counts."""
    return {**result["mean"], "judged_queries": result["judged"], "missing_queries": len(result["missing"]),
            "unjudged_queries": len(result["unjudged"]), "rel_threshold": result["rel_threshold"]}


def format_table(rows: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> str:
    """A markdown table: one row per run, one column per measure."""
    header = "| run | " + " | ".join(metrics) + " |"
    rule = "|---|" + "|".join("---:" for _ in metrics) + "|"
    lines = [header, rule]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[m]:.4f}" for m in metrics) + " |")
    return "\n".join(lines)
