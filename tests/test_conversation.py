from __future__ import annotations

import re

import pytest

from disco_pyserini import flatten_conversation
from disco_pyserini.conversation import history_questions
from disco_pyserini.io.topics import Topic

# the `conv` of the DiSCo model cards (slupart/splade-disco-human and the others)
MODEL_CARD_CONV = [
    ("what's the weather like today?", "it's sunny."),
    ("should I wear sunscreen?", "yes, UV index is high."),
    ("do I need sunglasses?", "definitely."),
    ("where can I buy sunglasses?", "try the optician nearby."),
    ("how much do they cost?", None),
]


def test_model_card_example_flattens_newest_first():
    assert flatten_conversation(MODEL_CARD_CONV) == (
        "how much do they cost? [SEP] try the optician nearby. [SEP] where can I buy sunglasses? [SEP] "
        "definitely. [SEP] do I need sunglasses? [SEP] yes, UV index is high. [SEP] should I wear sunscreen? "
        "[SEP] it's sunny. [SEP] what's the weather like today?"
    )


def test_same_as_model_card_code():
    conv = MODEL_CARD_CONV
    parts = [conv[-1][0]] + [x for q, a in reversed(conv[:-1]) for x in (a, q) if x]
    assert flatten_conversation(conv) == " [SEP] ".join(parts)


def test_missing_and_empty_answers_are_left_out():
    conv = [("q0", None), ("q1", ""), ("q2", "a2"), ("q3", None)]
    assert flatten_conversation(conv) == "q3 [SEP] a2 [SEP] q2 [SEP] q1 [SEP] q0"


def test_single_turn_is_the_question():
    assert flatten_conversation([["What is SPLADE?", None]]) == "What is SPLADE?"


@pytest.mark.parametrize("conv, message", [
    ([], "no turns"),
    ([("q0", "a0"), ("q1", "a1")], "already has an answer"),
    ("just a string", "list of (question, answer) pairs"),
    ([("q0",)], "not a (question, answer) pair"),
    ([("  ", None)], "no question text"),
])
def test_bad_conversations_are_refused(conv, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        flatten_conversation(conv)


def test_history_mode_has_questions_only_newest_first():
    assert history_questions(MODEL_CARD_CONV) == (
        "how much do they cost? [SEP] where can I buy sunglasses? [SEP] do I need sunglasses? [SEP] "
        "should I wear sunscreen? [SEP] what's the weather like today?")


def test_query_modes_of_a_topic():
    topic = Topic("31_2", (("What is throat cancer?", "A cancer of the throat."), ("Is it treatable?", None)),
                  rewrite="Is throat cancer treatable?", extra={"rewrite_t5": "Is throat cancer curable?"})
    assert topic.query_text("raw") == "Is it treatable?"
    assert topic.query_text("disco") == "Is it treatable? [SEP] A cancer of the throat. [SEP] What is throat cancer?"
    assert topic.query_text("rewrite") == "Is throat cancer treatable?"
    assert topic.query_text("field:rewrite_t5") == "Is throat cancer curable?"
    assert topic.depth == 2
    with pytest.raises(ValueError, match="no 'rewrite_auto'"):
        topic.query_text("rewrite-auto")


def test_truncation_keeps_the_current_question(tiny_encoder):
    history = [(f"old question number {i} about volcanoes and glaciers", f"a long answer {i} " * 10)
               for i in range(40)]
    conv = history + [("what is the current question about sharks?", None)]
    text = flatten_conversation(conv)
    (ids,) = tiny_encoder.tokenize([text])
    assert len(ids) == 256
    tokens = tiny_encoder.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[:9] == ["[CLS]", "what", "is", "the", "current", "question", "about", "sharks", "?"]
    assert tokens[-1] == "[SEP]"
    assert "volcanoes" in tokens  # the newest history survives ...
    assert "39" in tokens and "0" not in tokens[10:]  # ... the oldest is cut first
