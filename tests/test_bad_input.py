"""Bad input, fed to the command line: one clear line naming the file, line or record, exit 2,
no traceback; or handled and reported. Each case is written here, in tmp_path."""

from __future__ import annotations

import gzip
import json
import pickle
import zlib

import pytest

from disco_pyserini.cli import main
from disco_pyserini.errors import DiscoError, InputError, SettingError
from disco_pyserini.pipeline.demo import sample_path

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("bad-input")
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "contents": text}) + "\n" for i, text in enumerate(
        ["honeybees dance to show flowers", "volcanoes in iceland", "sourdough starters need flour"])))
    assert main(["-q", "encode", "--corpus", str(corpus), "--model", "splade-tiny", "--output",
                 str(root / "collection")]) == 0
    assert main(["-q", "index", "--collection", str(root / "collection"), "--index", str(root / "index")]) == 0
    return root


def write(path, text: str | bytes):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


GOOD_TOPIC = json.dumps({"qid": "1_1", "conversation": [["what do bees do?", None]], "rewrite": "bees"}) + "\n"
GOOD_RUN = "1_1 Q0 d0 1 12.000000 t\n"
GOOD_QRELS = "1_1 0 d0 2\n"


def corpus_case(line: str | bytes):
    def make(tmp, _index):
        path = tmp / "corpus.jsonl"
        write(path, (b'{"id": "ok", "contents": "fine"}\n' + line) if isinstance(line, bytes)
              else '{"id": "ok", "contents": "fine"}\n' + line)
        return ["encode", "--corpus", str(path), "--model", "splade-tiny", "--output", str(tmp / "out")]
    return make


def topics_case(text: str, mode: str = "disco"):
    def make(tmp, index):
        path = write(tmp / "topics.jsonl", text)
        return ["search", "--index", str(index / "index"), "--topics", path, "--model", "splade-tiny",
                "--output", str(tmp / "run"), "--query-mode", mode, "--no-query-cache"]
    return make


def topics_gz_case(data: bytes):
    def make(tmp, index):
        path = write(tmp / "topics.jsonl.gz", data)
        return ["search", "--index", str(index / "index"), "--topics", path, "--model", "splade-tiny",
                "--output", str(tmp / "run"), "--no-query-cache"]
    return make


def corpus_gz_case(data: bytes):
    def make(tmp, _index):
        path = write(tmp / "corpus.jsonl.gz", data)
        return ["encode", "--corpus", path, "--model", "splade-tiny", "--output", str(tmp / "out")]
    return make


def topics_convert_case(fmt: str, files: dict[str, object], passages: str | None = None):
    """``disco-pyserini topics --format FMT`` on JSON (or text) files written in tmp."""
    def make(tmp, _index):
        paths = [write(tmp / name, content if isinstance(content, str) else json.dumps(content))
                 for name, content in files.items()]
        extra = ["--passages", write(tmp / "passages.jsonl", passages)] if passages is not None else []
        return ["topics", "--format", fmt, *paths, *extra, "--output", str(tmp / "t.jsonl")]
    return make


def metadata_case(where: str):
    """A metadata file that is valid JSON but a list, where the command expects an object."""
    def make(tmp, index):
        if where == "collection":
            (tmp / "col").mkdir()
            write(tmp / "col" / "disco_collection.json", "[]")
            return ["index", "--collection", str(tmp / "col"), "--index", str(tmp / "idx")]
        if where == "index":
            (tmp / "idx").mkdir()
            write(tmp / "idx" / "disco_index.json", '["index"]')
            return ["search", "--index", str(tmp / "idx"), "--topics", sample_path("topics.jsonl"), "--model",
                    "splade-tiny", "--output", str(tmp / "run")]
        queries = write(tmp / "q.jsonl", json.dumps({"qid": "1_1", "contents": "1_1", "vector": {"bees": 5}}) + "\n")
        write(tmp / "q.json", "[]")
        return ["search", "--index", str(index / "index"), "--topics", write(tmp / "t.jsonl", GOOD_TOPIC),
                "--encoded-queries", queries, "--output", str(tmp / "run")]
    return make


