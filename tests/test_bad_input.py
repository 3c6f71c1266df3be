"""Bad input, fed to the command line: one clear line naming the file, line or record, exit 2,
no traceback; or handled and reported. Each case is written here, in tmp_path."""

from __future__ import annotations

import json

import pytest

from disco_pyserini.cli import main
from disco_pyserini.demo import sample_path

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
    "JSON that is not an object": (corpus_case("[1, 2]\n"), "corpus.jsonl:2: a document must be a JSON object"),
    "empty corpus": (lambda tmp, _i: ["encode", "--corpus", write(tmp / "empty.jsonl", "\n"), "--model",
                                       "splade-tiny", "--output", str(tmp / "out")], "the corpus holds no documents"),
    "missing corpus file": (options_case("encode", "--corpus", "TMP/none.jsonl", "--model", "splade-tiny",
                                         "--output", "TMP/out"), "none.jsonl: no such file or folder"),
    # topics
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
