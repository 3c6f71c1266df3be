"""Pruned queries: the K heaviest terms, ties to the lower token id, everywhere a query is encoded."""

from __future__ import annotations

import json

import pytest

from disco_pyserini.cli import main
from disco_pyserini.encode.quantize import prune
from disco_pyserini.errors import SettingError
from disco_pyserini.io.topics import read_topics
from disco_pyserini.pipeline.demo import sample_path
from disco_pyserini.search.encoded_queries import read_encoded_queries
from disco_pyserini.search.queries import QueryEncoding


def test_prune_by_hand():
    vector = {"a": 5, "b": 9, "c": 5, "d": 1, "e": 5}  # in token-id order, as our encoder writes vectors
    assert prune(vector, 2) == {"b": 9, "a": 5}  # a, c and e tie at 5: the lowest token id wins
    assert list(prune(vector, 3)) == ["a", "b", "c"]  # kept in token-id order
    assert prune(vector, 5) == vector and prune(vector, 99) == vector and prune(vector, None) == vector
    with pytest.raises(SettingError, match="query_max_terms must be at least 1"):
        prune(vector, 0)


def test_encoder_prunes_its_own_vectors(tiny_model):
    texts = [t.query_text("disco") for t in read_topics(sample_path("topics.jsonl"))[:8]]
    whole = QueryEncoding(tiny_model).encode_many(texts)
    pruned = QueryEncoding(tiny_model, max_terms=10).encode_many(texts)
    vocabulary = QueryEncoding(tiny_model).splade.vocabulary
    position = {token: i for i, token in enumerate(vocabulary)}
    for full, short in zip(whole, pruned):
        assert len(full) > 10 and len(short) == 10
        heaviest = sorted(full, key=lambda t: (-full[t], position[t]))[:10]  # by hand: weight, then token id
        assert short == {t: full[t] for t in sorted(heaviest, key=position.get)}


def test_cache_keys_differ_and_unpruned_keys_stay(tiny_model):
    plain, pruned = QueryEncoding(tiny_model), QueryEncoding(tiny_model, max_terms=16)
    assert "query_max_terms" not in plain.cache_key("disco")
    assert pruned.cache_key("disco") == {**plain.cache_key("disco"), "query_max_terms": 16}


@pytest.mark.java
def test_command_line_prunes_and_records_it(tmp_path, sample_index):
    queries = {}
    for name, extra in (("all", []), ("pruned", ["--query-max-terms", "12"])):
        output = tmp_path / f"{name}.jsonl"
        assert main(["-q", "encode-queries", "--topics", sample_path("topics.jsonl"), "--model", "splade-tiny",
                     "--output", str(output), "--no-query-cache", *extra]) == 0
        queries[name] = read_encoded_queries(str(output))
    assert queries["pruned"] == {qid: prune(vector, 12) for qid, vector in queries["all"].items()}
    assert json.loads((tmp_path / "pruned.json").read_text())["encoder"]["query_max_terms"] == 12
    runs = {}
    for name, extra in (("model", ["--model", "splade-tiny"]), ("encoded", ["--encoded-queries",
                                                                           str(tmp_path / "all.jsonl")])):
        output = tmp_path / f"{name}.trec"
        assert main(["-q", "search", "--index", str(sample_index / "index"), "--topics", sample_path("topics.jsonl"),
                     "--output", str(output), "--query-max-terms", "12", "--no-query-cache", *extra]) == 0
        runs[name] = output.read_bytes()
    assert runs["model"] == runs["encoded"]  # pre-encoded queries are pruned the same way
    assert json.loads((tmp_path / "encoded.trec.json").read_text())["query_max_terms"] == 12
    with pytest.raises(SystemExit) as refused:  # the parser refuses it, as every option value
        main(["-q", "search", "--index", str(sample_index / "index"), "--topics", sample_path("topics.jsonl"),
              "--output", str(tmp_path / "x.trec"), "--model", "splade-tiny", "--query-max-terms", "0"])
    assert refused.value.code == 2
