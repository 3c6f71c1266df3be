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
import math
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import DiscoError, UsageError
from .indexing import read_index_metadata
from .java import autoclass, start_jvm
from .jsonl import write_json
from .metadata import artifact_header
from .queries import QueryEncoding
from .runs import Hit, check_run_tag, metadata_path, pyserini_order, rank_key, write_run
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
        try:
            self._searcher = autoclass("io.anserini.search.SimpleImpactSearcher")(os.path.abspath(index))
        except Exception as error:  # a Java exception: a damaged or foreign index
            raise UsageError(f"--index {index}: Lucene cannot open it ({str(error).splitlines()[0]}); "
                             f"rebuild it with `disco-pyserini index`") from None
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


class ShardedSearcher:
    """Several impact indexes searched as one: each shard's top-k, merged by score then doc id.

    Impact scores are plain dot products without collection statistics, so a document scores the
    same in its shard as in one index holding everything. But Anserini does not return the plain
    score: after ranking, it rounds scores to 1e-4 and subtracts 1e-6 per position inside a run of
    tied scores (:func:`adjust_ties`), so a shard's scores depend on where its ties fall in *its*
    list. The merge therefore recovers each hit's true score — an integer, the dot product of
    integer impacts, exact in Lucene's float below 2^24 — ranks the union by (score, doc id) as
    Anserini does, cuts it at k and adjusts the ties once: the single index's run, byte for byte.
    """

    def __init__(self, indexes: Sequence[str], *, heap: str | None = None) -> None:
        paths = [path for index in indexes for path in shard_paths(index)]
        if len(set(map(os.path.abspath, paths))) != len(paths):
            raise UsageError("--index lists an index twice")
        self.shards = [ImpactSearcher(path, heap=heap) for path in paths]
        self.index = ",".join(indexes)
        known = [s.metadata for s in self.shards if s.metadata is not None]
        for other in known[1:]:
            if (other["encoder"]["vocabulary_sha256"], other["scale"]) != (
                    known[0]["encoder"]["vocabulary_sha256"], known[0]["scale"]):
                raise UsageError(f"--index {self.index}: the shards were encoded with different models or scales")
        self.metadata = known[0] if known else None

    @property
    def num_docs(self) -> int:
        return sum(shard.num_docs for shard in self.shards)

    def search(self, vector: Mapping[str, int], k: int = 10) -> list[Hit]:
        return self.batch_search([vector], ["q"], k)["q"]

    def batch_search(self, vectors: Sequence[Mapping[str, int]], query_ids: Sequence[str], k: int = DEFAULT_HITS,
                     threads: int = 1) -> dict[str, list[Hit]]:
        """Every shard's top ``k`` (each searched on ``threads`` Java threads), merged.

        The parallelism is within each shard, across queries: Anserini's batch search keeps all
        ``threads`` busy. The shards are visited one after another because pyjnius binds a Java
        method to its object through state shared by the class (kivy/pyjnius#563): two Python
        threads calling ``batch_search`` on two searchers at once mix up their arguments (tried:
        IndexOutOfBoundsException and lost hits), so threads across shards would gain nothing
        on a saturated CPU and risk wrong runs.
        """
        per_shard = [shard.batch_search(vectors, query_ids, k, threads) for shard in self.shards]
        merged = {}
        for qid in query_ids:
            hits = [Hit(hit.doc_id, true_score(hit.score, k)) for hits in per_shard for hit in hits.get(qid, [])]
            hits.sort(key=rank_key)
            merged[qid] = adjust_ties(hits[:k])
        return merged

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


# Anserini's ScoreTiesAdjusterReranker (anserini 1.7.1, the jar of Pyserini 1.6.0), in float32 as Java computes it
_TIE_GAP = np.float32(1e-4)
_TIE_STEP = np.float32(1e-6)


def adjust_ties(hits: Sequence[Hit]) -> list[Hit]:
    """Anserini's score adjustment of a ranked list, exactly: each score rounded to 1e-4 (in
    double, back to float), then within a run of scores less than 1e-4 apart the i-th tied hit
    loses i * 1e-6 (float arithmetic), so that every tool sorts the hits in rank order."""
    adjusted: list[Hit] = []
    previous = np.float32(0)
    tied = 0
    for position, hit in enumerate(hits):
        scaled = float(np.float32(hit.score)) * 10000.0
        whole = math.floor(scaled)  # Java's Math.round(double): halves go up
        score = np.float32((whole + 1 if scaled - whole >= 0.5 else whole) / 10000.0)
        if position == 0 or previous - score > _TIE_GAP:
            tied = 0
        else:
            tied += 1
            score = np.float32(score - _TIE_STEP * np.float32(tied))
        adjusted.append(Hit(hit.doc_id, float(score)))
        previous = score
    return adjusted


