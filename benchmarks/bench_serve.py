"""Latency of `disco-pyserini serve`: real conversations sent to a live server, one at a time and 16 at a time.

    .venv/bin/python benchmarks/bench_serve.py [--sizes sample,cacm600,synth10000,1M=DIR] [--model DIR]
        [--backends torch,onnx] [--query-max-terms K] [--k 100] [--concurrency 1,16] [--requests N] [--json FILE]
    .venv/bin/python benchmarks/bench_serve.py --tiny     # the sample only, a few requests (CI)

For each index size a real server process (``disco-pyserini serve --port 0`` on 127.0.0.1, the
page's own API) is started; its start-up (process start to the first answer) is timed, after the
passage offsets were built beside the collection (once, as the first start would; timed apart). Then real
multi-turn conversations (the bundled sample's 50 turns and TREC CAsT 2021's manual evaluation
turns, with their canonical passages as answers and their manual rewrites, from ../shared/data/cast)
are sent as the page sends them: ``POST /search`` with every mode the server offers (raw, disco,
rewrite), ``k`` hits each, highlights and explanations included. Each request's wall time at the
client; p50/p95/p99 and requests/s are printed for each concurrency.

Sizes: ``sample`` (155 passages, encoded with the model), ``cacmN`` (the first N CACM documents,
encoded), ``synthN`` (N synthetic passages drawn by ``benchmarks/bench_scale.py``, whose texts are
placeholders: the highlights then have nothing to mark, the rest is the same work), or
``NAME=DIR``: an index and collection built already, ``DIR/index`` and ``DIR/collection`` (the
layout of ``bench_scale.py --keep``'s work folders), served as they are. Each size is served with
each of ``--backends`` (the query model's runtime), one server after the other; the load average
of the machine is printed before and after each.

The baseline, measured in the same run on the same index: Pyserini's own SPLADE query encoding
and impact search of one turn (``LuceneImpactSearcher(index, SpladeQueryEncoder(model),
min_idf=-1).search(disco query text, k)``, in this process, one call per turn, the same turns). It
does a fraction of a server turn's work (one mode, no explanation, no passage, no HTTP); the ratio
printed says what the three modes, explanations, passages and HTTP cost on top of it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import CACM, CAST, REPO, default_model, need

STARTUP_SECONDS = 600


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of them at or below it."""
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def conversations(limit: int | None) -> list[Any]:
    """The sample's turns, then CAsT 2021's (manual rewrites, canonical passages as answers)."""
    from disco_pyserini.datasets.conversational import read_cast2021
    from disco_pyserini.io.topics import read_topics
    from disco_pyserini.pipeline.demo import sample_path

    topics = list(read_topics(sample_path("topics.jsonl")))
    cast = CAST / "2021" / "2021_manual_evaluation_topics_v1.0.json"
    if cast.exists():
        topics += read_cast2021([str(cast)])
    else:
        print(f"({cast} is absent: the sample's conversations only)")
    return topics[:limit] if limit else topics


def build_index(size: str, work: Path, model: str) -> Path:
    """The collection and index of ``size`` under ``work/size``; returns the index folder."""
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.index.lucene import build_index as index_collection

    if "=" in size:  # NAME=DIR: built already
        root = Path(size.split("=", 1)[1])
        if not (root / "index").is_dir() or not (root / "collection").is_dir():
            raise SystemExit(f"--sizes {size}: {root} holds no index/ and collection/")
        offsets(size, root / "collection")
        return root / "index"
    root = work / size
    if (root / "index").is_dir():
        return root / "index"
    root.mkdir(parents=True, exist_ok=True)
    if size.startswith("synth"):
        sys.path.insert(0, str(Path(__file__).parent))
        import bench_scale

        bench_scale.write_collection(str(root / "collection"), int(size[5:]), seed=0, docs_per_part=10_000)
    else:
        from disco_pyserini.encode.splade import SpladeEncoder

        if size == "sample":
            from disco_pyserini.pipeline.demo import sample_path

            corpus = sample_path("corpus.jsonl")
        elif size.startswith("cacm"):
            from _common import cacm_corpus

            need(CACM / "cacm.tar.gz")
            corpus = str(cacm_corpus(root, int(size[4:]))[0])
        else:
            raise SystemExit(f"--sizes {size}: write sample, cacmN or synthN")
        encode_collection([corpus], str(root / "collection"), SpladeEncoder(model), docs_per_part=10_000,
                          progress=False)
    index_collection(str(root / "collection"), str(root / "index"), threads=2)
    offsets(size, root / "collection")
    return root / "index"


