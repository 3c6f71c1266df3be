"""DiSCo distillation: checked against a literal transcription of the reference code
(SimonLupart/disco-conv-splade), against `search` + `evaluate` for early stopping, and end to end."""

from __future__ import annotations

import json
import random

import pytest

from disco_pyserini.cli import main
from disco_pyserini.distill.data import (
    DistillConfig,
    Sampler,
    build_examples,
    split_conversations,
    teacher_score_scale,
    teacher_scores,
    validation_targets,
)
from disco_pyserini.distill.losses import AntiZero, KLDistill, RepresentationMSE
from disco_pyserini.errors import UsageError
from disco_pyserini.eval.fusion import fuse_runs
from disco_pyserini.io.runs import read_qrels, read_run
from disco_pyserini.io.topics import Topic, conversation_id, read_topics, write_topics
from disco_pyserini.pipeline.demo import sample_path


def topic(query_id: str) -> Topic:
    return Topic(query_id, (("a question?", None),), rewrite="a question?")


def test_conversation_id_groups_the_turns_of_one_conversation():
    assert conversation_id("31_4") == "31"
    assert conversation_id("132_1-3") == "132"
    assert conversation_id("QReCC_12_3") == "QReCC_12"
    assert conversation_id("single") == "single"


def test_fused_teachers_sum_scores_and_a_missing_document_takes_that_runs_lowest_score():
    first = {"q": {"a": 3.0, "b": 1.0}}
    second = {"q": {"b": 5.0, "c": 2.0}, "r": {"x": 1.0}}
    fused = fuse_runs([first, second])
    assert fused["q"] == {"a": 3.0 + 2.0, "b": 1.0 + 5.0, "c": 1.0 + 2.0}
    assert fused["r"] == {"x": 0.0 + 1.0}  # a query the first run lacks adds nothing from it
    assert fuse_runs([first, second], depth=2)["q"] == {"b": 6.0, "a": 5.0}


def test_validation_holds_whole_conversations_apart_the_same_way_each_time():
    topics = [topic(f"{c}_{t}") for c in range(1, 11) for t in range(1, 4)]
    train, valid = split_conversations(topics, 0.3, seed=5)
    held = {conversation_id(t.query_id) for t in valid}
    assert len(held) == 3 and len(valid) == 9
    assert not held & {conversation_id(t.query_id) for t in train}
    assert (train, valid) == split_conversations(topics, 0.3, seed=5)
    assert split_conversations(topics, 0.0, seed=5) == (topics, [])
    with pytest.raises(UsageError, match="every conversation"):
        split_conversations([topic("1_1"), topic("1_2")], 0.5, seed=5)


# -- parity with the reference code ---------------------------------------------------------------
# Literal transcriptions of SimonLupart/disco-conv-splade (HEAD of the mirror):
# splade/hf/datasets.py, L2I_Dataset.__init__ (training_data_type "json", topk) and __getitem__;
# splade/hf/trainers.py, IRTrainer.compute_loss with training_loss "kldiv_contrastive_with_weights".
# Only what does not concern ids and scores (texts, tokenization, logging) is left out; the bare
# `except:` of the reference is written `except KeyError:` (the error it catches there).

def reference_samples(documents, topk):
    """L2I_Dataset.__init__, training_data_type == 'json': the teacher's candidates of one query."""
    samples = dict()
    for did, score in sorted(documents.items(), reverse=True, key=lambda item: item[1])[topk[0]:][:topk[1]]:
        samples[str(did)] = float(score)
    return samples


def reference_getitem(samples_query, qrels_query, n_negatives):
    """L2I_Dataset.__getitem__ for one query, after its qrels filter (relevance >= 1)."""
    qrels_query = {k2: v2 for k2, v2 in qrels_query.items() if int(v2) >= 1}
    positives = list(qrels_query.keys())
    candidates = [x for x in samples_query if x not in positives]
    if len(candidates) <= n_negatives:
        negative_ids = random.choices(candidates, k=n_negatives)
    else:
        negative_ids = random.sample(candidates, n_negatives)
    positive = random.sample(positives, 1)[0]
    scores_negatives = [samples_query[negative] for negative in negative_ids]
    try:  # If there's a score for the positive on the file it uses that score
        scores = [samples_query[positive]]
    except KeyError:  # else it uses the best score of the negatives.
        scores = [max(v for k, v in samples_query.items())]
    scores.extend(scores_negatives)
    return positive, negative_ids, scores


