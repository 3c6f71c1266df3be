"""Explanations: contributions add up to Lucene's score, document weights are the collection's, and
query terms are labelled by where the model read them.

The references are independent of the code under test: the document vectors the collection holds
(the index's postings are what is tested), each segment tokenized alone (the offsets of the whole
text are what is tested), and Lucene's own ranking and scores.
"""

from __future__ import annotations

import json

import pytest

from disco_pyserini.cli import main
from disco_pyserini.errors import UsageError
from disco_pyserini.io.topics import Topic, read_topics
from disco_pyserini.pipeline.demo import sample_path
from disco_pyserini.search.explain import ORIGINS, query_segments
from disco_pyserini.search.merge import integer_score
from live_server import build_sample_index

pytestmark = pytest.mark.java

CONVERSATION = [["How do honeybees tell each other where the food is?",
                 "Foragers perform a waggle dance on the comb."],
                ["How far do they fly to find it?", None]]


@pytest.fixture(scope="module")
def index(tmp_path_factory, tiny_encoder):
    return build_sample_index(tmp_path_factory.mktemp("explain"), tiny_encoder)


@pytest.fixture(scope="module")
def explainer(index, tiny_model):
    from disco_pyserini.search.explain import Explainer

    explainer = Explainer(str(index), tiny_model)
    yield explainer
    explainer.close()


@pytest.fixture(scope="module")
def collection_vectors(index):
    from disco_pyserini.encode.collection import Collection

    collection = Collection(index.parent / "collection")
    return collection.vectors(record["id"] for path in sorted((index.parent / "collection" / "vectors").iterdir())
                              for record in map(json.loads, path.read_text().splitlines()))


def segment_tokens(tokenizer, text):
    return set(tokenizer.tokenize(text))


# -- pure Python: the segments of each mode -----------------------------------------------------------------
def test_segments_rebuild_each_modes_text():
    topic = Topic("t_3", (("q one?", "a one."), ("q two?", None), ("q three?", None)), rewrite="the rewrite")
    text, segments = query_segments(topic, "disco")
    assert text == "q three? [SEP] q two? [SEP] a one. [SEP] q one?"
    assert [(s.origin, s.turn, text[s.start:s.end]) for s in segments] == [
        ("question", 3, "q three?"), ("earlier_question", 2, "q two?"), ("earlier_answer", 1, "a one."),
        ("earlier_question", 1, "q one?")]
    text, segments = query_segments(topic, "history")
    assert [text[s.start:s.end] for s in segments] == ["q three?", "q two?", "q one?"]
    assert query_segments(topic, "raw") == ("q three?", (("question", 3, 0, 8),))
    assert query_segments(topic, "rewrite") == ("the rewrite", (("rewrite", None, 0, 11),))


def test_integer_score_undoes_anserinis_rounding_and_tie_nudges():
    assert integer_score(213070.0, 1) == 213070
    assert integer_score(212757.999999, 3) == 212758  # the float a nudged tie becomes
    assert integer_score(1234.5, 1) is None  # no integer dot product
    assert integer_score(float(2**24), 1) is None  # beyond exact float sums


# -- against the real index -----------------------------------------------------------------------------------
def test_contributions_sum_to_lucenes_score_for_every_hit(explainer, collection_vectors):
    """Every hit of every sample turn in three modes: the contributions add up to the integer Lucene
    scored, and each is the query weight times the collection's impact of that term."""
    topics = read_topics(sample_path("topics.jsonl"))
    checked = 0
    for topic in topics:
        for mode in ("raw", "disco", "rewrite"):
            explanation = explainer.explain(topic, mode, k=10)
            query = {t.term: t.weight for t in explanation.terms}
            hits = explainer.searcher.search(query, 10)
            assert [(h.doc_id, h.score) for h in explanation.hits] == [(h.doc_id, h.score) for h in hits]
            if topic.query_id.endswith("_3"):  # the query is the model's, as the search encodes it
                assert query == explainer.encoding.encode_one(topic.query_text(mode))
            for hit in explanation.hits:
                document = collection_vectors[hit.doc_id]
                expected = {t: (w, document[t], w * document[t]) for t, w in query.items() if t in document}
                assert {c.term: (c.query_weight, c.document_weight, c.contribution) for c in hit.terms} == expected
                assert sum(c.contribution for c in hit.terms) == hit.dot_product
                assert hit.dot_product == round(hit.score) and abs(hit.score - hit.dot_product) < 1e-4
                assert hit.exact
                checked += 1
            assert explanation.exact
    assert checked == 50 * 3 * 10


