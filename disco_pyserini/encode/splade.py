"""SPLADE encoding, for documents and queries alike.

The weights of a text are::

    w = max over tokens t of  log(1 + relu(logits[t])) * attention_mask[t]

as in naver/splade and the DiSCo reference code. Because ``log(1 + relu(x))`` is non-decreasing
and never negative, this equals ``log(1 + relu(max over real tokens of logits[t]))``: the max is
taken over the logits of the real (non-padding) tokens, and the activation is applied once per
text rather than once per token. Padding tokens are never sent through the 30,522-wide output
layer, and that layer runs on at most ``token_chunk`` tokens at a time, so memory is bounded by
the chunk, not by the batch.

Texts are tokenized once, truncated on the right to ``max_length`` tokens, sorted by length so
that batches carry little padding, and returned in their original order.

One forward serves inference (documents and queries: :meth:`SpladeEncoder.encode`) and training
(the student of ``distill`` and its ``mse`` teacher: :meth:`SpladeEncoder.forward`), so a fix to
one reaches the other. The encoder is built from an :class:`~disco_pyserini.encode.spec.EncoderSpec` and
describes itself with it.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import SettingError
from .models import load_model
from .spec import EncoderSpec

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


class SparseVector(NamedTuple):
    """Vocabulary ids (ascending) and their float weights, all > 0."""

    indices: np.ndarray
    weights: np.ndarray


def splade_pool(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The SPLADE formula, literally: ``max_t log(1 + relu(logits)) * mask``; ``[B, L, V] -> [B, V]``.

    This is the reference that :class:`SpladeEncoder` computes more cheaply, in both of its modes;
    the tests compare them with it.
    """
    import torch

    activated = torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1).to(logits.dtype)
    return activated.amax(dim=1)


def _mlm_parts(model: Any) -> tuple[Callable[..., Any], Callable[[Any], Any]] | None:
    """Split a masked-LM into (encoder body -> hidden states, head -> logits) when we know how."""
    import torch

    body = getattr(model, "base_model", None)
    if hasattr(model, "cls") and body is not None:  # BERT family (SPLADE++, DiSCo, SPLADE-tiny)
        return body, model.cls
    if hasattr(model, "vocab_projector") and body is not None:  # DistilBERT
        head = torch.nn.Sequential(model.vocab_transform, model.activation, model.vocab_layer_norm,
                                   model.vocab_projector)
        return body, head
    if hasattr(model, "lm_head") and body is not None:  # RoBERTa, XLM-R
        return body, model.lm_head
    return None


class _LeanBert:
    """A BERT masked LM's forward for one unpadded text, with less Python around the same operations.

    On a 2-core CPU, HuggingFace's generic forward spends more time in Python than a tiny model
    spends in arithmetic. This calls the model's own modules and the same functions in the same
    order (embeddings, SDPA self-attention without a mask, feed-forward, head), and writes the
    logits into a reused buffer instead of allocating megabytes per text. It is only used when a
    self-check at load gives results bit for bit identical to the model's own forward.
    """

    def __init__(self, model: Any, max_length: int) -> None:
        import torch

        self.bert = model.bert
        self.embeddings = model.bert.embeddings
        self.layers = list(model.bert.encoder.layer)
        predictions = model.cls.predictions
        self.transform = predictions.transform
        self.weight_t = predictions.decoder.weight.t()
        self.bias = predictions.decoder.bias
        self.buffer = torch.empty((max_length, self.weight_t.shape[1]), dtype=torch.float32,
                                  device=self.weight_t.device)

    @classmethod
    def build(cls, model: Any, max_length: int, probes: Sequence[Sequence[int]]) -> _LeanBert | None:
        import torch

        needed = ("bert", "cls")
        if not all(hasattr(model, name) for name in needed) or not hasattr(model.cls, "predictions"):
            return None
        if getattr(model.config, "_attn_implementation", "sdpa") not in ("sdpa", "eager") or model.config.is_decoder:
            return None
        try:
            lean = cls(model, max_length)
            with torch.inference_mode():
                for ids in probes:
                    input_ids = torch.tensor([list(ids)], dtype=torch.long, device=lean.buffer.device)
                    hidden = model.bert(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))[0][0]
                    if not torch.equal(model.cls(hidden).amax(dim=0), lean.max_logits(input_ids)):
                        logger.debug("the lean BERT forward differs from the model's own: not used")
                        return None
        except Exception as error:  # an unexpected BERT variant: the generic path is always right
            logger.debug("the lean BERT forward is not usable (%s)", error)
            return None
        return lean

    def max_logits(self, input_ids: torch.Tensor) -> torch.Tensor:
        """``[V]``: max over the tokens of one unpadded text (``input_ids`` is ``[1, L]``)."""
        import torch
        import torch.nn.functional as F

        embeddings = self.embeddings
        length = input_ids.shape[1]
        x = embeddings.word_embeddings(input_ids) + embeddings.token_type_embeddings(
            embeddings.token_type_ids[:, :length])
        x = embeddings.LayerNorm(x + embeddings.position_embeddings(embeddings.position_ids[:, :length]))
        for layer in self.layers:
            attention = layer.attention.self
            shape = (1, length, -1, attention.attention_head_size)
            query = attention.query(x).view(shape).transpose(1, 2)
            key = attention.key(x).view(shape).transpose(1, 2)
            value = attention.value(x).view(shape).transpose(1, 2)
            context = F.scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                                     scale=attention.scaling, is_causal=False)
            context = context.transpose(1, 2).contiguous().reshape(1, length, -1).contiguous()
            x = layer.attention.output.LayerNorm(layer.attention.output.dense(context) + x)
            x = layer.output.LayerNorm(layer.output.dense(layer.intermediate(x)) + x)
        logits = torch.addmm(self.bias, self.transform(x[0]), self.weight_t, out=self.buffer[:length])
        return logits.amax(dim=0)


