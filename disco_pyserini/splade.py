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
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from .errors import UsageError
from .models import load_model

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Precision = Literal["auto", "float32", "bfloat16", "float16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")


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


class SpladeEncoder:
    """Encode texts into SPLADE vectors with a masked-LM checkpoint (hub id or local folder).

    ``batch_size`` texts go through the transformer at once; the output layer sees at most
    ``token_chunk`` tokens at once. ``threads`` sets torch's CPU threads. ``precision`` ``auto``
    is float32 on CPU and bfloat16 autocast on CUDA.
    """

    def __init__(self, model: str, *, max_length: int = 256, batch_size: int = 32,
                 device: str | None = None, threads: int | None = None, precision: str = "auto",
                 token_chunk: int | None = None, exact: bool | None = None,
                 option: str = "--model") -> None:
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
        self.tokenizer, self.model = load_model(model, option=option)
        self.model.to(self.device)
        self.model.requires_grad_(False)
        self.tokenizer.truncation_side = "right"
        if precision == "auto":
            precision = "bfloat16" if self.device.type == "cuda" else "float32"
        self.precision = precision
        self.token_chunk = token_chunk or (16384 if self.device.type == "cuda" else 512)
        # On CPU every text is computed alone (see _max_logits_exact): results do not depend on
        # batch size, batch neighbours or sharding, and cost no padding. GPUs need padded batches.
        self.exact = self.device.type == "cpu" if exact is None else exact
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

        maxima = self.max_logits(batch)
        weights = torch.log1p(torch.relu(maxima)).float().cpu()
        vectors = []
        for row in weights:
            indices = torch.nonzero(row, as_tuple=True)[0]
            vectors.append(SparseVector(indices.numpy().astype(np.int32), row[indices].numpy()))
        return vectors

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
        """Each text through the model alone, without padding: every vector is bit for bit the one
        of the text encoded alone, whatever the batch (CPU kernels pick their blocking by shape, so
        even texts of equal length batched together can differ in the last bits)."""
        import torch

        body, head = self._parts  # type: ignore[misc]
        maxima = torch.empty((len(batch), len(self.vocabulary)), dtype=torch.float32, device=self.device)
        for row, ids in enumerate(batch):
            input_ids = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
            tokens = body(input_ids=input_ids, attention_mask=torch.ones_like(input_ids))[0][0]
            maxima[row] = head(tokens[:self.token_chunk]).float().amax(dim=0)
            for start in range(self.token_chunk, tokens.shape[0], self.token_chunk):
                torch.maximum(maxima[row], head(tokens[start:start + self.token_chunk]).float().amax(dim=0),
                              out=maxima[row])
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
        """What an artifact records about the encoder that made it."""
        return {
            "model": self.model_name,
            "max_length": self.max_length,
            "vocabulary_size": len(self.vocabulary),
            "vocabulary_sha256": self.vocabulary_fingerprint,
            "precision": self.precision,
        }


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
