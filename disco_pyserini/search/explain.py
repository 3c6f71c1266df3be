"""Why a passage was retrieved: each matched term's query weight × document weight, and where the term came from.

An impact index scores a document by a plain dot product of integers: Lucene adds, for every query
term the document holds, ``query weight × document weight`` (the query weight is the term's boost,
the document weight its term frequency, which is the impact the collection gave it). The
explanation of a hit is that sum written out term by term; its contributions add up to the integer
behind Lucene's score, exactly (below 2^24, where Lucene's float sum of integers is exact).
Anserini rounds the score it returns to 1e-4 and takes 1e-6 off each hit tied with the one above
(see ``search.ShardedSearcher``), so the integer is the returned score rounded; every hit is
checked against it (:attr:`HitExplanation.exact`).

**Document weights are read from the Lucene index itself**, from the postings of each query term
(the term frequency of a pretokenized impact document *is* its impact), not from the collection
files the index metadata names. The postings serve any index this package can search: one built
elsewhere (Anserini's prebuilt impact indexes have no collection beside them), one whose
collection was moved or deleted, and a large one, where finding ten documents in a collection
means reading all of it but the postings of a hundred query terms are a hundred seeks. Only the
query's terms are looked up, in one pass over the hits sorted by Lucene document id. The tests
compare the weights with the collection's vectors, an independent reference.

**Origins are read off the model's actual input.** The query text a mode searches with is built
from segments (for ``disco``, ``q_n [SEP] a_{n-1} [SEP] q_{n-1} ...``), tokenized as the encoder
tokenizes it (right truncation to ``max_length``, 256 by default) with character offsets, and every
input token is assigned to the segment its characters come from; tokens cut off by the truncation
count for nothing. A query term is then labelled:

* ``question``: it is one of the current question's input tokens;
* ``earlier_question`` / ``earlier_answer``: otherwise, one of an earlier question's (answer's);
* ``rewrite``: one of the rewrite's tokens, for the modes that search a rewrite or another field;
* ``expansion``: none of the input's tokens (the model put weight on a token it did not read;
  ``[CLS]`` and ``[SEP]`` belong to no segment, so a weight on them is expansion too).

A term found in several segments takes the first label of that order (the current question,
then earlier questions, then earlier answers), and :attr:`QueryTerm.found_in` lists every
segment (origin and turn number, 1 for the first turn) it was found in.
"""

from __future__ import annotations

import bisect
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..conversation import SEP
from ..errors import DiscoError, UsageError
from ..io.topics import Topic
from .merge import integer_score

if TYPE_CHECKING:
    from .queries import QueryEncoding
    from .searcher import ImpactSearcher, ShardedSearcher

ORIGINS = ("question", "earlier_question", "earlier_answer", "rewrite", "expansion")
"""Query term origins, in the order that labels a term found in several segments."""
FIELD = "contents"  # the Lucene field Anserini indexes a JsonVectorCollection's vector in
INLINE_QUERY_ID = "conversation"


class Segment(NamedTuple):
    """A stretch ``text[start:end]`` of the query text, from one part of the conversation."""

    origin: str
    turn: int | None  # 1 for the first turn; None for a rewrite
    start: int
    end: int


class QueryTerm(NamedTuple):
    """A term of the impact query: its weight, its origin and every segment it was found in."""

    term: str
    weight: int
    origin: str
    found_in: tuple[tuple[str, int | None], ...]


class TermContribution(NamedTuple):
    """One matched term of a hit: ``query_weight × document_weight = contribution``."""

    term: str
    query_weight: int
    document_weight: int
    contribution: int
    origin: str


class HitExplanation(NamedTuple):
    """A document's score for the query, term by term.

    ``rank`` and ``score`` are the hit's place and Anserini's score in the search (``None`` for a
    document explained on request that is not among the top ``k``); ``dot_product`` is the sum of
    the contributions.
    """

    rank: int | None
    doc_id: str
    score: float | None
    dot_product: int
    terms: tuple[TermContribution, ...]

    @property
    def exact(self) -> bool:
        """Whether the contributions add up to the integer behind Lucene's score (always, below 2^24)."""
        return self.score is None or integer_score(self.score, self.rank or 1) == self.dot_product

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "doc_id": self.doc_id, "score": self.score, "dot_product": self.dot_product,
                "exact": self.exact, "terms": [t._asdict() for t in self.terms]}


