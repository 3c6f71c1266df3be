"""DiSCo distillation: train a conversational query encoder from rewrite teachers.

The student encodes the flattened conversation; the teacher is SPLADE run on a good rewrite of
the same turn, given as one or more TREC runs (several runs are fused by summing their scores, as
the multi-teacher DiSCo models do). Documents stay frozen: their vectors are read from the
collection folder. What a run trains on (turns, sampling as the reference code does, the
validation split) is :mod:`disco_pyserini.distill.data`; the objectives are
:mod:`disco_pyserini.distill.losses`; the student's forward is :meth:`SpladeEncoder.forward`, the same
SPLADE forward that encodes queries. This module is the loop: AdamW with linear warm-up, float16
on CUDA, checkpoints, and early stopping.

Every ``eval_every`` steps early stopping measures what the test measures: the validation turns
are encoded with the current student as ``search --backend torch`` encodes queries, searched in the Lucene index
(top 1000) and scored by MRR (pytrec_eval's recip_rank, as ``evaluate``); training stops when it
has not improved for ``patience`` evaluations. The best student is saved as a normal HuggingFace
model folder with ``disco_distill.json`` describing how it was made.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from typing import Any

from ..encode.collection import Collection
from ..encode.spec import EncoderSpec
from ..encode.splade import SpladeEncoder
from ..errors import SettingError, UsageError
from ..io.jsonl import write_json
from ..io.metadata import artifact_header, file_sha256
from ..io.runs import Qrels
from ..io.topics import Topic, conversation_id
from .data import (
    DistillConfig,
    DocumentMatrix,
    Example,
    Validation,
    teacher_score_scale,
    training_documents,
    training_turns,
)
from .losses import RankingDistillation, RewriteRegression

logger = logging.getLogger(__name__)

__all__ = ["DistillConfig", "EarlyStopping", "distill", "validation_mrr"]

METADATA = "disco_distill.json"
VALIDATION_HITS = 1000  # `search`'s default --hits: MRR over the whole run, as the test measures it


def distill(topics: Sequence[Topic], teacher_runs: Sequence[str], collection: str, init_model: str, output: str, *,
            qrels: Qrels | None = None, teacher_model: str | None = None, config: DistillConfig | None = None,
            validation: Sequence[Topic] | None = None, index: str | Sequence[str] | None = None,
            heap: str | None = None, device: str | None = None, threads: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Train a student query encoder; returns the metadata written beside the saved model.

    ``config`` defaults to ``DistillConfig()``. ``validation`` gives the held-apart turns explicitly;
    otherwise ``config.validation_fraction`` of the conversations of ``topics`` are held apart.
    Validation searches ``index``, the Lucene index of ``collection`` (required when there are
    validation turns).
    """
    import torch
    from tqdm import tqdm

    config = config or DistillConfig()
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    train, skipped, valid = training_turns(topics, teacher_runs, qrels, config, validation)
    if valid is not None and not index:
        raise UsageError("--index: validation searches the Lucene index of --collection, as `search` does; give it "
                         "(or train without validation: --validation-fraction 0)")
    vectors, doc_scale = training_documents(Collection(collection), train)
    teacher_scale = config.teacher_score_scale or teacher_score_scale(teacher_runs, doc_scale)
    searcher = _open_index(index, collection, heap) if valid is not None else None
    query_spec = EncoderSpec(init_model, side="query", max_length=config.max_length, device=device)
    student = SpladeEncoder(query_spec, trainable=True, option="--init-model")
    documents = DocumentMatrix(vectors, student.tokenizer.get_vocab(), doc_scale, student.device)
    stopping = None if valid is None else EarlyStopping(student, searcher, valid, config, doc_scale, threads or 1,
                                                        output)
    objective = (RankingDistillation(config, documents, teacher_scale, student.device) if config.loss == "kldiv" else
                 RewriteRegression(_teacher_encoder(query_spec, teacher_model or init_model)))
    total_steps = config.max_steps or math.ceil(len(train) / config.batch_size) * config.epochs
    optimiser = _Optimiser(student.model, config, total_steps, student.device)
    bar = tqdm(total=total_steps, desc="distilling", unit="step", disable=not progress)
    student.model.train()
    step = 0
    for step, batch in enumerate(_batches(train, config, total_steps), start=1):
        queries = student.forward([e.topic.query_text(config.mode) for e in batch])
        loss, parts = optimiser.step(objective(batch, queries))
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", **{k: f"{v:.3f}" for k, v in parts.items()})
        if config.checkpoint_every and step % config.checkpoint_every == 0:
            _save(student, os.path.join(output, f"checkpoint-{step}"))
        if stopping is not None and stopping.after_step(step, total_steps, loss, parts):
            break
    bar.close()
    if stopping is None:
        _save(student, output)
    else:
        searcher.close()
    metadata = _describe(init_model, teacher_runs, teacher_model, collection, train, skipped, qrels is not None,
                         config, step, stopping)
    write_json(os.path.join(output, METADATA), metadata)
    return metadata


