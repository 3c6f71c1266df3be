"""Experiment configurations: one YAML file per dataset, shipped in ``disco_pyserini/configs/``.

Relative paths the run *reads* (``corpus``, ``qrels``, ``topics.inputs``, ``topics.passages``, a
``topics.path`` given without ``format``, and a model that names a folder there) are relative to
the configuration file's folder, or to ``input_root``. Relative paths it *writes* (``collection``,
``index``, ``runs``, a ``topics.path`` converted from ``inputs``) are relative to the current
folder, or to ``output_root``: a configuration shipped inside the installed package then writes
where the command runs, never into site-packages. Example::

    name: cast2020
    corpus: [cast2019-2020/corpus]             # JSONL files or folders
    collection: work/cast2020/collection
    index: work/cast2020/index
    topics:
      path: runs/cast2020/topics.jsonl          # written from the inputs below when a format is given
      format: cast2020
      inputs: [cast/2020/2020_manual_evaluation_topics_v1.0.json]
    qrels: cast/2020/2020qrels.txt
    document_model: naver/splade-cocondenser-ensembledistil
    searches:                                  # or: query_model + query_modes
      - {name: raw, query_model: naver/splade-cocondenser-ensembledistil, query_mode: raw}
      - {name: disco, query_model: slupart/splade-disco-human, query_mode: disco}
    baseline: raw
    protocol: disco
    metrics: [recip_rank, ndcg_cut_3, "recall.10,100"]  # optional: trec_eval names (default: the protocol's)
    average: judged                          # or retrieved: the DiSCo reference code's averaging
    runs: runs/cast2020
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..errors import InputError, UsageError
from ..eval.evaluate import AVERAGES, PROTOCOLS, resolve_measures
from ..io.topics import check_query_mode

# the shipped configurations are package data of disco_pyserini itself (setup.cfg), one folder up from here
CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
CONFIG_README = os.path.join(CONFIG_DIR, "README.md")


@dataclass(frozen=True)
class TopicsSpec:
    path: str
    format: str | None = None
    inputs: tuple[str, ...] = ()
    passages: str | None = None

    def __post_init__(self) -> None:
        from ..datasets.conversational import FORMATS

        if self.format is not None and self.format not in FORMATS:
            raise ValueError(f"topics.format {self.format!r} is not one of {', '.join(FORMATS)}")
        if self.format is not None and not self.inputs:
            raise ValueError("topics.inputs lists the files to convert when topics.format is given")


@dataclass(frozen=True)
class SearchSpec:
    name: str
    query_model: str
    query_mode: str

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or any(c.isspace() for c in self.name):
            raise ValueError(f"search name {self.name!r} must be a non-empty file name without spaces")
        try:
            check_query_mode(self.query_mode)
        except Exception as error:
            raise ValueError(str(error)) from None


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    corpus: tuple[str, ...]
    collection: str
    index: str
    topics: TopicsSpec
    document_model: str
    searches: tuple[SearchSpec, ...]
    qrels: str | None = None
    protocol: str = "disco"
    baseline: str | None = None
    runs: str = ""
    hits: int = 1000
    max_length: int = 256
    scale: float = 100
    batch_size: int = 32
    threads: int = 1
    docs_per_part: int = 10_000
    rel_threshold: int | None = None
    metrics: tuple[str, ...] | None = None  # trec_eval measure names; None: the protocol's
    average: str = "judged"
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.searches:
            raise ValueError("no searches: give `searches` or `query_model` with `query_modes`")
        names = [s.name for s in self.searches]
        if len(set(names)) != len(names):
            raise ValueError(f"search names must be unique, got {names}")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the searches {names}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        if self.average not in AVERAGES:
            raise ValueError(f"average {self.average!r} is not one of {', '.join(AVERAGES)}")
        if self.metrics is not None:
            try:
                resolve_measures(self.metrics)
            except UsageError as error:
                raise ValueError(f"metrics: {error}") from None
        for name in ("hits", "max_length", "batch_size", "threads", "docs_per_part"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not self.scale > 0:
            raise ValueError("scale must be positive")
        if not self.runs:
            object.__setattr__(self, "runs", os.path.join("runs", self.name))


def _as_tuple(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{key} must be a path or a list of paths")


def config_from_mapping(data: Mapping[str, Any], source: str = "") -> ExperimentConfig:
    known = {f.name for f in fields(ExperimentConfig)} | {"query_model", "query_modes"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known - {'source'}))}")
    values = dict(data)
    for key in ("name", "corpus", "collection", "index", "topics", "document_model"):
        if key not in values:
            raise ValueError(f"missing key {key!r}")
    values["corpus"] = _as_tuple(values["corpus"], "corpus")
    if values.get("metrics") is not None:
        metrics = values["metrics"]
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
            raise ValueError("metrics is a list of trec_eval measure names, e.g. [recip_rank, ndcg_cut_3, "
                             "\"recall.10,100\"] (quote a name with a comma)")
        values["metrics"] = tuple(metrics)
    topics = values["topics"]
    if isinstance(topics, str):
        topics = {"path": topics}
    if not isinstance(topics, Mapping) or "path" not in topics:
        raise ValueError("topics is a topics JSONL path, or a mapping with path (and format, inputs, passages)")
    unknown_topics = sorted(set(topics) - {"path", "format", "inputs", "passages"})
    if unknown_topics:
        raise ValueError(f"unknown topics key(s) {', '.join(unknown_topics)}")
    values["topics"] = TopicsSpec(topics["path"], topics.get("format"),
                                  _as_tuple(topics.get("inputs", []), "topics.inputs"), topics.get("passages"))
    searches = values.pop("searches", None)
    query_model, modes = values.pop("query_model", None), values.pop("query_modes", None)
    if searches is None:
        if query_model is None or modes is None:
            raise ValueError("give `searches`, or `query_model` with `query_modes`")
        searches = [{"name": mode, "query_model": query_model, "query_mode": mode} for mode in modes]
    elif query_model is not None or modes is not None:
        raise ValueError("give either `searches` or `query_model` with `query_modes`, not both")
    if not isinstance(searches, list) or not all(isinstance(s, Mapping) for s in searches):
        raise ValueError("searches is a list of {name, query_model, query_mode}")
    parsed = []
    for search in searches:
        extra = sorted(set(search) - {"name", "query_model", "query_mode"})
        if extra or not {"name", "query_model", "query_mode"} <= set(search):
            raise ValueError(f"each search has exactly name, query_model and query_mode; got {dict(search)}")
        parsed.append(SearchSpec(str(search["name"]), str(search["query_model"]), str(search["query_mode"])))
    values["searches"] = tuple(parsed)
    return ExperimentConfig(**values, source=source)


def load_config(path: str, *, input_root: str | None = None, output_root: str | None = None) -> ExperimentConfig:
    """Read and validate a YAML experiment configuration, its relative paths resolved.

    Paths it reads resolve against ``input_root`` (default: the file's folder), paths it writes
    against ``output_root`` (default: the current folder, leaving them as written).
    """
    import yaml

    from ..io.jsonl import open_binary

    with open_binary(path) as handle:
        try:
            data = yaml.safe_load(handle.read().decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as error:
            line = getattr(getattr(error, "problem_mark", None), "line", None)
            raise InputError(path, f"not valid YAML ({str(error).splitlines()[0]})",
                             line=None if line is None else line + 1) from None
    if not isinstance(data, Mapping):
        raise InputError(path, "a configuration is a YAML mapping (name: ..., corpus: ..., ...)")
    try:
        config = config_from_mapping(data, source=path)
    except (ValueError, TypeError) as error:
        raise InputError(path, str(error), fix=f"the keys are listed in {CONFIG_README}") from None
    return resolve_paths(config, os.path.dirname(path) if input_root is None else input_root, output_root)


def _under(root: str | None, path: str) -> str:
    if not root or os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(root, path))


def _model_under(root: str | None, name: str) -> str:
    """A model that names a folder under ``root`` is that folder; a preset or hub id stays as it is."""
    from ..encode.models import PRESETS

    if not root or name in PRESETS or os.path.isabs(name) or not os.path.isdir(os.path.join(root, name)):
        return name
    return os.path.normpath(os.path.join(root, name))


def resolve_paths(config: ExperimentConfig, input_root: str | None, output_root: str | None) -> ExperimentConfig:
    """``config`` with relative input paths under ``input_root`` and output paths under ``output_root``."""
    topics = config.topics
    topics = replace(topics, path=_under(input_root if topics.format is None else output_root, topics.path),
                     inputs=tuple(_under(input_root, p) for p in topics.inputs),
                     passages=None if topics.passages is None else _under(input_root, topics.passages))
    searches = tuple(replace(s, query_model=_model_under(input_root, s.query_model)) for s in config.searches)
    return replace(config, corpus=tuple(_under(input_root, p) for p in config.corpus), topics=topics,
                   qrels=None if config.qrels is None else _under(input_root, config.qrels),
                   document_model=_model_under(input_root, config.document_model), searches=searches,
                   collection=_under(output_root, config.collection), index=_under(output_root, config.index),
                   runs=_under(output_root, config.runs))


def missing_inputs(config: ExperimentConfig) -> list[tuple[str, str]]:
    """The (key, path) of every file or folder the run reads that does not exist."""
    inputs = [("corpus", p) for p in config.corpus] + [("topics.inputs", p) for p in config.topics.inputs]
    if config.topics.format is None:
        inputs.append(("topics", config.topics.path))
    if config.topics.passages is not None:
        inputs.append(("topics.passages", config.topics.passages))
    if config.qrels is not None:
        inputs.append(("qrels", config.qrels))
    return [(key, path) for key, path in inputs if not os.path.exists(path)]


def shipped_configs() -> dict[str, str]:
    """The configurations shipped with the package: name -> path."""
    names = sorted(n for n in os.listdir(CONFIG_DIR) if n.endswith(".yaml")) if os.path.isdir(CONFIG_DIR) else []
    return {name[: -len(".yaml")]: os.path.join(CONFIG_DIR, name) for name in names}


def config_description(path: str) -> str:
    """The first comment line of a configuration file, its one-line description."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                return line.lstrip("#").strip()
            if line.strip():
                break
    return ""


def find_config(name_or_path: str) -> str:
    """A configuration file: an existing path, else the name of a shipped configuration (``demo``)."""
    if os.path.isfile(name_or_path):
        return name_or_path
    shipped = shipped_configs()
    name = name_or_path[: -len(".yaml")] if name_or_path.endswith(".yaml") else name_or_path
    if os.sep not in name and name in shipped:
        return shipped[name]
    raise UsageError(f"{name_or_path}: no such configuration file, nor a shipped configuration "
                     f"({', '.join(shipped)}; `disco-pyserini run --list` describes them)")
