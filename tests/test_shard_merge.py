"""Sharded search gives the single index's run byte for byte, even with long runs of tied scores.

Anserini rounds scores to 1e-4 and subtracts 1e-6 per position inside a run of ties, after
ranking; the tie runs below (40-95 documents at scores 1, 2, 3...) are spread over three shards
and cut by k, where merging the shards' adjusted scores would put documents in another order.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from disco_pyserini.errors import DiscoError
from disco_pyserini.io.runs import Hit, trec_lines
from disco_pyserini.search.merge import adjust_ties, merge_hits, true_score
from disco_pyserini.search.searcher import ImpactSearcher, ShardedSearcher

GROUPS = [({"a": 1}, 60), ({"a": 3}, 50), ({"a": 2, "b": 1}, 45), ({"c": 7}, 45), ({"a": 1, "c": 1}, 40)]
QUERIES = {"q1": {"a": 1}, "q2": {"a": 1, "b": 1, "c": 1}, "q3": {"c": 2, "a": 5}, "q4": {"b": 1}}


def test_adjust_ties_follows_anserini_by_hand():
    # Anserini's own example (ScoreTiesAdjusterReranker): 22.087432 twice -> 22.0874, then 1e-6 less
    hits = [Hit("docA", 23.439316), Hit("docS", 22.087432), Hit("docT", 22.087432), Hit("docZ", 21.602508)]
    expected = [23.4393, 22.0874, np.float32(22.0874) - np.float32(1e-6), 21.6025]
    assert [h.score for h in adjust_ties(hits)] == [float(np.float32(x)) for x in expected]
    # a long run at a small score: the i-th tie loses i * 1e-6, in float32
    tied = adjust_ties([Hit(f"d{i:02d}", 1.0) for i in range(50)])
    assert [h.score for h in tied] == [float(np.float32(1) - np.float32(1e-6) * np.float32(i)) for i in range(50)]
    assert tied[49].score == pytest.approx(1 - 49e-6, abs=1e-7)


def test_true_score_undoes_the_adjustment():
    adjusted = adjust_ties([Hit(f"d{i:03d}", 19.0) for i in range(1000)])
    assert {true_score(h.score, 1000) for h in adjusted} == {19.0}
    with pytest.raises(Exception, match="not an integer dot product"):
        true_score(18.7, 1000)


def test_merge_hits_refuses_scores_that_are_no_integer_dot_product():
    """Integer scores take a fast path in the merge; those at or above 2^24 (inexact in Lucene's
    float sums) and fractional ones are refused there too, never merged by a guess."""
    shard = {"q": [("a", 5.0), ("b", 5.0 - 1e-6)]}
    tie = float(np.float32(5) - np.float32(1e-6))
    assert merge_hits([shard, {"q": [("c", 7.0)]}], ["q"], 10)["q"] == [Hit("c", 7.0), Hit("a", 5.0), Hit("b", tie)]
    for score in (float(2**24), 3.25):
        with pytest.raises(Exception, match="not an integer dot product"):
            merge_hits([{"q": [("a", score)]}], ["q"], 10)


def write_collection(folder, documents):
    folder.mkdir(parents=True)
    with open(folder / "part-00000.jsonl", "w", encoding="utf-8") as handle:
        for doc_id, vector in documents:
            handle.write(json.dumps({"id": doc_id, "contents": "", "vector": vector}) + "\n")


def index(collection, target):
    from disco_pyserini.java import autoclass

    autoclass("io.anserini.index.IndexCollection").main([
        "-collection", "JsonVectorCollection", "-generator", "DefaultLuceneDocumentGenerator", "-input",
        str(collection), "-index", str(target), "-impact", "-pretokenized", "-threads", "1", "-quiet"])
    return str(target)


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    root = tmp_path_factory.mktemp("ties")
    documents = []
    for vector, count in GROUPS:
        documents += [vector] * count
    ids = [f"d{i:03d}" for i in range(len(documents))]
    random.Random(7).shuffle(ids)  # each tie run spreads over every shard, in no order
    documents = list(zip(ids, documents))
    write_collection(root / "all", documents)
    shards = [documents[i::3] for i in range(3)]
    for number, shard in enumerate(shards):
        write_collection(root / f"shard{number}", shard)
    return (index(root / "all", root / "index-all"),
            [index(root / f"shard{n}", root / f"index-shard{n}") for n in range(3)])


@pytest.mark.java
@pytest.mark.parametrize("k", [10, 45, 60, 100, 139, 1000])
def test_shards_give_the_single_index_run_with_long_ties(indexes, k):
    single, shards = ImpactSearcher(indexes[0]), ShardedSearcher(indexes[1])
    qids = list(QUERIES)
    one = single.batch_search(list(QUERIES.values()), qids, k)
    merged = shards.batch_search(list(QUERIES.values()), qids, k)
    tied_runs = 0
    for qid in qids:
        assert merged[qid] == one[qid], qid
        assert "".join(trec_lines(qid, merged[qid], "t")) == "".join(trec_lines(qid, one[qid], "t"))
        scores = [round(h.score) for h in one[qid]]
        tied_runs += max(scores.count(s) for s in set(scores)) >= 40
    assert tied_runs >= 2 or k < 40, "the test needs runs of at least 40 tied documents"


@pytest.mark.java
@pytest.mark.parametrize("batch", [1, 3, 2000])
def test_sharded_run_file_is_the_single_index_run_whatever_the_merge_batch(indexes, tmp_path, monkeypatch, batch):
    """The sharded run is written in batches of queries (memory holds one batch): any batch size gives
    the single index's file byte for byte, queries in Pyserini's order as ``write_run`` takes them."""
    import disco_pyserini.search.searcher as search

    monkeypatch.setattr(search, "MERGE_BATCH", batch)
    queries = list(QUERIES.items()) + [("q5", {"a": 2, "c": 1})]
    ImpactSearcher(indexes[0]).write_run(queries, str(tmp_path / "one.trec"), k=100, threads=1, tag="t")
    ShardedSearcher(indexes[1]).write_run(queries, str(tmp_path / "shards.trec"), k=100, threads=1, tag="t")
    one = (tmp_path / "one.trec").read_bytes()
    assert one and (tmp_path / "shards.trec").read_bytes() == one
    assert [line.split()[0] for line in one.decode().splitlines()][::100] == [q for q, _ in queries]


def test_merge_hits_refuses_a_document_in_two_shards_naming_both():
    shards = [{"q": [("a", 5.0), ("b", 3.0)]}, {"q": [("c", 4.0), ("b", 3.0)]}]
    with pytest.raises(DiscoError, match=r"document b .*query q.* in both shard-A and shard-B"):
        merge_hits(shards, ["q"], 10, names=["shard-A", "shard-B"])


@pytest.mark.java
@pytest.mark.parametrize("through", ["batch_search", "write_run"])
def test_overlapping_indexes_are_refused_not_written_twice(indexes, tmp_path, through):
    """`search --index A --index B` where B holds documents of A: one line naming a document and both indexes."""
    searcher = ShardedSearcher([indexes[0], indexes[1][0]])  # the whole collection, and a third of it again
    with pytest.raises(DiscoError, match="in both .*index-all.* and .*index-shard0"):
        if through == "batch_search":
            searcher.batch_search(list(QUERIES.values()), list(QUERIES), 10)
        else:
            searcher.write_run(list(QUERIES.items()), str(tmp_path / "run.trec"), k=10, threads=1, tag="t")
    assert not (tmp_path / "run.trec").exists()