def reference_compute_loss(queries, docs, teacher_scores, lambda_t_d=0.0, lambda_t_q=0.0):
    """IRTrainer.compute_loss, "kldiv_contrastive_with_weights", lexical_type none, no pruning;
    lambda_d and lambda_q are 0 in conf/disco_topiocqa_mistral_llama.yaml."""
    import torch

    ce_loss_fn = torch.nn.CrossEntropyLoss()
    distil_loss = torch.nn.KLDivLoss(reduction="none")

    def _flops(inputs):
        return torch.sum(torch.mean(torch.abs(inputs), dim=0) ** 2)

    def _L1(batch_rep):  # noqa: N802 (the reference's name)
        return torch.sum(torch.abs(batch_rep), dim=-1).mean()

    scores = torch.bmm(queries, torch.permute(docs, [0, 2, 1])).squeeze(1)  # shape (bsz, nb_neg+1)
    scores_positive = scores[:, :1]  # shape (bsz, 1)
    negatives = docs[:, 1:, :].reshape(-1, docs.size(2)).T  # shape (Vocab, bsz*nb_neg)
    scores_negative = torch.matmul(queries.squeeze(1), negatives)  # shape (bsz, bsz*nb_neg)
    all_scores = torch.cat([scores_positive, scores_negative], dim=1)  # shape (bsz, bsz*nb_neg+1)
    losses = list()
    labels_index = torch.zeros(scores.size(0)).to(scores.device).long()  # shape (bsz)
    ce_loss = ce_loss_fn(all_scores, labels_index).mean()
    losses.append(0.01 * ce_loss)
    temperature = 1
    student_scores = torch.log_softmax(scores * temperature, dim=1)
    teacher_scores = teacher_scores.view(scores.size()).to(scores.device)
    teacher_scores = torch.softmax(teacher_scores * temperature, dim=1)
    kldiv_loss = distil_loss(student_scores, teacher_scores).sum(dim=1).mean(dim=0)
    losses.append(0.99 * kldiv_loss)
    loss = 0
    for loss_ in losses:
        loss = loss + loss_
    flops = lambda_t_d * _flops(docs.reshape(-1, docs.size(2)))
    flops = flops + lambda_t_q * _L1(queries.squeeze(1))
    anti_zero = 1 / (torch.sum(queries) ** 2) + 1 / (torch.sum(docs) ** 2)
    loss = loss + flops + anti_zero
    return loss, {"kl": kldiv_loss, "ce": ce_loss, "anti_zero": anti_zero}


def test_the_loss_equals_the_reference_kldiv_contrastive_with_weights_and_anti_zero():
    import torch

    generator = torch.Generator().manual_seed(7)
    batch, negatives, vocabulary = 3, 4, 40
    # sparse-ish non-negative vectors with small sums, so that the anti-zero term weighs in
    queries = torch.rand(batch, vocabulary, generator=generator, dtype=torch.float64) * 0.05
    queries[queries < 0.02] = 0
    docs = torch.rand(batch, 1 + negatives, vocabulary, generator=generator, dtype=torch.float64) * 0.3
    docs[docs < 0.15] = 0
    teacher = torch.rand(batch, 1 + negatives, generator=generator, dtype=torch.float64) * 20

    expected, expected_parts = reference_compute_loss(queries.unsqueeze(1), docs, teacher.view(batch, 1, -1))
    ranking, anti_zero = KLDistill()(queries, docs, teacher), AntiZero()(queries, docs)
    assert float(ranking["loss"] + anti_zero["loss"]) == pytest.approx(float(expected), abs=1e-6)
    for name, value in (("kl", ranking["kl"]), ("ce", ranking["ce"]), ("anti_zero", anti_zero["anti_zero"])):
        assert float(value) == pytest.approx(float(expected_parts[name]), abs=1e-6), name
    assert float(anti_zero["loss"]) > 0.01  # the anti-zero term is not negligible here: it is checked
    # the reference's weights are the defaults; other weights scale the two parts
    reweighed = KLDistill(kl_weight=0.5, ce_weight=0.5)(queries, docs, teacher)
    assert float(reweighed["loss"]) == pytest.approx(0.5 * float(expected_parts["kl"] + expected_parts["ce"]),
                                                     abs=1e-6)