def true_score(adjusted: float, hits: int) -> float:
    """The integer dot product behind a score :func:`adjust_ties` changed (by at most 5e-5 for the
    rounding and 1e-6 per tied hit above it)."""
    score = float(round(adjusted))
    if abs(score) >= 2**24 or abs(adjusted - score) > 5e-5 + 1e-6 * hits + abs(score) * 2**-23:
        raise DiscoError(f"score {adjusted!r} is not an integer dot product below 2^24: shards of this index cannot "
                         f"be merged exactly; search one index holding every document")
    return score


def shard_paths(index: str) -> list[str]:
    """The Lucene indexes behind ``index``: itself, or the shards of a sharded index folder."""
    metadata = read_index_metadata(index)
    if metadata is not None and metadata.get("kind") == "index-shards":
        return [os.path.join(index, shard["name"]) for shard in metadata["shards"]]
    return [index]


def open_searcher(indexes: Sequence[str] | str, *, heap: str | None = None) -> ImpactSearcher | ShardedSearcher:
    """One index, a sharded index folder, or several indexes searched as one."""
    indexes = [indexes] if isinstance(indexes, str) else list(indexes)
    if len(indexes) == 1 and shard_paths(indexes[0]) == indexes:
        return ImpactSearcher(indexes[0], heap=heap)
    return ShardedSearcher(indexes, heap=heap)


def search_topics(searcher: ImpactSearcher | ShardedSearcher, topics: Sequence[Topic],
                  encoding: QueryEncoding | None, *,
                  mode: str = "disco", hits: int = DEFAULT_HITS, threads: int = 1, allow_mismatch: bool = False,
                  cache: str | None = None, encoded: Mapping[str, Mapping[str, int]] | None = None,
                  ) -> list[tuple[str, list[Hit]]]:
    """``(query_id, hits)`` for every topic, in Pyserini's query order.

    Queries are encoded with ``encoding`` (through the query cache folder ``cache`` if given), or
    taken from ``encoded`` (query id -> impact vector, e.g. Anserini's pre-encoded queries).
    """
    if hits < 1:
        raise UsageError(f"--hits must be at least 1 (got {hits})")
    check_query_mode(mode)
    started = time.perf_counter()
    if encoded is not None:
        missing = [t.query_id for t in topics if t.query_id not in encoded]
        if missing:
            raise UsageError(f"the encoded queries lack {len(missing)} of the topics' query ids ({missing[0]}...)")
        vectors = [dict(encoded[t.query_id]) for t in topics]
    elif encoding is not None:
        check_compatible(searcher.metadata, encoding.describe(), index=searcher.index, allow_mismatch=allow_mismatch)
        vectors = encoding.encode_topics(topics, mode, cache=cache)
    else:
        raise UsageError("search needs a query model or encoded queries")
    encoded_at = time.perf_counter()
    empty = [t.query_id for t, v in zip(topics, vectors) if not v]
    if empty:
        logger.warning("%d queries have no term left after quantization and retrieve nothing: %s",
                       len(empty), ", ".join(empty[:5]))
    qids = [t.query_id for t in topics]
    results = searcher.batch_search(vectors, qids, hits, threads)
    logger.info("prepared %d queries in %.1f s, searched them in %.1f s", len(topics), encoded_at - started,
                time.perf_counter() - encoded_at)
    return [(qid, results.get(qid, [])) for qid in pyserini_order(qids)]


def write_search_run(output: str, results: Sequence[tuple[str, list[Hit]]], *, tag: str,
                     description: Mapping[str, Any]) -> int:
    """Write the run and its metadata beside it (:func:`~disco_pyserini.runs.metadata_path`)."""
    check_run_tag(tag)
    lines = write_run(output, results, tag)
    no_hits = [qid for qid, hits in results if not hits]
    write_json(metadata_path(output), {**artifact_header("run"), **description, "run_tag": tag,
                                  "queries": len(results), "lines": lines, "queries_without_hits": len(no_hits)})
    if no_hits:
        logger.warning("%d of %d queries retrieved nothing (%s...)", len(no_hits), len(results), no_hits[0])
    return lines


def retag_run(path: str, tag: str) -> None:
    """Replace the run tag (last column) of a TREC run, atomically."""
    from .jsonl import atomic_output, iter_lines

    lines = [text.rsplit(" ", 1)[0] + f" {tag}\n" for _, text in iter_lines(path) if text.strip()]
    with atomic_output(path) as handle:
        handle.writelines(lines)


def default_query_cache() -> str:
    from .models import cache_dir

    return str(cache_dir() / "queries")


if __name__ == "__main__":  # python -m disco_pyserini.search: Pyserini's search command with DiSCo queries
    from .commands.pyserini_search import main

    raise SystemExit(main())
