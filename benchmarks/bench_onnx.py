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
from typing import Any

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


def encoding_speed(model: str, texts: list[str], threads: int, repeat: int, *, side: str = "query",
                   int8: bool = True) -> dict[str, dict[str, float]]:
    """tokens/s and GFLOP/s of each backend's forward on ``texts`` (already tokenized); with
    ``int8``, also the onnx backend's int8 graph (queries only)."""
    from disco_pyserini.encode.backends import build_encoder
    from disco_pyserini.encode.spec import EncoderSpec

    with open(Path(model) / "config.json", encoding="utf-8") as handle:
        config = SimpleNamespace(**json.load(handle))
    speeds = {}
    variants = [("torch", "torch", "auto"), ("onnx", "onnx", "auto")]
    if int8:
        variants.append(("onnx-int8", "onnx", "int8"))
    for name, backend, precision in variants:
        encoder = build_encoder(EncoderSpec(model, side=side, threads=threads, backend=backend,  # type: ignore[arg-type]
                                            precision=precision))  # type: ignore[arg-type]
        token_ids = encoder.tokenize(texts)
        encoder.encode_token_ids(token_ids[:2])  # warm-up
        median, times, _ = timed(lambda encoder=encoder, token_ids=token_ids: encoder.encode_token_ids(token_ids),
                                 repeat)
        tokens = sum(map(len, token_ids))
        flops = sum(flops_per_text(config, len(ids)) for ids in token_ids)
        speeds[name] = {"seconds": median, "times": times, "tokens_per_s": tokens / median,
                           "gflops": flops / median / 1e9, "texts": len(texts), "tokens": tokens}
    return speeds


def session_variants(model: str, texts: list[str], threads: int, repeat: int) -> dict[str, dict[str, float]]:
    """ONNX Runtime's CPU settings on the onnx backend's graph, each text alone as the backend runs
    it: graph optimisation levels, thread counts, spinning, the transformer optimiser
    (``onnxruntime.transformers.optimizer``, model_type bert) and int8 dynamic quantization. Rounds
    alternate the variants (their order does not favour one under a varying load); per variant the
    median seconds, and against the default session (what ``OnnxEncoder`` runs) the largest float
    difference and how many integer impacts (scale 100) differ."""
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.transformers import optimizer

    from disco_pyserini.encode.onnx_encoder import load_tokenizer
    from disco_pyserini.encode.onnx_export import GRAPH, cached_export, int8_graph

    folder = cached_export(model)
    token_ids = [encoding.ids for encoding in load_tokenizer(folder, 256).encode_batch(texts)]
    with open(Path(model) / "config.json", encoding="utf-8") as handle:
        config = json.load(handle)
    scratch = Path(tempfile.mkdtemp(prefix="bench-onnx-variants-"))
    fused = optimizer.optimize_model(str(folder / GRAPH), model_type="bert", num_heads=config["num_attention_heads"],
                                     hidden_size=config["hidden_size"], opt_level=0)
    fused_ops = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
    fused.save_model_to_file(str(scratch / "fused.onnx"))
    level = ort.GraphOptimizationLevel

    def session(path: Path, optimisation: Any = level.ORT_ENABLE_ALL, intra: int = threads,
                spinning: bool = True) -> Any:
        options = ort.SessionOptions()
        options.graph_optimization_level = optimisation
        options.intra_op_num_threads = intra
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    graph = folder / GRAPH
    sessions = {f"default (ENABLE_ALL, {threads} threads, spinning)": session(graph),
                "ENABLE_EXTENDED": session(graph, level.ORT_ENABLE_EXTENDED),
                "ENABLE_BASIC": session(graph, level.ORT_ENABLE_BASIC),
                "1 thread": session(graph, intra=1),
                "no spinning": session(graph, spinning=False),
                f"transformer optimiser ({', '.join(f'{k} {v}' for k, v in fused_ops.items()) or 'nothing fused'})":
                    session(scratch / "fused.onnx"),
                "int8 dynamic quantization": session(int8_graph(folder))}

    def run(s: Any) -> Any:
        rows = []
        for ids in token_ids:
            input_ids = np.asarray([ids], dtype=np.int64)
            rows.append(s.run(None, {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)})[0][0])
        return np.stack(rows)

    outputs = {name: run(s) for name, s in sessions.items()}  # warm-up, and the outputs compared
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(repeat):
        for name, s in sessions.items():
            started = time.perf_counter()
            run(s)
            times[name].append(time.perf_counter() - started)
    reference = next(iter(outputs.values()))
    impacts = np.rint(reference * 100)
    results = {}
    for name, weights in outputs.items():
        results[name] = {"seconds": float(np.median(times[name])), "times": times[name],
                         "max_abs_difference": float(np.abs(weights - reference).max()),
                         "impacts_differ": int((np.rint(weights * 100) != impacts).sum()),
                         "impacts": int((impacts > 0).sum()), "texts": len(texts),
                         "tokens": sum(map(len, token_ids))}
    shutil.rmtree(scratch, ignore_errors=True)
    return results


