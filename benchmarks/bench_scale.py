"""Indexing and search at scale: a synthetic SPLADE collection, the real MS MARCO dev queries.

    .venv/bin/python benchmarks/bench_scale.py [--documents N [N ...]] [--shards 4] [--threads 2]
        [--query-max-terms 32] [--max-terms none,32] [--batch-max-terms none,32] [--shard-max-terms none]
        [--latency-queries 500] [--queries N] [--java-heap SIZE] [--no-search] [--no-serve]
        [--json FILE] [--plot FILE]
    .venv/bin/python benchmarks/bench_scale.py --documents 100000 300000 1000000   # how each cost grows
    .venv/bin/python benchmarks/bench_scale.py --quick      # 20,000 passages, 500 queries: a few minutes
    .venv/bin/python benchmarks/bench_scale.py --measure    # measure SPLADE-tiny on real text again

No million real passages encoded with a SPLADE model fit this project's data, so the collection is
synthetic, drawn from what SPLADE-tiny gives on real text; the queries are real: the 6,980 MS MARCO
passage dev queries encoded by SPLADE++ ED (Anserini's pre-encoded
``topics.msmarco-passage.dev-subset.splade-pp-ed.tsv.gz``), over the same BERT uncased vocabulary.

The measured distributions (``--measure``, saved in ``splade_tiny_impacts.json`` beside this file):
SPLADE-tiny (max length 256, impacts at scale 100, as ``disco-pyserini encode`` writes them) on
every real text at hand: the 3,204 CACM documents (title and abstract), the 155 passages of the
bundled sample, and the 438 distinct canonical passages of TREC CAsT 2021 and 2022 (MS MARCO v2 and
Wikipedia web passages). Kept: how many terms each document gets (histogram), in how many documents
each token occurs (its document frequency), and the histogram of impacts for each of
8 classes of token document frequency (equal shares of postings) x 4 classes of document length
(quartiles of terms per document).

A synthetic document is drawn from them (seeded numpy: document ``i`` of part ``p`` depends only on
the seed, ``p`` and the part size):

1. its number of terms ``n`` from the terms-per-document histogram;
2. its tokens by drawing token ids with replacement until ``n`` distinct ones came up. The draw
   weights are calibrated (Poisson approximation: token ``t`` lands in a document of ``n`` terms with
   probability ``1 - exp(-p_t K_n)``, ``K_n`` the draws that give ``n`` distinct tokens) so that each
   token's expected share of documents is its measured document frequency over the number of
   documents. Tokens never seen share the Good-Turing estimate of the unseen mass (the share of
   postings whose token was seen in one document only), evenly, special tokens (``[unused0]``...)
   excepted; the seen tokens keep the rest in proportion;
3. each token's impact from the histogram of its (document-frequency class, length class).

Written as a collection folder through :class:`disco_pyserini.encode.collection.Collection` (ids
``synth-0000001``..., the encoder record says it is synthetic), so ``disco-pyserini index`` takes it
as any other. Then, each phase in its own process (its peak RSS read from ``wait4``; the JVM heap is
inside it):

* indexing with ``disco-pyserini index``, into one index and into ``--shards`` index shards: time,
  size on disk, peak memory;
* search of the queries at k=1000 (``--hits``), unpruned and pruned to the K heaviest terms
  (``--query-max-terms K``; ties to the lower token id):

  - QPS, for the K of ``--batch-max-terms`` (default none and 16): the whole batch on ``--threads``
    threads after a warm-up batch of 50 queries, the run written, one process per path: ours
    (``open_searcher`` + ``prepare_queries`` + ``search_to_run``, what ``disco-pyserini search
    --encoded-queries`` runs: Anserini's SearchCollection searches and writes the run in Java) on
    the single index and, unpruned, on the shards (each shard's run, merged exactly); Pyserini's
    ``LuceneImpactSearcher(index, lookup, min_idf=-1).batch_search`` with its TrecWriter on the
    single index (it cannot search shards as one);
  - latency, for every K of ``--max-terms``: a seeded sample of ``--latency-queries`` queries, one
    query per call (``ImpactSearcher.search`` / ``ShardedSearcher.search`` against
    ``LuceneImpactSearcher.search``, each returning 1,000 ``(docid, score)`` pairs to Python), the
    paths taking turns query by query in one process so that the machine's load falls on all
    alike; p50 and p95 of the wall time of a call.

* serve start-up: ``disco-pyserini serve --index INDEX --model splade-tiny --modes raw`` started
  as a process, the time from its start to its first answer to ``GET /health``, then to one
  ``POST /search`` (:func:`serve_startup`).

With several ``--documents`` sizes, each size is measured in turn and then every cost is fitted as
``value = c * N ** a`` by least squares on log-log (:func:`fit_power`), printed with ``a`` and its
value extrapolated to MS MARCO passage (8,841,823 passages) beside the published size of Anserini's
SPLADE++ ED impact index (2.10 GB), written as JSON (``--json``, default
``benchmarks/results/scale.json``) and drawn (``--plot``, default the JSON's name with ``.png``).
The synthetic passages have SPLADE-tiny's term statistics (about 120 terms per passage), not
SPLADE++ ED's, whose passages have more terms: the table prints bytes of index per passage of
both, the one ratio the published figures give.

Runs that must agree are compared byte for byte: ours and Pyserini's whole runs at every batch K,
the shards' merged run against the single index's, and the hits of every sampled query across
paths at every K. The machine's load average is printed before and after each phase
(``os.getloadavg``): on a shared machine figures move with it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import CACM, REPO, SHARED, SPLADE_TINY, cast_passages, default_model, need, report

DISTRIBUTIONS = Path(__file__).resolve().with_name("splade_tiny_impacts.json")
QUERIES = SHARED / "data" / "msmarco-splade-pp-ed" / "topics.msmarco-passage.dev-subset.splade-pp-ed.tsv.gz"
SCALE = 100
DF_CLASSES = 8
LENGTH_CLASSES = 4
RUN_TAG = "Anserini"  # Pyserini's TrecWriter writes this tag: the runs compare byte for byte
WARM_UP = 50


# -- measuring SPLADE-tiny on real text ------------------------------------------------------------
def measure(path: Path, threads: int) -> dict[str, Any]:
    """Encode the real texts with SPLADE-tiny and save the distributions the generator draws from."""
    import torch

    from disco_pyserini.datasets.cacm import read_cacm_corpus
    from disco_pyserini.encode.backends import build_encoder
    from disco_pyserini.encode.quantize import quantize
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.io.corpus import iter_corpus

    torch.set_num_threads(threads)
    encoder = build_encoder(EncoderSpec(default_model(), threads=threads))
    sources = {
        "cacm": [d.text for d in read_cacm_corpus(str(need(CACM / "cacm.tar.gz")))],
        "sample": [d.text for d in iter_corpus([str(REPO / "disco_pyserini" / "sample" / "corpus.jsonl")])],
        "cast": cast_passages(),
    }
    tokens: list[np.ndarray] = []
    impacts: list[np.ndarray] = []
    summary = {}
    for name, texts in sources.items():
        started = time.perf_counter()
        token_ids = encoder.tokenize(texts)
        first = len(tokens)
        for vector in encoder.encode_token_ids(token_ids):
            kept, weights = quantize(vector.indices, vector.weights, SCALE)
            tokens.append(kept.astype(np.int64))
            impacts.append(weights.astype(np.int64))
        terms = np.array([len(t) for t in tokens[first:]])
        values = np.concatenate(impacts[first:])
        summary[name] = {"documents": len(texts), "mean_tokens": float(np.mean([len(t) for t in token_ids])),
                         "mean_terms": float(terms.mean()), "median_terms": float(np.median(terms)),
                         "mean_impact": float(values.mean()), "mean_impact_sum": float(values.sum() / len(texts)),
                         "seconds": round(time.perf_counter() - started, 1)}
        print(f"{name}: {summary[name]}", flush=True)
    vocabulary_size = len(encoder.vocabulary)
    terms = np.array([len(t) for t in tokens])
    df = np.bincount(np.concatenate(tokens), minlength=vocabulary_size)
    lengths, length_counts = np.unique(terms, return_counts=True)
    # classes: document frequency by equal shares of postings, length by quartiles of documents
    posting_df = np.sort(df[np.concatenate(tokens)])
    df_bounds = _bounds(posting_df, DF_CLASSES)
    length_bounds = _bounds(np.sort(terms), LENGTH_CLASSES)
    histograms: list[dict[int, int]] = [{} for _ in range(DF_CLASSES * LENGTH_CLASSES)]
    for doc_tokens, doc_impacts in zip(tokens, impacts):
        length_class = int(np.searchsorted(length_bounds, len(doc_tokens), side="right"))
        classes = np.searchsorted(df_bounds, df[doc_tokens], side="right") * LENGTH_CLASSES + length_class
        for c, v in zip(classes.tolist(), doc_impacts.tolist()):
            histograms[c][v] = histograms[c].get(v, 0) + 1
    stats = {
        "about": "SPLADE-tiny on real text, measured by benchmarks/bench_scale.py --measure: see its docstring",
        "model": "splade-tiny", "model_sha256": encoder.model_sha256,
        "vocabulary_sha256": encoder.vocabulary_fingerprint, "vocabulary_size": vocabulary_size,
        "max_length": encoder.max_length, "scale": SCALE, "sources": summary, "documents": len(tokens),
        "terms_per_document": [[int(n), int(c)] for n, c in zip(lengths, length_counts)],
        "df_class_bounds": df_bounds, "length_class_bounds": length_bounds,
        "impacts_by_class": [sorted([v, c] for v, c in h.items()) for h in histograms],
        "document_frequency": [[int(t), int(df[t])] for t in np.flatnonzero(df)],
    }
    lines = ["{"] + [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in stats.items()]
    lines[-1] = lines[-1][:-1]
    path.write_text("\n".join(lines + ["}"]) + "\n", encoding="utf-8")
    return stats


def _bounds(sorted_values: np.ndarray, classes: int) -> list[int]:
    """Class bounds at the quantiles of ``sorted_values``: class ``c`` holds values in [b[c-1], b[c])."""
    picks = [int(sorted_values[len(sorted_values) * i // classes]) for i in range(1, classes)]
    return sorted(set(picks))


# -- drawing documents -----------------------------------------------------------------------------
def read_distributions(path: Path | None = None) -> dict[str, Any]:
    path = path or DISTRIBUTIONS
    if not path.exists():
        sys.exit(f"{path} is absent: run benchmarks/bench_scale.py --measure first")
    return json.loads(path.read_text(encoding="utf-8"))


class SyntheticVectors:
    """Impact vectors drawn from the measured distributions (see the module docstring)."""

    def __init__(self, stats: dict[str, Any], vocabulary: list[str]) -> None:
        size = stats["vocabulary_size"]
        if len(vocabulary) != size:
            raise SystemExit(f"the vocabulary has {len(vocabulary)} tokens, the distributions {size}")
        self.documents = stats["documents"]
        self.df = np.zeros(size, dtype=np.int64)
        pairs = np.array(stats["document_frequency"], dtype=np.int64)
        self.df[pairs[:, 0]] = pairs[:, 1]
        self.lengths = np.array([n for n, _ in stats["terms_per_document"]], dtype=np.int64)
        counts = np.array([c for _, c in stats["terms_per_document"]], dtype=np.int64)
        self.length_cumulative = np.cumsum(counts)
        self.mean_terms = float((self.lengths * counts).sum() / counts.sum())
        # Good-Turing: the share of postings of tokens seen in one document estimates the unseen share
        special = np.array([bool(re.fullmatch(r"\[[^\]]+\]", token)) for token in vocabulary])
        unseen = (self.df == 0) & ~special
        self.unseen_share = float((self.df == 1).sum() / self.df.sum())
        rates = self.df / self.documents * (1 - self.unseen_share)
        rates[unseen] = self.unseen_share * self.mean_terms / unseen.sum()
        self.rates = rates  # each token's expected share of documents
        probabilities = counts / counts.sum()
        weights = calibrate(rates, self.lengths, probabilities)
        self.draws_needed = draws_for(weights, self.lengths.astype(np.float64))
        integer = np.maximum(np.rint(weights * 2.0**40), 0).astype(np.int64)
        integer[rates > 0] = np.maximum(integer[rates > 0], 1)
        self.token_cumulative = np.cumsum(integer)
        self.predicted = inclusion(weights, self.draws_needed, probabilities)
        self.df_class = np.searchsorted(stats["df_class_bounds"], self.df, side="right")  # unseen: class 0
        self.length_bounds = np.array(stats["length_class_bounds"])
        self.impact_values, self.impact_cumulative = [], []
        for c, histogram in enumerate(stats["impacts_by_class"]):
            if not histogram:  # no such posting in the real text: the document-frequency class as a whole
                first = (c // LENGTH_CLASSES) * LENGTH_CLASSES
                merged: dict[int, int] = {}
                for other in stats["impacts_by_class"][first:first + LENGTH_CLASSES]:
                    for v, n in other:
                        merged[v] = merged.get(v, 0) + n
                histogram = sorted(merged.items())
            self.impact_values.append(np.array([v for v, _ in histogram], dtype=np.int64))
            self.impact_cumulative.append(np.cumsum([n for _, n in histogram]))

    def _tokens(self, rng: np.random.Generator, count: int) -> np.ndarray:
        return np.searchsorted(self.token_cumulative, rng.integers(self.token_cumulative[-1], size=count),
                               side="right")

    def part(self, seed: int, number: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(token ids, impacts)`` of the ``size`` documents of part ``number``, token ids ascending."""
        rng = np.random.default_rng([seed, number])
        picks = rng.integers(self.length_cumulative[-1], size=size)
        lengths = self.lengths[np.searchsorted(self.length_cumulative, picks, side="right")]
        planned = np.ceil(np.interp(lengths, self.lengths, self.draws_needed) * 1.15).astype(np.int64) + 8
        draws = self._tokens(rng, int(planned.sum()))
        documents, start = [], 0
        for count, length in zip(planned.tolist(), lengths.tolist()):
            drawn = draws[start:start + count]
            start += count
            unique, first = np.unique(drawn, return_index=True)
            while len(unique) < length:  # rare: more draws were needed than planned
                drawn = np.concatenate([drawn, self._tokens(rng, length)])
                unique, first = np.unique(drawn, return_index=True)
            documents.append(np.sort(drawn[np.sort(first)[:length]]))
        tokens = np.concatenate(documents)
        length_class = np.searchsorted(self.length_bounds, lengths, side="right")
        classes = self.df_class[tokens] * LENGTH_CLASSES + np.repeat(length_class, lengths)
        impacts = np.empty(len(tokens), dtype=np.int64)
        for c in np.unique(classes).tolist():
            where = np.flatnonzero(classes == c)
            cumulative = self.impact_cumulative[c]
            impacts[where] = self.impact_values[c][
                np.searchsorted(cumulative, rng.integers(cumulative[-1], size=len(where)), side="right")]
        bounds = np.cumsum(lengths)[:-1]
        return list(zip(documents, np.split(impacts, bounds)))


