"""Building a Lucene impact index from a collection folder, through Pyserini's Anserini.

Equivalent to ``python -m pyserini.index.lucene --collection JsonVectorCollection --input
COLLECTION/vectors --index INDEX --generator DefaultLuceneDocumentGenerator --impact
--pretokenized --threads N``, run in-process so that its counts can be checked: the index must
hold every document of the collection that has at least one term.

The index is built in a hidden folder beside the target (``.NAME.building-…``) and renamed into place
once complete and checked: a failed build, or ``--overwrite`` whose build fails, leaves the old index
(or nothing), never Lucene segments without ``disco_index.json``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from typing import Any

from ..encode.collection import Collection
from ..errors import DiscoError, InputError, UsageError
from ..io.jsonl import read_json_object, write_json
from ..io.metadata import artifact_header, file_sha256
from ..java import autoclass, start_jvm

logger = logging.getLogger(__name__)

INDEX_METADATA = "disco_index.json"


def build_index(collection: str, index: str, *, threads: int = 1, overwrite: bool = False,
                store_raw: bool = False, heap: str | None = None, shards: int = 1) -> dict[str, Any]:
    """Index the collection folder into ``index``; returns the index metadata.

    With ``shards`` > 1, ``index`` holds one Lucene index per group of consecutive collection
    parts (``shard-00``, ``shard-01``...), searched together by :class:`ShardedSearcher`.
    """
    if threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {threads})")
    if shards < 1:
        raise UsageError(f"--index-shards must be at least 1 (got {shards})")
    source = Collection(collection)
    metadata = source.metadata()
    if shards > metadata["parts"]:
        raise UsageError(f"--index-shards {shards}: the collection has only {metadata['parts']} part(s); "
                         f"encode it with a smaller --docs-per-part")
    if os.path.isdir(index) and os.listdir(index):
        if not overwrite:
            raise UsageError(f"{index} is not empty; pass --overwrite to replace it")
        if not (os.path.exists(os.path.join(index, INDEX_METADATA))
                or any(name.startswith("segments") for name in os.listdir(index))):
            raise UsageError(f"{index} is not a Lucene index; --overwrite only replaces indexes, choose another folder")
    start_jvm(heap)
    started = time.perf_counter()
    # built beside the target and renamed on success: a failed build leaves the old index (or nothing)
    parent, name = os.path.split(os.path.abspath(index))
    os.makedirs(parent, exist_ok=True)
    building = os.path.join(parent, f".{name}.building-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(building)  # the mode a plain mkdir gives, as the index folder would have had
    try:
        info = _build(source, metadata, collection, index, building, threads, store_raw, shards)
        _replace_folder(building, os.path.join(parent, name))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    logger.info("indexed %d documents in %.1f s with %d thread(s)%s", info["documents"], time.perf_counter() - started,
                threads, f" into {shards} index shards" if shards > 1 else "")
    if metadata["empty_vectors"]:
        logger.warning("%d documents have no terms and are not in the index", metadata["empty_vectors"])
    return info


def _build(source: Collection, metadata: dict[str, Any], collection: str, index: str, building: str, threads: int,
           store_raw: bool, shards: int) -> dict[str, Any]:
    """Index into the folder ``building``, whose metadata names ``index``, where it will be renamed."""
    vectors = source.vectors_folder
    if shards == 1:
        indexed = _run_indexer(vectors, building, threads, store_raw)
        shard_info = None
    else:
        parts = sorted(os.listdir(vectors))
        bounds = [round(i * len(parts) / shards) for i in range(shards + 1)]
        shard_info = []
        for number in range(shards):
            name, group = f"shard-{number:02d}", parts[bounds[number]:bounds[number + 1]]
            inputs = os.path.join(building, ".inputs", name)
            os.makedirs(inputs)
            for part in group:
                os.symlink(os.path.abspath(os.path.join(vectors, part)), os.path.join(inputs, part))
            count = _run_indexer(inputs, os.path.join(building, name), threads, store_raw)
            shard_info.append({"name": name, "parts": group, "documents": count})
        shutil.rmtree(os.path.join(building, ".inputs"))
        indexed = sum(shard["documents"] for shard in shard_info)
    expected = metadata["documents"] - metadata["empty_vectors"]
    if indexed != expected:
        raise DiscoError(f"{index}: Lucene indexed {indexed} documents, expected {expected} "
                         f"({metadata['documents']} in {collection} less {metadata['empty_vectors']} without terms)")
    info = {
        **artifact_header("index" if shards == 1 else "index-shards"),
        "collection": os.path.abspath(collection),
        "collection_metadata_sha256": file_sha256(source.metadata_path),
        "encoder": metadata["encoder"],
        "scale": metadata["scale"],
        "documents": indexed,
        "collection_documents": metadata["documents"],
        "empty_vectors": metadata["empty_vectors"],
        "store_raw": store_raw,
    }
    if shard_info is not None:
        info["shards"] = shard_info
        for shard in shard_info:
            write_json(os.path.join(building, shard["name"], INDEX_METADATA),
                       {**info, **artifact_header("index"), "documents": shard["documents"], "shard_of": index,
                        "parts": shard["parts"], "shards": None})
    write_json(os.path.join(building, INDEX_METADATA), info)
    return info


def _replace_folder(built: str, target: str) -> None:
    """Put the folder ``built`` at ``target``, replacing an old index there only once the new one is complete."""
    if not os.path.isdir(target):
        os.rename(built, target)
        return
    if not os.listdir(target):
        os.rmdir(target)
        os.rename(built, target)
        return
    old = f"{built}.old"
    os.rename(target, old)  # the two renames leave, at worst, the old index at `old`, never a half-built one
    os.rename(built, target)
    shutil.rmtree(old, ignore_errors=True)


def _run_indexer(inputs: str, index: str, threads: int, store_raw: bool) -> int:
    """Anserini's IndexCollection (JsonVectorCollection, impact, pretokenized); returns the index's size."""
    args = autoclass("io.anserini.index.IndexCollection$Args")()
    args.collectionClass = "JsonVectorCollection"
    args.generatorClass = "DefaultLuceneDocumentGenerator"
    args.input = os.path.abspath(inputs)
    args.index = os.path.abspath(index)
    args.impact = True
    args.pretokenized = True
    args.storeRaw = store_raw
    args.threads = threads
    args.quiet = True
    indexer = autoclass("io.anserini.index.IndexCollection")(args)
    indexer.run()
    counters = indexer.getCounters()
    counts = {name: int(getattr(counters, name).get()) for name in ("indexed", "empty", "unindexable", "errors")}
    if counts["errors"] or counts["unindexable"]:
        raise DiscoError(f"{index}: Anserini could not index every document ({counts})")
    return index_size(index)


def index_size(index: str) -> int:
    reader = autoclass("io.anserini.index.IndexReaderUtils").getReader(os.path.abspath(index))
    try:
        return int(reader.numDocs())
    finally:
        reader.close()


def read_index_metadata(index: str) -> dict[str, Any] | None:
    """The index's metadata; ``None`` for a Lucene index this package did not build."""
    if not os.path.isdir(index):
        raise UsageError(f"--index {index}: no such folder")
    path = os.path.join(index, INDEX_METADATA)
    metadata = read_json_object(path, "index metadata") if os.path.exists(path) else None
    sharded = metadata is not None and metadata.get("kind") == "index-shards"
    if not sharded and not any(name.startswith("segments") for name in os.listdir(index)):
        raise UsageError(f"--index {index}: not a Lucene index (no segments file); build one with "
                         f"`disco-pyserini index`")
    if metadata is None:
        return None
    if metadata.get("kind") not in ("index", "index-shards"):
        raise InputError(path, "not a disco-pyserini index metadata file")
    return metadata


def index_is_current(index: str, collection: str) -> bool:
    """Whether ``index`` was built by this package from ``collection`` as it is now."""
    try:
        metadata = read_index_metadata(index)
    except DiscoError:
        return False
    source = Collection(collection)
    return (metadata is not None and metadata["collection"] == os.path.abspath(collection)
            and os.path.exists(source.metadata_path)
            and metadata.get("collection_metadata_sha256") == file_sha256(source.metadata_path))
