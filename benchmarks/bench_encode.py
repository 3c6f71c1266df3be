"""Documents/s of `disco-pyserini encode` vs Pyserini's own SPLADE document encoder, same run.

    .venv/bin/python benchmarks/bench_encode.py [--docs 1000] [--repeat 3] [--threads 2] [--device cuda]

Both encode the same CACM abstracts (title + abstract, from ../shared) with the same model
(SPLADE-tiny by default), 256 tokens, the same number of threads. The baseline is the loop of
`python -m pyserini.encode` (JsonlCollectionIterator, SpladeDocumentEncoder, batch size 64,
JsonlRepresentationWriter). Ours is `encode_collection` (one process with all threads), and on
CPU also `--processes N` (N spawned processes of one thread each). The arithmetic ceiling is
the model's forward FLOPs over the documents' real tokens per second, divided by the float32
matrix-multiply peak measured here in the same run. On CUDA both sides run on the GPU (ours
bfloat16 autocast, Pyserini float32 as its command line defaults).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import cacm_corpus, default_model, flops_per_text, matmul_peak, report, timed


def pyserini_encode(corpus: Path, model: str, output: Path, device: str, batch_size: int = 64) -> None:
    from disco_pyserini.java import import_pyserini_search

    import_pyserini_search()  # Pyserini's encoders import with the JVM configured
    from pyserini.encode import JsonlCollectionIterator, JsonlRepresentationWriter, SpladeDocumentEncoder

    encoder = SpladeDocumentEncoder(model, device=device)
    iterator = JsonlCollectionIterator(str(corpus), ["text"], None, "\n")
    writer = JsonlRepresentationWriter(str(output))
    with writer:  # its __enter__ returns None
        for batch in iterator(batch_size, 0, 1):
            batch["vector"] = encoder.encode(texts=batch["text"], max_length=256, fp16=False, add_sep=False)
            writer.write(batch, ["text"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None, help="the first N CACM documents (default: all 3,204)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()

    import torch

    from disco_pyserini.encode.collection import encode_collection, encode_in_processes
    from disco_pyserini.encode.models import resolve_model
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.encode.splade import SpladeEncoder

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(args.threads)
    model = resolve_model(args.model, "document")
    work = Path(tempfile.mkdtemp(prefix="bench-encode-"))
    corpus, documents = cacm_corpus(work, args.docs)
    encoder = SpladeEncoder(model, device=device, threads=args.threads)
    lengths = [len(ids) for ids in encoder.tokenize([d.text for d in documents])]
    flops = sum(flops_per_text(encoder.model.config, n) for n in lengths)
    peak = matmul_peak(device)

    def ours() -> None:
        shutil.rmtree(work / "ours", ignore_errors=True)
        encode_collection([str(corpus)], str(work / "ours"), encoder, progress=False)

    def ours_processes() -> None:
        shutil.rmtree(work / "ours-p", ignore_errors=True)
        encode_in_processes([str(corpus)], str(work / "ours-p"), EncoderSpec(model, threads=1), processes=args.threads)

    def baseline() -> None:
        shutil.rmtree(work / "pyserini", ignore_errors=True)
        pyserini_encode(corpus, model, work / "pyserini", device)

    n = len(documents)
    ours_time, ours_times, _ = timed(ours, args.repeat)
    base_time, base_times, _ = timed(baseline, args.repeat)
    rows = [("documents", f"{n} CACM abstracts, {sum(lengths)} tokens (mean {sum(lengths) / n:.0f})"),
            ("device / threads", f"{device} / {args.threads}"),
            ("matmul peak", f"{peak / 1e9:.0f} GFLOP/s"),
            ("pyserini.encode", f"{n / base_time:.1f} docs/s (median of {[round(t, 1) for t in base_times]} s)"),
            ("disco-pyserini encode", f"{n / ours_time:.1f} docs/s (median of {[round(t, 1) for t in ours_times]} s)"),
            ("  ratio", f"{base_time / ours_time:.1f}x Pyserini"),
            ("  of arithmetic ceiling", f"{flops / ours_time / peak:.0%} ({flops / ours_time / 1e9:.0f} GFLOP/s)")]
    results = {"documents": n, "tokens": sum(lengths), "device": device, "threads": args.threads,
               "matmul_peak_flops": peak, "pyserini_docs_per_s": n / base_time, "ours_docs_per_s": n / ours_time,
               "ratio": base_time / ours_time, "ceiling_fraction": flops / ours_time / peak}
    if device == "cpu" and args.threads > 1:
        proc_time, proc_times, _ = timed(ours_processes, args.repeat)
        rows += [(f"  --processes {args.threads}", f"{n / proc_time:.1f} docs/s, {base_time / proc_time:.1f}x "
                  f"Pyserini, {flops / proc_time / peak:.0%} of ceiling (process start-up included)")]
        results.update({"ours_processes_docs_per_s": n / proc_time, "ratio_processes": base_time / proc_time,
                        "ceiling_fraction_processes": flops / proc_time / peak})
    report("Document encoding (same model, data and threads)", rows, results, args.json)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