def test_the_representation_objective_is_the_summed_squared_difference():
    import torch

    student = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.5, 0.0]])
    target = torch.tensor([[0.0, 0.0, 2.0], [0.0, 1.5, 1.0]])
    # by hand: turn 1 (1)^2 = 1; turn 2 (1)^2 + (1)^2 = 2; mean 1.5
    assert float(RepresentationMSE()(student, target)["mse"]) == 1.5


# a fixed turn: 40 documents with distinct teacher scores; judged d02 (above the candidate ranks),
# d07 (among them), gone (not in the run at all), d05 judged 0 (not a positive)
FIXED_RUN = {f"d{i:02d}": 1000.0 - 7.5 * i for i in range(1, 41)}
FIXED_QRELS = {"d02": 2, "d07": 1, "gone": 3, "d05": 0}


@pytest.mark.parametrize("topk, n_negatives", [((3, 20), 4), ((3, 6), 5)])
def test_positives_negatives_and_teacher_scores_follow_the_reference(topk, n_negatives):
    """The reference's TOPK (mi, ma) are our ranks mi+1 to mi+ma. The second case has exactly as
    many non-positive candidates as negatives: the reference then draws with replacement."""
    config = DistillConfig(negatives=n_negatives, negative_ranks=(topk[0] + 1, topk[0] + topk[1]))
    examples, skipped = build_examples([topic("1_1")], {"1_1": FIXED_RUN}, {"1_1": FIXED_QRELS}, config)
    assert len(examples) == 1 and not any(skipped.values())
    samples = reference_samples(FIXED_RUN, topk)
    drawn = set()
    for seed in range(200):
        random.seed(seed)
        expected_positive, expected_negatives, expected_scores = reference_getitem(samples, FIXED_QRELS, n_negatives)
        positive, negatives = Sampler(config, seed).candidates(examples[0])
        assert (positive, negatives) == (expected_positive, expected_negatives), seed
        scores = teacher_scores(examples[0], [positive, *negatives])
        assert scores == pytest.approx(expected_scores, abs=1e-6), seed
        drawn.add(positive)
    assert drawn == {"d02", "d07", "gone"}  # every positive, so every branch of the score rule, was checked


def test_without_a_judged_positive_the_teachers_top_document_is_the_positive():
    config = DistillConfig(negatives=4, negative_ranks=(4, 23))
    run = {"1_1": FIXED_RUN, "1_2": FIXED_RUN}
    examples, _ = build_examples([topic("1_1"), topic("1_2")], run, {"1_2": {"d09": 0}}, config)
    for example in examples:
        positive, negatives = Sampler(config, seed=3).candidates(example)
        assert positive == "d01" and set(negatives) <= {f"d{i:02d}" for i in range(4, 24)}
        # d01 ranks above the candidates: it takes the best candidate score (d04's), as the reference would
        assert teacher_scores(example, [positive]) == [FIXED_RUN["d04"]]


def test_turns_without_negative_candidates_are_counted_and_left_out():
    config = DistillConfig(negatives=4, negative_ranks=(11, 960))
    short = {f"d{i}": 10.0 - i for i in range(1, 6)}  # 5 documents: nothing at rank 11 or below
    examples, skipped = build_examples([topic("1_1"), topic("1_2"), topic("1_3")],
                                       {"1_1": FIXED_RUN, "1_2": short}, None, config)
    assert [e.topic.query_id for e in examples] == ["1_1"]
    assert skipped == {"no teacher run entry": 1, "no negative candidate in the teacher's ranks 11-960": 1}
    with pytest.raises(UsageError, match="no training turn is usable"):
        build_examples([topic("1_2")], {"1_2": short}, None, config)


