"""Conversations and the query text each query mode searches with.

A conversation is a sequence of ``(question, answer)`` pairs, oldest first; the last pair is the
current question and its answer is ``None``, exactly the ``conv`` list of the DiSCo model cards.
DiSCo flattens it newest first, so that right-side truncation drops the oldest history and the
current question always survives::

    q_n [SEP] a_{n-1} [SEP] q_{n-1} [SEP] ... [SEP] a_0 [SEP] q_0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

SEP = " [SEP] "

QueryMode = Literal["disco", "raw", "rewrite", "rewrite-auto", "history"]
QUERY_MODES: tuple[str, ...] = get_args(QueryMode)

Pair = Sequence["str | None"]


def check_conversation(conversation: Sequence[Pair]) -> None:
    if isinstance(conversation, str) or not isinstance(conversation, Sequence):
        raise ValueError("a conversation is a list of (question, answer) pairs, oldest first")
    if len(conversation) == 0:
        raise ValueError("the conversation has no turns: it needs at least the current question")
    for number, pair in enumerate(conversation):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"turn {number} is not a (question, answer) pair: {pair!r}")
        question, answer = pair
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"turn {number} has no question text")
        if answer is not None and not isinstance(answer, str):
            raise ValueError(f"turn {number} has an answer that is not text: {answer!r}")
    if conversation[-1][1]:
        raise ValueError("the last turn already has an answer: the last pair is the current question, "
                         "with answer None")


def flatten_conversation(conversation: Sequence[Pair], sep: str = SEP) -> str:
    """``q_n [SEP] a_{n-1} [SEP] q_{n-1} ... [SEP] q_0``; answers that are None or empty are left out.

    >>> flatten_conversation([("what is a shark?", "a fish."), ("do they sleep?", None)])
    'do they sleep? [SEP] a fish. [SEP] what is a shark?'
    """
    check_conversation(conversation)
    parts = [conversation[-1][0].strip()]
    for question, answer in reversed(conversation[:-1]):
        if answer is not None and answer.strip():
            parts.append(answer.strip())
        parts.append(question.strip())
    return sep.join(parts)


def history_questions(conversation: Sequence[Pair], sep: str = SEP) -> str:
    """All questions of the conversation, newest first, without answers."""
    check_conversation(conversation)
    return sep.join(question.strip() for question, _ in reversed(conversation))


def current_question(conversation: Sequence[Pair]) -> str:
    """The question being asked now: the last turn's."""
    check_conversation(conversation)
    return conversation[-1][0].strip()
