"""The onnx query backend: the export, its tokenizer, its vectors against torch's, its routes, and
that it searches without importing torch or transformers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, need
from disco_pyserini.cli import main
from disco_pyserini.demo import sample_path
from disco_pyserini.errors import SettingError
from disco_pyserini.spec import EncoderSpec, output_identity
from disco_pyserini.topics import read_topics

BOUNDARY = 1e-3  # |w × scale - (n + 0.5)| within which torch's and ONNX Runtime's floats may round apart


def benchmarks_common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", REPO / "benchmarks" / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def onnx_tiny(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("onnx") / "splade-tiny"
    assert main(["-q", "export-onnx", "--model", tiny_model, "--output", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def onnx_encoding(onnx_tiny):
    from disco_pyserini.queries import QueryEncoding

    return QueryEncoding(EncoderSpec(str(onnx_tiny), side="query", backend="onnx"))


def sample_texts() -> list[str]:
    return [t for _, t in benchmarks_common().query_texts(read_topics(sample_path("topics.jsonl")))]


def test_the_export_records_its_source_weights_vocabulary_opset_and_versions(onnx_tiny, tiny_encoder):
    import onnxruntime
    import torch

    record = json.loads((onnx_tiny / "disco_onnx.json").read_text())
    assert record["model_sha256"] == tiny_encoder.model_sha256  # the digest describe() records for torch
    assert record["vocabulary_sha256"] == tiny_encoder.vocabulary_fingerprint
    assert (record["opset"], record["onnxruntime_version"], record["torch_version"]) == (
        17, onnxruntime.__version__, torch.__version__)
    assert {"model.onnx", "tokenizer.json", "disco_onnx.json"} <= set(os.listdir(onnx_tiny))


def test_the_graph_is_the_splade_formula_with_dynamic_batch_and_length(onnx_tiny, tiny_encoder):
    """ORT's output on a padded batch against the literal formula on the model's own logits."""
    import onnxruntime
    import torch

    from disco_pyserini.splade import splade_pool

    session = onnxruntime.InferenceSession(str(onnx_tiny / "model.onnx"), providers=["CPUExecutionProvider"])
    for texts in (["a"], ["what is a shark?", "a much longer text about sharks and whether they sleep at night"],
                  sample_texts()[:7]):
        input_ids, mask = tiny_encoder._pad(tiny_encoder.tokenize(texts))
        with torch.inference_mode():
            expected = splade_pool(tiny_encoder.model(input_ids=input_ids, attention_mask=mask).logits, mask).numpy()
        got = session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()})[0]
        assert got.shape == expected.shape == (len(texts), 30522)
        assert np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("topic_set", ["sample", "cast2019", "cast2020", "cast2021", "cast2022"])
def test_the_tokenizer_gives_the_transformers_ids_of_every_turn(topic_set, onnx_encoding, tiny_encoder):
    common = benchmarks_common()
    if topic_set == "sample":
        topics = read_topics(sample_path("topics.jsonl"))
    else:
        need(common.CAST)
        topics = common.cast_topics(topic_set)
    texts = [text for _, text in common.query_texts(topics)]
    expected = tiny_encoder.tokenize(texts)  # transformers' tokenizer
    assert onnx_encoding.splade.tokenize(texts) == expected
    assert any(ids.count(102) > 1 for ids in expected)  # [SEP] inside the flattened conversations
    if topic_set in ("cast2021", "cast2022"):  # canonical passages as answers: truncated at 256
        assert any(len(ids) == 256 for ids in expected)


def test_a_model_with_only_vocab_txt_tokenizes_as_transformers_does(tmp_path, tiny_encoder):
    from transformers import AutoTokenizer

    from disco_pyserini.onnx_encoder import load_tokenizer

    folder = tmp_path / "vocab-only"
    folder.mkdir()
    (folder / "vocab.txt").write_text("".join(token + "\n" for token in tiny_encoder.vocabulary), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True,
                                                              "tokenizer_class": "BertTokenizer"}))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    reference = AutoTokenizer.from_pretrained(str(folder))
    ours = load_tokenizer(folder, 32)
    texts = sample_texts() + ["Ünïcödé CAFÉ 東京 don't [SEP] [MASK] x" * 3, "  spaces\tand\nlines  "]
    expected = reference(texts, truncation=True, max_length=32)["input_ids"]
    assert [e.ids for e in ours.encode_batch(texts)] == expected


def test_onnx_impacts_equal_torch_or_differ_by_one_at_a_rounding_boundary(onnx_encoding, tiny_encoder):
    texts = sample_texts()
    ours = onnx_encoding.splade.encode(texts)
    theirs = tiny_encoder.encode(texts)
    scale = onnx_encoding.scale
    differing = 0
    for a, b in zip(ours, theirs):
        dense_a, dense_b = np.zeros(30522), np.zeros(30522)
        dense_a[a.indices], dense_b[b.indices] = a.weights, b.weights
        assert np.abs(dense_a - dense_b).max() < 1e-4
        impacts_a, impacts_b = np.round(dense_a * scale), np.round(dense_b * scale)
        apart = np.flatnonzero(impacts_a != impacts_b)
        assert np.all(np.abs(impacts_a - impacts_b) <= 1)
        fraction = dense_b[apart] * scale - np.floor(dense_b[apart] * scale)
        assert np.all(np.abs(fraction - 0.5) < BOUNDARY), dense_b[apart] * scale
        differing += len(apart)
    assert differing <= sum(len(v.indices) for v in theirs) // 1000  # rare: measured 0 on this CPU


def test_a_vector_does_not_depend_on_its_batch(onnx_encoding):
    texts = sample_texts()[:12]
    assert onnx_encoding.encode_many(texts) == [onnx_encoding.encode_one(text) for text in texts]
    assert onnx_encoding.encode_many(texts[::-1]) == onnx_encoding.encode_many(texts)[::-1]


def test_the_backend_is_a_spec_field_recorded_and_keyed(onnx_encoding, tiny_model, tmp_path):
    spec = EncoderSpec(tiny_model, side="query", backend="onnx")
    assert EncoderSpec.from_params(spec.to_params()) == spec
    assert EncoderSpec.from_params({"model": tiny_model}).backend == "torch"  # records made before backends
    with pytest.raises(SettingError, match="backend"):
        EncoderSpec(tiny_model, backend="tensorflow")
    described = onnx_encoding.describe()
    assert described["backend"] == "onnx"
    assert output_identity(described)["backend"] == "onnx"
    torch_record = {**described, "backend": "torch"}
    assert "backend" not in output_identity(torch_record)  # torch identities (and caches) as they were
    assert output_identity(torch_record) == output_identity({k: v for k, v in torch_record.items() if k != "backend"})
    assert onnx_encoding.cache_key("disco") != {**onnx_encoding.cache_key("disco"), "backend": "torch"}


def test_the_query_cache_does_not_serve_one_backends_vectors_to_the_other(onnx_encoding, tiny_model, tmp_path):
    from disco_pyserini.queries import QueryEncoding

    topics = read_topics(sample_path("topics.jsonl"))[:6]
    torch_encoding = QueryEncoding(EncoderSpec(tiny_model, side="query"))
    torch_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert torch_encoding.last_encoded == 6
    onnx_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert onnx_encoding.last_encoded == 6  # nothing taken from the torch entries
    onnx_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert onnx_encoding.last_encoded == 0
    torch_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert torch_encoding.last_encoded == 0


def test_the_torch_encoder_refuses_the_onnx_backend(tiny_model):
    from disco_pyserini.splade import SpladeEncoder

    with pytest.raises(SettingError, match="backend"):
        SpladeEncoder(EncoderSpec(tiny_model, backend="onnx"))


def test_the_first_use_exports_into_the_cache_once(tiny_model, tmp_path, monkeypatch):
    from disco_pyserini.onnx_export import cached_export, is_export

    monkeypatch.setenv("DISCO_PYSERINI_CACHE", str(tmp_path))
    folder = cached_export(tiny_model)
    assert is_export(folder) and folder.parent == tmp_path / "onnx"
    written = (folder / "model.onnx").stat().st_mtime_ns
    assert cached_export("splade-tiny") == folder  # the preset, the same weights: the same export
    assert (folder / "model.onnx").stat().st_mtime_ns == written


@pytest.mark.parametrize("command", ["search", "encode-queries", "explain", "serve"])
def test_every_command_takes_backend(command):
    from disco_pyserini.cli import build_parser

    required = {"search": ["--index", "i", "--topics", "t", "--output", "o"],
                "encode-queries": ["--topics", "t", "--model", "m", "--output", "o.jsonl"],
                "explain": ["--index", "i", "--model", "m", "--conversation", "[[\"q\", null]]"],
                "serve": ["--index", "i"]}[command]
    args = build_parser().parse_args([command, *required, "--backend", "onnx"])
    assert args.backend == "onnx"
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, *required, "--backend", "tensorflow"])


def test_python_m_search_takes_backend():
    from disco_pyserini.commands.pyserini_search import build_parser

    ours, rest = build_parser().parse_known_args(["--encoder", "m", "--topics", "t", "--backend", "onnx",
                                                  "--index", "i", "--output", "o"])
    assert ours.backend == "onnx" and "--backend" not in rest


@pytest.mark.java
def test_search_with_onnx_imports_neither_torch_nor_transformers(sample_index, onnx_tiny, onnx_encoding,
                                                                   tiny_encoder, tmp_path):
    topics = sample_path("topics.jsonl")
    run = tmp_path / "onnx.trec"
    script = ("import sys; from disco_pyserini.cli import main; "
              f"code = main(['-q', 'search', '--backend', 'onnx', '--index', {str(sample_index / 'index')!r}, "
              f"'--topics', {topics!r}, '--model', {str(onnx_tiny)!r}, '--output', {str(run)!r}, "
              "'--no-query-cache']); "
              "print('IMPORTED', [m for m in ('torch', 'transformers') if m in sys.modules]); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "IMPORTED []" in result.stdout
    assert json.loads((tmp_path / "onnx.trec.json").read_text())["encoder"]["backend"] == "onnx"
    torch_run = tmp_path / "torch.trec"
    assert main(["-q", "search", "--index", str(sample_index / "index"), "--topics", topics, "--model",
                 "splade-tiny", "--output", str(torch_run), "--no-query-cache"]) == 0
    # where a turn's integer query is the same on both backends, its ranking is the same
    texts = [t.query_text("disco") for t in read_topics(topics)]
    from disco_pyserini.queries import QueryEncoding

    same = {t.query_id for t, a, b in zip(read_topics(topics), onnx_encoding.encode_many(texts),
                                          QueryEncoding(tiny_encoder).encode_many(texts)) if a == b}
    assert len(same) >= 45

    def lines(path):
        return [line for line in path.read_text().splitlines() if line.split()[0] in same]

    assert lines(run) == lines(torch_run)


@pytest.mark.java
def test_disco_query_encoder_takes_the_onnx_backend(onnx_tiny, onnx_encoding):
    from disco_pyserini.query_encoder import DiscoQueryEncoder

    encoder = DiscoQueryEncoder(str(onnx_tiny), backend="onnx")
    conversation = [("what is a shark?", "a fish that lives in the sea."), ("do they sleep?", None)]
    assert encoder.encoding.describe()["backend"] == "onnx"
    assert encoder.encode(conversation) == onnx_encoding.encode_one(conversation)
