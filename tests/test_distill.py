"""DiSCo distillation: teacher fusion, conversation splits, candidate sampling, and training end to end."""

from __future__ import annotations

import json

import pytest

from disco_pyserini.cli import main
from disco_pyserini.demo import sample_path
from disco_pyserini.distill import (
    DistillConfig,
    Example,
    Sampler,
    _run_score_scale,
    fuse_runs,
    split_conversations,
)
from disco_pyserini.errors import UsageError
from disco_pyserini.runs import read_run
from disco_pyserini.topics import Topic, conversation_id, read_topics


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


def test_the_positive_comes_from_the_qrels_and_negatives_from_the_teachers_ranks():
    candidates = [f"d{i:02d}" for i in range(1, 31)]
    teacher = {d: 30.0 - i for i, d in enumerate(candidates)}
    config = DistillConfig(negatives=4, negative_ranks=(2, 10))
    judged = Example(topic("1_1"), candidates, teacher, positives=["d05"])
    positive, negatives = Sampler(config, seed=1).candidates(judged)
    assert positive == "d05"
    assert len(set(negatives)) == 4 and set(negatives) <= set(candidates[1:10]) - {"d05"}
    assert Sampler(config, seed=1).candidates(judged) == (positive, negatives)
    unjudged = Example(topic("1_2"), candidates, teacher, positives=[])
    assert Sampler(config, seed=1).candidates(unjudged)[0] == "d01"  # the teacher's top document


@pytest.mark.parametrize("settings, message", [
    ({"loss": "hinge"}, "choose kldiv or mse"),
    ({"negative_ranks": (20, 10)}, "first rank <= last rank"),
    ({"negatives": 0}, "at least one negative"),
    ({"validation_fraction": 1.0}, "validation-fraction"),
    ({"learning_rate": 0.0}, "learning-rate"),
])
def test_bad_distillation_settings_are_refused(settings, message):
    with pytest.raises(UsageError, match=message):
        DistillConfig(**settings)


def test_teacher_scores_are_brought_back_to_float_dot_products(tmp_path):
    run = tmp_path / "teacher.trec"
    run.write_text("q Q0 d 1 120000 t\n")
    (tmp_path / "teacher.trec.json").write_text(json.dumps({"encoder": {"scale": 100}}))
    assert _run_score_scale([str(run)], doc_scale=100.0) == 10_000.0
    other = tmp_path / "other.trec"
    other.write_text("q Q0 d 1 1200 t\n")
    (tmp_path / "other.trec.json").write_text(json.dumps({"encoder": {"scale": 10}}))
    with pytest.raises(UsageError, match="different scales"):
        _run_score_scale([str(run), str(other)], doc_scale=100.0)


# -- end to end on the bundled sample, with SPLADE-tiny ------------------------------------------
@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("distill")
    assert main(["-q", "encode", "--corpus", sample_path("corpus.jsonl"), "--model", "splade-tiny",
                 "--output", str(root / "collection")]) == 0
    assert main(["-q", "index", "--collection", str(root / "collection"), "--index", str(root / "index")]) == 0
    assert main(["-q", "search", "--index", str(root / "index"), "--topics", sample_path("topics.jsonl"),
                 "--model", "splade-tiny", "--query-mode", "rewrite", "--output", str(root / "teacher.trec"),
                 "--hits", "100", "--no-query-cache"]) == 0
    return root


def distill(teacher, output, *extra: str) -> int:
    return main(["-q", "distill", "--topics", sample_path("topics.jsonl"), "--teacher-run",
                 str(teacher / "teacher.trec"), "--collection", str(teacher / "collection"), "--init-model",
                 "splade-tiny", "--qrels", sample_path("qrels.txt"), "--output", str(output), "--batch-size", "4",
                 "--negative-ranks", "2", "50", "--validation-fraction", "0.2", "--eval-every", "3",
                 "--learning-rate", "1e-3", "--threads", "1", *extra])


def weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.java
def test_distillation_trains_a_model_folder_that_search_accepts(teacher, tiny_model, tmp_path):
    assert distill(teacher, tmp_path / "model", "--max-steps", "6") == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "disco_distill.json"):
        assert (tmp_path / "model" / name).exists(), name
    made = json.loads((tmp_path / "model" / "disco_distill.json").read_text())
    assert made["objective"] == "kldiv" and made["init_model"] == "splade-tiny" and made["qrels"]
    assert 3 <= made["best_step"] <= made["steps"] <= 6
    assert [h["step"] for h in made["history"]] == [3, 6][:len(made["history"])]
    assert made["training_turns"] + made["validation_turns"] == len(read_topics(sample_path("topics.jsonl")))
    assert made["teacher_runs"][0]["sha256"]
    from pathlib import Path

    init = weights(Path(tiny_model))
    trained = weights(tmp_path / "model")
    assert init.keys() == trained.keys()
    assert any(not (init[k] == trained[k]).all() for k in init), "training changed no weight"

    run = tmp_path / "student.trec"
    assert main(["-q", "search", "--index", str(teacher / "index"), "--topics", sample_path("topics.jsonl"),
                 "--model", str(tmp_path / "model"), "--query-mode", "disco", "--output", str(run),
                 "--hits", "10", "--no-query-cache"]) == 0
    assert len(read_run(run)) == 50


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


@pytest.mark.java
def test_validation_conversations_must_not_be_trained_on(teacher, tmp_path, capsys):
    assert distill(teacher, tmp_path / "model", "--validation-topics", sample_path("topics.jsonl")) == 2
    assert "validation conversations are also in the training topics" in capsys.readouterr().err


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
