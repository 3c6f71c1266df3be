"""A corpus encoded into a Pyserini JsonVectorCollection folder, and that folder's life cycle.

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

:class:`Collection` owns the folder: its layout, the settings an encoding started with
(``.disco_encode.json``: the corpus, the part size and the encoder's record, see
:mod:`disco_pyserini.encode.spec`), the parts still to write, writing one, finishing, and reading
metadata and vectors back. The executors are thin loops over its public methods:
:func:`encode_collection` in this process (or one shard of the parts), :func:`encode_in_processes`
in spawned processes, and :func:`disco_pyserini.cluster.encode.encode_with_dask` on a cluster.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DiscoError, InputError, SettingError, UsageError
from ..io.corpus import Document, corpus_files, iter_corpus
from ..io.jsonl import jsonl_writer, read_json_object, read_jsonl, write_json
from ..io.metadata import artifact_header, file_fingerprint
from .backends import build_encoder
from .quantize import to_impacts
from .spec import EncoderSpec, output_identity

if TYPE_CHECKING:
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
            raise SettingError("shard", f"{self.index}/{self.count}: need 0 <= I < N")

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(x) for x in text.split("/"))
        except ValueError:
            raise SettingError("shard", f"{text!r}: write I/N, e.g. 0/4 for the first of four shards") from None
        return cls(index, count)

    def owns(self, part: int) -> bool:
        return part % self.count == self.index


def part_name(number: int) -> str:
    return PART_FORMAT.format(number)


def vector_record(doc_id: str, text: str, vector: dict[str, int]) -> dict[str, Any]:
    """A collection line's object; ``serve.passages`` reads the id and text from the bytes
    ``jsonlines.Writer`` makes of it (``json.dumps(record, ensure_ascii=False)``)."""
    return {"id": doc_id, "contents": text, "vector": vector}


def id_hash(doc_id: str) -> int:
    """A document id as 64 bits: what the duplicate check keeps of each document."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "little")


def check_documents(files: Sequence[str], hashes: np.ndarray) -> None:
    """The corpus is not empty and no document id repeats (``hashes``: :func:`id_hash` of each document)."""
    if len(hashes) == 0:
        raise InputError(files[0], "the corpus holds no documents", fix="check --corpus")
    if len(np.unique(hashes)) != len(hashes):
        raise _find_duplicate(files, hashes)


def _find_duplicate(files: Sequence[str], hashes: np.ndarray) -> InputError:
    values, counts = np.unique(hashes, return_counts=True)
    duplicated = set(values[counts > 1].tolist())
    first: dict[str, tuple[str, int]] = {}
    from ..io.corpus import parse_document

    for path in files:
        for line, record in read_jsonl(path):
            document = parse_document(record, path, line)
            if id_hash(document.doc_id) in duplicated:
                if document.doc_id in first:
                    where = first[document.doc_id]
                    return InputError(path, f"document id {document.doc_id} appears again (first at "
                                      f"{where[0]}:{where[1]})", line=line, fix="give every document its own id")
                first[document.doc_id] = (path, line)
    return InputError(files[0], "two document ids share a hash", fix="report this as a bug")


def collection_settings(files: Sequence[str], docs_per_part: int, encoder: Mapping[str, Any]) -> dict[str, Any]:
    """What a resumed encoding must repeat, and what tells whether a collection is up to date: the
    corpus (each file's path, size and fingerprint), the part size and the encoder's record
    (:meth:`SpladeEncoder.describe`, its ``scale`` included). ``scale`` is repeated at the top, where
    indexes and searchers of every version read it."""
    if docs_per_part < 1:
        raise SettingError("docs_per_part", f"must be at least 1 (got {docs_per_part})")
    return {"corpus": [{"path": os.path.abspath(f), "bytes": os.path.getsize(f), "fingerprint": file_fingerprint(f)}
                       for f in files],
            "docs_per_part": docs_per_part, "encoder": dict(encoder), "scale": encoder["scale"]}


def _output_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a collection's settings that decides its bytes (speed settings left out)."""
    return {"corpus": settings.get("corpus"), "docs_per_part": settings.get("docs_per_part"),
            **output_identity(settings.get("encoder") or {}, scale=settings.get("scale"))}