def test_validation_is_measured_against_the_qrels_with_the_disco_threshold_or_the_teachers_top():
    topics = [topic("1_1"), topic("1_2"), topic("2_1")]
    teacher = {"1_1": {"a": 3.0, "b": 5.0}, "1_2": {"c": 1.0}}
    qrels = {"1_1": {"a": 3, "b": 0}, "9_9": {"z": 1}}
    judged = validation_targets(topics, teacher, qrels)
    assert [t.query_id for t in judged.topics] == ["1_1"] and judged.qrels == {"1_1": {"a": 3, "b": 0}}
    assert judged.rel_threshold == 2  # graded qrels: relevance >= 2 is relevant, as `evaluate --protocol disco`
    assert validation_targets(topics, teacher, {"1_1": {"a": 1}}).rel_threshold == 1
    unjudged = validation_targets(topics, teacher, None)
    assert unjudged.qrels == {"1_1": {"b": 1}, "1_2": {"c": 1}} and unjudged.rel_threshold == 1
    assert validation_targets([], teacher, qrels) is None


@pytest.mark.parametrize("settings, message", [
    ({"loss": "hinge"}, "choose kldiv or mse"),
    ({"negative_ranks": (20, 10)}, "first rank <= last rank"),
    ({"negatives": 0}, "at least one negative"),
    ({"validation_fraction": 1.0}, "validation-fraction"),
    ({"learning_rate": 0.0}, "learning-rate"),
    ({"checkpoint_every": -5}, "checkpoint-every"),
])
def test_bad_distillation_settings_are_refused(settings, message):
    with pytest.raises(UsageError, match=message):
        DistillConfig(**settings)


@pytest.mark.parametrize("settings, flag", [
    ({"max_steps": 0}, "--max-steps"), ({"max_steps": -3}, "--max-steps"), ({"warmup_ratio": -0.1}, "--warmup-ratio"),
    ({"warmup_ratio": 1.5}, "--warmup-ratio"), ({"weight_decay": -1.0}, "--weight-decay"),
    ({"kl_weight": -1.0}, "--kl-weight"), ({"ce_weight": -0.5}, "--ce-weight"),
    ({"teacher_score_scale": 0.0}, "--teacher-score-scale"), ({"negatives": -2}, "negative"),
])
def test_negative_or_zero_numbers_are_refused_naming_the_option(settings, flag):
    from disco_pyserini.errors import SettingError

    with pytest.raises((SettingError, UsageError), match=flag.lstrip("-").replace("-", "[-_]")):
        DistillConfig(**settings)


