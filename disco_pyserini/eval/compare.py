"""Comparing runs side by side: a protocol's measures, paired significance, and turn depth.

The measures are the protocol's, or any trec_eval names (``metrics``, resolved and checked by
:func:`disco_pyserini.eval.evaluate.resolve_measures`). By default every run is scored on every judged
query (missing ones count 0, trec_eval ``-c``); ``average="retrieved"`` averages each run over
the judged queries it retrieved, as the DiSCo reference code does. Each run is compared with the
baseline by a two-sided paired t-test (scipy) over the judged queries (with ``retrieved``: those
both runs retrieved), and the p-values are Bonferroni-corrected for the number of runs compared
with the baseline; ``†`` marks adjusted p < 0.05. Conversations get harder with depth, so each
measure is also broken down by the turn's depth in its conversation: 1, 2, 3, 4-6, 7+, each
group averaged by the same rule.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..io.jsonl import atomic_output
from ..io.runs import Qrels, Run
from .evaluate import AVERAGES, Protocol, aggregate, check_average, evaluate_run, format_value, resolve_measures

DEPTH_GROUPS = ("1", "2", "3", "4-6", "7+")
SIGNIFICANCE = 0.05
MARK = "†"


def depth_group(depth: int) -> str:
    if depth <= 3:
        return str(depth)
    return "4-6" if depth <= 6 else "7+"


def depth_from_query_id(query_id: str) -> int:
    """The turn number at the end of a CAsT/iKAT/QReCC/TopiOCQA query id (``31_4`` -> 4)."""
    match = re.search(r"_(\d+)$", query_id)
    if not match:
        raise UsageError(f"cannot tell the turn depth of query {query_id!r} from its id; pass --topics")
    return int(match.group(1))


@dataclass(frozen=True)
class Comparison:
    runs: tuple[str, ...]
    baseline: str
    metrics: tuple[str, ...]
    rel_threshold: int
    means: dict[str, dict[str, float]]
    p_values: dict[str, dict[str, float | None]]  # adjusted, for every run but the baseline; None: not tested
    by_depth: dict[str, dict[str, dict[str, float]]]  # run -> metric -> group -> mean
    depth_counts: dict[str, int]  # judged queries per depth group
    judged: int
    missing: dict[str, int]
    average: str  # "judged" or "retrieved" (see disco_pyserini.eval.evaluate.AVERAGES)
    averaged: dict[str, int]  # run -> queries its means are over
    depth_averaged: dict[str, dict[str, int]]  # run -> group -> queries its depth means are over
    untested: dict[str, str]  # run -> why some of its p-values were not computed

    def significant(self, run: str, metric: str) -> bool:
        p = self.p_values.get(run, {}).get(metric)
        return p is not None and p < SIGNIFICANCE


def compare_runs(qrels: Qrels, runs: Mapping[str, Run], protocol: Protocol, *, baseline: str | None = None,
                 depths: Mapping[str, int] | None = None, rel_threshold: int | None = None,
                 metrics: Sequence[str] | None = None, average: str = "judged") -> Comparison:
    """Score ``runs`` with the protocol's measures (or ``metrics``) and test them against ``baseline``."""
    from scipy.stats import ttest_rel

    metrics = resolve_measures(metrics if metrics else protocol.metrics)
    average = check_average(average)
    names = list(runs)
    if len(names) < 1:
        raise UsageError("--runs needs at least one run")
    baseline = baseline if baseline is not None else names[0]
    if baseline not in runs:
        raise UsageError(f"--baseline {baseline} is not one of --runs")
    threshold = rel_threshold if rel_threshold is not None else protocol.threshold(qrels)
    results = {name: evaluate_run(qrels, run, metrics, rel_threshold=threshold, average=average)
               for name, run in runs.items()}
    queries = sorted(q for q in qrels if qrels[q])
    compared = [name for name in names if name != baseline]
    p_values: dict[str, dict[str, float | None]] = {}
    untested: dict[str, str] = {}
    for name in compared:
        p_values[name] = {}
        ours, theirs = results[name]["per_query"], results[baseline]["per_query"]
        paired = [q for q in queries if q in ours and q in theirs]
        for metric in metrics:
            a = [ours[q][metric] for q in paired]
            b = [theirs[q][metric] for q in paired]
            p = None
            if len(paired) < 2:
                untested[name] = f"{len(paired)} paired quer{'y' if len(paired) == 1 else 'ies'} with the baseline"
            elif a == b:  # the t statistic is 0/0
                untested.setdefault(name, "the same score as the baseline on every paired query")
            else:
                p = float(ttest_rel(a, b).pvalue)
                if math.isnan(p):
                    untested.setdefault(name, "the t-test gave no p-value (NaN)")
                    p = None
            p_values[name][metric] = None if p is None else min(1.0, p * len(compared))
    depth_of = {q: (depths[q] if depths is not None and q in depths else None) for q in queries}
    for q, d in depth_of.items():
        if d is None:
            depth_of[q] = depth_from_query_id(q)
    groups = {q: depth_group(d) for q, d in depth_of.items()}  # type: ignore[arg-type]
    counts = {g: sum(1 for q in queries if groups[q] == g) for g in DEPTH_GROUPS}
    by_depth: dict[str, dict[str, dict[str, float]]] = {}
    depth_averaged: dict[str, dict[str, int]] = {}
    for name in names:
        per_query = results[name]["per_query"]
        in_group = {g: [q for q in queries if groups[q] == g and q in per_query] for g in DEPTH_GROUPS}
        depth_averaged[name] = {g: len(qs) for g, qs in in_group.items()}
        by_depth[name] = {metric: {g: aggregate(metric, [per_query[q][metric] for q in qs])
                                   for g, qs in in_group.items() if qs} for metric in metrics}
    return Comparison(tuple(names), baseline, tuple(metrics), threshold,
                      {name: results[name]["mean"] for name in names}, p_values, by_depth, counts, len(queries),
                      {name: len(results[name]["missing"]) for name in names}, average,
                      {name: results[name]["averaged"] for name in names}, depth_averaged, untested)


