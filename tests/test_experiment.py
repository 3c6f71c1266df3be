"""`disco-pyserini run` redoes a stage exactly when what it depends on changed: model weights, corpus content."""

from __future__ import annotations

import glob
import os
import shutil

import pytest

from disco_pyserini.cli import main
from disco_pyserini.pipeline.demo import sample_path

pytestmark = [pytest.mark.java, pytest.mark.slow]


def stamps(root) -> dict[str, int]:
    """Modification times of what each stage writes."""
    paths = [root / "collection" / "disco_collection.json", root / "index" / "disco_index.json",
             *map(type(root), glob.glob(str(root / "runs" / "*.trec")))]
    return {os.path.relpath(p, root): os.stat(p).st_mtime_ns for p in paths}


@pytest.fixture()
def experiment(tmp_path, tiny_model):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    corpus = tmp_path / "corpus.jsonl"
    shutil.copy(sample_path("corpus.jsonl"), corpus)
    config = tmp_path / "config.yaml"
    config.write_text(f"""
name: staleness
corpus: {corpus}
collection: {tmp_path}/collection
index: {tmp_path}/index
topics: {sample_path("topics.jsonl")}
qrels: {sample_path("qrels.txt")}
document_model: {model}
query_model: {model}
query_modes: [raw, disco]
runs: {tmp_path}/runs
hits: 20
""")
    assert main(["-q", "run", str(config)]) == 0
    return tmp_path, str(config), model, corpus


def test_nothing_is_redone_when_nothing_changed(experiment):
    root, config, _, _ = experiment
    before = stamps(root)
    assert main(["-q", "run", config]) == 0
    assert stamps(root) == before


def test_new_weights_in_the_same_model_folder_redo_every_stage(experiment):
    """As after distilling again into the same folder: same name, other weights."""
    import torch
    from transformers import AutoModelForMaskedLM

    root, config, model, _ = experiment
    before = stamps(root)
    weights = AutoModelForMaskedLM.from_pretrained(model)
    with torch.no_grad():
        weights.bert.embeddings.word_embeddings.weight.mul_(1.5)
    weights.save_pretrained(model)
    assert main(["-q", "run", config]) == 0
    after = stamps(root)
    assert all(after[name] != before[name] for name in before), (before, after)


def test_an_edited_corpus_of_the_same_size_is_encoded_again(experiment):
    root, config, _, corpus = experiment
    before = stamps(root)
    status = os.stat(corpus)
    text = corpus.read_text(encoding="utf-8")
    index = text.index("a", len(text) // 2)
    corpus.write_text(text[:index] + "o" + text[index + 1:], encoding="utf-8")  # same size, same path
    os.utime(corpus, ns=(status.st_atime_ns, status.st_mtime_ns))  # and its old time, as `cp -p` keeps it
    assert main(["-q", "run", config]) == 0
    assert stamps(root)["collection/disco_collection.json"] != before["collection/disco_collection.json"]


def test_other_threads_and_batch_size_redo_nothing(experiment):
    """On CPU they change the speed, not the bytes: nothing is encoded, indexed or searched again."""
    root, config, _, _ = experiment
    before = stamps(root)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write("threads: 2\nbatch_size: 5\n")
    assert main(["-q", "run", config]) == 0
    assert stamps(root) == before
