"""How much SPLADE vectors depend on the number of torch threads, measured on all of CACM.

    .venv/bin/python benchmarks/measure_determinism.py [--docs N] [--threads 1 2] [--scale 100]

CPU kernels choose their blocking (and so the order of their float additions) by thread count
and instruction set, so float weights computed with 1 and 2 threads, or on an AVX2 and an
AVX-512 machine, can differ in the last bits. This encodes the same CACM abstracts (title +
abstract, from ../shared) with SPLADE-tiny once per thread count, each twice, and prints:

* whether the same thread count gives the same floats twice (expected: always);
* how many float weights differ between thread counts, and the largest difference;
* how many integer impacts ``round(w * scale)`` differ, and whether every such difference sits
  at a rounding boundary (``w * scale`` within float noise of ``k + 0.5``).

docs/reliability.md's determinism claims quote its figures.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import cacm_corpus, default_model, report


def encode_all(encoder, texts, threads: int):
    import torch

    torch.set_num_threads(threads)
    return encoder.encode(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None, help="the first N CACM documents (default: all 3,204)")
    parser.add_argument("--threads", type=int, nargs=2, default=(1, 2), metavar=("A", "B"))
    parser.add_argument("--scale", type=float, default=100)
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    from disco_pyserini.encode.models import resolve_model
    from disco_pyserini.encode.quantize import quantize
    from disco_pyserini.encode.splade import SpladeEncoder

    _, documents = cacm_corpus(Path(tempfile.mkdtemp(prefix="determinism-")), args.docs)
    texts = [d.text for d in documents]
    encoder = SpladeEncoder(resolve_model(args.model, "document"))
    a, b = args.threads
    first = {threads: encode_all(encoder, texts, threads) for threads in (a, b)}
    again = {threads: encode_all(encoder, texts, threads) for threads in (a, b)}

    repeat_equal = all(np.array_equal(x.indices, y.indices) and np.array_equal(x.weights, y.weights)
                       for threads in (a, b) for x, y in zip(first[threads], again[threads]))
    weights = float_differs = support_differs = impacts = impact_differs = off_boundary = 0
    largest = largest_absolute = 0.0
    for x, y in zip(first[a], first[b]):
        if not np.array_equal(x.indices, y.indices):
            support_differs += 1
            continue
        weights += len(x.weights)
        differs = x.weights != y.weights
        float_differs += int(differs.sum())
        if differs.any():
            absolute = np.abs(x.weights - y.weights)
            largest_absolute = max(largest_absolute, float(absolute.max()))
            largest = max(largest, float((absolute / x.weights).max()))
        kept_x, ints_x = quantize(x.indices, x.weights, args.scale)
        kept_y, ints_y = quantize(y.indices, y.weights, args.scale)
        dense_x = dict(zip(kept_x.tolist(), ints_x.tolist()))
        dense_y = dict(zip(kept_y.tolist(), ints_y.tolist()))
        impacts += len(dense_x)
        for position, index in enumerate(x.indices.tolist()):
            if dense_x.get(index, 0) != dense_y.get(index, 0):
                impact_differs += 1
                scaled = float(np.float32(x.weights[position]) * np.float32(args.scale))
                if abs(scaled - np.floor(scaled) - 0.5) > 1e-3:
                    off_boundary += 1
    rows = [
        ("documents", f"{len(texts):,}"),
        (f"same floats twice at {a} and at {b} threads", str(repeat_equal)),
        (f"documents whose non-zero terms differ ({a} vs {b} threads)", f"{support_differs:,}"),
        (f"float weights that differ ({a} vs {b} threads)",
         f"{float_differs:,} of {weights:,} (largest difference {largest_absolute:.1e}, relative {largest:.1e})"),
        (f"integer impacts that differ (scale {args.scale:g})", f"{impact_differs:,} of {impacts:,}"),
        ("  of which not at a rounding boundary", f"{off_boundary:,}"),
    ]
    results = {"documents": len(texts), "threads": [a, b], "repeat_equal": repeat_equal,
               "support_differs": support_differs, "weights": weights, "float_differs": float_differs,
               "largest_difference": largest_absolute, "largest_relative_difference": largest,
               "impacts": impacts, "impact_differs": impact_differs,
               "impact_differs_off_boundary": off_boundary}
    report("SPLADE vectors across thread counts (SPLADE-tiny, CACM)", rows, results, args.json)


if __name__ == "__main__":
    main()
