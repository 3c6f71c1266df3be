"""EncoderSpec: settings that validate themselves, round-trip through an artifact's record, and
tell the settings that decide the bytes from those that only decide the speed. No model is loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from disco_pyserini.encode.spec import EncoderSpec, output_identity
from disco_pyserini.errors import SettingError

# what disco_collection.json held under "encoder" before the spec existed (its scale sat beside it)
OLD_RECORD = {"model": "/models/splade-tiny", "model_sha256": "a" * 64, "max_length": 256, "precision": "float32",
              "vocabulary_size": 30522, "vocabulary_sha256": "b" * 64}


@pytest.mark.parametrize("settings, setting, problem", [
    ({"max_length": 1}, "max_length", "must be at least 2 (got 1)"),
    ({"batch_size": 0}, "batch_size", "must be at least 1 (got 0)"),
    ({"threads": 0}, "threads", "must be at least 1 (got 0)"),
    ({"precision": "int4"}, "precision", "'int4': choose one of auto, float32, bfloat16, float16, int8"),
    ({"scale": 0}, "scale", "must be a positive number (got 0)"),
    ({"scale": float("nan")}, "scale", "must be a positive number (got nan)"),
    ({"side": "both"}, "side", "'both': choose one of document, query"),
    ({"model": ""}, "model", "name a preset"),
])
def test_bad_settings_are_named_as_the_library_names_them(settings, setting, problem):
    with pytest.raises(SettingError) as error:
        EncoderSpec(**{"model": "m", **settings})
    assert error.value.setting == setting and problem in error.value.problem
    assert error.value.with_flag({"model": "--encoder"}).startswith({"model": "--encoder"}.get(
        setting, "--" + setting.replace("_", "-")) + " ")


def test_params_round_trip_through_json():
    spec = EncoderSpec("splade-tiny", side="query", max_length=64, scale=50.0, precision="float32", batch_size=7,
                       device="cpu", threads=3)
    params = json.loads(json.dumps(spec.to_params()))
    assert params == {"model": "splade-tiny", "side": "query", "max_length": 64, "scale": 50.0,
                      "precision": "float32", "batch_size": 7, "device": "cpu", "threads": 3, "backend": "auto"}
    assert EncoderSpec.from_params(params) == spec


def test_a_record_written_before_the_spec_existed_is_read_with_its_scale_beside_it():
    spec = EncoderSpec.from_params(OLD_RECORD, scale=100)
    assert spec == EncoderSpec("/models/splade-tiny", max_length=256, scale=100, precision="float32", backend="torch")
    with pytest.raises(SettingError, match="max_len is not an encoder setting"):
        EncoderSpec.from_params({**OLD_RECORD, "max_len": 3})


def test_speed_settings_and_the_models_name_do_not_change_the_output_identity():
    record = {**OLD_RECORD, **EncoderSpec("/models/splade-tiny", precision="float32").to_params()}  # as run
    faster = {**record, "batch_size": 5, "threads": 2, "device": "cpu", "model": "/elsewhere/splade-tiny"}
    assert output_identity(faster) == output_identity(record)
    assert output_identity(OLD_RECORD, scale=100) == output_identity(record)  # old records still match
    for change in ({"max_length": 128}, {"scale": 50}, {"precision": "bfloat16"}, {"model_sha256": "c" * 64},
                   {"vocabulary_sha256": "d" * 64}):
        assert output_identity({**record, **change}) != output_identity(record), change


def test_the_spec_module_imports_no_heavy_library():
    """The command line's option definitions import it: --help must not start torch."""
    code = ("import sys, disco_pyserini.encode.spec; "
            "print(sorted(m for m in ('numpy', 'torch', 'transformers', 'pyserini') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