def changed_settings(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The names of the settings that change a collection's bytes and differ between two settings."""
    old, new = _output_settings(before), _output_settings(after)
    return sorted(name for name in new if old[name] != new[name])


class Collection:
    """The collection folder ``folder``: its layout, its settings and metadata, its parts."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = os.fspath(folder)

    # -- layout -----------------------------------------------------------------------------
    @property
    def vectors_folder(self) -> str:
        """What Pyserini indexes: complete parts only."""
        return os.path.join(self.folder, VECTORS)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.folder, METADATA)

    @property
    def settings_path(self) -> str:
        return os.path.join(self.folder, SETTINGS)

    def part_path(self, number: int) -> str:
        return os.path.join(self.folder, VECTORS, part_name(number))

    def _stats_path(self, number: int) -> str:
        return os.path.join(self.folder, STATS, part_name(number) + ".json")

    def _total_path(self) -> str:
        return os.path.join(self.folder, STATS, TOTAL)

    # -- starting, resuming, overwriting -------------------------------------------------------
    def claim(self, *, resume: bool = False, overwrite: bool = False) -> None:
        """Make the folder ready for an encoding: absent or empty, emptied of an earlier encoding
        (``overwrite``: only what an encoding writes goes, other files stay), or holding one to
        finish (``resume``). Anything else is refused."""
        if not os.path.isdir(self.folder):
            return
        if overwrite:
            self.remove()
            return
        # a shard started at the same moment may have created these already
        names = set(os.listdir(self.folder)) - {VECTORS, STATS}
        if not names:
            return
        if not resume:
            raise UsageError(f"{self.folder} is not empty; pass --resume to finish an interrupted encoding "
                             f"or --overwrite to start again")
        # a shard started at the same moment may be writing a part or the settings file itself
        in_flight = (".part-", "." + SETTINGS + ".")
        if SETTINGS not in names and any(not name.startswith(in_flight) for name in names):
            raise UsageError(f"{self.folder} holds files but no {SETTINGS}: it is not a collection this package "
                             f"started; choose another --output")

    def join(self, settings: Mapping[str, Any], shard: Shard = Shard()) -> None:
        """Take part in the encoding the folder holds, or start it: other settings that change the
        bytes are refused; leftovers of ``shard``'s crashed parts are removed."""
        if os.path.exists(self.settings_path):
            changed = changed_settings(read_json_object(self.settings_path, "a collection settings file"), settings)
            if changed:
                raise UsageError(f"{self.folder} was started with other settings ({', '.join(changed)}); "
                                 f"rerun with the same ones or pass --overwrite")
        os.makedirs(self.vectors_folder, exist_ok=True)
        os.makedirs(os.path.join(self.folder, STATS), exist_ok=True)
        for name in os.listdir(self.folder):  # leftovers of a crash: a part of this shard's being written
            if name.startswith(".part-") and name.endswith(".tmp") and shard.owns(int(name[6:11])):
                os.unlink(os.path.join(self.folder, name))
        if not os.path.exists(self.settings_path):
            write_json(self.settings_path, settings)

    def start(self, settings: Mapping[str, Any], *, shard: Shard = Shard(), resume: bool = False,
              overwrite: bool = False) -> None:
        """:meth:`claim` the folder, then :meth:`join` the encoding of ``settings``."""
        self.claim(resume=resume, overwrite=overwrite)
        self.join(settings, shard)

    def remove(self) -> None:
        """Remove what an encoding writes; other files stay."""
        for name in (VECTORS, STATS, METADATA, SETTINGS):
            target = os.path.join(self.folder, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.unlink(target)

    # -- parts ------------------------------------------------------------------------------
    def has_part(self, number: int) -> bool:
        return os.path.exists(self.part_path(number))

    def pending_parts(self, parts: int, shard: Shard = Shard()) -> list[int]:
        """The numbers of ``shard``'s parts, of ``parts`` in all, that are not written yet."""
        return [n for n in range(parts) if shard.owns(n) and not self.has_part(n)]

    def write_part(self, number: int, documents: Sequence[Document], encoder: SpladeEncoder, scale: float) -> None:
        """Encode one part at ``scale``: its counts first, then the part itself renamed into ``vectors/``."""
        vectors = encoder.encode_token_ids(encoder.tokenize([d.text for d in documents]))
        empty = 0
        tmp = os.path.join(self.folder, "." + part_name(number) + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            writer = jsonl_writer(handle)
            for document, vector in zip(documents, vectors):
                impacts = to_impacts(vector.indices, vector.weights, encoder.vocabulary, scale)
                empty += not impacts
                writer.write(vector_record(document.doc_id, document.text, impacts))
            handle.flush()
            os.fsync(handle.fileno())
        stats = {"documents": len(documents), "empty_texts": sum(1 for d in documents if not d.text),
                 "empty_vectors": empty}
        write_json(self._stats_path(number), stats)
        os.replace(tmp, self.part_path(number))

    def record_total(self, documents: int, parts: int) -> None:
        """How many documents and parts the whole corpus makes (known once it has been read)."""
        write_json(self._total_path(), {"documents": documents, "parts": parts})

    def finish(self) -> dict[str, Any]:
        """Write ``disco_collection.json`` once every part exists; returns the metadata (or what is missing)."""
        settings = read_json_object(self.settings_path, "a collection settings file")
        if not os.path.exists(self._total_path()):
            return {"complete": False, "missing_parts": ["(not yet counted)"]}
        total = read_json_object(self._total_path(), "a collection count file")
        missing = [part_name(n) for n in self.pending_parts(total["parts"])]
        if missing:
            logger.info("%d of %d parts are still missing (other shards): %s ...", len(missing), total["parts"],
                        missing[0])
            return {"complete": False, "missing_parts": missing, **total}
        stats = [read_json_object(self._stats_path(n), "a part count file") for n in range(total["parts"])]
        metadata = {
            **artifact_header("collection"),
            **settings,
            "documents": total["documents"],
            "empty_texts": sum(s["empty_texts"] for s in stats),
            "empty_vectors": sum(s["empty_vectors"] for s in stats),
            "parts": total["parts"],
        }
        write_json(self.metadata_path, metadata)
        if metadata["empty_texts"]:
            logger.warning("%d documents have an empty text; they were encoded all the same", metadata["empty_texts"])
        if metadata["empty_vectors"]:
            logger.warning("%d documents got an empty vector (every weight rounds to 0 at scale %s): Lucene cannot "
                           "index a document without terms, so they will not be retrievable",
                           metadata["empty_vectors"], settings["scale"])
        return {"complete": True, **metadata}

    # -- reading back -----------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """The metadata of the complete collection, or a clear error."""
        if not os.path.isdir(self.folder):
            raise UsageError(f"{self.folder}: no such collection folder")
        if not os.path.exists(self.metadata_path) and os.path.exists(self.settings_path):
            self.finish()  # shards that finished together may each have seen the other missing
        if not os.path.exists(self.metadata_path):
            hint = ("its encoding is not finished: run the same encode command with --resume"
                    if os.path.exists(self.settings_path) else "encode a corpus into it with `disco-pyserini encode`")
            raise UsageError(f"{self.folder} has no {METADATA}: {hint}")
        metadata = read_json_object(self.metadata_path, "collection metadata")
        if metadata.get("kind") != "collection":
            raise InputError(self.metadata_path, "not a disco-pyserini collection metadata file")
        missing = self.pending_parts(metadata["parts"])
        if missing:
            raise DiscoError(f"{self.folder}: part {part_name(missing[0])} is missing ({len(missing)} in all); "
                             f"rerun the encode command with --resume")
        return metadata

    def spec(self) -> EncoderSpec:
        """The spec of the encoder that wrote the collection: ``build_encoder(spec)`` encodes as it did."""
        metadata = self.metadata()
        return EncoderSpec.from_params(metadata["encoder"], scale=metadata["scale"])

    def matches(self, encoder: Mapping[str, Any], corpus: Sequence[str], *, docs_per_part: int) -> bool:
        """Whether the folder holds a complete collection of exactly this corpus, part size and
        encoder (``encoder``: a record as :meth:`SpladeEncoder.describe` gives it, with the scale),
        as far as the bytes go: speed settings may differ."""
        try:
            metadata = self.metadata()
        except DiscoError:
            return False
        return not changed_settings(metadata, collection_settings(corpus_files(corpus), docs_per_part, encoder))

    def vectors(self, doc_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """``{doc_id: {token: impact}}`` of the documents of ``doc_ids`` the collection holds, in
        collection order (a document the collection lacks is absent)."""
        self.metadata()
        wanted = set(doc_ids)
        found: dict[str, dict[str, int]] = {}
        for name in sorted(os.listdir(self.vectors_folder)):
            path = os.path.join(self.vectors_folder, name)
            for number, record in read_jsonl(path):
                doc_id = record.get("id") if isinstance(record, dict) else None
                if not isinstance(doc_id, str) or not isinstance(record.get("vector"), dict):
                    lacks = 'a string "id"' if not isinstance(doc_id, str) else 'a "vector" object'
                    raise InputError(path, f"a collection line needs {lacks}: "
                                     '{"id": "...", "contents": "...", "vector": {"token": impact}}', line=number,
                                     fix="re-encode the corpus with `disco-pyserini encode`")
                if doc_id in wanted and doc_id not in found:
                    found[doc_id] = record["vector"]
        return found


# -- executors ---------------------------------------------------------------------------------------
def _parts(documents: Iterator[Document], docs_per_part: int) -> Iterator[list[Document]]:
    part: list[Document] = []
    for document in documents:
        part.append(document)
        if len(part) == docs_per_part:
            yield part
            part = []
    if part:
        yield part


def encode_collection(corpus: Sequence[str], output: str, encoder: SpladeEncoder, *, scale: float | None = None,
                      docs_per_part: int = DEFAULT_DOCS_PER_PART, shard: Shard = Shard(), resume: bool = False,
                      overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Encode and quantize every document of ``corpus`` into the collection folder ``output``, in
    this process: all parts, or ``shard``'s. ``scale`` replaces the encoder spec's.

    Returns the collection's metadata, with ``"complete": False`` while other shards' parts are
    missing.
    """
    spec = encoder.spec if scale is None else replace(encoder.spec, scale=scale)
    record = {**encoder.describe(), **spec.to_params()}
    files = corpus_files(corpus)
    collection = Collection(output)
    settings = collection_settings(files, docs_per_part, record)
    collection.start(settings, shard=shard, resume=resume or shard.count > 1, overwrite=overwrite)
    return _encode_parts(collection, files, encoder, settings, shard, progress)


def _encode_parts(collection: Collection, files: Sequence[str], encoder: SpladeEncoder, settings: Mapping[str, Any],
                  shard: Shard, progress: bool) -> dict[str, Any]:
    """Read the corpus once, write ``shard``'s missing parts, count and check every document, finish."""
    from tqdm import tqdm

    started = time.perf_counter()
    hashes: list[np.ndarray] = []
    documents = parts = encoded = 0
    bar = tqdm(desc=f"encoding {os.path.basename(os.path.normpath(collection.folder))}", unit="doc",
               disable=not progress)
    for number, part in enumerate(_parts(iter_corpus(files), settings["docs_per_part"])):
        parts += 1
        documents += len(part)
        hashes.append(np.fromiter((id_hash(d.doc_id) for d in part), dtype=np.uint64, count=len(part)))
        if shard.owns(number) and not collection.has_part(number):
            collection.write_part(number, part, encoder, settings["scale"])
            encoded += len(part)
            bar.update(len(part))
    bar.close()
    check_documents(files, np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64))
    collection.record_total(documents, parts)
    elapsed = time.perf_counter() - started
    logger.info("encoded %d of %d documents in %.1f s (%.1f documents/s)", encoded, documents, elapsed,
                encoded / elapsed if elapsed else 0.0)
    return {**collection.finish(), "encoded": encoded}


def _encode_shard(task: dict[str, Any]) -> dict[str, Any]:
    """One spawned process: load the model, encode one shard's parts (see encode_in_processes)."""
    encoder = build_encoder(EncoderSpec.from_params(task["spec"]))
    files = corpus_files(task["corpus"])
    collection = Collection(task["output"])
    settings = collection_settings(files, task["docs_per_part"], encoder.describe())
    shard = Shard(task["shard"], task["processes"])
    collection.join(settings, shard)  # the parent claimed the folder
    return _encode_parts(collection, files, encoder, settings, shard, progress=False)


def encode_in_processes(corpus: Sequence[str], output: str, spec: EncoderSpec, *, processes: int,
                        docs_per_part: int = DEFAULT_DOCS_PER_PART, resume: bool = False,
                        overwrite: bool = False) -> dict[str, Any]:
    """Encode with ``processes`` spawned workers, shard ``i`` of ``processes`` each, into one folder.

    Workers are spawned, never forked (a fork after the JVM or torch's thread pools started can
    deadlock), and each computes with ``spec.threads`` torch threads (1 by default). On CPUs, N
    processes of one thread encode faster than one process of N threads (each text is a chain of
    small operations, and threads wait for each other at every one). The collection is the same,
    byte for byte, as one process would write.
    """
    import multiprocessing

    if processes < 1:
        raise SettingError("processes", f"must be at least 1 (got {processes})")
    spec = replace(spec.resolved(), threads=spec.threads or 1)  # a preset is fetched once, here
    corpus_files(corpus)  # fail here, not in every worker, on a missing corpus
    Collection(output).claim(resume=resume, overwrite=overwrite)
    tasks = [{"spec": spec.to_params(), "corpus": list(corpus), "output": output, "docs_per_part": docs_per_part,
              "shard": i, "processes": processes} for i in range(processes)]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.map(_encode_shard, tasks)
    result = Collection(output).finish()
    encoded = sum(r.get("encoded", 0) for r in results)
    elapsed = time.perf_counter() - started
    logger.info("%d processes encoded %d documents in %.1f s (%.1f documents/s)", processes, encoded, elapsed,
                encoded / elapsed if elapsed else 0.0)
    return result
