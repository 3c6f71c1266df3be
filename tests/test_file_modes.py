"""Every file the package writes gets the mode a plain ``open()`` gives under the current umask
(issue 20 §1): a file written atomically used to keep ``tempfile.mkstemp``'s 0600, which a colleague
or a Dask worker running as another user cannot read on shared storage.

The reference is independent of the code under test: a file created by ``open(path, "w")`` in the
same folder under the same umask. The umask is set in-process with ``os.umask`` and restored.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

UMASKS = (0o022, 0o002)


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def plain_open_mode(folder: Path) -> int:
    """The mode ``open()`` gives a new file in ``folder`` under the current umask."""
    reference = folder / "plain-open-reference"
    with open(reference, "w"):
        pass
    try:
        return mode(reference)
    finally:
        reference.unlink()


@pytest.fixture(params=UMASKS, ids=lambda u: f"umask{u:03o}")
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != "plain-open-reference")


def assert_modes(root: Path, expected: int, at_least: list[str]) -> None:
    written = files_under(root)
    names = {p.name for p in written}
    missing = [name for name in at_least if name not in names]
    assert not missing, f"expected files not written: {missing}"
    wrong = {str(p.relative_to(root)): oct(mode(p)) for p in written if mode(p) != expected}
    assert not wrong, f"expected mode {oct(expected)} (plain open() under the umask), got {wrong}"


@pytest.mark.parametrize("file_mode", ["w", "wb"])
def test_atomic_output_gives_the_mode_of_a_plain_open(tmp_path, umask, file_mode):
    from disco_pyserini.io.jsonl import atomic_output, write_json, write_jsonl

    expected = plain_open_mode(tmp_path)
    assert expected == 0o666 & ~umask
    with atomic_output(tmp_path / "out.bin", file_mode) as handle:
        handle.write(b"x" if "b" in file_mode else "x")
    write_jsonl(tmp_path / "lines.jsonl", [{}])
    write_json(tmp_path / "data.json", {"a": 1})
    assert_modes(tmp_path, expected, ["out.bin", "lines.jsonl", "data.json"])


def test_atomic_output_replacing_a_file_leaves_no_temporary_file(tmp_path, umask):
    from disco_pyserini.io.jsonl import atomic_output

    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target) as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n"
    with atomic_output(target) as handle:
        handle.write("new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    assert mode(target) == plain_open_mode(tmp_path)


def test_topics_qrels_runs_and_compare_files(tmp_path, umask):
    """Topics, qrels, a run written through Python with its ``.json``, compare's CSV and PNG,
    encoded queries (three formats) with their metadata."""
    from disco_pyserini.cli import main
    from disco_pyserini.io.runs import Hit, read_qrels, write_qrels
    from disco_pyserini.io.topics import read_topics, write_topics
    from disco_pyserini.pipeline.demo import sample_path
    from disco_pyserini.search.encoded_queries import write_encoded_queries
    from disco_pyserini.search.searcher import write_search_run

    expected = plain_open_mode(tmp_path)
    topics = read_topics(sample_path("topics.jsonl"))
    write_topics(topics, tmp_path / "topics.jsonl")
    qrels = read_qrels(sample_path("qrels.txt"))
    write_qrels(tmp_path / "qrels.txt", _qrel_list(qrels))
    judged = sorted({(qid, doc) for qid, docs in qrels.items() for doc in docs})
    results = [(t.query_id, [Hit(doc, 1.0 / (1 + i)) for i, (q, doc) in enumerate(judged) if q == t.query_id])
               for t in topics]
    for name in ("a", "b"):
        write_search_run(str(tmp_path / f"run.{name}.trec"), results, tag=name, description={"test": name})
    assert main(["-q", "compare", "--qrels", sample_path("qrels.txt"), "--runs", str(tmp_path / "run.a.trec"),
                 str(tmp_path / "run.b.trec"), "--topics", sample_path("topics.jsonl"),
                 "--output", str(tmp_path / "compare")]) == 0
    vectors = [("q1", {"honey": 3, "bee": 1})]
    for name in ("queries.jsonl", "queries.tsv", "queries.tsv.gz"):
        write_encoded_queries(str(tmp_path / name), vectors, description={"test": name})
    assert_modes(tmp_path, expected, ["topics.jsonl", "qrels.txt", "run.a.trec", "run.a.trec.json", "compare.csv",
                                      "compare.png", "queries.jsonl", "queries.topics.tsv", "queries.tsv",
                                      "queries.tsv.gz", "queries.json"])


def _qrel_list(qrels):
    from disco_pyserini.io.runs import Qrel

    return [Qrel(qid, doc, rel) for qid, docs in qrels.items() for doc, rel in docs.items()]


@pytest.mark.java
def test_collection_index_and_runs(tmp_path, umask, tiny_model):
    """The demo's collection (parts, part statistics, settings, ``disco_collection.json``), index
    (Lucene's files and ``disco_index.json``), runs written through Python with their ``.json``,
    and a run written by Anserini's SearchCollection through ``search``."""
    from disco_pyserini.cli import main
    from disco_pyserini.pipeline.demo import run_demo, sample_path

    expected = plain_open_mode(tmp_path)
    run_demo(str(tmp_path), progress=False)
    work = tmp_path / "demo"
    assert main(["-q", "search", "--index", str(work / "index"), "--topics", sample_path("topics.jsonl"),
                 "--model", "splade-tiny", "--query-mode", "rewrite", "--output", str(work / "java.trec")]) == 0
    assert_modes(tmp_path, expected, ["disco_collection.json", "disco_index.json", "run.disco.trec",
                                      "run.disco.trec.json", "java.trec", "java.trec.json", "part-00000.jsonl"])
