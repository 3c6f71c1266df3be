"""Configurations ship with the package: listed and run by name, inputs found beside the file, outputs where it runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import REPO
from disco_pyserini.cli import main
from disco_pyserini.errors import UsageError
from disco_pyserini.pipeline.config import CONFIG_DIR, find_config, load_config, shipped_configs

CONFIG = """\
name: paths
corpus: [data/corpus.jsonl, /abs/other.jsonl]
collection: work/collection
index: work/index
topics:
  path: runs/paths/topics.jsonl
  format: cast2020
  inputs: [cast/topics.json]
  passages: data/passages.jsonl
qrels: cast/qrels.txt
document_model: my-model
searches:
  - {name: raw, query_model: naver/splade-v3, query_mode: raw}
  - {name: tiny, query_model: splade-tiny, query_mode: raw}
"""


def write_config(folder: Path, text: str = CONFIG) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "my-model").mkdir(exist_ok=True)
    path = folder / "paths.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_inputs_resolve_against_the_config_folder_and_outputs_against_the_current_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = tmp_path / "experiments" / "mine"
    config = load_config(str(write_config(here)))
    assert config.corpus == (str(here / "data" / "corpus.jsonl"), "/abs/other.jsonl")
    assert config.topics.inputs == (str(here / "cast" / "topics.json"),)
    assert config.topics.passages == str(here / "data" / "passages.jsonl")
    assert config.qrels == str(here / "cast" / "qrels.txt")
    assert config.document_model == str(here / "my-model")  # a folder beside the configuration
    assert [s.query_model for s in config.searches] == ["naver/splade-v3", "splade-tiny"]  # hub id, preset
    # written: relative to the current folder, as written
    assert (config.collection, config.index, config.runs, config.topics.path) == (
        "work/collection", "work/index", "runs/paths", "runs/paths/topics.jsonl")


def test_roots_given_on_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = str(write_config(tmp_path / "conf"))
    config = load_config(path, input_root=str(tmp_path / "data-root"), output_root=str(tmp_path / "out"))
    assert config.corpus[0] == str(tmp_path / "data-root" / "data" / "corpus.jsonl")
    assert config.runs == str(tmp_path / "out" / "runs" / "paths")
    assert config.index == str(tmp_path / "out" / "work" / "index")
    old = load_config(path, input_root=".")  # the behaviour before configurations moved: all from the current folder
    assert old.corpus[0] == "data/corpus.jsonl" and old.qrels == "cast/qrels.txt" and old.document_model == "my-model"


def test_a_topics_file_without_format_is_an_input(tmp_path):
    text = CONFIG.replace("topics:\n  path: runs/paths/topics.jsonl\n  format: cast2020\n  inputs: [cast/topics.json]\n"
                          "  passages: data/passages.jsonl\n", "topics: sample/topics.jsonl\n")
    config = load_config(str(write_config(tmp_path / "c", text)))
    assert config.topics.path == str(tmp_path / "c" / "sample" / "topics.jsonl")


def test_shipped_configurations_are_found_by_name_and_listed(capsys):
    shipped = shipped_configs()
    assert find_config("demo") == find_config("demo.yaml") == shipped["demo"] == os.path.join(CONFIG_DIR, "demo.yaml")
    with pytest.raises(UsageError, match=r"nope: no such configuration file, nor a shipped configuration \(cast2019"):
        find_config("nope")
    assert main(["run", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    for name, path in shipped.items():
        first_comment = Path(path).read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        assert any(line.split(None, 1) == [name, first_comment] for line in listed), (name, listed)
    assert CONFIG_DIR in listed[-1]


def test_the_demo_reads_the_sample_shipped_beside_it():
    config = load_config(shipped_configs()["demo"])
    sample = os.path.join(os.path.dirname(CONFIG_DIR), "sample")
    assert config.corpus == (os.path.join(sample, "corpus.jsonl"),)
    assert config.qrels == os.path.join(sample, "qrels.txt")
    assert config.topics.path == os.path.join(sample, "topics.jsonl") and config.runs == "runs/demo-config"


def test_a_missing_input_is_named_before_anything_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = write_config(tmp_path / "conf")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"disco-pyserini: error: {path}: corpus {tmp_path / 'conf' / 'data' / 'corpus.jsonl'} does not "
                   f"exist (and 4 more); relative inputs are read from the configuration's folder: give --input-root "
                   f"DIR for the folder that holds them, or edit a copy of the configuration"]
    assert not (tmp_path / "work").exists() and not (tmp_path / "runs").exists()


def copy_source(target: Path) -> Path:
    """What a wheel is built from: the packaging files, the hook module and the package."""
    target.mkdir()
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "_disco_pyserini_hook.py"):
        shutil.copy2(REPO / name, target / name)
    shutil.copytree(REPO / "disco_pyserini", target / "disco_pyserini", ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.mark.java
@pytest.mark.slow
def test_the_installed_wheel_runs_its_demo_configuration_from_an_unrelated_folder(tmp_path, tiny_model):
    """A regular (non-editable) install: the wheel's .pth hook and its configurations, used from elsewhere."""
    import setuptools

    if tuple(int(p) for p in setuptools.__version__.split(".")[:2]) < (70, 1):
        pytest.skip(f"setuptools {setuptools.__version__} builds wheels only with the `wheel` package")
    source = copy_source(tmp_path / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=600)
    (wheel,) = (tmp_path / "dist").glob("disco_pyserini-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=600)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies (torch, pyserini...) from this environment; the package itself from the wheel only
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True,
                   capture_output=True, timeout=600)
    assert (site / "disco_pyserini_hook.pth").is_file()
    assert (site / "disco_pyserini" / "configs" / "demo.yaml").is_file()
    shipped_before = sorted(os.listdir(site / "disco_pyserini" / "configs"))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "JDK_HOME", "JRE_HOME", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/bin", "/bin"])  # a system java, if any, comes first
    tool = str(venv / "bin" / "disco-pyserini")
    listed = subprocess.run([tool, "run", "--list"], env=env, cwd=elsewhere, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert str(site / "disco_pyserini" / "configs") in listed.stdout and str(REPO) not in listed.stdout
    assert {line.split()[0] for line in listed.stdout.splitlines()[:-1]} == set(shipped_configs())

    hook = subprocess.run([python, "-c", "import pyserini.pyclass, _disco_pyserini_hook, jnius;"
                           "print(_disco_pyserini_hook.__file__);"
                           "print(jnius.autoclass('java.lang.System').getProperty('java.specification.version'))"],
                          env=env, cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert hook.returncode == 0 and hook.stdout.split() == [str(site / "_disco_pyserini_hook.py"), "21"], hook.stderr

    ran = subprocess.run([tool, "-q", "run", "demo"], env=env, cwd=elsewhere, capture_output=True, text=True,
                         timeout=1200)
    assert ran.returncode == 0, ran.stderr[-3000:]
    runs = elsewhere / "runs" / "demo-config"
    assert sorted(p.name for p in runs.glob("*.trec")) == ["disco.trec", "history.trec", "raw.trec", "rewrite.trec"]
    summary = json.loads((runs / "compare.json").read_text())
    assert summary["judged"] == 50 and set(summary["means"]) == {"raw", "history", "disco", "rewrite"}
    assert "written: runs/demo-config/compare.md" in ran.stdout
    assert sorted(os.listdir(site / "disco_pyserini" / "configs")) == shipped_before  # nothing written there
