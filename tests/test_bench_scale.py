"""The synthetic collection of benchmarks/bench_scale.py: deterministic, drawn from the measured
SPLADE-tiny distributions, and a collection `disco-pyserini index` takes as any other."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from conftest import REPO, SPLADE_TINY, need
from disco_pyserini.collection import Collection


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
