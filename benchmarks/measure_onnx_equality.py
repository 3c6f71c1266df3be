"""How far the onnx query backend is from the torch one: integer query vectors and runs, counted.

    .venv/bin/python benchmarks/measure_onnx_equality.py [--bert-base-limit N] [--docs N] [--threads 2]

1. Integer query vectors (scale 100, the disco query mode: the flattened conversation) of every turn
   of the four TREC CAsT topic sets and of the bundled sample, torch vs ONNX Runtime, for SPLADE-tiny
   and a model of SPLADE++'s shape (BERT-base, random weights, benchmarks/_common.py): how many
   impacts differ, by how much, and how many of those sit at a rounding boundary
   (``|w × scale - (n + 0.5)| < 1e-3`` on the torch side), and the largest float difference.
   ``--bert-base-limit`` encodes only the first N turns of each set with BERT-base (it is ~50x
   slower than SPLADE-tiny; 0 skips it; default: all).
2. Runs: CAsT 2019's 479 turns searched at k=1000 with each backend's queries (SPLADE-tiny) in an
   index of the CAsT 2021/2022 canonical passages (real web passages; ``--docs`` of them): lines
   and queries that differ, and whether every differing query had a differing integer vector.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
from _common import CAST_TOPIC_SETS, cast_passages, cast_topics, default_model, report

BOUNDARY = 1e-3


def compare(torch_encoder, onnx_encoder, texts: list[str], scale: float) -> dict:
    """Counts of differing impacts between the two encoders' vectors of ``texts``."""
    ids = torch_encoder.tokenize(texts)
    if onnx_encoder.tokenize(texts) != ids:
        raise SystemExit("the tokenizers disagree: see tests/test_onnx_backend.py")
    counts = {"texts": len(texts), "tokens": sum(map(len, ids)), "impacts": 0, "differ": 0, "differ_by_more_than_1": 0,
              "differ_off_boundary": 0, "queries_differing": 0, "max_abs_float_difference": 0.0}
    for a, b in zip(torch_encoder.encode_token_ids(ids), onnx_encoder.encode_token_ids(ids)):
        dense_a = np.zeros(len(torch_encoder.vocabulary))
        dense_b = np.zeros_like(dense_a)
        dense_a[a.indices], dense_b[b.indices] = a.weights, b.weights
        counts["max_abs_float_difference"] = max(counts["max_abs_float_difference"],
                                                 float(np.abs(dense_a - dense_b).max()))
        impacts_a, impacts_b = np.round(dense_a * scale), np.round(dense_b * scale)
        counts["impacts"] += int((impacts_a > 0).sum())
        apart = np.flatnonzero(impacts_a != impacts_b)
        counts["differ"] += len(apart)
        counts["queries_differing"] += bool(len(apart))
        counts["differ_by_more_than_1"] += int((np.abs(impacts_a - impacts_b)[apart] > 1).sum())
        fraction = dense_a[apart] * scale - np.floor(dense_a[apart] * scale)
        counts["differ_off_boundary"] += int((np.abs(fraction - 0.5) >= BOUNDARY).sum())
    return counts


