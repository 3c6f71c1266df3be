"""Corpus reading and the JsonVectorCollection folder."""

from __future__ import annotations

import json
import os

import pytest

from disco_pyserini.encode.backends import build_encoder
from disco_pyserini.encode.collection import METADATA, SETTINGS, Collection, Shard, encode_collection
from disco_pyserini.errors import InputError, UsageError
from disco_pyserini.io.corpus import Document, document_text, iter_corpus
from disco_pyserini.io.jsonl import atomic_output

DOCS = [
    {"id": "d1", "title": "Honeybees", "text": "Foragers dance to show where flowers are."},
    {"id": "d2", "contents": "Volcanoes in Iceland sit on a mid-ocean ridge."},
    {"id": 3, "title": "", "text": "A document without a title."},
    {"id": "d4", "title": "Only a title", "text": ""},
]


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


def test_title_and_text_are_joined_as_the_reference_code_does():
    assert document_text("Honeybees", "Foragers dance.") == "Honeybees. Foragers dance."
    assert document_text(None, "Just text.") == "Just text."
    assert document_text("  ", "Just text.") == "Just text."


def test_corpus_formats(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", DOCS)
    assert list(iter_corpus([path])) == [
        Document("d1", "Honeybees. Foragers dance to show where flowers are."),
        Document("d2", "Volcanoes in Iceland sit on a mid-ocean ridge."),
        Document("3", "A document without a title."),
        Document("d4", "Only a title"),
    ]


@pytest.mark.parametrize("line, message", [
    ('{"id": "x", "contents": "ok"', "malformed JSON"),
    ('{"contents": "no id"}', 'no "id"'),
    ('{"id": "x"}', 'neither "contents" nor "text"'),
    ('{"id": "x y", "contents": "a"}', "white space"),
    ('["not", "an", "object"]', "JSON object"),
    ('{"id": "x", "contents": 5}', '"contents" must be a string'),
])
def test_bad_documents_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "ok", "contents": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message) as error:
        list(iter_corpus([str(path)]))
    assert f"{path}:2" in str(error.value)


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "ok", "contents": "fine"}\n{"id": "x", "contents": "caf\xe9"}\n')
    with pytest.raises(InputError, match="invalid UTF-8") as error:
        list(iter_corpus([str(path)]))
    assert str(error.value).startswith(f"{path}:2")


def test_collection_lines_and_metadata(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    result = encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, docs_per_part=3, progress=False)
    assert result["complete"] and result["documents"] == 4 and result["parts"] == 2
    names = sorted(os.listdir(tmp_path / "coll" / "vectors"))
    assert names == ["part-00000.jsonl", "part-00001.jsonl"]
    lines = [json.loads(line) for name in names for line in open(tmp_path / "coll" / "vectors" / name)]
    assert [line["id"] for line in lines] == ["d1", "d2", "3", "d4"]
    assert lines[0]["contents"] == "Honeybees. Foragers dance to show where flowers are."
    for line in lines:
        assert set(line) == {"id", "contents", "vector"}
        assert line["vector"] and all(isinstance(w, int) and w > 0 for w in line["vector"].values())
        assert all(" " not in token for token in line["vector"])
    (vector,) = tiny_encoder.encode([lines[0]["contents"]])
    from disco_pyserini.encode.quantize import to_impacts
    assert lines[0]["vector"] == to_impacts(vector.indices, vector.weights, tiny_encoder.vocabulary, 100)
    metadata = Collection(str(tmp_path / "coll")).metadata()
    assert metadata["scale"] == 100 and metadata["encoder"]["max_length"] == 256
    assert metadata["encoder"]["vocabulary_size"] == 30522 and metadata["package_version"]
    assert metadata["documents"] == 4 and metadata["empty_vectors"] == 0


def test_output_is_not_overwritten_by_accident(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, progress=False)
    with pytest.raises(UsageError, match="--resume .* --overwrite"):
        encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, progress=False)
    with pytest.raises(UsageError, match="other settings \\(scale\\)"):
        encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, scale=50, resume=True, progress=False)
    encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, scale=50, overwrite=True, progress=False)
    assert Collection(str(tmp_path / "coll")).metadata()["scale"] == 50


