"""The published checkpoints' path, offline (issue 20 §6): ``--model disco-human`` with a warm
HuggingFace cache and ``HF_HUB_OFFLINE=1``, as a user who downloaded the models once runs it.

The cache is laid out as huggingface_hub writes it (``HF_HOME/hub/models--owner--name/``: content
in ``blobs/`` named by the file's sha256 for LFS files and its git blob sha1 for the others,
``snapshots/REV/FILE`` relative symlinks to them, ``refs/main`` holding REV), with a BERT-base-shaped
SPLADE (random weights, the BERT uncased vocabulary that SPLADE-tiny ships) under both names the
preset reads: ``naver/splade-cocondenser-ensembledistil`` (documents) and ``slupart/splade-disco-human``
(queries). Each command runs in a subprocess with only that cache, as a user runs it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from disco_pyserini.encode.models import PRESETS
from disco_pyserini.pipeline.demo import sample_path

pytestmark = [pytest.mark.java, pytest.mark.slow]

CONVERSATION = "1"
LFS_FILES = ("model.safetensors",)  # the hub stores weights in LFS, small text files in git
HF_VARIABLES = ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_HUB_OFFLINE",
                "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "DISCO_PYSERINI_SPLADE_TINY")


def blob_name(data: bytes, lfs: bool) -> str:
    if lfs:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def put_in_hub_cache(hub: Path, repo_id: str, folder: Path, revision: str) -> Path:
    """``folder``'s files as the snapshot ``revision`` of ``repo_id`` in the hub cache ``hub``."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for source in sorted(folder.iterdir()):
        data = source.read_bytes()
        blob = repo / "blobs" / blob_name(data, source.name in LFS_FILES)
        if not blob.exists():
            blob.write_bytes(data)
        (snapshot / source.name).symlink_to(os.path.relpath(blob, snapshot))
    (repo / "refs" / "main").write_text(revision)  # the hub client writes the commit hash, no line break
    return snapshot


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory, tiny_model) -> Path:
    """``HF_HOME`` with both models of the ``disco-human`` preset, nothing else."""
    spec = importlib.util.spec_from_file_location("benchmarks_common", REPO / "benchmarks" / "_common.py")
    common = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(common)
    root = tmp_path_factory.mktemp("hf")
    model = common.bert_base_splade(root / "bert-base", tiny_model, seed=7)
    home = root / "hf-home"
    preset = PRESETS["disco-human"]
    for number, repo_id in enumerate((preset.document, preset.query)):
        revision = hashlib.sha1(f"{repo_id} {number}".encode()).hexdigest()
        put_in_hub_cache(home / "hub", repo_id, model, revision)
    return home


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """One conversation of the bundled sample and its judged passages (few, short: BERT-base is slow)."""
    root = tmp_path_factory.mktemp("hf-sample")
    topics = [line for line in open(sample_path("topics.jsonl"), encoding="utf-8")
              if json.loads(line)["qid"].split("_")[0] == CONVERSATION]
    judged = {line.split()[2] for line in open(sample_path("qrels.txt"), encoding="utf-8")
              if line.split()[0].split("_")[0] == CONVERSATION}
    passages = [line for line in open(sample_path("corpus.jsonl"), encoding="utf-8")
                if json.loads(line)["id"] in judged][:8]
    (root / "topics.jsonl").write_text("".join(topics), encoding="utf-8")
    (root / "corpus.jsonl").write_text("".join(passages), encoding="utf-8")
    return root


def offline_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HF_VARIABLES}
    env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    return env


def run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run(env, "-m", "disco_pyserini.cli", *args, cwd=cwd)


def test_disco_human_runs_offline_from_a_warm_hugging_face_cache(warm_cache, sample, tmp_path):
    env = offline_env(warm_cache)
    preset = PRESETS["disco-human"]
    cli(env, "-q", "encode", "--corpus", str(sample / "corpus.jsonl"), "--model", "disco-human",
        "--output", str(tmp_path / "collection"), cwd=tmp_path)
    collection = json.loads((tmp_path / "collection" / "disco_collection.json").read_text())
    assert collection["documents"] == 8 and preset.document in json.dumps(collection)

    cli(env, "-q", "index", "--collection", str(tmp_path / "collection"), "--index", str(tmp_path / "index"),
        cwd=tmp_path)
    cli(env, "-q", "search", "--index", str(tmp_path / "index"), "--topics", str(sample / "topics.jsonl"),
        "--model", "disco-human", "--output", str(tmp_path / "run.trec"), "--hits", "3", "--no-query-cache",
        cwd=tmp_path)
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert {line.split()[0] for line in lines} == {f"{CONVERSATION}_{turn}" for turn in range(1, 6)}
    assert preset.query in (tmp_path / "run.trec.json").read_text()

    code = ("import json\nfrom disco_pyserini import DiscoQueryEncoder\n"
            "encoder = DiscoQueryEncoder('disco-human')\n"
            "vector = encoder.encode('How do honeybees tell each other where the food is?')\n"
            "print(json.dumps([encoder.encoding.describe(), len(vector),"
            " all(isinstance(w, int) and w > 0 for w in vector.values())]))\n")
    described, terms, positive = json.loads(run(env, "-c", code, cwd=tmp_path).stdout.strip().splitlines()[-1])
    assert preset.query in json.dumps(described) and terms > 0 and positive

    explained = cli(env, "explain", "--index", str(tmp_path / "index"), "--model", "disco-human", "--topics",
                    str(sample / "topics.jsonl"), "--qid", f"{CONVERSATION}_3", "--hits", "2", cwd=tmp_path)
    assert explained.stdout.strip()
