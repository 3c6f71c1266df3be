"""The small JSON header every artifact carries: what it is and which package version wrote it."""

from __future__ import annotations

from typing import Any


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("disco-pyserini")
    except PackageNotFoundError:
        return "0+unknown"


def artifact_header(kind: str) -> dict[str, Any]:
    return {"kind": kind, "package": "disco-pyserini", "package_version": package_version()}


def file_sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
