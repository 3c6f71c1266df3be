"""The small JSON header every artifact carries: what it is and which package version wrote it."""

from __future__ import annotations

import os
from typing import Any


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("disco-pyserini")
    except PackageNotFoundError:
        return "0+unknown"


def artifact_header(kind: str) -> dict[str, Any]:
    return {"kind": kind, "package": "disco-pyserini", "package_version": package_version()}


FINGERPRINT_BLOCKS = 16
FINGERPRINT_BLOCK_BYTES = 1 << 16


def file_fingerprint(path: str) -> str:
    """A cheap identity of a (possibly huge) corpus file: sha256 of its size, its modification time
    and 16 blocks of 64 KiB spread evenly over it.

    It reads at most 1 MiB whatever the file's size (a 25M-passage corpus is tens of GB, which a
    full digest would read on every ``run``). Rewriting or replacing the file changes its
    modification time; a different file copied in with its old time kept (``cp -p``, ``rsync -t``)
    is caught by its size or its sampled blocks. Not caught: an edit that keeps the size, touches
    none of the blocks and restores the modification time.
    """
    import hashlib

    status = os.stat(path)
    digest = hashlib.sha256(f"{status.st_size}:{status.st_mtime_ns}".encode())
    with open(path, "rb") as handle:
        span = max(0, status.st_size - FINGERPRINT_BLOCK_BYTES)
        for block in range(FINGERPRINT_BLOCKS):
            handle.seek(span * block // (FINGERPRINT_BLOCKS - 1))
            digest.update(handle.read(FINGERPRINT_BLOCK_BYTES))
    return digest.hexdigest()


def file_sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
