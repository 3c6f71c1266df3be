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
from disco_pyserini.encode.spec import EncoderSpec, output_identity
from disco_pyserini.errors import SettingError
from disco_pyserini.io.topics import read_topics
from disco_pyserini.pipeline.demo import sample_path

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
    from disco_pyserini.search.queries import QueryEncoding

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

    from disco_pyserini.encode.splade import splade_pool

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

    from disco_pyserini.encode.onnx_encoder import load_tokenizer

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
    from disco_pyserini.search.queries import QueryEncoding

    topics = read_topics(sample_path("topics.jsonl"))[:6]
    torch_encoding = QueryEncoding(EncoderSpec(tiny_model, side="query", backend="torch"))
    torch_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert torch_encoding.last_encoded == 6
    onnx_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert onnx_encoding.last_encoded == 6  # nothing taken from the torch entries
    onnx_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert onnx_encoding.last_encoded == 0
    torch_encoding.encode_topics(topics, "disco", cache=str(tmp_path))
    assert torch_encoding.last_encoded == 0


def test_the_torch_encoder_refuses_the_onnx_backend(tiny_model):
    from disco_pyserini.encode.splade import SpladeEncoder

    with pytest.raises(SettingError, match="backend"):
        SpladeEncoder(EncoderSpec(tiny_model, backend="onnx"))


def test_the_default_backend_is_onnx_for_queries_on_the_cpu_and_torch_elsewhere(monkeypatch):
    from disco_pyserini.encode import spec as spec_module
    from disco_pyserini.encode.spec import default_backend

    monkeypatch.setattr(spec_module, "cuda_present", lambda: False)
    assert EncoderSpec("m", side="query").backend == "auto"
    assert EncoderSpec("m", side="query").resolved_backend() == "onnx"
    assert EncoderSpec("m", side="query", device="cpu").resolved_backend() == "onnx"
    assert EncoderSpec("m", side="document").resolved_backend() == "torch"  # documents stay on torch
    assert EncoderSpec("m", side="query", device="cuda:0").resolved_backend() == "torch"
    assert EncoderSpec("m", side="query", device="cpu", precision="bfloat16").resolved_backend() == "torch"
    for backend in ("torch", "onnx"):  # a named backend always wins
        assert EncoderSpec("m", side="query", backend=backend).resolved_backend() == backend
        assert EncoderSpec("m", side="document", backend=backend).resolved_backend() == backend
    assert default_backend("query", None, "auto") == "onnx"
    monkeypatch.setattr(spec_module, "cuda_present", lambda: True)  # device None would run on that GPU
    assert EncoderSpec("m", side="query").resolved_backend() == "torch"
    assert EncoderSpec("m", side="query", device="cpu").resolved_backend() == "onnx"


def test_cuda_present_reads_cuda_visible_devices(monkeypatch):
    from disco_pyserini.encode.spec import cuda_present

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert cuda_present() is False
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_present() is False


def test_the_default_builds_the_backend_it_records_and_keys(onnx_encoding, tiny_model, monkeypatch, tmp_path):
    from disco_pyserini.encode import spec as spec_module
    from disco_pyserini.encode.splade import SpladeEncoder
    from disco_pyserini.search.queries import QueryEncoding

    monkeypatch.setattr(spec_module, "cuda_present", lambda: False)
    default = QueryEncoding(tiny_model)
    assert default.describe()["backend"] == "onnx"
    assert default.cache_key("disco") == onnx_encoding.cache_key("disco")
    torch_encoding = QueryEncoding(tiny_model, backend="torch")
    assert torch_encoding.describe()["backend"] == "torch"
    assert "backend" not in torch_encoding.cache_key("disco")  # torch caches as they were
    assert default.cache_key("disco") != torch_encoding.cache_key("disco")
    # the torch class itself runs torch whatever the spec left to the default, and records so
    assert SpladeEncoder(EncoderSpec(tiny_model, side="query")).describe()["backend"] == "torch"
    # a record names the backend that ran, so rebuilding it runs that backend again
    assert EncoderSpec.from_params(default.splade.spec.to_params()).resolved_backend() == "onnx"
    assert output_identity({**default.describe(), "backend": "auto"}) == output_identity(default.describe())


