"""Beyond one machine: encoding and searching on a Dask cluster.

:func:`~.encode.encode_with_dask` encodes a corpus in parts on the workers, into the same
collection one process writes; :func:`~.search.search_with_dask` searches index shards on the
workers and merges their hits exactly. Commands: ``disco-pyserini encode --dask`` and
``disco-pyserini search --dask``. Dask is an optional dependency (``pip install
'disco-pyserini[dask]'``), imported only here and only when used.
"""
