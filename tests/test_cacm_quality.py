"""End to end on the whole CACM collection: Lucene with integer impacts vs exhaustive float search."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CACM, need, write_corpus
from disco_pyserini.datasets.cacm import read_cacm_topics
from disco_pyserini.encode.collection import encode_collection
from disco_pyserini.eval.evaluate import evaluate_run
from disco_pyserini.index.lucene import build_index
from disco_pyserini.io.runs import read_qrels, run_from_results
from disco_pyserini.search.queries import QueryEncoding
from disco_pyserini.search.searcher import ImpactSearcher, search_topics

pytestmark = [pytest.mark.java, pytest.mark.slow]


def exhaustive_float_run(documents, doc_vectors, query_ids, query_vectors, k):
    from scipy.sparse import csr_matrix

    def matrix(vectors):
        indptr = np.cumsum([0] + [len(v.indices) for v in vectors])
        return csr_matrix((np.concatenate([v.weights for v in vectors]).astype(np.float64),
                           np.concatenate([v.indices for v in vectors]), indptr), shape=(len(vectors), 30522))

    scores = (matrix(query_vectors) @ matrix(doc_vectors).T).toarray()
    ids = [d.doc_id for d in documents]
    run = {}
    for row, qid in enumerate(query_ids):
        order = sorted((i for i in range(len(ids)) if scores[row, i] > 0), key=lambda i: (-scores[row, i], ids[i]))
        run[qid] = {ids[i]: float(scores[row, i]) for i in order[:k]}
    return run


def test_lucene_matches_exhaustive_float_search(tmp_path, cacm_documents, tiny_encoder, tiny_model):
    topics = read_cacm_topics(str(need(CACM / "topics.cacm.txt")))
    qrels = read_qrels(CACM / "qrels.cacm.txt")
    corpus = write_corpus(tmp_path / "cacm.jsonl", cacm_documents)
    encode_collection([str(corpus)], str(tmp_path / "collection"), tiny_encoder, progress=False)
    build_index(str(tmp_path / "collection"), str(tmp_path / "index"), threads=2)
    encoding = QueryEncoding(tiny_model)
    lucene = dict(search_topics(ImpactSearcher(str(tmp_path / "index")), topics, encoding, mode="raw", hits=1000,
                                threads=2))
    lucene_eval = evaluate_run(qrels, run_from_results(lucene), ["ndcg_cut_10", "map"])

    doc_vectors = tiny_encoder.encode([d.text for d in cacm_documents])
    query_vectors = encoding.splade.encode([t.query_text("raw") for t in topics])
    exact = exhaustive_float_run(cacm_documents, doc_vectors, [t.query_id for t in topics], query_vectors, 1000)
    exact_eval = evaluate_run(qrels, exact, ["ndcg_cut_10", "map"])

    print(f"nDCG@10 Lucene {lucene_eval['mean']['ndcg_cut_10']:.4f} exhaustive float "
          f"{exact_eval['mean']['ndcg_cut_10']:.4f}")
    assert lucene_eval["mean"]["ndcg_cut_10"] > 0.3  # a real model on a real collection
    assert abs(lucene_eval["mean"]["ndcg_cut_10"] - exact_eval["mean"]["ndcg_cut_10"]) <= 0.005
    assert abs(lucene_eval["mean"]["map"] - exact_eval["mean"]["map"]) <= 0.005
