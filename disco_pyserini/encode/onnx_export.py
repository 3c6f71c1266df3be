"""A SPLADE query model exported to ONNX: the graph, its tokenizer files and its record, in one folder.

The graph holds the whole encoder, not just the transformer: the masked-LM head, the max over
the real tokens and ``log(1 + relu(.))`` (the formula of :mod:`disco_pyserini.encode.splade`), so that
ONNX Runtime returns each text's ``[V]`` SPLADE weights and nothing is left to do in Python but
quantize. Batch and sequence length are dynamic. The max is taken over ``logits * mask`` and the
activation applied once per text: ``log1p(relu(max_t(logits * mask)))`` equals
``max_t log1p(relu(logits)) * mask`` exactly (``log1p`` and ``relu`` are non-decreasing and a padded
token's 0 never beats ``relu``'s 0), as :class:`~disco_pyserini.encode.splade.SpladeEncoder` computes it.

An export folder holds::

    model.onnx          the graph (inputs input_ids, attention_mask [B, L] int64; output weights [B, V])
    tokenizer.json ...  the source model's own tokenizer files, copied
    model.int8.onnx     (made on first use of ``--precision int8``) the graph with its weights
                        quantized to int8 by ONNX Runtime's dynamic quantization, and
    model.int8.json     how it was made
    disco_onnx.json     what was exported: the source model, the digest of its weights as
                        SpladeEncoder.model_sha256 computes it (so an ONNX encoder records the same
                        model identity as the torch encoder of the same weights), the vocabulary
                        digest, the opset, the torch / transformers / onnxruntime versions, and the
                        largest difference from the torch encoder's weights on probe texts

``disco-pyserini export-onnx --model M --output DIR`` writes one; the ``onnx`` query backend also
exports on first use into the package's cache (:func:`cached_export`), keyed by a digest of the
model folder's weight and config files, so a model folder trained again is exported again.

Exporting needs torch, transformers and the ``onnx`` package (the TorchScript exporter,
``torch.onnx.export(..., dynamo=False)``, which serializes through ``onnx``); running an export
needs neither torch nor transformers (:mod:`disco_pyserini.encode.onnx_encoder`). Finding a cached export
imports neither either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..io.jsonl import write_json
from ..io.metadata import artifact_header

logger = logging.getLogger(__name__)

EXPORT_RECORD = "disco_onnx.json"
GRAPH = "model.onnx"
INT8_GRAPH = "model.int8.onnx"
INT8_RECORD = "model.int8.json"
OPSET = 17
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin")
PROBES = ("a", "SPLADE weights are the max over tokens of log(1 + relu(logits)).",
          "what is a shark? [SEP] a fish that lives in the sea. [SEP] do they sleep?")


def is_export(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is an ONNX export (it has ``disco_onnx.json`` and ``model.onnx``)."""
    return (Path(folder) / EXPORT_RECORD).is_file() and (Path(folder) / GRAPH).is_file()


def read_export_record(folder: str | os.PathLike[str]) -> dict[str, Any]:
    from ..io.jsonl import read_json_object

    return read_json_object(str(Path(folder) / EXPORT_RECORD), "ONNX export record")


# -- which files are the model ---------------------------------------------------------------------
def source_folder(model: str, *, option: str = "--model") -> Path | None:
    """The local folder of a resolved model name (a folder, or a hub id's snapshot in the local
    HuggingFace cache), or ``None`` when the hub id is not cached yet."""
    if os.path.isdir(model):
        return Path(model)
    looks_like_path = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path:
        raise ModelError(f"{option} {model}: no such folder (a hub id looks like owner/name)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # not in the local cache (or no huggingface_hub): the exporter loads it
        return None


def model_files_digest(folder: str | os.PathLike[str]) -> str:
    """sha256 of a model folder's config and weight files (names and contents): what an automatic
    export is cached under. File digests are remembered by path, size and modification time, so a
    BERT-base checkpoint (440 MB) is read once, not at every start."""
    folder = Path(folder)
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and (p.name == "config.json" or p.name.endswith(WEIGHT_SUFFIXES)))
    if not any(name.endswith(WEIGHT_SUFFIXES) for name in names):
        raise ModelError(f"{folder}: no weights (*.safetensors or *.bin) in this model folder")
    memo_path = _export_root() / "file_digests.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    digest, changed = hashlib.sha256(), False
    for name in names:
        path = (folder / name).resolve()
        stat = path.stat()
        stamp = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
        if not isinstance(memo.get(stamp), str):
            from ..io.metadata import file_sha256

            memo[stamp], changed = file_sha256(str(path)), True
        digest.update(f"{name}:{memo[stamp]}\n".encode())
    if changed:
        try:
            memo_path.parent.mkdir(parents=True, exist_ok=True)
            write_json(memo_path, memo)
        except OSError as error:  # a read-only cache only costs reading the weights again
            logger.debug("could not remember file digests in %s (%s)", memo_path, error)
    return digest.hexdigest()


