"""Encoded queries: files stock Pyserini reads, Anserini's pre-encoded query files, and the cache.

Two file formats, both read by stock ``python -m pyserini.search.lucene --impact``:

* ``.jsonl``: ``{"qid": Q, "contents": Q, "vector": {token: impact}}`` per line, searched with
  ``--encoder QUERIES.jsonl --topics QUERIES.topics.tsv`` where the topics file maps each query id
  to itself (``Q<TAB>Q``): Pyserini's cached-query encoder looks vectors up by the topic *text*,
  and a query id, unlike a text such as "Tell me more.", is unique.
* ``.tsv`` (or ``.tsv.gz``): Anserini's pre-encoded queries, ``Q<TAB>`` then every token repeated
  as many times as its impact, searched with ``--topics QUERIES.tsv`` and no ``--encoder``.
  Token order is kept, so a file read and written back is identical.

The cache keeps encoded queries by query id, model (a digest of its weights), backend, query mode,
max length and scale, never by query text; each entry records a digest of the text it was encoded from,
so a turn whose conversation changed is encoded again and only that turn.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import InputError, UsageError
from ..io.jsonl import atomic_output, iter_lines, read_jsonl, write_json, write_jsonl
from ..io.metadata import artifact_header

logger = logging.getLogger(__name__)

Vector = dict[str, int]


def encoded_format(path: str) -> str:
    if path.endswith(".jsonl"):
        return "jsonl"
    if path.endswith((".tsv", ".tsv.gz")):
        return "tsv"
    raise UsageError(f"{path}: encoded queries are .jsonl (Pyserini's cached-query format) or .tsv/.tsv.gz "
                     f"(Anserini's token-repeat format)")


def topics_tsv_path(path: str) -> str:
    """The query-id topics file that goes with a ``.jsonl`` of encoded queries."""
    return path[: -len(".jsonl")] + ".topics.tsv"


def read_encoded_queries(path: str) -> dict[str, Vector]:
    """``{qid: {token: impact}}`` from either format, tokens in the file's order."""
    queries: dict[str, Vector] = {}
    if encoded_format(path) == "jsonl":
        for line, record in read_jsonl(path):
            if not isinstance(record, dict) or "vector" not in record or not ({"qid", "contents"} & set(record)):
                raise InputError(path, 'expected {"qid": ..., "contents": ..., "vector": {token: impact}}', line=line)
            qid = str(record.get("qid", record.get("contents")))
            vector = record["vector"]
            if not isinstance(vector, dict) or not all(isinstance(w, int) and w > 0 for w in vector.values()):
                raise InputError(path, "vector weights must be positive integers", line=line, record=f"qid {qid}")
            _add(queries, qid, vector, path, line)
        return queries
    for line, text in iter_lines(path):
        if not text.strip():
            continue
        qid, tab, tokens = text.partition("\t")
        if not tab or not qid.strip():
            raise InputError(path, "expected qid<TAB>tokens (each token repeated as many times as its weight)",
                             line=line)
        vector: Vector = {}
        for token in tokens.split(" "):
            if token:
                vector[token] = vector.get(token, 0) + 1
        _add(queries, qid.strip(), vector, path, line)
    return queries


def _add(queries: dict[str, Vector], qid: str, vector: Vector, path: str, line: int) -> None:
    if qid in queries:
        raise InputError(path, f"query {qid} appears twice", line=line)
    queries[qid] = vector


def write_encoded_queries(path: str, queries: Iterable[tuple[str, Mapping[str, int]]],
                          description: Mapping[str, Any] | None = None) -> int:
    """Write queries in the format of ``path``'s extension (atomically); returns how many.

    For ``.jsonl`` the query-id topics file (``QUERIES.topics.tsv``) is written too; with a
    ``description``, the metadata goes to ``QUERIES.json``.
    """
    fmt = encoded_format(path)
    items = list(queries)
    for qid, vector in items:
        if not qid or any(c.isspace() for c in qid):
            raise UsageError(f"query id {qid!r} is empty or contains white space")
        if any(not token or any(c.isspace() for c in token) for token in vector):
            raise UsageError(f"query {qid}: a token is empty or contains white space")
    if fmt == "jsonl":
        write_jsonl(path, ({"qid": qid, "contents": qid, "vector": dict(vector)} for qid, vector in items))
        with atomic_output(topics_tsv_path(path)) as handle:
            for qid, _ in items:
                handle.write(f"{qid}\t{qid}\n")
    else:
        lines = "".join(f"{qid}\t" + " ".join(" ".join([t] * w) for t, w in vector.items()) + "\n"
                        for qid, vector in items)
        with atomic_output(path, "wb") as handle:
            data = lines.encode("utf-8")
            handle.write(gzip.compress(data, mtime=0) if path.endswith(".gz") else data)
    if description is not None:
        write_json(_metadata_path(path), {**artifact_header("encoded-queries"), **description, "queries": len(items)})
    return len(items)


def read_encoded_metadata(path: str) -> dict[str, Any] | None:
    """The metadata ``encode-queries`` wrote beside an encoded-query file, if any."""
    from ..io.jsonl import read_json_object

    meta = _metadata_path(path)
    return read_json_object(meta, "encoded-query metadata") if os.path.exists(meta) else None


def _metadata_path(path: str) -> str:
    for suffix in (".jsonl", ".tsv.gz", ".tsv"):
        if path.endswith(suffix):
            return path[: -len(suffix)] + ".json"
    return path + ".json"


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class QueryCache:
    """Encoded queries on disk for one (model, query mode, max length, scale)."""

    def __init__(self, folder: str, key: Mapping[str, Any]) -> None:
        self.key = dict(key)
        name = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:20]
        self.path = os.path.join(folder, f"{name}.jsonl")
        self.entries: dict[str, tuple[str, Vector]] = {}
        if os.path.exists(self.path):
            try:
                for _, record in read_jsonl(self.path):
                    self.entries[record["qid"]] = (record["text_sha256"], record["vector"])
            except (InputError, KeyError, TypeError):
                logger.warning("query cache %s is damaged; encoding again", self.path)
                self.entries = {}

    def lookup(self, qids: Sequence[str], texts: Sequence[str]) -> list[Vector | None]:
        found: list[Vector | None] = []
        for qid, text in zip(qids, texts):
            entry = self.entries.get(qid)
            found.append(entry[1] if entry is not None and entry[0] == text_digest(text) else None)
        return found

    def store(self, qids: Sequence[str], texts: Sequence[str], vectors: Sequence[Vector]) -> None:
        for qid, text, vector in zip(qids, texts, vectors):
            self.entries[qid] = (text_digest(text), vector)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        write_jsonl(self.path, ({"qid": qid, "text_sha256": digest, "vector": vector}
                                for qid, (digest, vector) in self.entries.items()))
        write_json(self.path[: -len(".jsonl")] + ".json", {**artifact_header("query-cache"), **self.key})
