"""Encoding: SPLADE models turn documents (and queries) into impact vectors, written as a collection.

An :class:`~.spec.EncoderSpec` names a model and its settings (what every artifact records);
:func:`~.backends.build_encoder` gives its encoder: :class:`~.splade.SpladeEncoder` (torch; the
one SPLADE forward for inference and training) or :class:`~.onnx_encoder.OnnxEncoder` (queries on
ONNX Runtime, exported by :func:`~.onnx_export.export_onnx`). :func:`~.collection.encode_collection`
writes a corpus as a JsonVectorCollection folder (:class:`~.collection.Collection`), integer impacts
by :mod:`.quantize`; :mod:`.models` names the presets and loads the weights. Commands:
``disco-pyserini encode`` (``--dask``: :mod:`disco_pyserini.cluster`) and ``disco-pyserini
export-onnx``. As ``pyserini.encode``.

Importing this package loads nothing heavy: torch and transformers load when an encoder is built.
"""
