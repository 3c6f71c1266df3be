"""Searching index shards on a Dask cluster: each worker keeps its shards open, the client merges.

The client encodes the queries (or reads them pre-encoded) and sends them in batches; every
(batch, shard) pair is one task. Shard ``i`` is sent to worker ``i`` modulo the workers, so a
worker opens its shards once, in its own JVM (pyjnius is not safe across Python threads of one
JVM, and Dask workers here run one task at a time), and keeps them open for every later batch and
search. A task searches its batch on its shard with Anserini's SearchCollection (the run read back
from a file: no hit crosses JNI one by one) and returns each query's top ``k``; the client merges
the shards exactly (:func:`disco_pyserini.search.merge.merge_hits`): the run is the single index's, byte
for byte. A killed worker's tasks are searched again by another worker (``retries``); a shard
that cannot be opened or searched is an error, never a silently shorter run.

The shards must be on storage every worker sees. Dask is an optional dependency
(``pip install disco-pyserini[dask]``).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import DiscoError
from ..io.runs import Hit
from ..search.merge import merge_hits

logger = logging.getLogger(__name__)

_SEARCHERS: dict[str, Any] = {}  # per worker process: shard path -> its open ImpactSearcher
DEFAULT_BATCH = 256


def search_shard_task(task: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Dask worker: one batch of queries on one shard, the shard kept open for later tasks."""
    from ..search.searcher import ImpactSearcher

    path = task["shard"]
    try:
        searcher = _SEARCHERS.get(path)
        if searcher is None:
            searcher = _SEARCHERS[path] = ImpactSearcher(path)
        started = time.perf_counter()
        hits = searcher.hits(task["queries"], task["k"], task["threads"])
    except DiscoError as error:  # the shard named in the message
        raise DiscoError(f"shard {path}: {error}") from None
    return {"shard": path, "batch": task["batch"], "worker": os.getpid(), "seconds": time.perf_counter() - started,
            "hits": hits}


def search_with_dask(client: Any, shards: Sequence[str], queries: Sequence[tuple[str, Mapping[str, int]]], *,
                     k: int, threads: int = 1, batch_size: int = DEFAULT_BATCH, retries: int = 2
                     ) -> dict[str, list[Hit]]:
    """The merged top ``k`` of every ``(query_id, vector)`` over ``shards``, searched on the cluster."""
    from distributed import as_completed

    if not shards:
        raise DiscoError("no index shard to search")
    missing = [path for path in shards if not os.path.isdir(path)]
    if missing:
        raise DiscoError(f"--index {missing[0]}: no such shard folder; every shard of the index must be searched")
    workers = sorted(client.scheduler_info().get("workers", {}))
    if not workers:
        raise DiscoError("the Dask cluster has no worker")
    batches = [list(queries[start:start + batch_size]) for start in range(0, len(queries), batch_size)]
    futures = {}
    for number, shard in enumerate(shards):
        for batch, chunk in enumerate(batches):
            task = {"shard": os.path.abspath(shard), "batch": batch, "queries": chunk, "k": k, "threads": threads}
            future = client.submit(search_shard_task, task, workers=[workers[number % len(workers)]],
                                   allow_other_workers=True, retries=retries, pure=False)
            futures[future] = (shard, batch)
    per_batch: dict[int, dict[str, dict[str, list[tuple[str, float]]]]] = {batch: {} for batch in range(len(batches))}
    for future in as_completed(futures):
        try:
            result = future.result()
        except DiscoError:
            raise
        except Exception as error:  # a worker lost more often than retries allow, or a Java error
            shard, batch = futures[future]
            raise DiscoError(f"shard {shard} could not be searched ({type(error).__name__}: {error})") from None
        per_batch[result["batch"]][result["shard"]] = result["hits"]
    merged: dict[str, list[Hit]] = {}
    for batch, chunk in enumerate(batches):
        if len(per_batch[batch]) != len(shards):  # as_completed returns every future: a guard, not a path
            raise DiscoError(f"batch {batch} was searched on {len(per_batch[batch])} of {len(shards)} shards")
        shard_hits = per_batch[batch]
        merged.update(merge_hits(list(shard_hits.values()), [qid for qid, _ in chunk], k, names=list(shard_hits)))
    return merged
