"""Building a Lucene impact index from a collection folder, through Pyserini's Anserini.

Equivalent to ``python -m pyserini.index.lucene --collection JsonVectorCollection --input
COLLECTION/vectors --index INDEX --generator DefaultLuceneDocumentGenerator --impact
--pretokenized --threads N``, run in-process so that its counts can be checked: the index must
hold every document of the collection that has at least one term.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any

from .collection import METADATA, VECTORS, read_collection_metadata
from .errors import DiscoError, InputError, UsageError
from .java import autoclass, start_jvm
from .jsonl import read_json, write_json
from .metadata import artifact_header, file_sha256

logger = logging.getLogger(__name__)

INDEX_METADATA = "disco_index.json"


def build_index(collection: str, index: str, *, threads: int = 1, overwrite: bool = False,
                store_raw: bool = False, heap: str | None = None) -> dict[str, Any]:
    """Index the collection folder into ``index``; returns the index metadata."""
    if threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {threads})")
    metadata = read_collection_metadata(collection)
    if os.path.isdir(index) and os.listdir(index):
        if not overwrite:
            raise UsageError(f"{index} is not empty; pass --overwrite to replace it")
        if not any(name.startswith("segments") for name in os.listdir(index)):
            raise UsageError(f"{index} is not a Lucene index; --overwrite only replaces indexes, choose another folder")
        shutil.rmtree(index)
    if metadata["parts"] < threads:
        logger.info("the collection has %d part(s): indexing uses at most that many of the %d threads",
                    metadata["parts"], threads)

    start_jvm(heap)
    args = autoclass("io.anserini.index.IndexCollection$Args")()
    args.collectionClass = "JsonVectorCollection"
    args.generatorClass = "DefaultLuceneDocumentGenerator"
    args.input = os.path.abspath(os.path.join(collection, VECTORS))
    args.index = os.path.abspath(index)
    args.impact = True
    args.pretokenized = True
    args.storeRaw = store_raw
    args.threads = threads
    args.quiet = True
    started = time.perf_counter()
    indexer = autoclass("io.anserini.index.IndexCollection")(args)
    indexer.run()
    counters = indexer.getCounters()
    counts = {name: int(getattr(counters, name).get())
              for name in ("indexed", "empty", "unindexable", "skipped", "errors")}
    elapsed = time.perf_counter() - started
    indexed = index_size(index)
    expected = metadata["documents"] - metadata["empty_vectors"]
    if counts["errors"] or counts["unindexable"] or indexed != expected:
        raise DiscoError(f"{index}: Lucene indexed {indexed} documents, expected {expected} "
                         f"({metadata['documents']} in {collection} less {metadata['empty_vectors']} without terms); "
                         f"Anserini counted {counts}")
    info = {
        **artifact_header("index"),
        "collection": os.path.abspath(collection),
        "collection_metadata_sha256": file_sha256(os.path.join(collection, METADATA)),
        "encoder": metadata["encoder"],
        "scale": metadata["scale"],
        "documents": indexed,
        "collection_documents": metadata["documents"],
        "empty_vectors": metadata["empty_vectors"],
        "store_raw": store_raw,
    }
    write_json(os.path.join(index, INDEX_METADATA), info)
    logger.info("indexed %d documents in %.1f s with %d thread(s)", indexed, elapsed, threads)
    if metadata["empty_vectors"]:
        logger.warning("%d documents have no terms and are not in the index", metadata["empty_vectors"])
    return info


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
    if not any(name.startswith("segments") for name in os.listdir(index)):
        raise UsageError(f"--index {index}: not a Lucene index (no segments file); build one with "
                         f"`disco-pyserini index`")
    path = os.path.join(index, INDEX_METADATA)
    if not os.path.exists(path):
        return None
    metadata = read_json(path)
    if metadata.get("kind") != "index":
        raise InputError(path, "not a disco-pyserini index metadata file")
    return metadata
