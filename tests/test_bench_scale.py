"""The synthetic collection of benchmarks/bench_scale.py: deterministic, drawn from the measured
SPLADE-tiny distributions, and a collection `disco-pyserini index` takes as any other."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from conftest import REPO, SPLADE_TINY, need
from disco_pyserini.encode.collection import Collection


@pytest.fixture(scope="module")
def bench_scale(tiny_model):
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_scale
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return bench_scale


def vectors(folder) -> dict[str, dict[str, int]]:
    found = {}
    for path in sorted((folder / "vectors").glob("part-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            found[record["id"]] = record["vector"]
    return found


def test_the_same_seed_draws_the_same_documents(bench_scale, tmp_path):
    need(SPLADE_TINY)
    one = bench_scale.write_collection(str(tmp_path / "a"), 2_500, seed=3, docs_per_part=1_000)
    bench_scale.write_collection(str(tmp_path / "b"), 2_500, seed=3, docs_per_part=1_000)
    other = bench_scale.write_collection(str(tmp_path / "c"), 2_500, seed=4, docs_per_part=1_000)
    first = vectors(tmp_path / "a")
    assert len(first) == one["documents"] == 2_500
    assert first == vectors(tmp_path / "b")
    for name in ("part-00000.jsonl", "part-00002.jsonl"):
        assert (tmp_path / "a" / "vectors" / name).read_bytes() == (tmp_path / "b" / "vectors" / name).read_bytes()
    assert vectors(tmp_path / "c") != first and other["documents"] == 2_500
    # impacts are integers at the collection's scale, every document has terms
    assert all(vector and all(isinstance(v, int) and v > 0 for v in vector.values()) for vector in first.values())
    assert Collection(str(tmp_path / "a")).metadata()["encoder"]["model"] == "synthetic"


def test_documents_follow_the_measured_distributions(bench_scale, tmp_path):
    """Terms per passage within 3% and mean impact within 1% of SPLADE-tiny's on real text; the 100
    most frequent tokens' document frequencies within 5% on average (sampling noise at 5,000
    passages: 2.6%, 0.3% and 2.9% with this seed; 300,000 passages give 0.1%, 0.5% and 0.8%)."""
    need(SPLADE_TINY)
    drawn = bench_scale.write_collection(str(tmp_path / "c"), 5_000, seed=0, docs_per_part=2_500)
    assert drawn["mean_terms"] == pytest.approx(drawn["measured_mean_terms"], rel=0.03)
    assert drawn["mean_impact"] == pytest.approx(drawn["measured_mean_impact"], rel=0.01)
    assert drawn["top100_df_mean_relative_error"] < 0.05
    lengths = np.array([len(v) for v in vectors(tmp_path / "c").values()])
    assert lengths.min() >= 1 and lengths.std() > 10  # a spread of lengths, not one


def test_the_fit_recovers_a_known_exponent(bench_scale):
    """Costs drawn as c * N^a with a multiplicative noise of a few per cent: the least squares fit on
    log-log gives back a and c; a constant gives a = 0."""
    rng = np.random.default_rng(0)
    sizes = [2_000.0, 10_000.0, 100_000.0, 300_000.0, 1_000_000.0]
    for a, c in ((1.0, 3e-4), (0.5, 0.02), (-0.8, 5e5), (1.3, 1e-6)):
        values = [c * n**a * math.exp(rng.normal(0, 0.02)) for n in sizes]
        fitted_a, fitted_c = bench_scale.fit_power(sizes, values)
        assert fitted_a == pytest.approx(a, abs=0.03)
        assert fitted_c * 8_841_823**fitted_a == pytest.approx(c * 8_841_823**a, rel=0.15)
    exact_a, exact_c = bench_scale.fit_power([1e3, 1e4], [7.0, 7.0])
    assert exact_a == pytest.approx(0.0, abs=1e-12) and exact_c == pytest.approx(7.0)
    with pytest.raises(ValueError, match="two different sizes"):
        bench_scale.fit_power([1e3, 1e3], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        bench_scale.fit_power([1e3, 1e4], [0.0, 2.0])


def test_the_growth_table_fits_each_metric_and_extrapolates(bench_scale):
    """From per-size summaries shaped as the benchmark's: a metric that doubles with N has a = 1 and
    its MS MARCO value is the line's; a metric absent at some size is left out."""
    def summary(n):
        return {"index_single": {"wall": n / 1000, "bytes": 240 * n, "rss": 1e9},
                "qps": {"ours-single": {"None": 1e6 / n, "32": 2e6 / n},
                        "pyserini-single": {"None": 5e5 / n, "32": 1e6 / n}},
                "latency": {"None": {"ours-single": {"p50_ms": n / 1e4, "p95_ms": n / 5e3},
                                     "pyserini-single": {"p50_ms": n / 1e4, "p95_ms": n / 4e3}},
                            "32": {"ours-single": {"p50_ms": n / 2e4, "p95_ms": n / 1e4}}}}

    sizes = [2_000, 4_000, 8_000]
    table = bench_scale.growth_table(sizes, [summary(n) for n in sizes], 32)
    assert table["index_seconds"]["exponent"] == pytest.approx(1.0)
    assert table["index_seconds"]["ms_marco"] == pytest.approx(8_841.823)
    assert table["index_rss"]["exponent"] == pytest.approx(0.0, abs=1e-9)
    assert table["qps_ours_k"]["exponent"] == pytest.approx(-1.0)
    assert table["index_bytes"]["published"] == 2.10e9
    assert table["p95_ours_k"]["what"] == "latency p95, ours, K=32"
    assert "serve_health" not in table  # serve was not timed


@pytest.mark.slow
def test_a_tiny_multi_size_run_writes_the_table_and_the_plot(bench_scale, tmp_path, capsys):
    """Two tiny sizes end to end (indexing, batch and one-query search, serve start-up): the JSON table
    holds every metric at both sizes with an exponent, and the plot is a PNG. No timed assertion."""
    need(SPLADE_TINY)
    output = tmp_path / "scale.json"
    assert bench_scale.main(["--documents", "4000", "2000", "--queries", "20", "--latency-queries", "4",
                             "--shards", "1", "--threads", "1", "--json", str(output)]) == 0
    written = json.loads(output.read_text(encoding="utf-8"))
    assert written["sizes"] == [2_000, 4_000] and written["query_max_terms"] == 32
    assert set(written["growth"]) == set(bench_scale.METRICS)
    for row in written["growth"].values():
        assert len(row["values"]) == 2 and all(v > 0 for v in row["values"])
        assert math.isfinite(row["exponent"]) and row["ms_marco"] > 0
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "How each cost grows" in capsys.readouterr().out
