"""``DiscoQueryEncoder``: a Pyserini ``QueryEncoder`` that turns conversations into impact queries.

>>> from pyserini.search.lucene import LuceneImpactSearcher            # doctest: +SKIP
>>> encoder = DiscoQueryEncoder("disco-human")                        # doctest: +SKIP
>>> searcher = LuceneImpactSearcher("index/", encoder, min_idf=-1)    # doctest: +SKIP
>>> hits = searcher.search([("what is a shark?", "a fish."), ("do they sleep?", None)])  # doctest: +SKIP

``encode`` takes a conversation (a list of ``(question, answer)`` pairs, the current question
last with answer ``None``) or an already flattened string, and returns ``{token: int}``
quantized with the same function and scale as the documents. ``min_idf=-1`` keeps query terms
that occur in every document (Pyserini's default of 0 drops them).

Importing this module imports Pyserini's encoders (a few seconds); the command line does not
need it and uses :class:`disco_pyserini.queries.QueryEncoding` directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .java import import_pyserini_search
from .queries import QueryEncoding
from .spec import EncoderSpec

import_pyserini_search()  # configures the JVM, then Pyserini's encoders import cleanly

from pyserini.encode import QueryEncoder  # noqa: E402


class DiscoQueryEncoder(QueryEncoder):
    """DiSCo (or any SPLADE) query encoder for ``LuceneImpactSearcher``.

    ``model`` is a preset (``disco-human``, ``splade-tiny``...: its query model), a HuggingFace
    id or a local folder. ``scale`` must be the documents' scale (100 by default).
    """

    def __init__(self, model: str = "disco-human", *, max_length: int = 256, scale: float = 100,
                 batch_size: int = 32, device: str | None = None, threads: int | None = None,
                 precision: str = "auto") -> None:
        super().__init__()
        self.encoding = QueryEncoding(EncoderSpec(model, side="query", max_length=max_length, scale=scale,
                                                  batch_size=batch_size, device=device, threads=threads,
                                                  precision=precision))
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
