"""Dask encoding and sharded indexes: the same bytes and runs as one process and one index."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from conftest import write_corpus
from disco_pyserini.cli import main
from disco_pyserini.corpus import Document

pytestmark = [pytest.mark.slow, pytest.mark.java]
distributed = pytest.importorskip("distributed", reason="Dask is the optional extra [dask]")


def folder_bytes(folder) -> dict[str, bytes]:
    names = sorted(os.listdir(folder / "vectors"))
    return {n: (folder / "vectors" / n).read_bytes() for n in names} | {
        "meta": (folder / "disco_collection.json").read_bytes()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, cacm_documents):
    root = tmp_path_factory.mktemp("dask")
    path = write_corpus(root / "corpus.jsonl", cacm_documents[:360])
    # one torch thread, as every Dask worker uses: the same kernels, so the same bytes
    assert main(["-q", "encode", "--corpus", str(path), "--model", "splade-tiny", "--output", str(root / "plain"),
                 "--docs-per-part", "30", "--threads", "1"]) == 0
    return root, path


def test_dask_local_cluster_is_byte_identical(corpus):
    root, path = corpus
    assert main(["-q", "encode", "--corpus", str(path), "--model", "splade-tiny", "--output", str(root / "dask"),
                 "--docs-per-part", "30", "--dask", "--workers", "2"]) == 0
    assert folder_bytes(root / "dask") == folder_bytes(root / "plain")


def test_a_worker_killed_midway_is_retried(corpus, tiny_model):
    from disco_pyserini.distributed import connect, encode_with_dask
    from disco_pyserini.spec import EncoderSpec

    root, path = corpus
    output = root / "killed"
    client = connect(None, 2, 1)
    try:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_when_started():
            deadline = time.time() + 300
            while time.time() < deadline:
                if (output / "vectors").exists() and len(os.listdir(output / "vectors")) >= 2:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
                time.sleep(0.01)

        killer = threading.Thread(target=kill_when_started)
        killer.start()
        result = encode_with_dask([str(path)], str(output), EncoderSpec(tiny_model, threads=1), client=client,
                                  docs_per_part=30, progress=False)
        killer.join()
    finally:
        client.close()
        client.cluster.close()
    assert killed and result["complete"]
    assert folder_bytes(output) == folder_bytes(root / "plain")


def test_dask_resume_redoes_only_missing_parts(corpus):
    root, path = corpus
    output = root / "resumed"
    assert main(["-q", "encode", "--corpus", str(path), "--model", "splade-tiny", "--output", str(output),
                 "--docs-per-part", "30", "--dask", "--workers", "1"]) == 0
    for name in ("part-00003.jsonl", "part-00007.jsonl"):  # as if the client died before they were done
        os.unlink(output / "vectors" / name)
    os.unlink(output / "disco_collection.json")
    kept = os.stat(output / "vectors" / "part-00000.jsonl").st_mtime_ns
    assert main(["-q", "encode", "--corpus", str(path), "--model", "splade-tiny", "--output", str(output),
                 "--docs-per-part", "30", "--dask", "--workers", "2", "--resume"]) == 0
    assert os.stat(output / "vectors" / "part-00000.jsonl").st_mtime_ns == kept
    assert folder_bytes(output) == folder_bytes(root / "plain")


def test_three_index_shards_merge_to_the_single_index_run(tmp_path, cacm_documents):
    # copies of documents under other ids score the same: ties must break as in one index
    documents = cacm_documents[:150] + [Document(f"COPY-{d.doc_id}", d.text) for d in cacm_documents[:150:7]]
    corpus = write_corpus(tmp_path / "corpus.jsonl", documents)
    assert main(["-q", "encode", "--corpus", str(corpus), "--model", "splade-tiny", "--output",
                 str(tmp_path / "collection"), "--docs-per-part", "20"]) == 0
    assert main(["-q", "index", "--collection", str(tmp_path / "collection"), "--index", str(tmp_path / "one")]) == 0
    assert main(["-q", "index", "--collection", str(tmp_path / "collection"), "--index", str(tmp_path / "three"),
                 "--index-shards", "3"]) == 0
    metadata = json.loads((tmp_path / "three" / "disco_index.json").read_text())
    assert [s["name"] for s in metadata["shards"]] == ["shard-00", "shard-01", "shard-02"]
    assert sum(s["documents"] for s in metadata["shards"]) == len(documents)
    topics = tmp_path / "topics.jsonl"
    queries = ["time sharing systems", "sorting algorithms", "compilers for algol", "matrix computations",
               "programming languages"]
    topics.write_text("".join(json.dumps({"qid": f"q{i}", "conversation": [[q, None]]}) + "\n"
                              for i, q in enumerate(queries)))
    runs = {}
    for name, index_args in (("one", ["--index", str(tmp_path / "one")]),
                             ("folder", ["--index", str(tmp_path / "three")]),
                             ("listed", [arg for n in range(3) for arg in
                                         ("--index", str(tmp_path / "three" / f"shard-{n:02d}"))])):
        output = tmp_path / f"{name}.trec"
        assert main(["-q", "search", *index_args, "--topics", str(topics), "--model", "splade-tiny", "--output",
                     str(output), "--hits", "100", "--no-query-cache"]) == 0
        runs[name] = output.read_bytes()
    assert runs["one"] == runs["folder"] == runs["listed"]
    lines = [line.split() for line in runs["one"].decode().splitlines()]
    scores = [(q, float(s)) for q, _, _, _, s, _ in lines]
    assert len(scores) > len(set(scores)), "the test needs tied scores"
