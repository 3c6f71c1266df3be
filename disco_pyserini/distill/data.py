"""What a distillation trains on: its settings, training turns, sampling, validation split and
targets, the teacher's score scale and the frozen document vectors.

Per training turn, as the reference code does (SimonLupart/disco-conv-splade:
``L2I_Dataset.__getitem__`` in ``splade/hf/datasets.py``):

* the teacher's candidates are its ranks ``negative_ranks``, 11-960 by default (the reference's
  ``TOPK_mi: 10, TOPK_ma: 950``);
* the positive is drawn uniformly from every judged document of relevance >= 1; a turn without
  one (every turn, without qrels) takes the teacher's top document instead: our extension, the
  reference trains on judged turns only;
* 16 negatives are drawn from the candidates that are not positives: without replacement, or
  with replacement when there are 16 or fewer;
* a negative's teacher score is its score; the positive's is its score among the candidates,
  else the best candidate score (the reference's rule for a positive the teacher ranked above
  the candidates, below them or not at all).

Conversations, never turns, are held apart for validation; the validation turns are measured
against the qrels with the ``disco`` protocol's relevance threshold, or against the teacher's top
document without qrels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..encode.collection import Collection
from ..errors import InputError, SettingError, UsageError
from ..eval.fusion import fuse_runs
from ..io.runs import Qrels, Run, metadata_path, read_run
from ..io.runs import ranked as ranked_hits
from ..io.topics import Topic, conversation_id

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistillConfig:
    loss: Literal["kldiv", "mse"] = "kldiv"
    negatives: int = 16
    negative_ranks: tuple[int, int] = (11, 960)
    batch_size: int = 8
    epochs: int = 3
    max_steps: int | None = None
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    kl_weight: float = 0.99
    ce_weight: float = 0.01
    max_length: int = 256
    validation_fraction: float = 0.1
    eval_every: int = 50
    patience: int = 4
    checkpoint_every: int = 0
    seed: int = 13
    mode: str = "disco"
    teacher_score_scale: float | None = None

    def __post_init__(self) -> None:
        if self.loss not in ("kldiv", "mse"):
            raise UsageError(f"--loss {self.loss!r}: choose kldiv or mse")
        low, high = self.negative_ranks
        if self.negatives < 1 or not 1 <= low <= high:
            raise UsageError("need at least one negative and 1 <= first rank <= last rank")
        for name in ("batch_size", "epochs", "max_length", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
        if self.checkpoint_every < 0:
            raise UsageError(f"--checkpoint-every must be 0 (never) or a number of steps (got {self.checkpoint_every})")
        if not 0 <= self.validation_fraction < 1:
            raise UsageError("--validation-fraction must be in [0, 1)")
        if not self.learning_rate > 0:
            raise UsageError("--learning-rate must be positive")
        if self.max_steps is not None and self.max_steps < 1:
            raise SettingError("max_steps", f"must be at least 1, or left out to train --epochs (got {self.max_steps})")
        if not 0 <= self.warmup_ratio <= 1:
            raise SettingError("warmup_ratio", f"must be in [0, 1] (got {self.warmup_ratio})")
        for name in ("weight_decay", "kl_weight", "ce_weight"):
            if not getattr(self, name) >= 0:
                raise SettingError(name, f"must be 0 or more (got {getattr(self, name)})")
        if self.teacher_score_scale is not None and not self.teacher_score_scale > 0:
            raise SettingError("teacher_score_scale", f"must be positive, or left out to be read from the runs "
                                                      f"(got {self.teacher_score_scale})")


def split_conversations(topics: Sequence[Topic], fraction: float, seed: int) -> tuple[list[Topic], list[Topic]]:
    """(training, validation) topics; whole conversations go to one side, chosen by a seeded hash."""
    if fraction == 0:
        return list(topics), []
    conversations = sorted({conversation_id(t.query_id) for t in topics},
                           key=lambda c: hashlib.sha256(f"{seed}:{c}".encode()).hexdigest())
    held = set(conversations[: max(1, round(len(conversations) * fraction))])
    if len(held) == len(conversations):
        raise UsageError("the validation split would hold every conversation; lower --validation-fraction")
    return ([t for t in topics if conversation_id(t.query_id) not in held],
            [t for t in topics if conversation_id(t.query_id) in held])


def training_turns(topics: Sequence[Topic], teacher_runs: Sequence[str], qrels: Qrels | None,
                   config: DistillConfig, validation: Sequence[Topic] | None = None,
                   ) -> tuple[list[Example], dict[str, int], Validation | None]:
    """The training examples, the turns left out by reason, and the validation turns with their
    targets (``None`` without any). The teacher is the run, or the runs fused by summing their
    scores; ``validation`` gives the held-apart turns, else ``config.validation_fraction`` of the
    conversations of ``topics`` are held apart."""
    if not teacher_runs:
        raise UsageError("--teacher-run: give at least one teacher run")
    runs = [read_run(path) for path in teacher_runs]
    teacher = fuse_runs(runs) if len(runs) > 1 else runs[0]
    if validation is not None:
        held = {conversation_id(t.query_id) for t in validation}
        overlap = sorted(held & {conversation_id(t.query_id) for t in topics})
        if overlap:
            raise UsageError(f"validation conversations are also in the training topics ({overlap[0]}...)")
        train_topics, valid_topics = list(topics), list(validation)
    else:
        train_topics, valid_topics = split_conversations(topics, config.validation_fraction, config.seed)
    examples, skipped = build_examples(train_topics, teacher, qrels, config)
    return examples, skipped, validation_targets(valid_topics, teacher, qrels)


# -- what one training turn offers, and how it is drawn ------------------------------------------
@dataclass(frozen=True)
class Example:
    """One training turn, as the reference's ``L2I_Dataset`` holds it.

    ``candidates`` are the teacher's ranks ``negative_ranks``, best first, with the teacher's scores
    (the reference's ``samples[query]``); ``positives`` the judged documents of relevance >= 1, in
    the qrels' order; ``top`` the teacher's first document, the positive of a turn without any.
    """

    topic: Topic
    candidates: dict[str, float]
    top: str
    positives: tuple[str, ...] = ()

    @property
    def negative_pool(self) -> list[str]:
        """The candidates that are not positives, best first."""
        excluded = set(self.positives or (self.top,))
        return [d for d in self.candidates if d not in excluded]


def build_examples(topics: Sequence[Topic], teacher: Run, qrels: Qrels | None,
                   config: DistillConfig) -> tuple[list[Example], dict[str, int]]:
    """The training examples, and the turns left out counted by reason (they are logged too)."""
    low, high = config.negative_ranks
    examples: list[Example] = []
    skipped = {"no teacher run entry": 0, f"no negative candidate in the teacher's ranks {low}-{high}": 0}
    for topic in topics:
        scores = teacher.get(topic.query_id)
        if not scores:
            skipped["no teacher run entry"] += 1
            continue
        ranked = [hit.doc_id for hit in ranked_hits(scores)]
        judged = (qrels or {}).get(topic.query_id, {})
        positives = tuple(d for d, relevance in judged.items() if relevance >= 1)
        example = Example(topic, {d: scores[d] for d in ranked[low - 1:high]}, ranked[0], positives)
        if not example.negative_pool:
            skipped[f"no negative candidate in the teacher's ranks {low}-{high}"] += 1
            continue
        examples.append(example)
    for reason, count in skipped.items():
        if count:
            logger.warning("%d of %d training turns are left out: %s", count, len(topics), reason)
    if not examples:
        raise UsageError(f"no training turn is usable ({', '.join(f'{n} with {r}' for r, n in skipped.items())}): "
                         f"are the runs and topics of the same query ids, and do the runs reach rank {low} "
                         f"(search the teacher with more --hits or lower --negative-ranks)?")
    return examples, skipped


class Sampler:
    """Draws a turn's positive and negatives as ``L2I_Dataset.__getitem__`` does, in the same order
    (negatives, then the positive), from a seeded generator of its own."""

    def __init__(self, config: DistillConfig, seed: int) -> None:
        self.negatives = config.negatives
        self.random = random.Random(seed)

    def candidates(self, example: Example) -> tuple[str, list[str]]:
        pool = example.negative_pool
        if not pool:  # build_examples leaves such turns out
            raise UsageError(f"turn {example.topic.query_id}: the teacher run has no negative candidate")
        if len(pool) <= self.negatives:
            negatives = self.random.choices(pool, k=self.negatives)
        else:
            negatives = self.random.sample(pool, self.negatives)
        positive = self.random.sample(example.positives, 1)[0] if example.positives else example.top
        return positive, negatives


def teacher_scores(example: Example, documents: Sequence[str], scale: float = 1.0) -> list[float]:
    """The teacher's scores of a turn's drawn documents (positive first), divided by ``scale``.

    A document's score among the candidates, else the best candidate score: the reference's rule
    for a positive that the teacher ranked above the candidates (ranks 1-10 by default), below
    them, or not at all.
    """
    best = max(example.candidates.values())
    return [example.candidates.get(d, best) / scale for d in documents]


# -- validation: what the test measures ----------------------------------------------------------
@dataclass(frozen=True)
class Validation:
    """The held-apart turns that early stopping measures, and their judgments: the qrels of the
    judged ones, or (without qrels) the teacher's top document of each, as relevance 1."""

    topics: tuple[Topic, ...]
    qrels: Qrels
    rel_threshold: int
    target: str


def validation_targets(topics: Sequence[Topic], teacher: Run, qrels: Qrels | None) -> Validation | None:
    """What the validation turns are measured against; the turns that cannot be are logged."""
    from ..eval.evaluate import PROTOCOLS

    if not topics:
        return None
    if qrels is not None:
        judged = {t.query_id: dict(qrels[t.query_id]) for t in topics if t.query_id in qrels}
        if judged:
            if len(judged) < len(topics):
                logger.warning("%d of %d validation turns have no judgment in the qrels and are not measured",
                               len(topics) - len(judged), len(topics))
            return Validation(tuple(t for t in topics if t.query_id in judged), judged,
                              PROTOCOLS["disco"].threshold(qrels), "qrels")
        logger.warning("no validation turn is judged in the qrels: validating against the teacher's top documents")
    tops = {}
    for topic in topics:
        scores = teacher.get(topic.query_id)
        if scores:
            tops[topic.query_id] = {ranked_hits(scores, 1)[0].doc_id: 1}
    if len(tops) < len(topics):
        logger.warning("%d of %d validation turns have neither a judgment nor a teacher run entry and are not "
                       "measured", len(topics) - len(tops), len(topics))
    if not tops:
        raise UsageError("no validation turn has a judgment or a teacher run entry to be measured against")
    return Validation(tuple(t for t in topics if t.query_id in tops), tops, 1, "the teacher's top document")


# -- the teacher's score scale ----------------------------------------------------------------------
def teacher_score_scale(paths: Sequence[str], doc_scale: float) -> float:
    """What brings the teacher runs' scores back to float dot products: they are dot products of
    integer impacts, so query scale x document scale (the query scale from a run's metadata,
    else the documents')."""
    from ..io.jsonl import read_json_object

    scales = []
    for path in paths:
        if os.path.exists(metadata_path(path)):
            encoder = read_json_object(metadata_path(path), "run metadata").get("encoder") or {}
            if "scale" in encoder:
                scales.append(float(encoder["scale"]))
    query_scale = scales[0] if scales else doc_scale
    if scales and len(set(scales)) > 1:
        raise UsageError("the teacher runs were searched at different scales; give --teacher-score-scale")
    return query_scale * doc_scale


# -- the frozen documents ----------------------------------------------------------------------
def training_documents(collection: Collection, examples: Sequence[Example]) -> tuple[dict[str, dict[str, int]], float]:
    """The vectors of every document the examples can draw (candidates and positives), in
    collection order, and the collection's scale."""
    wanted = {d for e in examples for d in e.candidates} | {d for e in examples for d in e.positives or (e.top,)}
    vectors = collection.vectors(wanted)
    missing = wanted - set(vectors)
    if missing:
        raise InputError(collection.folder, f"{len(missing)} documents of the teacher runs or qrels are not in the "
                         f"collection (e.g. {sorted(missing)[0]})", fix="use the collection the runs searched")
    return vectors, float(collection.metadata()["scale"])


class DocumentMatrix:
    """Document vectors as float weights (impact / scale) over the student's vocabulary, kept in
    compressed rows (CSR) and gathered into dense batches on ``device``."""

    def __init__(self, vectors: Mapping[str, Mapping[str, int]], vocabulary: Mapping[str, int], scale: float,
                 device: Any) -> None:
        import torch

        crow, columns, values = [0], [], []
        for row in vectors.values():
            for token, impact in row.items():
                if token not in vocabulary:
                    raise UsageError(f"collection token {token!r} is not in the student's vocabulary: the student "
                                     f"and the document model must share a vocabulary")
                columns.append(vocabulary[token])
                values.append(impact / scale)
            crow.append(len(columns))
        self.rows = {doc_id: row for row, doc_id in enumerate(vectors)}
        self.crow = torch.tensor(crow)
        self.columns = torch.tensor(columns, dtype=torch.long)
        self.values = torch.tensor(values, dtype=torch.float32)
        self.width = len(vocabulary)
        self.device = device

    def dense(self, doc_ids: Sequence[str]) -> Any:
        """``[len(doc_ids), width]``: the documents' vectors, dense."""
        import torch

        out = torch.zeros((len(doc_ids), self.width), dtype=torch.float32)
        for position, doc_id in enumerate(doc_ids):
            row = self.rows[doc_id]
            start, end = int(self.crow[row]), int(self.crow[row + 1])
            out[position, self.columns[start:end]] = self.values[start:end]
        return out.to(self.device)
