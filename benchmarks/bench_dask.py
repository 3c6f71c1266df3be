"""Encoding and searching on a local Dask cluster (1 and 2 workers) beside the plain path, same run.

    .venv/bin/python benchmarks/bench_dask.py [--docs 3204] [--repeat 3] [--shards 4]

Encoding: all three encode the same CACM abstracts with SPLADE-tiny. The plain path is `disco-pyserini
encode` in this process with 2 threads; each Dask worker is a spawned process with 1 thread (so
the collections are byte-identical only where 1 and 2 threads round every impact alike: the
script says whether they are). Times include everything after the cluster is up (reading and
checking the corpus, model loading in the workers, encoding, writing); the cluster's start is
reported apart.

Searching: the collection indexed in `--shards` shards; 320 multi-turn conversations (as in
bench_search.py), encoded once, searched at k=1000 in this process (the shards one after another,
2 Java threads each) and on the cluster (each worker keeps its shards open; 1 Java thread per
task); the runs must be byte-identical. Turns/s of the search alone, after one warm-up search on
each side (the first search of a JVM runs unoptimised code).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import cacm_corpus, default_model, report, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from disco_pyserini.cluster.encode import connect, encode_with_dask
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.encode.models import resolve_model
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.encode.splade import SpladeEncoder

    model = resolve_model(args.model, "document")
    work = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    corpus, documents = cacm_corpus(work, args.docs)
    n = len(documents)
    encoder = SpladeEncoder(model, threads=2)

    def plain() -> None:
        shutil.rmtree(work / "plain", ignore_errors=True)
        encode_collection([str(corpus)], str(work / "plain"), encoder, docs_per_part=200, progress=False)

    plain_time, plain_times, _ = timed(plain, args.repeat)
    rows = [("documents", f"{n} CACM abstracts, parts of 200"),
            ("plain, 2 threads", f"{n / plain_time:.1f} docs/s ({[round(t, 1) for t in plain_times]} s)")]
    results = {"documents": n, "plain_docs_per_s": n / plain_time}
    for workers in (1, 2):
        started = time.perf_counter()
        client = connect(None, workers, 1)
        client.wait_for_workers(workers)
        start_up = time.perf_counter() - started

        def dask(workers: int = workers, client=client) -> None:
            shutil.rmtree(work / f"dask{workers}", ignore_errors=True)
            encode_with_dask([str(corpus)], str(work / f"dask{workers}"), EncoderSpec(model, threads=1),
                             client=client, docs_per_part=200, progress=False)

        dask_time, dask_times, _ = timed(dask, args.repeat)
        client.close()
        client.cluster.close()
        same = all((work / f"dask{workers}" / "vectors" / p.name).read_bytes() == p.read_bytes()
                   for p in (work / "plain" / "vectors").iterdir())
        rows.append((f"Dask, {workers} worker(s)", f"{n / dask_time:.1f} docs/s ({[round(t, 1) for t in dask_times]} s;"
                                                   f" cluster start {start_up:.1f} s; identical: {same})"))
        results[f"dask{workers}_docs_per_s"] = n / dask_time
        results[f"dask{workers}_identical"] = same
    rows += search_rows(work, documents, args, results)
    report("Dask encoding and search (local cluster on 127.0.0.1)", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


def search_rows(work: Path, documents: list, args: argparse.Namespace, results: dict) -> list[tuple[str, str]]:
    from bench_search import conversations

    from disco_pyserini.cluster.encode import connect
    from disco_pyserini.cluster.search import search_with_dask
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.index.lucene import build_index
    from disco_pyserini.io.runs import write_run
    from disco_pyserini.search.queries import QueryEncoding
    from disco_pyserini.search.searcher import ShardedSearcher, prepare_queries

    index = work / "index"
    build_index(str(work / "plain"), str(index), threads=2, shards=args.shards)
    searcher = ShardedSearcher([str(index)])
    topics = conversations(documents)
    queries = prepare_queries(searcher, topics, QueryEncoding(EncoderSpec(args.model, side="query", threads=2)))
    n = len(queries)
    paths = [shard.index for shard in searcher.shards]

    def in_process() -> None:
        searcher.write_run(queries, str(work / "in-process.trec"), k=1000, threads=2, tag="t")

    in_process()
    plain_time, plain_times, _ = timed(in_process, args.repeat)
    rows = [("search", f"{n} conversations, k=1000, {args.shards} shards"),
            ("in this process, 2 threads", f"{n / plain_time:.1f} turns/s ({[round(t, 1) for t in plain_times]} s)")]
    results.update({"search_turns": n, "search_shards": args.shards, "search_in_process_turns_per_s": n / plain_time})
    for workers in (1, 2):
        client = connect(None, workers, 1)
        client.wait_for_workers(workers)

        def dask(client=client, workers: int = workers) -> None:
            hits = search_with_dask(client, paths, queries, k=1000, threads=1)
            write_run(work / f"dask{workers}.trec", [(q, hits[q]) for q, _ in queries], "t")

        dask()
        dask_time, dask_times, _ = timed(dask, args.repeat)
        client.close()
        client.cluster.close()
        same = (work / f"dask{workers}.trec").read_bytes() == (work / "in-process.trec").read_bytes()
        rows.append((f"Dask search, {workers} worker(s)",
                     f"{n / dask_time:.1f} turns/s ({[round(t, 1) for t in dask_times]} s; identical: {same})"))
        results[f"search_dask{workers}_turns_per_s"] = n / dask_time
        results[f"search_dask{workers}_identical"] = same
    return rows


if __name__ == "__main__":
    main()