def test_shards_fill_one_folder_byte_identical_to_one_process(tmp_path, tiny_encoder, cacm_documents):
    from conftest import write_corpus

    corpus = str(write_corpus(tmp_path / "c.jsonl", cacm_documents[:60]))
    encode_collection([corpus], str(tmp_path / "one"), tiny_encoder, docs_per_part=16, progress=False)
    first = encode_collection([corpus], str(tmp_path / "sharded"), tiny_encoder, docs_per_part=16,
                              shard=Shard(1, 3), progress=False)
    assert not first["complete"]
    with pytest.raises(UsageError, match="not finished"):
        Collection(str(tmp_path / "sharded")).metadata()
    for index in (2, 0):
        last = encode_collection([corpus], str(tmp_path / "sharded"), tiny_encoder, docs_per_part=16,
                                 shard=Shard(index, 3), progress=False)
    assert last["complete"]
    for name in ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl", "part-00003.jsonl"]:
        one, sharded = (tmp_path / folder / "vectors" / name for folder in ("one", "sharded"))
        assert one.read_bytes() == sharded.read_bytes()
    assert (tmp_path / "one" / METADATA).read_bytes() == (tmp_path / "sharded" / METADATA).read_bytes()


def test_a_shard_starting_while_another_writes_the_settings_file_goes_on(tmp_path, tiny_encoder):
    # CI caught this race: shard 0 was between creating and renaming the settings file's temporary
    # name when shard 1 looked at the folder, saw a file it did not know and refused the folder
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    output = tmp_path / "coll"
    (output / "vectors").mkdir(parents=True)
    with atomic_output(output / SETTINGS) as half_written:  # shard 0, caught halfway
        half_written.write("{")
        result = encode_collection([corpus], str(output), tiny_encoder, docs_per_part=1, shard=Shard(1, 2),
                                   progress=False)
    assert result["encoded"] == 2
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not a collection this package started"):
        encode_collection([corpus], str(tmp_path / "foreign"), tiny_encoder, shard=Shard(1, 2), progress=False)


def test_resume_redoes_only_missing_parts(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, docs_per_part=1, progress=False)
    reference = {n: (tmp_path / "coll" / "vectors" / n).read_bytes() for n in os.listdir(tmp_path / "coll" / "vectors")}
    os.unlink(tmp_path / "coll" / "vectors" / "part-00002.jsonl")  # as if killed while writing it
    os.unlink(tmp_path / "coll" / METADATA)
    (tmp_path / "coll" / ".part-00002.jsonl.tmp").write_text('{"id": "half-writ')
    stamp = os.stat(tmp_path / "coll" / "vectors" / "part-00000.jsonl").st_mtime_ns
    result = encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, docs_per_part=1, resume=True,
                               progress=False)
    assert result["complete"]
    assert os.stat(tmp_path / "coll" / "vectors" / "part-00000.jsonl").st_mtime_ns == stamp
    assert {n: (tmp_path / "coll" / "vectors" / n).read_bytes() for n in reference} == reference
    assert not (tmp_path / "coll" / ".part-00002.jsonl.tmp").exists()


def test_duplicate_ids_are_an_error(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS + [{"id": "d2", "contents": "again"}])
    with pytest.raises(InputError, match="document id d2 appears again") as error:
        encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, progress=False)
    assert f"{corpus}:5" in str(error.value)


def test_empty_corpus_is_an_error(tmp_path, tiny_encoder):
    corpus = tmp_path / "empty.jsonl"
    corpus.write_text("\n")
    with pytest.raises(InputError, match="no documents"):
        encode_collection([str(corpus)], str(tmp_path / "coll"), tiny_encoder, progress=False)


def test_shard_syntax():
    assert Shard.parse("2/4") == Shard(2, 4)
    for bad in ("4/4", "x", "1/0", "-1/2"):
        with pytest.raises(UsageError):
            Shard.parse(bad)


def test_resume_takes_other_speed_settings_but_refuses_other_output_settings(tmp_path, tiny_encoder, tiny_model):
    """Batch size and threads do not change a part's bytes on CPU: a resume may use others. The max
    length does: a resume with another is refused, as one with another scale is."""
    from disco_pyserini.encode.splade import SpladeEncoder

    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, docs_per_part=1, progress=False)
    reference = {n: (tmp_path / "coll" / "vectors" / n).read_bytes() for n in os.listdir(tmp_path / "coll" / "vectors")}
    os.unlink(tmp_path / "coll" / "vectors" / "part-00001.jsonl")
    os.unlink(tmp_path / "coll" / METADATA)
    with pytest.raises(UsageError, match="other settings"):
        encode_collection([corpus], str(tmp_path / "coll"), SpladeEncoder(tiny_model, max_length=64), docs_per_part=1,
                          resume=True, progress=False)
    result = encode_collection([corpus], str(tmp_path / "coll"), SpladeEncoder(tiny_model, batch_size=3),
                               docs_per_part=1, resume=True, progress=False)
    assert result["complete"] and result["encoded"] == 1
    assert {n: (tmp_path / "coll" / "vectors" / n).read_bytes() for n in reference} == reference


