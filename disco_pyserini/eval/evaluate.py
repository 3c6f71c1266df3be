"""Evaluating runs with pytrec_eval: trec_eval's measure names, and an explicit averaging rule.

**Measure names.** Anything trec_eval's ``-m`` takes names a measure here, and a table prints
the names trec_eval prints: a plain measure (``map``, ``recip_rank``, ``Rprec``, ``num_rel_ret``...);
a family alone (``recall``, ``P``, ``ndcg_cut``, ``success``, ``iprec_at_recall``...), which stands
for trec_eval's default cut-offs (``recall`` -> ``recall_5`` ... ``recall_1000``); a family with
cut-offs in trec_eval's syntax (``recall.10,100``) or as the output name (``recall_10``); a
trec_eval nickname (``official``, ``set``, ``all_trec``). The names are learnt from pytrec_eval
itself, by evaluating a one-query dummy, not typed out here. Any other name is refused with the
list of valid ones, so a misspelt measure can never print as 0. ``runid`` and ``relstring`` are
text in trec_eval's output, not numbers, and are refused.

**Averaging** (``average``):

- ``judged`` (the default; trec_eval ``-c``): every judged query counts. A judged query the run
  lacks is scored as an empty ranking, as trec_eval ``-c`` does: 0 on every measure averaged
  arithmetically (the 0/0 precision of ``iprec_at_recall_0.00`` and ``11pt_avg`` included), and
  the report says how many there were.
- ``retrieved`` (trec_eval without ``-c``, pytrec_eval, and the DiSCo reference code's
  ``evaluate()`` in ``splade/utils/metrics.py``): only the judged queries the run retrieved
  documents for. A run that drops hard queries scores higher this way; use it to match the
  DiSCo paper's tables.

Either way a query of the run without judgments is reported and not scored, and the means
follow trec_eval's rules: ``num_*`` measures are summed over the queries, ``gm_*`` measures are
geometric means (per query they hold the logarithm, as ``trec_eval -q`` prints them). A value
pytrec_eval did not return for a query it evaluated is an error, never a 0.

``rel_threshold`` is trec_eval's ``-l``: the lowest relevance counted as relevant by the binary
measures (MRR, recall, MAP). nDCG uses the graded relevance values as gains whatever it is.
"""

from __future__ import annotations

import difflib
import functools
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import DiscoError, UsageError
from ..io.runs import Qrels, Run

logger = logging.getLogger(__name__)

DEFAULT_METRICS = ("recip_rank", "ndcg_cut_3", "recall_10", "recall_100", "ndcg_cut_10", "map")

Average = Literal["judged", "retrieved"]
AVERAGES: dict[str, str] = {
    "judged": "the mean over every judged query; a judged query missing from the run scores as an empty "
              "ranking (0) and counts (trec_eval -c)",
    "retrieved": "the mean over the judged queries the run retrieved documents for (trec_eval without -c, "
                 "pytrec_eval, the DiSCo reference code splade/utils/metrics.py); use it to match the paper's "
                 "tables",
}

# trec_eval prints these as text (the run tag, the relevance string), not as numbers.
TEXT_MEASURES = frozenset({"runid", "relstring"})


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


_AVERAGING_NOTE = ("averaged over every judged turn, missing ones 0 (trec_eval -c); the DiSCo code averages over "
                   "the turns in the run: --average retrieved")
PROTOCOLS: dict[str, Protocol] = {
    "disco": Protocol("disco", ("recip_rank", "ndcg_cut_3", "recall_10", "recall_100"), 2,
                      "the DiSCo paper: MRR over the whole run, nDCG@3, Recall@10, Recall@100; on graded qrels "
                      "relevance >= 2 is relevant for MRR and recall, nDCG uses the graded gains; "
                      + _AVERAGING_NOTE),
    "cast": Protocol("cast", ("ndcg_cut_3", "map", "recall_1000"), 2,
                     "TREC CAsT: nDCG@3, MAP, Recall@1000, relevance >= 2 relevant for MAP and recall; "
                     "averaged over every judged turn, missing ones 0 (trec_eval -c)"),
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise UsageError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def check_average(average: str) -> Average:
    if average not in AVERAGES:
        raise UsageError(f"unknown averaging {average!r}; choose one of {', '.join(AVERAGES)}")
    return average  # type: ignore[return-value]


# -- measure names -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Family:
    """A pytrec_eval measure as trec_eval prints it.

    ``cutoffs`` is ``None`` for a measure printed under its own name (``map``), else the kind of its
    cut-offs: ``"int"`` (``recall_10``) or ``"decimal"`` (``iprec_at_recall_0.50``, printed ``%3.2f``).
    ``defaults`` are the output names of trec_eval's default cut-offs, in the order it prints them.
    """

    name: str
    cutoffs: Literal["int", "decimal"] | None
    defaults: tuple[str, ...]


@dataclass(frozen=True)
class _Catalogue:
    families: dict[str, _Family]
    nicknames: dict[str, tuple[str, ...]]


_INT = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]{1,2})?")
_MAX_CUTOFF = 2**31 - 1  # trec_eval reads cut-offs into a C long
_MAX_DECIMAL = 1e6


