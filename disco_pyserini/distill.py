"""DiSCo distillation: train a conversational query encoder from rewrite teachers.

The student encodes the flattened conversation; the teacher is SPLADE run on a good rewrite of
the same turn, given as one or more TREC runs (several runs are fused by summing their scores, as
the multi-teacher DiSCo models do). Documents stay frozen: their vectors are read from the
collection folder. Per training turn, as in the reference code (SimonLupart/disco-conv-splade):

* one positive: the best judged document from the qrels when given, else the teacher's top one;
* 16 negatives sampled from the teacher's ranks 11-960;
* loss = 0.99 * KL(teacher softmax || student log-softmax) over those 17 candidates
         + 0.01 * cross-entropy of the positive against every negative in the batch
         + 1/(sum q)^2 + 1/(sum d)^2 (the anti-zero term).

``loss="mse"`` instead regresses the student's vector onto the teacher model's vector of the
rewrite (the representation-level objective of ConvDR and LeCoRE), for comparison.

Conversations, never turns, are held apart for validation; every ``eval_every`` steps the
student ranks every loaded document for the validation turns and training stops early when
their MRR has not improved for ``patience`` evaluations. The best student is saved as a normal
HuggingFace model folder with ``disco_distill.json`` describing how it was made.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from .collection import VECTORS, read_collection_metadata
from .errors import InputError, UsageError
from .jsonl import read_jsonl, write_json
from .metadata import artifact_header, file_sha256
from .runs import Qrels, Run, read_run
from .topics import Topic, conversation_id

logger = logging.getLogger(__name__)

METADATA = "disco_distill.json"


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
        if not 0 <= self.validation_fraction < 1:
            raise UsageError("--validation-fraction must be in [0, 1)")
        if not self.learning_rate > 0:
            raise UsageError("--learning-rate must be positive")


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


def fuse_runs(runs: Sequence[Run], depth: int | None = None) -> Run:
    """Sum of the runs' scores per (query, document); a document absent from a run adds that run's
    lowest score for the query (it ranked below everything the run kept)."""
    fused: Run = {}
    for run in runs:
        for qid in run:
            fused.setdefault(qid, {})
    for qid, hits in fused.items():
        documents = set().union(*(run.get(qid, {}) for run in runs))
        for run in runs:
            scores = run.get(qid, {})
            floor = min(scores.values()) if scores else 0.0
            for doc in documents:
                hits[doc] = hits.get(doc, 0.0) + scores.get(doc, floor)
        if depth is not None:
            kept = sorted(hits.items(), key=lambda item: (-item[1], item[0]))[:depth]
            fused[qid] = dict(kept)
    return fused


def read_document_vectors(collection: str, wanted: set[str]) -> tuple[dict[str, int], list[dict[str, int]], float]:
    """``(doc id -> row, rows of {token: impact}, scale)`` for the wanted documents of a collection."""
    metadata = read_collection_metadata(collection)
    rows: list[dict[str, int]] = []
    index: dict[str, int] = {}
    folder = os.path.join(collection, VECTORS)
    for name in sorted(os.listdir(folder)):
        for _, record in read_jsonl(os.path.join(folder, name)):
            if record["id"] in wanted and record["id"] not in index:
                index[record["id"]] = len(rows)
                rows.append(record["vector"])
    missing = wanted - set(index)
    if missing:
        raise InputError(collection, f"{len(missing)} documents of the teacher runs or qrels are not in the "
                         f"collection (e.g. {sorted(missing)[0]})", fix="use the collection the runs searched")
    return index, rows, float(metadata["scale"])


@dataclass
class Example:
    topic: Topic
    candidates: list[str]  # ranked teacher candidates (doc ids), best first
    teacher: dict[str, float]  # teacher score per candidate
    positives: list[str]  # judged positives (best relevance first), may be empty


def build_examples(topics: Sequence[Topic], teacher: Run, qrels: Qrels | None, config: DistillConfig) -> list[Example]:
    examples, skipped = [], 0
    for topic in topics:
        scores = teacher.get(topic.query_id)
        if not scores:
            skipped += 1
            continue
        ranked = sorted(scores, key=lambda d: (-scores[d], d))
        judged = (qrels or {}).get(topic.query_id, {})
        best = max((r for r in judged.values() if r > 0), default=0)
        positives = sorted(d for d, r in judged.items() if r == best and r > 0)
        examples.append(Example(topic, ranked, dict(scores), positives))
    if skipped:
        logger.warning("%d training turns have no teacher run entry and are left out", skipped)
    if not examples:
        raise UsageError("no training turn has a teacher run: are the runs and topics of the same query ids?")
    return examples


class Sampler:
    """Draws the positive and the negatives of an example (seeded, reproducible)."""

    def __init__(self, config: DistillConfig, seed: int) -> None:
        self.config = config
        self.random = random.Random(seed)

    def candidates(self, example: Example) -> tuple[str, list[str]]:
        positive = self.random.choice(example.positives) if example.positives else example.candidates[0]
        low, high = self.config.negative_ranks
        pool = [d for d in example.candidates[low - 1:high] if d != positive and d not in example.positives]
        if len(pool) < self.config.negatives:  # a small corpus: fall back to every lower-ranked document
            pool = [d for d in example.candidates[1:] if d != positive and d not in example.positives] or pool
        if not pool:
            raise UsageError(f"turn {example.topic.query_id}: the teacher run has no negative candidate")
        if len(pool) >= self.config.negatives:
            negatives = self.random.sample(pool, self.config.negatives)
        else:
            negatives = [self.random.choice(pool) for _ in range(self.config.negatives)]
        return positive, negatives


def _teacher_scores(example: Example, documents: Sequence[str], scale: float) -> list[float]:
    floor = min(example.teacher.values())
    return [example.teacher.get(d, floor) / scale for d in documents]


def distill(topics: Sequence[Topic], teacher_runs: Sequence[str], collection: str, init_model: str, output: str, *,
            qrels: Qrels | None = None, teacher_model: str | None = None, config: DistillConfig = DistillConfig(),
            validation: Sequence[Topic] | None = None, device: str | None = None, threads: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Train a student query encoder; returns the metadata written beside the saved model.

    ``validation`` gives the held-apart turns explicitly; otherwise ``config.validation_fraction``
    of the conversations of ``topics`` are held apart.
    """
    import torch
    from tqdm import tqdm

    from .models import load_model, resolve_model
    from .splade import _mlm_parts, splade_pool

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(config.seed)
    device_ = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
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
    train = build_examples(train_topics, teacher, qrels, config)
    valid = build_examples(valid_topics, teacher, qrels, config) if valid_topics else []
    wanted = {d for e in train + valid for d in e.candidates} | {d for e in train + valid for d in e.positives}
    doc_index, doc_rows, doc_scale = read_document_vectors(collection, wanted)
    teacher_scale = config.teacher_score_scale or _run_score_scale(teacher_runs, doc_scale)

    tokenizer, student = load_model(resolve_model(init_model, "query"), option="--init-model")
    student.to(device_)
    vocabulary = tokenizer.get_vocab()
    documents = _sparse_documents(doc_rows, vocabulary, doc_scale, device_)

    teacher_encoder = None
    if config.loss == "mse":
        _, teacher_encoder = load_model(resolve_model(teacher_model or init_model, "query"), option="--teacher-model")
        teacher_encoder.to(device_).requires_grad_(False)

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup = max(1, int(total_steps * config.warmup_ratio))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))))
    use_amp = device_.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    sampler = Sampler(config, config.seed)
    order_random = random.Random(config.seed + 1)

    def encode(texts: Sequence[str], model: Any) -> torch.Tensor:
        """SPLADE vectors with gradients: the output layer sees only real tokens, and the max is
        taken before log(1 + relu(.)), which is the same function with the same gradient (both are
        non-decreasing), at a fraction of the memory of the literal formula on [B, L, V] logits."""
        inputs = tokenizer(list(texts), truncation=True, max_length=config.max_length, padding=True,
                           return_tensors="pt").to(device_)
        mask = inputs["attention_mask"]
        with torch.autocast(device_type=device_.type, dtype=torch.float16, enabled=use_amp):
            parts = _mlm_parts(model)
            if parts is None:
                logits = model(input_ids=inputs["input_ids"], attention_mask=mask).logits
                return splade_pool(logits.float(), mask)
            body, head = parts
            hidden = body(input_ids=inputs["input_ids"], attention_mask=mask)[0]
            logits = head(hidden[mask.bool()]).float()  # [real tokens, V]
        ends = mask.sum(dim=1).cumsum(0).tolist()
        maxima = torch.stack([logits[start:end].amax(dim=0) for start, end in zip([0] + ends[:-1], ends)])
        return torch.log1p(torch.relu(maxima))

    history: list[dict[str, Any]] = []
    best = {"mrr": -1.0, "step": 0}
    evaluations_without_gain = 0
    step = 0
    stopped_early = False
    bar = tqdm(total=total_steps, desc="distilling", unit="step", disable=not progress)
    student.train()
    while step < total_steps and not stopped_early:
        order = list(range(len(train)))
        order_random.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            batch = [train[i] for i in order[start:start + config.batch_size]]
            queries = encode([e.topic.query_text(config.mode) for e in batch], student)
            if config.loss == "kldiv":
                drawn = [sampler.candidates(e) for e in batch]
                ids = [[positive] + negatives for positive, negatives in drawn]
                docs = documents.dense([doc_index[d] for row in ids for d in row]).view(
                    len(batch), 1 + config.negatives, -1)
                scores = torch.einsum("bv,bnv->bn", queries, docs)
                target = torch.tensor([_teacher_scores(e, row, teacher_scale) for e, row in zip(batch, ids)],
                                      device=device_)
                kl = torch.nn.functional.kl_div(torch.log_softmax(scores, dim=1), torch.softmax(target, dim=1),
                                                reduction="none").sum(dim=1).mean()
                negatives = docs[:, 1:, :].reshape(-1, docs.shape[-1])
                in_batch = torch.cat([scores[:, :1], queries @ negatives.T], dim=1)
                ce = torch.nn.functional.cross_entropy(in_batch, torch.zeros(len(batch), dtype=torch.long,
                                                                              device=device_))
                anti_zero = 1 / queries.sum() ** 2 + 1 / docs.sum() ** 2
                loss = config.kl_weight * kl + config.ce_weight * ce + anti_zero
                parts = {"kl": float(kl.detach()), "ce": float(ce.detach())}
            else:
                with torch.no_grad():
                    target = encode([e.topic.query_text("rewrite") for e in batch], teacher_encoder)
                loss = ((queries - target) ** 2).sum(dim=1).mean()
                parts = {"mse": float(loss.detach())}
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.4f}", **{k: f"{v:.3f}" for k, v in parts.items()})
            if config.checkpoint_every and step % config.checkpoint_every == 0:
                _save(student, tokenizer, os.path.join(output, f"checkpoint-{step}"), None)
            if valid and (step % config.eval_every == 0 or step == total_steps):
                mrr = _validation_mrr(valid, student, encode, documents, doc_index, config)
                history.append({"step": step, "loss": float(loss.detach()), "validation_mrr": mrr, **parts})
                logger.info("step %d: loss %.4f, validation MRR %.4f", step, float(loss.detach()), mrr)
                student.train()
                if mrr > best["mrr"]:
                    best = {"mrr": mrr, "step": step}
                    evaluations_without_gain = 0
                    _save(student, tokenizer, output, None)
                else:
                    evaluations_without_gain += 1
                    if evaluations_without_gain >= config.patience:
                        logger.info("validation MRR has not improved for %d evaluations: stopping at step %d",
                                    config.patience, step)
                        stopped_early = True
                        break
            if step >= total_steps:
                break
    bar.close()
    if not valid:
        _save(student, tokenizer, output, None)
        best = {"mrr": None, "step": step}
    baseline_mrr = None
    if valid:
        base_tokenizer, base_model = load_model(resolve_model(init_model, "query"), option="--init-model")
        base_model.to(device_)
        baseline_mrr = _validation_mrr(valid, base_model, encode, documents, doc_index, config)
    metadata = {
        **artifact_header("distilled-query-encoder"),
        "init_model": init_model,
        "teacher_runs": [{"path": os.path.abspath(p), "sha256": file_sha256(p)} for p in teacher_runs],
        "teacher_fusion": "sum of scores" if len(teacher_runs) > 1 else None,
        "teacher_model": teacher_model if config.loss == "mse" else None,
        "collection": os.path.abspath(collection),
        "training_turns": len(train),
        "validation_turns": len(valid),
        "validation_conversations": sorted({conversation_id(e.topic.query_id) for e in valid}),
        "qrels": qrels is not None,
        "objective": config.loss,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "steps": step,
        "best_step": best["step"],
        "best_validation_mrr": best["mrr"],
        "initial_validation_mrr": baseline_mrr,
        "stopped_early": stopped_early,
        "history": history,
    }
    write_json(os.path.join(output, METADATA), metadata)
    return metadata


