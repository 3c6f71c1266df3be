"""Integer impacts from SPLADE weights, the same function for documents and queries.

As naver/splade exports to Anserini: ``round(w * scale)`` as an integer (half to even, like
``numpy.rint``), keeping only the weights that stay above 0. Lucene's impact index stores
integers, and Pyserini truncates float query weights, so both sides are quantized here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import SettingError, UsageError
from .spec import DEFAULT_SCALE


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


def prune(vector: Mapping[str, int], max_terms: int | None) -> dict[str, int]:
    """The ``max_terms`` heaviest terms of an impact query, in their order; all of them for ``None``.

    Equal impacts are kept in the vector's own order, which is token-id order for every vector
    :func:`to_impacts` writes (and for Anserini's pre-encoded query files): ties go to the lower
    token id. A flattened conversation gives a SPLADE query hundreds of terms; the lightest ones add
    little to the scores and much to Lucene's work.
    """
    if max_terms is None or len(vector) <= max_terms:
        return dict(vector)
    if max_terms < 1:
        raise SettingError("query_max_terms", f"must be at least 1 (got {max_terms})")
    order = list(vector)
    kept = set(sorted(range(len(order)), key=lambda i: (-vector[order[i]], i))[:max_terms])
    return {order[i]: vector[order[i]] for i in sorted(kept)}
