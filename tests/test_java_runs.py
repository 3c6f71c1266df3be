"""Runs written on the Java side (Anserini's SearchCollection) are the runs written through Python, byte for byte."""

from __future__ import annotations

import json

import pytest

from disco_pyserini.errors import DiscoError
from disco_pyserini.io.runs import read_hits
from disco_pyserini.io.topics import Topic
from disco_pyserini.search import java_runs
from disco_pyserini.search.queries import QueryEncoding
from disco_pyserini.search.searcher import (
    ImpactSearcher,
    ShardedSearcher,
    prepare_queries,
    search_to_run,
    search_topics,
    write_search_run,
)

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def encoding(tiny_model):
    return QueryEncoding(tiny_model)


def cacm_topics(cacm_documents, count=60):
    """Long multi-term queries: a CACM abstract as the question, its title as the earlier turn."""
    topics = []
    for number, document in enumerate(cacm_documents[300:300 + count], start=1):
        title, _, rest = document.text.partition(". ")
        topics.append(Topic(str(number), ((title, rest[:200] or None), (rest or title, None))))
    return topics


def python_run(searcher, topics, encoding, path, **options):
    write_search_run(str(path), search_topics(searcher, topics, encoding, **options), tag="t", description={})
    return path.read_bytes()


def java_run(searcher, topics, encoding, path, hits, threads, **options):
    queries = prepare_queries(searcher, topics, encoding, **options)
    assert java_runs.problem(queries, hits) is None
    search_to_run(searcher, queries, str(path), tag="t", hits=hits, threads=threads, description={})
    return path.read_bytes()


@pytest.mark.parametrize("hits, threads", [(1000, 2), (10, 1)])
def test_numeric_ids_with_ties(cacm_index, cacm_documents, encoding, tmp_path, hits, threads):
    searcher = ImpactSearcher(str(cacm_index / "index"))
    topics = cacm_topics(cacm_documents)
    ours = python_run(searcher, topics, encoding, tmp_path / "python.trec", mode="disco", hits=hits, threads=threads)
    assert java_run(searcher, topics, encoding, tmp_path / "java.trec", hits, threads, mode="disco") == ours
    lines = [line.split() for line in ours.decode().splitlines()]
    assert len(lines) >= len(topics) * min(hits, 100)
    assert hits < 100 or len({(q, s) for q, _, _, _, s, _ in lines}) < len(lines), "the test needs tied scores"
    assert list(dict.fromkeys(q for q, *_ in lines)) == [str(n) for n in range(1, len(topics) + 1)]  # 1, 2, ..., 10


def test_string_ids_empty_queries_and_metadata(cacm_index, cacm_documents, encoding, tmp_path):
    searcher = ImpactSearcher(str(cacm_index / "index"))
    topics = [Topic(f"cacm_{t.query_id}", t.conversation) for t in cacm_topics(cacm_documents, 30)]
    encoded = dict(prepare_queries(searcher, topics, encoding))
    encoded["zz_empty"] = {}  # nothing survived quantization: SearchCollection cannot even read such a line
    encoded["zz_unknown"] = {"notatokenoftheindex": 7}  # retrieves nothing
    topics += [Topic(qid, (("?", None),)) for qid in ("zz_empty", "zz_unknown")]
    queries = prepare_queries(searcher, topics, None, encoded=encoded)
    output = tmp_path / "java.trec"
    summary = search_to_run(searcher, queries, str(output), tag="t", hits=100, description={"mine": 1})
    ours = search_topics(searcher, topics, None, encoded=encoded, hits=100)
    write_search_run(str(tmp_path / "python.trec"), ours, tag="t", description={})
    assert output.read_bytes() == (tmp_path / "python.trec").read_bytes()
    metadata = json.loads((tmp_path / "java.trec.json").read_text())
    lines = output.read_text().splitlines()
    assert (metadata["queries"], metadata["lines"], metadata["queries_without_hits"], metadata["mine"]) == (
        32, len(lines), 2, 1)
    assert summary.queries_without_hits == ["zz_empty", "zz_unknown"]