def _run_score_scale(paths: Sequence[str], doc_scale: float) -> float:
    """Teacher run scores are integer dot products: divide by query scale x document scale."""
    from .jsonl import read_json

    scales = []
    for path in paths:
        if os.path.exists(path + ".json"):
            encoder = read_json(path + ".json").get("encoder") or {}
            if "scale" in encoder:
                scales.append(float(encoder["scale"]))
    query_scale = scales[0] if scales else doc_scale
    if scales and len(set(scales)) > 1:
        raise UsageError("the teacher runs were searched at different scales; give --teacher-score-scale")
    return query_scale * doc_scale


def _sparse_documents(rows: Sequence[Mapping[str, int]], vocabulary: Mapping[str, int], scale: float,
                      device: Any) -> _Rows:
    import torch

    crow, columns, values = [0], [], []
    for row in rows:
        for token, impact in row.items():
            if token not in vocabulary:
                raise UsageError(f"collection token {token!r} is not in the student's vocabulary: the student and "
                                 f"the document model must share a vocabulary")
            columns.append(vocabulary[token])
            values.append(impact / scale)
        crow.append(len(columns))
    return _Rows(torch.tensor(crow), torch.tensor(columns, dtype=torch.long),
                 torch.tensor(values, dtype=torch.float32), len(vocabulary), device)


