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
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .errors import UsageError
from .models import load_model
from .spec import PRECISIONS

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)



class SparseVector(NamedTuple):
    """Vocabulary ids (ascending) and their float weights, all > 0."""

    indices: np.ndarray
    weights: np.ndarray


def splade_pool(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The SPLADE formula, literally: ``max_t log(1 + relu(logits)) * mask``; ``[B, L, V] -> [B, V]``.

    This is the reference that :class:`SpladeEncoder` computes more cheaply; it is used where the
    full logits already exist (training) and in tests.
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
    """Encode texts into SPLADE vectors with a masked-LM checkpoint (hub id or local folder).

    ``batch_size`` texts go through the transformer at once; the output layer sees at most
    ``token_chunk`` tokens at once. ``threads`` sets torch's CPU threads. ``precision`` ``auto``
    is float32 on CPU and bfloat16 autocast on CUDA. ``loaded`` is an already loaded
    ``(tokenizer, model)`` to encode with instead of loading ``model`` (then only its name): a
    student in training, put in eval mode by the caller; its parameters keep their gradients.
    """

    def __init__(self, model: str, *, max_length: int = 256, batch_size: int = 32,
                 device: str | None = None, threads: int | None = None, precision: str = "auto",
                 token_chunk: int | None = None, exact: bool | None = None,
                 option: str = "--model", loaded: tuple[Any, Any] | None = None) -> None:
        import torch

        if max_length < 2:
            raise UsageError(f"--max-length must be at least 2 (got {max_length})")
        if batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1 (got {batch_size})")
        if precision not in PRECISIONS:
            raise UsageError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        if threads is not None:
            if threads < 1:
                raise UsageError(f"--threads must be at least 1 (got {threads})")
            torch.set_num_threads(threads)
        self.model_name = model
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        # On CPU every text is computed alone (see _max_logits_exact): results do not depend on
        # batch size, batch neighbours or sharding, and cost no padding. GPUs need padded batches.
        self.exact = self.device.type == "cpu" if exact is None else exact
        if precision == "auto":
            precision = "bfloat16" if self.device.type == "cuda" else "float32"
        if self.exact and precision != "float32":
            raise UsageError(f"--precision {precision}: on {self.device.type} every text is encoded alone in float32 "
                             f"(exact and batch-independent); use --precision float32 or auto, or a CUDA device")
        self.precision = precision
        self.tokenizer, self.model = loaded if loaded is not None else load_model(model, option=option)
        self.model.to(self.device)
        if loaded is None:
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
            raise UsageError(f"{option} {model}: the output layer has {output_size} entries but the "
                             f"tokenizer {len(self.vocabulary)}; SPLADE needs them to match")
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._lean = None
        if self.exact and self.precision == "float32" and self.max_length <= self.token_chunk:
            probes = self.tokenize(["a", "SPLADE weights are the max over tokens of log(1 + relu(logits))."])
            self._lean = _LeanBert.build(self.model, self.max_length, probes)

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

    # -- tokenization -----------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text with special tokens, truncated on the right to ``max_length``."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=True,
                                 max_length=self.max_length, padding=False,
                                 return_attention_mask=False, return_token_type_ids=False)
        return [list(ids) for ids in encoded["input_ids"]]

    # -- encoding ---------------------------------------------------------------------------
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
        """``[B, V]``: per text, the max over its real tokens of the MLM logits."""
        import torch

        with torch.inference_mode(), self._autocast():
            if self._parts is None:
                input_ids, attention_mask = self._pad(batch)
                return self._max_logits_whole(input_ids, attention_mask)
            if self.exact:
                return self._max_logits_exact(batch)
            return self._max_logits_padded(batch)

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

    def _max_logits_padded(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        """Padded batches (for GPUs); the head sees only real tokens, ``token_chunk`` at a time."""
        import torch

        body, head = self._parts  # type: ignore[misc]
        input_ids, attention_mask = self._pad(batch)
        lengths = [len(ids) for ids in batch]
        hidden = body(input_ids=input_ids, attention_mask=attention_mask)[0]
        real = hidden[attention_mask.bool()]  # [sum(lengths), H], texts one after another
        maxima = torch.empty((len(batch), len(self.vocabulary)), dtype=torch.float32, device=self.device)
        row = offset = 0
        while row < len(batch):
            end, tokens = row, 0
            while end < len(batch) and (end == row or tokens + lengths[end] <= self.token_chunk):
                tokens += lengths[end]
                end += 1
            logits = head(real[offset:offset + tokens]).float()
            position = 0
            for text in range(row, end):
                maxima[text] = logits[position:position + lengths[text]].amax(dim=0)
                position += lengths[text]
            offset += tokens
            row = end
        return maxima

    def _max_logits_whole(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Fallback for architectures we cannot split: the whole model on small groups of texts."""
        import torch

        group = max(1, self.token_chunk // input_ids.shape[1])
        parts = []
        for start in range(0, input_ids.shape[0], group):
            ids, mask = input_ids[start:start + group], attention_mask[start:start + group]
            logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            logits.masked_fill_(~mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)
            parts.append(logits.amax(dim=1))
        return torch.cat(parts)

    def describe(self) -> dict[str, Any]:
        """What an artifact records about the encoder that made it (the model by name and by the
        digest of its weights, so that a model folder trained again is a different model)."""
        return {
            "model": self.model_name,
            "model_sha256": self.model_sha256,
            "max_length": self.max_length,
            "vocabulary_size": len(self.vocabulary),
            "vocabulary_sha256": self.vocabulary_fingerprint,
            "precision": self.precision,
        }


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