def draws_for(weights: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For each length n, the number of draws K with sum_t (1 - exp(-w_t K)) = n (weights summing to 1)."""
    draws = lengths.astype(np.float64).copy()  # f is concave and f(n) <= n: Newton rises to the root
    for _ in range(100):
        e = np.exp(-np.outer(weights, draws))
        step = ((1 - e).sum(axis=0) - lengths) / (weights[:, None] * e).sum(axis=0)
        draws -= step
        if np.all(np.abs(step) <= 1e-9 * draws):
            break
    return draws


def inclusion(weights: np.ndarray, draws: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each token's expected share of documents, over the document lengths' distribution."""
    return (1 - np.exp(-np.outer(weights, draws))) @ probabilities


def calibrate(rates: np.ndarray, lengths: np.ndarray, probabilities: np.ndarray, rounds: int = 12) -> np.ndarray:
    """Draw weights (summing to 1) under which each token's expected share of documents is ``rates``.

    Lengths are grouped into 64 classes of equal probability for the fit (the inclusion probability
    is smooth in the length)."""
    groups = np.minimum((np.cumsum(probabilities) - probabilities / 2) * 64, 63).astype(np.int64)
    mass = np.bincount(groups, probabilities)
    keep = mass > 0
    mean_length = np.bincount(groups, probabilities * lengths)[keep] / mass[keep]
    mass = mass[keep]
    weights = rates / rates.sum()
    for _ in range(rounds):
        draws = draws_for(weights, mean_length)
        solved = np.zeros_like(rates)  # concave in the weight: Newton from 0 rises to the root
        for _ in range(100):
            e = np.exp(-np.outer(solved, draws))
            step = ((1 - e) @ mass - rates) / ((e * draws) @ mass)
            solved -= step
            if np.all(np.abs(step) <= 1e-12 + 1e-9 * solved):
                break
        weights = solved / solved.sum()
    return weights


class _PartEncoder:
    """What :meth:`Collection.write_part` asks of an encoder, serving one part's drawn vectors."""

    def __init__(self, vocabulary: list[str], vectors: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.vocabulary = vocabulary
        self.vectors = vectors

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [[position] for position in range(len(texts))]

    def encode_token_ids(self, token_ids: list[list[int]]) -> list[Any]:
        from disco_pyserini.encode.splade import SparseVector

        return [SparseVector(self.vectors[ids[0]][0], self.vectors[ids[0]][1].astype(np.float32) / np.float32(SCALE))
                for ids in token_ids]


def bert_vocabulary() -> list[str]:
    """SPLADE-tiny's vocabulary (BERT uncased) in id order, read as SpladeEncoder reads it."""
    from transformers import AutoTokenizer

    vocab = AutoTokenizer.from_pretrained(str(SPLADE_TINY)).get_vocab()
    vocabulary = [""] * len(vocab)
    for token, index in vocab.items():
        vocabulary[index] = token
    return vocabulary


def write_collection(folder: str, documents: int, *, seed: int, docs_per_part: int) -> dict[str, Any]:
    """Draw ``documents`` synthetic documents into the collection folder ``folder``; returns what was drawn."""
    from disco_pyserini.encode.collection import Collection, collection_settings
    from disco_pyserini.encode.splade import vocabulary_fingerprint
    from disco_pyserini.io.corpus import Document

    stats = read_distributions()
    vocabulary = bert_vocabulary()
    if vocabulary_fingerprint(vocabulary) != stats["vocabulary_sha256"]:
        raise SystemExit(f"{DISTRIBUTIONS} was measured with another vocabulary than {SPLADE_TINY}'s")
    impacts = np.arange(1, 1000)  # the collection stores weights, quantized back at SCALE: exactly?
    if not np.array_equal(np.rint((impacts.astype(np.float32) / np.float32(SCALE)) * np.float32(SCALE)), impacts):
        raise SystemExit(f"impacts do not survive a round trip through weights at scale {SCALE}")
    started = time.perf_counter()
    model = SyntheticVectors(stats, vocabulary)
    calibration = time.perf_counter() - started
    record = {"model": "synthetic", "generator": "benchmarks/bench_scale.py", "seed": seed,
              "distributions": DISTRIBUTIONS.name,
              "distributions_sha256": hashlib.sha256(DISTRIBUTIONS.read_bytes()).hexdigest(),
              "vocabulary_size": len(vocabulary), "vocabulary_sha256": stats["vocabulary_sha256"], "scale": SCALE}
    collection = Collection(folder)
    collection.start(collection_settings([], docs_per_part, record))
    parts = math.ceil(documents / docs_per_part)
    width = max(7, len(str(documents)))
    df = np.zeros(len(vocabulary), dtype=np.int64)
    terms = impact_sum = 0
    for number in range(parts):
        size = min(docs_per_part, documents - number * docs_per_part)
        vectors = model.part(seed, number, size)
        for tokens, values in vectors:
            df[tokens] += 1
            terms += len(tokens)
            impact_sum += int(values.sum())
        first = number * docs_per_part + 1
        batch = [Document(f"synth-{first + i:0{width}d}", "(synthetic)") for i in range(size)]
        collection.write_part(number, batch, _PartEncoder(vocabulary, vectors), SCALE)
    collection.record_total(documents, parts)
    metadata = collection.finish()
    measured_terms = stats["documents"] * model.mean_terms
    top = np.argsort(-model.df, kind="stable")[:100]
    synthetic_rates, measured_rates = df[top] / documents, model.df[top] / stats["documents"]
    return {"documents": metadata["documents"], "parts": parts, "calibration_seconds": calibration,
            "mean_terms": terms / documents, "measured_mean_terms": model.mean_terms,
            "mean_impact": impact_sum / terms,
            "measured_mean_impact": sum(v * c for h in stats["impacts_by_class"] for v, c in h) / measured_terms,
            "mean_impact_sum": impact_sum / documents,
            "unseen_share": model.unseen_share, "tokens_used": int((df > 0).sum()),
            "top100_df_mean_relative_error": float(np.mean(np.abs(synthetic_rates / measured_rates - 1))),
            "top5_df": [[vocabulary[t], round(float(m), 3), round(float(s), 3)]
                        for t, m, s in zip(top[:5], measured_rates, synthetic_rates)]}


# -- phases, each in its own process ---------------------------------------------------------------
def phase_generate(task: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    result = write_collection(task["collection"], task["documents"], seed=task["seed"],
                              docs_per_part=task["docs_per_part"])
    return {**result, "seconds": time.perf_counter() - started}


_read: dict[str, dict[str, dict[str, int]]] = {}


def _read_queries(path: str) -> dict[str, dict[str, int]]:
    """The encoded queries of ``path``, read once per process (160 million tokens to split)."""
    from disco_pyserini.search.encoded_queries import read_encoded_queries

    if path not in _read:
        _read[path] = read_encoded_queries(path)
    return _read[path]


def _encoded(task: dict[str, Any], max_terms: int | None) -> list[tuple[str, dict[str, int]]]:
    """The task's queries, pruned to ``max_terms``, in Pyserini's order (as prepare_queries gives them)."""
    from disco_pyserini.encode.quantize import prune

    encoded = _read_queries(task["queries_file"])
    return [(qid, prune(encoded[qid], max_terms)) for qid in task["queries"]]


def _java_heap() -> int:
    from disco_pyserini.java import autoclass

    return int(autoclass("java.lang.Runtime").getRuntime().maxMemory())


def _batches(task: dict[str, Any], batch: Any) -> dict[str, Any]:
    """The whole batch of queries at each K, timed: ``batch(queries, output, K)`` after a warm-up batch."""
    results: dict[str, Any] = {}
    for max_terms in task["max_terms"]:
        queries = _encoded(task, max_terms)
        output = os.path.join(task["runs"], f"{task['name']}-{max_terms}.trec")
        batch(queries[:WARM_UP], output, max_terms)
        begin = time.perf_counter()
        batch(queries, output, max_terms)
        results[str(max_terms)] = {"batch_seconds": time.perf_counter() - begin}
    return results


def phase_search_ours(task: dict[str, Any]) -> dict[str, Any]:
    """Ours: open_searcher, prepare_queries and search_to_run, as `disco-pyserini search` runs them."""
    from disco_pyserini.io.topics import Topic
    from disco_pyserini.search.searcher import open_searcher, prepare_queries, search_to_run

    started = time.perf_counter()
    searcher = open_searcher(task["index"], heap=task["heap"])
    encoded = _read_queries(task["queries_file"])
    topics = [Topic(qid, (("(pre-encoded)", None),)) for qid in task["queries"]]
    opened = time.perf_counter() - started

    def batch(queries: list[tuple[str, dict[str, int]]], output: str, max_terms: int | None) -> None:
        wanted = {qid for qid, _ in queries}
        prepared = prepare_queries(searcher, [t for t in topics if t.query_id in wanted], None, encoded=encoded,
                                   max_terms=max_terms)
        if prepared != queries:
            raise SystemExit("prepare_queries gave other queries than the benchmark's pruning")
        search_to_run(searcher, prepared, output, tag=RUN_TAG, hits=task["hits"], threads=task["threads"],
                      description={})

    return {"open_seconds": opened, "java_max_heap": _java_heap(), **_batches(task, batch)}


def _pyserini_searcher(index: str, heap: str | None) -> tuple[Any, dict[str, dict[str, int]]]:
    """``LuceneImpactSearcher(index, lookup, min_idf=-1)`` and the dict its lookup encoder reads."""
    from disco_pyserini.java import import_pyserini_search, start_jvm

    start_jvm(heap)
    lucene = import_pyserini_search()
    vectors: dict[str, dict[str, int]] = {}

    class Lookup:  # a pre-encoded-query encoder, like Pyserini's cached one, keyed by query id
        def encode(self, qid: str) -> dict[str, int]:
            return vectors[qid]

    return lucene.LuceneImpactSearcher(index, Lookup(), min_idf=-1), vectors


def phase_search_pyserini(task: dict[str, Any]) -> dict[str, Any]:
    """Pyserini: LuceneImpactSearcher(index, lookup, min_idf=-1).batch_search and its TrecWriter."""
    started = time.perf_counter()
    searcher, vectors = _pyserini_searcher(task["index"], task["heap"])
    opened = time.perf_counter() - started
    from pyserini.output_writer import TrecWriter

    def batch(queries: list[tuple[str, dict[str, int]]], output: str, max_terms: int | None) -> None:
        vectors.update(queries)
        qids = [qid for qid, _ in queries]
        hits = searcher.batch_search(qids, qids, k=task["hits"], threads=task["threads"])
        with TrecWriter(output, max_hits=task["hits"], tag=RUN_TAG) as writer:
            for qid in qids:
                writer.write(qid, hits[qid])

    return {"open_seconds": opened, "java_max_heap": _java_heap(), **_batches(task, batch)}


def phase_latency(task: dict[str, Any]) -> dict[str, Any]:
    """The latency sample, one query per call on each path in turn (the order rotating from query to
    query, so that a change in the machine's load falls on every path alike); the wall time of each
    call, and a digest of the hits it returned (compared across paths by the parent)."""
    from disco_pyserini.search.searcher import open_searcher

    pyserini, vectors = _pyserini_searcher(task["indexes"]["single"], task["heap"])
    ours = {name: open_searcher(index) for name, index in task["indexes"].items()}

    def call(path: str, qid: str, vector: dict[str, int]) -> list[tuple[str, float]]:
        if path == "pyserini-single":
            vectors[qid] = vector
            return [(hit.docid, hit.score) for hit in pyserini.search(qid, k=task["hits"])]  # as ours returns them
        return ours[path.split("-")[1]].search(vector, task["hits"])

    results: dict[str, Any] = {}
    for max_terms in task["max_terms"]:
        paths = ["ours-single", "pyserini-single"] + (["ours-shards"] if max_terms in task["shard_max_terms"] else [])
        queries = dict(_encoded(task, max_terms))
        for path in paths:
            call(path, task["latency_sample"][0], queries[task["latency_sample"][0]])  # warm-up
        found: dict[str, dict[str, list[Any]]] = {path: {"latencies": [], "digests": []} for path in paths}
        for number, qid in enumerate(task["latency_sample"]):
            for path in paths[number % len(paths):] + paths[:number % len(paths)]:
                begin = time.perf_counter()
                hits = call(path, qid, queries[qid])
                found[path]["latencies"].append(time.perf_counter() - begin)
                text = "".join(f"{docid} {score!r}\n" for docid, score in hits)
                found[path]["digests"].append(hashlib.sha256(text.encode()).hexdigest()[:16])
        results[str(max_terms)] = found
    return results


PHASES = {"generate": phase_generate, "search-ours": phase_search_ours, "search-pyserini": phase_search_pyserini,
          "latency": phase_latency}


def run_measured(command: list[str], what: str) -> tuple[float, int]:
    """Run ``command``; its wall time and peak RSS (bytes). Prints the load average around it."""
    before = os.getloadavg()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    print(f"  {what}: {wall:.1f} s, peak RSS {usage.ru_maxrss / 1024:.0f} MiB "
          f"(load {before[0]:.2f} -> {os.getloadavg()[0]:.2f})", flush=True)
    if process.returncode:
        sys.exit(f"{what} failed ({process.returncode}):\n{errors.decode(errors='replace')[-3000:]}")
    return wall, usage.ru_maxrss * 1024


def run_phase(name: str, task: dict[str, Any], work: Path) -> tuple[dict[str, Any], float, int]:
    path = work / f"task-{name}-{len(list(work.glob('task-*')))}.json"
    path.write_text(json.dumps(task), encoding="utf-8")
    wall, rss = run_measured([sys.executable, str(Path(__file__).resolve()), "--phase", name, str(path)],
                             f"{name} {task.get('name', '')}".strip())
    return json.loads(Path(str(path) + ".result").read_text(encoding="utf-8")), wall, rss


def folder_bytes(folder: str) -> int:
    return sum(os.lstat(os.path.join(root, f)).st_size for root, _, files in os.walk(folder) for f in files)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def max_terms_list(text: str) -> list[int | None]:
    values: list[int | None] = []
    for item in text.split(","):
        values.append(None if item.strip().lower() == "none" else int(item))
    return values


# -- how each cost grows with the collection -------------------------------------------------------
MS_MARCO_PASSAGES = 8_841_823
PUBLISHED = {"index_bytes": 2.10e9}
"""Anserini's SPLADE++ ED impact index of MS MARCO passage (8,841,823 passages): 2.10 GB."""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_startup(index: str, model: str, heap: str | None = None, timeout: float = 600.0) -> dict[str, Any]:
    """Start ``disco-pyserini serve`` on ``index`` and time, from the start of the process, its first
    answer to ``GET /health`` and then to one ``POST /search`` (mode raw, k=10); then stop it (SIGTERM).
    Returns the two times (seconds) and the server's peak RSS (bytes, from ``wait4``)."""
    import urllib.error
    import urllib.request

    port = free_port()
    cli = str(Path(sys.executable).parent / "disco-pyserini")
    command = [cli, "serve", "--index", index, "--model", model, "--port", str(port), "--modes", "raw",
               "--allow-mismatch", *(["--java-heap", heap] if heap else [])]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    errors = tempfile.TemporaryFile()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    url = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {}
    try:
        while "health_seconds" not in result:
            if process.poll() is not None:
                errors.seek(0)
                raise SystemExit(f"{' '.join(command)} exited with {process.returncode}:\n"
                                 f"{errors.read().decode(errors='replace')[-3000:]}")
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"disco-pyserini serve did not answer /health within {timeout:.0f} s")
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as answer:
                    answer.read()
                result["health_seconds"] = time.perf_counter() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        body = json.dumps({"conversation": [["what is a lobster roll", None]], "modes": ["raw"], "k": 10})
        request = urllib.request.Request(url + "/search", body.encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            json.loads(answer.read())
        result["search_seconds"] = time.perf_counter() - started
    finally:
        if process.poll() is None:
            process.terminate()
        _, _, usage = os.wait4(process.pid, 0)
        errors.close()
    result["rss"] = usage.ru_maxrss * 1024
    return result


def fit_power(sizes: list[float], values: list[float]) -> tuple[float, float]:
    """``(a, c)`` of ``value = c * N ** a``, by least squares on log(value) against log(N)."""
    if len(sizes) < 2 or len(set(sizes)) < 2:
        raise ValueError(f"a fit needs at least two different sizes, got {sizes}")
    if min(values) <= 0:
        raise ValueError(f"a power law needs positive values, got {values}")
    a, b = np.polyfit(np.log(np.asarray(sizes, dtype=float)), np.log(np.asarray(values, dtype=float)), 1)
    return float(a), float(math.exp(b))


METRICS = {  # name: (what, unit, how to read it from one size's results)
    "index_seconds": ("indexing time, 1 index", "s", lambda r, k: r["index_single"]["wall"]),
    "index_bytes": ("index size on disk", "bytes", lambda r, k: r["index_single"]["bytes"]),
    "index_rss": ("indexing peak RSS", "bytes", lambda r, k: r["index_single"]["rss"]),
    "qps_ours": ("batch q/s, ours, K=none", "q/s", lambda r, k: r["qps"]["ours-single"]["None"]),
    "qps_pyserini": ("batch q/s, Pyserini, K=none", "q/s", lambda r, k: r["qps"]["pyserini-single"]["None"]),
    "qps_ours_k": ("batch q/s, ours, K={k}", "q/s", lambda r, k: r["qps"]["ours-single"][str(k)]),
    "qps_pyserini_k": ("batch q/s, Pyserini, K={k}", "q/s", lambda r, k: r["qps"]["pyserini-single"][str(k)]),
    "p50_ours": ("latency p50, ours, K=none", "ms", lambda r, k: r["latency"]["None"]["ours-single"]["p50_ms"]),
    "p95_ours": ("latency p95, ours, K=none", "ms", lambda r, k: r["latency"]["None"]["ours-single"]["p95_ms"]),
    "p50_ours_k": ("latency p50, ours, K={k}", "ms", lambda r, k: r["latency"][str(k)]["ours-single"]["p50_ms"]),
    "p95_ours_k": ("latency p95, ours, K={k}", "ms", lambda r, k: r["latency"][str(k)]["ours-single"]["p95_ms"]),
    "p95_pyserini": ("latency p95, Pyserini, K=none", "ms",
                     lambda r, k: r["latency"]["None"]["pyserini-single"]["p95_ms"]),
    "serve_health": ("serve start to first /health", "s", lambda r, k: r["serve"]["health_seconds"]),
    "serve_search": ("serve start to first /search", "s", lambda r, k: r["serve"]["search_seconds"]),
}


def latency_summary(latency: dict[str, Any]) -> dict[str, Any]:
    """p50 and p95 (ms) of every path at every K of a latency phase's result."""
    return {k: {path: {"p50_ms": percentile(found["latencies"], 50) * 1000,
                       "p95_ms": percentile(found["latencies"], 95) * 1000} for path, found in paths.items()}
            for k, paths in latency.items()}


def size_summary(results: dict[str, Any], queries: int) -> dict[str, Any]:
    """What the growth table reads from one size's results (numbers only, no latency lists)."""
    summary = {key: results[key] for key in ("index_single", "serve") if key in results}
    if "batch" in results:
        summary["qps"] = {path: {k: queries / timed["batch_seconds"] for k, timed in batch.items()
                                 if isinstance(timed, dict) and "batch_seconds" in timed}
                          for path, batch in results["batch"].items()}
        summary["latency"] = latency_summary(results["latency"])
    return summary


def growth_table(sizes: list[int], summaries: list[dict[str, Any]], k: int | None) -> dict[str, Any]:
    """Each metric at each size, its exponent ``a`` (value ∝ N^a) and its value extrapolated to MS MARCO
    passage; metrics absent at some size (search or serve skipped) are left out."""
    table: dict[str, Any] = {}
    for name, (what, unit, read) in METRICS.items():
        try:
            values = [float(read(summary, k)) for summary in summaries]
        except KeyError:
            continue
        row: dict[str, Any] = {"what": what.format(k=k), "unit": unit, "values": values}
        if len(set(sizes)) >= 2 and min(values) > 0:
            a, c = fit_power([float(n) for n in sizes], values)
            row.update(exponent=a, coefficient=c, ms_marco=c * MS_MARCO_PASSAGES ** a)
        if name in {"index_bytes"}:
            row["published"] = PUBLISHED[name]
        table[name] = row
    return table


def print_growth(sizes: list[int], table: dict[str, Any], load: list[float]) -> None:
    def show(value: float, unit: str) -> str:
        if unit == "bytes":
            return f"{value / 2**20:,.0f} MiB"
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"

    header = "".join(f"{n:>14,}" for n in sizes)
    print(f"\nHow each cost grows with N synthetic passages (value ∝ N^a, least squares on log-log); "
          f"extrapolated to MS MARCO passage ({MS_MARCO_PASSAGES:,}); load average {load[0]:.2f} -> {load[1]:.2f}")
    print(f"  {'':<34}{header}{'a':>8}  {'MS MARCO (fit)':>16}  published")
    for row in table.values():
        cells = "".join(f"{show(v, row['unit']):>14}" for v in row["values"])
        exponent = f"{row['exponent']:8.2f}" if "exponent" in row else f"{'-':>8}"
        extrapolated = f"{show(row['ms_marco'], row['unit']):>16}" if "ms_marco" in row else f"{'-':>16}"
        published = ""
        if "published" in row:
            published = f"{row['published'] / 1e9:.2f} GB (Anserini SPLADE++ ED)"
        print(f"  {row['what']:<34}{cells}{exponent}  {extrapolated}  {published}")


def plot_growth(sizes: list[int], table: dict[str, Any], path: str) -> None:
    """The measured points and fitted lines, on log-log axes out to MS MARCO passage's size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("indexing", ["index_seconds"]), ("index on disk", ["index_bytes"]), ("indexing peak RSS", ["index_rss"]),
              ("batch search", ["qps_ours", "qps_pyserini", "qps_ours_k", "qps_pyserini_k"]),
              ("one-query latency", ["p50_ours", "p95_ours", "p50_ours_k", "p95_ours_k", "p95_pyserini"]),
              ("serve start-up", ["serve_health", "serve_search"])]
    panels = [(title, [m for m in names if m in table]) for title, names in panels]
    panels = [(title, names) for title, names in panels if names]
    columns = min(3, max(1, len(panels)))
    rows = math.ceil(max(1, len(panels)) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    for axis in axes.flat[len(panels):]:
        axis.set_visible(False)
    line = np.geomspace(min(sizes), MS_MARCO_PASSAGES, 50)
    for axis, (title, names) in zip(axes.flat, panels):
        for name in names:
            row = table[name]
            scale = 2**30 if row["unit"] == "bytes" else 1
            label = row["what"]
            if len(names) > 1:  # the panel's title says the rest
                label = label.split(" ", 1)[1] if label.startswith("latency") else label.split(", ", 1)[-1]
            points = axis.loglog(sizes, np.array(row["values"]) / scale, "o", label=label)
            if "exponent" in row:
                axis.loglog(line, row["coefficient"] * line ** row["exponent"] / scale, "--",
                            color=points[0].get_color(), label=f"  a = {row['exponent']:.2f}")
            if "published" in row:
                axis.loglog([MS_MARCO_PASSAGES], [row["published"] / scale], "k*", markersize=10,
                            label="Anserini SPLADE++ ED")
        unit = table[names[0]]["unit"]
        axis.set_title(title)
        axis.set_xlabel("passages")
        axis.set_ylabel("GiB" if unit == "bytes" else unit)
        axis.axvline(MS_MARCO_PASSAGES, color="grey", linewidth=0.5)
        axis.legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, nargs="+", default=[1_000_000],
                        help="collection sizes, one run each (several: the growth table, fit and plot too)")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--query-max-terms", type=int, default=32,
                        help="the pruned K of the growth table (default: 32); added to --max-terms and "
                             "--batch-max-terms")
    parser.add_argument("--max-terms", default="none,32", help="K values of --query-max-terms (none: unpruned)")
    parser.add_argument("--batch-max-terms", default="none,32",
                        help="K values whose whole batch is searched for QPS and run comparison (default: none,32); "
                             "every --max-terms K gets the latency sample")
    parser.add_argument("--shard-max-terms", default="none",
                        help="K values searched on the shards too (default: none, the unpruned queries)")
    parser.add_argument("--no-search", action="store_true", help="generate and index only")
    parser.add_argument("--no-serve", action="store_true", help="do not time disco-pyserini serve's start-up")
    parser.add_argument("--queries", type=int, default=None, help="search only the first N queries (default: all)")
    parser.add_argument("--latency-queries", type=int, default=500)
    parser.add_argument("--docs-per-part", type=int, default=None,
                        help="default: 10,000, fewer where the shards x threads need more parts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--java-heap", default=None, help="-Xmx of every JVM (default: the JVM's own)")
    parser.add_argument("--work-dir", default=None,
                        help="the folder (created if missing) for each size's temporary collection and indexes")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--quick", action="store_true", help="20,000 passages, 500 queries, K in {16, none}")
    parser.add_argument("--measure", action="store_true", help=f"measure SPLADE-tiny on real text into {DISTRIBUTIONS}")
    parser.add_argument("--json", default=None,
                        help="the results as JSON (default with several sizes: benchmarks/results/scale.json)")
    parser.add_argument("--plot", default=None, help="the growth plot (default: the --json file with .png)")
    parser.add_argument("--phase", nargs=2, metavar=("NAME", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        name, path = args.phase
        result = PHASES[name](json.loads(Path(path).read_text(encoding="utf-8")))
        Path(path + ".result").write_text(json.dumps(result), encoding="utf-8")
        return 0
    if args.measure:
        measure(DISTRIBUTIONS, args.threads)
        print(f"wrote {DISTRIBUTIONS}")
        return 0
    if args.quick:
        args.documents, args.queries, args.latency_queries, args.max_terms = [20_000], 500, 100, "none,16"
        args.batch_max_terms, args.query_max_terms = "none,16", 16
    sizes = sorted(set(args.documents))
    if min(sizes) < 1:
        raise SystemExit(f"--documents {min(sizes)}: a collection needs at least one passage")
    ks = max_terms_list(args.max_terms)
    ks += [args.query_max_terms] if args.query_max_terms not in ks else []
    batch_ks = [k for k in max_terms_list(args.batch_max_terms) if k in ks]
    batch_ks += [args.query_max_terms] if args.query_max_terms not in batch_ks else []
    shard_ks = [k for k in max_terms_list(args.shard_max_terms) if k in ks] if args.shards > 1 else []
    if args.work_dir:
        os.makedirs(args.work_dir, exist_ok=True)

    from disco_pyserini.encode.quantize import prune
    from disco_pyserini.io.runs import pyserini_order
    from disco_pyserini.search.encoded_queries import read_encoded_queries

    encoded = read_encoded_queries(str(need(QUERIES)))
    qids = pyserini_order(encoded)
    if args.queries:
        qids = pyserini_order(random.Random(args.seed).sample(qids, args.queries))
    sample = random.Random(args.seed + 1).sample(qids, min(args.latency_queries, len(qids)))
    kept = {k: float(np.mean([len(prune(encoded[q], k)) for q in qids])) for k in ks}

    json_path = args.json or (str(REPO / "benchmarks" / "results" / "scale.json") if len(sizes) > 1 else None)
    load_before = os.getloadavg()
    summaries, every = [], {}
    for documents in sizes:
        results = measure_size(args, documents, ks, batch_ks, shard_ks, qids, sample)
        results["terms_kept"] = {str(k): v for k, v in kept.items()}
        print_report(args, documents, results, ks, len(qids), json_path if len(sizes) == 1 else None)
        summaries.append(size_summary(results, len(qids)))
        every[str(documents)] = results
    if len(sizes) == 1:
        return 0
    table = growth_table(sizes, summaries, args.query_max_terms)
    load = [load_before[0], os.getloadavg()[0]]
    print_growth(sizes, table, load)
    generated = every[str(sizes[-1])]["generate"]
    synthetic = {"mean_terms": generated["mean_terms"], "mean_impact": generated["mean_impact"],
                 "index_bytes_per_passage": table["index_bytes"]["values"][-1] / sizes[-1],
                 "published_bytes_per_passage": PUBLISHED["index_bytes"] / MS_MARCO_PASSAGES}
    print(f"  terms per synthetic passage {synthetic['mean_terms']:.1f} (SPLADE-tiny on real text), index "
          f"{synthetic['index_bytes_per_passage']:.0f} bytes per passage at {sizes[-1]:,}; Anserini's SPLADE++ ED "
          f"index {synthetic['published_bytes_per_passage']:.0f} bytes per passage")
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    plot = args.plot or str(Path(json_path).with_suffix(".png"))
    output = {"sizes": sizes, "query_max_terms": args.query_max_terms, "queries": len(qids), "hits": args.hits,
              "threads": args.threads, "cpus": os.cpu_count(), "load_average": load, "ms_marco_passages":
              MS_MARCO_PASSAGES, "published": PUBLISHED, "synthetic": synthetic, "growth": table,
              "per_size": summaries, "plot": plot}
    Path(json_path).write_text(json.dumps(output, indent=2), encoding="utf-8")
    plot_growth(sizes, table, plot)
    print(f"wrote {json_path} and {plot}")
    return 0


def measure_size(args: argparse.Namespace, documents: int, ks: list[int | None], batch_ks: list[int | None],
                 shard_ks: list[int | None], qids: list[str], sample: list[str]) -> dict[str, Any]:
    """Every measurement at one collection size, in a temporary folder removed afterwards (unless --keep)."""
    docs_per_part = args.docs_per_part or max(1, min(10_000, documents // (args.shards * args.threads * 2)))
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=args.work_dir))
    print(f"{documents:,} synthetic passages, {len(qids):,} queries, k={args.hits}, {args.threads} threads, "
          f"work in {work} (load {os.getloadavg()[0]:.2f})", flush=True)
    try:
        results = measure_all(args, documents, work, ks, batch_ks, shard_ks, qids, sample, docs_per_part)
        if not args.no_serve:
            before = os.getloadavg()
            results["serve"] = serve_startup(str(work / "index"), default_model(), args.java_heap)
            print(f"  serve start-up: first /health {results['serve']['health_seconds']:.1f} s, first /search "
                  f"{results['serve']['search_seconds']:.1f} s (load {before[0]:.2f} -> {os.getloadavg()[0]:.2f})",
                  flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = time.perf_counter() - started
    return results


def measure_all(args: argparse.Namespace, documents: int, work: Path, ks: list[int | None], batch_ks: list[int | None],
                shard_ks: list[int | None], qids: list[str], sample: list[str], docs_per_part: int) -> dict[str, Any]:
    collection, runs = str(work / "collection"), work / "runs"
    runs.mkdir()
    results: dict[str, Any] = {"load_before": os.getloadavg()}
    generated, wall, rss = run_phase("generate", {"collection": collection, "documents": documents,
                                                  "seed": args.seed, "docs_per_part": docs_per_part}, work)
    results["generate"] = {**generated, "wall": wall, "rss": rss, "bytes": folder_bytes(collection)}
    cli = str(Path(sys.executable).parent / "disco-pyserini")
    heap = ["--java-heap", args.java_heap] if args.java_heap else []
    indexes = {"single": str(work / "index"), "shards": str(work / f"index-{args.shards}")}
    for name, shards in (("single", 1), ("shards", args.shards))[:1 + (args.shards > 1)]:
        wall, rss = run_measured([cli, "-q", "index", "--collection", collection, "--index", indexes[name],
                                  "--threads", str(args.threads), "--index-shards", str(shards), *heap],
                                 f"disco-pyserini index --index-shards {shards}")
        results[f"index_{name}"] = {"wall": wall, "rss": rss, "bytes": folder_bytes(indexes[name])}
    if args.no_search:
        return {**results, "load_after": os.getloadavg()}
    common = {"queries_file": str(QUERIES), "queries": qids, "latency_sample": sample, "hits": args.hits,
              "threads": args.threads, "heap": args.java_heap, "runs": str(runs)}
    passes = [("ours-single", "search-ours", "single", batch_ks),
              ("pyserini-single", "search-pyserini", "single", batch_ks),
              ("ours-shards", "search-ours", "shards", [k for k in shard_ks if k in batch_ks])]
    results["batch"] = {}
    for name, phase, index, max_terms in passes:
        if max_terms:
            searched, wall, rss = run_phase(phase, {**common, "name": name, "index": indexes[index],
                                                    "max_terms": max_terms}, work)
            results["batch"][name] = {**searched, "wall": wall, "rss": rss}
    searched_indexes = {"single": indexes["single"], **({"shards": indexes["shards"]} if shard_ks else {})}
    results["latency"], wall, rss = run_phase("latency", {**common, "indexes": searched_indexes, "max_terms": ks,
                                                          "shard_max_terms": shard_ks}, work)
    results["identical"] = {str(k): compare(results, runs, str(k)) for k in ks}
    results["load_after"] = os.getloadavg()
    return results


def compare(results: dict[str, Any], runs: Path, k: str) -> dict[str, Any]:
    """Whether the paths that must agree do: ours and Pyserini's, the shards' and the single index's
    (their whole runs where both were written, and the hits of every query of the latency sample)."""
    def same(first: str, second: str) -> list[tuple[bool, str]]:
        checks = []
        a, b = runs / f"{first}-{k}.trec", runs / f"{second}-{k}.trec"
        if a.exists() and b.exists():
            checks.append((a.read_bytes() == b.read_bytes(), f"runs of {len(a.read_bytes().splitlines()):,} lines"))
        if second in results["latency"][k]:
            digests = results["latency"][k][first]["digests"], results["latency"][k][second]["digests"]
            checks.append((digests[0] == digests[1], f"hits of {len(digests[0])} single queries"))
        return checks

    return {"pyserini": same("ours-single", "pyserini-single"), "shards": same("ours-single", "ours-shards")}


def print_report(args: argparse.Namespace, documents: int, results: dict[str, Any], ks: list[int | None],
                 queries: int, json_path: str | None) -> None:
    g = results["generate"]
    mib = 1024 * 1024
    rows = [
        ("collection", f"{g['documents']:,} synthetic passages in {g['parts']} parts, {g['bytes'] / mib:,.0f} MiB, "
                       f"drawn in {g['wall']:.0f} s (peak RSS {g['rss'] / mib:.0f} MiB)"),
        ("  terms per passage", f"{g['mean_terms']:.1f} (SPLADE-tiny on real text: {g['measured_mean_terms']:.1f})"),
        ("  impact", f"mean {g['mean_impact']:.1f} (real: {g['measured_mean_impact']:.1f}); "
                     f"{g['mean_impact_sum']:,.0f} per passage"),
        ("  document frequency", f"top-100 tokens' share of documents within {g['top100_df_mean_relative_error']:.1%} "
                                 f"of the real one on average; top 5 (real, synthetic): {g['top5_df']}"),
        ("  vocabulary", f"{g['tokens_used']:,} tokens used; unseen share (Good-Turing) {g['unseen_share']:.2%}"),
    ]
    for name in ("single", "shards")[:1 + (args.shards > 1)]:
        r = results[f"index_{name}"]
        what = "1 index" if name == "single" else f"{args.shards} shards"
        rows.append((f"index, {what}", f"{r['wall']:.0f} s ({g['documents'] / r['wall']:,.0f} passages/s), "
                                       f"{r['bytes'] / mib:,.0f} MiB on disk, peak RSS {r['rss'] / mib:,.0f} MiB"))
    rows.append(("total", f"{results['seconds'] / 60:.1f} min, every phase included"))
    rows.append(("load average", f"{results['load_before'][0]:.2f} before, {results['load_after'][0]:.2f} after "
                                 f"({os.cpu_count()} CPUs)"))
    if args.no_search:
        report(f"Scale: {documents:,} synthetic SPLADE passages, indexing only", rows, results, json_path)
        return
    rows.append((f"search, {queries:,} queries, k={args.hits}", "QPS (batch, run written) | latency p50 / p95 "
                                                                 "(one query per call) | peak RSS of the process"))
    labels = {"ours-single": "ours, 1 index", "pyserini-single": "Pyserini, 1 index",
              "ours-shards": f"ours, {args.shards} shards"}
    for k in ks:
        rows.append((f"  K={k or 'none'}", f"{results['terms_kept'][str(k)]:.1f} terms per query"))
        for name, label in labels.items():
            timed = results["latency"][str(k)].get(name)
            if timed is None:
                continue
            timed["p50_ms"], timed["p95_ms"] = (percentile(timed["latencies"], q) * 1000 for q in (50, 95))
            batch = results["batch"].get(name, {})
            qps = f"{queries / batch[str(k)]['batch_seconds']:7.1f} q/s" if str(k) in batch else f"{'-':>7}    "
            rss = f"{batch['rss'] / mib:,.0f} MiB" if str(k) in batch else ""
            rows.append((f"    {label}", f"{qps} | {timed['p50_ms']:6.1f} / {timed['p95_ms']:6.1f} ms | {rss}"))
        checks = [f"{what}: {same} ({how})" for what, key in (("ours = Pyserini", "pyserini"),
                                                              (f"{args.shards} shards = 1 index", "shards"))
                  for same, how in results["identical"][str(k)][key]]
        rows.append(("    byte-identical", "; ".join(checks)))
    heaps = [batch["java_max_heap"] for batch in results["batch"].values()]
    if heaps:
        rows.append(("JVM", f"max heap {heaps[0] / 2**30:.1f} GiB ({args.java_heap or 'the JVM default'})"))
    report(f"Scale: {documents:,} synthetic SPLADE passages, MS MARCO dev queries (SPLADE++ ED)", rows,
           results, json_path)


if __name__ == "__main__":
    sys.exit(main())
