"""Search speed against Pyserini and Anserini, measured side by side in one run.

    .venv/bin/python benchmarks/bench_search.py [--repeat 3] [--threads 2] [--hits 1000] [--docs 600]
        [--backend torch|onnx]

Our query side runs on ``--backend`` (default ``torch``, the PyTorch encoder whose figures
docs/performance.md reports from this script; ``onnx``, the CPU default of the commands since,
is compared with torch and Pyserini by ``benchmarks/bench_onnx.py``).

Index: the first 600 CACM abstracts encoded with SPLADE-tiny (built once, in a temporary folder).
Topics: 320 multi-turn conversations, each a CACM topic asked after 1-3 earlier CACM topics
answered by CACM abstracts (seeded), searched in DiSCo mode (the flattened conversation): about
46,600 tokens, queries of a few hundred terms. Same model, index, topics, threads and k on every
side.

1. Topics to run, each side in a fresh Python process (start-up is part of what a user waits for):
   - ours: `disco-pyserini search` (batched encoding, cold query cache; Anserini's SearchCollection
     searches and writes the run in Java);
   - Pyserini: `LuceneImpactSearcher(index, SpladeQueryEncoder, min_idf=-1).batch_search` (its
     encoder one query per call), the run written with Pyserini's TrecWriter.
2. Search and run writing only, on the same encoded queries, in one warm JVM:
   - the ceiling: Anserini's `SearchCollection` alone on a topics file written beforehand
     (`-impact -pretokenized`, as Anserini's SPLADE regressions run it);
   - ours: `search_to_run` (writes that topics file, searches, counts the run, writes its metadata);
   - for reference, hits through Python: `batch_search` + the run written in Python (the path
     before), and Pyserini's `LuceneImpactSearcher.batch_search` + TrecWriter.
3. The query side of ours, in parts: model loading, flattening and tokenization, the forward
   (FLOPs of the model over the real tokens, GFLOP/s), quantization.
Every run compared must be byte-identical; the script says so.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CACM, REPO, cacm_corpus, default_model, flops_per_text, need, report, timed

BASELINE = r'''
import sys
from pyserini.search.lucene import LuceneImpactSearcher
from pyserini.encode import SpladeQueryEncoder
from pyserini.output_writer import TrecWriter
from disco_pyserini.io.runs import pyserini_order
from disco_pyserini.io.topics import read_topics
index, topics_path, model, output, hits, threads, kind, backend = sys.argv[1:9]
texts = {t.query_id: t.query_text("disco") for t in read_topics(topics_path)}
qids = pyserini_order(texts)
if kind == "pyserini":
    encoder = SpladeQueryEncoder(model, device="cpu")
else:  # ours, in Pyserini's one-query-per-call role: the run must be ours byte for byte
    from disco_pyserini import DiscoQueryEncoder
    encoder = DiscoQueryEncoder(model, threads=int(threads), backend=backend)
searcher = LuceneImpactSearcher(index, encoder, min_idf=-1)
results = searcher.batch_search([texts[q] for q in qids], qids, k=int(hits), threads=int(threads))
with TrecWriter(output, max_hits=int(hits), tag="Anserini") as writer:
    for q in qids:
        writer.write(q, results[q])
'''


def conversations(documents, count: int = 320, seed: int = 7) -> list:
    """CACM topics asked after 1-3 earlier CACM topics answered by CACM abstracts."""
    from disco_pyserini.datasets.cacm import read_cacm_topics
    from disco_pyserini.io.topics import Topic

    questions = [t.query_text("raw") for t in read_cacm_topics(str(need(CACM / "topics.cacm.txt")))]
    rng = random.Random(seed)
    topics = []
    for number in range(1, count + 1):
        earlier = [(rng.choice(questions), rng.choice(documents).text) for _ in range(rng.randint(1, 3))]
        topics.append(Topic(str(number), (*earlier, (questions[number % len(questions)], None))))
    return topics


def run_process(command: list[str], threads: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="our query encoder's runtime (default: torch, as docs/performance.md reports)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from disco_pyserini.encode.backends import build_encoder
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.encode.models import resolve_model
    from disco_pyserini.encode.quantize import to_impacts
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.index.lucene import build_index
    from disco_pyserini.io.runs import write_run
    from disco_pyserini.io.topics import write_topics
    from disco_pyserini.java import import_pyserini_search
    from disco_pyserini.search import java_runs
    from disco_pyserini.search.queries import QueryEncoding
    from disco_pyserini.search.searcher import ImpactSearcher, prepare_queries, search_to_run

    torch.set_num_threads(args.threads)
    model = resolve_model(args.model, "query")
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    corpus, documents = cacm_corpus(work, args.docs)
    encode_collection([str(corpus)], str(work / "collection"), build_encoder(EncoderSpec(model, threads=args.threads)),
                      progress=False)
    build_index(str(work / "collection"), str(work / "index"), threads=args.threads)
    index = str(work / "index")
    topics = conversations(documents)
    write_topics(topics, work / "topics.jsonl")
    n = len(topics)

    # 1. topics -> run, fresh processes
    ours_cmd = [str(Path(sys.executable).parent / "disco-pyserini"), "-q", "search", "--index", index, "--topics",
                str(work / "topics.jsonl"), "--model", model, "--output", str(work / "ours.trec"), "--hits",
                str(args.hits), "--threads", str(args.threads), "--no-query-cache", "--run-tag", "Anserini",
                "--backend", args.backend]

    def baseline(kind: str) -> list[str]:
        return [sys.executable, "-c", BASELINE, index, str(work / "topics.jsonl"), model, str(work / f"{kind}.trec"),
                str(args.hits), str(args.threads), kind, args.backend]

    ours_time, ours_times, _ = timed(lambda: run_process(ours_cmd, args.threads), args.repeat)
    base_time, base_times, _ = timed(lambda: run_process(baseline("pyserini"), args.threads), args.repeat)
    call_time, call_times, _ = timed(lambda: run_process(baseline("per-call"), args.threads), args.repeat)
    same_end_to_end = (work / "ours.trec").read_bytes() == (work / "per-call.trec").read_bytes()

    # 3. the query side, in parts (before 2: the encoded queries are 2's input)
    started = time.perf_counter()
    encoding = QueryEncoding(EncoderSpec(model, side="query", threads=args.threads, backend=args.backend))
    load = time.perf_counter() - started
    splade = encoding.splade
    started = time.perf_counter()
    token_ids = splade.tokenize([t.query_text("disco") for t in topics])
    tokenize = time.perf_counter() - started
    forward, _, vectors = timed(lambda: splade.encode_token_ids(token_ids), args.repeat)
    started = time.perf_counter()
    impacts = [to_impacts(v.indices, v.weights, splade.vocabulary, encoding.scale) for v in vectors]
    quantize = time.perf_counter() - started
    tokens = sum(len(ids) for ids in token_ids)
    if args.backend == "torch":
        config = splade.model.config
    else:  # the export's graph has no config: the source model's
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model)
    flops = sum(flops_per_text(config, len(ids)) for ids in token_ids)
    terms = sum(len(v) for v in impacts) / n

    # 2. search and run writing on the same encoded queries, warm JVM
    searcher = ImpactSearcher(index)
    queries = prepare_queries(searcher, topics, encoding)
    assert [v for _, v in queries] == [impacts[int(q) - 1] for q, _ in queries]
    topics_tsv = work / "queries.tsv"
    with open(topics_tsv, "w", encoding="utf-8") as handle:
        for qid, vector in queries:
            handle.write(f"{qid}\t" + " ".join(" ".join([t] * w) for t, w in vector.items()) + "\n")
    java_runs.write_run(index, queries[:5], str(work / "warm.trec"), hits=args.hits, threads=args.threads,
                        tag="Anserini")  # the first SearchCollection in a JVM pays for class loading

    def ceiling() -> None:
        java_runs._search_collection(index, str(topics_tsv), str(work / "anserini.trec"), "TsvInt", args.hits,
                                     args.threads, "Anserini")

    def ours() -> None:
        search_to_run(searcher, queries, str(work / "search-to-run.trec"), tag="Anserini", hits=args.hits,
                      threads=args.threads, description={})

    def through_python() -> None:
        hits = searcher.batch_search([v for _, v in queries], [q for q, _ in queries], args.hits, args.threads)
        write_run(work / "through-python.trec", [(q, hits[q]) for q, _ in queries], "Anserini")

    lucene = import_pyserini_search()
    from pyserini.output_writer import TrecWriter

    by_id = dict(queries)

    class Lookup:  # a pre-encoded-query encoder, like Pyserini's cached one, keyed by query id
        def encode(self, qid: str) -> dict[str, int]:
            return by_id[qid]

    pyserini_searcher = lucene.LuceneImpactSearcher(index, Lookup(), min_idf=-1)
    qids = [q for q, _ in queries]

    def pyserini() -> None:
        results = pyserini_searcher.batch_search(qids, qids, k=args.hits, threads=args.threads)
        with TrecWriter(str(work / "pyserini-search.trec"), max_hits=args.hits, tag="Anserini") as writer:
            for qid in qids:
                writer.write(qid, results[qid])

    timings = {}
    for name, function in (("ceiling", ceiling), ("ours", ours), ("through_python", through_python),
                           ("pyserini", pyserini)):
        timings[name] = timed(function, args.repeat)[:2]
    reference = (work / "anserini.trec").read_bytes()
    same_search = all((work / name).read_bytes() == reference for name in (
        "search-to-run.trec", "through-python.trec", "pyserini-search.trec", "ours.trec"))

    def t(name: str) -> str:
        median, times = timings[name]
        return f"{median:.2f} s, {n / median:.0f} turns/s ({[round(x, 2) for x in times]} s)"

    rows = [
        ("topics", f"{n} conversations (1-3 earlier turns) over {len(documents)} CACM abstracts, disco mode; "
                   f"{tokens:,} tokens, {terms:.0f} terms per query; k={args.hits}; {args.threads} threads"),
        ("1. topics -> run, fresh processes", ""),
        ("  Pyserini (SpladeQueryEncoder)", f"{n / base_time:.1f} turns/s ({[round(x, 1) for x in base_times]} s)"),
        ("  Pyserini (DiscoQueryEncoder)", f"{n / call_time:.1f} turns/s ({[round(x, 1) for x in call_times]} s)"),
        ("  disco-pyserini search", f"{n / ours_time:.1f} turns/s ({[round(x, 1) for x in ours_times]} s)"),
        ("  ratio", f"{base_time / ours_time:.2f}x Pyserini's encoder, {call_time / ours_time:.2f}x ours one per call "
                    f"(runs identical to the latter: {same_end_to_end}; Pyserini's encoder quantizes at 51.2)"),
        ("2. search + run writing, same encoded queries", ""),
        ("  Anserini SearchCollection (ceiling)", t("ceiling")),
        ("  ours: search_to_run", t("ours")),
        ("  hits through Python (before)", t("through_python")),
        ("  Pyserini batch_search + TrecWriter", t("pyserini")),
        ("  ours / ceiling", f"{timings['ours'][0] / timings['ceiling'][0]:.3f} (all runs identical: {same_search})"),
        ("3. query side of ours", ""),
        ("  model loading", f"{load:.2f} s"),
        ("  flattening + tokenization", f"{tokenize:.2f} s"),
        ("  forward (SPLADE weights)",
         f"{forward:.2f} s: {flops / 1e9:.0f} GFLOP, {flops / forward / 1e9:.0f} GFLOP/s"),
        ("  quantization", f"{quantize:.2f} s"),
    ]
    results = {"turns": n, "documents": len(documents), "threads": args.threads, "hits": args.hits, "tokens": tokens,
               "terms_per_query": terms, "pyserini_turns_per_s": n / base_time, "per_call_turns_per_s": n / call_time,
               "ours_turns_per_s": n / ours_time,
               "end_to_end_ratio": base_time / ours_time, "end_to_end_identical": same_end_to_end,
               **{f"{name}_seconds": median for name, (median, _) in timings.items()},
               "ours_over_ceiling": timings["ours"][0] / timings["ceiling"][0], "search_identical": same_search,
               "model_load_seconds": load, "tokenize_seconds": tokenize, "forward_seconds": forward,
               "forward_gflop": flops / 1e9, "quantize_seconds": quantize}
    report("Search (same model, index, topics, k and threads)", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
