"""Converting real TREC CAsT topic files (../shared) and fixtures in the TopiOCQA, QReCC and iKAT shapes."""

from __future__ import annotations

import json

import pytest

from conftest import CAST, need
from disco_pyserini.cli import main
from disco_pyserini.datasets.conversational import convert_topics
from disco_pyserini.errors import InputError, UsageError
from disco_pyserini.io.runs import read_qrels
from disco_pyserini.io.topics import read_topics


def cast(path: str) -> str:
    return str(need(CAST / path))


def by_id(topics):
    return {t.query_id: t for t in topics}


def test_cast2019_every_turn_rewrites_and_qrels_ids():
    topics = by_id(convert_topics("cast2019", [cast("2019/evaluation_topics_v1.0.json"),
                                               cast("2019/evaluation_topics_annotated_resolved_v1.0.tsv")]))
    raw = json.load(open(cast("2019/evaluation_topics_v1.0.json")))
    assert len(topics) == sum(len(t["turn"]) for t in raw) == 479
    rewrites = dict(line.rstrip("\n").split("\t", 1) for line in open(cast(
        "2019/evaluation_topics_annotated_resolved_v1.0.tsv"), encoding="utf-8") if line.strip())
    assert all(topics[qid].rewrite == " ".join(text.split()) for qid, text in rewrites.items())
    assert set(read_qrels(cast("2019/2019qrels.txt"))) <= set(topics)
    turn = topics["31_4"]
    assert turn.query_text("raw") == "What are its symptoms?"
    assert turn.query_text("rewrite") == "What are lung cancer's symptoms?" or "lung cancer" in turn.rewrite.lower()
    # CAsT 2019 has no answers: history is the questions, newest first
    assert turn.query_text("disco") == ("What are its symptoms? [SEP] Tell me about lung cancer. [SEP] "
                                        "Is it treatable? [SEP] What is throat cancer?")


def test_cast2020_rewrites_both_kinds_and_canonical_passages(tmp_path):
    files = [cast("2020/2020_manual_evaluation_topics_v1.0.json"),
             cast("2020/2020_automatic_evaluation_topics_v1.0.json")]
    topics = by_id(convert_topics("cast2020", files))
    assert len(topics) == 216 and all(t.rewrite and t.rewrite_auto for t in topics.values())
    assert set(read_qrels(cast("2020/2020qrels.txt"))) <= set(topics)
    assert topics["81_2"].conversation[0][1] is None  # without --passages the answers stay empty
    raw = json.load(open(files[0]))
    first_id = raw[0]["turn"][0]["manual_canonical_result_id"]
    passages = tmp_path / "passages.jsonl"
    passages.write_text(json.dumps({"id": first_id, "contents": "Signs of a failing opener: noise."}) + "\n")
    with pytest.raises(InputError, match="canonical passages are not in --passages"):
        convert_topics("cast2020", files, str(passages))
    all_ids = {turn.get("manual_canonical_result_id") for topic in raw for turn in topic["turn"]}
    passages.write_text("".join(json.dumps({"id": i, "contents": f"text of {i}"}) + "\n" for i in all_ids if i))
    with_answers = by_id(convert_topics("cast2020", files, str(passages)))
    assert with_answers["81_2"].conversation[0] == (raw[0]["turn"][0]["raw_utterance"], f"text of {first_id}")


def test_cast2021_answers_are_canonical_passages():
    topics = by_id(convert_topics("cast2021", [cast("2021/2021_manual_evaluation_topics_v1.0.json")]))
    assert len(topics) == 239 and all(t.rewrite and t.rewrite_auto for t in topics.values())
    assert set(read_qrels(cast("2021/trec-cast-qrels-docs.2021.qrel"))) <= set(topics)
    raw = json.load(open(cast("2021/2021_manual_evaluation_topics_v1.0.json")))
    assert topics["106_2"].conversation[0][1] == " ".join(raw[0]["turn"][0]["passage"].split())


