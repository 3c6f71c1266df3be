"""Conversational topic sets as our topics: TREC CAsT 2019-2022, TREC iKAT 2023, TopiOCQA, QReCC.

Each reader returns :class:`~disco_pyserini.io.topics.Topic` records, one per turn to search, with
the query ids the official qrels use, every rewrite the source has (``rewrite`` = manual,
``rewrite_auto`` = automatic), and the answers the dataset provides for the history:

========  ===================================================  ==========================
format    inputs                                               answers
========  ===================================================  ==========================
cast2019  ``evaluation_topics_v1.0.json`` (or training topics)  none
          [+ ``evaluation_topics_annotated_resolved_v1.0.tsv``]
cast2020  manual and/or automatic evaluation topics JSON       canonical passage, with
                                                               ``--passages`` (id -> text)
cast2021  manual and/or automatic evaluation topics JSON       canonical passage text
cast2022  flattened or tree evaluation topics JSON             system responses
ikat2023  iKAT topics JSON                                     responses
topiocqa  TopiOCQA JSON (``Conversation_no``, ``Context``...)   answers
qrecc     QReCC JSON (``Conversation_no``, ``Rewrite``...)      answers
========  ===================================================  ==========================
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InputError, UsageError
from ..io.corpus import parse_document
from ..io.jsonl import iter_lines, read_json, read_jsonl
from ..io.runs import Qrel
from ..io.topics import Topic

Converter = Callable[[Sequence[str], Mapping[str, str] | None], list[Topic]]


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return " ".join(value.split())
    return None


def _need(record: Mapping[str, Any], key: str, path: str, where: str) -> Any:
    if not isinstance(record, Mapping) or key not in record:
        raise InputError(path, f"{where} has no {key!r}", fix="is this the right --format for the file?")
    return record[key]


def _list_of_topics(path: str, data: Any, turns_key: str) -> list[Mapping[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(t, Mapping) for t in data):
        raise InputError(path, "expected a JSON list of topics", fix="is this the right --format for the file?")
    for position, topic in enumerate(data):
        number = _need(topic, "number", path, f"topic {position}")
        turns = _need(topic, turns_key, path, f"topic {number}")
        if not isinstance(turns, list) or not all(isinstance(t, Mapping) for t in turns):
            raise InputError(path, f"topic {number}: {turns_key!r} must be a list of objects")
    return data


def _turn_id(topic: Mapping[str, Any], turn: Mapping[str, Any], key: str, path: str) -> str:
    """``{topic number}_{turn number}``, as the qrels of CAsT and iKAT spell query ids."""
    number = topic["number"]
    return f"{number}_{_need(turn, key, path, f'a turn of topic {number}')}"


def _make_topic(path: str, qid: str, conversation: list[tuple[str, str | None]], **fields: Any) -> Topic:
    try:
        return Topic(qid, tuple(conversation), fields.pop("rewrite", None), fields.pop("rewrite_auto", None),
                     {k: v for k, v in fields.items() if v is not None})
    except ValueError as error:
        raise InputError(path, str(error), record=f"qid {qid}") from None


def _split_inputs(inputs: Sequence[str], suffixes: Mapping[str, str], fmt: str) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for path in inputs:
        if not os.path.isfile(path):
            raise InputError(path, "no such file", fix="check the INPUT paths")
        for suffix, group in suffixes.items():
            if path.endswith(suffix):
                groups.setdefault(group, []).append(path)
                break
        else:
            raise InputError(path, f"format {fmt} takes {', '.join(suffixes)} files")
    return groups


# -- TREC CAsT 2019 ------------------------------------------------------------------------------
def read_resolved_tsv(path: str) -> dict[str, str]:
    """CAsT 2019 manual rewrites: ``qid<TAB>text`` per line. A qid may repeat only with the same text."""
    rewrites: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        qid, tab, text = line.partition("\t")
        rewrite = _text(text)
        if not tab or rewrite is None or "_" not in qid:
            raise InputError(path, "expected qid<TAB>rewrite, e.g. 31_1<TAB>What is throat cancer?", line=number)
        qid = qid.strip()
        if qid in rewrites and rewrites[qid] != rewrite:
            raise InputError(path, f"turn {qid} has a second, different rewrite (the first is at line {lines[qid]})",
                             line=number, fix="keep one rewrite per turn")
        rewrites[qid] = rewrite
        lines.setdefault(qid, number)
    return rewrites


def read_cast2019(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    groups = _split_inputs(inputs, {".json": "topics", ".tsv": "rewrites"}, "cast2019")
    rewrites: dict[str, str] = {}
    for path in groups.get("rewrites", []):
        rewrites.update(read_resolved_tsv(path))
    topics = []
    for path in groups.get("topics", []):
        for topic in _list_of_topics(path, read_json(path), "turn"):
            history: list[tuple[str, str | None]] = []
            for turn in topic["turn"]:
                qid = _turn_id(topic, turn, "number", path)
                question = _text(_need(turn, "raw_utterance", path, f"turn {qid}"))
                if question is None:
                    raise InputError(path, f"turn {qid} has an empty raw_utterance")
                topics.append(_make_topic(path, qid, history + [(question, None)], rewrite=rewrites.get(qid),
                                          title=_text(topic.get("title")), description=_text(topic.get("description"))))
                history.append((question, None))  # CAsT 2019 gives no answers
    if not topics:
        raise UsageError("cast2019 needs the topics JSON (evaluation_topics_v1.0.json)")
    unknown = sorted(set(rewrites) - {t.query_id for t in topics})
    if unknown:
        raise InputError(groups["rewrites"][0], f"rewrites for turns the topics lack: {', '.join(unknown[:5])}")
    return topics


# -- TREC CAsT 2020 and 2021 ---------------------------------------------------------------------
def _merge_cast_files(paths: Sequence[str], answer: Callable[[Mapping[str, Any]], str | None],
                      fmt: str) -> list[Topic]:
    """Manual and automatic files describe the same turns; fields are merged per turn, then
    ``answer(fields)`` gives the text of each turn's canonical response."""
    merged: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    structure: dict[str, list[str]] = {}
    for path in paths:
        for topic in _list_of_topics(path, read_json(path), "turn"):
            numbers = []
            for turn in topic["turn"]:
                qid = _turn_id(topic, turn, "number", path)
                numbers.append(qid)
                fields = merged.setdefault(qid, {"path": path, "from": {}})
                if qid not in order:
                    order.append(qid)
                question = _text(_need(turn, "raw_utterance", path, f"turn {qid}"))
                if question is None:
                    raise InputError(path, f"turn {qid} has an empty raw_utterance")
                if fields.setdefault("question", question) != question:
                    raise InputError(path, f"turn {qid}: raw_utterance differs from {fields['path']}'s")
                for key in ("manual_rewritten_utterance", "automatic_rewritten_utterance"):
                    if _text(turn.get(key)):
                        _merge_field(fields, key, _text(turn[key]), path, qid)
                for key in ("manual_canonical_result_id", "automatic_canonical_result_id", "canonical_result_id",
                            "passage"):
                    if turn.get(key):
                        _merge_field(fields, key, turn[key], path, qid)
            key = str(topic["number"])
            if key in structure and structure[key] != numbers:
                raise InputError(path, f"topic {key} has other turns than in {paths[0]}")
            structure[key] = numbers
    topics = []
    for numbers in structure.values():
        history: list[tuple[str, str | None]] = []
        for qid in numbers:
            fields = merged[qid]
            extra = {k: fields.get(k) for k in ("manual_canonical_result_id", "automatic_canonical_result_id",
                                                 "canonical_result_id")}
            topics.append(_make_topic(fields["path"], qid, history + [(fields["question"], None)],
                                      rewrite=fields.get("manual_rewritten_utterance"),
                                      rewrite_auto=fields.get("automatic_rewritten_utterance"), **extra))
            history.append((fields["question"], answer(fields)))
    if not topics:
        raise UsageError(f"{fmt} needs at least one topics JSON file")
    return topics


