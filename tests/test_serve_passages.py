"""The server's passage store: built once beside the collection, mapped at every later start
(no line read, whatever the collection's size), rebuilt when a part changes; texts compared with
the part files parsed line by line (``jsonl.read_jsonl``), an independent reader."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from disco_pyserini.encode.collection import vector_record
from disco_pyserini.io.jsonl import read_jsonl
from disco_pyserini.serve import passages
from disco_pyserini.serve.passages import OFFSETS, PassageStore

PARTS = [
    [("d1", "honeybees dance", {"honey": 3}), ("🐝-2", "🐝 honeybees dance 🌼", {"dance": 9}),
     ("d3", 'a "quoted" \\ back\nslash', {})],
    [("d4", "", {"x": 1}), ("d5", "é" * 70_000, {"e": 2})],  # a line longer than one read
]


def write_collection(root, parts=PARTS):
    vectors = root / "vectors"
    vectors.mkdir(parents=True, exist_ok=True)
    for number, documents in enumerate(parts):
        lines = [json.dumps(vector_record(*document), ensure_ascii=False) for document in documents]
        if number == 1:  # another writer's key order, and a blank line
            lines.insert(1, json.dumps({"vector": {"z": 1}, "contents": "keys in another order", "id": "d6"}))
            lines.insert(2, "")
        (vectors / f"part-{number:05d}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def reference(root):
    texts = {}
    for name in sorted(os.listdir(root / "vectors")):
        for _, record in read_jsonl(str(root / "vectors" / name)):
            texts.setdefault(record["id"], record["contents"])
    return texts


def test_offsets_are_built_once_then_mapped_without_reading_a_line(tmp_path):
    root = write_collection(tmp_path)
    expected = reference(root)
    lines = sum(1 for name in os.listdir(root / "vectors") for _ in open(root / "vectors" / name, "rb"))

    first = PassageStore(str(root))
    assert first.lines_read == lines and len(first) == len(expected) == 6
    assert {doc_id: first.text(doc_id) for doc_id in expected} == expected
    assert first.text("absent") is None and first.text("d") is None
    first.close()
    assert os.path.exists(root / OFFSETS)

    again = PassageStore(str(root))
    assert again.lines_read == 0  # the offsets are mapped, not rebuilt
    assert isinstance(again._entries, np.memmap)
    assert {doc_id: again.text(doc_id) for doc_id in expected} == expected
    again.close()


def test_a_changed_part_rebuilds_the_offsets(tmp_path):
    root = write_collection(tmp_path)
    PassageStore(str(root)).close()
    with open(root / "vectors" / "part-00001.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(vector_record("d7", "added later", {"a": 1}), ensure_ascii=False) + "\n")
    store = PassageStore(str(root))
    assert store.lines_read > 0 and store.text("d7") == "added later" and len(store) == 7
    store.close()
    os.unlink(root / "vectors" / "part-00001.jsonl")  # a part removed
    store = PassageStore(str(root))
    assert store.lines_read > 0 and store.text("d4") is None and store.text("d1") == "honeybees dance"
    store.close()


def test_a_damaged_offset_file_is_rebuilt(tmp_path):
    root = write_collection(tmp_path)
    PassageStore(str(root)).close()
    data = (root / OFFSETS).read_bytes()
    (root / OFFSETS).write_bytes(data[:-7])  # cut short
    store = PassageStore(str(root))
    assert store.lines_read > 0 and store.text("d5") == "é" * 70_000
    store.close()


def test_ids_sharing_a_hash_are_told_apart_by_their_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(passages, "id_hashes", lambda ids: np.zeros(len(ids), dtype=np.uint64))
    root = write_collection(tmp_path)
    expected = reference(root)
    store = PassageStore(str(root))
    assert {doc_id: store.text(doc_id) for doc_id in expected} == expected and store.text("absent") is None
    store.close()


def test_no_collection_no_texts():
    store = PassageStore(None)
    assert len(store) == 0 and store.text("d1") is None


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_the_offset_file_has_the_mode_of_a_plain_open(tmp_path, umask):
    previous = os.umask(umask)
    try:
        root = write_collection(tmp_path)
        PassageStore(str(root)).close()
    finally:
        os.umask(previous)
    assert os.stat(root / OFFSETS).st_mode & 0o777 == 0o666 & ~umask


def thread_bytes_read():
    """Bytes this thread has read through system calls (read, pread...), from /proc: what opening a
    store costs in I/O, whatever the page cache holds."""
    with open("/proc/thread-self/io", encoding="ascii") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/io"), reason="needs Linux's /proc/thread-self/io")
def test_opening_reads_the_same_bytes_whatever_the_collections_size(tmp_path):
    """serve's start-up is flat in the collection's size by construction: once the offsets are
    stored, opening the store reads the offset file's header (one buffered read) and maps the rest,
    reading no line of the part files, so a collection ten times larger costs the same bytes; a
    lookup reads its one line. (The times, 10k to 1M passages, are bench_serve.py's: docs/serve.md.)"""
    roots, sizes, read = {}, {}, {}
    for count in (2_000, 20_000):
        roots[count] = root = tmp_path / str(count)
        write_collection(root, [[(f"d{part}-{n}", f"passage {n} of part {part}", {"t": 1 + n % 9})
                                 for n in range(count // 4)] for part in range(4)])
        built = PassageStore(str(root))
        assert built.lines_read == count + 2  # and write_collection's own d6 and blank line
        built.close()
        PassageStore(str(root)).close()  # once, for what the first open of a process loads
        sizes[count] = sum(os.path.getsize(root / "vectors" / name) for name in os.listdir(root / "vectors"))
    for count, root in roots.items():
        before = thread_bytes_read()
        store = PassageStore(str(root))
        read[count] = thread_bytes_read() - before
        assert store.lines_read == 0 and len(store) == count + 1
        last = count // 4 - 1
        before = thread_bytes_read()
        assert store.passage(f"d3-{last}") == (f"passage {last} of part 3", {"t": 1 + last % 9})
        assert thread_bytes_read() - before < 65536 + 4096  # one read of its line, not of its part
        store.close()
    assert sizes[20_000] > 9 * sizes[2_000]  # ten times the passages, ten times the bytes
    # the same few kilobytes to open either (give or take the digits of /proc's own report, read too)
    assert abs(read[20_000] - read[2_000]) <= 16 and read[20_000] <= 16384, read
