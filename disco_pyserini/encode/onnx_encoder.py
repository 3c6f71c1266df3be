"""The query side on ONNX Runtime: a SPLADE encoder that imports neither torch nor transformers.

:class:`OnnxEncoder` runs the graph of an ONNX export (:mod:`disco_pyserini.encode.onnx_export`: the
masked LM, the max over tokens and ``log(1 + relu(.))`` inside) and tokenizes with the
``tokenizers`` library directly, reading the export's copy of the model's own tokenizer files
(``tokenizer.json``, or, where a model has none, the WordPiece tokenizer transformers builds from
``vocab.txt`` and ``tokenizer_config.json``, built here the same way). Importing ``onnxruntime`` and
``tokenizers`` takes a fraction of a second where torch and transformers take seconds, so a
conversation is encoded before torch would have been imported.

It has the interface :class:`~disco_pyserini.search.queries.QueryEncoding` uses of
:class:`~disco_pyserini.encode.splade.SpladeEncoder` (``tokenize``, ``encode_token_ids``, ``vocabulary``,
``spec``, ``describe``), and describes itself with the same model identity as the torch encoder of
the same weights (the export records that digest), its spec saying ``backend: onnx``. Its
``tokenizer`` is a :class:`TokenizerView`, so explanations and ``serve`` read token offsets from it as
from a transformers fast tokenizer.

Every text runs alone, unpadded, as the torch encoder runs texts on CPU: a vector depends on
neither its batch nor its neighbours. Its float weights are the torch encoder's up to float
rounding (ONNX Runtime fuses and orders the arithmetic its own way), so an impact can differ by 1
where ``w × scale`` sits at a rounding boundary: ``benchmarks/measure_onnx_equality.py`` counts them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError, SettingError
from .onnx_export import GRAPH, cached_export, int8_graph, is_export, read_export_record
from .spec import EncoderSpec
from .splade import SparseVector, vocabulary_fingerprint

logger = logging.getLogger(__name__)


def load_tokenizer(folder: str | os.PathLike[str], max_length: int) -> Any:
    """The model's tokenizer as the ``tokenizers`` library runs it, with special tokens added and
    right truncation at ``max_length`` tokens (special tokens included), no padding."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    if (folder / "tokenizer.json").is_file():
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    elif (folder / "vocab.txt").is_file():
        tokenizer = wordpiece_tokenizer(folder)
    else:
        raise ModelError(f"{folder}: no tokenizer.json or vocab.txt; export the model again with "
                         f"`disco-pyserini export-onnx`")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, strategy="longest_first", direction="right")
    return tokenizer


