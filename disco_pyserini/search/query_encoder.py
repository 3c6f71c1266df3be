"""``DiscoQueryEncoder``: a Pyserini ``QueryEncoder`` that turns conversations into impact queries.

>>> from pyserini.search.lucene import LuceneImpactSearcher            # doctest: +SKIP
>>> encoder = DiscoQueryEncoder("disco-human")                        # doctest: +SKIP
>>> searcher = LuceneImpactSearcher("index/", encoder, min_idf=-1)    # doctest: +SKIP
>>> hits = searcher.search([("what is a shark?", "a fish."), ("do they sleep?", None)])  # doctest: +SKIP

``encode`` takes a conversation (a list of ``(question, answer)`` pairs, the current question
last with answer ``None``) or an already flattened string, and returns ``{token: int}``
quantized with the same function and scale as the documents. ``min_idf=-1`` keeps query terms
that occur in every document (Pyserini's default of 0 drops them).

``explain(query, hits, index)`` says why each hit of a search with this encoder was retrieved:
its matched terms, query weight × document weight, and where each query term came from
(:mod:`disco_pyserini.search.explain`).

Importing this module imports Pyserini's encoders (a few seconds); the command line does not
need it and uses :class:`disco_pyserini.search.queries.QueryEncoding` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..encode.spec import DEFAULT_BACKEND, EncoderSpec
from ..java import import_pyserini_search
from .queries import QueryEncoding

import_pyserini_search()  # configures the JVM, then Pyserini's encoders import cleanly

from pyserini.encode import QueryEncoder  # noqa: E402

if TYPE_CHECKING:
    from .explain import Explanation, IndexPostings


class DiscoQueryEncoder(QueryEncoder):
    """DiSCo (or any SPLADE) query encoder for ``LuceneImpactSearcher``.

    ``model`` is a preset (``disco-human``, ``splade-tiny``...: its query model), a HuggingFace
    id or a local folder. ``scale`` must be the documents' scale (100 by default). ``max_terms``
    keeps only the heaviest terms of every query (off by default). ``backend="onnx"`` runs the
    model's ONNX export on ONNX Runtime (exported on first use and cached; torch is still imported,
    by Pyserini's ``pyserini.encode``, which this class extends);
    ``"torch"`` runs torch; ``"auto"`` (the default) is onnx on the CPU and torch on CUDA
    (:func:`~disco_pyserini.encode.spec.default_backend`).
    """

    def __init__(self, model: str = "disco-human", *, max_length: int = 256, scale: float = 100,
                 batch_size: int = 32, device: str | None = None, threads: int | None = None,
                 precision: str = "auto", max_terms: int | None = None, backend: str = DEFAULT_BACKEND) -> None:
        super().__init__()
        self.encoding = QueryEncoding(EncoderSpec(model, side="query", max_length=max_length, scale=scale,
                                                  batch_size=batch_size, device=device, threads=threads,
                                                  precision=precision, backend=backend),  # type: ignore[arg-type]
                                      max_terms=max_terms)
        self.has_model = True

    @property
    def scale(self) -> float:
        return self.encoding.scale

    def encode(self, query: str | Sequence[Any], **kwargs: Any) -> dict[str, int]:
        """``{token: impact}`` of a conversation or a flattened string."""
        return self.encoding.encode_one(query)

    def encode_batch(self, queries: Sequence[str | Sequence[Any]]) -> list[dict[str, int]]:
        """Like :meth:`encode` for many queries at once, in length-sorted batches."""
        return self.encoding.encode_many(queries)

    def explain(self, query: str | Sequence[Any], hits: Sequence[Any], index: str | IndexPostings) -> Explanation:
        """Why each of ``hits`` (a ``LuceneImpactSearcher`` search's results for ``query`` with this
        encoder, in rank order) was retrieved: its matched terms with query weight × document weight,
        summing to its score, and each query term's origin in the conversation.

        ``index`` is the searched index's folder (its postings give the document weights) or an
        :class:`~disco_pyserini.search.explain.IndexPostings` kept open across calls. ``query`` is what was
        searched: a conversation, or a single question (a flattened string cannot be told apart into
        questions and answers: give the conversation).

        >>> hits = searcher.search(conversation, k=10)                      # doctest: +SKIP
        >>> why = encoder.explain(conversation, hits, "index/")             # doctest: +SKIP
        >>> [(t.term, t.contribution, t.origin) for t in why.hits[0].terms]  # doctest: +SKIP
        """
        from ..conversation import SEP
        from ..errors import UsageError
        from .explain import IndexPostings, as_topic, explain_hits, query_segments, read_input

        if isinstance(query, str) and SEP.strip() in query:
            raise UsageError("explain needs the conversation, not its flattened string: the string does not say "
                             "which parts are questions and which answers")
        topic = as_topic(query)
        text, segments = query_segments(topic, "disco")
        postings = index if isinstance(index, IndexPostings) else IndexPostings(index)
        try:
            return explain_hits(self.encode(query), read_input(self.encoding, text, segments), hits, postings,
                                mode="disco", model=self.encoding.model, k=max(1, len(hits)))
        finally:
            if postings is not index:
                postings.close()