def test_origins_are_where_the_model_read_each_term(explainer):
    tokenizer = explainer.encoding.splade.tokenizer
    seen = set()
    for topic in read_topics(sample_path("topics.jsonl"))[:20]:
        explanation = explainer.explain(topic, "disco", k=1)
        pairs = topic.conversation
        current = segment_tokens(tokenizer, pairs[-1][0])
        earlier_questions = set().union(*[segment_tokens(tokenizer, q) for q, _ in pairs[:-1]])
        earlier_answers = set().union(*[segment_tokens(tokenizer, a) for _, a in pairs[:-1] if a])
        for term in explanation.terms:
            expected = ("question" if term.term in current else "earlier_question" if term.term in earlier_questions
                        else "earlier_answer" if term.term in earlier_answers else "expansion")
            assert term.origin == expected, (topic.query_id, term)
            seen.add(term.origin)
            if term.origin != "expansion":
                assert term.found_in[0][0] == term.origin
        for hit in explanation.hits:
            origins = {t.term: t.origin for t in explanation.terms}
            assert all(c.origin == origins[c.term] for c in hit.terms)
    assert seen == {"question", "earlier_question", "earlier_answer", "expansion"}
    rewrite = explainer.explain(read_topics(sample_path("topics.jsonl"))[3], "rewrite", k=1)
    assert {t.origin for t in rewrite.terms} == {"rewrite", "expansion"}
    assert set(ORIGINS) == seen | {"rewrite"}


def test_origins_count_only_what_survives_truncation(index, tiny_model):
    from disco_pyserini.search.explain import Explainer
    from disco_pyserini.search.queries import QueryEncoding

    encoding = QueryEncoding(tiny_model, max_length=16)
    explainer = Explainer(str(index), encoding)
    try:
        conversation = [["What do honeybees eat?", "Nectar and pollen, and in winter the honey they stored "
                                                   "in the comb of the hive, which keeps them warm."],
                        ["How long does a queen live?", None]]
        explanation = explainer.explain(conversation, "disco", k=3)
    finally:
        explainer.close()
    query = explanation.query
    assert query.truncated and query.input_tokens == 16
    kept = query.text[:query.kept_characters]
    tokenizer = encoding.splade.tokenizer
    assert len(tokenizer(kept)["input_ids"]) == 16  # 14 tokens of text and [CLS], [SEP]
    read = segment_tokens(tokenizer, kept)
    cut_only = segment_tokens(tokenizer, query.text) - read
    assert {"hive", "warm"} <= cut_only
    for term in explanation.terms:
        assert (term.origin == "expansion") == (term.term not in read), term
    assert explanation.query_id is None and all(hit.exact for hit in explanation.hits)


def test_documents_asked_for_are_explained_wherever_they_rank(explainer, collection_vectors):
    top = explainer.explain(CONVERSATION, "raw", k=3)
    outside = next(doc for doc in sorted(collection_vectors) if doc not in {h.doc_id for h in top.hits})
    explanation = explainer.explain(CONVERSATION, "raw", k=3, doc_ids=[outside, top.hits[0].doc_id])
    assert [h.doc_id for h in explanation.hits] == [h.doc_id for h in top.hits] + [outside]
    asked = explanation.hits[-1]
    assert asked.rank is None and asked.score is None
    query = {t.term: t.weight for t in explanation.terms}
    document = collection_vectors[outside]
    assert asked.dot_product == sum(w * document[t] for t, w in query.items() if t in document)
    with pytest.raises(UsageError, match="not in the index"):
        explainer.explain(CONVERSATION, "raw", k=3, doc_ids=["no-such-document"])


