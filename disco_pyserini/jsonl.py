"""Reading JSON lines with errors that name the file and line; writing files atomically."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from .errors import InputError


def open_binary(path: str) -> IO[bytes]:
    if not os.path.exists(path):
        raise InputError(path, "no such file", fix="check the path")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, expected a file")
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _decode(raw: bytes, path: str, number: int) -> str:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as error:
        raise InputError(path, f"invalid UTF-8 at byte {error.start} of the line", line=number,
                         fix="re-encode the file as UTF-8") from None


def _parse(text: str, path: str, number: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(path, f"malformed JSON ({error.msg} at column {error.colno})", line=number,
                         fix="write one JSON object per line") from None


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line, decoded as UTF-8, without its line break."""
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, _decode(raw, path, number)


def read_jsonl(path: str) -> Iterator[tuple[int, Any]]:
    """``(line number, object)`` for each non-blank line of a JSONL file (``.gz`` allowed)."""
    for number, text in iter_lines(path):
        if text.strip():
            yield number, _parse(text, path, number)


def read_jsonl_offsets(path: str) -> Iterator[tuple[int, int, Any]]:
    """``(line number, byte offset of the line, object)`` for each non-blank line of a plain JSONL file."""
    offset = 0
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            start, offset = offset, offset + len(raw)
            text = _decode(raw, path, number)
            if text.strip():
                yield number, start, _parse(text, path, number)


def read_json(path: str) -> Any:
    with open_binary(path) as handle:
        data = handle.read()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InputError(path, f"invalid UTF-8 at byte {error.start}", fix="re-encode the file as UTF-8") from None
    except json.JSONDecodeError as error:
        raise InputError(path, f"malformed JSON ({error.msg})", line=error.lineno) from None


@contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """A file that appears at ``path`` only once it is completely written."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=None if "b" in mode else "\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike[str], lines: Iterable[str]) -> int:
    """Write ``lines`` (each without its line break) to ``path`` atomically; returns how many."""
    count = 0
    with atomic_output(path) as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")
            count += 1
    return count


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    with atomic_output(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
