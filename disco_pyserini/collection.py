"""Encoding a corpus into a Pyserini JsonVectorCollection folder.

The folder holds ``vectors/part-00000.jsonl``, ``vectors/part-00001.jsonl``... (``docs_per_part``
documents each, in corpus order), one line per document::

    {"id": "d1", "contents": "text", "vector": {"token": 57, ...}}

and ``disco_collection.json``, its metadata, written once every part is complete. ``vectors/`` is
what Pyserini indexes, and Anserini reads every file in it (hidden ones too), so it only ever holds
complete parts: a part is written under a temporary name beside it and renamed into it when
complete, with its counts in ``.parts/``. A part depends only on its own documents
(see ``SpladeEncoder.exact``), so ``--shard I/N`` processes can fill one folder without
coordination, and ``--resume`` after a crash redoes only missing parts: the result is byte for
byte that of one uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .corpus import Document, corpus_files, iter_corpus
from .errors import DiscoError, InputError, UsageError
from .jsonl import read_json_object, write_json
from .metadata import artifact_header, file_fingerprint
from .quantize import DEFAULT_SCALE, check_scale, to_impacts
from .splade import SpladeEncoder

logger = logging.getLogger(__name__)

METADATA = "disco_collection.json"
SETTINGS = ".disco_encode.json"
VECTORS = "vectors"
STATS = ".parts"
TOTAL = "total.json"
PART_FORMAT = "part-{:05d}.jsonl"
DEFAULT_DOCS_PER_PART = 10_000


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the parts whose number is ``index`` modulo ``count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise UsageError(f"--shard {self.index}/{self.count}: need 0 <= I < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(x) for x in text.split("/"))
        except ValueError:
            raise UsageError(f"--shard {text!r}: write I/N, e.g. 0/4 for the first of four shards") from None
        return cls(index, count)

    def owns(self, part: int) -> bool:
        return part % self.count == self.index


def part_name(number: int) -> str:
    return PART_FORMAT.format(number)


def vector_line(doc_id: str, text: str, vector: dict[str, int]) -> str:
    return json.dumps({"id": doc_id, "contents": text, "vector": vector}, ensure_ascii=False)


def _id_hash(doc_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little")


def _parts(documents: Iterator[Document], docs_per_part: int) -> Iterator[list[Document]]:
    part: list[Document] = []
    for document in documents:
        part.append(document)
        if len(part) == docs_per_part:
            yield part
            part = []
    if part:
        yield part


def _find_duplicate(files: Sequence[str], hashes: np.ndarray) -> InputError:
    values, counts = np.unique(hashes, return_counts=True)
    duplicated = set(values[counts > 1].tolist())
    first: dict[str, tuple[str, int]] = {}
    from .corpus import parse_document
    from .jsonl import read_jsonl

    for path in files:
        for line, record in read_jsonl(path):
            document = parse_document(record, path, line)
            if _id_hash(document.doc_id) in duplicated:
                if document.doc_id in first:
                    where = first[document.doc_id]
                    return InputError(path, f"document id {document.doc_id} appears again (first at "
                                      f"{where[0]}:{where[1]})", line=line, fix="give every document its own id")
                first[document.doc_id] = (path, line)
    return InputError(files[0], "two document ids share a hash", fix="report this as a bug")


def encode_collection(corpus: Sequence[str], output: str, encoder: SpladeEncoder, *,
                      scale: float = DEFAULT_SCALE, docs_per_part: int = DEFAULT_DOCS_PER_PART,
                      shard: Shard = Shard(), resume: bool = False, overwrite: bool = False,
                      progress: bool = True) -> dict[str, Any]:
    """Encode and quantize every document of ``corpus`` into the collection folder ``output``.

    Returns the collection's metadata, with ``"complete": False`` while other shards' parts are
    missing.
    """
    check_scale(scale)
    if docs_per_part < 1:
        raise UsageError(f"--docs-per-part must be at least 1 (got {docs_per_part})")
    files = corpus_files(corpus)
    _prepare_output(output, _settings(files, docs_per_part, encoder.describe(), scale), shard,
                    resume=resume or shard.count > 1, overwrite=overwrite)

    from tqdm import tqdm

    started = time.perf_counter()
    hashes: list[np.ndarray] = []
    documents = parts = encoded = 0
    bar = tqdm(desc=f"encoding {os.path.basename(os.path.normpath(output))}", unit="doc", disable=not progress)
    for number, part in enumerate(_parts(iter_corpus(files), docs_per_part)):
        parts += 1
        documents += len(part)
        hashes.append(np.fromiter((_id_hash(d.doc_id) for d in part), dtype=np.uint64, count=len(part)))
        if shard.owns(number) and not os.path.exists(part_path(output, number)):
            _write_part(output, number, part, encoder, scale)
            encoded += len(part)
            bar.update(len(part))
    bar.close()
    _check_documents(files, np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64))
    write_json(os.path.join(output, STATS, TOTAL), {"documents": documents, "parts": parts})
    elapsed = time.perf_counter() - started
    logger.info("encoded %d of %d documents in %.1f s (%.1f documents/s)", encoded, documents, elapsed,
                encoded / elapsed if elapsed else 0.0)
    return {**finish_collection(output), "encoded": encoded}


def _settings(files: Sequence[str], docs_per_part: int, encoder: dict[str, Any], scale: float) -> dict[str, Any]:
    """What a resumed encoding must repeat exactly, and what tells whether a collection is up to date:
    the corpus (each file's path, size and fingerprint), the parts, the encoder (with the digest of
    its weights), the scale."""
    return {"corpus": [{"path": os.path.abspath(f), "bytes": os.path.getsize(f), "fingerprint": file_fingerprint(f)}
                       for f in files],
            "docs_per_part": docs_per_part, "encoder": encoder, "scale": scale}


def collection_is_current(folder: str, corpus: Sequence[str], encoder: dict[str, Any], *, scale: float,
                          docs_per_part: int) -> bool:
    """Whether ``folder`` holds a complete collection of exactly this corpus, encoder and settings."""
    try:
        metadata = read_collection_metadata(folder)
    except DiscoError:
        return False
    expected = _settings(corpus_files(corpus), docs_per_part, encoder, scale)
    return all(metadata.get(key) == value for key, value in expected.items())


def _check_documents(files: Sequence[str], hashes: np.ndarray) -> None:
    """The corpus is not empty and no document id repeats (``hashes``: one per document)."""
    if len(hashes) == 0:
        raise InputError(files[0], "the corpus holds no documents", fix="check --corpus")
    if len(np.unique(hashes)) != len(hashes):
        raise _find_duplicate(files, hashes)


def _clear_or_refuse(output: str, *, resume: bool, overwrite: bool, ours: frozenset[str] = frozenset()) -> bool:
    """Empty ``output`` of an earlier encoding with ``overwrite``, refuse it without ``resume``;
    True when it holds work to resume (files other than ``ours``)."""
    if not (os.path.isdir(output) and set(os.listdir(output)) - ours):
        return False
    if overwrite:
        _remove_collection(output)
        return False
    if not resume:
        raise UsageError(f"{output} is not empty; pass --resume to finish an interrupted encoding "
                         f"or --overwrite to start again")
    return True


def _prepare_output(output: str, settings: dict[str, Any], shard: Shard, *, resume: bool, overwrite: bool) -> None:
    settings_path = os.path.join(output, SETTINGS)
    ours = frozenset({VECTORS, STATS})  # a shard started at the same moment may have created these already
    if _clear_or_refuse(output, resume=resume, overwrite=overwrite, ours=ours):
        if not os.path.exists(settings_path):
            # a shard started at the same moment may be writing a part or the settings file itself
            in_flight = (".part-", "." + SETTINGS + ".")
            if any(not name.startswith(in_flight) for name in set(os.listdir(output)) - ours):
                raise UsageError(f"{output} holds files but no {SETTINGS}: it is not a collection this package "
                                 f"started; choose another --output")
        else:
            before = read_json_object(settings_path, "a collection settings file")
            if before != settings:
                changed = sorted(k for k in settings if before.get(k) != settings[k])
                raise UsageError(f"{output} was started with other settings ({', '.join(changed)}); "
                                 f"rerun with the same ones or pass --overwrite")
    os.makedirs(os.path.join(output, VECTORS), exist_ok=True)
    os.makedirs(os.path.join(output, STATS), exist_ok=True)
    for name in os.listdir(output):  # leftovers of a crash: a part of this shard's being written
        if name.startswith(".part-") and name.endswith(".tmp") and shard.owns(int(name[6:11])):
            os.unlink(os.path.join(output, name))
    if not os.path.exists(settings_path):
        write_json(settings_path, settings)


def _remove_collection(output: str) -> None:
    """What an encoding wrote in ``output``; other files stay."""
    for name in (VECTORS, STATS, METADATA, SETTINGS):
        target = os.path.join(output, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.unlink(target)


def part_path(output: str, number: int) -> str:
    return os.path.join(output, VECTORS, part_name(number))


def _stats_path(output: str, number: int) -> str:
    return os.path.join(output, STATS, part_name(number) + ".json")


def _write_part(output: str, number: int, part: list[Document], encoder: SpladeEncoder, scale: float) -> None:
    """Encode one part; its counts first, then the part itself renamed into ``vectors/``."""
    token_ids = encoder.tokenize([d.text for d in part])
    vectors = encoder.encode_token_ids(token_ids)
    empty = 0
    tmp = os.path.join(output, "." + part_name(number) + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        for document, vector in zip(part, vectors):
            impacts = to_impacts(vector.indices, vector.weights, encoder.vocabulary, scale)
            empty += not impacts
            handle.write(vector_line(document.doc_id, document.text, impacts))
            handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    stats = {"documents": len(part), "empty_texts": sum(1 for d in part if not d.text), "empty_vectors": empty}
    write_json(_stats_path(output, number), stats)
    os.replace(tmp, part_path(output, number))


def finish_collection(output: str) -> dict[str, Any]:
    """Write ``disco_collection.json`` once every part exists; returns the metadata (or what is missing)."""
    settings = read_json_object(os.path.join(output, SETTINGS), "a collection settings file")
    total_path = os.path.join(output, STATS, TOTAL)
    if not os.path.exists(total_path):
        return {"complete": False, "missing_parts": ["(not yet counted)"]}
    total = read_json_object(total_path, "a collection count file")
    missing = [part_name(n) for n in range(total["parts"]) if not os.path.exists(part_path(output, n))]
    if missing:
        logger.info("%d of %d parts are still missing (other shards): %s ...", len(missing), total["parts"],
                    missing[0])
        return {"complete": False, "missing_parts": missing, **total}
    stats = [read_json_object(_stats_path(output, n), "a part count file") for n in range(total["parts"])]
    metadata = {
        **artifact_header("collection"),
        **settings,
        "documents": total["documents"],
        "empty_texts": sum(s["empty_texts"] for s in stats),
        "empty_vectors": sum(s["empty_vectors"] for s in stats),
        "parts": total["parts"],
    }
    write_json(os.path.join(output, METADATA), metadata)
    if metadata["empty_texts"]:
        logger.warning("%d documents have an empty text; they were encoded all the same", metadata["empty_texts"])
    if metadata["empty_vectors"]:
        logger.warning("%d documents got an empty vector (every weight rounds to 0 at scale %s): Lucene cannot "
                       "index a document without terms, so they will not be retrievable",
                       metadata["empty_vectors"], settings["scale"])
    return {"complete": True, **metadata}


def read_collection_metadata(folder: str) -> dict[str, Any]:
    """The metadata of a complete collection folder, or a clear error."""
    path = os.path.join(folder, METADATA)
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: no such collection folder")
    if not os.path.exists(path) and os.path.exists(os.path.join(folder, SETTINGS)):
        finish_collection(folder)  # shards that finished together may each have seen the other missing
    if not os.path.exists(path):
        partial = os.path.exists(os.path.join(folder, SETTINGS))
        hint = ("its encoding is not finished: run the same encode command with --resume"
                if partial else "encode a corpus into it with `disco-pyserini encode`")
        raise UsageError(f"{folder} has no {METADATA}: {hint}")
    metadata = read_json_object(path, "collection metadata")
    if metadata.get("kind") != "collection":
        raise InputError(path, "not a disco-pyserini collection metadata file")
    missing = [part_name(n) for n in range(metadata["parts"]) if not os.path.exists(part_path(folder, n))]
    if missing:
        raise DiscoError(f"{folder}: part {missing[0]} is missing ({len(missing)} in all); "
                         f"rerun the encode command with --resume")
    return metadata


def _encode_shard(task: dict[str, Any]) -> dict[str, Any]:
    """One spawned process: load the model, encode one shard's parts (see encode_in_processes)."""
    from .splade import SpladeEncoder

    encoder = SpladeEncoder(task["model"], **task["encoder"])
    return encode_collection(task["corpus"], task["output"], encoder, scale=task["scale"],
                             docs_per_part=task["docs_per_part"], shard=Shard(task["shard"], task["processes"]),
                             resume=True, progress=False)


