"""Searching impact queries and writing the TREC run on the Java side, with Anserini's SearchCollection.

Turning every Java hit into a Python object costs about 8 µs through pyjnius: 1.5 s for 192,000
hits, as much again as Lucene's search of them. Anserini's own ``SearchCollection`` (in
Pyserini's jar) searches pre-encoded integer queries and writes the run itself — a topics file of
``qid<TAB>tokens``, each token repeated as many times as its impact, searched with ``-impact
-pretokenized``, as Anserini's SPLADE regressions run — so no hit crosses into Python. It is run
here, in this process's JVM, through its constructor (``main`` reports errors on stderr and returns
normally, and changes global logging).

It ranks with the same code as ``SimpleImpactSearcher`` (score, then the ``id`` doc value; the same
``ScoreTiesAdjusterReranker``), so its runs are byte-identical to ours and to Pyserini's where
:func:`problem` finds nothing; the callers then keep the path through Python. What differs:

* query order: its topic readers sort integer ids numerically (``TsvInt``, up to 2^31 - 1) and
  string ids by Java's UTF-16 order (``TsvString``), where Pyserini sorts by code point;
* score printing: Java's ``%f`` rounds exact halves up where Python's ``.6f`` rounds them to even,
  which tie-adjusted integer scores first reach in a run of 19,532 tied hits;
* tokens of more than 255 characters, or with white space, are cut or split by its tokenizer;
* a query it cannot search (too many clauses) is printed on stderr and left out, an output it
  cannot write is skipped silently, and an empty query breaks the whole topics file: all three are
  caught here (stderr is captured, the file checked, empty queries left out — they retrieve nothing);
* documents are filtered when the topics path names a BRIGHT task (``bright`` with ``leetcode``, ``aops`` or
  ``theoremqa``): the topics and Anserini's run are written in a fresh temporary folder, never under a name
  the user chose, and the run is then copied beside the output and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence

from ..errors import DiscoError, SettingError
from ..io.runs import check_run_tag, pyserini_order
from ..java import autoclass, start_jvm

_MAX_TOKEN_CHARS = 255  # Lucene's WhitespaceTokenizer cuts longer tokens
_INT_MAX = 2**31 - 1
MAX_EXACT_HITS = 19_531  # beyond, a run of tied hits could print differently (Java's %f)

Queries = Sequence[tuple[str, Mapping[str, int]]]


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be")  # the order of Java's String.compareTo


def topic_reader(query_ids: Sequence[str]) -> str | None:
    """The Anserini topic reader whose query order is Pyserini's (:func:`runs.pyserini_order`), if any."""
    if all(q.isdigit() for q in query_ids):  # pyserini_order has refused ids Pyserini would rewrite
        return "TsvInt" if all(int(q) <= _INT_MAX for q in query_ids) else None
    return "TsvString" if sorted(query_ids) == sorted(query_ids, key=_utf16) else None


def problem(queries: Queries, hits: int) -> str | None:
    """Why SearchCollection would not write our run byte for byte, or ``None``."""
    if topic_reader([qid for qid, _ in queries]) is None:
        return "Anserini's topic readers would order these query ids differently"
    if hits > MAX_EXACT_HITS:
        return f"more than {MAX_EXACT_HITS:,} hits could print tied scores differently"
    limit = int(autoclass("org.apache.lucene.search.IndexSearcher").getMaxClauseCount())
    for qid, vector in queries:
        if len(vector) > limit:
            return f"query {qid} has {len(vector)} terms, over Lucene's clause limit {limit}"
        for token, weight in vector.items():
            if not isinstance(weight, int) or weight < 1:
                return f"query {qid}: the weight {weight!r} of {token!r} is not a positive integer"
            if len(token) > _MAX_TOKEN_CHARS or any(c <= " " or c.isspace() for c in token):
                return f"query {qid}: the token {token[:20]!r} would be cut or split by Lucene's tokenizer"
    return None


