from __future__ import annotations

import numpy as np
import pytest

from disco_pyserini.encode.quantize import quantize, to_impacts
from disco_pyserini.errors import UsageError


def test_round_times_scale_keeps_positive():
    indices = np.array([3, 7, 9, 12, 15])
    weights = np.array([1.234, 0.004, 0.006, 0.0, 2.5], dtype=np.float32)
    kept, impacts = quantize(indices, weights, 100)
    assert kept.tolist() == [3, 9, 15]
    assert impacts.tolist() == [123, 1, 250]
    assert impacts.dtype.kind == "i"


def test_halves_round_to_even_like_numpy_rint():
    # naver/splade exports with np.rint(w * scale): 0.5 -> 0 (dropped), 1.5 -> 2, 2.5 -> 2
    kept, impacts = quantize(np.arange(3), np.array([0.005, 0.015, 0.025], dtype=np.float32) * 1, 100)
    expected = np.rint(np.array([0.005, 0.015, 0.025], dtype=np.float32) * np.float32(100)).astype(int)
    assert impacts.tolist() == [v for v in expected.tolist() if v > 0]


def test_other_scales():
    _, impacts = quantize(np.array([0]), np.array([1.0], dtype=np.float32), 51.2)
    assert impacts.tolist() == [51]


def test_to_impacts_names_tokens_in_vocabulary_order():
    vocabulary = ["[PAD]", "shark", "##ing", "sleep"]
    assert to_impacts(np.array([1, 2, 3]), np.array([0.5, 0.001, 1.0], dtype=np.float32), vocabulary) == {
        "shark": 50, "sleep": 100}


@pytest.mark.parametrize("scale", [0, -1, float("nan"), float("inf")])
def test_scale_must_be_positive(scale):
    with pytest.raises(UsageError, match="--scale"):
        quantize(np.array([1]), np.array([1.0]), scale)
