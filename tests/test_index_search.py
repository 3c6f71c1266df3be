"""A real Lucene impact index of CACM documents encoded with SPLADE-tiny."""

from __future__ import annotations

import json
import os

import pytest

from disco_pyserini import flatten_conversation
from disco_pyserini.errors import UsageError
from disco_pyserini.index.lucene import read_index_metadata
from disco_pyserini.io.topics import Topic
from disco_pyserini.search.queries import QueryEncoding
from disco_pyserini.search.searcher import ImpactSearcher, check_compatible, search_topics

pytestmark = pytest.mark.java

QUERIES = [
    "What articles exist which deal with time sharing systems?",
    "parallel algorithms for sorting",
    "How do compilers allocate registers? [SEP] Register allocation assigns variables to registers.",
    "Intermediate languages used in construction of multi-targeted compilers",
]


def stored_vectors(root):
    vectors = {}
    folder = root / "collection" / "vectors"
    for name in sorted(os.listdir(folder)):
        for line in open(folder / name, encoding="utf-8"):
            record = json.loads(line)
            vectors[record["id"]] = record["vector"]
    return vectors


@pytest.fixture(scope="module")
def encoding(tiny_model):
    return QueryEncoding(tiny_model)


def test_index_holds_every_document(cacm_index):
    metadata = read_index_metadata(str(cacm_index / "index"))
    assert metadata["documents"] == 300 and metadata["collection_documents"] == 300
    assert ImpactSearcher(str(cacm_index / "index")).num_docs == 300


def test_scores_are_integer_dot_products(cacm_index, encoding):
    documents = stored_vectors(cacm_index)
    searcher = ImpactSearcher(str(cacm_index / "index"))
    checked = 0
    for query in encoding.encode_many(QUERIES):
        hits = searcher.search(query, 50)
        assert hits
        for hit in hits:
            document = documents[hit.doc_id]
            assert hit.score == sum(weight * document.get(token, 0) for token, weight in query.items())
            checked += 1
        # every document with a positive dot product outside the hits scores no more than the last hit
        outside = [sum(w * d.get(t, 0) for t, w in query.items()) for i, d in documents.items()
                   if i not in {h.doc_id for h in hits}]
        assert max(outside) <= hits[-1].score
    assert checked == 200


def test_batch_search_equals_single_search(cacm_index, encoding):
    searcher = ImpactSearcher(str(cacm_index / "index"))
    vectors = encoding.encode_many(QUERIES)
    batched = searcher.batch_search(vectors, [str(i) for i in range(len(QUERIES))], k=20, threads=2)
    for i, vector in enumerate(vectors):
        assert batched[str(i)] == searcher.search(vector, 20)


def test_pyserini_lucene_impact_searcher_with_our_encoder_gives_the_same_hits(cacm_index, tiny_model, encoding):
    from disco_pyserini import DiscoQueryEncoder
    from disco_pyserini.java import import_pyserini_search

    lucene = import_pyserini_search()
    encoder = DiscoQueryEncoder(tiny_model)
    pyserini = lucene.LuceneImpactSearcher(str(cacm_index / "index"), encoder, min_idf=-1)
    topics = [Topic(str(i), ((text, None),)) for i, text in enumerate(QUERIES)]
    ours = dict(search_topics(ImpactSearcher(str(cacm_index / "index")), topics, encoding, mode="raw", hits=100))
    theirs = pyserini.batch_search(QUERIES, [t.query_id for t in topics], k=100, threads=2)
    for qid, hits in ours.items():
        assert [(h.doc_id, h.score) for h in hits] == [(h.docid, h.score) for h in theirs[qid]]
    # a conversation goes to Pyserini's search as it is
    conversation = [("what is a compiler?", "a program that translates code."),
                    ("how does it allocate registers?", None)]
    assert [h.docid for h in pyserini.search(conversation, 10)] == [
        h.docid for h in pyserini.search(flatten_conversation(conversation), 10)]


