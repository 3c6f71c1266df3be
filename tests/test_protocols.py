"""Protocols, comparisons and agreement with independent references.

The references: trec_eval (the Java port bundled in Anserini's jar, run as a separate process),
and a literal transcription of the DiSCo reference code's ``evaluate()``
(SimonLupart/disco-conv-splade, ``splade/utils/metrics.py``).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import random
from collections import Counter

import pytest

from conftest import CAST, close_to_trec_eval, need, trec_eval_lines
from disco_pyserini.cli import main
from disco_pyserini.errors import InputError
from disco_pyserini.eval.compare import compare_runs, depth_group
from disco_pyserini.eval.evaluate import PROTOCOLS, evaluate_run, resolve_measures
from disco_pyserini.io.runs import Hit, read_qrels, read_run, write_run
from disco_pyserini.pipeline.config import load_config
from disco_pyserini.pipeline.demo import sample_path

# trec_eval's -m options for the disco protocol's measures
DISCO_M = ["-m", "recip_rank", "-m", "ndcg_cut.3", "-m", "recall.10,100"]


def trec_eval(qrels: str, run: str, threshold: int) -> dict[str, float]:
    lines = trec_eval_lines(qrels, run, "-c", "-l", str(threshold), "-m", "recip_rank", "-m", "ndcg_cut.3,10",
                            "-m", "recall.10,100,1000", "-m", "map")
    return {name: value for name, value in lines if name != "num_q"}


def pseudo_run(qrels, path, seed=7, drop_every=5, unjudged=()):
    """A run over the judged documents plus noise, in random order, some judged turns left out."""
    rng = random.Random(seed)
    results = []
    for i, (qid, judged) in enumerate(sorted(qrels.items())):
        if i % drop_every == 0:
            continue
        docs = list(judged) + [f"noise-{qid}-{n}" for n in range(20)]
        scores = sorted({round(rng.uniform(0, 100), 4) for _ in docs}, reverse=True)[:len(docs)]
        rng.shuffle(docs)
        results.append((qid, [Hit(d, s) for d, s in zip(docs, scores)]))
    results += [(qid, [Hit("noise", 1.0)]) for qid in unjudged]
    write_run(path, results, tag="pseudo")
    return str(path)


def reference_evaluate(run, qrel, metric, agg=True, select=None):
    """``evaluate()`` of splade/utils/metrics.py in SimonLupart/disco-conv-splade, as written there."""
    import pytrec_eval
    from pytrec_eval import RelevanceEvaluator

    # print(pytrec_eval.supported_measures)
    assert metric in pytrec_eval.supported_measures, print("provide valid pytrec_eval metric")
    evaluator = RelevanceEvaluator(qrel, {metric})
    out_eval = evaluator.evaluate(run)
    res = Counter({})
    if agg:
        for d in out_eval.values():  # when there are several results provided (e.g. several cut values)
            res += Counter(d)
        res = {k: v / len(out_eval) for k, v in res.items()}
        if select is not None:
            string_dict = "{}_{}".format(metric, select)  # noqa: UP032 (as written there)
            if string_dict in res:
                return res[string_dict]
            else:  # If the metric is not on the dict, say that it was 0
                return 0
        else:
            return res
    else:
        return out_eval


@pytest.mark.parametrize("average, flags", [("judged", ["-c"]), ("retrieved", [])])
def test_families_expand_as_trec_eval_prints_them(tmp_path, average, flags):
    """`-m recall -m P -m ndcg_cut`: the same names, each family in trec_eval's order, the same values."""
    qrels_path = sample_path("qrels.txt")
    run = pseudo_run(read_qrels(qrels_path), tmp_path / "run.trec", unjudged=["99_1"])
    reference = trec_eval_lines(qrels_path, run, *flags, "-l", "2", "-m", "recall", "-m", "P", "-m", "ndcg_cut")
    result = evaluate_run(read_qrels(qrels_path), read_run(run), ["recall", "P", "ndcg_cut"], rel_threshold=2,
                          average=average)
    names = [name for name, _ in reference]
    assert sorted(result["measures"]) == sorted(names) and len(names) == 27
    for family in ("recall_", "P_", "ndcg_cut_"):
        assert [n for n in result["measures"] if n.startswith(family)] == [n for n in names if n.startswith(family)]
    assert result["averaged"] == (50 if average == "judged" else 40)
    for name, value in reference:
        assert close_to_trec_eval(result["mean"][name], value), (name, result["mean"][name], value)


