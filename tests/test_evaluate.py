"""Evaluation against values computed by hand, with a judged query missing from the run.

Agreement with trec_eval itself (measure families, cut-offs, averaging) and with the DiSCo
reference code is in test_protocols.py, which runs Anserini's Java trec_eval.
"""

from __future__ import annotations

import json
import math

import pytest

from disco_pyserini.cli import main
from disco_pyserini.errors import DiscoError, InputError, UsageError
from disco_pyserini.eval.evaluate import evaluate_run, pytrec_measures, resolve_measures
from disco_pyserini.io.runs import Hit, read_qrels, read_run, write_run

QRELS = """q1 0 d1 2
q1 0 d2 1
q1 0 d3 0
q2 0 d4 1
q3 0 d5 3
"""
RUN = """q1 Q0 d3 1 3.000000 t
q1 Q0 d1 2 2.000000 t
q1 Q0 d2 3 1.000000 t
q2 Q0 d9 1 2.000000 t
q2 Q0 d4 2 1.000000 t
q4 Q0 d1 1 5.000000 t
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "qrels.txt").write_text(QRELS)
    (tmp_path / "run.trec").write_text(RUN)
    return read_qrels(tmp_path / "qrels.txt"), read_run(tmp_path / "run.trec")


def log2(x):
    return math.log(x, 2)


def test_hand_computed_values(files):
    qrels, run = files
    result = evaluate_run(qrels, run, ["recip_rank", "ndcg_cut_3", "recall_10", "map"])
    ndcg_q1 = (2 / log2(3) + 1 / log2(4)) / (2 + 1 / log2(3))
    ndcg_q2 = (1 / log2(3)) / 1
    assert result["per_query"]["q1"]["ndcg_cut_3"] == pytest.approx(ndcg_q1)
    assert result["per_query"]["q3"] == {"recip_rank": 0, "ndcg_cut_3": 0, "recall_10": 0, "map": 0}
    mean = result["mean"]
    assert mean["recip_rank"] == pytest.approx((0.5 + 0.5 + 0) / 3)  # q3 is judged but missing: 0
    assert mean["ndcg_cut_3"] == pytest.approx((ndcg_q1 + ndcg_q2 + 0) / 3)
    assert mean["recall_10"] == pytest.approx((1 + 1 + 0) / 3)
    assert mean["map"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 2 + 0) / 3)
    assert result["judged"] == 3 and result["missing"] == ["q3"] and result["unjudged"] == ["q4"]


def test_relevance_threshold_changes_binary_measures_not_graded_gains(files):
    qrels, run = files
    result = evaluate_run(qrels, run, ["recip_rank", "recall_10", "ndcg_cut_3"], rel_threshold=2)
    assert result["mean"]["recip_rank"] == pytest.approx((0.5 + 0 + 0) / 3)  # d4 (relevance 1) no longer counts
    assert result["mean"]["recall_10"] == pytest.approx((1 + 0 + 0) / 3)
    ndcg_q1 = (2 / log2(3) + 1 / log2(4)) / (2 + 1 / log2(3))
    assert result["per_query"]["q1"]["ndcg_cut_3"] == pytest.approx(ndcg_q1)


def test_averaging_over_the_retrieved_queries(files):
    """``retrieved``: q3 (judged, not in the run) is left out of the means instead of counting 0."""
    qrels, run = files
    result = evaluate_run(qrels, run, ["recip_rank", "ndcg_cut_3", "recall_10", "map"], average="retrieved")
    ndcg_q1 = (2 / log2(3) + 1 / log2(4)) / (2 + 1 / log2(3))
    ndcg_q2 = (1 / log2(3)) / 1
    assert result["mean"]["recip_rank"] == pytest.approx((0.5 + 0.5) / 2)
    assert result["mean"]["ndcg_cut_3"] == pytest.approx((ndcg_q1 + ndcg_q2) / 2)
    assert result["mean"]["map"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1 / 2) / 2)
    assert set(result["per_query"]) == {"q1", "q2"} and result["averaged"] == 2
    assert result["judged"] == 3 and result["missing"] == ["q3"] and result["unjudged"] == ["q4"]
    with pytest.raises(UsageError, match="none of the 3 judged queries"):
        evaluate_run(qrels, {"q4": {"d1": 1.0}}, ["map"], average="retrieved")
    with pytest.raises(UsageError, match="unknown averaging 'mean'"):
        evaluate_run(qrels, run, ["map"], average="mean")


def test_families_and_cutoffs_by_hand(files):
    """trec_eval's default cut-offs (m_recall.c, m_P.c: 5 10 15 20 30 100 200 500 1000), values by hand."""
    qrels, run = files
    cutoffs = (5, 10, 15, 20, 30, 100, 200, 500, 1000)
    assert resolve_measures(["recall"]) == tuple(f"recall_{k}" for k in cutoffs)
    assert resolve_measures(["P", "success"]) == (*(f"P_{k}" for k in cutoffs), "success_1", "success_5",
                                                  "success_10")
    result = evaluate_run(qrels, run, ["P", "recall.2,1", "success_1"])
    assert result["measures"] == (*(f"P_{k}" for k in cutoffs), "recall_1", "recall_2", "success_1")
    mean = result["mean"]
    # q1 retrieves d3 (0), d1, d2 (relevant); q2 retrieves d9 (unjudged), d4 (relevant); q3 is missing
    assert mean["P_5"] == pytest.approx((2 / 5 + 1 / 5 + 0) / 3)
    assert mean["P_1000"] == pytest.approx((2 / 1000 + 1 / 1000 + 0) / 3)
    assert mean["recall_1"] == 0 and mean["success_1"] == 0
    assert mean["recall_2"] == pytest.approx((1 / 2 + 1 / 1 + 0) / 3)