def test_cast2022_user_turns_along_their_branch():
    flat = by_id(convert_topics("cast2022", [cast("2022/2022_evaluation_topics_flattened_duplicated_v1.0.json")]))
    tree = by_id(convert_topics("cast2022", [cast("2022/2022_evaluation_topics_tree_v1.0.json")]))
    assert set(flat) == set(tree) and len(flat) == 205
    assert all(flat[q].conversation == tree[q].conversation for q in flat)
    # turn 1-1 of topic 134 has two system responses: an answer (1-2), followed by 1-3 and 2-1,
    # and a clarifying question (4-1), followed by 4-2; each user turn sees the one on its branch
    assert tree["134_1-3"].conversation[0][1].startswith("The design of the phone")
    assert tree["134_2-1"].conversation[0][1].startswith("The design of the phone")
    assert tree["134_4-2"].conversation[0][1] == "What would you like to do with one?"
    assert all(t.rewrite for t in tree.values())


TOPIOCQA = [
    {"Conversation_no": 1, "Turn_no": 1, "Context": [], "Question": "who wrote the hobbit?",
     "Answer": "J. R. R. Tolkien", "Topic": "The Hobbit", "Gold_passage": {"id": "wiki:7", "text": "..."}},
    {"Conversation_no": 1, "Turn_no": 2, "Context": ["who wrote the hobbit?", "J. R. R. Tolkien"],
     "Question": "when was it published?", "Answer": "1937", "Topic": "The Hobbit",
     "Gold_passage": {"id": "wiki:8", "text": "..."}},
]
QRECC = [
    {"Conversation_no": 9, "Turn_no": 1, "Context": [], "Question": "What is QReCC?", "Rewrite": "What is QReCC?",
     "Answer": "A dataset.", "Answer_URL": "https://example.org", "Conversation_source": "quac"},
    {"Conversation_no": 9, "Turn_no": 2, "Context": ["What is QReCC?", "A dataset."], "Question": "Who made it?",
     "Rewrite": "Who made the QReCC dataset?", "Answer": "Apple researchers.", "Conversation_source": "quac"},
]
IKAT = [{"number": "9-1", "title": "diet", "ptkb": {"1": "I'm vegetarian."},
         "turns": [{"turn_id": 1, "utterance": "Can you find me a diet?", "resolved_utterance": "A vegetarian diet?",
                    "response": "Try the Mediterranean diet.", "ptkb_provenance": [1]},
                   {"turn_id": 2, "utterance": "Is it healthy?", "resolved_utterance": "Is the Mediterranean diet "
                    "healthy?", "response": "Yes.", "ptkb_provenance": []}]}]


@pytest.mark.parametrize("fmt, data, qid, disco, rewrite", [
    ("topiocqa", TOPIOCQA, "1_2", "when was it published? [SEP] J. R. R. Tolkien [SEP] who wrote the hobbit?", None),
    ("qrecc", QRECC, "9_2", "Who made it? [SEP] A dataset. [SEP] What is QReCC?", "Who made the QReCC dataset?"),
    ("ikat2023", IKAT, "9-1_2", "Is it healthy? [SEP] Try the Mediterranean diet. [SEP] Can you find me a diet?",
     "Is the Mediterranean diet healthy?"),
])
def test_public_json_shapes(tmp_path, fmt, data, qid, disco, rewrite):
    path = tmp_path / f"{fmt}.json"
    path.write_text(json.dumps(data))
    topics = by_id(convert_topics(fmt, [str(path)]))
    assert topics[qid].query_text("disco") == disco
    assert topics[qid].rewrite == rewrite


def test_topics_command_and_topiocqa_gold_qrels(tmp_path, capsys):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(TOPIOCQA))
    assert main(["topics", "--format", "topiocqa", str(path), "--output", str(tmp_path / "t.jsonl"),
                 "--qrels-output", str(tmp_path / "q.txt")]) == 0
    assert [t.query_id for t in read_topics(tmp_path / "t.jsonl")] == ["1_1", "1_2"]
    assert (tmp_path / "q.txt").read_text() == "1_1 0 wiki:7 1\n1_2 0 wiki:8 1\n"
    assert "2 turns of 1 conversations" in capsys.readouterr().out