@pytest.mark.parametrize("threshold", [1, 2])
def test_cutoffs_counts_and_geometric_means_match_trec_eval(tmp_path, threshold):
    """Chosen cut-offs in both spellings; num_* summed and gm_map geometric, as trec_eval -c prints them."""
    qrels_path = sample_path("qrels.txt")
    run = pseudo_run(read_qrels(qrels_path), tmp_path / "run.trec", seed=3, drop_every=4)
    ours = evaluate_run(read_qrels(qrels_path), read_run(run),
                        ["recall.100,3", "P_7", "success.1,2", "iprec_at_recall", "11pt_avg", "Rprec", "bpref",
                         "map", "num_q", "num_ret", "num_rel", "num_rel_ret", "gm_map"], rel_threshold=threshold)
    reference = trec_eval_lines(qrels_path, run, "-c", "-l", str(threshold), "-m", "recall.100,3", "-m", "P.7",
                                "-m", "success.1,2", "-m", "iprec_at_recall", "-m", "11pt_avg", "-m", "Rprec",
                                "-m", "bpref", "-m", "map", "-m", "num_q", "-m", "num_ret", "-m", "num_rel",
                                "-m", "num_rel_ret", "-m", "gm_map")
    assert sorted(ours["measures"]) == sorted(name for name, _ in reference)
    for name, value in reference:
        if name == "num_rel" and threshold > 1:
            continue  # trec_eval -c counts every judgment > 0 here, whatever -l (te_calc_avg_num_rel)
        assert close_to_trec_eval(ours["mean"][name], value), (name, ours["mean"][name], value)
    assert ours["mean"]["num_q"] == 50 and ours["missing"]  # the missing turns count, as with -c
    relevant = [line for line in open(qrels_path, encoding="utf-8") if int(line.split()[3]) >= threshold]
    assert ours["mean"]["num_rel"] == len(relevant)


def test_retrieved_averaging_is_the_disco_reference_code(tmp_path):
    """``average="retrieved"`` against the reference's own ``evaluate()``, run on the same dicts."""
    qrels = read_qrels(sample_path("qrels.txt"))
    run = read_run(pseudo_run(qrels, tmp_path / "run.trec", seed=11, unjudged=["99_1", "99_2"]))
    ours = evaluate_run(qrels, run, ["recip_rank", "map", "recall", "ndcg_cut", "P", "success"], average="retrieved")
    judged = evaluate_run(qrels, run, ["recip_rank", "map", "recall", "ndcg_cut", "P", "success"])
    assert ours["averaged"] == 40 and judged["averaged"] == 50
    for metric in ("recip_rank", "map", "recall", "ndcg_cut", "P", "success"):
        reference = reference_evaluate(run, qrels, metric)
        expected = resolve_measures([metric])
        assert set(expected) >= set(reference)  # the reference drops a measure whose sum is 0
        for name in expected:
            assert ours["mean"][name] == pytest.approx(reference.get(name, 0.0), rel=1e-12, abs=1e-15), name
            # the default averaging divides the same sum by every judged turn
            assert judged["mean"][name] == pytest.approx(ours["mean"][name] * 40 / 50, rel=1e-12, abs=1e-15)
    for cutoff in ("10", "100"):
        assert ours["mean"][f"recall_{cutoff}"] == pytest.approx(
            reference_evaluate(run, qrels, "recall", select=cutoff), rel=1e-12)


