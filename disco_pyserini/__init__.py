"""DiSCo conversational sparse retrieval on Pyserini and Lucene."""

from __future__ import annotations

from typing import Any

from .conversation import flatten_conversation

__all__ = ["flatten_conversation", "DiscoQueryEncoder", "SpladeEncoder", "__version__"]


def __getattr__(name: str) -> Any:
    # torch, transformers and pyserini load only when these are used
    if name == "DiscoQueryEncoder":
        from .search.query_encoder import DiscoQueryEncoder

        return DiscoQueryEncoder
    if name == "SpladeEncoder":
        from .encode.splade import SpladeEncoder

        return SpladeEncoder
    if name == "__version__":
        from .io.metadata import package_version

        return package_version()
    raise AttributeError(name)
