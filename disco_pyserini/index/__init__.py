"""Indexing: Lucene impact indexes (and index shards) of an encoded collection, through Anserini.

:func:`~.lucene.build_index` runs Anserini's indexer on a collection folder
(:mod:`disco_pyserini.encode`) and records what it indexed (:func:`~.lucene.read_index_metadata`),
so that search checks the query model against the documents'. Command: ``disco-pyserini index``.
As ``pyserini.index.lucene``; Java comes from :mod:`disco_pyserini.java`, started on first use.
"""
