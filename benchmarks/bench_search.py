"""Turns/s from a topics file to a TREC run, and search-only queries/s, vs Pyserini, same run.

    .venv/bin/python benchmarks/bench_search.py [--repeat 3] [--threads 2] [--hits 1000]

Index: all 3,204 CACM abstracts encoded with SPLADE-tiny (built once, in a temporary folder).

1. Topics to run. Topics: the 479 turns of TREC CAsT 2019 (from ../shared), DiSCo mode (the
   flattened conversation). Each side runs in a fresh Python process, timed from start to the
   written run, because start-up is part of what a user waits for:
   - ours: `disco-pyserini search` (batched encoding, Anserini's threaded batch search);
   - Pyserini: `LuceneImpactSearcher(index, encoder, min_idf=-1).batch_search(...)` with
     Pyserini's own `SpladeQueryEncoder` (one query per call, as Pyserini does), the run written
     with Pyserini's TrecWriter; also with our `DiscoQueryEncoder` in the same one-per-call role.
2. Search only: the same pre-encoded queries (MS MARCO dev, SPLADE++, as Anserini distributes
   them; BERT vocabulary like SPLADE-tiny) searched into a run by `search_topics` and by Pyserini's
   `LuceneImpactSearcher.batch_search` + TrecWriter; the difference is our overhead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import CAST, REPO, SHARED, cacm_corpus, default_model, need, report, timed

BASELINE = r'''
import sys, json
from disco_pyserini.java import import_pyserini_search
lucene = import_pyserini_search()
from pyserini.output_writer import TrecWriter
index, topics_path, model, output, hits, threads, kind = sys.argv[1:8]
from disco_pyserini.topics import read_topics
from disco_pyserini.runs import pyserini_order
topics = read_topics(topics_path)
import torch
device = "cuda" if torch.cuda.is_available() else "cpu"
if kind == "pyserini":
    from pyserini.encode import SpladeQueryEncoder
    encoder = SpladeQueryEncoder(model, device=device)
else:
    from disco_pyserini import DiscoQueryEncoder
    encoder = DiscoQueryEncoder(model, threads=int(threads))
searcher = lucene.LuceneImpactSearcher(index, encoder, min_idf=-1)
texts = {t.query_id: t.query_text("disco") for t in topics}
qids = pyserini_order(texts)
results = searcher.batch_search([texts[q] for q in qids], qids, k=int(hits), threads=int(threads))
with TrecWriter(output, max_hits=int(hits), tag="Anserini") as writer:
    for q in qids:
        writer.write(q, results[q])
'''


def run_process(command: list[str], threads: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hits", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=2000, help="pre-encoded queries for the search-only part")
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from disco_pyserini.collection import encode_collection
    from disco_pyserini.datasets.conversational import convert_topics
    from disco_pyserini.encoded_queries import read_encoded_queries
    from disco_pyserini.indexing import build_index
    from disco_pyserini.java import import_pyserini_search
    from disco_pyserini.models import resolve_model
    from disco_pyserini.runs import pyserini_order
    from disco_pyserini.search import ImpactSearcher, search_topics, write_search_run
    from disco_pyserini.splade import SpladeEncoder
    from disco_pyserini.topics import Topic, write_topics

    model = resolve_model(args.model, "query")
    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    corpus, _ = cacm_corpus(work)
    encode_collection([str(corpus)], str(work / "collection"), SpladeEncoder(model, threads=args.threads),
                      progress=False)
    build_index(str(work / "collection"), str(work / "index"), threads=args.threads)
    index = str(work / "index")
    topics = convert_topics("cast2019", [str(need(CAST / "2019" / "evaluation_topics_v1.0.json"))])
    write_topics(topics, work / "topics.jsonl")
    n = len(topics)

    ours_cmd = [str(Path(sys.executable).parent / "disco-pyserini"), "-q", "search", "--index", index, "--topics",
                str(work / "topics.jsonl"), "--model", model, "--output", str(work / "ours.trec"), "--hits",
                str(args.hits), "--threads", str(args.threads), "--no-query-cache", "--run-tag", "Anserini"]

    def baseline(kind: str) -> list[str]:
        return [sys.executable, "-c", BASELINE, index, str(work / "topics.jsonl"), model,
                str(work / f"{kind}.trec"), str(args.hits), str(args.threads), kind]

    ours_time, ours_times, _ = timed(lambda: run_process(ours_cmd, args.threads), args.repeat)
    base_time, base_times, _ = timed(lambda: run_process(baseline("pyserini"), args.threads), args.repeat)
    percall_time, percall_times, _ = timed(lambda: run_process(baseline("disco-per-call"), args.threads),
                                           args.repeat)
    identical = (work / "ours.trec").read_bytes() == (work / "disco-per-call.trec").read_bytes()

    # search only, same pre-encoded queries
    source = need(SHARED / "data" / "msmarco-splade-pp-ed" / "topics.msmarco-passage.dev-subset.splade-pp-ed.tsv.gz")
    encoded = dict(list(read_encoded_queries(str(source)).items())[: args.queries])
    pre_topics = [Topic(qid, (("(pre-encoded)", None),)) for qid in encoded]
    searcher = ImpactSearcher(index)

    def ours_search() -> None:
        results = search_topics(searcher, pre_topics, None, hits=args.hits, threads=args.threads, encoded=encoded)
        write_search_run(str(work / "pre-ours.trec"), results, tag="Anserini", description={})

    lucene = import_pyserini_search()
    from pyserini.output_writer import TrecWriter

    class Lookup:  # a pre-encoded-query encoder, like Pyserini's cached one, keyed by query id
        def encode(self, qid: str) -> dict[str, int]:
            return encoded[qid]

    pyserini_searcher = lucene.LuceneImpactSearcher(index, Lookup(), min_idf=-1)
    qids = pyserini_order(encoded)

    def raw_search() -> None:
        results = pyserini_searcher.batch_search(qids, qids, k=args.hits, threads=args.threads)
        with TrecWriter(str(work / "pre-raw.trec"), max_hits=args.hits, tag="Anserini") as writer:
            for qid in qids:
                writer.write(qid, results[qid])

    raw_time, raw_times, _ = timed(raw_search, args.repeat)
    pre_time, pre_times, _ = timed(ours_search, args.repeat)
    same_runs = (work / "pre-ours.trec").read_bytes() == (work / "pre-raw.trec").read_bytes()

    rows = [("topics", f"{n} TREC CAsT 2019 turns, disco mode; index of 3,204 CACM abstracts; k={args.hits}; "
                       f"{args.threads} threads"),
            ("Pyserini (SpladeQueryEncoder)", f"{n / base_time:.1f} turns/s ({[round(t, 1) for t in base_times]} s)"),
            ("Pyserini (DiscoQueryEncoder)", f"{n / percall_time:.1f} turns/s "
                                             f"({[round(t, 1) for t in percall_times]} s)"),
            ("disco-pyserini search", f"{n / ours_time:.1f} turns/s ({[round(t, 1) for t in ours_times]} s)"),
            ("  ratio", f"{base_time / ours_time:.2f}x Pyserini's encoder, {percall_time / ours_time:.2f}x "
                        f"one-per-call DiscoQueryEncoder (runs identical: {identical})"),
            ("search only", f"{len(encoded)} pre-encoded MS MARCO dev queries (SPLADE++)"),
            ("  Pyserini batch_search", f"{len(encoded) / raw_time:.1f} queries/s "
                                        f"({[round(t, 2) for t in raw_times]} s)"),
            ("  search_topics", f"{len(encoded) / pre_time:.1f} queries/s ({[round(t, 2) for t in pre_times]} s)"),
            ("  overhead", f"{pre_time / raw_time - 1:+.1%} (runs identical: {same_runs})")]
    results = {"turns": n, "threads": args.threads, "hits": args.hits,
               "pyserini_turns_per_s": n / base_time, "per_call_turns_per_s": n / percall_time,
               "ours_turns_per_s": n / ours_time, "ratio": base_time / ours_time,
               "ratio_per_call": percall_time / ours_time, "runs_identical": identical,
               "search_only_queries": len(encoded), "raw_queries_per_s": len(encoded) / raw_time,
               "ours_queries_per_s": len(encoded) / pre_time, "overhead": pre_time / raw_time - 1,
               "search_only_runs_identical": same_runs}
    report("Search (same index, topics, k and threads)", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
