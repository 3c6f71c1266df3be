"""Shared pieces of the benchmarks: real data from ../shared, timing, the machine's matmul peak."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DISCO_PYSERINI_SHARED", REPO.parent / "shared"))
SPLADE_TINY = SHARED / "models" / "splade-tiny"
CACM = SHARED / "data" / "cacm"
CAST = SHARED / "data" / "cast"
sys.path.insert(0, str(REPO))


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"{path} is absent: the benchmarks read real data from ../shared")
    return path


def default_model() -> str:
    return str(SPLADE_TINY) if SPLADE_TINY.is_dir() else "splade-tiny"


def cacm_corpus(folder: Path, limit: int | None = None) -> tuple[Path, list[Any]]:
    """CACM's documents (title and abstract) as a JSONL corpus, in id order."""
    from disco_pyserini.datasets.cacm import read_cacm_corpus

    documents = list(read_cacm_corpus(str(need(CACM / "cacm.tar.gz"))))[:limit]
    path = folder / f"cacm-{len(documents)}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps({"id": document.doc_id, "contents": document.text}) + "\n")
    return path, documents


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``repeat`` calls, all times, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def matmul_peak(device: str = "cpu", repeat: int = 5) -> float:
    """FLOP/s of a large float32 (CPU) or bfloat16 (CUDA) matrix multiply, best of ``repeat``."""
    import torch

    n = 4096
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeat + 1):
        if device != "cpu":
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def flops_per_text(config: Any, length: int) -> float:
    """Forward FLOPs of a BERT masked LM on one text of ``length`` tokens, output layer included."""
    h, i, v, layers = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
    per_token_layer = 2 * 4 * h * h + 2 * 2 * h * i  # Q, K, V, output projections; feed-forward
    attention = 2 * 2 * length * h  # scores and weighted values, per token
    head = 2 * h * h + 2 * h * v  # transform, then the vocabulary-wide output layer
    return length * (layers * (per_token_layer + attention) + head)


def report(title: str, rows: list[tuple[str, str]], results: dict[str, Any], json_path: str | None) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