def test_ids_java_would_order_otherwise_fall_back_to_python(cacm_index, encoding, tmp_path):
    """Java orders strings by UTF-16 code unit, Pyserini by code point: U+FF21 against U+1F600."""
    searcher = ImpactSearcher(str(cacm_index / "index"))
    topics = [Topic("a\U0001F600", (("sorting algorithms", None),)), Topic("a\uFF21", (("time sharing", None),))]
    queries = prepare_queries(searcher, topics, encoding)
    assert java_runs.problem(queries, 10) is not None
    output = tmp_path / "run.trec"
    search_to_run(searcher, queries, str(output), tag="t", hits=10, description={})
    assert output.read_bytes() == python_run(searcher, topics, encoding, tmp_path / "python.trec", hits=10)
    assert list(dict.fromkeys(line.split()[0] for line in output.read_text().splitlines())) == [
        "a\uFF21", "a\U0001F600"]


def test_sharded_run_through_java_equals_one_index(tmp_path, cacm_documents, encoding):
    from conftest import write_corpus
    from disco_pyserini.cli import main

    corpus = write_corpus(tmp_path / "corpus.jsonl", cacm_documents[:300])
    assert main(["-q", "encode", "--corpus", str(corpus), "--model", "splade-tiny", "--output",
                 str(tmp_path / "collection"), "--docs-per-part", "100"]) == 0
    assert main(["-q", "index", "--collection", str(tmp_path / "collection"), "--index", str(tmp_path / "one")]) == 0
    assert main(["-q", "index", "--collection", str(tmp_path / "collection"), "--index", str(tmp_path / "three"),
                 "--index-shards", "3"]) == 0
    topics = cacm_topics(cacm_documents, 40)
    one = ImpactSearcher(str(tmp_path / "one"))
    three = ShardedSearcher([str(tmp_path / "three")])
    runs = [java_run(searcher, topics, encoding, tmp_path / f"{name}.trec", 150, 2, mode="raw")
            for name, searcher in (("one", one), ("three", three))]
    assert runs[0] == runs[1]


def test_a_query_java_cannot_search_is_an_error_not_a_shorter_run(cacm_index, tmp_path):
    """SearchCollection prints a failing query on stderr and leaves it out of the run: caught."""
    from disco_pyserini.java import autoclass

    searcher = autoclass("org.apache.lucene.search.IndexSearcher")
    limit = searcher.getMaxClauseCount()
    queries = [("1", {"algorithm": 3, "sorting": 2, "time": 1, "system": 1})]
    searcher.setMaxClauseCount(2)
    try:
        assert java_runs.problem(queries, 10) is not None  # what callers check first
        topics = tmp_path / "queries.tsv"
        topics.write_text("1\talgorithm algorithm sorting time system\n")
        with pytest.raises(DiscoError, match="SearchCollection failed on a query"):
            java_runs._search_collection(str(cacm_index / "index"), str(topics), str(tmp_path / "run.trec"), "TsvInt",
                                         10, 1, "t")
    finally:
        searcher.setMaxClauseCount(limit)


def test_read_hits_reads_back_what_was_written(cacm_index, cacm_documents, encoding, tmp_path):
    searcher = ImpactSearcher(str(cacm_index / "index"))
    topics = cacm_topics(cacm_documents, 10)
    results = search_topics(searcher, topics, encoding, hits=50)
    write_search_run(str(tmp_path / "run.trec"), results, tag="t", description={})
    assert read_hits(tmp_path / "run.trec") == {qid: hits for qid, hits in results if hits}


@pytest.mark.parametrize("folder", ["bright-leetcode", "bright-aops", "bright-theoremqa-questions"])
def test_an_output_folder_named_like_bright_is_written_unfiltered(cacm_index, cacm_documents, encoding, tmp_path,
                                                                  folder):
    """Anserini filters BRIGHT's documents by the topics path: the user's output folder never reaches that check."""
    from disco_pyserini.java import autoclass

    assert autoclass("io.anserini.eval.ExcludeDocs").isExcludable(str(tmp_path / folder / "queries.tsv"))
    searcher = ImpactSearcher(str(cacm_index / "index"))
    topics = cacm_topics(cacm_documents, 10)
    ours = python_run(searcher, topics, encoding, tmp_path / "python.trec", hits=20)
    (tmp_path / folder).mkdir()
    assert java_run(searcher, topics, encoding, tmp_path / folder / "x.trec", 20, 1) == ours
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == ["x.trec", "x.trec.json"]  # no temporary left
