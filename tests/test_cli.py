"""Every command of the command line, called in-process through main([...])."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest

from conftest import close_to_trec_eval, trec_eval_lines
from disco_pyserini.cli import main
from disco_pyserini.pipeline.demo import sample_path

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("cli")
    assert main(["-q", "encode", "--corpus", sample_path("corpus.jsonl"), "--model", "splade-tiny",
                 "--output", str(root / "collection"), "--docs-per-part", "50"]) == 0
    assert main(["-q", "index", "--collection", str(root / "collection"), "--index", str(root / "index"),
                 "--threads", "2"]) == 0
    return root


def test_encode_writes_a_collection(pipeline):
    metadata = json.loads((pipeline / "collection" / "disco_collection.json").read_text())
    assert metadata["documents"] == 155 and metadata["parts"] == 4


# the default measures, as trec_eval's -m options
DEFAULT_M = ["-m", "recip_rank", "-m", "ndcg_cut.3,10", "-m", "recall.10,100", "-m", "map"]


def test_search_and_evaluate(pipeline, capsys):
    run = pipeline / "run.disco.trec"
    assert main(["-q", "search", "--index", str(pipeline / "index"), "--topics", sample_path("topics.jsonl"),
                 "--model", "splade-tiny", "--output", str(run), "--hits", "10", "--run-tag", "tiny"]) == 0
    lines = run.read_text().splitlines()
    assert len(lines) == 500
    qid, q0, _, rank, score, tag = lines[0].split(" ")
    assert (qid, q0, rank, tag) == ("10_1", "Q0", "1", "tiny") and len(score.split(".")[1]) == 6
    assert json.loads((pipeline / "run.disco.trec.json").read_text())["query_mode"] == "disco"
    capsys.readouterr()
    assert main(["evaluate", "--qrels", sample_path("qrels.txt"), "--run", str(run), "--json",
                 "--rel-threshold", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["judged_queries"] == 50 and summary["missing_queries"] == 0
    reference = dict(trec_eval_lines(sample_path("qrels.txt"), str(run), "-c", "-l", "2", *DEFAULT_M))
    assert set(reference) == {"recip_rank", "ndcg_cut_3", "ndcg_cut_10", "recall_10", "recall_100", "map"}
    for name, value in reference.items():
        assert close_to_trec_eval(summary[name], value), (name, summary[name], value)


def test_search_modes_differ(pipeline):
    runs = {}
    for mode in ("raw", "rewrite", "history"):
        output = pipeline / f"run.{mode}.trec"
        assert main(["-q", "search", "--index", str(pipeline / "index"), "--topics", sample_path("topics.jsonl"),
                     "--model", "splade-tiny", "--output", str(output), "--hits", "5", "--query-mode", mode]) == 0
        runs[mode] = output.read_text()
    assert runs["raw"] != runs["rewrite"] and runs["raw"] != runs["history"] and runs["rewrite"] != runs["history"]
    # the first turn of a conversation has no history: raw and history agree there, and only there
    first = {mode: [x for x in run.splitlines() if x.split()[0].endswith("_1")] for mode, run in runs.items()}
    later = {mode: [x for x in run.splitlines() if not x.split()[0].endswith("_1")] for mode, run in runs.items()}
    assert first["raw"] == first["history"] and later["raw"] != later["history"]


def test_demo(tmp_path, capsys):
    assert main(["-q", "demo", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| run |"))
    measures = [cell.strip() for cell in header.strip("|").split("|")][1:]
    rows = {}
    for line in out.splitlines():
        for mode in ("raw", "disco", "rewrite"):
            if line.startswith(f"| {mode} ("):
                rows[mode] = dict(zip(measures, map(float, line.strip("|").split("|")[1:])))
    assert set(rows) == {"raw", "disco", "rewrite"}
    for mode, printed in rows.items():  # the printed table against trec_eval on the runs the demo wrote
        reference = dict(trec_eval_lines(sample_path("qrels.txt"), str(tmp_path / "demo" / f"run.{mode}.trec"),
                                         "-c", "-l", "2", *DEFAULT_M))
        assert set(printed) == set(reference)
        for name, value in reference.items():
            assert abs(printed[name] - value) <= 0.0001, (mode, name, printed[name], value)
    # untuned SPLADE reading the whole history scores below the current question alone, and says why
    assert rows["disco"]["recip_rank"] < rows["raw"]["recip_rank"]
    assert "needs a DiSCo-distilled query encoder" in out and "--model disco-human" in out
    # and how to look at them in the browser, as a command that runs as printed
    printed = shlex.split(out.strip().splitlines()[-1].split(": ", 1)[1])
    assert printed[1:] == ["serve", "--demo", "--output", str(tmp_path)]
    assert subprocess.run([*printed, "--help"], capture_output=True).returncode == 0


@pytest.mark.parametrize("command", [
    ["encode", "--corpus", sample_path("corpus.jsonl"), "--output", "x"],
    ["encode-queries", "--topics", sample_path("topics.jsonl"), "--output", "x.jsonl"]])
def test_half_precision_is_refused_on_cpu(command, capsys):
    """On CPU every text is encoded alone in float32: a bfloat16 request would be recorded but not honoured."""
    assert main([*command, "--model", "splade-tiny", "--precision", "bfloat16", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--precision bfloat16: on cpu every text is encoded alone in float32" in err[0]


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--qrels", "/nonexistent/qrels", "--run", "/nonexistent/run"], "/nonexistent/qrels: no such file"),
    (["search", "--index", "/nonexistent", "--topics", sample_path("topics.jsonl"), "--model", "splade-tiny",
      "--output", "x"], "--index /nonexistent: no such folder"),
    (["search", "--index", ".", "--topics", sample_path("topics.jsonl"), "--model", "splade-tiny",
      "--output", "x", "--query-mode", "clever"], "unknown query mode 'clever'"),
    (["encode", "--corpus", sample_path("corpus.jsonl"), "--model", "/no/such/model", "--output", "x"],
     "--model /no/such/model: no such folder"),
    (["index", "--collection", "/nonexistent", "--index", "x"], "/nonexistent: no such collection folder"),
])
def test_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("disco-pyserini: error: ") and message in err[0]


def test_bad_option_values_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["search", "--index", "i", "--topics", "t", "--model", "m", "--output", "o", "--hits", "0"])
    assert exit_.value.code == 2
    assert "--hits: must be at least 1" in capsys.readouterr().err