def int8_quality(work: Path, model: str, threads: int) -> dict[str, Any]:
    """nDCG@3 and MRR of the onnx backend's float32 and int8 query graphs on the held-apart CAsT
    conversations of ``make distill-cast`` (its split, corpus and judgments, built by
    ``experiments/distill_cast.py``'s ``build_split``), DiSCo mode (the flattened conversation), with
    ``model`` (SPLADE-tiny) as the query and document encoder: the cost of int8 measured on what
    ``distill-cast`` measures. Also how many of the test turns' integer impacts differ."""
    sys.path.insert(0, str(REPO / "experiments"))
    from distill_cast import build_split

    from disco_pyserini.cli import main as cli
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.eval.evaluate import evaluate_run, get_protocol
    from disco_pyserini.io.runs import read_qrels, read_run
    from disco_pyserini.search.queries import QueryEncoding

    _, _, test = build_split(work, seed=13)
    threads_option = ["--threads", str(threads)]
    if not (work / "index" / "disco_index.json").exists():
        for argv in (["encode", "--corpus", str(work / "corpus.jsonl"), "--model", model, "--output",
                      str(work / "collection"), "--overwrite", *threads_option],
                     ["index", "--collection", str(work / "collection"), "--index", str(work / "index"),
                      "--overwrite", *threads_option]):
            if cli(["-q", *argv]) != 0:
                raise SystemExit(f"disco-pyserini {argv[0]} failed")
    qrels = read_qrels(work / "test.qrels")
    protocol = get_protocol("disco")
    results: dict[str, Any] = {"turns": len(test), "conversations": len({t.query_id.split("_")[0] for t in test})}
    for precision in ("float32", "int8"):
        output = work / f"test.onnx-{precision}.trec"
        if cli(["-q", "search", "--index", str(work / "index"), "--topics", str(work / "test.jsonl"), "--model", model,
                "--query-mode", "disco", "--backend", "onnx", "--precision", precision, "--output", str(output),
                "--hits", "1000", "--no-query-cache", *threads_option]) != 0:
            raise SystemExit("disco-pyserini search failed")
        evaluation = evaluate_run(qrels, read_run(output), protocol.metrics,
                                  rel_threshold=protocol.threshold(qrels))
        results[precision] = {"ndcg_cut_3": evaluation["mean"]["ndcg_cut_3"],
                              "recip_rank": evaluation["mean"]["recip_rank"],
                              "recall_100": evaluation["mean"]["recall_100"]}
    texts = [t.query_text("disco") for t in test]
    vectors = {p: QueryEncoding(EncoderSpec(model, side="query", backend="onnx", precision=p)).encode_many(texts)
               for p in ("float32", "int8")}  # type: ignore[arg-type]
    differ = total = 0
    for a, b in zip(vectors["float32"], vectors["int8"]):
        terms = set(a) | set(b)
        total += len(terms)
        differ += sum(a.get(term) != b.get(term) for term in terms)
    results["impacts"] = {"terms": total, "differ": differ}
    return results


