"""Interrupted work resumes byte for byte; the same inputs and thread count give the same bytes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, write_corpus
from disco_pyserini.cli import main
from disco_pyserini.pipeline.demo import sample_path

pytestmark = pytest.mark.slow


def folder_bytes(folder) -> dict[str, bytes]:
    return {name: (folder / "vectors" / name).read_bytes() for name in sorted(os.listdir(folder / "vectors"))} | {
        "disco_collection.json": (folder / "disco_collection.json").read_bytes()}


def encode_command(corpus, output, *extra):
    return [sys.executable, "-m", "disco_pyserini.cli", "-q", "encode", "--corpus", str(corpus), "--model",
            "splade-tiny", "--output", str(output), "--docs-per-part", "40", *extra]


def test_kill_9_then_resume_is_byte_identical(tmp_path, cacm_documents):
    corpus = write_corpus(tmp_path / "corpus.jsonl", cacm_documents[:480])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(encode_command(corpus, tmp_path / "whole"), check=True, env=env)
    reference = folder_bytes(tmp_path / "whole")
    assert len(reference) == 13  # 12 parts and the metadata

    vectors = tmp_path / "killed" / "vectors"
    for parts_before_kill in (2, 5, 9):  # kill three times at different points, resuming each time
        process = subprocess.Popen(encode_command(corpus, tmp_path / "killed", "--resume"), env=env)
        deadline = time.time() + 300
        while time.time() < deadline and process.poll() is None:
            if vectors.exists() and len(os.listdir(vectors)) >= parts_before_kill:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (tmp_path / "killed" / "disco_collection.json").exists()
    subprocess.run(encode_command(corpus, tmp_path / "killed", "--resume"), check=True, env=env)
    assert folder_bytes(tmp_path / "killed") == reference


def impacts(folder) -> dict[str, dict[str, int]]:
    vectors = {}
    for name in sorted(os.listdir(folder / "vectors")):
        for line in (folder / "vectors" / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            vectors[record["id"]] = record["vector"]
    return vectors


def test_the_same_thread_count_gives_the_same_bytes(tmp_path, tiny_model):
    """Byte identity holds for the same thread count on the same CPU; across thread counts the float
    weights may differ in the last bits (CPU kernels block their sums by thread count), so an impact
    may move by 1 where w * scale sits on a rounding boundary, never more."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name, threads in (("c1", "1"), ("c2", "2"), ("c2-again", "2")):
        subprocess.run([sys.executable, "-m", "disco_pyserini.cli", "-q", "encode", "--corpus",
                        sample_path("corpus.jsonl"), "--model", "splade-tiny", "--output",
                        str(tmp_path / name), "--threads", threads], check=True, env=env)
    assert folder_bytes(tmp_path / "c2") == folder_bytes(tmp_path / "c2-again")
    one, two = impacts(tmp_path / "c1"), impacts(tmp_path / "c2")
    assert one.keys() == two.keys()
    for doc_id in one:
        for token in one[doc_id].keys() | two[doc_id].keys():
            assert abs(one[doc_id].get(token, 0) - two[doc_id].get(token, 0)) <= 1, (doc_id, token)
    assert main(["-q", "index", "--collection", str(tmp_path / "c1"), "--index", str(tmp_path / "index")]) == 0
    runs = {}
    for threads in ("1", "2"):
        for attempt in ("a", "b"):
            output = tmp_path / f"run-{threads}{attempt}.trec"
            assert main(["-q", "search", "--index", str(tmp_path / "index"), "--topics", sample_path("topics.jsonl"),
                         "--model", "splade-tiny", "--output", str(output), "--threads", threads,
                         "--no-query-cache"]) == 0
            runs["run", threads, attempt] = output.read_bytes()
            queries = tmp_path / f"q-{threads}{attempt}.jsonl"
            assert main(["-q", "encode-queries", "--topics", sample_path("topics.jsonl"), "--model", "splade-tiny",
                         "--output", str(queries), "--threads", threads, "--no-query-cache"]) == 0
            runs["queries", threads, attempt] = queries.read_bytes()
    for kind in ("run", "queries"):
        for threads in ("1", "2"):
            assert runs[kind, threads, "a"] == runs[kind, threads, "b"]


def test_processes_give_the_same_collection(tmp_path, cacm_documents):
    """Every spawned process computes with one thread, as does the plain path here: same bytes."""
    corpus = write_corpus(tmp_path / "corpus.jsonl", cacm_documents[:200])
    assert main(["-q", "encode", "--corpus", str(corpus), "--model", "splade-tiny", "--output",
                 str(tmp_path / "one"), "--docs-per-part", "30", "--threads", "1"]) == 0
    assert main(["-q", "encode", "--corpus", str(corpus), "--model", "splade-tiny", "--output",
                 str(tmp_path / "two"), "--docs-per-part", "30", "--processes", "2"]) == 0
    assert folder_bytes(tmp_path / "one") == folder_bytes(tmp_path / "two")


def test_a_very_long_conversation_is_searched(tmp_path, cacm_index):
    turns = [[f"question {i} about compilers, parsers and operating systems?", f"answer {i} " * 30]
             for i in range(200)]
    topic = {"qid": "long_1", "conversation": turns + [["and what about time sharing?", None]]}
    topics = tmp_path / "topics.jsonl"
    topics.write_text(json.dumps(topic) + "\n")
    assert main(["-q", "search", "--index", str(cacm_index / "index"), "--topics", str(topics), "--model",
                 "splade-tiny", "--output", str(tmp_path / "run.trec"), "--hits", "5", "--no-query-cache"]) == 0
    assert len((tmp_path / "run.trec").read_text().splitlines()) == 5


def test_overwrite_with_processes_keeps_other_files_as_the_plain_path_does(tmp_path):
    """`--overwrite` removes what an encoding wrote and nothing else, whichever executor encodes."""
    output = tmp_path / "coll"
    assert main(["-q", "encode", "--corpus", sample_path("corpus.jsonl"), "--model", "splade-tiny", "--output",
                 str(output), "--docs-per-part", "40", "--threads", "1"]) == 0
    reference = folder_bytes(output)
    (output / "notes.txt").write_text("mine")
    assert main(["-q", "encode", "--corpus", sample_path("corpus.jsonl"), "--model", "splade-tiny", "--output",
                 str(output), "--docs-per-part", "40", "--processes", "2", "--overwrite"]) == 0
    assert folder_bytes(output) == reference
    assert (output / "notes.txt").read_text() == "mine"


def test_bad_input_found_by_a_spawned_process_is_one_line(tmp_path, capsys):
    """A duplicate id is found by the processes that read the corpus; the error reaches the command line."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": "a", "contents": "bees"}\n{"id": "b", "contents": "volcanoes"}\n'
                      '{"id": "a", "contents": "again"}\n')
    assert main(["-q", "encode", "--corpus", str(corpus), "--model", "splade-tiny", "--output", str(tmp_path / "o"),
                 "--docs-per-part", "1", "--processes", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{corpus}:3: document id a appears again" in err[0]
