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

from .conversation import flatten_conversation
from .models import resolve_model
from .quantize import DEFAULT_SCALE, check_scale, to_impacts
from .splade import SpladeEncoder

logger = logging.getLogger(__name__)


def query_string(query: str | Sequence[Any]) -> str:
    """A flattened conversation, or the string itself."""
    if isinstance(query, str):
        return query
    return flatten_conversation(query)


class QueryEncoding:
    """Encodes query strings or conversations into ``{token: impact}`` with a query model."""

    def __init__(self, model: str, *, max_length: int = 256, scale: float = DEFAULT_SCALE,
                 batch_size: int = 32, device: str | None = None, threads: int | None = None,
                 precision: str = "auto", option: str = "--model") -> None:
        self.scale = check_scale(scale)
        self.model = model
        self.splade = SpladeEncoder(resolve_model(model, "query"), max_length=max_length, batch_size=batch_size,
                                    device=device, threads=threads, precision=precision, option=option)

    def encode_one(self, query: str | Sequence[Any]) -> dict[str, int]:
        return self.encode_many([query])[0]

    def encode_many(self, queries: Sequence[str | Sequence[Any]]) -> list[dict[str, int]]:
        texts = [query_string(q) for q in queries]
        vectors = self.splade.encode(texts)
        return [to_impacts(v.indices, v.weights, self.splade.vocabulary, self.scale) for v in vectors]

    def describe(self) -> dict[str, Any]:
        return {**self.splade.describe(), "scale": self.scale, "preset_or_model": self.model}