def _batches(examples: Sequence[Example], config: DistillConfig, total_steps: int) -> Iterator[list[Example]]:
    """Batches of ``config.batch_size`` turns, each epoch in a new seeded order, ``total_steps`` in all."""
    order_random = random.Random(config.seed + 1)
    step = 0
    while True:
        order = list(range(len(examples)))
        order_random.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            yield [examples[i] for i in order[start:start + config.batch_size]]
            step += 1
            if step >= total_steps:
                return


class _Optimiser:
    """AdamW with a linear warm-up then a linear decay to 0, gradients clipped at norm 1, float16
    loss scaling on CUDA."""

    def __init__(self, model: Any, config: DistillConfig, total_steps: int, device: Any) -> None:
        import torch

        self.model = model
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        warmup = max(1, int(total_steps * config.warmup_ratio))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: min(
            (step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))))
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda")

    def step(self, terms: Sequence[dict[str, Any]]) -> tuple[float, dict[str, float]]:
        """One step on the sum of the terms' losses; returns the loss and every named part."""
        import torch

        loss = sum(term["loss"] for term in terms)
        parts = {name: float(value.detach()) for term in terms for name, value in term.items() if name != "loss"}
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach()), parts


class EarlyStopping:
    """Early stopping on the validation turns: every ``eval_every`` steps and at the last one, the
    student's validation MRR (:func:`validation_mrr`) is measured and kept in ``history``; a new
    best student is saved into ``output``; training stops once ``patience`` evaluations in a row
    have not improved on the best. The MRR before training is measured on creation."""

    def __init__(self, student: SpladeEncoder, searcher: Any, validation: Validation, config: DistillConfig,
                 scale: float, threads: int, output: str) -> None:
        self.student, self.searcher, self.validation = student, searcher, validation
        self.config, self.scale, self.threads, self.output = config, scale, threads, output
        self.history: list[dict[str, Any]] = []
        self.without_gain = 0
        self.initial_mrr = self.measure()
        logger.info("validation MRR before training: %.4f (%d turns, against %s)", self.initial_mrr,
                    len(validation.topics), validation.target)
        # the initial model is the baseline to beat: step 0, saved, replaced only by a better validation
        self.best_mrr, self.best_step = self.initial_mrr, 0
        _save(self.student, self.output)

    def measure(self) -> float:
        return validation_mrr(self.student, self.searcher, self.validation, config=self.config, scale=self.scale,
                              threads=self.threads)

    def after_step(self, step: int, total_steps: int, loss: float, parts: dict[str, float]) -> bool:
        """Evaluate when due; True when training should stop."""
        if step % self.config.eval_every and step != total_steps:
            return False
        mrr = self.measure()
        self.history.append({"step": step, "loss": loss, "validation_mrr": mrr, **parts})
        logger.info("step %d: loss %.4f, validation MRR %.4f", step, loss, mrr)
        if mrr > self.best_mrr:
            self.best_mrr, self.best_step, self.without_gain = mrr, step, 0
            _save(self.student, self.output)
            return False
        self.without_gain += 1
        if self.exhausted:
            logger.info("validation MRR has not improved for %d evaluations: stopping at step %d",
                        self.config.patience, step)
        return self.exhausted

    @property
    def exhausted(self) -> bool:
        return self.without_gain >= self.config.patience


