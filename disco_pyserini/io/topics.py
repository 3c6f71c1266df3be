"""Topics files: JSONL, one line per turn to search.

``{"qid": "31_4", "conversation": [["q0", "a0"], ..., ["q_n", null]], "rewrite": "..."}``;
``rewrite`` (manual) and ``rewrite_auto`` (automatic) are optional, and other string fields are
kept in ``extra`` so that any rewrite a dataset has can be searched (query mode ``field:NAME``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conversation import (
    QUERY_MODES,
    check_conversation,
    current_question,
    flatten_conversation,
    history_questions,
)
from ..errors import InputError, QueryTextError, UsageError
from .corpus import SURROGATE_FIX, lone_surrogate
from .jsonl import read_jsonl, write_jsonl
from .runs import QUERY_ID_FIX, pyserini_id_problem

_MODE_FIELDS = {"rewrite": "rewrite", "rewrite-auto": "rewrite_auto"}


@dataclass(frozen=True)
class Topic:
    """One turn to search: its query id, the conversation up to it, and its rewrites."""

    query_id: str
    conversation: tuple[tuple[str, str | None], ...]
    rewrite: str | None = None
    rewrite_auto: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.query_id or any(c.isspace() for c in self.query_id):
            raise ValueError(f"query id {self.query_id!r} is empty or contains white space")
        problem = pyserini_id_problem(self.query_id)
        if problem is not None:  # runs are written in Pyserini's order, with Pyserini's query ids
            raise ValueError(f"query id {self.query_id!r}: {problem}; {QUERY_ID_FIX}")
        check_conversation(self.conversation)

    @property
    def depth(self) -> int:
        """1 for the first turn of a conversation, 2 for the second, ..."""
        return len(self.conversation)

    def query_text(self, mode: str) -> str:
        """The text that ``mode`` searches with (see :data:`conversation.QUERY_MODES`)."""
        if mode == "disco":
            return flatten_conversation(self.conversation)
        if mode == "raw":
            return current_question(self.conversation)
        if mode == "history":
            return history_questions(self.conversation)
        if mode in _MODE_FIELDS:
            name = _MODE_FIELDS[mode]
            text = getattr(self, name)
        elif mode.startswith("field:"):
            name = mode[len("field:"):]
            text = self.extra.get(name)
        else:
            raise UsageError(f"unknown query mode {mode!r}; choose one of {', '.join(QUERY_MODES)} or field:NAME")
        if not isinstance(text, str) or not text.strip():
            raise QueryTextError(f"topic {self.query_id} has no {name!r} for query mode {mode!r}; "
                                 f"choose another query mode or add the field to the topics file")
        return text.strip()

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"qid": self.query_id, "conversation": [list(p) for p in self.conversation]}
        if self.rewrite is not None:
            record["rewrite"] = self.rewrite
        if self.rewrite_auto is not None:
            record["rewrite_auto"] = self.rewrite_auto
        record.update(self.extra)
        return record


def conversation_id(query_id: str) -> str:
    """``31`` for ``31_4``, ``132`` for ``132_1-3``: the turns of one conversation share it."""
    return query_id.rsplit("_", 1)[0] if "_" in query_id else query_id


def check_query_mode(mode: str) -> str:
    if mode in QUERY_MODES or (mode.startswith("field:") and len(mode) > len("field:")):
        return mode
    raise UsageError(f"unknown query mode {mode!r}; choose one of {', '.join(QUERY_MODES)} or field:NAME")


def topic_from_json(record: Any, path: str, line: int) -> Topic:
    fix = 'write {"qid": "...", "conversation": [["question", "answer"], ..., ["current question", null]]}'
    if not isinstance(record, dict):
        raise InputError(path, "a topic must be a JSON object", line=line, fix=fix)
    qid = record.get("qid")
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    if not isinstance(qid, str) or not qid:
        raise InputError(path, "the topic has no \"qid\"", line=line, fix=fix)
    problem = pyserini_id_problem(qid)
    if problem is not None:
        raise InputError(path, f"query id {qid!r}: {problem}", line=line, fix=QUERY_ID_FIX)
    conversation = record.get("conversation")
    if not isinstance(conversation, list):
        raise InputError(path, "the topic has no \"conversation\" list", line=line, record=f"qid {qid}", fix=fix)
    rewrites = {}
    for name in ("rewrite", "rewrite_auto"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError(path, f"\"{name}\" must be a string or null", line=line, record=f"qid {qid}")
        rewrites[name] = value
    texts = [text for pair in conversation if isinstance(pair, list) for text in pair if isinstance(text, str)]
    for what, values in (("the conversation", texts), ("the rewrite", [rewrites["rewrite"]]),
                         ("the automatic rewrite", [rewrites["rewrite_auto"]])):
        if any(isinstance(value, str) and lone_surrogate(value) is not None for value in values):
            raise InputError(path, f"{what} holds a lone surrogate (half of a character)", line=line,
                             record=f"qid {qid}", fix=SURROGATE_FIX)
    extra = {k: v for k, v in record.items() if k not in ("qid", "conversation", "rewrite", "rewrite_auto")}
    try:
        pairs = tuple((p[0], p[1]) if isinstance(p, list) and len(p) == 2 else p for p in conversation)
        return Topic(qid, pairs, rewrites["rewrite"], rewrites["rewrite_auto"], extra)
    except ValueError as error:
        raise InputError(path, str(error), line=line, record=f"qid {qid}", fix=fix) from None


def read_topics(path: str | os.PathLike[str]) -> list[Topic]:
    """All topics of a JSONL topics file, in file order; duplicate query ids are an error."""
    path = os.fspath(path)
    topics: list[Topic] = []
    seen: dict[str, int] = {}
    for line, record in read_jsonl(path):
        topic = topic_from_json(record, path, line)
        if topic.query_id in seen:
            raise InputError(path, f"query id {topic.query_id} appears twice (first at line {seen[topic.query_id]})",
                             line=line, fix="give every turn its own qid")
        seen[topic.query_id] = line
        topics.append(topic)
    if not topics:
        raise InputError(path, "the topics file holds no topics", fix="write one JSON object per line")
    return topics


def write_topics(topics: Iterable[Topic], path: str | os.PathLike[str]) -> int:
    """Write topics as JSONL (atomically); returns how many."""
    return write_jsonl(path, (topic.to_json() for topic in topics))
