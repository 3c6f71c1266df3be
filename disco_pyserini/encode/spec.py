"""What an encoder is made of: the settings every artifact records and rebuilds an encoder from.

An :class:`EncoderSpec` names a SPLADE model (a preset, a hub id or a folder, and which side of a
preset) and how it runs. It is the one description of an encoder that travels: the command line
builds it from its options, spawned processes and Dask workers rebuild the encoder from
``to_params()``, and every artifact (collection, index, encoded queries, run) records those
params beside the identity of the weights that ran. ``build_encoder(EncoderSpec.from_params(record))``
(:mod:`disco_pyserini.encode.backends`) gives back an encoder whose vectors are the artifact's, as
bm25s's ``load`` calls ``cls(**params)`` on what ``save`` wrote.

The settings are of two kinds:

* **output settings** decide the bytes an encoder writes: the model (by the digest of its weights
  and of its vocabulary, which the encoder adds to the record: the name alone does not say whether
  a folder was trained again), ``max_length``, ``precision`` and ``scale``. Up-to-date checks
  compare these (:func:`output_identity`). ``backend`` is one too (``auto``, the default, is
  resolved by :func:`default_backend` and encoders record what ran): ``onnx`` runs the same weights
  on ONNX Runtime (:mod:`disco_pyserini.encode.onnx_encoder`), whose floats may differ from torch's in the
  last bits, so an impact at a rounding boundary can differ by 1; an ``onnx`` record's identity
  says so (a ``torch`` record's identity is as it was before backends existed, so caches and
  collections made then stay valid).
* **speed settings**, ``batch_size``, ``threads`` and ``device``, change how fast, not what: on
  CPU every text is computed alone, so its vector depends on neither its batch nor the thread count
  (the thread count may move a float in its last bit, see docs/reliability.md). Artifacts record
  them; changing them forces no re-encoding. On CUDA batches are padded, so there the bytes depend
  on the batch too; a CUDA encoding records ``precision`` bfloat16 (or float16), which tells it apart.

Imported by the command line's option definitions: no numpy, torch or transformers here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

from ..errors import SettingError

Precision = Literal["auto", "float32", "bfloat16", "float16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
Side = Literal["document", "query"]
SIDES: tuple[str, ...] = get_args(Side)
Backend = Literal["torch", "onnx"]
BACKENDS: tuple[str, ...] = get_args(Backend)
DEFAULT_BACKEND = "auto"
"""What a spec runs when no backend is named: :func:`default_backend` chooses per side and device."""
BACKEND_CHOICES: tuple[str, ...] = (DEFAULT_BACKEND, *BACKENDS)
RECORDED_BACKEND = "torch"
"""The backend of a record that names none (written before backends existed)."""

DEFAULT_MAX_LENGTH = 256
DEFAULT_BATCH_SIZE = 32
DEFAULT_SCALE = 100  # integer impacts are round(w * scale)

OUTPUT_SETTINGS = ("max_length", "precision", "scale")
"""The settings that decide an encoder's bytes, besides the model's identity."""
MODEL_IDENTITY = ("model_sha256", "vocabulary_sha256")
"""What an encoder adds to its record: the digests of the weights and of the vocabulary that ran."""
RECORD_ONLY = MODEL_IDENTITY + ("vocabulary_size", "preset_or_model", "query_max_terms")
"""Keys of an artifact's encoder record that describe what ran and are no setting of the encoder
(``query_max_terms``: the pruning of a query encoding, see ``queries.QueryEncoding``)."""


@dataclass(frozen=True)
class EncoderSpec:
    """A SPLADE encoder's settings: its model, its output settings and its speed settings.

    ``model`` is a preset (``disco-human``, ``splade-tiny``...), a HuggingFace hub id or a local
    folder; ``side`` says which model of a preset (``document`` for collections, ``query`` for
    queries). ``precision`` ``auto`` is float32 on CPU and bfloat16 autocast on CUDA; ``int8`` is
    the onnx backend's dynamically quantized graph (an explicit opt-in with a measured quality
    cost, docs/performance.md); ``device``
    ``None`` is CUDA when available; ``threads`` ``None`` leaves torch's thread count as it is
    (on the onnx backend: ONNX Runtime's default, the physical cores).
    ``backend`` ``torch`` runs the model with torch and transformers; ``onnx`` runs its ONNX export
    (:mod:`disco_pyserini.encode.onnx_export`) on ONNX Runtime's CPU, float32, without importing either.
    """

    model: str
    side: Side = "document"
    max_length: int = DEFAULT_MAX_LENGTH
    scale: float = DEFAULT_SCALE
    precision: Precision = "auto"
    batch_size: int = DEFAULT_BATCH_SIZE
    device: str | None = None
    threads: int | None = None
    backend: Backend | Literal["auto"] = DEFAULT_BACKEND

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise SettingError("model", f"{self.model!r}: name a preset, a hub id or a local folder")
        if self.side not in SIDES:
            raise SettingError("side", f"{self.side!r}: choose one of {', '.join(SIDES)}")
        if self.max_length < 2:
            raise SettingError("max_length", f"must be at least 2 (got {self.max_length})")
        if self.batch_size < 1:
            raise SettingError("batch_size", f"must be at least 1 (got {self.batch_size})")
        if self.precision not in PRECISIONS:
            raise SettingError("precision", f"{self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.precision == "int8" and (self.side != "query" or self.backend == "torch"):
            raise SettingError("precision", "int8: only queries on the onnx backend run int8 (its quantized graph); "
                                            "use float32 or auto")
        if self.backend not in BACKEND_CHOICES:
            raise SettingError("backend", f"{self.backend!r}: choose one of {', '.join(BACKEND_CHOICES)}")
        if self.threads is not None and self.threads < 1:
            raise SettingError("threads", f"must be at least 1 (got {self.threads})")
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not (
                math.isfinite(self.scale) and self.scale > 0):
            raise SettingError("scale", f"must be a positive number (got {self.scale})")

    # -- the record artifacts keep ---------------------------------------------------------------
    def to_params(self) -> dict[str, Any]:
        """Every setting by name: what artifacts record and :meth:`from_params` takes back."""
        return asdict(self)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, scale: float | None = None) -> EncoderSpec:
        """The spec of an artifact's encoder record (or of :meth:`to_params`).

        The identity an encoder adds to its record (weights and vocabulary digests) is no setting
        and is skipped. Records written before the spec existed keep the scale beside the encoder
        (a collection's top-level ``scale``): pass it as ``scale``; their missing speed settings
        take the defaults.
        """
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names - set(RECORD_ONLY))
        if unknown:
            raise SettingError(unknown[0], f"is not an encoder setting (known: {', '.join(sorted(names))})")
        values = {name: params[name] for name in names if name in params}
        values.setdefault("backend", RECORDED_BACKEND)  # a record that names none ran torch
        if "scale" not in values and scale is not None:
            values["scale"] = scale
        return cls(**values)

    # -- the model it names ----------------------------------------------------------------------
    def resolved(self) -> EncoderSpec:
        """The same spec with ``model`` resolved to the hub id or folder its side loads (a preset
        named, SPLADE-tiny fetched and cached once)."""
        from .models import resolve_model

        return replace(self, model=resolve_model(self.model, self.side))

    def resolved_backend(self) -> str:
        """The backend this spec runs: ``backend`` if named, else :func:`default_backend`'s choice.
        An encoder's own spec (what artifacts record) names the backend that ran."""
        return default_backend(self.side, self.device, self.precision) if self.backend == "auto" else self.backend


def default_backend(side: str, device: str | None, precision: str) -> str:
    """The backend a spec runs when none is named: ``onnx`` for queries on the CPU, ``torch`` otherwise.

    ONNX Runtime reaches the first query encoded several times sooner than torch (no torch import)
    and encodes a conversation faster on CPU (docs/performance.md,
    ``benchmarks/bench_onnx.py``); documents stay on torch, whose per-text forward was faster for
    SPLADE-tiny there and whose collections are byte-identical to ``pyserini.encode``'s. A CUDA
    device, named or (``device`` ``None``) present, keeps torch, as does a half precision, which the
    onnx backend does not run; ``int8`` (queries only) runs on onnx only. Whether CUDA is present is
    read from the NVIDIA driver's files, without importing torch.
    """
    if precision == "int8":
        return "onnx"
    if side != "query" or precision not in ("auto", "float32"):
        return "torch"
    if device is None:
        return "torch" if cuda_present() else "onnx"
    return "onnx" if device == "cpu" else "torch"


def cuda_present() -> bool:
    """Whether an NVIDIA GPU is visible to this process (what ``device`` ``None`` would pick up),
    read without importing torch: the driver's device files and ``CUDA_VISIBLE_DEVICES``."""
    import glob
    import os

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return bool(glob.glob("/proc/driver/nvidia/gpus/*") or glob.glob("/dev/nvidia[0-9]*"))


def output_identity(record: Mapping[str, Any], *, scale: float | None = None) -> dict[str, Any]:
    """What decides the bytes of an encoder's output, from an artifact's record of the encoder:
    the digests of its weights and vocabulary and its :data:`OUTPUT_SETTINGS`.

    Two records with equal identities make the same vectors (on CPU); speed settings and the
    model's name are left out, so a moved model folder or another thread count is the same
    encoder. ``scale`` is used where the record lacks one (records written before the spec
    existed kept it beside the encoder).
    """
    identity = {name: record.get(name) for name in MODEL_IDENTITY + OUTPUT_SETTINGS}
    if identity["scale"] is None:
        identity["scale"] = scale
    backend = record.get("backend") or RECORDED_BACKEND
    if backend == "auto":
        backend = default_backend(record.get("side") or "document", record.get("device"),
                                  record.get("precision") or "auto")
    if backend != "torch":  # a torch record's identity is as it was before backends existed
        identity["backend"] = backend
    return identity