@dataclass(frozen=True)
class QueryInput:
    """The text a query mode searches with, its segments, and what the encoder reads of it."""

    text: str
    segments: tuple[Segment, ...]
    input_tokens: int  # special tokens included, after truncation
    truncated: bool
    kept_characters: int  # text[:kept_characters] reaches the model
    sources: Mapping[str, tuple[tuple[str, int | None], ...]] = field(default_factory=dict)

    def origin(self, term: str) -> tuple[str, tuple[tuple[str, int | None], ...]]:
        found = self.sources.get(term, ())  # sorted by _source_order: the first origin of ORIGINS first
        return (found[0][0], found) if found else ("expansion", ())

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "segments": [s._asdict() for s in self.segments],
                "input_tokens": self.input_tokens, "truncated": self.truncated,
                "kept_characters": self.kept_characters}


@dataclass(frozen=True)
class Explanation:
    """A turn's query, term by term, and its hits, contribution by contribution."""

    query_id: str | None
    mode: str
    model: str
    index: str
    k: int
    query: QueryInput
    terms: tuple[QueryTerm, ...]  # every query term, heaviest first
    hits: tuple[HitExplanation, ...]  # the top k in rank order, then any document asked for

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be at least 1 (got {self.k})")

    @property
    def exact(self) -> bool:
        return all(hit.exact for hit in self.hits)

    def to_json(self) -> dict[str, Any]:
        return {"query_id": self.query_id, "mode": self.mode, "model": self.model, "index": self.index, "k": self.k,
                "query": self.query.to_json(),
                "terms": [{"term": t.term, "weight": t.weight, "origin": t.origin,
                           "found_in": [list(s) for s in t.found_in]} for t in self.terms],
                "hits": [hit.to_json() for hit in self.hits], "exact": self.exact}


# -- the query text and its segments ---------------------------------------------------------------
def query_segments(topic: Topic, mode: str) -> tuple[str, tuple[Segment, ...]]:
    """``(text, segments)``: the text ``mode`` searches with for ``topic`` (``Topic.query_text``) and
    the stretches of it each part of the conversation makes up."""
    text = topic.query_text(mode)  # the modes' own rules and errors (no rewrite, unknown mode...)
    pairs = topic.conversation
    last = len(pairs)
    if mode in ("disco", "history"):
        parts: list[tuple[str, int | None, str]] = [("question", last, pairs[-1][0].strip())]
        for turn in range(last - 1, 0, -1):
            question, answer = pairs[turn - 1]
            if mode == "disco" and answer is not None and answer.strip():
                parts.append(("earlier_answer", turn, answer.strip()))
            parts.append(("earlier_question", turn, question.strip()))
    elif mode == "raw":
        parts = [("question", last, text)]
    else:  # rewrite, rewrite-auto, field:NAME
        parts = [("rewrite", None, text)]
    segments, position = [], 0
    for origin, turn, part in parts:
        segments.append(Segment(origin, turn, position, position + len(part)))
        position += len(part) + len(SEP)
    joined = SEP.join(part for _, _, part in parts)
    if joined != text:  # the flattening changed: this module must follow it
        raise DiscoError(f"query mode {mode}: the segments do not rebuild the query text {text[:60]!r}")
    return text, tuple(segments)