@pytest.mark.parametrize("average, flags", [("judged", ["-c"]), ("retrieved", [])])
def test_compare_csv_matches_trec_eval(tmp_path, capsys, average, flags):
    """compare's CSV (overall and per turn depth) against trec_eval run on each depth group's qrels."""
    qrels_path = sample_path("qrels.txt")
    qrels = read_qrels(qrels_path)
    # every 7th turn left out: each depth group has turns retrieved and turns missing
    runs = [pseudo_run(qrels, tmp_path / f"{name}.trec", seed=seed, drop_every=7)
            for name, seed in (("a", 1), ("b", 2))]
    assert main(["compare", "--qrels", qrels_path, "--runs", *runs, "--topics", sample_path("topics.jsonl"),
                 "--output", str(tmp_path / "cmp"), "--average", average]) == 0
    footnote = {"judged": "means over every judged turn, missing ones 0",
                "retrieved": "means over the judged turns each run retrieved (a.trec: 42, b.trec: 42"}[average]
    assert footnote in capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "cmp.csv", encoding="utf-8")))
    with open(sample_path("topics.jsonl"), encoding="utf-8") as handle:
        depth = {t["qid"]: len(t["conversation"]) for t in map(json.loads, handle)}
    lines = open(qrels_path, encoding="utf-8").read().splitlines()
    checked = 0
    for group in ("all", "1", "2", "3", "4-6"):
        subset = tmp_path / f"qrels.{group}.txt"
        subset.write_text("".join(line + "\n" for line in lines
                                  if group == "all" or depth_group(depth[line.split()[0]]) == group))
        for run in runs:
            reference = dict(trec_eval_lines(str(subset), run, *flags, "-l", "2", *DISCO_M, "-m", "num_q"))
            ours = {r["measure"]: r for r in rows if r["run"] == os.path.basename(run) and r["depth"] == group}
            assert set(ours) == set(PROTOCOLS["disco"].metrics)
            for name, row in ours.items():
                assert close_to_trec_eval(float(row["value"]), reference[name]), (group, run, name)
                assert int(row["queries"]) == reference["num_q"] and row["average"] == average
                checked += 1
    assert checked == 5 * 2 * 4


@pytest.mark.parametrize("threshold", [1, 2])
def test_matches_trec_eval_on_cast2019_qrels(tmp_path, threshold):
    qrels_path = str(need(CAST / "2019" / "2019qrels.txt"))
    qrels = read_qrels(qrels_path)
    run = pseudo_run(qrels, tmp_path / "run.trec")
    reference = trec_eval(qrels_path, run, threshold)
    ours = evaluate_run(qrels, read_run(run), list(reference), rel_threshold=threshold)["mean"]
    for name, value in reference.items():
        assert close_to_trec_eval(ours[name], value), name


@pytest.mark.java
def test_matches_trec_eval_on_the_demo_runs(tmp_path):
    main(["-q", "run", _demo_config(tmp_path)])
    for name in ("raw", "disco"):
        run = str(tmp_path / "runs" / f"{name}.trec")
        reference = trec_eval(sample_path("qrels.txt"), run, 2)
        ours = evaluate_run(read_qrels(sample_path("qrels.txt")), read_run(run), list(reference), rel_threshold=2)
        assert set(ours["mean"]) == set(reference)
        assert all(close_to_trec_eval(ours["mean"][k], v) for k, v in reference.items()), name


def test_protocol_thresholds():
    graded = {"q": {"a": 3, "b": 0}}
    binary = {"q": {"a": 1}}
    assert PROTOCOLS["disco"].threshold(graded) == 2 and PROTOCOLS["disco"].threshold(binary) == 1
    assert PROTOCOLS["disco"].metrics == ("recip_rank", "ndcg_cut_3", "recall_10", "recall_100")
    assert PROTOCOLS["cast"].metrics == ("ndcg_cut_3", "map", "recall_1000")


def test_depth_groups():
    assert [depth_group(d) for d in (1, 2, 3, 4, 6, 7, 12)] == ["1", "2", "3", "4-6", "4-6", "7+", "7+"]