def gz_lines(count: int) -> bytes:
    text = "".join(json.dumps({"id": f"d{i}", "contents": f"text number {i} " * 8}) + "\n" for i in range(count))
    return gzip.compress(text.encode(), mtime=0)


def truncated_gz(data: bytes) -> tuple[bytes, int]:
    """The first half of a gzip file, and the line reading it reaches: one past the complete lines
    that zlib itself decodes from that half (the reference)."""
    cut = data[: len(data) // 2]
    return cut, zlib.decompressobj(wbits=31).decompress(cut).count(b"\n") + 1


GOOD_GZ_LINE = gzip.compress(b'{"id": "ok", "contents": "fine"}\n', mtime=0)
# a second gzip member whose deflate data starts with block type 3, which does not exist: zlib.error
CORRUPT_GZ = GOOD_GZ_LINE + GOOD_GZ_LINE[:10] + b"\x07" + bytes(16)
TRUNCATED_CORPUS, CORPUS_LINE = truncated_gz(gz_lines(400))
TRUNCATED_TOPICS, TOPICS_LINE = truncated_gz(gzip.compress("".join(
    json.dumps({"qid": f"1_{i}", "conversation": [[f"question {i} about bees", None]]}) + "\n"
    for i in range(1, 300)).encode(), mtime=0))
TREE_ROOT = {"number": "1-1", "participant": "User", "utterance": "q1"}
CAST2020 = [{"number": 81, "turn": [{"number": 1, "raw_utterance": "How do garage openers fail?",
                                    "manual_rewritten_utterance": "How do garage door openers fail?",
                                    "automatic_rewritten_utterance": "How do garage openers fail?",
                                    "manual_canonical_result_id": "p1"}]}]


def evaluate_case(qrels: str, run: str):
    def make(tmp, _index):
        return ["evaluate", "--qrels", write(tmp / "qrels.txt", qrels), "--run", write(tmp / "run.trec", run)]
    return make


def config_case(text: str):
    def make(tmp, _index):
        return ["run", write(tmp / "config.yaml", text)]
    return make


def options_case(*argv: str):
    def make(tmp, index):
        return [a.replace("INDEX", str(index / "index")).replace("TMP", str(tmp))
                .replace("TOPICS", sample_path("topics.jsonl")).replace("COLLECTION", str(index / "collection"))
                .replace("CORPUS", sample_path("corpus.jsonl")) for a in argv]
    return make


CASES = {
    # corpus
    "malformed JSON line": (corpus_case('{"id": "x", "contents": "no end"\n'), "corpus.jsonl:2: malformed JSON"),
    "missing id": (corpus_case('{"contents": "who am I"}\n'), 'corpus.jsonl:2: the document has no "id"'),
    "missing text": (corpus_case('{"id": "x"}\n'), 'neither "contents" nor "text"'),
    "duplicate document ids": (corpus_case('{"id": "ok", "contents": "again"}\n'),
                               "corpus.jsonl:2: document id ok appears again"),
    "invalid UTF-8": (corpus_case(b'{"id": "x", "contents": "caf\xe9"}\n'), "corpus.jsonl:2: invalid UTF-8"),
    "id with spaces": (corpus_case('{"id": "a b", "contents": "t"}\n'), "contains white space"),
    "lone surrogate in a passage": (corpus_case('{"id": "x", "contents": "bees \\ud800 dance"}\n'),
                                    "corpus.jsonl:2 (id x): \"contents\" holds a lone surrogate"),
    "lone surrogate in a topic": (topics_case('{"qid": "1_1", "conversation": [["bees \\udfff?", null]]}\n'),
                                  "topics.jsonl:1 (qid 1_1): the conversation holds a lone surrogate"),
    "JSON that is not an object": (corpus_case("[1, 2]\n"), "corpus.jsonl:2: a document must be a JSON object"),
    "empty corpus": (lambda tmp, _i: ["encode", "--corpus", write(tmp / "empty.jsonl", "\n"), "--model",
                                       "splade-tiny", "--output", str(tmp / "out")], "the corpus holds no documents"),
    "missing corpus file": (options_case("encode", "--corpus", "TMP/none.jsonl", "--model", "splade-tiny",
                                         "--output", "TMP/out"), "none.jsonl: no such file or folder"),
    "truncated .gz corpus": (corpus_gz_case(TRUNCATED_CORPUS),
                             f"corpus.jsonl.gz:{CORPUS_LINE}: the .gz file is truncated: it breaks off after "
                             f"{CORPUS_LINE - 1} complete lines"),
    "corrupt .gz corpus": (corpus_gz_case(CORRUPT_GZ), "corpus.jsonl.gz:2: the .gz file is corrupt after 1 complete "
                           "line (Error -3 while decompressing data: invalid block type); download the file again"),
    ".gz corpus that is not gzip": (corpus_gz_case(b'{"id": "ok", "contents": "fine"}\n'),
                                    "corpus.jsonl.gz:1: not gzip-compressed"),
    # topics
    "truncated .gz topics": (topics_gz_case(TRUNCATED_TOPICS),
                             f"topics.jsonl.gz:{TOPICS_LINE}: the .gz file is truncated"),
    "query id of digits int() cannot read": (topics_case('{"qid": "\u00b2", "conversation": [["q", null]]}\n'),
                                             "topics.jsonl:1: query id '\u00b2': it is made of digits"),
    "query id with leading zeros": (topics_case('{"qid": "007", "conversation": [["q", null]]}\n'),
                                    "topics.jsonl:1: query id '007': Pyserini reads ids made of digits as integers "
                                    "and would write this one as 7"),
    "query id of Arabic-Indic digits": (topics_case('{"qid": "\u0661\u0662", "conversation": [["q", null]]}\n'),
                                        "would write this one as 12"),
    "query id with a plus sign": (topics_case('{"qid": "+5", "conversation": [["q", null]]}\n'),
                                  "Anserini reads it as the integer 5"),
    # topic conversion
    "CAsT 2022 tree turn without number": (
        topics_convert_case("cast2022", {"tree.json": [{"number": 1, "turn": [
            TREE_ROOT, {"participant": "System", "parent": "1-1", "response": "a"}]}]}),
        "tree.json: turn 1 of topic 1 has no 'number'"),
    "CAsT 2022 participant in lower case": (
        topics_convert_case("cast2022", {"tree.json": [{"number": 1, "turn": [
            TREE_ROOT, {"number": "1-2", "parent": "1-1", "participant": "user", "utterance": "q2"}]}]}),
        "tree.json: topic 1 turn 1-2: participant 'user' is neither 'User' nor 'System'"),
    "CAsT 2022 parent cycle": (
        topics_convert_case("cast2022", {"tree.json": [{"number": 1, "turn": [
            TREE_ROOT, {"number": "1-2", "parent": "1-3", "participant": "User", "utterance": "q2"},
            {"number": "1-3", "parent": "1-2", "participant": "System", "response": "a"}]}]}),
        "tree.json: topic 1 turn 1-2: no root leads to it, the parent links form a cycle (1-2 -> 1-3 -> 1-2)"),
    "QReCC question null": (
        topics_convert_case("qrecc", {"qrecc.json": [{"Conversation_no": 3, "Turn_no": 1, "Context": [],
                                                      "Question": None, "Rewrite": "r"}]}),
        'qrecc.json (record 0, turn 3_1): "Question" is null'),
    "TopiOCQA question null": (
        topics_convert_case("topiocqa", {"topiocqa.json": [{"Conversation_no": 3, "Turn_no": 1, "Context": [],
                                                            "Question": None}]}),
        'topiocqa.json (record 0, turn 3_1): "Question" is null'),
    "CAsT 2020 files with conflicting rewrites": (
        topics_convert_case("cast2020", {"manual.json": CAST2020, "automatic.json": [{"number": 81, "turn": [
            {"number": 1, "raw_utterance": "How do garage openers fail?",
             "automatic_rewritten_utterance": "Why do garage openers fail?"}]}]}),
        "automatic.json: turn 81_1: automatic_rewritten_utterance differs from the one in"),
    "CAsT 2019 resolved TSV with a qid twice": (
        topics_convert_case("cast2019", {"topics.json": [{"number": 31, "turn": [{"number": 1, "raw_utterance": "q"}]}],
                                         "resolved.tsv": "31_1\tWhat is throat cancer?\n31_1\tWhat is lung cancer?\n"}),
        "resolved.tsv:2: turn 31_1 has a second, different rewrite (the first is at line 1)"),
    "CAsT 2020 passages with an id twice": (
        topics_convert_case("cast2020", {"manual.json": CAST2020},
                            passages='{"id": "p1", "contents": "a"}\n{"id": "p2", "contents": "b"}\n'
                                     '{"id": "p1", "contents": "c"}\n'),
        "passages.jsonl:3: passage id p1 appears again (first at line 1)"),
    # metadata files
    "collection metadata that is a list": (metadata_case("collection"),
                                           "disco_collection.json: collection metadata must be a JSON object, "
                                           "this one is a JSON list"),
    "index metadata that is a list": (metadata_case("index"), "disco_index.json: index metadata must be a JSON object"),
    "encoded-query metadata that is a list": (metadata_case("encoded"),
                                              "q.json: encoded-query metadata must be a JSON object"),
    "conversation with no turns": (topics_case('{"qid": "1_1", "conversation": []}\n'),
                                   "topics.jsonl:1 (qid 1_1): the conversation has no turns"),
    "last turn already answered": (topics_case('{"qid": "1_1", "conversation": [["q", "a"]]}\n'),
                                   "topics.jsonl:1 (qid 1_1): the last turn already has an answer"),
    "topic without qid": (topics_case('{"conversation": [["q", null]]}\n'), 'topics.jsonl:1: the topic has no "qid"'),
    "duplicate topic qid": (topics_case(GOOD_TOPIC + GOOD_TOPIC), "topics.jsonl:2: query id 1_1 appears twice"),
    "malformed topics line": (topics_case(GOOD_TOPIC + "{oops\n"), "topics.jsonl:2: malformed JSON"),
    "turn that is not a pair": (topics_case('{"qid": "1_1", "conversation": [["q", null, 3]]}\n'),
                                "turn 0 is not a (question, answer) pair"),
    "mode needs a missing rewrite": (topics_case('{"qid": "1_1", "conversation": [["q", null]]}\n', "rewrite"),
                                     "topic 1_1 has no 'rewrite' for query mode 'rewrite'"),
    "unknown topics format": (options_case("topics", "--format", "cast2018", "x.json", "--output", "TMP/t.jsonl"),
                              None),
    # qrels and runs
    "qrels with 3 columns": (evaluate_case("1_1 0 d0\n", GOOD_RUN), "qrels.txt:1: a qrels line has 4 columns"),
    "non-numeric relevance": (evaluate_case("1_1 0 d0 high\n", GOOD_RUN), "qrels.txt:1: relevance 'high'"),
    "run with duplicate (qid, docid)": (evaluate_case(GOOD_QRELS, GOOD_RUN + "1_1 Q0 d0 2 11.0 t\n"),
                                        "run.trec:2: document d0 is listed twice for query 1_1"),
    "run with 5 columns": (evaluate_case(GOOD_QRELS, "1_1 Q0 d0 1 12.0\n"), "run.trec:1: a run line has 6 columns"),
    "run with a text score": (evaluate_case(GOOD_QRELS, "1_1 Q0 d0 1 high t\n"), "run.trec:1: rank '1' or score"),
    "missing run file": (options_case("evaluate", "--qrels", sample_path("qrels.txt"), "--run", "TMP/absent.trec"),
                         "absent.trec: no such file"),
    # configs
    "config with unknown key": (config_case("name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\n"
                                            "document_model: m\nquery_model: m\nquery_modes: [raw]\nhitz: 5\n"),
                                "config.yaml: unknown key(s) hitz"),
    "config that is not YAML": (config_case("name: [x\n"), "config.yaml:2: not valid YAML"),
    "config with a bad protocol": (config_case("name: x\ncorpus: c\ncollection: c\nindex: i\ntopics: t\n"
                                               "document_model: m\nquery_model: m\nquery_modes: [raw]\n"
                                               "protocol: best\n"), "protocol 'best' is not one of"),
    # command-line options and folders
    "zero scale": (options_case("encode", "--corpus", "CORPUS", "--model", "splade-tiny", "--output", "TMP/o",
                                "--scale", "0"), None),
    "negative scale": (options_case("encode", "--corpus", "CORPUS", "--model", "splade-tiny", "--output", "TMP/o",
                                    "--scale", "-5"), None),
    "hits 0": (options_case("search", "--index", "INDEX", "--topics", "TOPICS", "--model", "splade-tiny",
                            "--output", "TMP/r", "--hits", "0"), None),
    "folder that is not an index": (options_case("search", "--index", "TMP", "--topics", "TOPICS", "--model",
                                                 "splade-tiny", "--output", "TMP/r"), "not a Lucene index"),
    "collection folder that is not a collection": (options_case("index", "--collection", "TMP", "--index",
                                                                "TMP/idx"), "has no disco_collection.json"),
    "index over an existing non-index folder": (
        lambda tmp, index: ["index", "--collection", str(index / "collection"), "--index",
                            str(write(tmp / "notes.txt", "precious") and tmp), "--overwrite"], "is not a Lucene index"),
    "bad shard": (options_case("encode", "--corpus", "CORPUS", "--model", "splade-tiny", "--output", "TMP/o",
                               "--shard", "3/2"), "--shard 3/2"),
    "resume and overwrite": (options_case("encode", "--corpus", "CORPUS", "--model", "splade-tiny", "--output",
                                          "TMP/o", "--resume", "--overwrite"), "contradict each other"),
    "bad Java heap": (options_case("index", "--collection", "COLLECTION", "--index", "TMP/idx2", "--java-heap",
                                   "lots"), "invalid Java heap size 'lots'"),
    "model folder that does not exist": (options_case("encode", "--corpus", "CORPUS", "--model", "./no-model",
                                                      "--output", "TMP/o"), "--model ./no-model: no such folder"),
    "query model of another scale": (options_case("search", "--index", "INDEX", "--topics", "TOPICS", "--model",
                                                  "splade-tiny", "--output", "TMP/r", "--scale", "50"),
                                     "pass --scale 100"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_cleanly(name, index, tmp_path, capsys):
    make, message = CASES[name]
    argv = make(tmp_path, index)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses bad option values itself
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error" in line]
    assert len(lines) == 1, err
    if message is not None:
        assert message in lines[0], lines[0]


def test_at_least_25_cases():
    assert len(CASES) >= 25


def test_empty_text_is_encoded_and_reported(tmp_path, capsys, index):
    corpus = write(tmp_path / "c.jsonl", '{"id": "a", "contents": ""}\n{"id": "b", "title": "T", "text": ""}\n')
    assert main(["encode", "--corpus", corpus, "--model", "splade-tiny", "--output", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert "1 documents have an empty text" in err
    metadata = json.loads((tmp_path / "o" / "disco_collection.json").read_text())
    assert metadata["documents"] == 2 and metadata["empty_texts"] == 1


def test_gz_readers_name_the_line_reached(tmp_path):
    """read_json (whole-file reads) and a checksum failure, besides the line readers above."""
    from disco_pyserini.io.jsonl import read_json, read_jsonl

    cut, line = truncated_gz(gz_lines(400))
    with pytest.raises(InputError, match=rf"c\.json\.gz:{line}: the \.gz file is truncated") as error:
        read_json(write(tmp_path / "c.json.gz", cut))
    assert error.value.line == line and 50 < line < 400
    bad_crc = bytearray(GOOD_GZ_LINE)
    bad_crc[-8] ^= 1  # the CRC-32 of the trailer
    with pytest.raises(InputError, match=r"d\.jsonl\.gz:2: the \.gz file is corrupt after 1 complete line "
                                         r"\(CRC check failed"):
        list(read_jsonl(write(tmp_path / "d.jsonl.gz", bytes(bad_crc))))
    assert [r for _, r in read_jsonl(write(tmp_path / "e.jsonl.gz", gz_lines(3)))][2]["id"] == "d2"


def test_run_metadata_that_is_not_an_object(tmp_path):
    from disco_pyserini.distill.data import teacher_score_scale
    from disco_pyserini.pipeline.run import _run_current

    run = write(tmp_path / "run.trec", GOOD_RUN)
    write(tmp_path / "run.trec.json", '"encoder"')
    with pytest.raises(InputError, match=r"run\.trec\.json: run metadata must be a JSON object, this one is a JSON "
                                         r"string"):
        _run_current(run, {"hits": 10})
    with pytest.raises(InputError, match=r"run\.trec\.json: run metadata must be a JSON object"):
        teacher_score_scale([run], 100.0)


def test_equal_values_in_both_files_are_fine(tmp_path):
    """Identical duplicates are accepted: the resolved TSV may repeat a line, the manual and the
    automatic CAsT files may both carry the same rewrite."""
    from disco_pyserini.datasets.conversational import convert_topics

    topics = write(tmp_path / "topics.json", json.dumps([{"number": 31, "turn": [{"number": 1,
                                                                                  "raw_utterance": "q"}]}]))
    tsv = write(tmp_path / "resolved.tsv", "31_1\tWhat is throat cancer?\n31_1\tWhat is  throat cancer?\n")
    assert convert_topics("cast2019", [topics, tsv])[0].rewrite == "What is throat cancer?"
    automatic = [{"number": 81, "turn": [{"number": 1, "raw_utterance": "How do garage openers fail?",
                                          "automatic_rewritten_utterance": "How do garage openers fail?"}]}]
    merged = convert_topics("cast2020", [write(tmp_path / "m.json", json.dumps(CAST2020)),
                                         write(tmp_path / "a.json", json.dumps(automatic))])
    assert merged[0].rewrite_auto == "How do garage openers fail?"


def test_fuse_refuses_a_query_id_pyserini_cannot_order(tmp_path, capsys):
    run = write(tmp_path / "run.trec", "\u00b2 Q0 d0 1 12.000000 t\n")
    assert main(["fuse", "--runs", run, "--output", str(tmp_path / "fused.trec")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "query id '\u00b2': it is made of digits" in err


ORDERED_AS_PYSERINI = [["10", "9", "100"], ["10", "9", "100", "1_1"], ["-5", "3", "10"], ["99999999999", "5", "40"],
                       ["b", "B", "a_1", "\u00e9", "10"], ["2147483648", "7"], ["0x1", "3"], ["+\U0001d7d1", "3"]]
REWRITTEN_BY_PYSERINI = ["007", "\u00b2", "1\u00b2", "\u0661\u0662", "\U0001d7d1", "+5", "-0", "-05", "-\u0663",
                         "\x01a"]


def test_pyserini_order_is_pyserinis_or_refused(tmp_path):
    """The reference is Pyserini 1.6.0's own query iterator (Anserini's topic readers, then
    get_topics_with_reader and sorted()) on a topics TSV, as its search command reads it."""
    from disco_pyserini.io.runs import pyserini_order
    from disco_pyserini.java import import_pyserini_search

    import_pyserini_search()
    from pyserini.query_iterator import DefaultQueryIterator

    def pyserini(ids):
        path = write(tmp_path / "topics.tsv", "".join(f"{q}\t{q}\n" for q in ids))
        return [str(query_id) for query_id, _ in DefaultQueryIterator.from_topics(path)]

    for ids in ORDERED_AS_PYSERINI:
        assert pyserini_order(ids) == pyserini(ids), ids
    for bad in REWRITTEN_BY_PYSERINI:
        for ids in ([bad, "3"], [bad, "1_1"]):
            with pytest.raises(DiscoError, match="query id"):
                pyserini_order(ids)
        # Pyserini fails on it, or writes another id than the topics', in one of the two sets
        outcomes = []
        for ids in ([bad, "3"], [bad, "1_1"]):
            try:
                outcomes.append(sorted(pyserini(ids)) != sorted(ids))
            except ValueError:
                outcomes.append(True)
        assert any(outcomes), bad


@pytest.mark.parametrize("error", [
    InputError("corpus.jsonl", "no 'id' field", line=7, fix="give every document an id"),
    InputError("topics.jsonl", "duplicate qid", record="31_4"),
    SettingError("max_length", "must be at least 1 (got 0)"),
])
def test_errors_with_fields_cross_process_boundaries_as_raised(error):
    """A spawned process or Dask worker sends its exception pickled: the parent gets the same class,
    fields and message (the default pickling called __init__ with the message alone and failed)."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)