def test_measure_names():
    assert pytrec_measures(["recip_rank", "ndcg_cut_3", "ndcg_cut_10", "recall_100"]) == {
        "recip_rank", "ndcg_cut.3,10", "recall.100"}
    # naming one cut-off keeps the family's defaults that were asked for too (pytrec_eval alone drops them)
    assert pytrec_measures(["recall", "recall_7"]) == {"recall.5,10,15,20,30,100,200,500,1000,7"}
    assert resolve_measures(["recall.100,10", "recall_10", "ndcg_cut_3", "map", "iprec_at_recall_0.5",
                             "Rprec_mult.1,0.25"]) == (
        "recall_10", "recall_100", "ndcg_cut_3", "map", "iprec_at_recall_0.50", "Rprec_mult_0.25",
        "Rprec_mult_1.00")
    assert "gm_map" in resolve_measures(["official"]) and "runid" not in resolve_measures(["official"])
    with pytest.raises(UsageError, match="unknown measure 'mrr' .did you mean recip_rank.*valid: plain measures"):
        pytrec_measures(["mrr"])


@pytest.mark.parametrize("name, message", [
    ("ndcg.3", "ndcg has no cut-offs"),  # pytrec_eval aborts the interpreter on this one
    ("ndcg_cut.0", "cut-off '0' of ndcg_cut is not a whole number"),  # and on this one
    ("recall.1e3", "cut-off '1e3'"),  # pytrec_eval would read recall_1
    ("recall_3.5", "cut-off '3.5'"),  # pytrec_eval would read recall_3
    ("map.5", "map has no cut-offs"),  # pytrec_eval would ignore the 5
    ("iprec_at_recall.0.125", "at most two decimals"),
    ("runid", "text in trec_eval's output"),
    ("Recall_10", "did you mean recall_10"),
    ("ndcg@3", "unknown measure 'ndcg@3'"),
])
def test_bad_measure_names_are_refused(name, message):
    with pytest.raises(UsageError, match=message.replace(".", "\\.")) as error:
        resolve_measures([name])
    assert "valid: plain measures" in str(error.value) and "\n" not in str(error.value)


def test_cli_prints_the_expanded_names(files, tmp_path, capsys):
    """The issue: `--metrics recall ndcg_cut P` printed 0.0000 for each."""
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run", str(tmp_path / "run.trec"),
                 "--metrics", "recall", "ndcg_cut", "P", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "recall" not in out and "P" not in out
    assert out["recall_5"] == pytest.approx((1 + 1 + 0) / 3) and out["P_5"] == pytest.approx((2 / 5 + 1 / 5) / 3)
    ndcg_q1 = (2 / log2(3) + 1 / log2(4)) / (2 + 1 / log2(3))
    assert out["ndcg_cut_5"] == pytest.approx((ndcg_q1 + 1 / log2(3)) / 3)
    assert out["average"] == "judged" and out["averaged_queries"] == 3
    assert main(["evaluate", "--qrels", str(tmp_path / "qrels.txt"), "--run", str(tmp_path / "run.trec"),
                 "--metrics", "recall_5", "--average", "retrieved"]) == 0
    table = capsys.readouterr().out
    assert "| recall_5 |" in table and "| 1.0000 |" in table and "means over the 2 judged queries in the run" in table


@pytest.mark.parametrize("command", ["evaluate", "compare"])
def test_cli_refuses_unknown_measures_in_one_line(files, tmp_path, capsys, command):
    run = str(tmp_path / "run.trec")
    options = {"evaluate": ["--run", run], "compare": ["--runs", run, "--output", str(tmp_path / "c")]}[command]
    status = main([command, "--qrels", str(tmp_path / "qrels.txt"), *options, "--metrics", "recip_rank", "mrr"])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "unknown measure 'mrr'" in captured.err
    assert "ndcg_cut" in captured.err and "recip_rank" in captured.err
    assert not (tmp_path / "c.csv").exists()


def test_a_value_pytrec_eval_did_not_return_is_an_error(files, monkeypatch):
    import pytrec_eval

    qrels, run = files

    class Forgetful(pytrec_eval.RelevanceEvaluator):
        def evaluate(self, scores):
            values = super().evaluate(scores)
            values.get("q2", {}).pop("map", None)
            return values

    monkeypatch.setattr(pytrec_eval, "RelevanceEvaluator", Forgetful)
    with pytest.raises(DiscoError, match="returned no map for query 'q2'"):
        evaluate_run(qrels, run, ["recip_rank", "map"])


def test_run_round_trip(tmp_path):
    hits = [Hit("d2", 12.0), Hit("d1", 7.5)]
    write_run(tmp_path / "r.trec", [("q1", hits), ("q2", [])], tag="mine")
    assert (tmp_path / "r.trec").read_text() == "q1 Q0 d2 1 12.000000 mine\nq1 Q0 d1 2 7.500000 mine\n"
    assert read_run(tmp_path / "r.trec") == {"q1": {"d2": 12.0, "d1": 7.5}}


@pytest.mark.parametrize("reader, text, message", [
    (read_qrels, "q1 0 d1\n", "4 columns"),
    (read_qrels, "q1 0 d1 high\n", "not an integer"),
    (read_qrels, "", "no judgments"),
    (read_run, "q1 Q0 d1 1 2.0\n", "6 columns"),
    (read_run, "q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n", "listed twice"),
    (read_run, "q1 Q0 d1 1 abc t\n", "not a number"),
])
def test_bad_files_name_the_line(tmp_path, reader, text, message):
    path = tmp_path / "file.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        reader(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_qrels(tmp_path / "absent.txt")
