"""``disco-pyserini run CONFIG``: topics -> encode -> index -> search (each mode) -> evaluate -> compare.

A stage is skipped when its output exists and its metadata matches the configuration: the
collection's encoder (by what decides its bytes: the digest of the model's weights, not only its
name, the vocabulary, max length, precision and scale; see :mod:`disco_pyserini.encode.spec`), corpus
files (path, size and :func:`~disco_pyserini.io.metadata.file_fingerprint`) and part size; the
index's collection metadata (by content); each run's index metadata and topics file (by content),
query encoder (as the collection's), query mode and hits. Anything else is redone; threads and
batch size change the speed only, and redo nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

from ..encode.collection import Collection, encode_collection
from ..encode.spec import EncoderSpec, output_identity
from ..encode.splade import SpladeEncoder
from ..eval.compare import compare_runs, comparison_json, markdown, plot_by_depth, write_csv
from ..eval.evaluate import get_protocol
from ..index.lucene import INDEX_METADATA, build_index, index_is_current
from ..io.jsonl import read_json_object, write_json
from ..io.metadata import file_sha256
from ..io.runs import metadata_path, read_qrels, read_run
from ..io.topics import read_topics, write_topics
from ..search.queries import QueryEncoding
from ..search.searcher import ImpactSearcher, prepare_queries, search_to_run
from .config import ExperimentConfig

logger = logging.getLogger(__name__)


def _run_current(path: str, description: dict[str, Any]) -> bool:
    """Whether the run at ``path`` was made as ``description`` says; its encoder is compared by what
    decides the bytes (:func:`~disco_pyserini.encode.spec.output_identity`), not by speed settings."""
    if not (os.path.exists(path) and os.path.exists(metadata_path(path))):
        return False
    recorded = read_json_object(metadata_path(path), "run metadata")
    return all(output_identity(recorded.get(key) or {}) == output_identity(value) if key == "encoder"
               else recorded.get(key) == value for key, value in description.items())


def prepare_topics(config: ExperimentConfig) -> str:
    spec = config.topics
    if spec.format is not None:
        from ..datasets.conversational import convert_topics

        topics = convert_topics(spec.format, list(spec.inputs), spec.passages)
        write_topics(topics, spec.path)
        logger.info("converted %d %s turns into %s", len(topics), spec.format, spec.path)
    return spec.path


def run_experiment(config: ExperimentConfig, *, heap: str | None = None, progress: bool = True) -> str:
    """Run every stage of ``config``; returns the comparison (markdown)."""
    topics_path = prepare_topics(config)
    topics = read_topics(topics_path)

    spec = EncoderSpec(config.document_model, max_length=config.max_length, scale=config.scale,
                       batch_size=config.batch_size, threads=config.threads)
    encoder = SpladeEncoder(spec, option="document_model")
    if Collection(config.collection).matches(encoder.describe(), config.corpus, docs_per_part=config.docs_per_part):
        logger.info("collection %s is up to date", config.collection)
    else:
        encode_collection(list(config.corpus), config.collection, encoder, docs_per_part=config.docs_per_part,
                          overwrite=True, progress=progress)
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
            encodings[search.query_model] = QueryEncoding(replace(spec, model=search.query_model, side="query"),
                                                          option="query_model")
        encoding = encodings[search.query_model]
        path = os.path.join(config.runs, f"{search.name}.trec")
        description = {"index": os.path.abspath(config.index),
                       "index_metadata_sha256": file_sha256(os.path.join(config.index, INDEX_METADATA)),
                       "topics": os.path.abspath(topics_path), "topics_sha256": file_sha256(topics_path),
                       "query_mode": search.query_mode, "hits": config.hits, "encoder": encoding.describe()}
        if _run_current(path, description):
            logger.info("run %s is up to date", path)
        else:
            queries = prepare_queries(searcher, topics, encoding, mode=search.query_mode)
            search_to_run(searcher, queries, path, tag=f"{config.name}-{search.name}", description=description,
                          hits=config.hits, threads=config.threads)
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
