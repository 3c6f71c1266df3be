"""encode -> index -> search -> evaluate with a model of SPLADE++'s shape (BERT-base: 12 layers,
hidden 768, 110 M parameters; random weights), so that nothing in the path depends on SPLADE-tiny's
shape (2 layers, hidden 128). The GPU check (benchmarks/gpu_check.py) measures the same model."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO, close_to_trec_eval, trec_eval_lines
from disco_pyserini.cli import main
from disco_pyserini.pipeline.demo import sample_path

pytestmark = [pytest.mark.java, pytest.mark.slow]

CONVERSATIONS = ("1",)
MEASURES = ["-m", "recip_rank", "-m", "ndcg_cut.3,10", "-m", "recall.10,100", "-m", "map"]


def benchmarks_common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", REPO / "benchmarks" / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bert_base(tmp_path_factory, tiny_model):
    return benchmarks_common().bert_base_splade(tmp_path_factory.mktemp("bert-base") / "model", tiny_model, seed=13)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A conversation of the bundled sample (5 turns), its judgments, and the passages judged for it."""
    root = tmp_path_factory.mktemp("bert-base-sample")
    topics = [line for line in open(sample_path("topics.jsonl"), encoding="utf-8")
              if json.loads(line)["qid"].split("_")[0] in CONVERSATIONS]
    qrels = [line for line in open(sample_path("qrels.txt"), encoding="utf-8")
             if line.split()[0].split("_")[0] in CONVERSATIONS]
    judged = {line.split()[2] for line in qrels}
    passages = [line for line in open(sample_path("corpus.jsonl"), encoding="utf-8")
                if json.loads(line)["id"] in judged]
    (root / "topics.jsonl").write_text("".join(topics), encoding="utf-8")
    (root / "qrels.txt").write_text("".join(qrels), encoding="utf-8")
    (root / "corpus.jsonl").write_text("".join(passages), encoding="utf-8")
    return root, len(topics), len(passages)


def test_a_bert_base_shaped_model_goes_through_the_whole_path(bert_base, sample, tmp_path, capsys):
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(bert_base)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads, config.intermediate_size,
            config.vocab_size) == (12, 768, 12, 3072, 30522)
    root, turns, passages = sample
    assert turns == 5 and 10 <= passages <= 20
    model = str(bert_base)

    assert main(["-q", "encode", "--corpus", str(root / "corpus.jsonl"), "--model", model,
                 "--output", str(tmp_path / "collection"), "--docs-per-part", "8"]) == 0
    metadata = json.loads((tmp_path / "collection" / "disco_collection.json").read_text())
    assert metadata["documents"] == passages and metadata["parts"] == -(-passages // 8)
    from disco_pyserini.encode.collection import Collection

    ids = [json.loads(line)["id"] for line in (root / "corpus.jsonl").read_text().splitlines()]
    sizes = [len(vector) for vector in Collection(str(tmp_path / "collection")).vectors(ids).values()]
    assert len(sizes) == passages and all(20 <= size <= 2000 for size in sizes), sizes  # sparse, as SPLADE++'s

    assert main(["-q", "index", "--collection", str(tmp_path / "collection"), "--index", str(tmp_path / "index")]) == 0
    from disco_pyserini.search.searcher import ImpactSearcher

    assert ImpactSearcher(str(tmp_path / "index")).num_docs == passages  # every passage indexed

    run = tmp_path / "run.trec"
    hits = 5
    assert main(["-q", "search", "--index", str(tmp_path / "index"), "--topics", str(root / "topics.jsonl"),
                 "--model", model, "--output", str(run), "--hits", str(hits), "--no-query-cache"]) == 0
    lines = run.read_text().splitlines()
    assert len(lines) == turns * hits  # every turn shares terms with at least 5 passages (see RANDOM_OUTPUT_BIAS)
    assert [line.split()[3] for line in lines[:hits]] == [str(rank) for rank in range(1, hits + 1)]
    recorded = json.loads((tmp_path / "run.trec.json").read_text())
    assert recorded["encoder"]["model"] == model

    capsys.readouterr()
    assert main(["evaluate", "--qrels", str(root / "qrels.txt"), "--run", str(run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["judged_queries"] == turns and summary["missing_queries"] == 0
    reference = dict(trec_eval_lines(str(root / "qrels.txt"), str(run), "-c", *MEASURES))
    assert set(reference) == {"recip_rank", "ndcg_cut_3", "ndcg_cut_10", "recall_10", "recall_100", "map"}
    for name, value in reference.items():
        assert close_to_trec_eval(summary[name], value), (name, summary[name], value)
    print(f"{passages} passages of {min(sizes)}-{max(sizes)} terms; {turns} turns; "
          f"nDCG@10 {summary['ndcg_cut_10']:.4f} (random weights)")
