"""Query text to impact queries: conversations flattened, tokenized once, encoded in batches.

``QueryEncoding`` is the query side of the pipeline, shared by the command line, the Python
search API and :class:`DiscoQueryEncoder` (Pyserini's interface). On CPU a query's vector is the
same whether it is encoded alone or in a batch (see ``SpladeEncoder.exact``), so Pyserini's
one-query-at-a-time path and our batched path give identical runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..conversation import flatten_conversation
from ..encode.backends import build_encoder
from ..encode.quantize import prune, to_impacts
from ..encode.spec import EncoderSpec, output_identity
from ..encode.splade import SpladeEncoder
from ..errors import SettingError
from ..io.topics import Topic
from .encoded_queries import QueryCache

logger = logging.getLogger(__name__)


def query_string(query: str | Sequence[Any]) -> str:
    """A flattened conversation, or the string itself."""
    if isinstance(query, str):
        return query
    return flatten_conversation(query)


class QueryEncoding:
    """Encodes query strings or conversations into ``{token: impact}`` with a query model.

    ``encoder`` is an :class:`EncoderSpec`, a model name (a preset's query model, a hub id or a
    folder; ``settings`` then are the spec's other settings) or a :class:`SpladeEncoder` already
    built (e.g. around a student in training). The impacts use the spec's ``scale``, which must be
    the documents'. ``max_terms`` keeps only the heaviest terms of every query
    (:func:`~disco_pyserini.encode.quantize.prune`; off by default).
    """

    def __init__(self, encoder: EncoderSpec | SpladeEncoder | str, *, option: str = "--model",
                 max_terms: int | None = None, **settings: Any) -> None:
        if max_terms is not None and max_terms < 1:
            raise SettingError("query_max_terms", f"must be at least 1 (got {max_terms})")
        self.max_terms = max_terms
        if isinstance(encoder, str):
            encoder = EncoderSpec(encoder, side="query", **settings)
        elif settings:
            raise TypeError(f"give the settings ({', '.join(sorted(settings))}) in the EncoderSpec")
        self.model = encoder.model if isinstance(encoder, EncoderSpec) else encoder.spec.model
        self.splade = build_encoder(encoder, option=option) if isinstance(encoder, EncoderSpec) else encoder
        self.scale = self.splade.spec.scale
        self.last_encoded = 0

    def encode_one(self, query: str | Sequence[Any]) -> dict[str, int]:
        return self.encode_many([query])[0]

    def encode_many(self, queries: Sequence[str | Sequence[Any]]) -> list[dict[str, int]]:
        return self.encode_token_ids(self.splade.tokenize([query_string(q) for q in queries]))

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> list[dict[str, int]]:
        """The impact queries of texts already tokenized by :meth:`SpladeEncoder.tokenize`."""
        return [prune(to_impacts(v.indices, v.weights, self.splade.vocabulary, self.scale), self.max_terms)
                for v in self.splade.encode_token_ids(token_ids)]

    def describe(self) -> dict[str, Any]:
        """The encoder's record (:meth:`SpladeEncoder.describe`), the preset or model as given, and
        the query pruning."""
        return {**self.splade.describe(), "preset_or_model": self.model, "query_max_terms": self.max_terms}

    def cache_key(self, mode: str) -> dict[str, Any]:
        """What decides a cached query's vector: the encoder's output identity, the pruning and the mode."""
        key = {**output_identity(self.describe()), "query_mode": mode}
        if self.max_terms is not None:  # keys of unpruned queries stay as they were: their caches stay warm
            key["query_max_terms"] = self.max_terms
        return key

    def encode_topics(self, topics: Sequence[Topic], mode: str, *, cache: str | None = None) -> list[dict[str, int]]:
        """The impact query of every topic in ``mode``; with a cache folder, only the turns whose
        query text is not cached for this model, mode, max length and scale are encoded."""
        texts = [topic.query_text(mode) for topic in topics]
        qids = [topic.query_id for topic in topics]
        if cache is None:
            self.last_encoded = len(texts)
            return self.encode_many(texts)
        store = QueryCache(cache, self.cache_key(mode))
        vectors = store.lookup(qids, texts)
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        if missing:
            fresh = self.encode_many([texts[i] for i in missing])
            for i, vector in zip(missing, fresh):
                vectors[i] = vector
            store.store([qids[i] for i in missing], [texts[i] for i in missing], fresh)
        self.last_encoded = len(missing)
        logger.info("%d of %d queries encoded, %d from the cache %s", len(missing), len(texts),
                    len(texts) - len(missing), store.path)
        return vectors  # type: ignore[return-value]
