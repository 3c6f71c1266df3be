"""What the server computes: searches and explanations of one index with one or more query models.

Everything here runs in the request threads of the web framework, so what is not safe across
threads is serialised:

* **Java.** pyjnius binds a Java method to its object through state the class shares
  (kivy/pyjnius#563): two Python threads calling into the same Java classes at once can mix up
  their arguments. Every Java call (the search, the postings) runs on one thread of its own, the
  *Java thread*, one call after another; the other threads hand their work to it and wait. The
  modes of one turn still search in parallel: they go to Java as one batch search, which Anserini
  spreads over Java threads of its own (no second Python thread calls Java).
* **Each query model.** The encoder reuses buffers between texts, and a fast tokenizer refuses to
  be used from two threads at once, so each model has a lock, held while it tokenizes and encodes.

The rest (reading passages, shaping the answer) runs in parallel. A request's result is the same
whatever else runs at the same time: the tests compare 200 concurrent requests with the same
requests made one after another.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import DiscoError, UsageError
from ..io.corpus import lone_surrogate
from ..io.runs import Hit
from ..io.topics import Topic
from ..search.explain import INLINE_QUERY_ID, Explainer, Explanation, IndexPostings, as_topic, explain_hits, token_spans
from ..search.merge import integer_score
from .passages import PassageStore

logger = logging.getLogger(__name__)

SERVE_MODES = ("raw", "disco", "history", "rewrite")
DEFAULT_MODES = ("raw", "disco", "rewrite")
TEXT_SHOWN = 4000  # characters of a passage in an answer
SPANS_KEPT = 5000  # passages whose token spans are kept between requests, per model
T = TypeVar("T")


class RequestError(DiscoError):
    """A request the server refuses: the HTTP status and a message saying what to change."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Limits:
    """How much one request may ask for: turns, characters (questions, answers and rewrite together),
    hits per mode, documents explained on request, and bytes of the request body."""

    max_turns: int = 50
    max_characters: int = 20_000
    max_hits: int = 100
    max_doc_ids: int = 20

    def __post_init__(self) -> None:
        for name in ("max_turns", "max_characters", "max_hits", "max_doc_ids"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")

    @property
    def max_body_bytes(self) -> int:
        """JSON may spell a character in up to 12 bytes (a surrogate pair as two \\u escapes)."""
        return 12 * self.max_characters + 64 * 1024

    def to_json(self) -> dict[str, int]:
        return {"max_turns": self.max_turns, "max_characters": self.max_characters, "max_hits": self.max_hits,
                "max_doc_ids": self.max_doc_ids, "max_body_bytes": self.max_body_bytes}


def collection_of(index: str, collection: str | None) -> str | None:
    """The collection to read passage texts from: ``collection``, else the one the index metadata
    names when it is still there, else none."""
    from ..index.lucene import read_index_metadata

    if collection is not None:
        return collection
    metadata = read_index_metadata(index) or {}
    named = metadata.get("collection")
    if isinstance(named, str) and os.path.isdir(named):
        return named
    logger.warning("%s names no collection that exists here: hits are shown without their texts "
                   "(--collection DIR gives one)", index)
    return None


def _shown(text: str | None) -> str | None:
    """A passage as an answer shows it: its first :data:`TEXT_SHOWN` characters."""
    return text if text is None or len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + "…"


@dataclass(frozen=True)
class _Known:
    """Document weights already read, in the shape :func:`~disco_pyserini.search.explain.explain_hits` asks
    its postings for them."""

    index: str
    known: Mapping[str, Mapping[str, int]]

    def weights(self, doc_ids: Sequence[str], terms: Any) -> dict[str, dict[str, int]]:
        return {doc_id: dict(self.known[doc_id]) for doc_id in doc_ids}


@dataclass(frozen=True)
class ModeResult:
    """One mode's explanation and the texts of its hits, with the spans of their matched terms."""

    explanation: Explanation
    texts: Mapping[str, str | None] = field(default_factory=dict)
    highlights: Mapping[str, list[tuple[int, int, str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        result = self.explanation.to_json()
        for hit in result["hits"]:
            hit["text"] = self.texts.get(hit["doc_id"])
            hit["highlights"] = [list(span) for span in self.highlights.get(hit["doc_id"], [])]
        return result


class Backend:
    """One index, searched and explained with each of ``models`` (a preset, hub id or folder each).

    ``settings`` are the query encoders' (``max_length``, ``scale``...). ``topics`` (a topics file
    chosen by whoever starts the server, never by a client) gives the page its examples.
    """

    def __init__(self, index: str, models: Sequence[str], *, modes: Sequence[str] = DEFAULT_MODES,
                 limits: Limits = Limits(), heap: str | None = None, allow_mismatch: bool = False,
                 collection: str | None = None, topics: str | None = None, **settings: Any) -> None:
        from ..io.topics import read_topics
        from ..search.queries import QueryEncoding
        from ..search.searcher import open_searcher

        if not models:
            raise UsageError("give at least one query model (--model)")
        if len(set(models)) != len(models):
            raise UsageError("--model names a model twice")
        unknown = [mode for mode in modes if mode not in SERVE_MODES]
        if unknown or not modes:
            raise UsageError(f"--modes {','.join(modes)}: choose among {', '.join(SERVE_MODES)}")
        self.index = index
        self.modes = tuple(modes)
        self.limits = limits
        self.examples = read_topics(topics) if topics else []
        self.passages = PassageStore(collection_of(index, collection))
        self._java = ThreadPoolExecutor(max_workers=1, thread_name_prefix="disco-java")
        self.searcher = open_searcher(index, heap=heap)
        self.postings = IndexPostings(index, heap=heap)
        self.num_docs = self.searcher.num_docs
        self.explainers: dict[str, Explainer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._span_cache: dict[str, OrderedDict[str, list[tuple[int, int, str]]]] = {}
        for model in models:
            encoding = QueryEncoding(model, **settings)
            self.explainers[model] = Explainer(index, encoding, allow_mismatch=allow_mismatch,
                                               searcher=self.searcher, postings=self.postings)
            self._locks[model] = threading.Lock()
            self._span_cache[model] = OrderedDict()

    @property
    def models(self) -> list[str]:
        return list(self.explainers)

    def _on_java_thread(self, work: Callable[[], T]) -> T:
        return self._java.submit(work).result()

    def check(self, conversation: Sequence[Sequence[Any]], rewrite: str | None, modes: Sequence[str], model: str,
              k: int, doc_ids: Sequence[str] = ()) -> Topic:
        """The request's topic; :class:`RequestError` for what breaks a rule or a limit."""
        limits = self.limits
        if model not in self.explainers:
            raise RequestError(422, f"unknown model {model!r}; this server has {', '.join(self.explainers)}", "model")
        for mode in modes:
            if mode not in self.modes:
                raise RequestError(422, f"unknown mode {mode!r}; this server searches {', '.join(self.modes)}",
                                   "modes")
        if "rewrite" in modes and not (rewrite and rewrite.strip()):
            raise RequestError(422, "mode rewrite needs a rewrite of the last question (\"rewrite\")", "rewrite")
        if not 1 <= k <= limits.max_hits:
            raise RequestError(422, f"k must be between 1 and {limits.max_hits} (got {k})", "k")
        if len(doc_ids) > limits.max_doc_ids:
            raise RequestError(413, f"{len(doc_ids)} documents asked for; this server explains at most "
                                    f"{limits.max_doc_ids} at once", "doc_ids")
        if len(conversation) > limits.max_turns:
            raise RequestError(413, f"the conversation has {len(conversation)} turns; this server takes at most "
                                    f"{limits.max_turns}", "conversation")
        texts = [(f"conversation.{turn}.{side}", text) for turn, pair in enumerate(conversation)
                 for side, text in enumerate(pair)]
        texts += [("rewrite", rewrite)] + [(f"doc_ids.{number}", doc_id) for number, doc_id in enumerate(doc_ids)]
        for name, text in texts:
            at = lone_surrogate(text) if isinstance(text, str) else None
            if at is not None:
                raise RequestError(422, f"{name} holds a lone surrogate (half of a character, \\u{ord(text[at]):04x}, "
                                        f"at character {at}); send the character whole", name)
        characters = sum(len(text) for pair in conversation for text in pair if isinstance(text, str))
        characters += len(rewrite or "")
        if characters > limits.max_characters:
            raise RequestError(413, f"the conversation has {characters} characters (rewrite included); this server "
                                    f"takes at most {limits.max_characters}", "conversation")
        try:
            return as_topic(conversation, rewrite)
        except UsageError as error:
            raise RequestError(422, str(error), "conversation") from None

    def explain(self, topic: Topic, mode: str, model: str, k: int, doc_ids: Sequence[str] = ()) -> Explanation:
        """The explanation of the top ``k`` (and of ``doc_ids``) for ``topic`` in ``mode`` with ``model``."""
        explainer = self.explainers[model]
        with self._locks[model]:
            topic, query_input, vector = explainer.prepare(topic, mode)
        try:
            return self._on_java_thread(lambda: explainer.explain_vector(topic, query_input, vector, mode=mode, k=k,
                                                                         doc_ids=doc_ids))
        except UsageError as error:  # a document id the index lacks
            raise RequestError(422, str(error), "doc_ids") from None

    def search(self, topic: Topic, modes: Sequence[str], model: str, k: int) -> list[ModeResult]:
        """Each mode's explanation, with the passages' texts and the spans of their matched terms.

        One turn crosses into Java once for its search: every mode's query in one batch search,
        which Anserini runs on a thread per mode (its own Java threads, behind the one Python
        thread that calls Java). A passage retrieved by several modes is read and tokenized once,
        and its line gives the document weights too (:meth:`_weights`)."""
        explainer = self.explainers[model]
        with self._locks[model]:
            prepared = [explainer.prepare(topic, mode) for mode in modes]
        searched = [number for number, (_, _, vector) in enumerate(prepared) if vector]
        found = self._on_java_thread(lambda: self.searcher.batch_search(
            [prepared[number][2] for number in searched], [str(number) for number in searched], k,
            min(len(searched), os.cpu_count() or 1))) if searched else {}
        hits = [list(found.get(str(number), [])) for number in range(len(modes))]
        passages: dict[str, tuple[str | None, dict[str, Any] | None] | None] = {}
        for mode_hits in hits:
            for hit in mode_hits:
                if hit.doc_id not in passages:
                    passages[hit.doc_id] = self.passages.passage(hit.doc_id)
        weights = [self._weights(vector, mode_hits, passages) for (_, _, vector), mode_hits in zip(prepared, hits)]
        unknown = [(number, sorted(missing)) for number, (_, missing) in enumerate(weights) if missing]
        if unknown:  # read from the index's postings: a passage without its line, or whose weights disagree
            read = self._on_java_thread(lambda: [self.postings.weights(doc_ids, prepared[number][2])
                                                 for number, doc_ids in unknown])
            for (number, _), more in zip(unknown, read):
                weights[number][0].update(more)
        query_id = None if topic.query_id == INLINE_QUERY_ID else topic.query_id
        explanations = [explain_hits(vector, query_input, mode_hits, _Known(self.index, known), mode=mode,
                                     model=explainer.encoding.model, k=k, query_id=query_id)
                        for (_, query_input, vector), mode_hits, (known, _), mode
                        in zip(prepared, hits, weights, modes)]
        texts = {doc_id: _shown(found[0]) if found else None for doc_id, found in passages.items()}
        with self._locks[model]:
            spans = self._spans(model, {doc_id: text for doc_id, text in texts.items() if text})
        results = []
        for explanation in explanations:
            highlights = {}
            for hit in explanation.hits:
                if hit.doc_id in spans:
                    matched = {t.term for t in hit.terms}
                    highlights[hit.doc_id] = [span for span in spans[hit.doc_id] if span[2] in matched]
            results.append(ModeResult(explanation, {hit.doc_id: texts[hit.doc_id] for hit in explanation.hits},
                                      highlights))
        return results

    @staticmethod
    def _weights(vector: Mapping[str, int], hits: Sequence[Hit],
                 passages: Mapping[str, tuple[str | None, dict[str, Any] | None] | None]
                 ) -> tuple[dict[str, dict[str, int]], set[str]]:
        """``({doc_id: {term: impact}}, doc_ids left)``: each hit's weights for the query's terms from
        its collection line (the vector the index was built from), kept only where they add up to
        the integer behind the hit's Lucene score (:func:`~disco_pyserini.search.merge.integer_score`);
        the hits left (no line, no such vector, or a sum that differs: a collection that is not the
        index's) are read from the index's postings by the caller, as ``explain`` reads them.

        Reading 100 lines already read for their texts costs less than the postings' Java calls
        (one per query term and hit)."""
        known: dict[str, dict[str, int]] = {}
        left: set[str] = set()
        for rank, hit in enumerate(hits, 1):
            found = passages.get(hit.doc_id)
            document = found[1] if found else None
            expected = integer_score(hit.score, rank)
            if document is None or expected is None:
                left.add(hit.doc_id)
                continue
            weights = {term: weight for term in document.keys() & vector.keys()
                       if type(weight := document[term]) is int and weight > 0}
            if sum(vector[term] * weight for term, weight in weights.items()) == expected:
                known[hit.doc_id] = weights
            else:
                left.add(hit.doc_id)
        return known, left

    def _spans(self, model: str, texts: Mapping[str, str]) -> dict[str, list[tuple[int, int, str]]]:
        """``{doc_id: [(start, end, token), ...]}``, each token of each text (the model's tokenizer,
        whose vocabulary is the index's): the matched terms are highlighted among them.

        The texts not tokenized lately are tokenized in one call; the spans of the last
        :data:`SPANS_KEPT` passages are kept (a conversation's turns retrieve many of the same
        passages). The caller holds the model's lock."""
        cache = self._span_cache[model]
        missing = [doc_id for doc_id in texts if doc_id not in cache]
        if missing:
            for doc_id, spans in zip(missing, token_spans(self.explainers[model].encoding,
                                                          [texts[doc_id] for doc_id in missing])):
                cache[doc_id] = spans
        found = {}
        for doc_id in texts:
            cache.move_to_end(doc_id)
            found[doc_id] = cache[doc_id]
        while len(cache) > SPANS_KEPT:
            cache.popitem(last=False)
        return found

    def health(self) -> dict[str, Any]:
        from ..io.metadata import package_version

        return {"status": "ok", "version": package_version(), "index": self.index,
                "documents": self.num_docs, "passages": len(self.passages), "models": self.models,
                "modes": list(self.modes), "limits": self.limits.to_json()}

    def close(self) -> None:
        def close_java() -> None:
            self.postings.close()
            self.searcher.close()

        try:
            self._on_java_thread(close_java)
        finally:
            self._java.shutdown(wait=True)
            self.passages.close()
