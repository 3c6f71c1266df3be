"""Shared fixtures: the real SPLADE-tiny model and real data from ../shared, skipped when absent."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DISCO_PYSERINI_SHARED", REPO.parent / "shared"))
SPLADE_TINY = SHARED / "models" / "splade-tiny"
CACM = SHARED / "data" / "cacm"
CAST = SHARED / "data" / "cast"

if SPLADE_TINY.is_dir() and "DISCO_PYSERINI_SPLADE_TINY" not in os.environ:
    # the preset `splade-tiny` resolves to this copy instead of fetching the wheel from PyPI
    os.environ["DISCO_PYSERINI_SPLADE_TINY"] = str(SPLADE_TINY)


# tests never write into the user's cache (encoded-query cache, fetched models)
os.environ.setdefault("DISCO_PYSERINI_CACHE", tempfile.mkdtemp(prefix="disco-pyserini-test-cache-"))


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (tests read real data from ../shared)")
    return path


@pytest.fixture(scope="session")
def tiny_model() -> str:
    return str(need(SPLADE_TINY))


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model):
    from disco_pyserini.encode.splade import SpladeEncoder

    return SpladeEncoder(tiny_model)


@pytest.fixture(scope="session")
def cacm_documents():
    from disco_pyserini.datasets.cacm import read_cacm_corpus

    return list(read_cacm_corpus(str(need(CACM / "cacm.tar.gz"))))


def write_corpus(path: Path, documents) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps({"id": document.doc_id, "contents": document.text}) + "\n")
    return path


@pytest.fixture(scope="session")
def cacm_index(tmp_path_factory, cacm_documents, tiny_encoder):
    """A real Lucene impact index of the first 300 CACM documents, encoded with SPLADE-tiny."""
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.index.lucene import build_index

    root = tmp_path_factory.mktemp("cacm300")
    corpus = write_corpus(root / "corpus.jsonl", cacm_documents[:300])
    encode_collection([str(corpus)], str(root / "collection"), tiny_encoder, docs_per_part=100, progress=False)
    build_index(str(root / "collection"), str(root / "index"), threads=2)
    return root


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory, tiny_model) -> Path:
    """The bundled sample encoded with SPLADE-tiny as ``disco-pyserini encode`` does by default and
    indexed: ``collection/`` and ``index/`` under the returned folder, which tests only read."""
    from disco_pyserini.cli import main
    from disco_pyserini.pipeline.demo import sample_path

    root = tmp_path_factory.mktemp("sample")
    assert main(["-q", "encode", "--corpus", sample_path("corpus.jsonl"), "--model", "splade-tiny",
                 "--output", str(root / "collection")]) == 0
    assert main(["-q", "index", "--collection", str(root / "collection"), "--index", str(root / "index")]) == 0
    return root


def trec_eval_lines(qrels: str, run: str, *options: str) -> list[tuple[str, float]]:
    """trec_eval's summary lines (``all``), in its order; ``runid`` (text) left out."""
    from disco_pyserini.java import configure_java_home

    java = os.path.join(configure_java_home(), "bin", "java")
    import pyserini

    jar = glob.glob(os.path.join(os.path.dirname(pyserini.__file__), "resources", "jars", "anserini-*-fatjar.jar"))[0]
    command = [java, "-cp", jar, "trec_eval", *options, qrels, run]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return [(name, float(value)) for name, scope, value in (line.split() for line in output.splitlines())
            if scope == "all" and name != "runid"]


def close_to_trec_eval(ours: float, printed: float) -> bool:
    """trec_eval prints 4 decimals (rounding half up in the Java port): within half a unit of the last."""
    return abs(ours - printed) <= 0.00005 + 1e-9