def test_a_sharded_index_is_explained_as_the_single_one(index, explainer, tiny_model):
    """Each hit's weights come from the shard that holds it; the explanation is the single index's."""
    from disco_pyserini.index.lucene import build_index
    from disco_pyserini.search.explain import Explainer

    sharded = index.parent / "sharded"
    build_index(str(index.parent / "collection"), str(sharded), shards=3)
    explainer_of_shards = Explainer(str(sharded), explainer.encoding)
    try:
        for topic in read_topics(sample_path("topics.jsonl"))[::7]:
            one = explainer.explain(topic, "disco", k=10).to_json()
            shards = explainer_of_shards.explain(topic, "disco", k=10).to_json()
            assert shards == {**one, "index": str(sharded)}
    finally:
        explainer_of_shards.close()


def test_explain_command_json_and_table(index, tiny_model, capsys):
    assert main(["-q", "explain", "--index", str(index), "--model", tiny_model, "--topics", sample_path("topics.jsonl"),
                 "--qid", "2_3", "--hits", "4", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["query_id"] == "2_3" and record["mode"] == "disco" and len(record["hits"]) == 4
    assert record["exact"] and all(hit["exact"] for hit in record["hits"])
    for hit in record["hits"]:
        assert sum(t["contribution"] for t in hit["terms"]) == hit["dot_product"] == round(hit["score"])
        assert all(t["query_weight"] * t["document_weight"] == t["contribution"] for t in hit["terms"])
    assert main(["-q", "explain", "--index", str(index), "--model", tiny_model,
                 "--conversation", json.dumps(CONVERSATION), "--rewrite", "How far do honeybees fly to find food?",
                 "--query-mode", "rewrite", "--hits", "2", "--terms", "3"]) == 0
    table = capsys.readouterr().out
    assert "mode rewrite" in table and "query text: How far do honeybees fly to find food?" in table
    hit_lines = [line for line in table.splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in hit_lines] == ["#1", "#2"]
    for line in hit_lines:  # "#1 DOC  score S = N from M matched terms"
        words = line.split()
        assert round(float(words[3])) == int(words[5])


@pytest.mark.parametrize(("arguments", "message"), [
    (["--topics", sample_path("topics.jsonl")], "--topics needs --qid"),
    (["--topics", sample_path("topics.jsonl"), "--qid", "99_9"], "--qid 99_9 is not in"),
    (["--conversation", "[[\"q\", null]"], "--conversation is not JSON"),
    (["--conversation", "{\"q\": 1}"], "must be a JSON list"),
    (["--conversation", "[]"], "the conversation has no turns"),
    (["--conversation", "[[\"q\", \"an answer\"]]"], "already has an answer"),
    (["--conversation", "[[\"q\", null]]", "--query-mode", "rewrite"], "no 'rewrite'"),
])
def test_explain_command_bad_input_is_one_line(index, tiny_model, capsys, arguments, message):
    assert main(["-q", "explain", "--index", str(index), "--model", tiny_model, *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error, error


@pytest.mark.slow
def test_disco_query_encoder_explains_pyserinis_own_hits(index, tiny_model):
    """LuceneImpactSearcher with DiscoQueryEncoder, as the README shows it; the explanation of its hits."""
    from pyserini.search.lucene import LuceneImpactSearcher

    from disco_pyserini.search.query_encoder import DiscoQueryEncoder

    encoder = DiscoQueryEncoder(tiny_model)
    searcher = LuceneImpactSearcher(str(index), encoder, min_idf=-1)
    conversation = [tuple(pair) for pair in CONVERSATION]
    hits = searcher.search(conversation, k=10)
    explanation = encoder.explain(conversation, hits, str(index))
    assert [h.doc_id for h in explanation.hits] == [h.docid for h in hits] and len(hits) == 10
    for hit, pyserini_hit in zip(explanation.hits, hits):
        assert hit.score == pyserini_hit.score and hit.exact
        assert sum(c.contribution for c in hit.terms) == round(pyserini_hit.score)
    assert {t.origin for t in explanation.terms} >= {"question", "earlier_question", "earlier_answer"}
    with pytest.raises(UsageError, match="not its flattened string"):
        encoder.explain("q [SEP] a [SEP] q0", hits, str(index))
