"""Reading JSON lines with errors that name the file and line; writing files atomically."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from .errors import InputError


def open_binary(path: str) -> IO[bytes]:
    """The file, for reading bytes: iterate over its lines or ``read()`` it whole; ``.gz`` files are
    decompressed, and a truncated or corrupt one raises :class:`InputError` naming the line reached."""
    if not os.path.exists(path):
        raise InputError(path, "no such file", fix="check the path")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, expected a file")
    if path.endswith(".gz"):
        return _GzipLines(path)  # type: ignore[return-value]
    return open(path, "rb")


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)
_GZIP_FIX = "download the file again, or compress it again (`gzip -t FILE` tests a .gz file)"


class _GzipLines:
    """A ``.gz`` file read by lines, whose decompression errors (``EOFError``, ``zlib.error``,
    ``gzip.BadGzipFile``) become one :class:`InputError` with the file and the line reached."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lines = 0  # complete lines handed out so far
        self._file = gzip.open(path, "rb")

    def __enter__(self) -> _GzipLines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def readline(self) -> bytes:
        try:
            raw = self._file.readline()
        except _GZIP_ERRORS as error:
            raise self._error(error) from None
        self.lines += raw.endswith(b"\n")
        return raw

    def __iter__(self) -> Iterator[bytes]:
        while raw := self.readline():
            yield raw

    def read(self) -> bytes:
        return b"".join(self)

    def _error(self, error: Exception) -> InputError:
        line = self.lines + 1  # the line being read when decompression failed
        read = f"after {self.lines} complete line{'' if self.lines == 1 else 's'}"
        detail = str(error) or type(error).__name__
        if isinstance(error, EOFError):
            return InputError(self.path, f"the .gz file is truncated: it breaks off {read} ({detail})", line=line,
                              fix=_GZIP_FIX)
        if isinstance(error, gzip.BadGzipFile) and detail.startswith("Not a gzipped file") and self.lines == 0:
            return InputError(self.path, "not gzip-compressed, although its name ends in .gz", line=line,
                              fix="compress it with gzip, or drop .gz from its name")
        return InputError(self.path, f"the .gz file is corrupt {read} ({detail})", line=line, fix=_GZIP_FIX)


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


def read_json_object(path: str, what: str) -> dict[str, Any]:
    """A JSON file whose top level must be an object (metadata files); ``what`` names it in the error."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(path, f"{what} must be a JSON object, this one is a JSON {_json_kind(data)}",
                         fix="restore the file, or delete it and write it again with the command that made it")
    return data


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _create_beside(path: str) -> tuple[int, str]:
    """A new, empty temporary file in ``path``'s folder, opened for writing: ``(descriptor, its path)``.

    Created like ``open(path, "w")`` creates a file (mode 0666 less the umask, and a folder's
    default ACL), not like ``tempfile.mkstemp`` (0600, which ``os.replace`` would keep: a file
    that a colleague or a worker running as another user cannot read on shared storage).
    """
    folder, name = os.path.split(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


@contextmanager
def atomic_output(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """A file that appears at ``path`` only once it is completely written, with the mode a plain
    ``open()`` would give a new file under the current umask (a replaced file's mode is not kept)."""
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = _create_beside(path)
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
