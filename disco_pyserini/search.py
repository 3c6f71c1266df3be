"""Searching topic sets into TREC runs.

Every turn's query text is built from its topic (query mode), encoded in length-sorted batches
once, then searched with Anserini's threaded ``SimpleImpactSearcher.batch_search``, the Java
searcher that Pyserini's ``LuceneImpactSearcher`` wraps. Our path skips what that wrapper adds
in Python: encoding one query per call and building an idf table of every index term (its only
use is the ``min_idf`` filter, and with ``min_idf=-1`` it keeps every term the index has; terms
the index lacks match nothing either way). Runs are identical to
``LuceneImpactSearcher(index, DiscoQueryEncoder(...), min_idf=-1).batch_search``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import UsageError
from .indexing import read_index_metadata
from .java import autoclass, start_jvm
from .jsonl import write_json
from .metadata import artifact_header
from .queries import QueryEncoding
from .runs import Hit, check_run_tag, write_run
from .topics import Topic, check_query_mode

logger = logging.getLogger(__name__)

DEFAULT_HITS = 1000
DEFAULT_RUN_TAG = "disco-pyserini"


def check_compatible(index_metadata: Mapping[str, Any] | None, query: Mapping[str, Any], *,
                     index: str, allow_mismatch: bool = False) -> list[str]:
    """Reasons the index and the query side disagree; raises unless ``allow_mismatch``."""
    if index_metadata is None:
        logger.info("%s has no %s: cannot check that its model and scale match the queries", index,
                    "disco_index.json")
        return []
    document = index_metadata["encoder"]
    problems = []
    if document.get("vocabulary_sha256") != query.get("vocabulary_sha256"):
        problems.append(f"the index was built with {document.get('model')} whose vocabulary differs from that of "
                        f"the query model {query.get('model')}, so their terms do not match")
    if float(index_metadata["scale"]) != float(query["scale"]):
        problems.append(f"the index's impacts use scale {index_metadata['scale']} and the queries' scale "
                        f"{query['scale']}; pass --scale {index_metadata['scale']}")
    if problems and not allow_mismatch:
        raise UsageError(f"--index {index}: " + "; ".join(problems) + " (--allow-mismatch searches anyway)")
    for problem in problems:
        logger.warning("%s (searching anyway: --allow-mismatch)", problem)
    return problems


class ImpactSearcher:
    """A Lucene impact index, searched with integer query weights (``{token: impact}``)."""

    def __init__(self, index: str, *, heap: str | None = None) -> None:
        self.index = index
        self.metadata = read_index_metadata(index)
        start_jvm(heap)
        self._searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(os.path.abspath(index))
        self._map = autoclass("java.util.HashMap")
        self._list = autoclass("java.util.ArrayList")
        self._int = autoclass("java.lang.Integer")

    @property
    def num_docs(self) -> int:
        return int(self._searcher.get_total_num_docs())

    def _query(self, vector: Mapping[str, int]) -> Any:
        query = self._map()
        for token, weight in vector.items():
            query.put(token, self._int(int(weight)))
        return query

    def search(self, vector: Mapping[str, int], k: int = 10) -> list[Hit]:
        return [Hit(h.docid, float(h.score)) for h in self._searcher.search(self._query(vector), int(k))]

    def batch_search(self, vectors: Sequence[Mapping[str, int]], query_ids: Sequence[str], k: int = DEFAULT_HITS,
                     threads: int = 1) -> dict[str, list[Hit]]:
        """Hits of every query, searched on ``threads`` Java threads."""
        if k < 1:
            raise UsageError(f"--hits must be at least 1 (got {k})")
        if len(set(query_ids)) != len(query_ids):
            raise UsageError("query ids must be unique within a search")
        queries, ids = self._list(), self._list()
        for vector, query_id in zip(vectors, query_ids):
            queries.add(self._query(vector))
            ids.add(query_id)
        results = self._searcher.batch_search(queries, ids, int(k), int(threads))
        return {str(entry.getKey()): [Hit(h.docid, float(h.score)) for h in entry.getValue()]
                for entry in results.entrySet().toArray()}

    def close(self) -> None:
        self._searcher.close()


def query_texts(topics: Sequence[Topic], mode: str) -> list[str]:
    check_query_mode(mode)
    return [topic.query_text(mode) for topic in topics]


def search_topics(searcher: ImpactSearcher, topics: Sequence[Topic], encoding: QueryEncoding, *,
                  mode: str = "disco", hits: int = DEFAULT_HITS, threads: int = 1,
                  allow_mismatch: bool = False) -> list[tuple[str, list[Hit]]]:
    """``(query_id, hits)`` for every topic, in topic order."""
    if hits < 1:
        raise UsageError(f"--hits must be at least 1 (got {hits})")
    check_compatible(searcher.metadata, encoding.describe(), index=searcher.index, allow_mismatch=allow_mismatch)
    texts = query_texts(topics, mode)
    started = time.perf_counter()
    vectors = encoding.encode_many(texts)
    encoded = time.perf_counter()
    empty = [t.query_id for t, v in zip(topics, vectors) if not v]
    if empty:
        logger.warning("%d queries have no term left after quantization and retrieve nothing: %s",
                       len(empty), ", ".join(empty[:5]))
    qids = [t.query_id for t in topics]
    results = searcher.batch_search(vectors, qids, hits, threads)
    logger.info("encoded %d queries in %.1f s, searched them in %.1f s", len(topics), encoded - started,
                time.perf_counter() - encoded)
    return [(qid, results.get(qid, [])) for qid in qids]


def write_search_run(output: str, results: Sequence[tuple[str, list[Hit]]], *, tag: str,
                     description: Mapping[str, Any]) -> int:
    """Write the run and its metadata (``OUTPUT.json``) beside it."""
    check_run_tag(tag)
    lines = write_run(output, results, tag)
    no_hits = [qid for qid, hits in results if not hits]
    write_json(output + ".json", {**artifact_header("run"), **description, "run_tag": tag,
                                  "queries": len(results), "lines": lines, "queries_without_hits": len(no_hits)})
    if no_hits:
        logger.warning("%d of %d queries retrieved nothing (%s...)", len(no_hits), len(results), no_hits[0])
    return lines