def offsets(size: str, collection: Path) -> None:
    """The passage offsets beside ``collection``, built once as the index is (the first start
    would build them); timed apart from the server's start-up."""
    from disco_pyserini.serve.passages import PassageStore

    started = time.perf_counter()
    store = PassageStore(str(collection))
    print(f"{size}: passage offsets of {len(store)} passages {'built' if store.lines_read else 'mapped'} in "
          f"{time.perf_counter() - started:.2f} s ({store.lines_read} lines read)")
    store.close()


class Server:
    """``disco-pyserini serve`` in a child process, on 127.0.0.1 and a free port."""

    def __init__(self, index: Path, model: str, k: int, *, backend: str | None = None,
                 max_terms: int | None = None) -> None:
        command = [sys.executable, "-c", "import sys; from disco_pyserini.cli import main; sys.exit(main())",
                   "-q", "serve", "--index", str(index), "--model", model, "--port", "0",
                   "--max-characters", "200000", "--max-turns", "100", "--max-hits", str(max(k, 10))]
        if (index.parent / "collection").is_dir():  # the index's own, wherever its metadata says it was built
            command += ["--collection", str(index.parent / "collection")]
        if backend is not None:
            command += ["--backend", backend]
        if max_terms is not None:
            command += ["--query-max-terms", str(max_terms)]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.errors: list[str] = []
        threading.Thread(target=lambda: self.errors.extend(self.process.stderr), daemon=True).start()
        found: list[str] = []

        def read() -> None:
            for line in self.process.stdout:
                if line.startswith("serving "):
                    found.append(line.split()[1].rstrip("/"))
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(STARTUP_SECONDS)
        if not found:
            self.stop()
            raise SystemExit("the server did not start: " + "".join(self.errors[-20:]))
        self.url = found[0]

    def search(self, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + "/search", data=data, headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read())
        return time.perf_counter() - started, answer

    def peak_rss_mib(self) -> float | None:
        """The server process's peak resident memory so far (VmHWM), where /proc says it."""
        try:
            with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def body_of(topic: Any, k: int) -> dict[str, Any]:
    body: dict[str, Any] = {"conversation": [list(pair) for pair in topic.conversation], "k": k}
    if topic.rewrite:
        body["rewrite"] = topic.rewrite
    return body


def summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {"requests": len(latencies), "p50_ms": 1000 * percentile(latencies, 0.50),
            "p95_ms": 1000 * percentile(latencies, 0.95), "p99_ms": 1000 * percentile(latencies, 0.99),
            "requests_per_s": len(latencies) / elapsed}


def measure_server(index: Path, model: str, bodies: list[dict[str, Any]], k: int, concurrency: list[int], *,
                   backend: str | None = None, max_terms: int | None = None) -> dict[str, Any]:
    load = os.getloadavg()
    server = Server(index, model, k, backend=backend, max_terms=max_terms)
    try:
        first, answer = server.search(bodies[0])
        startup = time.perf_counter() - server.started
        startup_rss = server.peak_rss_mib()
        modes = [result["mode"] for result in answer["results"]]
        hits = sum(len(result["hits"]) for result in answer["results"])
        for body in bodies[:5]:  # warm-up
            server.search(body)
        measured: dict[str, Any] = {}
        for threads in concurrency:
            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                latencies = [seconds for seconds, _ in pool.map(server.search, bodies)]
            measured[str(threads)] = summary(latencies, time.perf_counter() - started)
        return {"startup_s": startup, "startup_peak_rss_mib": startup_rss, "peak_rss_mib": server.peak_rss_mib(),
                "first_answer_modes": modes, "first_answer_hits": hits, "by_concurrency": measured,
                "load_before": list(load), "load_after": list(os.getloadavg())}
    finally:
        server.stop()