def encode_in_processes(corpus: Sequence[str], output: str, model: str, encoder_options: dict[str, Any], *,
                        processes: int, scale: float = DEFAULT_SCALE, docs_per_part: int = DEFAULT_DOCS_PER_PART,
                        resume: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Encode with ``processes`` spawned workers, shard ``i`` of ``processes`` each, into one folder.

    Workers are spawned, never forked (a fork after the JVM or torch's thread pools started can
    deadlock), and each gets ``encoder_options["threads"]`` torch threads. On CPUs, N processes of
    one thread encode faster than one process of N threads (each text is a chain of small
    operations, and threads wait for each other at every one). The collection is the same, byte
    for byte, as one process would write.
    """
    import multiprocessing

    if processes < 1:
        raise UsageError(f"--processes must be at least 1 (got {processes})")
    check_scale(scale)
    corpus_files(corpus)  # fail here, not in every worker, on a missing corpus
    _clear_or_refuse(output, resume=resume, overwrite=overwrite)
    tasks = [{"model": model, "encoder": encoder_options, "corpus": list(corpus), "output": output, "scale": scale,
              "docs_per_part": docs_per_part, "shard": i, "processes": processes} for i in range(processes)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_encode_shard, tasks)
    result = finish_collection(output)
    encoded = sum(r.get("encoded", 0) for r in results)
    elapsed = time.perf_counter() - started
    logger.info("%d processes encoded %d documents in %.1f s (%.1f documents/s)", processes, encoded, elapsed,
                encoded / elapsed if elapsed else 0.0)
    return result
