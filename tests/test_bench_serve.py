"""benchmarks/bench_serve.py runs in CI at its tiny size: a live server with each query backend, the
sample's turns one and 16 at a time, Pyserini's baseline; the shape of what it prints and returns
(no timed assertion)."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.java, pytest.mark.slow]


def test_the_latency_benchmark_runs_at_a_tiny_size(tiny_model, tmp_path, capsys):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_serve
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    output = tmp_path / "serve.json"
    results = bench_serve.main(["--tiny", "--requests", "8", "--model", tiny_model, "--backends", "torch,onnx",
                                "--json", str(output)])
    printed = capsys.readouterr().out
    assert json.loads(output.read_text()) == results
    assert results["turns"] == 8 and results["k"] == 10 and list(results["sizes"]) == ["sample"]
    sample = results["sizes"]["sample"]
    assert sample["passages"] == 155 and list(sample["backends"]) == ["torch", "onnx"]
    for served in sample["backends"].values():
        assert served["first_answer_modes"] == ["raw", "disco", "rewrite"]
        assert served["first_answer_hits"] == 30 and served["startup_s"] > 0
        assert 0 < served["startup_peak_rss_mib"] <= served["peak_rss_mib"]
        assert len(served["load_before"]) == len(served["load_after"]) == 3
        for threads in ("1", "16"):
            figures = served["by_concurrency"][threads]
            assert figures["requests"] == 8
            assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"]
    baseline = sample["pyserini_one_turn"]
    assert baseline["requests"] == 8 and 0 < baseline["p50_ms"] <= baseline["p95_ms"]
    for words in ("sample: 155 passages", "backend torch: start-up", "backend onnx: start-up", " 1 at a time: p50",
                  "16 at a time: p50", "Pyserini's p50", "requests/s", "load average"):
        assert words in printed, words
