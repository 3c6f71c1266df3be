"""Quality of pruned queries on real conversations: TREC CAsT with SPLADE-tiny, per K against no pruning.

    .venv/bin/python experiments/prune_cast.py [--work runs/distill-cast] [--k 8 16 32 64 128] [--backend torch|onnx]

Reads what `make distill-cast` leaves in its work folder: the index (CAsT 2021 canonical passages,
CAsT 2022 responses and CACM), the 198 test turns of the held-apart conversations with their
judgments, and the distilled model. For each query model and mode — SPLADE-tiny on the flattened
conversation (`disco`) and on the manual rewrite, and the distilled DiSCo SPLADE-tiny on the
flattened conversation — every turn is searched with its K heaviest terms (`--query-max-terms K`)
and with all of them, and evaluated with the `disco` protocol (MRR, nDCG@3, R@10, R@100; graded
judgments, relevance >= 2). Also printed: the mean number of terms searched and the search time
(2 threads, k=1000; queries encoded beforehand and the JVM warmed up, so the time is Lucene's).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(REPO / "runs" / "distill-cast"),
                        help="the work folder of experiments/distill_cast.py (default: runs/distill-cast)")
    parser.add_argument("--k", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--model", default="splade-tiny")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="the query encoders' runtime (default: torch, that of the figures in docs/)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    import json

    from disco_pyserini.encode.quantize import prune
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.eval.evaluate import PROTOCOLS, evaluate_run
    from disco_pyserini.io.runs import read_qrels, read_run
    from disco_pyserini.io.topics import read_topics
    from disco_pyserini.search.queries import QueryEncoding
    from disco_pyserini.search.searcher import ImpactSearcher, prepare_queries, search_to_run

    work = Path(args.work)
    needed = [work / "index", work / "test.jsonl", work / "test.qrels", work / "model"]
    if not all(path.exists() for path in needed):
        sys.exit(f"{work} lacks what `make distill-cast` writes ({', '.join(p.name for p in needed)}): run it first")
    topics = read_topics(str(work / "test.jsonl"))
    qrels = read_qrels(str(work / "test.qrels"))
    protocol = PROTOCOLS["disco"]
    searcher = ImpactSearcher(str(work / "index"))
    warm = [(t.query_id, {"the": 1}) for t in topics]  # the JVM's first searches run unoptimised code
    for _ in range(3):
        search_to_run(searcher, warm, str(work / "prune.warm-up.trec"), tag="warm", description={})
    rows, figures = [], []
    for label, model, mode in (("SPLADE-tiny, disco", args.model, "disco"),
                               ("SPLADE-tiny, rewrite", args.model, "rewrite"),
                               ("DiSCo SPLADE-tiny, disco", str(work / "model"), "disco")):
        encoding = QueryEncoding(EncoderSpec(model, side="query", threads=args.threads, backend=args.backend))
        whole = prepare_queries(searcher, topics, encoding, mode=mode)
        for k in [None, *args.k]:
            queries = [(qid, prune(vector, k)) for qid, vector in whole]
            output = work / f"prune.{mode}.{Path(model).name}.{k or 'all'}.trec"
            started = time.perf_counter()
            search_to_run(searcher, queries, str(output), tag="prune", hits=1000, threads=args.threads,
                          description={"query_max_terms": k})
            seconds = time.perf_counter() - started
            result = evaluate_run(qrels, read_run(output), protocol.metrics, rel_threshold=protocol.threshold(qrels))
            terms = sum(len(v) for _, v in queries) / len(queries)
            figures.append({"run": label, "k": k, "terms": terms, "seconds": seconds, **result["mean"]})
            rows.append(f"| {label} | {k or 'all'} | {terms:.0f} | " + " | ".join(
                f"{result['mean'][m]:.4f}" for m in protocol.metrics) + f" | {seconds:.2f} |")
    print("| run | K | terms | " + " | ".join(protocol.metrics) + " | search s |")
    print("|---|---:|---:|" + "---:|" * len(protocol.metrics) + "---:|")
    print("\n".join(rows))
    print(f"\n{len(topics)} test turns of held-apart CAsT 2021-2022 conversations; {len(qrels)} judged; "
          f"relevance >= {protocol.threshold(qrels)}; k=1000, {args.threads} threads")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