def fast_tokenizer(encoding: QueryEncoding, *, truncate: bool) -> Any:
    """The query model's tokenizer as the ``tokenizers`` library runs it, which gives character
    offsets: transformers' fast tokenizer's own (the torch backend) or the one the ONNX backend
    runs, copied once per encoder so that the copy's settings are its own: truncation on the right
    to the encoder's ``max_length`` (``truncate``), or none; never padding."""
    splade = encoding.splade
    with _TOKENIZERS_LOCK:
        kept = _TOKENIZERS.setdefault(splade, {})
        if truncate not in kept:
            from tokenizers import Tokenizer

            source = splade.tokenizer if isinstance(splade.tokenizer, Tokenizer) else getattr(
                splade.tokenizer, "backend_tokenizer", None)
            if source is None or not getattr(splade.tokenizer, "is_fast", True):
                raise UsageError(f"the model {encoding.model} has a slow (Python) tokenizer, which gives no "
                                 f"character offsets; explanations need a fast tokenizer (tokenizer.json)")
            copy = Tokenizer.from_str(source.to_str())
            copy.no_padding()
            if truncate:
                copy.enable_truncation(splade.max_length, strategy="longest_first", direction="right")
            else:
                copy.no_truncation()
            kept[truncate] = copy
        return kept[truncate]


_TOKENIZERS: weakref.WeakKeyDictionary[Any, dict[bool, Any]] = weakref.WeakKeyDictionary()
_TOKENIZERS_LOCK = threading.Lock()


