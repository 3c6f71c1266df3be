"""Passage texts by document id, read from a collection's part files on demand, with start-up flat in its size.

A hit shows its passage, which lives in the collection's ``vectors/part-*.jsonl`` beside its
impact vector. Finding a line by document id needs an index of where each line starts; building
it means reading every line of every part, minutes at a million passages. So it is built once and
stored beside the collection (``.disco_passages.offsets``), and every later start maps that file
into memory (no line read, no Python object per passage): start-up time and memory do not grow
with the collection, and the operating system pages in only what lookups touch.

The file holds one header line (JSON: format, the parts' names, sizes and modification times,
the count) and then, sorted by a 64-bit hash of the document id, ``(hash, part, byte offset)``
for every line. A lookup is a binary search, then one read of the line, whose id is checked (two
ids sharing a hash are told apart by reading both). It is written to a temporary file and renamed
into place, and rebuilt whenever a part's name, size or modification time differs from the header
(a collection encoded again, a part added or resumed). Where the collection's folder cannot be
written, the index is built in memory at each start and a warning says why.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
import tempfile
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

OFFSETS = ".disco_passages.offsets"
FORMAT = "disco-pyserini passage offsets 1"
ENTRY = np.dtype([("hash", "<u8"), ("part", "<u4"), ("offset", "<u8")])
# a collection line as Collection.write_part writes it starts {"id": "...", "contents": "..."
_ID = re.compile(rb'\{"id": ?("(?:[^"\\]|\\.)*")')
_CONTENTS = re.compile(r',\s*"contents":\s*')
_DECODER = json.JSONDecoder()


def _parts(vectors: str) -> list[dict[str, Any]]:
    """The collection's part files, each with what tells whether it changed."""
    parts = []
    for name in sorted(os.listdir(vectors)):
        if name.endswith(".jsonl"):
            status = os.stat(os.path.join(vectors, name))
            parts.append({"name": name, "bytes": status.st_size, "mtime_ns": status.st_mtime_ns})
    return parts


def _line_id(raw: bytes) -> str | None:
    """The document id of a collection line: from its first bytes, else from the whole line parsed."""
    found = _ID.match(raw)
    if found is not None:
        return json.loads(found.group(1))
    if not raw.strip():
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    doc_id = record.get("id") if isinstance(record, dict) else None
    return doc_id if isinstance(doc_id, str) else None


def id_hashes(doc_ids: list[str]) -> np.ndarray:
    from ..encode.collection import id_hash

    return np.fromiter((id_hash(doc_id) for doc_id in doc_ids), dtype=np.uint64, count=len(doc_ids))


