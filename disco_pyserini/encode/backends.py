"""The encoder an :class:`~disco_pyserini.encode.spec.EncoderSpec` runs on: its ``backend``'s.

``torch`` gives a :class:`~disco_pyserini.encode.splade.SpladeEncoder` (documents and queries,
inference and training); ``onnx`` an :class:`~disco_pyserini.encode.onnx_encoder.OnnxEncoder`
(queries, on ONNX Runtime's CPU, without torch), with the same interface for queries. This lives
above the spec and both encoders, which import the spec: the spec itself never imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import EncoderSpec
    from .splade import SpladeEncoder


def build_encoder(spec: EncoderSpec, **options: Any) -> SpladeEncoder:
    """The encoder of ``spec`` (loads the model); ``options`` go to
    :class:`~disco_pyserini.encode.splade.SpladeEncoder`, or ``option`` only to
    :class:`~disco_pyserini.encode.onnx_encoder.OnnxEncoder` with ``backend`` ``onnx``.
    ``auto`` builds what :meth:`~disco_pyserini.encode.spec.EncoderSpec.resolved_backend` says.
    ``build_encoder(EncoderSpec.from_params(record))`` rebuilds an artifact's encoder."""
    if spec.resolved_backend() == "onnx":
        from .onnx_encoder import OnnxEncoder

        return OnnxEncoder(spec, **options)  # type: ignore[return-value]
    from .splade import SpladeEncoder

    return SpladeEncoder(spec, **options)