def test_overwrite_replaces_what_an_encoding_wrote_and_keeps_other_files(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    output = tmp_path / "coll"
    encode_collection([corpus], str(output), tiny_encoder, docs_per_part=1, progress=False)
    (output / "notes.txt").write_text("mine")
    result = encode_collection([corpus], str(output), tiny_encoder, docs_per_part=3, overwrite=True, progress=False)
    assert result["complete"] and result["parts"] == 2
    assert sorted(os.listdir(output / "vectors")) == ["part-00000.jsonl", "part-00001.jsonl"]
    assert (output / "notes.txt").read_text() == "mine"


# -- the Collection object -------------------------------------------------------------------------
def test_pending_parts_are_the_shards_parts_not_yet_written(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    collection = Collection(tmp_path / "coll")
    assert collection.pending_parts(4) == [0, 1, 2, 3]  # nothing written: the folder does not exist yet
    result = encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, docs_per_part=1, shard=Shard(0, 2),
                               progress=False)
    assert not result["complete"] and result["missing_parts"] == ["part-00001.jsonl", "part-00003.jsonl"]
    assert collection.pending_parts(4) == [1, 3]
    assert collection.pending_parts(4, Shard(0, 2)) == [] and collection.pending_parts(4, Shard(1, 2)) == [1, 3]


def test_vectors_are_read_back_as_the_part_files_hold_them(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, docs_per_part=3, progress=False)
    lines = [json.loads(line) for name in ("part-00000.jsonl", "part-00001.jsonl")
             for line in (tmp_path / "coll" / "vectors" / name).read_text(encoding="utf-8").splitlines()]
    found = Collection(tmp_path / "coll").vectors(["d4", "d1", "absent"])
    assert list(found) == ["d1", "d4"]  # collection order; a document it lacks is absent
    assert found == {line["id"]: line["vector"] for line in lines if line["id"] in ("d1", "d4")}


def test_matches_compares_what_decides_the_bytes(tmp_path, tiny_encoder, tiny_model):
    """Speed settings and the model's name may differ; the corpus, the part size, the weights, the
    max length and the scale may not."""
    from disco_pyserini.encode.splade import SpladeEncoder

    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    collection = Collection(tmp_path / "coll")
    assert not collection.matches(tiny_encoder.describe(), [corpus], docs_per_part=3)  # not encoded yet
    encode_collection([corpus], collection.folder, tiny_encoder, docs_per_part=3, progress=False)
    record = tiny_encoder.describe()
    assert collection.matches(record, [corpus], docs_per_part=3)
    faster = {**record, "threads": 2, "batch_size": 5, "model": "/a/copy/of/splade-tiny"}
    assert collection.matches(faster, [corpus], docs_per_part=3)
    assert not collection.matches(record, [corpus], docs_per_part=2)
    assert not collection.matches({**record, "scale": 50}, [corpus], docs_per_part=3)
    assert not collection.matches(SpladeEncoder(tiny_model, max_length=64).describe(), [corpus], docs_per_part=3)
    assert not collection.matches({**record, "model_sha256": "0" * 64}, [corpus], docs_per_part=3)
    other = write_lines(tmp_path / "other.jsonl", DOCS[:2])
    assert not collection.matches(record, [other], docs_per_part=3)


def test_a_collection_written_before_the_spec_existed_still_matches(tmp_path, tiny_encoder):
    """Old metadata kept the scale beside the encoder and recorded no speed settings."""
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    collection = Collection(tmp_path / "coll")
    encode_collection([corpus], collection.folder, tiny_encoder, docs_per_part=3, progress=False)
    metadata = json.loads((tmp_path / "coll" / METADATA).read_text())
    for key in ("side", "scale", "batch_size", "device", "threads"):
        del metadata["encoder"][key]
    (tmp_path / "coll" / METADATA).write_text(json.dumps(metadata))
    assert collection.matches(tiny_encoder.describe(), [corpus], docs_per_part=3)
    assert collection.spec().scale == 100 and collection.spec().max_length == 256


def test_the_collections_spec_rebuilds_its_encoder(tmp_path, tiny_encoder):
    corpus = write_lines(tmp_path / "c.jsonl", DOCS)
    encode_collection([corpus], str(tmp_path / "coll"), tiny_encoder, scale=50, docs_per_part=3, progress=False)
    spec = Collection(tmp_path / "coll").spec()
    assert spec.scale == 50 and spec.model == tiny_encoder.spec.model
    encode_collection([corpus], str(tmp_path / "again"), build_encoder(spec), docs_per_part=3, progress=False)
    for name in ("part-00000.jsonl", "part-00001.jsonl"):
        again, first = (tmp_path / folder / "vectors" / name for folder in ("again", "coll"))
        assert again.read_bytes() == first.read_bytes()
