"""One turn of `serve` in this process: the document weights read from the hits' collection lines
(the index's postings where a line disagrees with Lucene's score), and the query input and
highlights with the onnx backend's tokenizer, against transformers' tokenizer as a reference."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from disco_pyserini.io.topics import read_topics
from disco_pyserini.pipeline.demo import sample_path
from live_server import build_sample_index

MODES = ["raw", "disco", "rewrite"]


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_encoder):
    return build_sample_index(tmp_path_factory.mktemp("serve-turn"), tiny_encoder)


def changed_collection(collection, folder):
    """A copy of ``collection`` with one more on every weight of every other passage: a collection
    that is not the index's. Returns the ids changed."""
    shutil.copytree(collection, folder)
    os.unlink(folder / ".disco_passages.offsets") if (folder / ".disco_passages.offsets").exists() else None
    changed = set()
    for name in sorted(os.listdir(folder / "vectors")):
        path = folder / "vectors" / name
        lines = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            record = json.loads(line)
            if number % 2 == 0:
                record["vector"] = {term: weight + 1 for term, weight in record["vector"].items()}
                changed.add(record["id"])
            lines.append(json.dumps(record, ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


@pytest.mark.java
@pytest.mark.slow
@pytest.mark.parametrize("foreign", [False, True], ids=["its-own-collection", "a-changed-collection"])
def test_a_turn_answers_the_librarys_explanations_with_weights_from_its_lines(index, tiny_model, tmp_path,
                                                                              foreign):
    from disco_pyserini.search.explain import Explainer
    from disco_pyserini.serve.backend import Backend

    collection, changed = index.parent / "collection", set()
    if foreign:
        changed = changed_collection(collection, tmp_path / "changed")
        collection = tmp_path / "changed"
    backend = Backend(str(index), [tiny_model], collection=str(collection))
    reference = Explainer(str(index), tiny_model)
    asked: list[str] = []
    weights = backend.postings.weights
    backend.postings.weights = lambda doc_ids, terms: asked.extend(doc_ids) or weights(doc_ids, terms)
    shown = set()
    try:
        for topic in read_topics(sample_path("topics.jsonl"))[:12]:
            conversation = [list(pair) for pair in topic.conversation]
            checked = backend.check(conversation, topic.rewrite, MODES, tiny_model, 20)
            for result, mode in zip(backend.search(checked, MODES, tiny_model, 20), MODES):
                expected = reference.explain(topic.conversation, mode, k=20, rewrite=topic.rewrite)
                assert result.explanation == expected  # the weights of the index, whichever way read
                shown |= {hit.doc_id for hit in expected.hits}
    finally:
        reference.close()
        backend.close()
    # the index's own collection: every weight from the lines; a changed one: the changed hits from the postings
    assert set(asked) == shown & changed
    assert bool(asked) == foreign


@pytest.fixture(scope="module")
def encodings(tmp_path_factory, tiny_model):
    from disco_pyserini.cli import main
    from disco_pyserini.encode.spec import EncoderSpec
    from disco_pyserini.search.queries import QueryEncoding

    folder = tmp_path_factory.mktemp("onnx") / "splade-tiny"
    assert main(["-q", "export-onnx", "--model", tiny_model, "--output", str(folder)]) == 0
    return (QueryEncoding(EncoderSpec(tiny_model, side="query", backend="torch", max_length=24)),
            QueryEncoding(EncoderSpec(str(folder), side="query", backend="onnx", max_length=24)))


def test_the_onnx_backend_reads_the_same_input_and_highlights_the_same_tokens(encodings):
    from disco_pyserini.search.explain import query_segments, read_input, token_spans

    torch_encoding, onnx_encoding = encodings
    truncated = 0
    for topic in read_topics(sample_path("topics.jsonl")):
        for mode in MODES if topic.rewrite else MODES[:2]:
            text, segments = query_segments(topic, mode)
            ours = read_input(onnx_encoding, text, segments)
            assert ours == read_input(torch_encoding, text, segments)
            truncated += ours.truncated
    assert truncated > 10  # max_length 24: many a conversation is cut, and both cut it alike
    # highlights: every token of a passage, as transformers' own tokenizer gives it with offsets
    tokenizer = torch_encoding.splade.tokenizer
    texts = [json.loads(line)["text"] for line in open(sample_path("corpus.jsonl"), encoding="utf-8")]
    texts.append("Ünïcödé, emoji 🐝 and\tcontrol\u0007 characters " * 30)  # longer than max_length
    encoded = tokenizer(texts, add_special_tokens=False, truncation=False, return_offsets_mapping=True)
    expected = [[(start, end, token) for token, (start, end)
                 in zip(tokenizer.convert_ids_to_tokens(ids), offsets) if end > start]
                for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"])]
    assert token_spans(onnx_encoding, texts) == token_spans(torch_encoding, texts) == expected