def topic_sets() -> dict[str, list]:
    from disco_pyserini.io.topics import read_topics
    from disco_pyserini.pipeline.demo import sample_path

    sets = {name: cast_topics(name) for name in CAST_TOPIC_SETS}
    sets["sample"] = read_topics(sample_path("topics.jsonl"))
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--bert-base-limit", type=int, default=None)
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from _common import SPLADE_TINY, bert_base_splade

    from disco_pyserini.encode.backends import build_encoder
    from disco_pyserini.encode.spec import EncoderSpec

    work = Path(tempfile.mkdtemp(prefix="measure-onnx-"))
    sets = topic_sets()
    models = {"SPLADE-tiny": args.model}
    if args.bert_base_limit != 0:
        models["BERT-base-shaped"] = str(bert_base_splade(work / "bert-base", SPLADE_TINY, seed=13))
    rows, results = [], {"cpu": platform.processor() or platform.machine(), "vectors": {}}
    for label, model in models.items():
        torch_encoder = build_encoder(EncoderSpec(model, side="query", threads=args.threads, backend="torch"))
        onnx_encoder = build_encoder(EncoderSpec(model, side="query", threads=args.threads, backend="onnx"))
        limit = args.bert_base_limit if label != "SPLADE-tiny" else None
        for name, topics in sets.items():
            texts = [t.query_text("disco") for t in topics][:limit]
            counts = compare(torch_encoder, onnx_encoder, texts, 100)
            results["vectors"][f"{label}/{name}"] = counts
            rows.append((f"{label:<16} {name:<9}",
                         f"{counts['texts']:>4} turns {counts['impacts']:>7} impacts: {counts['differ']:>3} differ "
                         f"({counts['differ_by_more_than_1']} by >1, {counts['differ_off_boundary']} off a rounding "
                         f"boundary) in {counts['queries_differing']} queries; max |dw| "
                         f"{counts['max_abs_float_difference']:.1e}"))

    rows.append(("runs", runs(args, work, models["SPLADE-tiny"], sets["cast2019"], results)))
    report(f"torch vs onnx (CPU: {results['cpu']}, threads {args.threads})", rows, results, args.json)


def runs(args: argparse.Namespace, work: Path, model: str, topics: list, results: dict) -> str:
    """CAsT 2019 searched at k=1000 with each backend's queries; what differs, counted."""
    import json

    from disco_pyserini.cli import main as cli
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.io.topics import write_topics
    from disco_pyserini.search.queries import QueryEncoding

    passages = cast_passages()[:args.docs]
    corpus = work / "passages.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"p{i}", "contents": text}) + "\n"
                              for i, text in enumerate(passages)), encoding="utf-8")
    write_topics(topics, work / "cast2019.jsonl")
    assert cli(["-q", "encode", "--corpus", str(corpus), "--model", model, "--output", str(work / "collection")]) == 0
    assert cli(["-q", "index", "--collection", str(work / "collection"), "--index", str(work / "index")]) == 0
    lines = {}
    for backend in ("torch", "onnx"):
        run = work / f"{backend}.trec"
        assert cli(["-q", "search", "--index", str(work / "index"), "--topics", str(work / "cast2019.jsonl"),
                    "--model", model, "--output", str(run), "--hits", "1000", "--no-query-cache",
                    "--backend", backend, "--threads", str(args.threads)]) == 0
        lines[backend] = run.read_text().splitlines()
    texts = [t.query_text("disco") for t in topics]
    vectors = {b: QueryEncoding(EncoderSpec(model, side="query", threads=args.threads, backend=b)).encode_many(texts)
               for b in ("torch", "onnx")}
    vector_differs = {t.query_id for t, a, b in zip(topics, vectors["torch"], vectors["onnx"]) if a != b}
    by_query = {b: {} for b in lines}
    for backend, run_lines in lines.items():
        for line in run_lines:
            by_query[backend].setdefault(line.split()[0], []).append(line)
    run_differs = {q for q in by_query["torch"] | by_query["onnx"]
                   if by_query["torch"].get(q) != by_query["onnx"].get(q)}
    unexplained = run_differs - vector_differs
    results["runs"] = {"documents": len(passages), "queries": len(topics), "lines": len(lines["torch"]),
                       "identical": lines["torch"] == lines["onnx"], "queries_whose_run_differs": len(run_differs),
                       "queries_whose_vector_differs": len(vector_differs), "unexplained": len(unexplained),
                       "lines_differing": sum(a != b for a, b in zip(lines["torch"], lines["onnx"]))}
    r = results["runs"]
    return (f"CAsT 2019, {r['queries']} turns, k=1000, {r['documents']} CAsT passages: "
            + ("runs byte-identical" if r["identical"] else
               f"{r['lines_differing']} of {r['lines']} lines differ, in {r['queries_whose_run_differs']} queries "
               f"({r['unexplained']} without a differing integer query)"))


if __name__ == "__main__":
    main()