def check_hits(hits: int) -> None:
    """A run holds at least one hit per query."""
    if hits < 1:
        raise SettingError("hits", f"must be at least 1 (got {hits})")


def write_run(index: str, queries: Queries, output: str, *, hits: int, threads: int, tag: str) -> None:
    """Search ``(query_id, {token: impact})`` on ``index`` and write the TREC run to ``output``, atomically.

    Raises :class:`DiscoError` where :func:`problem` finds the run would not be ours byte for byte.
    """
    check_run_tag(tag)
    check_hits(hits)
    start_jvm()
    pyserini_order([qid for qid, _ in queries])  # refuses ids Pyserini would rewrite
    reason = problem(queries, hits)
    if reason:
        raise DiscoError(f"SearchCollection cannot write this run exactly: {reason}")
    searched = [(qid, vector) for qid, vector in queries if vector]
    output = os.path.abspath(output)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    # Anserini filters documents by names in the topics path (ExcludeDocs): nothing the user named reaches it
    scratch = tempfile.mkdtemp(prefix="disco-pyserini-search-")
    landing = tempfile.mkdtemp(prefix=".disco-pyserini-run-", dir=os.path.dirname(output))
    try:
        run = os.path.join(landing, "run.trec")
        if searched:
            topics = os.path.join(scratch, "queries.tsv")
            with open(topics, "w", encoding="utf-8", newline="\n") as handle:
                for qid, vector in searched:
                    handle.write(f"{qid}\t" + " ".join(" ".join([t] * w) for t, w in vector.items()) + "\n")
            written = os.path.join(scratch, "run.trec")
            _search_collection(index, topics, written, topic_reader([q for q, _ in searched]), hits, threads, tag)
            shutil.copyfile(written, run)  # beside the output, for an atomic rename
        else:
            open(run, "w").close()
        os.replace(run, output)  # same file system: atomic
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(landing, ignore_errors=True)


def _search_collection(index: str, topics: str, output: str, reader: str | None, hits: int, threads: int,
                       tag: str) -> None:
    args = autoclass("io.anserini.search.SearchCollection$Args")()
    # args4j fills what pyjnius cannot set: String[] fields, and `impact`, hidden behind a method of its name
    autoclass("org.kohsuke.args4j.CmdLineParser")(args).parseArgument(
        "-index", os.path.abspath(index), "-topics", topics, "-topicReader", reader, "-output", output,
        "-impact", "-pretokenized", "-hits", str(hits), "-threads", str(threads), "-runtag", tag)
    if autoclass("io.anserini.eval.ExcludeDocs").isExcludable(topics):  # BRIGHT's document filter, by path
        raise DiscoError(f"{os.path.dirname(topics)}: SearchCollection would filter documents for this path; "
                         "set TMPDIR to a folder whose path names no BRIGHT task")
    logger = "io.anserini.search.SearchCollection"  # its INFO lines go to stdout; this logger serves its workers
    autoclass("org.apache.logging.log4j.core.config.Configurator").setLevel(
        logger, autoclass("org.apache.logging.log4j.Level").WARN)
    system = autoclass("java.lang.System")
    captured = autoclass("java.io.ByteArrayOutputStream")()
    saved = system.err
    system.setErr(autoclass("java.io.PrintStream")(captured, True, "UTF-8"))
    try:
        try:
            searcher = autoclass("io.anserini.search.SearchCollection")(args)
        except Exception as error:  # a Java exception: topics or index it cannot read
            raise DiscoError(f"Anserini's SearchCollection cannot search {index}: "
                             f"{str(error).splitlines()[0]}") from None
        try:
            searcher.run()
        finally:
            searcher.close()
    finally:
        system.setErr(saved)
    errors = captured.toString("UTF-8").strip()
    if errors:
        raise DiscoError(f"Anserini's SearchCollection failed on a query: {errors.splitlines()[0]}")
    if not os.path.exists(output):
        raise DiscoError(f"Anserini's SearchCollection wrote no run to {output}")
