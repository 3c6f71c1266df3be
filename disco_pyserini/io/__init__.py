"""Files in and out: the formats every stage reads and writes, with one-line errors naming file and line.

JSON lines (:mod:`.jsonl`: plain or gzip, streamed, atomic writes), corpora (:mod:`.corpus`:
Pyserini's ``{"id", "contents"}`` and ``{"id", "title", "text"}``), topics (:mod:`.topics`: one
turn per line with its conversation), TREC runs and qrels (:mod:`.runs`), and the header every
artifact carries (:mod:`.metadata`: package version, fingerprints). Entry points:
:func:`~.topics.read_topics`, :func:`~.topics.write_topics`, :func:`~.runs.read_run`,
:func:`~.runs.write_run`, :func:`~.runs.read_qrels`, :func:`~.corpus.iter_corpus`,
:func:`~.jsonl.iter_lines`, :func:`~.jsonl.atomic_output`. The command ``disco-pyserini topics``
converts the public topic sets (:mod:`disco_pyserini.datasets`) into topics files.

Nothing here imports numpy, torch or Java.
"""
