"""``disco-pyserini run CONFIG``: topics -> encode -> index -> search (each mode) -> evaluate -> compare.

A stage is skipped when its output exists and its metadata matches the configuration: the
collection's encoder (the digest of the model's weights, not only its name), scale, corpus files
(path, size and :func:`~disco_pyserini.metadata.file_fingerprint`) and part size; the index's
collection metadata (by content); each run's index metadata and topics file (by content), query
model (by weights), query mode and hits. Anything else is redone.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .collection import collection_is_current, encode_collection
from .compare import compare_runs, comparison_json, markdown, plot_by_depth, write_csv
from .config import ExperimentConfig
from .evaluate import get_protocol
from .indexing import INDEX_METADATA, build_index, index_is_current
from .jsonl import read_json_object, write_json
from .metadata import file_sha256
from .models import resolve_model
from .queries import QueryEncoding
from .runs import read_qrels, read_run
from .search import ImpactSearcher, search_topics, write_search_run
from .splade import SpladeEncoder
from .topics import read_topics, write_topics

logger = logging.getLogger(__name__)


def _run_current(path: str, description: dict[str, Any]) -> bool:
    if not (os.path.exists(path) and os.path.exists(path + ".json")):
        return False
    recorded = read_json_object(path + ".json", "run metadata")
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
    if collection_is_current(config.collection, config.corpus, encoder.describe(), scale=config.scale,
                             docs_per_part=config.docs_per_part):
        logger.info("collection %s is up to date", config.collection)
    else:
        encode_collection(list(config.corpus), config.collection, encoder, scale=config.scale,
                          docs_per_part=config.docs_per_part, overwrite=True, progress=progress)
    del encoder
    if index_is_current(config.index, config.collection):
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
                              depths={t.query_id: t.depth for t in topics}, rel_threshold=config.rel_threshold,
                              metrics=config.metrics, average=config.average)
    table = markdown(comparison)
    prefix = os.path.join(config.runs, "compare")
    with open(prefix + ".md", "w", encoding="utf-8") as handle:
        handle.write(f"# {config.name} ({config.protocol} protocol)\n\n{table}\n")
    write_csv(comparison, prefix + ".csv")
    plot_by_depth(comparison, prefix + ".png")
    write_json(prefix + ".json", comparison_json(comparison))
    return f"# {config.name} ({config.protocol} protocol)\n\n{table}\n\nwritten: {prefix}.md, .csv, .png, .json"
