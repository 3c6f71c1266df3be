"""Public test collections and topic sets read into our corpus and topics formats.

:mod:`.conversational`: TREC CAsT 2019-2022, TREC iKAT 2023, TopiOCQA and QReCC topics (with
their rewrites and answers), for ``disco-pyserini topics --format``; :mod:`.cacm`: the CACM
collection, its queries and qrels (the ad hoc collection of the quality test and the
benchmarks).
"""