def _dummy_names(measures: set[str]) -> tuple[str, ...]:
    """The output names pytrec_eval gives ``measures`` on a one-query dummy, in trec_eval's order."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator({"q": {"d1": 1, "d2": 0}}, measures)
    return tuple(evaluator.evaluate({"q": {"d1": 2.0, "d3": 1.0}})["q"])


@functools.cache
def _catalogue() -> _Catalogue:
    import pytrec_eval

    families: dict[str, _Family] = {}
    for measure in sorted(pytrec_eval.supported_measures):
        if measure in TEXT_MEASURES:
            continue
        names = _dummy_names({measure})
        if names == (measure,):
            families[measure] = _Family(measure, None, names)
            continue
        suffixes = [n[len(measure) + 1:] for n in names if n.startswith(measure + "_")]
        if len(suffixes) != len(names) or not names:
            raise DiscoError(f"pytrec_eval {getattr(pytrec_eval, '__version__', '?')} names measure {measure!r} "
                             f"as {', '.join(names) or 'nothing'}: not trec_eval's naming; use pytrec-eval-terrier")
        if all(_INT.fullmatch(s) for s in suffixes):
            families[measure] = _Family(measure, "int", names)
        elif all(re.fullmatch(r"[0-9]+\.[0-9]{2}", s) for s in suffixes):
            families[measure] = _Family(measure, "decimal", names)
        else:
            raise DiscoError(f"pytrec_eval names the cut-offs of {measure!r} as {', '.join(names)}: "
                             "not trec_eval's naming; use pytrec-eval-terrier")
    nicknames: dict[str, tuple[str, ...]] = {}
    for nickname, members in getattr(pytrec_eval, "supported_nicknames", {}).items():
        if all(m in pytrec_eval.supported_measures for m in members):  # the prefs and qrels_jg ones are not
            nicknames[nickname] = tuple(n for n in _dummy_names({nickname}) if n not in TEXT_MEASURES)
    return _Catalogue(families, nicknames)


def valid_measures() -> str:
    """The valid measure names, on one line (for error messages and help)."""
    catalogue = _catalogue()
    plain = sorted((f.name for f in catalogue.families.values() if f.cutoffs is None), key=str.lower)
    cut = sorted((f.name for f in catalogue.families.values() if f.cutoffs), key=str.lower)
    return (f"plain measures {', '.join(plain)}; families {', '.join(cut)} (alone: trec_eval's default "
            f"cut-offs; FAMILY.k1,k2 or FAMILY_k: chosen ones)"
            + (f"; nicknames {', '.join(sorted(catalogue.nicknames))}" if catalogue.nicknames else ""))


def _unknown(name: str, problem: str | None = None) -> UsageError:
    hint = ""
    if problem is None:
        catalogue = _catalogue()
        known = [*catalogue.families, *catalogue.nicknames,
                 *(n for f in catalogue.families.values() if f.cutoffs for n in f.defaults)]
        close = [k for k in known if k.lower() == name.lower()]  # trec_eval's names are case-sensitive
        close += [f.name + name[len(f.name):] for f in catalogue.families.values()
                  if f.cutoffs and name.lower().startswith(f.name.lower() + "_")]
        if name.lower().startswith("mrr"):
            close.append("recip_rank")
        close = list(dict.fromkeys(close or difflib.get_close_matches(name, known, n=3, cutoff=0.6)))
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return UsageError(f"{problem or f'unknown measure {name!r}'}{hint}; valid: {valid_measures()}")


def _cutoff_name(family: _Family, text: str, requested: str) -> str:
    """``family``'s output name for the cut-off ``text``, checked as trec_eval would not (it aborts)."""
    if family.cutoffs == "int":
        if not _INT.fullmatch(text) or not 1 <= int(text) <= _MAX_CUTOFF:
            raise _unknown(requested, f"measure {requested!r}: cut-off {text!r} of {family.name} is not a whole "
                                      "number of documents >= 1")
        return f"{family.name}_{int(text)}"
    if not _DECIMAL.fullmatch(text) or not float(text) < _MAX_DECIMAL:
        raise _unknown(requested, f"measure {requested!r}: cut-off {text!r} of {family.name} is not a number "
                                  "with at most two decimals (trec_eval prints it with two)")
    return f"{family.name}_{float(text):.2f}"