def token_spans(encoding: QueryEncoding, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    """``[(start, end, token), ...]`` of each text: every token the query model's tokenizer makes of
    it (no special tokens, no truncation) with its characters."""
    encoded = fast_tokenizer(encoding, truncate=False).encode_batch(list(texts), add_special_tokens=False)
    return [[(start, end, token) for token, (start, end) in zip(e.tokens, e.offsets) if end > start]
            for e in encoded]


def read_input(encoding: QueryEncoding, text: str, segments: Sequence[Segment], *,
               ids: Sequence[int] | None = None) -> QueryInput:
    """What the encoder of ``encoding`` reads of ``text`` (``ids``, its tokens as
    :meth:`SpladeEncoder.tokenize` gives them, when the caller has them), and which segments each
    token comes from."""
    encoded = fast_tokenizer(encoding, truncate=True).encode(text, add_special_tokens=True)
    ids = list(encoding.splade.tokenize([text])[0] if ids is None else ids)
    if list(encoded.ids) != ids:  # the very input the encoder reads, or no explanation
        raise DiscoError(f"the tokenizer of {encoding.model} tokenizes differently with offsets; cannot explain")
    sources: dict[str, set[tuple[str, int | None]]] = {}
    kept = 0
    starts = [segment.start for segment in segments]
    for token, (start, end) in zip(encoded.tokens, encoded.offsets):
        if end <= start:
            continue
        kept = max(kept, end)
        at = bisect.bisect_right(starts, start) - 1  # segments are in text order, apart
        if at >= 0 and start < segments[at].end:
            sources.setdefault(token, set()).add((segments[at].origin, segments[at].turn))
    truncated = bool(encoded.overflowing)
    return QueryInput(text, tuple(segments), len(ids), truncated, kept if truncated else len(text),
                      {token: tuple(sorted(found, key=_source_order)) for token, found in sources.items()})


def _source_order(source: tuple[str, int | None]) -> tuple[int, int]:
    origin, turn = source
    return ORIGINS.index(origin), -(turn or 0)


def query_terms(vector: Mapping[str, int], query: QueryInput) -> tuple[QueryTerm, ...]:
    """Every term of the impact query with its origin, heaviest first (ties by term)."""
    terms = [QueryTerm(term, int(weight), *query.origin(term)) for term, weight in vector.items()]
    return tuple(sorted(terms, key=lambda t: (-t.weight, t.term)))


# -- document weights from the index's postings -----------------------------------------------------
class IndexPostings:
    """The impacts an index holds for given documents and terms, read from its postings.

    ``index`` is a Lucene impact index or a folder of shards (``search.shard_paths``). Java calls
    are not safe from several Python threads at once (pyjnius): callers serialise them.
    """

    def __init__(self, index: str, *, heap: str | None = None) -> None:
        from ..java import autoclass, start_jvm
        from .searcher import shard_paths

        start_jvm(heap)
        self.index = index
        utils = autoclass("io.anserini.index.IndexReaderUtils")
        self._utils = utils
        self._readers = []
        for path in shard_paths(index):
            try:
                self._readers.append(utils.getReader(os.path.abspath(path)))
            except Exception as error:  # a Java exception: a damaged or foreign index
                raise UsageError(f"--index {path}: Lucene cannot open it ({str(error).splitlines()[0]})") from None
        self._multi_terms = autoclass("org.apache.lucene.index.MultiTerms")
        self._bytes = autoclass("org.apache.lucene.util.BytesRef")
        self._freqs = autoclass("org.apache.lucene.index.PostingsEnum").FREQS
        self._no_more = autoclass("org.apache.lucene.search.DocIdSetIterator").NO_MORE_DOCS

    def locate(self, doc_id: str) -> tuple[int, int] | None:
        """``(reader, Lucene document id)`` of ``doc_id``, or ``None`` when no shard holds it."""
        for number, reader in enumerate(self._readers):
            lucene_id = int(self._utils.convertDocidToLuceneDocid(reader, doc_id))
            if lucene_id >= 0:
                return number, lucene_id
        return None

    def weights(self, doc_ids: Sequence[str], terms: Iterable[str]) -> dict[str, dict[str, int]]:
        """``{doc_id: {term: impact}}`` for the ``terms`` each document holds; a document no shard
        holds raises :class:`UsageError`."""
        located: dict[int, list[tuple[int, str]]] = {}
        for doc_id in dict.fromkeys(doc_ids):
            where = self.locate(doc_id)
            if where is None:
                raise UsageError(f"document {doc_id!r} is not in the index {self.index}")
            located.setdefault(where[0], []).append((where[1], doc_id))
        found: dict[str, dict[str, int]] = {doc_id: {} for doc_id in doc_ids}
        terms = list(terms)
        for number, documents in located.items():
            documents.sort()
            for term in terms:
                postings = self._multi_terms.getTermPostingsEnum(self._readers[number], FIELD,
                                                                 self._bytes(term.encode("utf-8")), self._freqs)
                if postings is None:  # no document of this shard has the term
                    continue
                at = -1
                for lucene_id, doc_id in documents:
                    if at < lucene_id:
                        at = int(postings.advance(lucene_id))
                    if at == self._no_more:
                        break
                    if at == lucene_id:
                        found[doc_id][term] = int(postings.freq())
        return found

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._readers = []


def explain_hits(vector: Mapping[str, int], query: QueryInput, hits: Sequence[Any], postings: IndexPostings, *,
                 mode: str, model: str, k: int, query_id: str | None = None,
                 doc_ids: Sequence[str] = ()) -> Explanation:
    """The explanation of ``hits`` (objects with ``doc_id`` or ``docid``, and ``score``, in rank
    order) for the impact query ``vector``; documents of ``doc_ids`` not among them are explained
    too, without rank or score."""
    terms = query_terms(vector, query)
    origins = {t.term: t.origin for t in terms}
    ranked = [(_doc_id(hit), float(hit.score)) for hit in hits]
    extra = [doc_id for doc_id in dict.fromkeys(doc_ids) if doc_id not in {d for d, _ in ranked}]
    weights = postings.weights([d for d, _ in ranked] + extra, vector) if ranked or extra else {}
    explained = []
    for rank, (doc_id, score) in [(i + 1, h) for i, h in enumerate(ranked)] + [(None, (d, None)) for d in extra]:
        matched = [TermContribution(term, int(vector[term]), weight, int(vector[term]) * weight, origins[term])
                   for term, weight in weights[doc_id].items()]
        matched.sort(key=lambda c: (-c.contribution, c.term))
        explained.append(HitExplanation(rank, doc_id, score, sum(c.contribution for c in matched), tuple(matched)))
    return Explanation(query_id, mode, model, postings.index, k, query, terms, tuple(explained))


def _doc_id(hit: Any) -> str:
    return str(hit.doc_id if hasattr(hit, "doc_id") else hit.docid)


def as_topic(query: Topic | Sequence[Any] | str, rewrite: str | None = None) -> Topic:
    """A topic to explain: a topic as it is, or a conversation (``(question, answer)`` pairs, the
    last answer ``None``) or a single question, with an optional rewrite of the last turn."""
    if isinstance(query, Topic):
        return query
    pairs = ((query, None),) if isinstance(query, str) else tuple(
        tuple(pair) if isinstance(pair, list) else pair for pair in query)
    try:
        return Topic(INLINE_QUERY_ID, pairs, rewrite=rewrite)  # type: ignore[arg-type]
    except ValueError as error:
        raise UsageError(f"the conversation: {error}") from None


class Explainer:
    """Searches an index with a query model and explains the hits.

    ``encoding`` is a :class:`~disco_pyserini.search.queries.QueryEncoding` or a model name (a preset's
    query model, a hub id or a folder). The index and the query model must agree on vocabulary and
    scale (``search.check_compatible``) unless ``allow_mismatch``. A ``searcher`` and ``postings``
    given are shared, not closed by :meth:`close`. Not safe from several threads at once; the server
    (:mod:`disco_pyserini.serve`) serialises its calls.
    """

    def __init__(self, index: str, encoding: QueryEncoding | str, *, heap: str | None = None,
                 allow_mismatch: bool = False, searcher: ImpactSearcher | ShardedSearcher | None = None,
                 postings: IndexPostings | None = None) -> None:
        from .queries import QueryEncoding
        from .searcher import check_compatible, open_searcher

        self.encoding = encoding if isinstance(encoding, QueryEncoding) else QueryEncoding(encoding)
        self._owned: list[Any] = []
        if searcher is None:
            searcher = open_searcher(index, heap=heap)
            self._owned.append(searcher)
        self.searcher = searcher
        self.index = index
        check_compatible(self.searcher.metadata, self.encoding.describe(), index=index, allow_mismatch=allow_mismatch)
        if postings is None:
            postings = IndexPostings(index, heap=heap)
            self._owned.append(postings)
        self.postings = postings

    def prepare(self, query: Topic | Sequence[Any] | str, mode: str = "disco", *,
                rewrite: str | None = None) -> tuple[Topic, QueryInput, dict[str, int]]:
        """The topic, the model's input and the impact query: the Python half of :meth:`explain`."""
        from ..io.topics import check_query_mode

        check_query_mode(mode)
        topic = as_topic(query, rewrite)
        text, segments = query_segments(topic, mode)
        ids = self.encoding.splade.tokenize([text])[0]  # read once: for the explanation and the query
        return topic, read_input(self.encoding, text, segments, ids=ids), self.encoding.encode_token_ids([ids])[0]

    def explain(self, query: Topic | Sequence[Any] | str, mode: str = "disco", *, k: int = 10,
                doc_ids: Sequence[str] = (), rewrite: str | None = None) -> Explanation:
        """Search ``query`` (a topic, a conversation or a question) in ``mode`` and explain the top ``k``
        hits and any document of ``doc_ids``."""
        topic, query_input, vector = self.prepare(query, mode, rewrite=rewrite)
        return self.explain_vector(topic, query_input, vector, mode=mode, k=k, doc_ids=doc_ids)

    def explain_vector(self, topic: Topic, query_input: QueryInput, vector: Mapping[str, int], *, mode: str,
                       k: int = 10, doc_ids: Sequence[str] = ()) -> Explanation:
        """The Java half of :meth:`explain`: search the impact query and read the hits' weights."""
        if k < 1:
            raise UsageError(f"--hits must be at least 1 (got {k})")
        hits = self.searcher.search(vector, k) if vector else []
        query_id = None if topic.query_id == INLINE_QUERY_ID else topic.query_id
        return explain_hits(vector, query_input, hits, self.postings, mode=mode, model=self.encoding.model, k=k,
                            query_id=query_id, doc_ids=doc_ids)

    def close(self) -> None:
        """Close the searcher and postings this explainer opened (not those it was given)."""
        for opened in reversed(self._owned):
            opened.close()
        self._owned = []


def explain(index: str, model: QueryEncoding | str, query: Topic | Sequence[Any] | str, *, mode: str = "disco",
            k: int = 10, doc_ids: Sequence[str] = (), rewrite: str | None = None, heap: str | None = None,
            allow_mismatch: bool = False) -> Explanation:
    """Search ``query`` in ``index`` with the query ``model`` and explain each of the top ``k`` hits.

    ``query`` is a :class:`~disco_pyserini.io.topics.Topic`, a conversation (``(question, answer)``
    pairs, oldest first, the last answer ``None``) or one question; ``rewrite`` is the last turn's
    rewrite for ``mode="rewrite"``. ``doc_ids`` are explained too, wherever they rank.

    >>> from disco_pyserini.search.explain import explain                                   # doctest: +SKIP
    >>> result = explain("runs/demo/index", "splade-tiny",
    ...                  [("What is a shark?", "A fish."), ("Do they sleep?", None)], k=3)  # doctest: +SKIP
    >>> hit = result.hits[0]; sum(t.contribution for t in hit.terms) == round(hit.score)  # doctest: +SKIP
    True
    """
    explainer = Explainer(index, model, heap=heap, allow_mismatch=allow_mismatch)
    try:
        return explainer.explain(query, mode, k=k, doc_ids=doc_ids, rewrite=rewrite)
    finally:
        explainer.close()


# -- the readable table -------------------------------------------------------------------------------
ORIGIN_NAMES = {"question": "question", "earlier_question": "earlier question", "earlier_answer": "earlier answer",
                "rewrite": "rewrite", "expansion": "expansion"}


def format_explanation(explanation: Explanation, *, terms: int = 10, query_terms_shown: int = 15) -> str:
    """The explanation as text: the query, its heaviest terms, and each hit's heaviest contributions
    (``terms`` per hit; 0 for all)."""
    query = explanation.query
    lines = [f"{explanation.query_id or 'conversation'} · mode {explanation.mode} · model {explanation.model} · "
             f"{query.input_tokens} input tokens" + (" (truncated)" if query.truncated else ""),
             f"query text: {query.text}"]
    if query.truncated:
        lines.append(f"  the model reads the first {query.kept_characters} of {len(query.text)} characters")
    by_origin: dict[str, int] = {}
    for term in explanation.terms:
        by_origin[term.origin] = by_origin.get(term.origin, 0) + 1
    lines.append(f"{len(explanation.terms)} query terms: " + ", ".join(
        f"{count} {ORIGIN_NAMES[origin]}" for origin, count in sorted(by_origin.items(),
                                                                      key=lambda i: ORIGINS.index(i[0]))))
    shown = explanation.terms[:query_terms_shown]
    lines.append("heaviest: " + ", ".join(f"{t.term} {t.weight} ({ORIGIN_NAMES[t.origin]})" for t in shown))
    if not explanation.hits:
        lines.append("\nno hits: no query term is in the index")
    for hit in explanation.hits:
        where = f"#{hit.rank}" if hit.rank is not None else "(asked for)"
        score = "" if hit.score is None else f"score {hit.score:.4f} = "
        check = "" if hit.exact else "  (not Lucene's integer score: above 2^24, Lucene's float sum rounds)"
        lines.append(f"\n{where} {hit.doc_id}  {score}{hit.dot_product} from {len(hit.terms)} matched terms{check}")
        listed = hit.terms if terms <= 0 else hit.terms[:terms]
        if not listed:
            continue
        width = max(4, *(len(c.term) for c in listed))
        lines.append(f"    {'term':<{width}}  {'query':>6} × {'doc':>5} = {'contribution':>12}  origin")
        for c in listed:
            lines.append(f"    {c.term:<{width}}  {c.query_weight:>6} × {c.document_weight:>5} = "
                         f"{c.contribution:>12}  {ORIGIN_NAMES[c.origin]}")
        rest = hit.terms[len(listed):]
        if rest:
            lines.append(f"    ... {len(rest)} more terms: {sum(c.contribution for c in rest)}")
    return "\n".join(lines)
