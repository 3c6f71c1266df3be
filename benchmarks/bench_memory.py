"""Peak memory of `disco-pyserini encode` on 10k vs 100k documents: it must stay flat.

    .venv/bin/python benchmarks/bench_memory.py [--sizes 10000 100000] [--max-length 256]

The corpora are CACM's real abstracts repeated under new ids (CACM has 3,204). Each size is
encoded by `disco-pyserini encode` in its own process; the peak resident set size is the
kernel's (wait4 rusage). Encoding streams the corpus part by part (10,000 documents), so memory
is bounded by the model and one part, not by the corpus.
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

from _common import CACM, REPO, default_model, need, report


def repeated_corpus(path: Path, size: int) -> None:
    from disco_pyserini.datasets.cacm import read_cacm_corpus

    documents = list(read_cacm_corpus(str(need(CACM / "cacm.tar.gz"))))
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(size):
            document = documents[i % len(documents)]
            handle.write(json.dumps({"id": f"{document.doc_id}-{i // len(documents)}",
                                     "contents": document.text}) + "\n")


def peak_rss(command: list[str]) -> tuple[int, float]:
    """Peak resident set size (bytes) and wall time of a command run to completion."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss * 1024, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    cli = str(Path(sys.executable).parent / "disco-pyserini")
    rows, results = [], {"max_length": args.max_length, "threads": args.threads, "sizes": {}}
    for size in args.sizes:
        corpus = work / f"corpus-{size}.jsonl"
        repeated_corpus(corpus, size)
        peak, elapsed = peak_rss([cli, "-q", "encode", "--corpus", str(corpus), "--model", args.model, "--output",
                                  str(work / f"collection-{size}"), "--max-length", str(args.max_length),
                                  "--threads", str(args.threads)])
        results["sizes"][size] = {"peak_rss_bytes": peak, "seconds": elapsed}
        rows.append((f"{size:,} documents", f"peak RSS {peak / 2**20:.0f} MiB ({elapsed:.0f} s, "
                                            f"{size / elapsed:.0f} docs/s)"))
        shutil.rmtree(work / f"collection-{size}")
        corpus.unlink()
    small, large = min(args.sizes), max(args.sizes)
    change = results["sizes"][large]["peak_rss_bytes"] / results["sizes"][small]["peak_rss_bytes"] - 1
    results["change"] = change
    rows.append((f"{large:,} vs {small:,}", f"{change:+.1%}"))
    report(f"Peak memory of encoding (max length {args.max_length})", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