def _resolve_one(name: str) -> tuple[str, ...]:
    catalogue = _catalogue()
    if name in TEXT_MEASURES:
        raise _unknown(name, f"measure {name!r} is text in trec_eval's output, not a number")
    if name in catalogue.families:
        return catalogue.families[name].defaults
    if name in catalogue.nicknames:
        return catalogue.nicknames[name]
    base, dot, cutoffs = name.partition(".")
    family = catalogue.families.get(base) if dot else None
    if family is not None:  # trec_eval's -m FAMILY.k1,k2
        if family.cutoffs is None:
            raise _unknown(name, f"measure {name!r}: {base} has no cut-offs (trec_eval prints it under one name "
                                 f"whatever its parameters); ask for {base}")
        names = {_cutoff_name(family, text, name) for text in cutoffs.split(",")}
        return tuple(sorted(names, key=lambda n: float(n[len(base) + 1:])))  # trec_eval sorts its cut-offs
    prefixes = [f for f in catalogue.families.values() if f.cutoffs and name.startswith(f.name + "_")]
    if prefixes:  # an output name: recall_10, iprec_at_recall_0.50
        family = max(prefixes, key=lambda f: len(f.name))
        return (_cutoff_name(family, name[len(family.name) + 1:], name),)
    raise _unknown(name)


def _family_of(output_name: str) -> tuple[_Family, str | None]:
    """The family of a resolved output name and its cut-off (``None`` for a plain measure)."""
    families = _catalogue().families
    if output_name in families and families[output_name].cutoffs is None:
        return families[output_name], None
    family = max((f for f in families.values() if f.cutoffs and output_name.startswith(f.name + "_")),
                 key=lambda f: len(f.name))
    return family, output_name[len(family.name) + 1:]


def _request(names: Sequence[str]) -> set[str]:
    """pytrec_eval's request for resolved output names: ``{"map", "recall.10,100", ...}``."""
    cutoffs: dict[str, list[str]] = {}
    request = set()
    for name in names:
        family, cutoff = _family_of(name)
        if cutoff is None:
            request.add(family.name)
        else:
            cutoffs.setdefault(family.name, []).append(cutoff)
    # every cut-off is spelt out: pytrec_eval would drop a family's defaults once one cut-off is named
    return request | {f"{family}.{','.join(values)}" for family, values in cutoffs.items()}


@functools.lru_cache(maxsize=256)
def _resolve(names: tuple[str, ...]) -> tuple[str, ...]:
    if not names:
        raise UsageError("no measures requested; valid: " + valid_measures())
    resolved: dict[str, None] = {}
    for name in names:
        if not isinstance(name, str) or not name:
            raise _unknown(str(name), f"measure {name!r} is not a name")
        resolved.update(dict.fromkeys(_resolve_one(name)))
    output = tuple(resolved)
    returned = set(_dummy_names(_request(output)))  # pytrec_eval itself confirms every name
    absent = [n for n in output if n not in returned]
    if absent:
        raise DiscoError(f"pytrec_eval returns no {', '.join(absent)} for {', '.join(names)}; "
                         "its measure names differ from trec_eval's (use pytrec-eval-terrier)")
    return output


def resolve_measures(names: Sequence[str]) -> tuple[str, ...]:
    """The output names trec_eval prints for the requested measure names, in request order.

    A family alone expands to trec_eval's default cut-offs in trec_eval's order; duplicates are
    dropped. Raises :class:`UsageError` naming a bad name and listing the valid ones.
    """
    if isinstance(names, str):
        names = [names]
    return _resolve(tuple(names))


def pytrec_measures(metrics: Sequence[str]) -> set[str]:
    """pytrec_eval's request for measure names such as ``ndcg_cut_3``, ``recall`` or ``P.5,10``."""
    return _request(resolve_measures(metrics))