class PassageStore:
    """Passage texts by document id, read from the collection ``folder``'s part files when a hit
    is shown (``folder`` ``None``: an index without its collection; hits show their ids).

    ``lines_read`` says how many lines opening read: every line of every part when the offset
    file was (re)built, none when it was only mapped.
    """

    def __init__(self, folder: str | None) -> None:
        from ..encode.collection import Collection

        self.folder = folder
        self.lines_read = 0
        self._files: list[str] = []
        self._handles: list[int] = []
        self._entries = np.empty(0, dtype=ENTRY)
        self._hashes = self._entries["hash"]
        if folder is None:
            return
        vectors = Collection(folder).vectors_folder
        parts = _parts(vectors)
        self._files = [os.path.join(vectors, part["name"]) for part in parts]
        header = {"format": FORMAT, "parts": parts}
        path = os.path.join(folder, OFFSETS)
        entries = self._load(path, header)
        if entries is None:
            entries = self._build()
            self._save(path, header, entries)
        self._entries = entries
        self._hashes = entries["hash"]
        self._handles = [os.open(file, os.O_RDONLY) for file in self._files]

    # -- the offset file ----------------------------------------------------------------------
    @staticmethod
    def _load(path: str, header: dict[str, Any]) -> np.ndarray | None:
        """The entries of the offset file at ``path`` if it was written for exactly these parts."""
        try:
            with open(path, "rb") as handle:
                first = handle.readline()
            stored = json.loads(first)
        except (OSError, ValueError):
            return None
        if not isinstance(stored, dict) or {k: stored.get(k) for k in header} != header:
            return None
        count = stored.get("count")
        if not isinstance(count, int) or os.path.getsize(path) != len(first) + count * ENTRY.itemsize:
            return None
        if count == 0:
            return np.empty(0, dtype=ENTRY)
        return np.memmap(path, dtype=ENTRY, mode="r", offset=len(first), shape=(count,))

    def _build(self) -> np.ndarray:
        """Read every line of every part once: ``(hash, part, offset)`` sorted by hash, stably (the
        first line of an id first)."""
        ids: list[str] = []
        parts: list[int] = []
        offsets: list[int] = []
        for number, file in enumerate(self._files):
            offset = 0
            with open(file, "rb") as handle:
                for raw in handle:
                    self.lines_read += 1
                    doc_id = _line_id(raw)
                    if doc_id is not None:
                        ids.append(doc_id)
                        parts.append(number)
                        offsets.append(offset)
                    offset += len(raw)
        entries = np.empty(len(ids), dtype=ENTRY)
        entries["hash"] = id_hashes(ids)
        entries["part"] = parts
        entries["offset"] = offsets
        return entries[np.argsort(entries["hash"], kind="stable")]

    def _save(self, path: str, header: dict[str, Any], entries: np.ndarray) -> None:
        line = json.dumps({**header, "count": len(entries)}).encode("utf-8")
        line += b" " * (-(len(line) + 1) % 16) + b"\n"  # the entries start 16-byte aligned
        try:
            descriptor, temporary = tempfile.mkstemp(prefix=OFFSETS + ".", suffix=".tmp", dir=os.path.dirname(path))
        except OSError as error:
            logger.warning("cannot store the passage offsets beside the collection (%s): they are read again at "
                           "each start", error)
            return
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(line)
                handle.write(np.ascontiguousarray(entries).tobytes())
            os.chmod(temporary, 0o666 & ~_umask())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

    # -- reading --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def _line(self, part: int, offset: int) -> bytes:
        chunks = []
        while True:
            chunk = os.pread(self._handles[part], 65536, offset)
            end = chunk.find(b"\n")
            if end >= 0 or not chunk:
                chunks.append(chunk if end < 0 else chunk[:end])
                return b"".join(chunks)
            chunks.append(chunk)
            offset += len(chunk)

    def _raw(self, doc_id: str) -> bytes | None:
        """The collection line of ``doc_id`` (its first, where several hold it), or ``None``."""
        if not len(self._entries):
            return None
        wanted = int(id_hashes([doc_id])[0])
        # bisect, not np.searchsorted: the hashes are a strided view of the mapped entries, which
        # searchsorted would copy whole at every lookup (8 MB at a million passages)
        at = bisect.bisect_left(self._hashes, np.uint64(wanted))
        while at < len(self._entries) and int(self._hashes[at]) == wanted:
            entry = self._entries[at]
            raw = self._line(int(entry["part"]), int(entry["offset"]))
            if _line_id(raw) == doc_id:
                return raw
            at += 1
        return None

    def text(self, doc_id: str) -> str | None:
        """The passage of ``doc_id`` (``contents``), or ``None`` when the collection lacks it."""
        raw = self._raw(doc_id)
        return None if raw is None else _contents(raw)

    def passage(self, doc_id: str) -> tuple[str | None, dict[str, Any] | None] | None:
        """``(contents, vector)`` of ``doc_id`` from one read of its line (either ``None`` where the
        line lacks it or it is not a string / an object), or ``None`` when the collection lacks it."""
        raw = self._raw(doc_id)
        if raw is None:
            return None
        record = json.loads(raw)
        contents, vector = record.get("contents"), record.get("vector")
        return (contents if isinstance(contents, str) else None, vector if isinstance(vector, dict) else None)

    def close(self) -> None:
        for handle in self._handles:
            os.close(handle)
        self._handles = []


def _contents(raw: bytes) -> str | None:
    """The ``contents`` of a collection line, decoded without parsing its vector when the line
    starts as the collection writes it."""
    text = raw.decode("utf-8")
    found = _ID.match(raw)
    if found is not None:
        after = _CONTENTS.match(text, len(raw[:found.end()].decode("utf-8")))
        if after is not None:
            value, _ = _DECODER.raw_decode(text, after.end())
            return value if isinstance(value, str) else None
    record = json.loads(text)
    value = record.get("contents") if isinstance(record, dict) else None
    return value if isinstance(value, str) else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