def _demo_config(tmp_path) -> str:
    config = tmp_path / "demo.yaml"
    config.write_text(f"""
name: demo
corpus: {sample_path("corpus.jsonl")}
collection: {tmp_path}/collection
index: {tmp_path}/index
topics: {sample_path("topics.jsonl")}
qrels: {sample_path("qrels.txt")}
document_model: splade-tiny
query_model: splade-tiny
query_modes: [raw, disco, rewrite]
runs: {tmp_path}/runs
hits: 100
""")
    return str(config)


@pytest.mark.java
def test_run_config_then_compare(tmp_path, capsys):
    config = _demo_config(tmp_path)
    assert main(["-q", "run", config]) == 0
    out = capsys.readouterr().out
    assert "| raw (baseline) |" in out and "by turn depth" in out
    for name in ("compare.md", "compare.csv", "compare.png", "raw.trec", "disco.trec", "rewrite.trec"):
        assert (tmp_path / "runs" / name).stat().st_size > 0
    stamps = {p: os.stat(p).st_mtime_ns for p in glob.glob(str(tmp_path / "runs" / "*.trec"))}
    collection = os.stat(tmp_path / "collection" / "disco_collection.json").st_mtime_ns
    assert main(["-q", "run", config]) == 0  # everything up to date: nothing redone
    assert stamps == {p: os.stat(p).st_mtime_ns for p in stamps}
    assert os.stat(tmp_path / "collection" / "disco_collection.json").st_mtime_ns == collection

    runs = [str(tmp_path / "runs" / f"{m}.trec") for m in ("raw", "disco")]
    assert main(["compare", "--qrels", sample_path("qrels.txt"), "--runs", *runs, "--topics",
                 sample_path("topics.jsonl"), "--output", str(tmp_path / "cmp")]) == 0
    table = capsys.readouterr().out
    assert "| raw.trec (baseline) |" in table and "| disco.trec |" in table
    rows = list(csv.DictReader(open(tmp_path / "cmp.csv")))
    overall = {(r["run"], r["measure"]): r for r in rows if r["depth"] == "all"}
    assert set(overall) == {(run, m) for run in ("raw.trec", "disco.trec") for m in PROTOCOLS["disco"].metrics}
    assert {r["depth"] for r in rows} == {"all", "1", "2", "3", "4-6"}
    assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for run in runs:  # the CSV against trec_eval, not against the function that wrote it
        reference = dict(trec_eval_lines(sample_path("qrels.txt"), run, "-c", "-l", "2", *DISCO_M))
        for name, value in reference.items():
            row = overall[(os.path.basename(run), name)]
            assert close_to_trec_eval(float(row["value"]), value) and row["queries"] == "50", (run, name)

    # measures and averaging from the configuration reach the comparison (runs and index are up to date)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write('metrics: [recip_rank, "P.3,1"]\naverage: retrieved\n')
    assert main(["-q", "run", config]) == 0
    summary = json.loads((tmp_path / "runs" / "compare.json").read_text())
    assert summary["measures"] == ["recip_rank", "P_1", "P_3"] and summary["average"] == "retrieved"
    reference = dict(trec_eval_lines(sample_path("qrels.txt"), runs[1], "-l", "2", "-m", "recip_rank", "-m", "P.1,3"))
    assert all(close_to_trec_eval(summary["means"]["disco"][k], v) for k, v in reference.items())


def test_significance_is_bonferroni_adjusted():
    qrels = {f"q_{i}": {"d": 1} for i in range(1, 31)}
    strong = {q: {"d": 1.0} for q in qrels}
    weak = {q: ({"x": 2.0, "d": 1.0} if i % 2 else {"d": 1.0}) for i, q in enumerate(qrels)}
    same = dict(strong)
    one = compare_runs(qrels, {"base": strong, "weak": weak}, PROTOCOLS["disco"])
    two = compare_runs(qrels, {"base": strong, "weak": weak, "same": same}, PROTOCOLS["disco"])
    assert two.p_values["weak"]["recip_rank"] == pytest.approx(min(1.0, 2 * one.p_values["weak"]["recip_rank"]))
    assert two.p_values["same"]["recip_rank"] is None  # no test: the same score on every query
    assert one.significant("weak", "recip_rank") and not two.significant("same", "recip_rank")