class _Rows:
    """Document vectors in compressed rows (CSR), gathered into dense batches on ``device``."""

    def __init__(self, crow: Any, columns: Any, values: Any, width: int, device: Any) -> None:
        self.crow, self.columns, self.values = crow, columns, values
        self.shape = (len(crow) - 1, width)
        self.device = device

    def dense(self, rows: Sequence[int]) -> Any:
        """``[len(rows), width]``: the rows, dense."""
        import torch

        out = torch.zeros((len(rows), self.shape[1]), dtype=torch.float32)
        for position, row in enumerate(rows):
            start, end = int(self.crow[row]), int(self.crow[row + 1])
            out[position, self.columns[start:end]] = self.values[start:end]
        return out.to(self.device)

    def all_dense_chunks(self, size: int = 2048):
        for start in range(0, self.shape[0], size):
            yield start, self.dense(range(start, min(self.shape[0], start + size)))


def _validation_mrr(valid: Sequence[Example], model: Any, encode: Any, documents: _Rows, doc_index: Mapping[str, int],
                    config: DistillConfig) -> float:
    """MRR of each validation turn's positive (judged, else the teacher's top) over every loaded
    document, ties broken by document id as Anserini does."""
    import torch

    model.eval()
    ids = np.array(sorted(doc_index, key=doc_index.get))
    with torch.no_grad():
        queries = torch.cat([encode([e.topic.query_text(config.mode) for e in valid[i:i + 32]], model)
                             for i in range(0, len(valid), 32)])
        scores = torch.zeros((len(valid), documents.shape[0]))
        for start, chunk in documents.all_dense_chunks():
            scores[:, start:start + chunk.shape[0]] = (queries @ chunk.T).cpu()
    reciprocal = []
    for example, row in zip(valid, scores.numpy()):
        ranks = []
        for positive in set(example.positives) or {example.candidates[0]}:
            score, row_id = row[doc_index[positive]], positive
            ranks.append(int((row > score).sum() + ((row == score) & (ids < row_id)).sum()) + 1)
        reciprocal.append(1.0 / min(ranks))
    return float(np.mean(reciprocal))


def _save(model: Any, tokenizer: Any, folder: str, metadata: Mapping[str, Any] | None) -> None:
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if metadata is not None:
        write_json(os.path.join(folder, METADATA), metadata)