def test_int8_is_an_explicit_opt_in_of_the_onnx_backend_recorded_and_keyed(onnx_tiny, onnx_encoding, tiny_model):
    from disco_pyserini.encode.splade import SpladeEncoder
    from disco_pyserini.search.queries import QueryEncoding

    int8 = QueryEncoding(EncoderSpec(str(onnx_tiny), side="query", precision="int8"))  # auto: onnx
    described = int8.describe()
    assert (described["backend"], described["precision"]) == ("onnx", "int8")
    assert (onnx_tiny / "model.int8.onnx").is_file()
    made = json.loads((onnx_tiny / "model.int8.json").read_text())
    assert made["weight_type"] == "QInt8" and made["quantization"].endswith("quantize_dynamic")
    written = (onnx_tiny / "model.int8.onnx").stat().st_mtime_ns
    QueryEncoding(EncoderSpec(str(onnx_tiny), side="query", precision="int8", backend="onnx"))
    assert (onnx_tiny / "model.int8.onnx").stat().st_mtime_ns == written  # made once
    assert int8.cache_key("disco") != onnx_encoding.cache_key("disco")  # never served as float32's
    assert output_identity(described)["precision"] == "int8"
    conversation = [("what is a shark?", "a fish that lives in the sea."), ("do they sleep?", None)]
    quantized, exact = int8.encode_one(conversation), onnx_encoding.encode_one(conversation)
    assert quantized != exact  # another graph ...
    assert len(set(quantized) & set(exact)) >= 0.8 * len(exact)  # ... of the same model
    with pytest.raises(SettingError, match="int8"):
        EncoderSpec(tiny_model, side="query", precision="int8", backend="torch")
    with pytest.raises(SettingError, match="int8"):
        EncoderSpec(tiny_model, side="document", precision="int8")
    with pytest.raises(SettingError, match="int8"):
        SpladeEncoder(EncoderSpec(tiny_model, side="query", precision="int8"))


def test_the_tokenizer_view_gives_transformers_ids_offsets_and_tokens(onnx_encoding, tiny_encoder):
    # explanations and serve's highlighting read these (explain.read_input, serve's spans)
    view, reference = onnx_encoding.splade.tokenizer, tiny_encoder.tokenizer
    texts = sample_texts()
    options = {"return_offsets_mapping": True, "return_attention_mask": False, "return_token_type_ids": False}
    for arguments in ({"add_special_tokens": True, "truncation": False},
                      {"add_special_tokens": True, "truncation": True, "max_length": 16},
                      {"add_special_tokens": False, "truncation": False}):
        ours, theirs = view(texts, **arguments, **options), reference(texts, **arguments, **options)
        assert ours["input_ids"] == theirs["input_ids"]
        assert ours["offset_mapping"] == [[tuple(o) for o in row] for row in theirs["offset_mapping"]]
        single = view(texts[0], **arguments, **options)
        assert single["input_ids"] == ours["input_ids"][0]
    ids = ours["input_ids"][0]
    assert view.convert_ids_to_tokens(ids) == reference.convert_ids_to_tokens(ids) and view.is_fast
    assert [view.tokenize(text) for text in texts] == [reference.tokenize(text) for text in texts]


def test_an_explanation_reads_the_same_input_on_both_backends(onnx_encoding, tiny_encoder):
    from disco_pyserini.search.explain import query_segments, read_input
    from disco_pyserini.search.queries import QueryEncoding

    torch_encoding = QueryEncoding(tiny_encoder)
    for topic in read_topics(sample_path("topics.jsonl"))[:8]:
        text, segments = query_segments(topic, "disco")
        ours = read_input(onnx_encoding, text, segments)
        assert ours == read_input(torch_encoding, text, segments) and ours.sources


def test_the_commands_default_to_auto():
    from disco_pyserini.cli import build_parser

    args = build_parser().parse_args(["encode-queries", "--topics", "t", "--model", "m", "--output", "o.jsonl"])
    assert args.backend == "auto"


def test_the_first_use_exports_into_the_cache_once(tiny_model, tmp_path, monkeypatch):
    from disco_pyserini.encode.onnx_export import cached_export, is_export

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
    assert main(["-q", "search", "--backend", "torch", "--index", str(sample_index / "index"), "--topics", topics,
                 "--model", "splade-tiny", "--output", str(torch_run), "--no-query-cache"]) == 0
    assert json.loads((tmp_path / "torch.trec.json").read_text())["encoder"]["backend"] == "torch"
    # where a turn's integer query is the same on both backends, its ranking is the same
    texts = [t.query_text("disco") for t in read_topics(topics)]
    from disco_pyserini.search.queries import QueryEncoding

    same = {t.query_id for t, a, b in zip(read_topics(topics), onnx_encoding.encode_many(texts),
                                          QueryEncoding(tiny_encoder).encode_many(texts)) if a == b}
    assert len(same) >= 45

    def lines(path):
        return [line for line in path.read_text().splitlines() if line.split()[0] in same]

    assert lines(run) == lines(torch_run)


@pytest.mark.java
def test_disco_query_encoder_takes_the_onnx_backend(onnx_tiny, onnx_encoding):
    from disco_pyserini.search.query_encoder import DiscoQueryEncoder

    encoder = DiscoQueryEncoder(str(onnx_tiny), backend="onnx")
    conversation = [("what is a shark?", "a fish that lives in the sea."), ("do they sleep?", None)]
    assert encoder.encoding.describe()["backend"] == "onnx"
    assert encoder.encode(conversation) == onnx_encoding.encode_one(conversation)