class SpladeEncoder:
    """Encode texts into SPLADE vectors with the masked-LM checkpoint an :class:`EncoderSpec` names.

    ``SpladeEncoder(spec)``, or ``SpladeEncoder(model, max_length=..., ...)`` with the spec's
    settings as keywords. ``spec`` afterwards is what runs: the model resolved (a preset to its
    ``side``'s model), the device and the precision chosen; :meth:`describe` adds the digests of the
    weights and of the vocabulary, and is what artifacts record.

    Two modes share the forward (see :meth:`_max_logits_padded`):

    * **inference** (:meth:`encode`, :meth:`max_logits`), under ``torch.inference_mode()``: on CPU
      every text runs alone, without padding, so its vector does not depend on its batch; on CUDA
      batches are length-sorted and padded, and the output layer sees at most ``token_chunk``
      tokens at once. ``precision`` ``auto`` is float32 on CPU and bfloat16 autocast on CUDA.
    * **trainable** (:meth:`forward`), with autograd: a padded batch whose real tokens go through the
      output layer at once, under float16 autocast on CUDA (with a gradient scaler, as training runs).

    ``trainable`` keeps the parameters' gradients (a student to train); otherwise they are frozen.
    ``loaded`` is an already loaded ``(tokenizer, model)`` to encode with instead of loading the
    spec's model, which then only names it (a student in training, put in eval mode by the caller;
    its gradients are left as they are). ``option`` names the model in load errors.
    """

    def __init__(self, spec: EncoderSpec | str, *, token_chunk: int | None = None, exact: bool | None = None,
                 trainable: bool = False, loaded: tuple[Any, Any] | None = None, option: str = "--model",
                 **settings: Any) -> None:
        import torch

        if isinstance(spec, str):
            spec = EncoderSpec(spec, **settings)
        elif settings:
            raise TypeError(f"give the settings ({', '.join(sorted(settings))}) in the EncoderSpec")
        if spec.backend not in ("torch", "auto"):  # auto: this class is the torch backend
            raise SettingError("backend", f"{spec.backend}: SpladeEncoder runs torch; build_encoder() gives the "
                                          f"{spec.backend} encoder (queries only)")
        if spec.precision == "int8":
            raise SettingError("precision", "int8: the onnx backend's quantized graph; add --backend onnx (or leave "
                                            "--backend to auto)")
        if spec.threads is not None:
            torch.set_num_threads(spec.threads)
        self.device = torch.device(spec.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # On CPU every text is computed alone (see _max_logits_exact): results do not depend on
        # batch size, batch neighbours or sharding, and cost no padding. GPUs need padded batches.
        self.exact = self.device.type == "cpu" if exact is None else exact
        precision = spec.precision
        if precision == "auto":
            precision = "bfloat16" if self.device.type == "cuda" else "float32"
        if self.exact and precision != "float32":
            raise SettingError("precision", f"{precision}: on {self.device.type} every text is encoded alone in "
                                            f"float32 (exact and batch-independent); use float32 or auto, or a CUDA "
                                            f"device")
        if loaded is None:
            spec = spec.resolved()
        self.spec = replace(spec, device=str(self.device), precision=precision, backend="torch")
        self.tokenizer, self.model = loaded if loaded is not None else load_model(spec.model, option=option)
        self.model.to(self.device)
        if loaded is None and not trainable:
            self.model.requires_grad_(False)
        self.tokenizer.truncation_side = "right"
        self.token_chunk = token_chunk or (16384 if self.device.type == "cuda" else 512)
        self._parts = _mlm_parts(self.model)
        vocab = self.tokenizer.get_vocab()
        self.vocabulary: list[str] = [""] * len(vocab)
        for token, index in vocab.items():
            if index < len(self.vocabulary):
                self.vocabulary[index] = token
        output_size = self.model.get_output_embeddings().weight.shape[0]
        if output_size != len(self.vocabulary):
            raise SettingError("model", f"{spec.model}: the output layer has {output_size} entries but the "
                                        f"tokenizer {len(self.vocabulary)}; SPLADE needs them to match")
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._lean = None
        if self.exact and not trainable and self.precision == "float32" and self.max_length <= self.token_chunk:
            probes = self.tokenize(["a", "SPLADE weights are the max over tokens of log(1 + relu(logits))."])
            self._lean = _LeanBert.build(self.model, self.max_length, probes)

    @property
    def max_length(self) -> int:
        return self.spec.max_length

    @property
    def batch_size(self) -> int:
        return self.spec.batch_size

    @property
    def precision(self) -> str:
        return self.spec.precision

    # -- identity ---------------------------------------------------------------------------
    @property
    def model_sha256(self) -> str:
        """sha256 of the model's parameters (names, shapes and values): the model's identity."""
        if not hasattr(self, "_model_sha256"):
            digest = hashlib.sha256()
            for name, tensor in sorted(self.model.state_dict().items()):
                digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
                digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch_uint8()).numpy().tobytes())
            self._model_sha256 = digest.hexdigest()
        return self._model_sha256

    @property
    def vocabulary_fingerprint(self) -> str:
        """sha256 of the vocabulary in id order: two models can share an index iff these match."""
        return vocabulary_fingerprint(self.vocabulary)

    @property
    def identity(self) -> dict[str, Any]:
        """What the spec cannot say: the digests of the weights and of the vocabulary that run
        (a model folder trained again is a different model under the same name)."""
        return {"model_sha256": self.model_sha256, "vocabulary_size": len(self.vocabulary),
                "vocabulary_sha256": self.vocabulary_fingerprint}

    def describe(self) -> dict[str, Any]:
        """What an artifact records about the encoder that made it: every setting of :attr:`spec`
        (``EncoderSpec.from_params`` takes it back) and :attr:`identity`."""
        return {**self.spec.to_params(), **self.identity}

    # -- tokenization -----------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with special tokens, truncated on the right to ``max_length``."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=True,
                                 max_length=self.max_length, padding=False,
                                 return_attention_mask=False, return_token_type_ids=False)
        return [list(ids) for ids in encoded["input_ids"]]

    # -- inference --------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[SparseVector]:
        """SPLADE vectors of ``texts``, in order."""
        return self.encode_token_ids(self.tokenize(texts))

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> list[SparseVector]:
        """SPLADE vectors of already tokenized texts, in order (length-sorted batches inside)."""
        results: list[SparseVector | None] = [None] * len(token_ids)
        for positions, vectors in self.iter_batches(token_ids):
            for position, vector in zip(positions, vectors):
                results[position] = vector
        return results  # type: ignore[return-value]

    def iter_batches(self, token_ids: Sequence[Sequence[int]]) -> Iterator[tuple[list[int], list[SparseVector]]]:
        """``(positions, vectors)`` per batch, longest texts first; positions index ``token_ids``."""
        order = sorted(range(len(token_ids)), key=lambda i: (-len(token_ids[i]), i))
        for start in range(0, len(order), self.batch_size):
            positions = order[start:start + self.batch_size]
            yield positions, self._encode_batch([token_ids[i] for i in positions])

    def _encode_batch(self, batch: Sequence[Sequence[int]]) -> list[SparseVector]:
        import torch

        with torch.inference_mode():
            if self.exact and self._parts is not None:
                # one [V] vector at a time: no batch-wide [B, V] temporaries to fragment the heap
                return [_sparse(self._text_max_logits(ids).relu_().log1p_()) for ids in batch]
            maxima = self.max_logits(batch)
            return [_sparse(row) for row in maxima.relu_().log1p_().float().cpu()]

    def _autocast(self) -> Any:
        import torch

        if self.precision == "float32":
            return nullcontext()
        dtype = torch.bfloat16 if self.precision == "bfloat16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _pad(self, batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)``, ``[B, L]`` each: the texts padded on the right."""
        import torch

        lengths = [len(ids) for ids in batch]
        width = max(lengths)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, :len(ids)] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def max_logits(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        """``[B, V]``: per text, the max over its real tokens of the MLM logits (inference mode)."""
        import torch

        with torch.inference_mode(), self._autocast():
            if self.exact and self._parts is not None:
                return self._max_logits_exact(batch)
            input_ids, attention_mask = self._pad(batch)
            return self._max_logits_padded(input_ids, attention_mask, self.token_chunk)

    def _max_logits_exact(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        import torch

        return torch.stack([self._text_max_logits(ids) for ids in batch])

    def _text_max_logits(self, ids: Sequence[int]) -> torch.Tensor:
        """One text through the model alone, without padding: its vector is bit for bit the same
        whatever the batch (CPU kernels pick their blocking by shape, so even texts of equal length
        batched together can differ in the last bits)."""
        import torch

        input_ids = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
        if self._lean is not None:
            return self._lean.max_logits(input_ids)
        body, head = self._parts  # type: ignore[misc]
        tokens = body(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))[0][0]
        maxima = head(tokens[:self.token_chunk]).float().amax(dim=0)
        for start in range(self.token_chunk, tokens.shape[0], self.token_chunk):
            torch.maximum(maxima, head(tokens[start:start + self.token_chunk]).float().amax(dim=0), out=maxima)
        return maxima

    # -- the forward both modes share -------------------------------------------------------
    def _max_logits_padded(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                           token_chunk: int | None) -> torch.Tensor:
        """``[B, V]`` float32, per text the max of the logits over its real tokens, for a padded batch.

        The body runs on the padded batch; the output layer sees only the real tokens, texts one
        after another, whole texts of at most ``token_chunk`` tokens at a time (``None``: all of
        them at once, as training runs it). Architectures that cannot be split into body and head
        run whole, masked (:meth:`_max_logits_whole`).
        """
        import torch

        if self._parts is None:
            return self._max_logits_whole(input_ids, attention_mask, token_chunk)
        body, head = self._parts
        lengths = attention_mask.sum(dim=1).tolist()
        hidden = body(input_ids=input_ids, attention_mask=attention_mask)[0]
        real = hidden[attention_mask.bool()]  # [sum(lengths), H], texts one after another
        maxima = []
        row = offset = 0
        while row < len(lengths):
            end, tokens = row, 0
            while end < len(lengths) and (end == row or token_chunk is None or tokens + lengths[end] <= token_chunk):
                tokens += lengths[end]
                end += 1
            logits = head(real[offset:offset + tokens]).float()
            position = 0
            for length in lengths[row:end]:
                maxima.append(logits[position:position + length].amax(dim=0))
                position += length
            offset += tokens
            row = end
        return torch.stack(maxima)

    def _max_logits_whole(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                          token_chunk: int | None) -> torch.Tensor:
        """Fallback for architectures we cannot split: the whole model on groups of texts of at most
        ``token_chunk`` padded tokens (``None``: all at once), the padding masked out of the max."""
        import torch

        group = input_ids.shape[0] if token_chunk is None else max(1, token_chunk // input_ids.shape[1])
        parts = []
        for start in range(0, input_ids.shape[0], group):
            ids, mask = input_ids[start:start + group], attention_mask[start:start + group]
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            logits = logits.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)
            parts.append(logits.amax(dim=1))
        return torch.cat(parts)

    # -- trainable mode ---------------------------------------------------------------------
    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """``[B, V]`` SPLADE weights of ``texts`` with autograd, for training: one padded batch, the
        output layer on all its real tokens at once, float16 autocast on CUDA, and the max taken
        before ``log(1 + relu(.))``, the same function with the same gradient (both are
        non-decreasing) at a fraction of the memory of the literal formula on ``[B, L, V]`` logits.
        Dropout follows the model's train or eval mode."""
        import torch

        input_ids, attention_mask = self._pad(self.tokenize(texts))
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.device.type == "cuda"):
            maxima = self._max_logits_padded(input_ids, attention_mask, None)
        return torch.log1p(torch.relu(maxima))


def _sparse(weights: torch.Tensor) -> SparseVector:
    """The non-zero entries of a ``[V]`` weight vector."""
    import torch

    indices = torch.nonzero(weights, as_tuple=True)[0]
    return SparseVector(indices.cpu().numpy().astype(np.int32), weights[indices].float().cpu().numpy())


def torch_uint8() -> Any:
    import torch

    return torch.uint8


def vocabulary_fingerprint(vocabulary: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for token in vocabulary:
        digest.update(token.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
