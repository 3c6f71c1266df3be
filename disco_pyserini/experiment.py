"""``disco-pyserini run CONFIG``: topics -> encode -> index -> search (each mode) -> evaluate -> compare.

A stage is skipped when its output exists and its metadata matches the configuration: the
collection's encoder, scale, corpus files and part size; the index's collection; each run's
index, topics file (by content), query model, query mode and hits. Anything else is redone.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .collection import METADATA as COLLECTION_METADATA
from .collection import encode_collection, read_collection_metadata
from .compare import compare_runs, comparison_json, markdown, plot_by_depth, write_csv
from .config import ExperimentConfig
from .errors import DiscoError
from .evaluate import get_protocol
from .indexing import INDEX_METADATA, build_index, read_index_metadata
from .jsonl import read_json, write_json
from .metadata import file_sha256
from .models import resolve_model
from .queries import QueryEncoding
from .runs import read_qrels, read_run
from .search import ImpactSearcher, search_topics, write_search_run
from .splade import SpladeEncoder
from .topics import read_topics, write_topics

logger = logging.getLogger(__name__)


def _collection_current(config: ExperimentConfig, encoder: SpladeEncoder) -> bool:
    from .corpus import corpus_files

    try:
        metadata = read_collection_metadata(config.collection)
    except DiscoError:
        return False
    files = corpus_files(config.corpus)
    expected = {"corpus": [{"path": os.path.abspath(f), "bytes": os.path.getsize(f)} for f in files],
                "docs_per_part": config.docs_per_part, "encoder": encoder.describe(), "scale": config.scale}
    return all(metadata.get(key) == value for key, value in expected.items())


def _index_current(config: ExperimentConfig) -> bool:
    try:
        metadata = read_index_metadata(config.index)
    except DiscoError:
        return False
    return (metadata is not None and metadata["collection"] == os.path.abspath(config.collection)
            and metadata.get("collection_metadata_sha256") == file_sha256(
                os.path.join(config.collection, COLLECTION_METADATA)))


def _run_current(path: str, description: dict[str, Any]) -> bool:
    if not (os.path.exists(path) and os.path.exists(path + ".json")):
        return False
    recorded = read_json(path + ".json")
    return all(recorded.get(key) == value for key, value in description.items())


def prepare_topics(config: ExperimentConfig) -> str:
    spec = config.topics
    if spec.format is not None:
        from .datasets.conversational import convert_topics

        topics = convert_topics(spec.format, list(spec.inputs), spec.passages)
        write_topics(topics, spec.path)
        logger.info("converted %d %s turns into %s", len(topics), spec.format, spec.path)
    return spec.path


def run_experiment(config: ExperimentConfig, *, heap: str | None = None, progress: bool = True) -> str:
    """Run every stage of ``config``; returns the comparison (markdown)."""
    topics_path = prepare_topics(config)
    topics = read_topics(topics_path)

    encoder = SpladeEncoder(resolve_model(config.document_model, "document"), max_length=config.max_length,
                            batch_size=config.batch_size, threads=config.threads, option="document_model")
    if _collection_current(config, encoder):
        logger.info("collection %s is up to date", config.collection)
    else:
        encode_collection(list(config.corpus), config.collection, encoder, scale=config.scale,
                          docs_per_part=config.docs_per_part, overwrite=True, progress=progress)
    del encoder
    if _index_current(config):
        logger.info("index %s is up to date", config.index)
    else:
        build_index(config.collection, config.index, threads=config.threads, overwrite=True, heap=heap)

    searcher = ImpactSearcher(config.index, heap=heap)
    encodings: dict[str, QueryEncoding] = {}
    run_paths = {}
    for search in config.searches:
        if search.query_model not in encodings:
            encodings[search.query_model] = QueryEncoding(search.query_model, max_length=config.max_length,
                                                          scale=config.scale, batch_size=config.batch_size,
                                                          threads=config.threads, option="query_model")
        encoding = encodings[search.query_model]
        path = os.path.join(config.runs, f"{search.name}.trec")
        description = {"index": os.path.abspath(config.index),
                       "index_metadata_sha256": file_sha256(os.path.join(config.index, INDEX_METADATA)),
                       "topics": os.path.abspath(topics_path), "topics_sha256": file_sha256(topics_path),
                       "query_mode": search.query_mode, "hits": config.hits, "encoder": encoding.describe()}
        if _run_current(path, description):
            logger.info("run %s is up to date", path)
        else:
            results = search_topics(searcher, topics, encoding, mode=search.query_mode, hits=config.hits,
                                    threads=config.threads)
            write_search_run(path, results, tag=f"{config.name}-{search.name}", description=description)
        run_paths[search.name] = path

    if config.qrels is None:
        return "no qrels in the configuration: runs written to " + ", ".join(run_paths.values())
    qrels = read_qrels(config.qrels)
    comparison = compare_runs(qrels, {name: read_run(path) for name, path in run_paths.items()},
                              get_protocol(config.protocol), baseline=config.baseline,
                              depths={t.query_id: t.depth for t in topics}, rel_threshold=config.rel_threshold)
    table = markdown(comparison)
    prefix = os.path.join(config.runs, "compare")
    with open(prefix + ".md", "w", encoding="utf-8") as handle:
        handle.write(f"# {config.name} ({config.protocol} protocol)\n\n{table}\n")
    write_csv(comparison, prefix + ".csv")
    plot_by_depth(comparison, prefix + ".png")
    write_json(prefix + ".json", comparison_json(comparison))
    return f"# {config.name} ({config.protocol} protocol)\n\n{table}\n\nwritten: {prefix}.md, .csv, .png, .json"