def test_no_p_value_is_an_empty_cell_said_once_not_p_1(tmp_path):
    """Fewer than 2 paired queries, or no difference to test: no p-value, not p = 1."""
    from disco_pyserini.eval.compare import markdown, write_csv

    qrels = {"q_1": {"d": 1}, "q_2": {"d": 1}}
    base = {"q_1": {"d": 1.0}, "q_2": {"d": 1.0}}
    other = {"q_1": {"x": 2.0, "d": 1.0}}  # retrieved q_1 only
    comparison = compare_runs(qrels, {"base": base, "other": other, "same": dict(base)}, PROTOCOLS["disco"],
                              metrics=["recip_rank", "P.1"], average="retrieved")
    assert comparison.p_values["other"] == {"recip_rank": None, "P_1": None}
    write_csv(comparison, str(tmp_path / "c.csv"))
    rows = [r for r in csv.DictReader(open(tmp_path / "c.csv")) if r["depth"] == "all" and r["run"] != "base"]
    assert [(r["run"], r["p_adjusted"], r["significant"]) for r in rows] == [
        ("other", "", "False"), ("other", "", "False"), ("same", "", "False"), ("same", "", "False")]
    text = markdown(comparison)
    assert text.count("No p-value for other: 1 paired query") == 1
    assert text.count("No p-value for same") == 1


MINIMAL = "name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\ndocument_model: m\nquery_model: m\n" \
          "query_modes: [raw]\n"


def test_config_measures_and_averaging(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(MINIMAL + 'metrics: [recip_rank, "recall.10,100", P]\naverage: retrieved\n')
    config = load_config(str(path))
    assert config.metrics == ("recip_rank", "recall.10,100", "P") and config.average == "retrieved"
    path.write_text(MINIMAL)
    assert load_config(str(path)).metrics is None and load_config(str(path)).average == "judged"


@pytest.mark.parametrize("text, message", [
    ("name: x\n", "missing key 'corpus'"),
    ("name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\ndocument_model: m\nquery_model: m\n"
     "query_modes: [clever]\n", "unknown query mode 'clever'"),
    ("name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\ndocument_model: m\nquery_model: m\n"
     "query_modes: [raw]\nprotocl: disco\n", "unknown key(s) protocl"),
    ("name: [unclosed\n", "not valid YAML"),
    (MINIMAL + "metrics: [recip_rank, ndgc_cut_3]\n", "metrics: unknown measure 'ndgc_cut_3' (did you mean ndcg_cut_3"),
    (MINIMAL + "metrics: [recall.10,100]\n", "quote a name with a comma"),
    (MINIMAL + "metrics: [ndcg.3]\n", "metrics: measure 'ndcg.3': ndcg has no cut-offs"),
    (MINIMAL + "average: median\n", "average 'median' is not one of judged, retrieved"),
    ("- a list\n", "YAML mapping"),
])
def test_bad_configs(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", "\\(").replace(")", "\\)").replace("[", "\\[")):
        load_config(str(path))


def test_shipped_configs_are_valid():
    from disco_pyserini.pipeline.config import CONFIG_DIR, shipped_configs

    paths = sorted(glob.glob(os.path.join(CONFIG_DIR, "*.yaml")))
    names = {os.path.basename(p)[:-5] for p in paths}
    assert names == {"demo", "cast2019", "cast2020", "cast2021", "cast2022", "ikat2023", "topiocqa", "qrecc"}
    assert sorted(shipped_configs().values()) == paths
    for path in paths:
        config = load_config(path)
        assert config.protocol in PROTOCOLS and config.searches