def aggregate(measure: str, values: Sequence[float]) -> float:
    """Average per-query values as trec_eval does: ``num_*`` summed, ``gm_*`` geometric, others the mean.

    ``gm_*`` values are logarithms per query (trec_eval's ``te_calc_avg_meas_s_gm``).
    """
    if not values:
        raise DiscoError(f"no query to average {measure} over")
    if measure.startswith("num_"):
        return float(sum(values))
    mean = sum(values) / len(values)
    return math.exp(mean) if measure.startswith("gm_") else mean


# -- evaluation ----------------------------------------------------------------------------------
def evaluate_run(qrels: Qrels, run: Run, metrics: Sequence[str] = DEFAULT_METRICS, *,
                 rel_threshold: int = 1, average: str = "judged") -> dict[str, Any]:
    """Per-query values and their means (see the module docstring for ``average``).

    Returns ``{"measures": (output names), "mean": {measure: value}, "per_query": {qid: {measure:
    value}} (the queries averaged over), "judged": n, "missing": [judged qids absent from the run],
    "unjudged": [qids of the run without qrels], "average": average, "averaged": n, "rel_threshold"}``.
    A query with no judgment lines is not judged.
    """
    import pytrec_eval

    if rel_threshold < 1:
        raise UsageError(f"--rel-threshold must be at least 1 (got {rel_threshold})")
    average = check_average(average)
    measures = resolve_measures(metrics)
    judged = [qid for qid in qrels if qrels[qid]]
    missing = sorted(qid for qid in judged if not run.get(qid))
    unjudged = sorted(qid for qid in run if not qrels.get(qid))
    scored_ids = [qid for qid in judged if run.get(qid)]
    if average == "judged":
        scored_ids = judged
    if not scored_ids:
        raise UsageError(f"the run has none of the {len(judged)} judged queries: nothing to average over with "
                         "--average retrieved")
    # an empty ranking for each missing query, as trec_eval -c scores it: 0 on every measure averaged
    # arithmetically, log(1e-5) for gm_* (trec_eval's MIN_GEO_MEAN), and its num_rel still counted
    to_score = {qid: dict(run.get(qid) or {}) for qid in scored_ids}
    evaluator = pytrec_eval.RelevanceEvaluator({qid: qrels[qid] for qid in judged}, _request(measures),
                                               relevance_level=rel_threshold)
    scored = evaluator.evaluate(to_score)
    per_query: dict[str, dict[str, float]] = {}
    lacking = set(missing)
    for qid in scored_ids:
        values = scored.get(qid, {})
        absent = [m for m in measures if m not in values]
        if absent:
            raise DiscoError(f"pytrec_eval returned no {', '.join(absent)} for query {qid!r}; refusing to print "
                             "a value it did not compute")
        row = {m: float(values[m]) for m in measures}
        undefined = [m for m, value in row.items() if math.isnan(value)]
        if undefined and qid not in lacking:
            raise DiscoError(f"pytrec_eval returned NaN for {', '.join(undefined)} on query {qid!r}")
        # an empty ranking's precision is 0/0 (iprec_at_recall_0.00, 11pt_avg): a missing query scores 0
        per_query[qid] = {m: 0.0 if m in undefined else value for m, value in row.items()}
    mean = {m: aggregate(m, [values[m] for values in per_query.values()]) for m in measures}
    return {"measures": measures, "mean": mean, "per_query": per_query, "judged": len(judged), "missing": missing,
            "unjudged": unjudged, "average": average, "averaged": len(per_query), "rel_threshold": rel_threshold}


def summary_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """The ``--json`` output: measure -> mean, plus the counts."""
    return {**result["mean"], "judged_queries": result["judged"], "missing_queries": len(result["missing"]),
            "unjudged_queries": len(result["unjudged"]), "average": result["average"],
            "averaged_queries": result["averaged"], "rel_threshold": result["rel_threshold"]}


def format_value(measure: str, value: float) -> str:
    """Four decimals as trec_eval prints them; ``num_*`` (counts) as whole numbers."""
    return f"{value:.0f}" if measure.startswith("num_") else f"{value:.4f}"


def format_table(rows: Mapping[str, Mapping[str, float]], metrics: Sequence[str]) -> str:
    """A markdown table: one row per run, one column per measure (output names, as resolved)."""
    header = "| run | " + " | ".join(metrics) + " |"
    rule = "|---|" + "|".join("---:" for _ in metrics) + "|"
    lines = [header, rule]
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(format_value(m, values[m]) for m in metrics) + " |")
    return "\n".join(lines)
