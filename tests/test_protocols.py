"""Protocols, comparisons and agreement with trec_eval (the Java port bundled in Anserini's jar)."""

from __future__ import annotations

import csv
import glob
import os
import random
import subprocess

import pytest

from conftest import CAST, need
from disco_pyserini.cli import main
from disco_pyserini.compare import compare_runs, depth_group
from disco_pyserini.config import load_config
from disco_pyserini.demo import sample_path
from disco_pyserini.errors import InputError
from disco_pyserini.evaluate import PROTOCOLS, evaluate_run
from disco_pyserini.runs import Hit, read_qrels, read_run, write_run


def trec_eval(qrels: str, run: str, threshold: int) -> dict[str, float]:
    from disco_pyserini.java import configure_java_home

    java = os.path.join(configure_java_home(), "bin", "java")
    import pyserini

    jar = glob.glob(os.path.join(os.path.dirname(pyserini.__file__), "resources", "jars", "anserini-*-fatjar.jar"))[0]
    command = [java, "-cp", jar, "trec_eval", "-c", "-l", str(threshold), "-m", "recip_rank", "-m", "ndcg_cut.3,10",
               "-m", "recall.10,100,1000", "-m", "map", qrels, run]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return {name: float(value) for name, scope, value in (line.split() for line in output.splitlines())
            if scope == "all" and name != "num_q" and not name.startswith("runid")}


def pseudo_run(qrels, path, seed=7, drop_every=5):
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
    write_run(path, results, tag="pseudo")
    return str(path)


@pytest.mark.parametrize("threshold", [1, 2])
def test_matches_trec_eval_on_cast2019_qrels(tmp_path, threshold):
    qrels_path = str(need(CAST / "2019" / "2019qrels.txt"))
    qrels = read_qrels(qrels_path)
    run = pseudo_run(qrels, tmp_path / "run.trec")
    reference = trec_eval(qrels_path, run, threshold)
    ours = evaluate_run(qrels, read_run(run), list(reference), rel_threshold=threshold)["mean"]
    for name, value in reference.items():
        assert round(ours[name], 4) == round(value, 4), name


@pytest.mark.java
def test_matches_trec_eval_on_the_demo_runs(tmp_path):
    main(["-q", "run", _demo_config(tmp_path)])
    for name in ("raw", "disco"):
        run = str(tmp_path / "runs" / f"{name}.trec")
        reference = trec_eval(sample_path("qrels.txt"), run, 2)
        ours = evaluate_run(read_qrels(sample_path("qrels.txt")), read_run(run), list(reference), rel_threshold=2)
        assert {k: round(v, 4) for k, v in ours["mean"].items()} == {k: round(v, 4) for k, v in reference.items()}


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
    qrels = read_qrels(sample_path("qrels.txt"))
    comparison = compare_runs(qrels, {r: read_run(r) for r in runs}, PROTOCOLS["disco"])
    assert comparison.rel_threshold == 2 and comparison.judged == 50
    assert float(overall[("disco.trec", "recip_rank")]["value"]) == pytest.approx(
        comparison.means[runs[1]]["recip_rank"], abs=1e-6)


def test_significance_is_bonferroni_adjusted():
    qrels = {f"q_{i}": {"d": 1} for i in range(1, 31)}
    strong = {q: {"d": 1.0} for q in qrels}
    weak = {q: ({"x": 2.0, "d": 1.0} if i % 2 else {"d": 1.0}) for i, q in enumerate(qrels)}
    same = dict(strong)
    one = compare_runs(qrels, {"base": strong, "weak": weak}, PROTOCOLS["disco"])
    two = compare_runs(qrels, {"base": strong, "weak": weak, "same": same}, PROTOCOLS["disco"])
    assert two.p_values["weak"]["recip_rank"] == pytest.approx(min(1.0, 2 * one.p_values["weak"]["recip_rank"]))
    assert two.p_values["same"]["recip_rank"] == 1.0
    assert one.significant("weak", "recip_rank")


@pytest.mark.parametrize("text, message", [
    ("name: x\n", "missing key 'corpus'"),
    ("name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\ndocument_model: m\nquery_model: m\n"
     "query_modes: [clever]\n", "unknown query mode 'clever'"),
    ("name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\ndocument_model: m\nquery_model: m\n"
     "query_modes: [raw]\nprotocl: disco\n", "unknown key(s) protocl"),
    ("name: [unclosed\n", "not valid YAML"),
    ("- a list\n", "YAML mapping"),
])
def test_bad_configs(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message.replace("(", "\\(").replace(")", "\\)").replace("[", "\\[")):
        load_config(str(path))


def test_shipped_configs_are_valid():
    from conftest import REPO

    paths = sorted(glob.glob(str(REPO / "configs" / "*.yaml")))
    names = {os.path.basename(p)[:-5] for p in paths}
    assert names == {"demo", "cast2019", "cast2020", "cast2021", "cast2022", "ikat2023", "topiocqa", "qrecc"}
    for path in paths:
        config = load_config(path)
        assert config.protocol in PROTOCOLS and config.searches
