"""Distillation objectives: losses that return their named parts, and what a batch of turns feeds them.

A loss returns ``{"part": value, ..., "loss": value}``; the training loop adds the ``loss`` of each
and logs the parts. DiSCo's objective (``kldiv``, the reference's ``kldiv_contrastive_with_weights``
in ``splade/hf/trainers.py``, ``IRTrainer.compute_loss``) is::

    loss = 0.99 * KL(teacher softmax || student log-softmax) over a turn's positive and negatives
         + 0.01 * cross-entropy of the positive against every negative of the batch
         + 1/(sum q)^2 + 1/(sum d)^2 (the anti-zero term)

:class:`KLDistill` and :class:`AntiZero`, fed by :class:`RankingDistillation`. ``mse`` regresses the
student's vector onto the teacher model's vector of the rewrite (the representation-level objective
of ConvDR and LeCoRE): :class:`RepresentationMSE`, fed by :class:`RewriteRegression`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .data import DistillConfig, DocumentMatrix, Example, Sampler, teacher_scores

if TYPE_CHECKING:
    from ..encode.splade import SpladeEncoder


class KLDistill:
    """DiSCo's ranking distillation, the reference's ``kldiv_contrastive_with_weights`` (without the
    anti-zero term, :class:`AntiZero`).

    Args:
        queries: ``[B, V]`` the student's query vectors.
        documents: ``[B, 1 + N, V]`` each turn's positive, then its N negatives.
        teacher: ``[B, 1 + N]`` the teacher's scores of the same documents.

    Returns:
        ``{"kl", "ce", "loss"}``: ``kl`` is KL(softmax(teacher) || log_softmax(student scores)),
        summed over a turn's 1 + N documents and averaged over the turns; ``ce`` the cross-entropy
        of each turn's positive against every negative of the batch (B x N in-batch negatives);
        ``loss = kl_weight * kl + ce_weight * ce`` (0.99 and 0.01, as the reference's weights).

    References:
        SimonLupart/disco-conv-splade, ``splade/hf/trainers.py``, ``IRTrainer.compute_loss``.
    """

    def __init__(self, kl_weight: float = 0.99, ce_weight: float = 0.01) -> None:
        self.kl_weight = kl_weight
        self.ce_weight = ce_weight

    def __call__(self, queries: Any, documents: Any, teacher: Any) -> dict[str, Any]:
        import torch
        import torch.nn.functional as F

        scores = torch.einsum("bv,bnv->bn", queries, documents)
        kl = F.kl_div(torch.log_softmax(scores, dim=1), torch.softmax(teacher, dim=1),
                      reduction="none").sum(dim=1).mean()
        negatives = documents[:, 1:, :].reshape(-1, documents.shape[-1])
        in_batch = torch.cat([scores[:, :1], queries @ negatives.T], dim=1)
        ce = F.cross_entropy(in_batch, torch.zeros(len(queries), dtype=torch.long, device=queries.device))
        return {"kl": kl, "ce": ce, "loss": self.kl_weight * kl + self.ce_weight * ce}


class AntiZero:
    """``1 / (sum of the batch's query weights)^2 + 1 / (sum of its document weights)^2``: it grows as
    the vectors shrink towards zero, so the student cannot collapse to empty vectors.

    The reference adds it beside a FLOPS term on the documents and an L1 term on the queries, whose
    weights (``regularizer.FLOPS.lambda_d``, ``regularizer.L1.lambda_q``) are 0 in the DiSCo
    configurations (``conf/disco_topiocqa_mistral_llama.yaml``), so they are left out here.

    Returns:
        ``{"anti_zero", "loss"}``, the same value.
    """

    def __call__(self, queries: Any, documents: Any) -> dict[str, Any]:
        value = 1 / queries.sum() ** 2 + 1 / documents.sum() ** 2
        return {"anti_zero": value, "loss": value}


class RepresentationMSE:
    """The representation-level objective of ConvDR and LeCoRE: the squared distance between the
    student's vector of the conversation and the teacher model's vector of the rewrite, summed over
    the vocabulary and averaged over the turns.

    Returns:
        ``{"mse", "loss"}``, the same value.
    """

    def __call__(self, queries: Any, target: Any) -> dict[str, Any]:
        value = ((queries - target) ** 2).sum(dim=1).mean()
        return {"mse": value, "loss": value}


# -- what a batch of turns feeds them ------------------------------------------------------------
class RankingDistillation:
    """DiSCo's objective for a batch of turns: each turn's positive and negatives drawn
    (:class:`~disco_pyserini.distill.data.Sampler`), their frozen vectors, the teacher's scores of
    them (divided by ``teacher_scale``), then :class:`KLDistill` and :class:`AntiZero`."""

    def __init__(self, config: DistillConfig, documents: DocumentMatrix, teacher_scale: float, device: Any) -> None:
        self.sampler = Sampler(config, config.seed)
        self.negatives = config.negatives
        self.documents = documents
        self.teacher_scale = teacher_scale
        self.device = device
        self.ranking = KLDistill(config.kl_weight, config.ce_weight)
        self.anti_zero = AntiZero()

    def __call__(self, batch: Sequence[Example], queries: Any) -> list[dict[str, Any]]:
        import torch

        drawn = [self.sampler.candidates(e) for e in batch]
        ids = [[positive] + negatives for positive, negatives in drawn]
        docs = self.documents.dense([d for row in ids for d in row]).view(len(batch), 1 + self.negatives, -1)
        target = torch.tensor([teacher_scores(e, row, self.teacher_scale) for e, row in zip(batch, ids)],
                              device=self.device)
        return [self.ranking(queries, docs, target), self.anti_zero(queries, docs)]


class RewriteRegression:
    """The representation-level objective for a batch of turns: the frozen ``teacher`` encodes each
    turn's rewrite (as the student's trainable forward does, without gradients), then
    :class:`RepresentationMSE`."""

    def __init__(self, teacher: SpladeEncoder) -> None:
        self.teacher = teacher
        self.regression = RepresentationMSE()

    def __call__(self, batch: Sequence[Example], queries: Any) -> list[dict[str, Any]]:
        import torch

        with torch.no_grad():
            target = self.teacher.forward([e.topic.query_text("rewrite") for e in batch])
        return [self.regression(queries, target)]