@pytest.mark.parametrize("fmt, content, message", [
    ("qrecc", [{"Conversation_no": 1, "Turn_no": 1, "Question": "q"}], "record 0 has no 'Context'"),
    ("qrecc", [{"Conversation_no": 1, "Turn_no": 2, "Context": ["only a question"], "Question": "q"}],
     "must alternate question and answer"),
    ("cast2019", {"not": "a list"}, "expected a JSON list of topics"),
    ("cast2021", [{"number": 1, "turn": [{"number": 1}]}], "turn 1_1 has no 'raw_utterance'"),
    ("ikat2023", [{"number": "1-1", "turns": {"turn_id": 1}}], "'turns' must be a list of objects"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-2", "parent": "1-1", "participant": "User",
                                          "utterance": "q"}]}], "parent 1-1 does not exist"),
    # CAsT 2022 trees: every turn numbered, User or System, reachable from a root; a System turn answers a User turn
    ("cast2022", [{"number": 1, "turn": [{"participant": "User", "utterance": "q"}]}],
     "turn 0 of topic 1 has no 'number'"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-1", "participant": "User", "utterance": "q"},
                                         {"number": "1-2", "parent": "1-1", "utterance": "q2"}]}],
     "topic 1 turn 1-2: participant None is neither 'User' nor 'System'"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-1", "participant": "USER", "utterance": "q"}]}],
     "topic 1 turn 1-1: participant 'USER' is neither"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-1", "participant": "User", "utterance": "q"},
                                         {"number": "1-1", "participant": "User", "utterance": "q2"}]}],
     "topic 1: turn number 1-1 appears twice"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-1", "participant": "System", "response": "Hello."},
                                         {"number": "1-2", "parent": "1-1", "participant": "User", "utterance": "q"}]}],
     "topic 1 turn 1-1: a System turn must answer a User turn \\(its parent is none\\)"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-1", "participant": "User", "utterance": "q"},
                                         {"number": "1-2", "parent": "1-1", "participant": "System", "response": "a"},
                                         {"number": "1-3", "parent": "1-2", "participant": "System"}]}],
     "topic 1 turn 1-3: a System turn must answer a User turn \\(its parent is 1-2\\)"),
    ("cast2022", [{"number": 1, "turn": [{"number": "1-1", "participant": "User", "utterance": "q"},
                                         {"number": "1-2", "parent": "1-2", "participant": "User"}]}],
     "topic 1 turn 1-2: no root leads to it, the parent links form a cycle \\(1-2 -> 1-2\\); 1 turns are cut off"),
    # TopiOCQA and QReCC: no str(None)
    ("qrecc", [{"Conversation_no": None, "Turn_no": 1, "Context": [], "Question": "q"}],
     "\\(record 0\\): Conversation_no is null"),
    ("qrecc", [{"Conversation_no": 1, "Turn_no": 1, "Context": [], "Question": " "}],
     '\\(record 0, turn 1_1\\): "Question" is " "'),
    ("topiocqa", [{"Conversation_no": 1, "Turn_no": 1, "Context": [], "Question": 7}],
     '\\(record 0, turn 1_1\\): "Question" is 7'),
])
def test_malformed_files_name_file_and_record(tmp_path, fmt, content, message):
    path = tmp_path / "topics.json"
    path.write_text(json.dumps(content))
    with pytest.raises(InputError, match=message) as error:
        convert_topics(fmt, [str(path)])
    assert str(path) in str(error.value)


def test_unknown_format_and_wrong_file_kind(tmp_path):
    with pytest.raises(UsageError, match="unknown topics format 'cast2018'"):
        convert_topics("cast2018", ["x.json"])
    path = tmp_path / "topics.txt"
    path.write_text("x")
    with pytest.raises(InputError, match="format cast2020 takes .json files"):
        convert_topics("cast2020", [str(path)])
