"""Encoding on a Dask cluster: one task per collection part, the same bytes as one process.

The client reads the corpus once: it checks every document (ids, text, duplicates) and records
where each part starts (file and byte offset), so a task reads only its own lines. Each task
encodes one part with :meth:`Collection.write_part`, as the single-process path does, under a
temporary name renamed when complete; a part's bytes depend only on its documents, so the
collection is identical whatever the number of workers or the order tasks finish in. Workers get
the encoder's spec (``EncoderSpec.to_params()``, the model as the client resolved it: never a
pickled model), load the model once and keep it; the first task describes the encoder for the
collection's settings. Failed tasks are retried; ``resume`` skips the parts already written.

Dask is an optional dependency (``pip install disco-pyserini[dask]``), imported here only.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..encode.backends import build_encoder
from ..encode.collection import DEFAULT_DOCS_PER_PART, Collection, check_documents, collection_settings, id_hash
from ..encode.spec import EncoderSpec
from ..errors import InputError, SettingError, UsageError
from ..io.corpus import Document, corpus_files, parse_document
from ..io.jsonl import read_jsonl_lines, read_jsonl_offsets

logger = logging.getLogger(__name__)

_ENCODERS: dict[tuple[tuple[str, Any], ...], Any] = {}  # per worker process, by spec


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
            hashes.append(id_hash(parse_document(record, path, number).doc_id))
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
    for segment in segments:
        with open(segment.path, "rb") as handle:
            handle.seek(segment.offset)
            read, line = 0, segment.line - 1
            for line, record in read_jsonl_lines(handle, segment.path, segment.line):
                yield parse_document(record, segment.path, line)
                read += 1
                if read == segment.count:
                    break
            else:
                raise InputError(segment.path, "the file changed while it was being encoded", line=line + 1)


def _encoder(params: dict[str, Any]) -> Any:
    """The worker's encoder of the spec ``params``, loaded once per worker process."""
    key = tuple(sorted(params.items()))
    if key not in _ENCODERS:
        _ENCODERS[key] = build_encoder(EncoderSpec.from_params(params))
    return _ENCODERS[key]


def describe_task(params: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Dask worker: the record of the encoder the workers run (what the collection keeps)."""
    return _encoder(params).describe()


def encode_part_task(task: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Dask worker: encode one part (the model stays loaded in the worker process)."""
    encoder = _encoder(task["spec"])
    started = time.perf_counter()
    documents = list(read_segments(task["segments"]))
    collection = Collection(task["output"])
    if not collection.has_part(task["part"]):
        collection.write_part(task["part"], documents, encoder, encoder.spec.scale)
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


def close_client(client: Any, scheduler: str | None) -> None:
    """Close the client, and the local cluster :func:`connect` started for it (not a cluster of others)."""
    client.close()
    if client.cluster is not None and not (scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")):
        client.cluster.close()


def encode_with_dask(corpus: Sequence[str], output: str, spec: EncoderSpec, *, client: Any,
                     docs_per_part: int = DEFAULT_DOCS_PER_PART, resume: bool = False, overwrite: bool = False,
                     retries: int = 2, progress: bool = True) -> dict[str, Any]:
    """Encode ``corpus`` into the collection folder ``output`` on the cluster of ``client``.

    Workers compute with ``spec.threads`` torch threads (1 by default) and load the model the
    client resolved (a preset is fetched once, here). The collection records the encoder as a
    worker describes it (its device and precision are the workers').
    """
    from distributed import as_completed
    from tqdm import tqdm

    if docs_per_part < 1:
        raise SettingError("docs_per_part", f"must be at least 1 (got {docs_per_part})")
    spec = replace(spec.resolved(), threads=spec.threads or 1)
    files = corpus_files(corpus)
    parts, documents, hashes = plan_parts(files, docs_per_part)
    check_documents(files, hashes)
    record = client.submit(describe_task, spec.to_params(), retries=retries, pure=False).result()
    collection = Collection(output)
    collection.start(collection_settings(files, docs_per_part, record), resume=resume, overwrite=overwrite)
    collection.record_total(documents, len(parts))
    todo = collection.pending_parts(len(parts))
    tasks = [{"spec": spec.to_params(), "segments": parts[n], "output": os.path.abspath(output), "part": n}
             for n in todo]
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
    return {**collection.finish(), "encoded": encoded, "seconds": elapsed}
