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
from disco_pyserini.io.corpus import Document

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
    from disco_pyserini.cluster.encode import connect, encode_with_dask
    from disco_pyserini.encode.spec import EncoderSpec

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


# -- search on Dask ------------------------------------------------------------------------------
class KillOnFirstSearch(distributed.WorkerPlugin):
    """Kills the worker process the first time any worker starts searching a shard (marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "search_shard_task" in str(key) and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture(scope="module")
def sharded(corpus, cacm_documents):
    root, path = corpus
    assert main(["-q", "index", "--collection", str(root / "plain"), "--index", str(root / "one")]) == 0
    assert main(["-q", "index", "--collection", str(root / "plain"), "--index", str(root / "four"),
                 "--index-shards", "4"]) == 0
    topics = root / "search-topics.jsonl"
    with open(topics, "w", encoding="utf-8") as handle:
        for number, document in enumerate(cacm_documents[400:520], start=1):
            title, _, rest = document.text.partition(". ")
            conversation = [[title, rest[:150] or None], [rest[150:400] or title, None]]
            handle.write(json.dumps({"qid": str(number), "conversation": conversation}) + "\n")
    one = root / "one.trec"
    assert main(["-q", "search", "--index", str(root / "one"), "--topics", str(topics), "--model", "splade-tiny",
                 "--output", str(one), "--hits", "200", "--threads", "1", "--no-query-cache"]) == 0
    return root, topics, one.read_bytes()


def test_dask_search_gives_the_single_index_run(sharded):
    root, topics, reference = sharded
    output = root / "dask.trec"
    assert main(["-q", "search", "--index", str(root / "four"), "--topics", str(topics), "--model", "splade-tiny",
                 "--output", str(output), "--hits", "200", "--threads", "1", "--no-query-cache", "--dask",
                 "--workers", "2"]) == 0
    assert output.read_bytes() == reference
    lines = [line.split() for line in reference.decode().splitlines()]
    assert len({(q, s) for q, _, _, _, s, _ in lines}) < len(lines), "the test needs tied scores"


def test_dask_search_survives_a_killed_worker(sharded, tmp_path):
    from disco_pyserini.cluster.encode import connect
    from disco_pyserini.cluster.search import search_with_dask
    from disco_pyserini.io.runs import write_run
    from disco_pyserini.io.topics import read_topics
    from disco_pyserini.search.queries import QueryEncoding
    from disco_pyserini.search.searcher import ShardSet, prepare_queries

    root, topics, reference = sharded
    shards = ShardSet([str(root / "four")])
    queries = prepare_queries(shards, read_topics(str(topics)), QueryEncoding("splade-tiny", threads=1))
    marker = tmp_path / "killed"
    client = connect(None, 2, 1)
    try:
        client.register_plugin(KillOnFirstSearch(str(marker)))
        hits = search_with_dask(client, shards.paths, queries, k=200, threads=1, batch_size=40)
    finally:
        client.close()
        client.cluster.close()
    assert marker.exists()  # a worker did die in the middle of a search
    write_run(tmp_path / "run.trec", [(qid, hits[qid]) for qid, _ in queries], "disco-pyserini")
    assert (tmp_path / "run.trec").read_bytes() == reference


def test_a_shard_that_cannot_be_searched_is_an_error(sharded, tmp_path, capsys):
    import shutil

    root, topics, _ = sharded
    broken = tmp_path / "broken"
    shutil.copytree(root / "four", broken)
    segments = next(p for p in (broken / "shard-02").iterdir() if p.name.startswith("segments"))
    segments.write_bytes(b"not a segments file")  # still there for the client's checks; Lucene refuses it
    output = tmp_path / "run.trec"
    assert main(["-q", "search", "--index", str(broken), "--topics", str(topics), "--model", "splade-tiny",
                 "--output", str(output), "--hits", "10", "--no-query-cache", "--dask", "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard-02" in err[0] and "Lucene cannot open it" in err[0]
    assert not output.exists()
    shutil.rmtree(broken / "shard-01")
    assert main(["-q", "search", "--index", str(broken), "--topics", str(topics), "--model", "splade-tiny",
                 "--output", str(output), "--hits", "10", "--no-query-cache", "--dask"]) == 2
    assert "shard-01: no such folder" in capsys.readouterr().err and not output.exists()
