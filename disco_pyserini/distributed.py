"""Encoding on a Dask cluster: one task per collection part, the same bytes as one process.

The client reads the corpus once: it checks every document (ids, text, duplicates) and records
where each part starts (file and byte offset), so a task reads only its own lines. Each task
encodes one part with the same code as the single-process path and writes it under a temporary
name, renamed when complete; a part's bytes depend only on its documents, so the collection is
identical whatever the number of workers or the order tasks finish in. Workers get the model's
path (never a pickled model) and keep the model loaded between tasks. Failed tasks are retried;
``resume`` skips the parts already written.

Dask is an optional dependency (``pip install disco-pyserini[dask]``), imported here only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .collection import (
    DEFAULT_DOCS_PER_PART,
    STATS,
    TOTAL,
    Shard,
    _check_documents,
    _id_hash,
    _prepare_output,
    _remove_collection,
    _settings,
    _write_part,
    finish_collection,
    part_path,
)
from .corpus import Document, corpus_files, parse_document
from .errors import InputError, UsageError
from .jsonl import read_jsonl_offsets, write_json
from .quantize import DEFAULT_SCALE, check_scale

logger = logging.getLogger(__name__)

_ENCODERS: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}  # per worker process


@dataclass(frozen=True)
class Segment:
    """``count`` documents of ``path`` from line ``line`` (1-based), which starts at byte ``offset``."""

    path: str
    offset: int
    line: int
    count: int


def plan_parts(files: Sequence[str], docs_per_part: int) -> tuple[list[list[Segment]], int, np.ndarray]:
    """Check every document and cut the corpus into parts: (segments of each part, documents, id hashes)."""
    parts: list[list[Segment]] = []
    current: list[Segment] = []
    in_part = 0
    hashes: list[int] = []
    for path in files:
        if path.endswith(".gz"):
            raise UsageError(f"{path}: --dask reads parts by byte offset; decompress .gz corpora first")
        segment_start: tuple[int, int] | None = None
        segment_count = 0
        for number, start, record in read_jsonl_offsets(path):
            hashes.append(_id_hash(parse_document(record, path, number).doc_id))
            if segment_start is None:
                segment_start = (start, number)
            segment_count += 1
            in_part += 1
            if in_part == docs_per_part:
                current.append(Segment(path, segment_start[0], segment_start[1], segment_count))
                parts.append(current)
                current, in_part, segment_start, segment_count = [], 0, None, 0
        if segment_start is not None:
            current.append(Segment(path, segment_start[0], segment_start[1], segment_count))
    if current:
        parts.append(current)
    return parts, len(hashes), np.array(hashes, dtype=np.uint64)


def read_segments(segments: Sequence[Segment]) -> Iterator[Document]:
    import json

    for segment in segments:
        with open(segment.path, "rb") as handle:
            handle.seek(segment.offset)
            read = 0
            line = segment.line
            while read < segment.count:
                raw = handle.readline()
                if not raw:
                    raise InputError(segment.path, "the file changed while it was being encoded", line=line)
                if raw.strip():
                    yield parse_document(json.loads(raw.decode("utf-8")), segment.path, line)
                    read += 1
                line += 1


def encode_part_task(task: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Dask worker: encode one part (the model stays loaded in the worker process)."""
    from .splade import SpladeEncoder

    key = (task["model"], tuple(sorted(task["encoder"].items())))
    encoder = _ENCODERS.get(key)
    if encoder is None:
        encoder = _ENCODERS[key] = SpladeEncoder(task["model"], **task["encoder"])
    started = time.perf_counter()
    documents = list(read_segments(task["segments"]))
    if not os.path.exists(part_path(task["output"], task["part"])):
        _write_part(task["output"], task["part"], documents, encoder, task["scale"])
    return {"part": task["part"], "documents": len(documents), "seconds": time.perf_counter() - started,
            "worker": os.getpid()}


def connect(scheduler: str | None, workers: int, threads_per_worker: int, gpus: int = 0) -> Any:
    """A Dask client: to ``scheduler`` (or ``$DASK_SCHEDULER_ADDRESS``), else to a local cluster on
    127.0.0.1 with ``workers`` spawned worker processes (one per GPU, pinned, with ``gpus``)."""
    try:
        from distributed import Client, LocalCluster, Nanny, Scheduler, SpecCluster
    except ImportError:
        raise UsageError("--dask needs Dask: pip install 'disco-pyserini[dask]'") from None
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        try:
            return Client(address, timeout="30s")
        except OSError as error:
            raise UsageError(f"cannot reach the Dask scheduler at {address} ({error})") from None
    if gpus:
        workers_spec = {f"gpu-{i}": {"cls": Nanny, "options": {
            "nthreads": 1, "host": "127.0.0.1", "env": {"CUDA_VISIBLE_DEVICES": str(i)}}} for i in range(gpus)}
        cluster = SpecCluster(scheduler={"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": None}},
                              workers=workers_spec, silence_logs=logging.WARNING)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.WARNING,
                               env={"OMP_NUM_THREADS": str(threads_per_worker)})
    return Client(cluster)


def encode_with_dask(corpus: Sequence[str], output: str, model: str, encoder_options: dict[str, Any], *,
                     client: Any, scale: float = DEFAULT_SCALE, docs_per_part: int = DEFAULT_DOCS_PER_PART,
                     resume: bool = False, overwrite: bool = False, retries: int = 2,
                     progress: bool = True) -> dict[str, Any]:
    """Encode ``corpus`` into the collection folder ``output`` on the cluster of ``client``."""
    from distributed import as_completed
    from tqdm import tqdm

    from .splade import SpladeEncoder

    check_scale(scale)
    if docs_per_part < 1:
        raise UsageError(f"--docs-per-part must be at least 1 (got {docs_per_part})")
    files = corpus_files(corpus)
    parts, documents, hashes = plan_parts(files, docs_per_part)
    _check_documents(files, hashes)
    describe = SpladeEncoder(model, **{**encoder_options, "threads": None}).describe()
    if overwrite and os.path.isdir(output):
        _remove_collection(output)
    _prepare_output(output, _settings(files, docs_per_part, describe, scale), Shard(0, 1), resume=resume,
                    overwrite=False)
    write_json(os.path.join(output, STATS, TOTAL), {"documents": documents, "parts": len(parts)})
    todo = [n for n in range(len(parts)) if not os.path.exists(part_path(output, n))]
    tasks = [{"model": model, "encoder": encoder_options, "segments": parts[n], "output": os.path.abspath(output),
              "part": n, "scale": scale} for n in todo]
    started = time.perf_counter()
    encoded = 0
    bar = tqdm(total=sum(sum(s.count for s in parts[n]) for n in todo), desc="encoding on Dask", unit="doc",
               disable=not progress)
    futures = client.map(encode_part_task, tasks, retries=retries, pure=False)
    for future in as_completed(futures):
        result = future.result()
        encoded += result["documents"]
        bar.update(result["documents"])
        elapsed = time.perf_counter() - started
        bar.set_postfix(docs_per_s=f"{encoded / elapsed:.0f}")
    bar.close()
    elapsed = time.perf_counter() - started
    workers = len(client.scheduler_info().get("workers", {}))
    logger.info("%d Dask workers encoded %d documents in %.1f s (%.1f documents/s)", workers, encoded, elapsed,
                encoded / elapsed if elapsed else 0.0)
    return {**finish_collection(output), "encoded": encoded, "seconds": elapsed}
