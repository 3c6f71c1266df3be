"""Searching topic sets into TREC runs.

Every turn's query text is built from its topic (query mode), encoded in length-sorted batches
once (:func:`prepare_queries`), then searched in Java. :func:`search_to_run` writes the run
without a single hit crossing into Python: Anserini's ``SearchCollection`` searches the integer
queries and writes the run (:mod:`disco_pyserini.search.java_runs`), byte-identical to Pyserini's;
:func:`search_topics` returns the hits to Python instead (for evaluation in memory, distillation
and explanations), through the threaded ``SimpleImpactSearcher.batch_search`` that Pyserini's
``LuceneImpactSearcher`` wraps. Both skip what that wrapper adds in Python: encoding one query per
call and building an idf table of every index term (its only use is the ``min_idf`` filter, and
with ``min_idf=-1`` it keeps every term the index has; terms the index lacks match nothing either
way). Runs are identical to ``LuceneImpactSearcher(index, DiscoQueryEncoder(...), min_idf=-1)``'s.
Index shards are searched one after another and merged exactly (:mod:`disco_pyserini.search.merge`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

from ..encode.quantize import prune
from ..errors import UsageError
from ..index.lucene import read_index_metadata
from ..io.jsonl import write_json
from ..io.metadata import artifact_header
from ..io.runs import Hit, check_run_tag, count_run, metadata_path, pyserini_order, read_hits, write_run
from ..io.topics import Topic, check_query_mode
from ..java import autoclass, start_jvm
from . import java_runs
from .java_runs import Queries
from .merge import merge_hits
from .queries import QueryEncoding

logger = logging.getLogger(__name__)

DEFAULT_HITS = 1000
DEFAULT_RUN_TAG = "disco-pyserini"

MERGE_BATCH = 2000  # queries whose shard hits are merged at once


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
        java_runs.check_hits(k)
        if len(set(query_ids)) != len(query_ids):
            raise UsageError("query ids must be unique within a search")
        queries, ids = self._list(), self._list()
        for vector, query_id in zip(vectors, query_ids):
            queries.add(self._query(vector))
            ids.add(query_id)
        results = self._searcher.batch_search(queries, ids, int(k), int(threads))
        return {str(entry.getKey()): [Hit(h.docid, float(h.score)) for h in entry.getValue()]
                for entry in results.entrySet().toArray()}

    def hits(self, queries: Queries, k: int, threads: int) -> Mapping[str, Sequence[tuple[str, float]]]:
        """``(doc_id, score)`` hits of every ``(query_id, vector)``: read back from the run
        SearchCollection writes where it writes ours exactly (a file read is cheaper than a hit
        crossing from Java), else crossed."""
        if java_runs.problem(queries, k) is not None:
            return self.batch_search([v for _, v in queries], [q for q, _ in queries], k, threads)
        folder = tempfile.mkdtemp(prefix=".disco-pyserini-shard-")
        try:
            java_runs.write_run(self.index, queries, os.path.join(folder, "run.trec"), hits=k, threads=threads,
                                tag="shard")
            return read_hits(os.path.join(folder, "run.trec"))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def write_run(self, queries: Queries, output: str, *, k: int, threads: int, tag: str) -> None:
        """Search ``(query_id, vector)`` pairs (in Pyserini's order) and write the TREC run to ``output``.

        Anserini's SearchCollection writes it where that gives our bytes exactly
        (:func:`java_runs.problem`); otherwise the hits cross into Python and are written here.
        """
        reason = java_runs.problem(queries, k)
        if reason is None:
            java_runs.write_run(self.index, queries, output, hits=k, threads=threads, tag=tag)
            return
        logger.info("writing the run in Python: %s", reason)
        hits = self.batch_search([v for _, v in queries], [q for q, _ in queries], k, threads)
        write_run(output, [(qid, hits.get(qid, [])) for qid, _ in queries], tag)

    def close(self) -> None:
        self._searcher.close()


class ShardedSearcher:
    """Several impact indexes searched as one: each shard's top-k, merged into the run of one index
    holding every document, byte for byte (:func:`disco_pyserini.search.merge.merge_hits`)."""

    def __init__(self, indexes: Sequence[str], *, heap: str | None = None) -> None:
        shards = ShardSet(indexes)
        self.index, self.metadata = shards.index, shards.metadata
        self.shards = [ImpactSearcher(path, heap=heap) for path in shards.paths]
        self.paths = shards.paths

    @property
    def num_docs(self) -> int:
        return sum(shard.num_docs for shard in self.shards)

    def search(self, vector: Mapping[str, int], k: int = 10) -> list[Hit]:
        return self.batch_search([vector], ["q"], k)["q"]

    def batch_search(self, vectors: Sequence[Mapping[str, int]], query_ids: Sequence[str], k: int = DEFAULT_HITS,
                     threads: int = 1) -> dict[str, list[Hit]]:
        """Every shard's top ``k`` (each searched on ``threads`` Java threads), merged exactly.

        The parallelism is within each shard, across queries: Anserini's batch search keeps all
        ``threads`` busy. The shards are visited one after another because pyjnius binds a Java
        method to its object through state shared by the class (kivy/pyjnius#563): two Python
        threads calling ``batch_search`` on two searchers at once mix up their arguments (tried:
        IndexOutOfBoundsException and lost hits), so threads across shards would gain nothing
        on a saturated CPU and risk wrong runs. (On a Dask cluster each worker process searches its
        own shards: :mod:`disco_pyserini.cluster.search`.)
        """
        return merge_hits([shard.batch_search(vectors, query_ids, k, threads) for shard in self.shards],
                          query_ids, k, names=self.paths)

    def hits(self, queries: Queries, k: int, threads: int) -> dict[str, list[Hit]]:
        """Every shard's :meth:`ImpactSearcher.hits`, merged exactly."""
        return merge_hits([shard.hits(queries, k, threads) for shard in self.shards], [q for q, _ in queries], k,
                          names=self.paths)

    def write_run(self, queries: Queries, output: str, *, k: int, threads: int, tag: str) -> None:
        """Every shard's top ``k`` of each query (read back from the run its SearchCollection writes),
        merged exactly, written to ``output``; ``MERGE_BATCH`` queries at a time, so that memory
        holds the hits of one batch, not of every query."""

        def merged() -> Iterator[tuple[str, list[Hit]]]:
            for start in range(0, len(queries), MERGE_BATCH):
                batch = queries[start:start + MERGE_BATCH]
                hits = self.hits(batch, k, threads)
                yield from ((qid, hits[qid]) for qid, _ in batch)

        write_run(output, merged(), tag)

    def close(self) -> None:
        for shard in self.shards:
            shard.close()


class ShardSet:
    """The Lucene indexes behind one or more ``--index`` (a sharded index folder is its shards),
    checked to share a vocabulary and a scale, without opening them."""

    def __init__(self, indexes: Sequence[str]) -> None:
        self.paths = [path for index in indexes for path in shard_paths(index)]
        if len(set(map(os.path.abspath, self.paths))) != len(self.paths):
            raise UsageError("--index lists an index twice")
        self.index = ",".join(indexes)
        known = [m for m in map(read_index_metadata, self.paths) if m is not None]
        for other in known[1:]:
            if (other["encoder"]["vocabulary_sha256"], other["scale"]) != (
                    known[0]["encoder"]["vocabulary_sha256"], known[0]["scale"]):
                raise UsageError(f"--index {self.index}: the shards were encoded with different models or scales")
        self.metadata = known[0] if known else None


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


def prepare_queries(searcher: ImpactSearcher | ShardedSearcher | ShardSet, topics: Sequence[Topic],
                    encoding: QueryEncoding | None, *, mode: str = "disco", allow_mismatch: bool = False,
                    cache: str | None = None, encoded: Mapping[str, Mapping[str, int]] | None = None,
                    max_terms: int | None = None) -> list[tuple[str, dict[str, int]]]:
    """``(query_id, {token: impact})`` of every topic, in Pyserini's query order.

    Queries are encoded with ``encoding`` (through the query cache folder ``cache`` if given; its
    own pruning applies), or taken from ``encoded`` (query id -> impact vector, e.g. Anserini's
    pre-encoded queries), then pruned to ``max_terms`` terms (:func:`~disco_pyserini.encode.quantize.prune`).
    """
    check_query_mode(mode)
    if encoded is not None:
        missing = [t.query_id for t in topics if t.query_id not in encoded]
        if missing:
            raise UsageError(f"the encoded queries lack {len(missing)} of the topics' query ids ({missing[0]}...)")
        vectors = [encoded[t.query_id] for t in topics]  # prune() below copies them
    elif encoding is not None:
        check_compatible(searcher.metadata, encoding.describe(), index=searcher.index, allow_mismatch=allow_mismatch)
        vectors = encoding.encode_topics(topics, mode, cache=cache)
    else:
        raise UsageError("search needs a query model or encoded queries")
    vectors = [prune(vector, max_terms) for vector in vectors]
    empty = [t.query_id for t, v in zip(topics, vectors) if not v]
    if empty:
        logger.warning("%d queries have no term left after quantization and retrieve nothing: %s",
                       len(empty), ", ".join(empty[:5]))
    by_id = {t.query_id: v for t, v in zip(topics, vectors)}
    return [(qid, by_id[qid]) for qid in pyserini_order(by_id)]


def search_topics(searcher: ImpactSearcher | ShardedSearcher, topics: Sequence[Topic],
                  encoding: QueryEncoding | None, *, mode: str = "disco", hits: int = DEFAULT_HITS, threads: int = 1,
                  allow_mismatch: bool = False, cache: str | None = None,
                  encoded: Mapping[str, Mapping[str, int]] | None = None, max_terms: int | None = None,
                  ) -> list[tuple[str, list[Hit]]]:
    """``(query_id, hits)`` for every topic, in Pyserini's query order (see :func:`prepare_queries`)."""
    java_runs.check_hits(hits)
    started = time.perf_counter()
    queries = prepare_queries(searcher, topics, encoding, mode=mode, allow_mismatch=allow_mismatch, cache=cache,
                              encoded=encoded, max_terms=max_terms)
    prepared = time.perf_counter()
    results = searcher.batch_search([v for _, v in queries], [q for q, _ in queries], hits, threads)
    logger.info("prepared %d queries in %.1f s, searched them in %.1f s", len(queries), prepared - started,
                time.perf_counter() - prepared)
    return [(qid, results.get(qid, [])) for qid, _ in queries]


class RunSummary(NamedTuple):
    queries: int
    lines: int
    queries_without_hits: list[str]


def search_to_run(searcher: ImpactSearcher | ShardedSearcher, queries: Sequence[tuple[str, Mapping[str, int]]],
                  output: str, *, tag: str, description: Mapping[str, Any], hits: int = DEFAULT_HITS,
                  threads: int = 1) -> RunSummary:
    """Search :func:`prepare_queries`' queries and write the run and its metadata (beside it, see
    :func:`~disco_pyserini.io.runs.metadata_path`), the hits never crossing into Python where Anserini
    writes our run exactly."""
    check_run_tag(tag)
    java_runs.check_hits(hits)
    started = time.perf_counter()
    searcher.write_run(queries, output, k=hits, threads=threads, tag=tag)
    lines, with_hits = count_run(output)
    summary = RunSummary(len(queries), lines, [qid for qid, _ in queries if qid not in with_hits])
    _write_metadata(output, summary, tag, description)
    logger.info("searched %d queries and wrote %d lines in %.1f s", len(queries), lines,
                time.perf_counter() - started)
    return summary


def write_search_run(output: str, results: Sequence[tuple[str, list[Hit]]], *, tag: str,
                     description: Mapping[str, Any]) -> RunSummary:
    """Write hits already in Python (:func:`search_topics`) as a run, with its metadata beside it."""
    check_run_tag(tag)
    lines = write_run(output, results, tag)
    summary = RunSummary(len(results), lines, [qid for qid, hits in results if not hits])
    _write_metadata(output, summary, tag, description)
    return summary


def _write_metadata(output: str, summary: RunSummary, tag: str, description: Mapping[str, Any]) -> None:
    write_json(metadata_path(output), {**artifact_header("run"), **description, "run_tag": tag,
                                       "queries": summary.queries, "lines": summary.lines,
                                       "queries_without_hits": len(summary.queries_without_hits)})
    if summary.queries_without_hits:
        logger.warning("%d of %d queries retrieved nothing (%s...)", len(summary.queries_without_hits),
                       summary.queries, summary.queries_without_hits[0])


def retag_run(path: str, tag: str) -> None:
    """Replace the run tag (last column) of a TREC run, atomically."""
    from ..io.jsonl import atomic_output, iter_lines

    lines = [text.rsplit(" ", 1)[0] + f" {tag}\n" for _, text in iter_lines(path) if text.strip()]
    with atomic_output(path) as handle:
        handle.writelines(lines)


def default_query_cache() -> str:
    from ..encode.models import cache_dir

    return str(cache_dir() / "queries")

