"""Search: conversational queries encoded and searched in Lucene impact indexes, into TREC runs.

:class:`~.queries.QueryEncoding` builds each turn's query text (the query mode: ``disco``,
``raw``, ``rewrite``...) and encodes it, through the query cache (:mod:`.encoded_queries`, which
also writes query files stock Pyserini reads). :class:`~.searcher.ImpactSearcher` and
:class:`~.searcher.ShardedSearcher` search them (:func:`~.searcher.search_to_run` has Anserini
write the run, :mod:`.java_runs`; shards merged exactly, :mod:`.merge`);
:class:`~.query_encoder.DiscoQueryEncoder` is the same query encoding as a Pyserini
``QueryEncoder`` for ``LuceneImpactSearcher``; :func:`~.explain.explain` says why each hit was
retrieved. Commands: ``disco-pyserini search``, ``encode-queries``, ``explain``, and
``python -m disco_pyserini.search`` (Pyserini's own search command with DiSCo queries, this
package's ``__main__``, as ``python -m pyserini.search.lucene``).

Importing this package loads nothing heavy: Java, Pyserini and the query model's runtime (ONNX Runtime on
the CPU by default, torch otherwise) load on first use.
"""
