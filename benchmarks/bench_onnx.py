"""The onnx query backend against the torch one and Pyserini's path, side by side in one run.

    .venv/bin/python benchmarks/bench_onnx.py [--repeat 3] [--threads 2] [--hits 1000] [--docs 600]
                                              [--bert-base-texts 40] [--skip-pyserini]

Same index, topics, model, threads and k as benchmarks/bench_search.py (600 CACM abstracts
encoded with SPLADE-tiny; 320 multi-turn CACM conversations in DiSCo mode). Medians of
``--repeat``, every side in a fresh process. The ONNX export is made (and cached) before timing:
it is a one-off cost, printed separately.

1. Start-up: `disco-pyserini encode-queries` of a one-turn topics file, start to exit (an upper
   bound on the time from the command's start to its first query encoded), torch vs onnx.
2. Topics to run: `disco-pyserini search --backend onnx` and `--backend torch` against Pyserini's
   `LuceneImpactSearcher(index, SpladeQueryEncoder, min_idf=-1).batch_search` + TrecWriter.
3. Query encoding alone (model loaded, texts tokenized): tokens/s and GFLOP/s against the float32
   matmul peak measured in this run, SPLADE-tiny (320 conversations) and a BERT-base-shaped model
   (``--bert-base-texts`` of them), torch vs onnx.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from _common import (
    REPO,
    SPLADE_TINY,
    bert_base_splade,
    cacm_corpus,
    default_model,
    flops_per_text,
    matmul_peak,
    report,
    timed,
)
from bench_search import BASELINE, conversations


def run_process(command: list[str], threads: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{command[:3]} failed: {result.stderr[-2000:]}")


def encoding_speed(model: str, texts: list[str], threads: int, repeat: int) -> dict[str, dict[str, float]]:
    """tokens/s and GFLOP/s of each backend's forward on ``texts`` (already tokenized)."""
    from disco_pyserini.spec import EncoderSpec

    with open(Path(model) / "config.json", encoding="utf-8") as handle:
        config = SimpleNamespace(**json.load(handle))
    speeds = {}
    for backend in ("torch", "onnx"):
        encoder = EncoderSpec(model, side="query", threads=threads, backend=backend).build()
        token_ids = encoder.tokenize(texts)
        encoder.encode_token_ids(token_ids[:2])  # warm-up
        median, times, _ = timed(lambda encoder=encoder, token_ids=token_ids: encoder.encode_token_ids(token_ids),
                                 repeat)
        tokens = sum(map(len, token_ids))
        flops = sum(flops_per_text(config, len(ids)) for ids in token_ids)
        speeds[backend] = {"seconds": median, "times": times, "tokens_per_s": tokens / median,
                           "gflops": flops / median / 1e9, "texts": len(texts), "tokens": tokens}
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--bert-base-texts", type=int, default=40, help="0 skips the BERT-base-shaped model")
    parser.add_argument("--skip-pyserini", action="store_true")
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from disco_pyserini.collection import encode_collection
    from disco_pyserini.indexing import build_index
    from disco_pyserini.models import resolve_model
    from disco_pyserini.onnx_export import cached_export
    from disco_pyserini.spec import EncoderSpec
    from disco_pyserini.topics import write_topics

    torch.set_num_threads(args.threads)
    model = resolve_model(args.model, "query")
    work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    started = time.perf_counter()
    cached_export(model)
    export_seconds = time.perf_counter() - started
    corpus, documents = cacm_corpus(work, args.docs)
    encode_collection([str(corpus)], str(work / "collection"), EncoderSpec(model, threads=args.threads).build(),
                      progress=False)
    build_index(str(work / "collection"), str(work / "index"), threads=args.threads)
    index = str(work / "index")
    topics = conversations(documents)
    write_topics(topics, work / "topics.jsonl")
    write_topics(topics[:1], work / "one.jsonl")
    n = len(topics)
    script = str(Path(sys.executable).parent / "disco-pyserini")
    results: dict = {"threads": args.threads, "export_seconds": export_seconds}

    # 1. start-up
    for backend in ("torch", "onnx"):
        command = [script, "-q", "encode-queries", "--topics", str(work / "one.jsonl"), "--model", model, "--output",
                   str(work / f"one-{backend}.jsonl"), "--no-query-cache", "--backend", backend,
                   "--threads", str(args.threads)]
        results[f"startup_{backend}"] = timed(lambda command=command: run_process(command, args.threads),
                                              args.repeat)[:2]

    # 2. topics -> run
    def ours(backend: str) -> list[str]:
        return [script, "-q", "search", "--index", index, "--topics", str(work / "topics.jsonl"), "--model", model,
                "--output", str(work / f"{backend}.trec"), "--hits", str(args.hits), "--threads", str(args.threads),
                "--no-query-cache", "--run-tag", "Anserini", "--backend", backend]

    for backend in ("onnx", "torch"):
        results[f"run_{backend}"] = timed(lambda b=backend: run_process(ours(b), args.threads), args.repeat)[:2]
    if not args.skip_pyserini:
        baseline = [sys.executable, "-c", BASELINE, index, str(work / "topics.jsonl"), model,
                    str(work / "pyserini.trec"), str(args.hits), str(args.threads), "pyserini"]
        results["run_pyserini"] = timed(lambda: run_process(baseline, args.threads), args.repeat)[:2]
    same_runs = (work / "onnx.trec").read_bytes() == (work / "torch.trec").read_bytes()

    # 3. encoding speed against the matmul peak
    peak = matmul_peak("cpu")
    texts = [t.query_text("disco") for t in topics]
    results["peak_gflops"] = peak / 1e9
    results["encoding"] = {"SPLADE-tiny": encoding_speed(model, texts, args.threads, args.repeat)}
    if args.bert_base_texts:
        bert = bert_base_splade(work / "bert-base", SPLADE_TINY, seed=13)
        started = time.perf_counter()
        cached_export(str(bert))
        results["export_seconds_bert_base"] = time.perf_counter() - started
        results["encoding"]["BERT-base-shaped"] = encoding_speed(str(bert), texts[:args.bert_base_texts],
                                                                 args.threads, args.repeat)

    def t(name: str) -> str:
        median, times = results[name]
        return f"{median:.2f} s ({', '.join(f'{x:.2f}' for x in times)})"

    rows = [("one-off ONNX export (SPLADE-tiny)", f"{export_seconds:.1f} s (0 when cached)"),
            ("start to exit, 1 turn, torch", t("startup_torch")),
            ("start to exit, 1 turn, onnx", t("startup_onnx")),
            (f"topics -> run, {n} turns, onnx", t("run_onnx")),
            (f"topics -> run, {n} turns, torch", t("run_torch"))]
    if "run_pyserini" in results:
        rows.append((f"topics -> run, {n} turns, Pyserini", t("run_pyserini")))
        rows.append(("onnx vs Pyserini", f"{results['run_pyserini'][0] / results['run_onnx'][0]:.2f}x"))
    rows.append(("onnx vs torch", f"{results['run_torch'][0] / results['run_onnx'][0]:.2f}x"))
    rows.append(("runs onnx == torch", "byte-identical" if same_runs else "differ (see measure_onnx_equality.py)"))
    rows.append(("float32 matmul peak", f"{peak / 1e9:.0f} GFLOP/s"))
    for label, speeds in results["encoding"].items():
        for backend, s in speeds.items():
            rows.append((f"encoding {label}, {backend}",
                         f"{s['texts']} texts, {s['tokens_per_s']:.0f} tokens/s, {s['gflops']:.1f} GFLOP/s "
                         f"({s['gflops'] / (peak / 1e9):.0%} of peak), {s['seconds']:.2f} s"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report(f"onnx query backend (threads {args.threads}, median of {args.repeat}, load average {load:.1f})", rows,
           results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