def wordpiece_tokenizer(folder: Path) -> Any:
    """The BERT WordPiece tokenizer of ``vocab.txt`` with ``tokenizer_config.json``'s settings, built
    as transformers' ``BertConverter`` builds the fast tokenizer of a slow BERT tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    config: dict[str, Any] = {}
    if (folder / "tokenizer_config.json").is_file():
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    if (folder / "special_tokens_map.json").is_file():
        special = json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8"))
        config = {**{k: v for k, v in special.items() if isinstance(v, str)}, **config}

    def token(name: str, default: str) -> str:
        value = config.get(name, default)
        return value.get("content", default) if isinstance(value, dict) else str(value)

    unk, sep, cls, pad, mask = (token("unk_token", "[UNK]"), token("sep_token", "[SEP]"), token("cls_token", "[CLS]"),
                                token("pad_token", "[PAD]"), token("mask_token", "[MASK]"))
    vocab: dict[str, int] = {}
    with open(folder / "vocab.txt", encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            vocab.setdefault(line.rstrip("\n"), index)
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token=unk, max_input_chars_per_word=100))
    lowercase = bool(config.get("do_lower_case", True))
    strip_accents = config.get("strip_accents")
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
        strip_accents=strip_accents if strip_accents is not None else None, lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    for name in (cls, sep, unk, pad, mask):
        if name not in vocab:
            raise ModelError(f"{folder / 'vocab.txt'}: lacks the special token {name}")
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.add_special_tokens([pad, unk, cls, sep, mask])
    return tokenizer


class TokenizerView:
    """The part of a transformers fast tokenizer's interface that explanations and ``serve``'s
    highlighting use (``tokenizer(texts, return_offsets_mapping=True, ...)``,
    ``convert_ids_to_tokens``, ``tokenize``, ``is_fast``), over the ``tokenizers`` tokenizer the onnx backend
    runs: the same Rust tokenizer transformers wraps, so the same ids and character offsets."""

    is_fast = True

    def __init__(self, tokenizer: Any, vocabulary: Sequence[str], max_length: int) -> None:
        self._truncating = {max_length: tokenizer}
        self._backend = tokenizer
        self._source = tokenizer.to_str()
        self._whole: Any = None
        self._vocabulary = vocabulary

    @property
    def backend_tokenizer(self) -> Any:
        """The ``tokenizers`` tokenizer itself, as transformers' fast tokenizers name it (serve copies it)."""
        return self._backend

    def _tokenizer(self, truncation: bool, max_length: int | None) -> Any:
        from tokenizers import Tokenizer

        if not truncation:
            if self._whole is None:
                self._whole = Tokenizer.from_str(self._source)
                self._whole.no_truncation()
            return self._whole
        length = max_length if max_length is not None else next(iter(self._truncating))
        if length not in self._truncating:
            tokenizer = Tokenizer.from_str(self._source)
            tokenizer.enable_truncation(length, strategy="longest_first", direction="right")
            self._truncating[length] = tokenizer
        return self._truncating[length]

    def __call__(self, text: str | Sequence[str], *, add_special_tokens: bool = True, truncation: bool = False,
                 max_length: int | None = None, return_offsets_mapping: bool = False,
                 return_attention_mask: bool = False, return_token_type_ids: bool = False) -> dict[str, Any]:
        if return_attention_mask or return_token_type_ids:
            raise TypeError("TokenizerView gives input_ids and offset_mapping only")
        single = isinstance(text, str)
        encodings = self._tokenizer(truncation, max_length).encode_batch([text] if single else list(text),
                                                                        add_special_tokens=add_special_tokens)
        result: dict[str, Any] = {"input_ids": [list(e.ids) for e in encodings]}
        if return_offsets_mapping:
            result["offset_mapping"] = [[tuple(offset) for offset in e.offsets] for e in encodings]
        return {key: value[0] for key, value in result.items()} if single else result

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._vocabulary[i] for i in ids]

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text``, without special tokens or truncation (as transformers' ``tokenize``)."""
        return self.convert_ids_to_tokens(self(text, add_special_tokens=False)["input_ids"])


class OnnxEncoder:
    """SPLADE vectors from an ONNX export, with :class:`~disco_pyserini.encode.splade.SpladeEncoder`'s
    interface for queries. ``spec.backend`` must be ``onnx`` (or ``auto``); ``spec.precision``
    ``int8`` runs the export's int8 graph (:func:`~disco_pyserini.encode.onnx_export.int8_graph`), anything
    else float32. ``spec.model`` is anything ``--model``
    takes (exported on first use and cached) or an export folder."""

    def __init__(self, spec: EncoderSpec, *, option: str = "--model") -> None:
        import onnxruntime

        if spec.backend not in ("onnx", "auto"):  # auto: this class is the onnx backend
            raise SettingError("backend", f"{spec.backend!r}: OnnxEncoder runs the onnx backend")
        if spec.device not in (None, "cpu"):
            raise SettingError("device", f"{spec.device}: the onnx backend runs on the CPU; use --backend torch "
                                         f"for {spec.device}")
        if spec.precision not in ("auto", "float32", "int8"):
            raise SettingError("precision", f"{spec.precision}: the onnx backend runs float32 or int8; use float32, "
                                            f"auto or int8, or --backend torch")
        self.folder = cached_export(spec.model, side=spec.side, option=option)
        self.record = read_export_record(self.folder)
        precision = "int8" if spec.precision == "int8" else "float32"
        if is_export(spec.model):  # an export folder: the model it was exported from
            model = str(self.record.get("source_model") or self.folder)
        else:  # the name torch records for the same --model (a hub id stays a hub id, not its snapshot folder)
            from .models import resolve_model

            model = resolve_model(spec.model, spec.side)
        self.spec = replace(spec, model=model, device="cpu", precision=precision, backend="onnx")
        self._tokenizer = load_tokenizer(self.folder, spec.max_length)
        vocab = self._tokenizer.get_vocab(with_added_tokens=True)
        self.vocabulary: list[str] = [""] * len(vocab)
        for token, index in vocab.items():
            if index < len(self.vocabulary):
                self.vocabulary[index] = token
        if vocabulary_fingerprint(self.vocabulary) != self.record.get("vocabulary_sha256"):
            raise ModelError(f"{self.folder}: the tokenizer files' vocabulary is not the one the model was exported "
                             f"with; export it again (disco-pyserini export-onnx)")
        self.tokenizer = TokenizerView(self._tokenizer, self.vocabulary, spec.max_length)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = spec.threads or 0  # 0: ONNX Runtime's default (the physical cores)
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        graph = int8_graph(self.folder) if precision == "int8" else self.folder / GRAPH
        self.session = onnxruntime.InferenceSession(str(graph), options,
                                                    providers=["CPUExecutionProvider"])

    @property
    def max_length(self) -> int:
        return self.spec.max_length

    @property
    def batch_size(self) -> int:
        return self.spec.batch_size

    @property
    def precision(self) -> str:
        return self.spec.precision

    @property
    def identity(self) -> dict[str, Any]:
        """The exported weights' identity, as the torch encoder computes it (from the export's record)."""
        return {"model_sha256": self.record["model_sha256"], "vocabulary_size": len(self.vocabulary),
                "vocabulary_sha256": self.record["vocabulary_sha256"]}

    @property
    def model_sha256(self) -> str:
        return str(self.record["model_sha256"])

    @property
    def vocabulary_fingerprint(self) -> str:
        return str(self.record["vocabulary_sha256"])

    def describe(self) -> dict[str, Any]:
        return {**self.spec.to_params(), **self.identity}

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with special tokens, truncated on the right to ``max_length``."""
        if not texts:
            return []
        return [list(encoding.ids) for encoding in self._tokenizer.encode_batch(list(texts), add_special_tokens=True)]

    def encode(self, texts: Sequence[str]) -> list[SparseVector]:
        return self.encode_token_ids(self.tokenize(texts))

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> list[SparseVector]:
        """SPLADE vectors of already tokenized texts, in order; each text runs alone, unpadded."""
        return [self._encode_one(ids) for ids in token_ids]

    def _encode_one(self, ids: Sequence[int]) -> SparseVector:
        input_ids = np.asarray([ids], dtype=np.int64)
        weights = self.session.run(None, {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)})[0][0]
        indices = np.flatnonzero(weights > 0).astype(np.int32)
        return SparseVector(indices, weights[indices].astype(np.float32))