def _export_root() -> Path:
    from .models import cache_dir

    return cache_dir() / "onnx"


def cached_export(model: str, *, side: str = "query", option: str = "--model") -> Path:
    """The ONNX export of ``model`` (a preset, a hub id, a folder, or an export folder itself), from
    the cache or exported now (which needs torch, transformers and onnx, once)."""
    from .models import resolve_model

    if os.path.isdir(model) and is_export(model):
        return Path(model)
    resolved = resolve_model(model, side)  # type: ignore[arg-type]
    folder = source_folder(resolved, option=option)
    if folder is not None and is_export(folder):
        return folder
    if folder is None:  # a hub id not cached yet: load it once (downloads it), then it has a folder
        from .models import load_model

        load_model(resolved, option=option)
        folder = source_folder(resolved, option=option)
        if folder is None:
            raise ModelError(f"{option} {model}: loaded, but its files are not in the local HuggingFace cache; "
                             f"pass its local folder to {option}")
    target = _export_root() / model_files_digest(folder)[:32]
    if is_export(target):
        return target
    logger.info("exporting %s to ONNX into %s (once; needs torch)", resolved, target)
    export_onnx(str(folder), target, side=side, option=option)
    return target


def int8_graph(folder: str | os.PathLike[str]) -> Path:
    """The export's graph with int8 weights (``onnxruntime.quantization.quantize_dynamic``: MatMul and
    embedding weights int8, activations quantized per call), made once beside ``model.onnx``.
    Needs onnxruntime and onnx, not torch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = Path(folder)
    target = folder / INT8_GRAPH
    if target.is_file() and (folder / INT8_RECORD).is_file():
        return target
    import onnxruntime

    settings = {"weight_type": "QInt8", "per_channel": False, "reduce_range": False}
    try:
        with tempfile.TemporaryDirectory(dir=folder, prefix=".int8.") as tmp:
            staged = Path(tmp) / INT8_GRAPH
            root, was_disabled = logging.getLogger(), logging.getLogger().disabled
            root.disabled = True  # the quantizer logs advice to preprocess (shape inference) on the root logger
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    quantize_dynamic(str(folder / GRAPH), str(staged), weight_type=QuantType.QInt8,
                                     per_channel=False, reduce_range=False)
            finally:
                root.disabled = was_disabled
            write_json(Path(tmp) / INT8_RECORD, {**artifact_header("onnx-int8-graph"), "source_graph": GRAPH,
                                                  "quantization": "onnxruntime.quantization.quantize_dynamic",
                                                  **settings, "onnxruntime_version": onnxruntime.__version__})
            os.replace(staged, target)
            os.replace(Path(tmp) / INT8_RECORD, folder / INT8_RECORD)
    except OSError as error:
        raise ModelError(f"{folder}: cannot write its int8 graph ({error.strerror}); use a writable export folder "
                         f"or --precision float32") from None
    logger.info("quantized %s to int8 (%s)", folder / GRAPH, target)
    return target


# -- the export ------------------------------------------------------------------------------------
def export_onnx(model: str, output: str | os.PathLike[str], *, side: str = "query", option: str = "--model",
                opset: int = OPSET) -> dict[str, Any]:
    """Export ``model``'s SPLADE encoder (the ``side`` model of a preset) to ``output``; returns the record.

    The folder is written beside ``output`` and renamed into place, so a half-written export is never
    found. The export is checked before it is kept: ONNX Runtime's weights of the probe texts, alone
    and padded into one batch, must be within 1e-4 of the torch encoder's.
    """
    import numpy as np
    import onnxruntime
    import torch
    import transformers

    from .spec import EncoderSpec
    from .splade import SpladeEncoder

    try:
        import onnx  # noqa: F401  (torch's TorchScript exporter serializes through it)
    except ImportError:
        raise ModelError("exporting to ONNX needs the onnx package: pip install 'onnx==1.23.2'") from None
    encoder = SpladeEncoder(EncoderSpec(model, side=side, device="cpu"), option=option)  # type: ignore[arg-type]
    if encoder.model.get_output_embeddings() is None:
        raise ModelError(f"{option} {model}: no masked-LM output layer to export")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.") as tmp:
        staging = Path(tmp) / "export"
        staging.mkdir()
        wrapper = _SpladeGraph(encoder.model).eval()
        ids = encoder.tokenize(list(PROBES))
        input_ids, attention_mask = encoder._pad(ids[1:])  # padded: the graph keeps the mask's path
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            # the tracer's warnings are about shapes it freezes; the check below compares the graph on
            # other lengths, alone and padded, with the torch encoder
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (input_ids, attention_mask), str(staging / GRAPH),
                              input_names=["input_ids", "attention_mask"], output_names=["weights"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                            "attention_mask": {0: "batch", 1: "sequence"},
                                            "weights": {0: "batch"}},
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        source = Path(encoder.spec.model)
        copied = [name for name in TOKENIZER_FILES if (source / name).is_file()]
        for name in copied:
            shutil.copyfile(source / name, staging / name)
        if "tokenizer.json" not in copied:  # the tokenizer transformers runs, as it runs it
            encoder.tokenizer.backend_tokenizer.save(str(staging / "tokenizer.json"))
        session = onnxruntime.InferenceSession(str(staging / GRAPH), providers=["CPUExecutionProvider"])
        reference = np.stack([_dense(encoder, text) for text in ids])
        alone = np.stack([session.run(None, _inputs([text]))[0][0] for text in ids])
        batched = session.run(None, _inputs(ids))[0]
        difference = float(max(np.abs(alone - reference).max(), np.abs(batched - reference).max()))
        if not difference <= 1e-4:
            raise ModelError(f"{option} {model}: the ONNX graph's weights differ from the torch encoder's by "
                             f"{difference:g} on probe texts; this architecture does not export faithfully")
        record = {**artifact_header("onnx-query-encoder"), "source_model": encoder.spec.model, "side": side,
                  **encoder.identity, "source_files_sha256": model_files_digest(source) if source.is_dir() else None,
                  "opset": opset, "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
                  "torch_version": torch.__version__, "transformers_version": transformers.__version__,
                  "onnxruntime_version": onnxruntime.__version__, "tokenizer_files": sorted(set(copied) |
                                                                                          {"tokenizer.json"}),
                  "graph": {"inputs": ["input_ids", "attention_mask"], "output": "weights",
                            "formula": "log1p(relu(max_t(logits * attention_mask)))"},
                  "probe_max_abs_difference": difference}
        write_json(staging / EXPORT_RECORD, record)
        if output.exists():
            if not is_export(output) and any(output.iterdir()):
                raise ModelError(f"--output {output}: exists and is not an ONNX export; choose an empty or new folder")
            shutil.rmtree(output)
        os.replace(staging, output)
    logger.info("exported %s to %s (largest difference on probes %.2g)", encoder.spec.model, output, difference)
    return record


def _dense(encoder: Any, ids: list[int]) -> Any:
    """The torch encoder's dense ``[V]`` weights of one tokenized text."""
    import numpy as np

    vector = encoder.encode_token_ids([ids])[0]
    dense = np.zeros(len(encoder.vocabulary), dtype=np.float32)
    dense[vector.indices] = vector.weights
    return dense


def _inputs(batch: list[list[int]]) -> dict[str, Any]:
    import numpy as np

    width = max(len(ids) for ids in batch)
    input_ids = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, ids in enumerate(batch):
        input_ids[row, :len(ids)] = ids
        mask[row, :len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def _graph_class() -> Any:
    import torch

    class SpladeGraph(torch.nn.Module):
        """The masked LM followed by SPLADE's pooling: ``[B, L]`` ids and mask to ``[B, V]`` weights."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask).logits
            masked = logits * attention_mask.unsqueeze(-1).to(logits.dtype)
            return torch.log1p(torch.relu(masked.amax(dim=1)))

    return SpladeGraph


def _SpladeGraph(model: Any) -> Any:  # noqa: N802 (a class built lazily: torch is imported on use)
    return _graph_class()(model)