def extra_sections(args: argparse.Namespace, model: str, documents: list[Any], topics: list[Any],
                   results: dict[str, Any]) -> list[tuple[str, str]]:
    """The sections --documents, --session-options and --int8-quality ask for; their report rows."""
    rows: list[tuple[str, str]] = []
    if args.documents:
        texts = [document.text for document in documents[:args.documents]]
        speeds = encoding_speed(model, texts, args.threads, args.repeat, side="document", int8=False)
        bert = bert_base_splade(Path(tempfile.mkdtemp(prefix="bench-onnx-bert-")), SPLADE_TINY, seed=13)
        results["documents"] = {"SPLADE-tiny": speeds,
                                "BERT-base-shaped": encoding_speed(str(bert), texts[:max(1, args.documents // 15)],
                                                                   args.threads, args.repeat, side="document",
                                                                   int8=False)}
        shutil.rmtree(bert, ignore_errors=True)
        for label, by_backend in results["documents"].items():
            for backend, s in by_backend.items():
                rows.append((f"documents {label}, {backend}",
                             f"{s['texts']} texts, {s['tokens']} tokens, {s['tokens_per_s']:.0f} tokens/s, "
                             f"{s['seconds']:.2f} s"))
    if args.session_options:
        texts = [t.query_text("disco") for t in topics]
        results["session_options"] = session_variants(model, texts, args.threads, args.repeat)
        for name, s in results["session_options"].items():
            rows.append((f"onnx session: {name}",
                         f"{s['seconds']:.2f} s ({', '.join(f'{x:.2f}' for x in s['times'])}), "
                         f"{s['tokens'] / s['seconds']:.0f} tokens/s; max |diff| {s['max_abs_difference']:.1e}, "
                         f"{s['impacts_differ']} of {s['impacts']} impacts differ"))
    if args.int8_quality:
        quality = results["int8_quality"] = int8_quality(Path(args.int8_quality), model, args.threads)
        for precision in ("float32", "int8"):
            q = quality[precision]
            rows.append((f"held-apart CAsT, {quality['turns']} turns, onnx {precision}",
                         f"nDCG@3 {q['ndcg_cut_3']:.4f}, MRR {q['recip_rank']:.4f}, R@100 {q['recall_100']:.4f}"))
        rows.append(("int8 vs float32 impacts", f"{quality['impacts']['differ']} of {quality['impacts']['terms']} "
                                                f"terms differ"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--docs", type=int, default=600)
    parser.add_argument("--bert-base-texts", type=int, default=40, help="0 skips the BERT-base-shaped model")
    parser.add_argument("--skip-pyserini", action="store_true")
    parser.add_argument("--documents", type=int, default=0, metavar="N",
                        help="also time the document side, torch vs onnx, on N CACM abstracts (0: skip)")
    parser.add_argument("--session-options", action="store_true",
                        help="also compare ONNX Runtime's CPU settings on the 320 conversations (SPLADE-tiny)")
    parser.add_argument("--int8-quality", metavar="WORK", default=None,
                        help="also measure int8's ranking quality on the held-apart CAsT conversations of "
                             "`make distill-cast`, its data built in WORK")
    parser.add_argument("--only-extra", action="store_true",
                        help="run only the sections asked for by --documents, --session-options, --int8-quality")
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from disco_pyserini.encode.backends import build_encoder
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.encode.models import resolve_model
    from disco_pyserini.encode.onnx_export import cached_export
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.index.lucene import build_index
    from disco_pyserini.io.topics import write_topics

    torch.set_num_threads(args.threads)
    model = resolve_model(args.model, "query")
    work = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    started = time.perf_counter()
    cached_export(model)
    export_seconds = time.perf_counter() - started
    corpus, documents = cacm_corpus(work, args.docs)
    topics = conversations(documents)
    if args.only_extra:
        results: dict = {"threads": args.threads}
        rows = extra_sections(args, model, documents, topics, results)
        load = os.getloadavg()
        report(f"onnx extras (threads {args.threads}, median of {args.repeat}, load averages "
               f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f})", rows, results, args.json)
        shutil.rmtree(work, ignore_errors=True)
        return
    encode_collection([str(corpus)], str(work / "collection"), build_encoder(EncoderSpec(model, threads=args.threads)),
                      progress=False)
    build_index(str(work / "collection"), str(work / "index"), threads=args.threads)
    index = str(work / "index")
    write_topics(topics, work / "topics.jsonl")
    write_topics(topics[:1], work / "one.jsonl")
    n = len(topics)
    script = str(Path(sys.executable).parent / "disco-pyserini")
    results = {"threads": args.threads, "export_seconds": export_seconds}

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
    rows += extra_sections(args, model, documents, topics, results)
    load = os.getloadavg()
    report(f"onnx query backend (threads {args.threads}, median of {args.repeat}, load averages "
           f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f})", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
