"""DiSCo distillation: train a conversational query encoder from rewrite teachers.

The student encodes the flattened conversation; the teacher is SPLADE run on a good rewrite of
the same turn, given as one or more TREC runs (several runs are fused by summing their scores, as
the multi-teacher DiSCo models do). Documents stay frozen: their vectors are read from the
collection folder. Per training turn, as the reference code does (SimonLupart/disco-conv-splade:
``L2I_Dataset.__getitem__`` in ``splade/hf/datasets.py`` and ``IRTrainer.compute_loss`` with
``training_loss="kldiv_contrastive_with_weights"`` in ``splade/hf/trainers.py``):

* the teacher's candidates are its ranks ``negative_ranks``, 11-960 by default (the reference's
  ``TOPK_mi: 10, TOPK_ma: 950``);
* the positive is drawn uniformly from every judged document of relevance >= 1; a turn without
  one (every turn, without qrels) takes the teacher's top document instead: our extension, the
  reference trains on judged turns only;
* 16 negatives are drawn from the candidates that are not positives: without replacement, or
  with replacement when there are 16 or fewer;
* a negative's teacher score is its score; the positive's is its score among the candidates,
  else the best candidate score (the reference's rule for a positive the teacher ranked above
  the candidates, below them or not at all);
* loss = 0.99 * KL(teacher softmax || student log-softmax) over those 17 documents
         + 0.01 * cross-entropy of the positive against every negative of the batch
         + 1/(sum q)^2 + 1/(sum d)^2 (the anti-zero term): :class:`KLDistill`, :class:`AntiZero`.

``loss="mse"`` instead regresses the student's vector onto the teacher model's vector of the
rewrite (the representation-level objective of ConvDR and LeCoRE), :class:`RepresentationMSE`.

Conversations, never turns, are held apart for validation. Every ``eval_every`` steps early
stopping measures what the test measures: the validation turns are encoded with the current
student as ``search`` encodes queries, searched in the Lucene index (top 1000) and scored by MRR
(pytrec_eval's recip_rank, as ``evaluate``) against the qrels with the ``disco`` protocol's
relevance threshold, or against the teacher's top document without qrels; training stops when it
has not improved for ``patience`` evaluations. The best student is saved as a normal HuggingFace
model folder with ``disco_distill.json`` describing how it was made.
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

from .collection import METADATA as COLLECTION_METADATA
from .collection import VECTORS, read_collection_metadata
from .errors import InputError, UsageError
from .jsonl import read_jsonl, write_json
from .metadata import artifact_header, file_sha256
from .runs import Qrels, Run, read_run
from .topics import Topic, conversation_id

logger = logging.getLogger(__name__)

METADATA = "disco_distill.json"
VALIDATION_HITS = 1000  # `search`'s default --hits: MRR over the whole run, as the test measures it


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
        path = os.path.join(folder, name)
        for number, record in read_jsonl(path):
            doc_id = record.get("id") if isinstance(record, dict) else None
            if not isinstance(doc_id, str) or not isinstance(record.get("vector"), dict):
                lacks = 'a string "id"' if not isinstance(doc_id, str) else 'a "vector" object'
                raise InputError(path, f"a collection line needs {lacks}: "
                                 '{"id": "...", "contents": "...", "vector": {"token": impact}}', line=number,
                                 fix="re-encode the corpus with `disco-pyserini encode`")
            if doc_id in wanted and doc_id not in index:
                index[doc_id] = len(rows)
                rows.append(record["vector"])
    missing = wanted - set(index)
    if missing:
        raise InputError(collection, f"{len(missing)} documents of the teacher runs or qrels are not in the "
                         f"collection (e.g. {sorted(missing)[0]})", fix="use the collection the runs searched")
    return index, rows, float(metadata["scale"])


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
        ranked = sorted(scores, key=lambda d: (-scores[d], d))
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


# -- the objectives ------------------------------------------------------------------------------
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
    from .evaluate import PROTOCOLS

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
            tops[topic.query_id] = {min(scores, key=lambda d: (-scores[d], d)): 1}
    if len(tops) < len(topics):
        logger.warning("%d of %d validation turns have neither a judgment nor a teacher run entry and are not "
                       "measured", len(topics) - len(tops), len(topics))
    if not tops:
        raise UsageError("no validation turn has a judgment or a teacher run entry to be measured against")
    return Validation(tuple(t for t in topics if t.query_id in tops), tops, 1, "the teacher's top document")


def validation_mrr(model: Any, tokenizer: Any, searcher: Any, validation: Validation, *, config: DistillConfig,
                   scale: float, device: Any, threads: int = 1, name: str = "student") -> float:
    """MRR of the validation turns as ``search`` and ``evaluate`` would give it for ``model``.

    The turns are encoded as ``search`` encodes queries (SPLADE vectors of ``config.mode``, at most
    ``config.max_length`` tokens, quantized to integer impacts at the collection's ``scale``),
    searched in the index (top 1000) and scored with pytrec_eval's recip_rank.
    """
    from .evaluate import evaluate_run
    from .queries import QueryEncoding
    from .runs import run_from_results
    from .search import search_topics
    from .splade import SpladeEncoder

    training = model.training
    model.eval()
    try:
        splade = SpladeEncoder(name, max_length=config.max_length, device=str(device), loaded=(tokenizer, model))
        encoding = QueryEncoding(name, scale=scale, splade=splade)
        results = search_topics(searcher, validation.topics, encoding, mode=config.mode, hits=VALIDATION_HITS,
                                threads=threads)
    finally:
        model.train(training)
    scored = evaluate_run(validation.qrels, run_from_results(dict(results)), ["recip_rank"],
                          rel_threshold=validation.rel_threshold)
    return float(scored["mean"]["recip_rank"])


def _open_index(index: str | Sequence[str], collection: str, heap: str | None) -> Any:
    """The searcher of the index built from ``collection``; another collection's index is refused."""
    from .search import open_searcher

    searcher = open_searcher(index, heap=heap)
    made = searcher.metadata
    expected = file_sha256(os.path.join(collection, COLLECTION_METADATA))
    if made is None:
        logger.info("%s has no disco_index.json: cannot check that it was built from %s", searcher.index, collection)
    elif made.get("collection_metadata_sha256", expected) != expected:
        raise UsageError(f"--index {searcher.index} was built from {made.get('collection')}, not from --collection "
                         f"{collection}: validation must search the documents the teacher runs ranked")
    return searcher


def distill(topics: Sequence[Topic], teacher_runs: Sequence[str], collection: str, init_model: str, output: str, *,
            qrels: Qrels | None = None, teacher_model: str | None = None, config: DistillConfig = DistillConfig(),
            validation: Sequence[Topic] | None = None, index: str | Sequence[str] | None = None,
            heap: str | None = None, device: str | None = None, threads: int | None = None,
            progress: bool = True) -> dict[str, Any]:
    """Train a student query encoder; returns the metadata written beside the saved model.

    ``validation`` gives the held-apart turns explicitly; otherwise ``config.validation_fraction``
    of the conversations of ``topics`` are held apart. Validation searches ``index``, the Lucene
    index of ``collection`` (required when there are validation turns).
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
    train, skipped = build_examples(train_topics, teacher, qrels, config)
    valid = validation_targets(valid_topics, teacher, qrels)
    if valid is not None and not index:
        raise UsageError("--index: validation searches the Lucene index of --collection, as `search` does; give it "
                         "(or train without validation: --validation-fraction 0)")
    wanted = {d for e in train for d in e.candidates} | {d for e in train for d in e.positives or (e.top,)}
    doc_index, doc_rows, doc_scale = read_document_vectors(collection, wanted)
    teacher_scale = config.teacher_score_scale or _run_score_scale(teacher_runs, doc_scale)
    searcher = _open_index(index, collection, heap) if valid is not None else None

    tokenizer, student = load_model(resolve_model(init_model, "query"), option="--init-model")
    student.to(device_)
    vocabulary = tokenizer.get_vocab()
    documents = _sparse_documents(doc_rows, vocabulary, doc_scale, device_)

    def measure() -> float:
        return validation_mrr(student, tokenizer, searcher, valid, config=config, scale=doc_scale, device=device_,
                              threads=threads or 1, name=init_model)

    initial_mrr = measure() if valid is not None else None
    if initial_mrr is not None:
        logger.info("validation MRR before training: %.4f (%d turns, against %s)", initial_mrr, len(valid.topics),
                    valid.target)

    teacher_encoder = None
    if config.loss == "mse":
        _, teacher_encoder = load_model(resolve_model(teacher_model or init_model, "query"), option="--teacher-model")
        teacher_encoder.to(device_).requires_grad_(False)
    ranking, anti_zero, regression = KLDistill(config.kl_weight, config.ce_weight), AntiZero(), RepresentationMSE()

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
    best: dict[str, Any] = {"mrr": -1.0, "step": 0}
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
                target = torch.tensor([teacher_scores(e, row, teacher_scale) for e, row in zip(batch, ids)],
                                      device=device_)
                terms = [ranking(queries, docs, target), anti_zero(queries, docs)]
            else:
                with torch.no_grad():
                    target = encode([e.topic.query_text("rewrite") for e in batch], teacher_encoder)
                terms = [regression(queries, target)]
            loss = sum(term["loss"] for term in terms)
            parts = {name: float(value.detach()) for term in terms for name, value in term.items() if name != "loss"}
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
            if valid is not None and (step % config.eval_every == 0 or step == total_steps):
                mrr = measure()
                history.append({"step": step, "loss": float(loss.detach()), "validation_mrr": mrr, **parts})
                logger.info("step %d: loss %.4f, validation MRR %.4f", step, float(loss.detach()), mrr)
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
    if valid is None:
        _save(student, tokenizer, output, None)
        best = {"mrr": None, "step": step}
    if searcher is not None:
        searcher.close()
    metadata = {
        **artifact_header("distilled-query-encoder"),
        "init_model": init_model,
        "teacher_runs": [{"path": os.path.abspath(p), "sha256": file_sha256(p)} for p in teacher_runs],
        "teacher_fusion": "sum of scores" if len(teacher_runs) > 1 else None,
        "teacher_model": teacher_model if config.loss == "mse" else None,
        "collection": os.path.abspath(collection),
        "index": None if valid is None else searcher.index,
        "training_turns": len(train),
        "skipped_training_turns": {reason: count for reason, count in skipped.items() if count},
        "validation_turns": 0 if valid is None else len(valid.topics),
        "validation_conversations": [] if valid is None else sorted({conversation_id(t.query_id)
                                                                     for t in valid.topics}),
        "validation_target": None if valid is None else valid.target,
        "validation_rel_threshold": None if valid is None else valid.rel_threshold,
        "qrels": qrels is not None,
        "objective": config.loss,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
        "steps": step,
        "best_step": best["step"],
        "best_validation_mrr": best["mrr"],
        "initial_validation_mrr": initial_mrr,
        "stopped_early": stopped_early,
        "history": history,
    }
    write_json(os.path.join(output, METADATA), metadata)
    return metadata


def _run_score_scale(paths: Sequence[str], doc_scale: float) -> float:
    """Teacher run scores are integer dot products: divide by query scale x document scale."""
    from .jsonl import read_json_object

    scales = []
    for path in paths:
        if os.path.exists(path + ".json"):
            encoder = read_json_object(path + ".json", "run metadata").get("encoder") or {}
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


def _save(model: Any, tokenizer: Any, folder: str, metadata: Mapping[str, Any] | None) -> None:
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if metadata is not None:
        write_json(os.path.join(folder, METADATA), metadata)
