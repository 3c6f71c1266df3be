"""The GPU check: exactness and speed of encoding and search on one CUDA device, under 5 minutes.

    benchmarks/gpu_check.sh [--json FILE] [--batch-size 128] [--threads N]
    benchmarks/gpu_check.sh --cpu-smoke          the same steps on CPU, on a handful of documents

Without CUDA (and without ``--cpu-smoke``) it says so and exits 0, having measured nothing.

1. Exactness. CACM's 3,204 documents (title and abstract, from ../shared) encoded with SPLADE-tiny
   on the GPU twice: the padded bfloat16 path (``SpladeEncoder(exact=False)``, precision bfloat16,
   what ``encode`` does on CUDA) and the float32 per-text path (``exact=True``, what it does on
   CPU). Compared: the share of identical integer impacts (scale 100) over the (document, term)
   pairs that either path gives a non-zero impact, the share of documents with identical vectors,
   and nDCG@10 of the CACM topics searched (k=1000) on a Lucene index of each collection, the
   queries encoded the same way for both (float32, per text). The check fails (exit status 1) when
   the two nDCG@10 differ by more than 0.005.
2. Documents/s, tokens/s, useful TFLOP/s (the forward FLOPs of the real tokens, output layer
   included) and peak GPU memory (``torch.cuda.max_memory_allocated``, weights included) of both
   paths, for SPLADE-tiny and for a model of SPLADE++'s shape and FLOPs: BERT-base, random weights
   (``_common.bert_base_splade``), the same tokenizer, the same documents. Timed from token ids to
   sparse vectors on the CPU, after a warm-up batch; tokenizing is timed apart.
3. Turns/s: the 479 turns of TREC CAsT 2019 (../shared), disco mode (the flattened conversation),
   queries encoded on the GPU (the default CUDA path: padded, bfloat16) with SPLADE-tiny and
   searched (k=1000) on the bfloat16 CACM index; encoding and search timed apart.

Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import CACM, CAST, bert_base_splade, cacm_corpus, default_model, flops_per_text, matmul_peak, need

NDCG_TOLERANCE = 0.005
TIME_LIMIT_S = 300


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def measure_encoding(encoder: Any, texts: list[str], device: str) -> dict[str, Any]:
    """Encode ``texts`` once to warm up on a batch, then all of them, timed; returns the figures
    and the vectors."""
    import torch

    started = time.perf_counter()
    token_ids = encoder.tokenize(texts)
    tokenize_s = time.perf_counter() - started
    encoder.encode_token_ids(token_ids[: encoder.batch_size])
    synchronize(device)
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    vectors = encoder.encode_token_ids(token_ids)
    synchronize(device)
    seconds = time.perf_counter() - started
    tokens = sum(len(ids) for ids in token_ids)
    flops = sum(flops_per_text(encoder.model.config, len(ids)) for ids in token_ids)
    return {"documents": len(texts), "tokens": tokens, "seconds": seconds, "tokenize_seconds": tokenize_s,
            "docs_per_s": len(texts) / seconds, "tokens_per_s": tokens / seconds, "tflop_per_s": flops / seconds / 1e12,
            "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None,
            "batch_size": encoder.batch_size, "precision": encoder.precision, "exact": encoder.exact,
            "vectors": vectors}


def impact_agreement(encoder: Any, first: list[Any], second: list[Any], scale: float) -> dict[str, float]:
    """Share of identical integer impacts over the (document, term) pairs either side gives a
    non-zero impact; share of documents whose impact vectors are identical; share within 1."""
    from disco_pyserini.encode.quantize import to_impacts

    pairs = same = near = same_docs = 0
    for a, b in zip(first, second):
        x = to_impacts(a.indices, a.weights, encoder.vocabulary, scale)
        y = to_impacts(b.indices, b.weights, encoder.vocabulary, scale)
        terms = x.keys() | y.keys()
        pairs += len(terms)
        same += sum(x.get(t, 0) == y.get(t, 0) for t in terms)
        near += sum(abs(x.get(t, 0) - y.get(t, 0)) <= 1 for t in terms)
        same_docs += x == y
    return {"pairs": pairs, "identical_impacts": same / pairs, "impacts_within_1": near / pairs,
            "identical_documents": same_docs / len(first)}


def cacm_ndcg(work: Path, name: str, corpus: Path, encoder: Any, encoding: Any, topics: list[Any], qrels: Any,
              threads: int) -> tuple[float, str]:
    """nDCG@10 of the CACM topics on a Lucene index of ``corpus`` encoded with ``encoder``."""
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.eval.evaluate import evaluate_run
    from disco_pyserini.index.lucene import build_index
    from disco_pyserini.io.runs import run_from_results
    from disco_pyserini.search.searcher import ImpactSearcher, search_topics

    encode_collection([str(corpus)], str(work / f"{name}-collection"), encoder, progress=False)
    build_index(str(work / f"{name}-collection"), str(work / f"{name}-index"), threads=threads)
    searcher = ImpactSearcher(str(work / f"{name}-index"))
    results = search_topics(searcher, topics, encoding, mode="raw", hits=1000, threads=threads)
    evaluation = evaluate_run(qrels, run_from_results(dict(results)), ["ndcg_cut_10"])
    return evaluation["mean"]["ndcg_cut_10"], str(work / f"{name}-index")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run every step on CPU on a handful of documents and turns (checks the script, "
                             "measures nothing worth reporting)")
    parser.add_argument("--batch-size", type=int, default=None, help="texts per batch (default: 128 on CUDA, 8 on CPU)")
    parser.add_argument("--threads", type=int, default=min(16, os.cpu_count() or 1),
                        help="Lucene indexing and search threads (default: the CPUs, at most 16)")
    parser.add_argument("--model", default=default_model(), help="the small model (default: SPLADE-tiny)")
    parser.add_argument("--json", default="gpu_check.json", help="where the figures go (default: %(default)s)")
    args = parser.parse_args()

    import torch

    if args.cpu_smoke:
        device, documents_limit, turns_limit, topics_limit = "cpu", 24, 12, 8
    elif torch.cuda.is_available():
        device, documents_limit, turns_limit, topics_limit = "cuda", None, None, None
    else:
        print("gpu_check: CUDA is not available here, so the GPU check has not run and nothing was measured "
              "(benchmarks/gpu_check.sh --cpu-smoke runs its steps on CPU on a few documents).")
        return 0
    batch_size = args.batch_size or (128 if device == "cuda" else 8)
    if device == "cpu":  # one thread: a 2-thread torch on a busy small machine can run 20 times slower
        torch.set_num_threads(1)
    started = time.perf_counter()

    from disco_pyserini.datasets.cacm import read_cacm_topics
    from disco_pyserini.datasets.conversational import convert_topics
    from disco_pyserini.encode.models import resolve_model
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.encode.splade import SpladeEncoder
    from disco_pyserini.io.runs import read_qrels
    from disco_pyserini.search.queries import QueryEncoding
    from disco_pyserini.search.searcher import ImpactSearcher, search_topics

    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        corpus, documents = cacm_corpus(work, documents_limit)
        texts = [d.text for d in documents]
        cacm_topics = read_cacm_topics(str(need(CACM / "topics.cacm.txt")))[:topics_limit]
        judged = read_qrels(need(CACM / "qrels.cacm.txt"))
        qrels = {t.query_id: judged[t.query_id] for t in cacm_topics if t.query_id in judged}
        cast = convert_topics("cast2019", [str(need(CAST / "2019" / "evaluation_topics_v1.0.json"))])[:turns_limit]
        tiny = resolve_model(args.model, "document")
        results: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                                   "torch": torch.__version__, "cpu_smoke": args.cpu_smoke, "batch_size": batch_size,
                                   "threads": args.threads, "documents": len(texts)}
        # the bfloat16 matmul peak of the GPU (on CPU float32, skipped in the smoke run: it takes long there)
        results["matmul_peak_tflop_per_s"] = None if args.cpu_smoke else matmul_peak(device) / 1e12

        def encoder(model: str, exact: bool, side: str = "document") -> SpladeEncoder:
            spec = EncoderSpec(model, side=side, device=device, batch_size=batch_size,
                               precision="float32" if exact else "bfloat16")
            return SpladeEncoder(spec, exact=exact)

        # 1. exactness, and SPLADE-tiny's speed
        speed: dict[str, dict[str, Any]] = {}
        padded, per_text = encoder(tiny, exact=False), encoder(tiny, exact=True)
        speed["splade-tiny padded bfloat16"] = measure_encoding(padded, texts, device)
        speed["splade-tiny per-text float32"] = measure_encoding(per_text, texts, device)
        agreement = impact_agreement(padded, speed["splade-tiny padded bfloat16"]["vectors"],
                                     speed["splade-tiny per-text float32"]["vectors"], padded.spec.scale)
        queries = QueryEncoding(encoder(resolve_model(args.model, "query"), exact=True, side="query"))
        ndcg_padded, index = cacm_ndcg(work, "padded", corpus, padded, queries, cacm_topics, qrels, args.threads)
        ndcg_per_text, _ = cacm_ndcg(work, "per-text", corpus, per_text, queries, cacm_topics, qrels, args.threads)
        exact_ok = abs(ndcg_padded - ndcg_per_text) <= NDCG_TOLERANCE
        results["exactness"] = {**agreement, "ndcg_cut_10_padded_bfloat16": ndcg_padded,
                                "ndcg_cut_10_per_text_float32": ndcg_per_text, "topics": len(cacm_topics),
                                "within_tolerance": exact_ok, "tolerance": NDCG_TOLERANCE}
        del padded, per_text

        # 2. a model of SPLADE++'s shape
        base = bert_base_splade(work / "bert-base", tiny, seed=0)
        for exact, label in ((False, "bert-base padded bfloat16"), (True, "bert-base per-text float32")):
            model = encoder(str(base), exact=exact)
            speed[label] = measure_encoding(model, texts, device)
            del model
            if device == "cuda":
                torch.cuda.empty_cache()
        for figures in speed.values():
            figures.pop("vectors")
        results["encoding"] = speed

        # 3. query encoding and search
        searcher = ImpactSearcher(index)
        turns = QueryEncoding(EncoderSpec(resolve_model(args.model, "query"), side="query", device=device,
                                          backend="torch", batch_size=batch_size))
        turns.encode_topics(cast[:batch_size], "disco")  # warm-up
        synchronize(device)
        began = time.perf_counter()
        vectors = turns.encode_topics(cast, "disco")
        synchronize(device)
        encoded_s = time.perf_counter() - began
        began = time.perf_counter()
        hits = search_topics(searcher, cast, None, hits=1000, threads=args.threads,
                             encoded={t.query_id: v for t, v in zip(cast, vectors)})
        searched_s = time.perf_counter() - began
        results["turns"] = {"turns": len(cast), "precision": turns.splade.precision, "encode_seconds": encoded_s,
                            "search_seconds": searched_s, "turns_per_s": len(cast) / (encoded_s + searched_s),
                            "encode_turns_per_s": len(cast) / encoded_s, "search_turns_per_s": len(cast) / searched_s,
                            "mean_terms": sum(len(v) for v in vectors) / len(vectors),
                            "hits": sum(len(h) for _, h in hits)}
        results["total_seconds"] = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_report(results)
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    print(f"\nfigures written to {args.json}")
    if args.cpu_smoke:
        return 0
    return 0 if results["exactness"]["within_tolerance"] and results["total_seconds"] < TIME_LIMIT_S else 1


def print_report(results: dict[str, Any]) -> None:
    exact = results["exactness"]
    peak = results["matmul_peak_tflop_per_s"]
    title = "GPU check" + (" (CPU smoke run: a handful of documents, figures not meaningful)"
                           if results["cpu_smoke"] else "")
    print(f"\n{title}: {results['device']}, torch {results['torch']}, batch {results['batch_size']}, "
          f"{results['documents']} CACM documents; matmul peak "
          f"{'n/a' if peak is None else f'{peak:.0f}'} TFLOP/s")
    print("\n1. padded bfloat16 vs per-text float32 (SPLADE-tiny)")
    print(f"  identical integer impacts   {exact['identical_impacts']:.2%} of {exact['pairs']} (document, term) pairs "
          f"({exact['impacts_within_1']:.2%} within 1)")
    print(f"  identical documents         {exact['identical_documents']:.2%}")
    print(f"  nDCG@10 ({exact['topics']} topics)       padded bfloat16 {exact['ndcg_cut_10_padded_bfloat16']:.4f}, "
          f"per-text float32 {exact['ndcg_cut_10_per_text_float32']:.4f}: "
          f"{'within' if exact['within_tolerance'] else 'NOT within'} {exact['tolerance']}")
    print("\n2. document encoding")
    print(f"  {'model and path':<30} {'docs/s':>9} {'tokens/s':>10} {'TFLOP/s':>8} {'of peak':>8} {'peak GPU MiB':>13}")
    for label, figures in results["encoding"].items():
        memory = "n/a" if figures["peak_gpu_mib"] is None else f"{figures['peak_gpu_mib']:.0f}"
        share = "n/a" if peak is None else f"{figures['tflop_per_s'] / peak:.1%}"
        print(f"  {label:<30} {figures['docs_per_s']:>9.1f} {figures['tokens_per_s']:>10.0f} "
              f"{figures['tflop_per_s']:>8.2f} {share:>8} {memory:>13}")
    turns = results["turns"]
    print(f"\n3. query encoding + search: {turns['turns']} CAsT 2019 turns, disco mode, k=1000, "
          f"{turns['precision']} queries of {turns['mean_terms']:.0f} terms on average")
    print(f"  {turns['turns_per_s']:.1f} turns/s (encoding {turns['encode_turns_per_s']:.1f}/s, "
          f"search {turns['search_turns_per_s']:.1f}/s)")
    print(f"\ntotal {results['total_seconds']:.0f} s (limit {TIME_LIMIT_S} s)")


if __name__ == "__main__":
    sys.exit(main())
