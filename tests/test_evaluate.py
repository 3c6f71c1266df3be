"""Evaluation against values computed by hand, with a judged query missing from the run."""

from __future__ import annotations

import math

import pytest

from disco_pyserini.errors import InputError, UsageError
from disco_pyserini.evaluate import evaluate_run, pytrec_measures
from disco_pyserini.runs import Hit, read_qrels, read_run, write_run

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


def test_measure_names():
    assert pytrec_measures(["recip_rank", "ndcg_cut_3", "ndcg_cut_10", "recall_100"]) == {
        "recip_rank", "ndcg_cut.3,10", "recall.100"}
    with pytest.raises(UsageError, match="unknown measure 'mrr'"):
        pytrec_measures(["mrr"])


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
