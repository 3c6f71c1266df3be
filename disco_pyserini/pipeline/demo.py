"""The demo: the whole pipeline on the sample that ships with the package.

155 short passages and 10 conversations of 5 turns, written for this package (see
``sample/README.md``), each turn with its answer, a manual rewrite and graded judgments. The demo
encodes and indexes the passages, searches every turn with the ``raw``, ``disco`` and ``rewrite``
query modes, evaluates the runs and returns a table of the default measures. The sample's
judgments are graded 0-3 like TREC CAsT's, so relevance 2 or more counts as relevant for the
binary measures (MRR, recall, MAP), as in the DiSCo paper; nDCG uses the graded gains.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from importlib import resources

from ..encode.backends import build_encoder
from ..encode.collection import DEFAULT_DOCS_PER_PART, Collection, encode_collection
from ..encode.spec import EncoderSpec
from ..eval.evaluate import DEFAULT_METRICS, evaluate_run, format_table
from ..index.lucene import build_index, index_is_current
from ..io.runs import read_qrels, run_from_results
from ..io.topics import conversation_id, read_topics
from ..search.queries import QueryEncoding
from ..search.searcher import ImpactSearcher, search_topics, write_search_run

logger = logging.getLogger(__name__)

DEMO_MODES = ("raw", "disco", "rewrite")
REL_THRESHOLD = 2


def sample_path(name: str) -> str:
    """Path of a file of the bundled sample (``corpus.jsonl``, ``topics.jsonl``, ``qrels.txt``)."""
    return str(resources.files("disco_pyserini") / "sample" / name)


def run_demo(output: str = "runs", *, model: str = "splade-tiny", threads: int | None = None,
             heap: str | None = None, progress: bool = True) -> str:
    """Run the demo, writing under ``output/demo``; returns the results table (markdown)."""
    work = os.path.join(output, "demo")
    collection, index = os.path.join(work, "collection"), os.path.join(work, "index")
    spec = EncoderSpec(model, threads=threads)
    encoder = build_encoder(spec)
    corpus = [sample_path("corpus.jsonl")]
    if (Collection(collection).matches(encoder.describe(), corpus, docs_per_part=DEFAULT_DOCS_PER_PART)
            and index_is_current(index, collection)):
        logger.info("reusing %s and %s", collection, index)
    else:
        encode_collection(corpus, collection, encoder, overwrite=True, progress=progress)
        build_index(collection, index, overwrite=True, heap=heap)
    topics = read_topics(sample_path("topics.jsonl"))
    qrels = read_qrels(sample_path("qrels.txt"))
    searcher = ImpactSearcher(index, heap=heap)
    encoding = QueryEncoding(replace(spec, side="query"))
    rows, means = {}, {}
    for mode in DEMO_MODES:
        results = search_topics(searcher, topics, encoding, mode=mode, hits=100)
        run_path = os.path.join(work, f"run.{mode}.trec")
        write_search_run(run_path, results, tag=f"disco-pyserini-{mode}", description={
            "index": index, "topics": sample_path("topics.jsonl"), "query_mode": mode, "hits": 100,
            "encoder": encoding.describe()})
        means[mode] = evaluate_run(qrels, run_from_results(dict(results)), DEFAULT_METRICS,
                                   rel_threshold=REL_THRESHOLD)["mean"]
        rows[f"{mode} ({run_path})"] = means[mode]
    table = format_table(rows, DEFAULT_METRICS)
    with open(os.path.join(work, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    note = ""
    if means["disco"]["recip_rank"] < means["raw"]["recip_rank"]:
        note = (f"\n\n`disco` reads the whole flattened conversation with {model}, a query encoder that was never "
                f"trained on conversations, so the history's words drown the current question and it scores below "
                f"`raw`. The flattened history needs a DiSCo-distilled query encoder: `--model disco-human` (from "
                f"the HuggingFace hub), or train one with `disco-pyserini distill` (docs/distillation.md).")
    return (f"{len(topics)} turns of {len({conversation_id(t.query_id) for t in topics})} conversations, "
            f"{searcher.num_docs} passages, model {model}; relevance >= {REL_THRESHOLD} counts as relevant\n\n"
            f"{table}{note}")