def _merge_field(fields: dict[str, Any], key: str, value: Any, path: str, qid: str) -> None:
    """Set ``fields[key]``; a value that another file gave differently is an error, not a silent choice."""
    if key in fields and fields[key] != value:
        raise InputError(path, f"turn {qid}: {key} differs from the one in {fields['from'][key]}",
                         fix="pass files that agree (the manual and automatic topics of one year)")
    fields[key] = value
    fields["from"].setdefault(key, path)


def read_cast2020(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    """Answers are the canonical responses (manual ones where given), looked up in ``passages``."""
    groups = _split_inputs(inputs, {".json": "topics"}, "cast2020")
    missing: list[str] = []

    def answer(fields: Mapping[str, Any]) -> str | None:
        passage_id = fields.get("manual_canonical_result_id") or fields.get("automatic_canonical_result_id")
        if passages is None or passage_id is None:
            return None
        if passage_id not in passages:
            missing.append(passage_id)
            return None
        return _text(passages[passage_id])

    topics = _merge_cast_files(groups["topics"], answer, "cast2020")
    if missing:
        raise InputError(groups["topics"][0], f"{len(missing)} canonical passages are not in --passages "
                         f"(first: {missing[0]})", fix="add them to the passages file, or leave --passages out")
    return topics


def read_cast2021(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    groups = _split_inputs(inputs, {".json": "topics"}, "cast2021")
    return _merge_cast_files(groups["topics"], lambda fields: _text(fields.get("passage")), "cast2021")


# -- TREC CAsT 2022 ------------------------------------------------------------------------------
def read_cast2022(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    """User turns of the flattened file (each entry one branch) or of the tree file, history along
    the branch; a turn shared by several branches is emitted once."""
    groups = _split_inputs(inputs, {".json": "topics"}, "cast2022")
    topics: dict[str, Topic] = {}
    for path in groups["topics"]:
        for topic in _list_of_topics(path, read_json(path), "turn"):
            if any("participant" in turn for turn in topic["turn"]):
                branches = _tree_branches(path, topic)
            else:
                branches = [[t for t in topic["turn"]]]
            for branch in branches:
                history: list[tuple[str, str | None]] = []
                for turn in branch:
                    qid = _turn_id(topic, turn, "number", path)
                    question = _text(_need(turn, "utterance", path, f"turn {qid}"))
                    if question is None:
                        raise InputError(path, f"turn {qid} has an empty utterance")
                    made = _make_topic(path, qid, history + [(question, None)],
                                       rewrite=_text(turn.get("manual_rewritten_utterance")),
                                       provenance=turn.get("provenance"))
                    if qid in topics and topics[qid].conversation != made.conversation:
                        raise InputError(path, f"turn {qid} has two different histories")
                    topics.setdefault(qid, made)
                    history.append((question, _text(turn.get("response"))))
    return list(topics.values())


def _tree_branches(path: str, topic: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
    """Every root-to-leaf path of user turns; each carries the system response on *that* path (a
    user turn can have several, e.g. an answer on one branch and a clarifying question on another).

    Every turn must be reachable from a root (a turn without ``parent``), be a ``User`` or a
    ``System`` turn, and a system turn must answer a user turn: anything else is an error."""
    name = f"topic {topic['number']}"
    nodes: dict[str, Mapping[str, Any]] = {}
    for position, turn in enumerate(topic["turn"]):
        number = str(_need(turn, "number", path, f"turn {position} of {name}"))
        if number in nodes:
            raise InputError(path, f"{name}: turn number {number} appears twice", fix="number every turn once")
        if turn.get("participant") not in ("User", "System"):
            raise InputError(path, f"{name} turn {number}: participant {turn.get('participant')!r} is neither "
                             f"'User' nor 'System'", fix="spell it User or System, as the TREC CAsT 2022 tree does")
        nodes[number] = turn
    children: dict[str | None, list[str]] = {}
    for number, turn in nodes.items():
        parent = turn.get("parent")
        if parent is not None and str(parent) not in nodes:
            raise InputError(path, f"{name} turn {number}: parent {parent} does not exist")
        if turn["participant"] == "System" and (parent is None or nodes[str(parent)]["participant"] != "User"):
            raise InputError(path, f"{name} turn {number}: a System turn must answer a User turn "
                             f"(its parent is {'none' if parent is None else parent})")
        children.setdefault(None if parent is None else str(parent), []).append(number)
    branches = []
    reached: set[str] = set()

    def walk(number: str, users: list[dict[str, Any]]) -> None:
        reached.add(number)
        turn = nodes[number]
        if turn["participant"] == "User":
            users = users + [{k: v for k, v in turn.items() if k != "response"}]
        else:
            users = users[:-1] + [{**users[-1], "response": turn.get("response"), "provenance": turn.get("provenance")}]
        below = children.get(number, [])
        if not below:
            branches.append(users)
        for child in below:
            walk(child, users)

    for root in children.get(None, []):
        walk(root, [])
    unreached = [number for number in nodes if number not in reached]
    if unreached:  # every parent exists, so following parents from an unreached turn runs into a cycle
        chain = [unreached[0]]
        while str(nodes[chain[-1]]["parent"]) not in chain:
            chain.append(str(nodes[chain[-1]]["parent"]))
        cycle = chain[chain.index(str(nodes[chain[-1]]["parent"])):]
        raise InputError(path, f"{name} turn {unreached[0]}: no root leads to it, the parent links form a cycle "
                         f"({' -> '.join(cycle + cycle[:1])}); {len(unreached)} turns are cut off",
                         fix="give the first turn of the conversation no parent")
    return branches


# -- TREC iKAT 2023 ------------------------------------------------------------------------------
def read_ikat2023(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    groups = _split_inputs(inputs, {".json": "topics"}, "ikat2023")
    topics = []
    for path in groups["topics"]:
        for topic in _list_of_topics(path, read_json(path), "turns"):
            history: list[tuple[str, str | None]] = []
            ptkb = topic.get("ptkb")
            for turn in topic["turns"]:
                qid = _turn_id(topic, turn, "turn_id", path)
                question = _text(_need(turn, "utterance", path, f"turn {qid}"))
                if question is None:
                    raise InputError(path, f"turn {qid} has an empty utterance")
                topics.append(_make_topic(path, qid, history + [(question, None)],
                                          rewrite=_text(turn.get("resolved_utterance")), ptkb=ptkb,
                                          ptkb_provenance=turn.get("ptkb_provenance")))
                history.append((question, _text(turn.get("response"))))
    return topics


# -- TopiOCQA and QReCC --------------------------------------------------------------------------
def _read_qa_records(path: str, fmt: str, fields: Sequence[str]) -> list[Mapping[str, Any]]:
    data = read_json(path)
    if isinstance(data, Mapping) and "data" in data:
        data = data["data"]
    if not isinstance(data, list):
        raise InputError(path, f"expected a JSON list of {fmt} records")
    for position, record in enumerate(data):
        for field in fields:
            _need(record, field, path, f"record {position}")
    return data


def _context_pairs(path: str, qid: str, context: Any) -> list[tuple[str, str | None]]:
    if not isinstance(context, list) or len(context) % 2 or not all(isinstance(x, str) for x in context):
        raise InputError(path, "\"Context\" must alternate question and answer strings", record=f"turn {qid}")
    return [(" ".join(context[i].split()), _text(context[i + 1])) for i in range(0, len(context), 2)]


def _qa_turn(path: str, position: int, record: Mapping[str, Any]) -> tuple[str, str]:
    """The query id and question of a TopiOCQA or QReCC record; null or empty values are errors
    (``str(None)`` would search for the word "None")."""
    parts = []
    for key in ("Conversation_no", "Turn_no"):
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip():
            raise InputError(path, f"{key} is {json.dumps(value)}, expected a number", record=f"record {position}")
        parts.append(str(value))
    qid = "_".join(parts)
    question = _text(record["Question"])
    if question is None:
        raise InputError(path, f"\"Question\" is {json.dumps(record['Question'])}, expected the question's text",
                         record=f"record {position}, turn {qid}", fix="fill in the question or remove the record")
    return qid, question


def read_topiocqa(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    topics = []
    for path in _split_inputs(inputs, {".json": "topics"}, "topiocqa")["topics"]:
        records = _read_qa_records(path, "topiocqa", ("Conversation_no", "Turn_no", "Context", "Question"))
        for position, record in enumerate(records):
            qid, question = _qa_turn(path, position, record)
            history = _context_pairs(path, qid, record["Context"])
            gold = record.get("Gold_passage")
            topics.append(_make_topic(path, qid, history + [(question, None)],
                                      answer=_text(record.get("Answer")), topic=_text(record.get("Topic")),
                                      gold_passage=gold.get("id") if isinstance(gold, Mapping) else None))
    return topics


def read_qrecc(inputs: Sequence[str], passages: Mapping[str, str] | None = None) -> list[Topic]:
    topics = []
    for path in _split_inputs(inputs, {".json": "topics"}, "qrecc")["topics"]:
        for position, record in enumerate(_read_qa_records(path, "qrecc", ("Conversation_no", "Turn_no", "Context",
                                                                           "Question"))):
            qid, question = _qa_turn(path, position, record)
            history = _context_pairs(path, qid, record["Context"])
            topics.append(_make_topic(path, qid, history + [(question, None)],
                                      rewrite=_text(record.get("Rewrite")), answer=_text(record.get("Answer")),
                                      answer_url=_text(record.get("Answer_URL")),
                                      source=_text(record.get("Conversation_source"))))
    return topics


FORMATS: dict[str, Converter] = {
    "cast2019": read_cast2019,
    "cast2020": read_cast2020,
    "cast2021": read_cast2021,
    "cast2022": read_cast2022,
    "ikat2023": read_ikat2023,
    "topiocqa": read_topiocqa,
    "qrecc": read_qrecc,
}


def gold_qrels(topics: Sequence[Topic]) -> list[Qrel]:
    """Qrels from the gold passage each turn carries (TopiOCQA's ``Gold_passage``)."""
    qrels = [Qrel(t.query_id, str(t.extra["gold_passage"]), 1) for t in topics if t.extra.get("gold_passage")]
    if not qrels:
        raise UsageError("--qrels-output needs topics with gold passages (format topiocqa)")
    return qrels


def read_passages(path: str) -> dict[str, str]:
    """``--passages``: a JSONL corpus file (``{"id", "contents"}`` or ``{"id", "title", "text"}``),
    each passage id once."""
    passages: dict[str, str] = {}
    lines: dict[str, int] = {}
    for line, record in read_jsonl(path):
        document = parse_document(record, path, line)
        if document.doc_id in lines:
            raise InputError(path, f"passage id {document.doc_id} appears again (first at line "
                             f"{lines[document.doc_id]})", line=line, fix="give every passage its own id")
        passages[document.doc_id] = document.text
        lines[document.doc_id] = line
    return passages


def convert_topics(fmt: str, inputs: Sequence[str], passages: str | None = None) -> list[Topic]:
    if fmt not in FORMATS:
        raise UsageError(f"unknown topics format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if passages is not None and fmt != "cast2020":
        raise UsageError("--passages fills in CAsT 2020's canonical passages; the other formats carry their answers")
    topics = FORMATS[fmt](inputs, read_passages(passages) if passages else None)
    seen: set[str] = set()
    for topic in topics:
        if topic.query_id in seen:
            raise InputError(inputs[0], f"query id {topic.query_id} appears twice", fix="pass each file once")
        seen.add(topic.query_id)
    if not topics:
        raise InputError(inputs[0], f"no turns found for format {fmt}")
    return topics