def validation_mrr(student: SpladeEncoder, searcher: Any, validation: Validation, *, config: DistillConfig,
                   scale: float, threads: int = 1) -> float:
    """MRR of the validation turns as ``search`` and ``evaluate`` would give it for the student now.

    The turns are encoded as ``search --backend torch`` encodes queries (SPLADE vectors of ``config.mode`` in
    inference mode, at most ``config.max_length`` tokens, quantized to integer impacts at the
    collection's ``scale``), searched in the index (top 1000) and scored with pytrec_eval's
    recip_rank.
    """
    from ..eval.evaluate import evaluate_run
    from ..io.runs import run_from_results
    from ..search.queries import QueryEncoding
    from ..search.searcher import search_topics

    model = student.model
    training = model.training
    model.eval()
    try:
        encoder = SpladeEncoder(replace(student.spec, scale=scale), loaded=(student.tokenizer, model))
        results = search_topics(searcher, validation.topics, QueryEncoding(encoder), mode=config.mode,
                                hits=VALIDATION_HITS, threads=threads)
    finally:
        model.train(training)
    scored = evaluate_run(validation.qrels, run_from_results(dict(results)), ["recip_rank"],
                          rel_threshold=validation.rel_threshold)
    return float(scored["mean"]["recip_rank"])


def _teacher_encoder(student: EncoderSpec, model: str) -> SpladeEncoder:
    """The teacher model of ``--loss mse``, read as the student reads text; a wrong model is named as
    ``teacher_model`` (the student's own is ``model``)."""
    try:
        return SpladeEncoder(replace(student, model=model), option="--teacher-model")
    except SettingError as error:
        raise SettingError("teacher_model", error.problem) from None


def _open_index(index: str | Sequence[str], collection: str, heap: str | None) -> Any:
    """The searcher of the index built from ``collection``; another collection's index is refused."""
    from ..search.searcher import open_searcher

    searcher = open_searcher(index, heap=heap)
    made = searcher.metadata
    expected = file_sha256(Collection(collection).metadata_path)
    if made is None:
        logger.info("%s has no disco_index.json: cannot check that it was built from %s", searcher.index, collection)
    elif made.get("collection_metadata_sha256", expected) != expected:
        raise UsageError(f"--index {searcher.index} was built from {made.get('collection')}, not from --collection "
                         f"{collection}: validation must search the documents the teacher runs ranked")
    return searcher


def _describe(init_model: str, teacher_runs: Sequence[str], teacher_model: str | None, collection: str,
              train: Sequence[Example], skipped: dict[str, int], judged: bool, config: DistillConfig, steps: int,
              stopping: EarlyStopping | None) -> dict[str, Any]:
    """``disco_distill.json``: how the saved student was made."""
    valid = None if stopping is None else stopping.validation
    return {
        **artifact_header("distilled-query-encoder"),
        "init_model": init_model,
        "teacher_runs": [{"path": os.path.abspath(p), "sha256": file_sha256(p)} for p in teacher_runs],
        "teacher_fusion": "sum of scores" if len(teacher_runs) > 1 else None,
        "teacher_model": teacher_model if config.loss == "mse" else None,
        "collection": os.path.abspath(collection),
        "index": None if stopping is None else stopping.searcher.index,
        "training_turns": len(train),
        "skipped_training_turns": {reason: count for reason, count in skipped.items() if count},
        "validation_turns": 0 if valid is None else len(valid.topics),
        "validation_conversations": [] if valid is None else sorted({conversation_id(t.query_id)
                                                                     for t in valid.topics}),
        "validation_target": None if valid is None else valid.target,
        "validation_rel_threshold": None if valid is None else valid.rel_threshold,
        "qrels": judged,
        "objective": config.loss,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "steps": steps,
        "best_step": steps if stopping is None else stopping.best_step,
        "best_validation_mrr": None if stopping is None else stopping.best_mrr,
        "initial_validation_mrr": None if stopping is None else stopping.initial_mrr,
        "stopped_early": stopping is not None and stopping.exhausted,
        "history": [] if stopping is None else stopping.history,
    }


def _save(student: SpladeEncoder, folder: str) -> None:
    """Save the model and tokenizer into ``folder`` atomically: written into a folder beside it, then renamed,
    so a killed save never leaves a half-written model; checkpoints and other files already there are kept."""
    folder = os.path.abspath(folder)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}.saving-", dir=os.path.dirname(folder))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        student.model.save_pretrained(staging)
        student.tokenizer.save_pretrained(staging)
        if os.path.isdir(folder):  # keep what the save does not write: checkpoints, disco_distill.json
            for name in os.listdir(folder):
                if not os.path.exists(os.path.join(staging, name)):
                    os.rename(os.path.join(folder, name), os.path.join(staging, name))
            old = f"{staging}.old"
            os.rename(folder, old)
            os.rename(staging, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