def measure_pyserini(index: Path, model: str, topics: list[Any], k: int) -> dict[str, float]:
    """Pyserini's SPLADE query encoder and impact search of each turn's disco text, one call per turn."""
    from disco_pyserini.java import import_pyserini_search, start_jvm

    start_jvm(None)
    lucene = import_pyserini_search()
    from pyserini.encode import SpladeQueryEncoder

    searcher = lucene.LuceneImpactSearcher(str(index), SpladeQueryEncoder(model, device="cpu"), min_idf=-1)
    texts = [topic.query_text("disco") for topic in topics]
    for text in texts[:5]:
        searcher.search(text, k)
    latencies = []
    started = time.perf_counter()
    for text in texts:
        begun = time.perf_counter()
        searcher.search(text, k)
        latencies.append(time.perf_counter() - begun)
    result = summary(latencies, time.perf_counter() - started)
    searcher.close()
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="sample,cacm600",
                        help="comma-separated: sample, cacmN, synthN, or NAME=DIR (DIR/index and DIR/collection)")
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--backends", default=None,
                        help="comma-separated query model runtimes to serve with, each in turn: torch, onnx "
                             "(default: serve's own default)")
    parser.add_argument("--query-max-terms", type=int, default=None, metavar="K",
                        help="serve with --query-max-terms K (default: every query term)")
    parser.add_argument("--k", type=int, default=100, help="hits per mode (default: 100)")
    parser.add_argument("--concurrency", default="1,16", help="requests in flight (default: 1,16)")
    parser.add_argument("--requests", type=int, default=None, help="the first N turns only (default: all)")
    parser.add_argument("--work-dir", default=None, help="where the indexes go (default: a temporary folder)")
    parser.add_argument("--no-baseline", action="store_true", help="skip Pyserini's baseline")
    parser.add_argument("--tiny", action="store_true", help="the sample only, 12 turns, k=10: a check that it runs")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.tiny:
        args.sizes, args.requests, args.k = "sample", args.requests or 12, 10
    concurrency = [int(c) for c in args.concurrency.split(",")]
    backends: list[str | None] = [b.strip() for b in args.backends.split(",")] if args.backends else [None]
    topics = conversations(args.requests)
    bodies = [body_of(topic, args.k) for topic in topics]
    load = os.getloadavg()[0]
    print(f"{len(bodies)} turns ({sum(1 for t in topics if len(t.conversation) > 1)} with earlier turns), k={args.k}, "
          f"every mode; load average {load:.2f} on {os.cpu_count()} CPUs")
    results: dict[str, Any] = {"turns": len(bodies), "k": args.k, "load_before": load, "cpus": os.cpu_count(),
                               "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as temporary:
        work = Path(args.work_dir or temporary)
        for size in args.sizes.split(","):
            index = build_index(size, work, args.model)
            from disco_pyserini.index.lucene import read_index_metadata

            documents = (read_index_metadata(str(index)) or {}).get("documents")
            name = size.split("=", 1)[0]
            measured: dict[str, Any] = {"passages": documents, "query_max_terms": args.query_max_terms,
                                        "backends": {}}
            for backend in backends:
                measured["backends"][backend or "default"] = measure_server(
                    index, args.model, bodies, args.k, concurrency, backend=backend, max_terms=args.query_max_terms)
            if not args.no_baseline:
                measured["pyserini_one_turn"] = measure_pyserini(index, args.model, topics, args.k)
            results["sizes"][name] = measured
            print_size(name, measured)
    results["load_after"] = os.getloadavg()[0]
    print(f"load average after: {results['load_after']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def print_size(size: str, measured: dict[str, Any]) -> None:
    pruning = "" if measured["query_max_terms"] is None else f", --query-max-terms {measured['query_max_terms']}"
    print(f"\n{size}: {measured['passages']} passages{pruning}")
    baseline = measured.get("pyserini_one_turn")
    for backend, served in measured["backends"].items():
        rss = "" if served["startup_peak_rss_mib"] is None else (
            f", peak RSS {served['startup_peak_rss_mib']:.0f} MiB at the first answer, "
            f"{served['peak_rss_mib']:.0f} MiB after the load")
        print(f"  backend {backend}: start-up to the first answer {served['startup_s']:.1f} s{rss} (modes "
              f"{','.join(served['first_answer_modes'])}); load average {served['load_before'][0]:.2f} -> "
              f"{served['load_after'][0]:.2f} on {os.cpu_count()} CPUs")
        for threads, figures in served["by_concurrency"].items():
            ratio = "" if baseline is None else f"  p50 / Pyserini's p50: {figures['p50_ms'] / baseline['p50_ms']:.2f}x"
            tail = figures["p95_ms"] / figures["p50_ms"]
            print(f"    {threads:>2} at a time: p50 {figures['p50_ms']:7.1f} ms  p95 {figures['p95_ms']:7.1f} ms  "
                  f"p99 {figures['p99_ms']:7.1f} ms  (p95/p50 {tail:.2f})  {figures['requests_per_s']:6.1f} "
                  f"requests/s{ratio}")
    if baseline is not None:
        print(f"  Pyserini, one mode, one turn (SpladeQueryEncoder + LuceneImpactSearcher.search, no HTTP): "
              f"p50 {baseline['p50_ms']:.1f} ms  p95 {baseline['p95_ms']:.1f} ms  p99 {baseline['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
