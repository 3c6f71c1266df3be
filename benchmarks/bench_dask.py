"""Encoding throughput on a local Dask cluster (1 and 2 workers) beside the plain path, same run.

    .venv/bin/python benchmarks/bench_dask.py [--docs 3204] [--repeat 3]

All three encode the same CACM abstracts with SPLADE-tiny into collections that must be byte-identical.
The plain path is `disco-pyserini encode` in this process with 2 threads; each Dask worker is a
spawned process with 1 thread. Times include everything after the cluster is up (reading and
checking the corpus, model loading in the workers, encoding, writing); the cluster's start is
reported apart.
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
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from disco_pyserini.collection import encode_collection
    from disco_pyserini.distributed import connect, encode_with_dask
    from disco_pyserini.models import resolve_model
    from disco_pyserini.spec import EncoderSpec
    from disco_pyserini.splade import SpladeEncoder

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
    report("Dask encoding (local cluster on 127.0.0.1)", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
