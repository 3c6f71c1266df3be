"""Integer impacts from SPLADE weights, the same function for documents and queries.

As naver/splade exports to Anserini: ``round(w * scale)`` as an integer (half to even, like
``numpy.rint``), keeping only the weights that stay above 0. Lucene's impact index stores
integers, and Pyserini truncates float query weights, so both sides are quantized here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import UsageError

DEFAULT_SCALE = 100


def check_scale(scale: float) -> float:
    if not np.isfinite(scale) or scale <= 0:
        raise UsageError(f"--scale must be a positive number (got {scale})")
    return scale


def quantize(indices: np.ndarray, weights: np.ndarray, scale: float = DEFAULT_SCALE) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, impacts)`` with ``impacts = rint(weights * scale)`` and only impacts > 0 kept."""
    check_scale(scale)
    impacts = np.rint(np.asarray(weights, dtype=np.float32) * np.float32(scale)).astype(np.int64)
    keep = impacts > 0
    return np.asarray(indices)[keep], impacts[keep]


def to_impacts(indices: np.ndarray, weights: np.ndarray, vocabulary: Sequence[str],
               scale: float = DEFAULT_SCALE) -> dict[str, int]:
    """``{token: impact}`` in vocabulary order, the form Pyserini's impact search and collections take."""
    kept, impacts = quantize(indices, weights, scale)
    return {vocabulary[i]: int(v) for i, v in zip(kept.tolist(), impacts.tolist())}