@pytest.mark.java
def test_the_initial_model_is_the_baseline_to_beat(teacher, tmp_path, monkeypatch):
    """Validations all below the MRR before training: the initial model is what is saved, step 0 kept."""
    import disco_pyserini.distill.train as distill_module
    from disco_pyserini.encode.splade import SpladeEncoder

    scores = iter([0.9, 0.5, 0.6, 0.7])
    monkeypatch.setattr(distill_module, "validation_mrr", lambda *a, **k: next(scores))
    assert distill(teacher, tmp_path / "model", "--max-steps", "9") == 0
    made = json.loads((tmp_path / "model" / "disco_distill.json").read_text())
    assert (made["best_step"], made["best_validation_mrr"], made["initial_validation_mrr"]) == (0, 0.9, 0.9)
    assert [h["step"] for h in made["history"]] == [3, 6, 9]
    saved = SpladeEncoder(str(tmp_path / "model")).model.state_dict()
    initial = SpladeEncoder("splade-tiny").model.state_dict()
    assert all(saved[name].equal(initial[name]) for name in initial)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_save_leaves_no_half_written_model(tmp_path):
    from pathlib import Path

    from disco_pyserini.distill.train import _save

    class Broken:
        def save_pretrained(self, folder):
            (Path(folder) / "config.json").write_text("{}")
            raise KeyboardInterrupt  # killed midway

    class Student:
        model = Broken()
        tokenizer = Broken()

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text('{"old": 1}')
    with pytest.raises(KeyboardInterrupt):
        _save(Student(), str(tmp_path / "model"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert (tmp_path / "model" / "config.json").read_text() == '{"old": 1}'


def test_teacher_scores_are_brought_back_to_float_dot_products(tmp_path):
    run = tmp_path / "teacher.trec"
    run.write_text("q Q0 d 1 120000 t\n")
    (tmp_path / "teacher.trec.json").write_text(json.dumps({"encoder": {"scale": 100}}))
    assert teacher_score_scale([str(run)], doc_scale=100.0) == 10_000.0
    other = tmp_path / "other.trec"
    other.write_text("q Q0 d 1 1200 t\n")
    (tmp_path / "other.trec.json").write_text(json.dumps({"encoder": {"scale": 10}}))
    with pytest.raises(UsageError, match="different scales"):
        teacher_score_scale([str(run), str(other)], doc_scale=100.0)


# -- end to end on the bundled sample, with SPLADE-tiny ------------------------------------------
@pytest.fixture(scope="module")
def teacher(tmp_path_factory, sample_index):
    """The sample's collection and index beside a teacher run of its rewrites, ``teacher.trec``."""
    root = tmp_path_factory.mktemp("distill")
    for name in ("collection", "index"):
        (root / name).symlink_to(sample_index / name, target_is_directory=True)
    assert main(["-q", "search", "--index", str(root / "index"), "--topics", sample_path("topics.jsonl"),
                 "--model", "splade-tiny", "--query-mode", "rewrite", "--output", str(root / "teacher.trec"),
                 "--hits", "100", "--no-query-cache"]) == 0
    return root


def distill(teacher, output, *extra: str, collection: str | None = None) -> int:
    return main(["-q", "distill", "--topics", sample_path("topics.jsonl"), "--teacher-run",
                 str(teacher / "teacher.trec"), "--collection", collection or str(teacher / "collection"),
                 "--index", str(teacher / "index"), "--init-model", "splade-tiny", "--qrels", sample_path("qrels.txt"),
                 "--output", str(output), "--batch-size", "4", "--negative-ranks", "2", "50",
                 "--validation-fraction", "0.2", "--eval-every", "3", "--learning-rate", "1e-3", "--threads", "1",
                 *extra])


def search_run(teacher, tmp_path, model: str, topics: str, name: str):
    """A run of ``model`` as `disco-pyserini search --backend torch` writes it (validation encodes
    with the student's torch model; the onnx default may differ by 1 in a rare impact)."""
    run = tmp_path / f"{name}.trec"
    assert main(["-q", "search", "--index", str(teacher / "index"), "--topics", topics, "--model", model,
                 "--query-mode", "disco", "--output", str(run), "--hits", "1000", "--no-query-cache",
                 "--backend", "torch"]) == 0
    return run


@pytest.mark.java
def test_the_best_validation_mrr_is_what_search_and_evaluate_give_the_saved_model(teacher, tmp_path, capsys):
    assert distill(teacher, tmp_path / "model", "--max-steps", "9") == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "disco_distill.json"):
        assert (tmp_path / "model" / name).exists(), name
    made = json.loads((tmp_path / "model" / "disco_distill.json").read_text())
    assert made["objective"] == "kldiv" and made["init_model"] == "splade-tiny" and made["qrels"]
    assert made["validation_target"] == "qrels" and made["validation_rel_threshold"] == 2
    assert [h["step"] for h in made["history"]] == [3, 6, 9]
    assert made["training_turns"] + made["validation_turns"] == len(read_topics(sample_path("topics.jsonl")))
    assert made["teacher_runs"][0]["sha256"]

    held = set(made["validation_conversations"])
    topics = [t for t in read_topics(sample_path("topics.jsonl")) if conversation_id(t.query_id) in held]
    write_topics(topics, tmp_path / "validation.jsonl")
    qrels = read_qrels(sample_path("qrels.txt"))
    with open(tmp_path / "validation.qrels", "w") as handle:
        for t in topics:
            for doc, relevance in qrels[t.query_id].items():
                handle.write(f"{t.query_id} 0 {doc} {relevance}\n")

    measured = {}
    for name, model in (("best", str(tmp_path / "model")), ("initial", "splade-tiny")):
        run = search_run(teacher, tmp_path, model, str(tmp_path / "validation.jsonl"), name)
        capsys.readouterr()
        assert main(["evaluate", "--qrels", str(tmp_path / "validation.qrels"), "--run", str(run),
                     "--protocol", "disco", "--json"]) == 0
        measured[name] = json.loads(capsys.readouterr().out)["recip_rank"]
    assert made["best_validation_mrr"] == pytest.approx(measured["best"], abs=1e-12)
    assert made["initial_validation_mrr"] == pytest.approx(measured["initial"], abs=1e-12)
    assert made["best_validation_mrr"] == max([made["initial_validation_mrr"]] + [
        h["validation_mrr"] for h in made["history"]])
    assert any(h["validation_mrr"] != made["initial_validation_mrr"] for h in made["history"])  # training acted
    kept = [h["validation_mrr"] for h in made["history"] if h["step"] == made["best_step"]]
    assert made["best_validation_mrr"] == (kept[0] if kept else made["initial_validation_mrr"])


@pytest.mark.java
def test_distillation_repeats_exactly_with_the_same_seed(teacher, tmp_path):
    for name in ("a", "b"):
        assert distill(teacher, tmp_path / name, "--max-steps", "3") == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


@pytest.mark.java
def test_representation_level_objective_regresses_onto_the_teacher_vector(teacher, tiny_model, tmp_path):
    assert distill(teacher, tmp_path / "mse", "--loss", "mse", "--max-steps", "3") == 0
    made = json.loads((tmp_path / "mse" / "disco_distill.json").read_text())
    assert made["objective"] == "mse" and made["history"][0]["mse"] > 0


def test_a_wrong_teacher_model_is_named_as_the_teacher(teacher, tmp_path, capsys):
    """The command line maps the student's `model` to --init-model; the teacher's is its own flag."""
    assert distill(teacher, tmp_path / "mse", "--loss", "mse", "--teacher-model", " ") == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("disco-pyserini: error: --teacher-model ' '")


@pytest.mark.java
def test_validation_conversations_must_not_be_trained_on(teacher, tmp_path, capsys):
    assert distill(teacher, tmp_path / "model", "--validation-topics", sample_path("topics.jsonl")) == 2
    assert "validation conversations are also in the training topics" in capsys.readouterr().err


@pytest.mark.java
def test_validation_needs_the_index(teacher, tmp_path, capsys):
    argv = ["-q", "distill", "--topics", sample_path("topics.jsonl"), "--teacher-run", str(teacher / "teacher.trec"),
            "--collection", str(teacher / "collection"), "--init-model", "splade-tiny", "--output",
            str(tmp_path / "model"), "--negative-ranks", "2", "50"]
    assert main(argv) == 2
    assert "--index" in capsys.readouterr().err


@pytest.mark.java
def test_a_collection_line_without_id_is_named_with_its_file_and_line(teacher, tmp_path, capsys):
    import shutil

    collection = tmp_path / "collection"
    shutil.copytree(teacher / "collection", collection)
    part = collection / "vectors" / "part-00000.jsonl"
    lines = part.read_text().splitlines()
    record = json.loads(lines[2])
    del record["id"]
    lines[2] = json.dumps(record)
    part.write_text("\n".join(lines) + "\n")
    assert distill(teacher, tmp_path / "model", "--max-steps", "1", collection=str(collection)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{part}:3" in err and '"id"' in err


@pytest.mark.java
def test_a_negative_checkpoint_interval_is_refused(teacher, tmp_path, capsys):
    assert distill(teacher, tmp_path / "model", "--max-steps", "1", "--checkpoint-every", "-2") == 2
    assert "--checkpoint-every" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


@pytest.mark.java
def test_fuse_writes_one_teacher_run_from_several(teacher, tmp_path):
    output = tmp_path / "fused.trec"
    path = str(teacher / "teacher.trec")
    assert main(["-q", "fuse", "--runs", path, path, "--output", str(output), "--hits", "20"]) == 0
    single, fused = read_run(path), read_run(output)
    assert fused.keys() == single.keys()
    for qid, hits in fused.items():
        best = sorted(single[qid].items(), key=lambda item: (-item[1], item[0]))[:20]
        assert hits == {doc: 2 * score for doc, score in best}


def test_a_new_best_model_keeps_the_checkpoints_beside_it(tmp_path):
    from pathlib import Path

    from disco_pyserini.distill.train import _save

    class Writer:
        def __init__(self, name, text):
            self.name, self.text = name, text

        def save_pretrained(self, folder):
            (Path(folder) / self.name).write_text(self.text)

    class Student:
        def __init__(self, text):
            self.model, self.tokenizer = Writer("model.safetensors", text), Writer("tokenizer.json", text)

    _save(Student("step 0"), str(tmp_path / "model"))
    _save(Student("step 3"), str(tmp_path / "model" / "checkpoint-3"))
    _save(Student("step 6"), str(tmp_path / "model"))
    assert (tmp_path / "model" / "model.safetensors").read_text() == "step 6"
    assert (tmp_path / "model" / "checkpoint-3" / "model.safetensors").read_text() == "step 3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