def test_query_model_must_match_the_index(cacm_index, encoding):
    metadata = read_index_metadata(str(cacm_index / "index"))
    other_scale = {**encoding.describe(), "scale": 50}
    with pytest.raises(UsageError, match="scale 100.*pass --scale 100"):
        check_compatible(metadata, other_scale, index="idx")
    other_vocabulary = {**encoding.describe(), "vocabulary_sha256": "0" * 64}
    with pytest.raises(UsageError, match="vocabulary differs"):
        check_compatible(metadata, other_vocabulary, index="idx")
    assert check_compatible(metadata, other_vocabulary, index="idx", allow_mismatch=True)


def test_more_than_1024_query_terms(cacm_index, encoding):
    searcher = ImpactSearcher(str(cacm_index / "index"))
    vocabulary = encoding.splade.vocabulary
    query = {token: 1 for token in vocabulary[1000:4000]}
    assert len(searcher.search(query, 10)) == 10


def test_not_an_index(tmp_path):
    with pytest.raises(UsageError, match="not a Lucene index"):
        ImpactSearcher(str(tmp_path))


def test_an_index_built_before_the_spec_existed_is_searched_and_checked(cacm_index, encoding, tmp_path):
    """Its metadata kept the scale beside the encoder record, which had no speed settings."""
    import shutil

    index = tmp_path / "index"
    shutil.copytree(cacm_index / "index", index)
    metadata = json.loads((index / "disco_index.json").read_text())
    metadata["encoder"] = {key: metadata["encoder"][key] for key in ("model", "model_sha256", "max_length",
                                                                     "vocabulary_size", "vocabulary_sha256",
                                                                     "precision")}
    (index / "disco_index.json").write_text(json.dumps(metadata))
    topics = [Topic(str(i), ((text, None),)) for i, text in enumerate(QUERIES)]
    old = dict(search_topics(ImpactSearcher(str(index)), topics, encoding, mode="raw", hits=20))
    assert old == dict(search_topics(ImpactSearcher(str(cacm_index / "index")), topics, encoding, mode="raw", hits=20))
    with pytest.raises(UsageError, match="pass --scale 100"):
        check_compatible(read_index_metadata(str(index)), {**encoding.describe(), "scale": 50}, index="idx")


@pytest.mark.parametrize("shards", [1, 2])
def test_a_failed_overwrite_leaves_the_old_index_searchable(cacm_index, encoding, tmp_path, monkeypatch, shards):
    """`index --overwrite` builds beside the old index and renames on success: a failed build changes nothing."""
    import shutil

    from disco_pyserini.errors import DiscoError
    from disco_pyserini.index import lucene as indexing

    index = tmp_path / "index"
    shutil.copytree(cacm_index / "index", index)
    query = encoding.encode_many(QUERIES[:1])[0]
    before = ImpactSearcher(str(index)).search(query, 10)
    monkeypatch.setattr(indexing, "index_size", lambda path: 7)  # the document count check fails
    with pytest.raises(DiscoError, match="expected 300"):
        indexing.build_index(str(cacm_index / "collection"), str(index), overwrite=True, shards=shards)
    assert read_index_metadata(str(index))["documents"] == 300
    assert ImpactSearcher(str(index)).search(query, 10) == before
    assert sorted(os.listdir(tmp_path)) == ["index"]  # nothing half-built left beside it
    monkeypatch.undo()
    indexing.build_index(str(cacm_index / "collection"), str(index), overwrite=True, shards=shards)
    assert read_index_metadata(str(index))["documents"] == 300
    assert sorted(os.listdir(tmp_path)) == ["index"]


def test_a_failed_first_build_leaves_nothing(cacm_index, tmp_path, monkeypatch):
    from disco_pyserini.errors import DiscoError
    from disco_pyserini.index import lucene as indexing

    monkeypatch.setattr(indexing, "index_size", lambda path: 7)
    with pytest.raises(DiscoError, match="expected 300"):
        indexing.build_index(str(cacm_index / "collection"), str(tmp_path / "index"))
    assert os.listdir(tmp_path) == []