def markdown(comparison: Comparison, labels: Mapping[str, str] | None = None) -> str:
    labels = labels or {}
    metrics = comparison.metrics
    lines = ["| run | " + " | ".join(metrics) + " |", "|---|" + "|".join("---:" for _ in metrics) + "|"]
    for name in comparison.runs:
        cells = []
        for metric in metrics:
            cell = format_value(metric, comparison.means[name][metric])
            if comparison.significant(name, metric):
                cell += MARK
            cells.append(cell)
        suffix = " (baseline)" if name == comparison.baseline else ""
        lines.append(f"| {labels.get(name, name)}{suffix} | " + " | ".join(cells) + " |")
    groups = [g for g in DEPTH_GROUPS if comparison.depth_counts[g]]
    if comparison.average == "judged":
        averaging = "means over every judged turn, missing ones 0 (trec_eval -c)"
    else:
        averaging = ("means over the judged turns each run retrieved (" + ", ".join(
            f"{labels.get(name, name)}: {comparison.averaged[name]}" for name in comparison.runs)
            + "; the DiSCo reference code's averaging), paired tests over the turns both runs retrieved")
    out = ["\n".join(lines), "",
           f"{comparison.judged} judged turns, relevance >= {comparison.rel_threshold} relevant for binary measures; "
           f"{averaging}; {MARK}: paired t-test against the baseline, Bonferroni-adjusted p < {SIGNIFICANCE} "
           f"({max(len(comparison.runs) - 1, 1)} comparison(s))."]
    for name, reason in comparison.untested.items():
        out.append(f"No p-value for {labels.get(name, name)}: {reason} (its p_adjusted cells are empty).")
    for metric in metrics:
        header = "| " + metric + " by turn depth | " + " | ".join(
            f"{g} (n={comparison.depth_counts[g]})" for g in groups) + " |"
        rows = [header, "|---|" + "|".join("---:" for _ in groups) + "|"]
        for name in comparison.runs:
            values = comparison.by_depth[name][metric]
            rows.append(f"| {labels.get(name, name)} | " + " | ".join(
                format_value(metric, values[g]) if g in values else "–" for g in groups) + " |")
        out += ["", "\n".join(rows)]
    return "\n".join(out)


def write_csv(comparison: Comparison, path: str, labels: Mapping[str, str] | None = None) -> None:
    labels = labels or {}
    with atomic_output(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["run", "measure", "depth", "queries", "value", "p_adjusted", "significant", "baseline",
                         "average"])
        for name in comparison.runs:
            for metric in comparison.metrics:
                p = comparison.p_values.get(name, {}).get(metric)
                writer.writerow([labels.get(name, name), metric, "all", comparison.averaged[name],
                                 f"{comparison.means[name][metric]:.6f}", "" if p is None else f"{p:.6g}",
                                 comparison.significant(name, metric), labels.get(comparison.baseline,
                                                                                  comparison.baseline),
                                 comparison.average])
                for group, value in comparison.by_depth[name][metric].items():
                    writer.writerow([labels.get(name, name), metric, group, comparison.depth_averaged[name][group],
                                     f"{value:.6f}", "", "", "", comparison.average])


def plot_by_depth(comparison: Comparison, path: str, labels: Mapping[str, str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = labels or {}
    groups = [g for g in DEPTH_GROUPS if comparison.depth_counts[g]]
    figure, axes = plt.subplots(1, len(comparison.metrics), figsize=(4 * len(comparison.metrics), 3.4),
                                squeeze=False)
    for axis, metric in zip(axes[0], comparison.metrics):
        for name in comparison.runs:
            axis.plot(groups, [comparison.by_depth[name][metric].get(g, math.nan) for g in groups], marker="o",
                      label=labels.get(name, name))
        axis.set_title(metric)
        axis.set_xlabel("turn depth")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with atomic_output(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120)
    plt.close(figure)


def run_labels(paths: Sequence[str]) -> dict[str, str]:
    """Short names for run files: their base names where those are distinct."""
    names = [os.path.basename(p) for p in paths]
    return dict(zip(paths, names)) if len(set(names)) == len(names) else {p: p for p in paths}


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    return {"baseline": comparison.baseline, "rel_threshold": comparison.rel_threshold,
            "measures": list(comparison.metrics), "average": comparison.average,
            "average_rule": AVERAGES[comparison.average], "means": comparison.means,
            "p_adjusted": comparison.p_values, "by_depth": comparison.by_depth,
            "depth_counts": comparison.depth_counts, "judged": comparison.judged, "missing": comparison.missing,
            "averaged": comparison.averaged, "depth_averaged": comparison.depth_averaged,
            "untested": comparison.untested}
