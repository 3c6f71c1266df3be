"""Reading JSON lines with errors that name the file and line; writing files atomically.

JSON lines go through ``jsonlines``: its ``Reader`` over the lines of the plain or ``.gz`` stream
(:func:`read_jsonl`, :func:`read_jsonl_offsets`, :func:`read_jsonl_lines`), its ``InvalidLineError``
turned into :class:`InputError` at the line it numbers, its ``Writer`` for output
(:func:`write_jsonl`, :func:`jsonl_writer`). How it is used, and why:

* The Reader gets the file's raw byte lines, not text: it decodes each line itself, so invalid
  UTF-8 names its line and byte (a text stream would fail on a whole buffer, lines away).
* ``loads`` is the standard library's ``json.loads``, given the line without its line break, not
  jsonlines' default (orjson or ujson where installed): the messages tests and users see
  (``malformed JSON (Expecting value at column 7)``) stay the same on every machine, and with the
  line break left on, ``json`` reports a line cut short at "line 2, column 1" or as an "Invalid
  control character". orjson is not installed in the project's environment, so there is no faster
  ``loads`` to pass, nor a need for one: the Reader adds about 0.5 us a line (300,000 lines of
  ``{"a": 1}``), against about 35 us to parse a line of the 300,000-passage synthetic collection,
  which read at 25,600-30,700 passages/s of CPU time both before and after the change (2 CPUs
  shared, load average 7.4-8.4: the two are within the noise).
* ``allow_none=True``: a ``null`` line reaches the caller, which says what it expected there
  (``a document must be a JSON object``), as before.
* ``skip_empty=True`` skips lines blank in ASCII white space; a line of other white space (a
  no-break space), which the hand-written reader skipped, is now malformed JSON, as ``json`` says.
  As jsonlines does, one byte-order mark or RFC 7464 record separator (``\x1e``) at the start of
  a line is dropped, where the hand-written reader called it malformed JSON.
* The Reader numbers only the lines it fails on; :class:`_Counted`, the iterable it reads, numbers
  (and measures, for byte offsets) the lines it yields.

Kept hand-written: :func:`iter_lines` (lines of text, not JSON: runs, TSV topics), :func:`read_json`
(one JSON document, whose error names the line ``json`` found), the ``.gz`` stream
(:class:`_GzipLines`: jsonlines has no reader of compressed files, and decompression errors must
name the line reached) and :func:`atomic_output` (jsonlines opens files with ``open()``, which
would replace a file in place, half written if interrupted).
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import jsonlines

from ..errors import InputError


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


class _Counted:
    """Raw lines handed to a ``jsonlines.Reader`` without their line break, numbered from ``first``:
    after the Reader returns a record, :attr:`number` is its line and :attr:`start` the byte offset
    where the line begins."""

    __slots__ = ("_lines", "number", "start")

    def __init__(self, lines: Iterable[bytes], first: int = 1, offset: int = 0) -> None:
        self._lines = lines
        self.number = first - 1
        self.start = offset

    def __iter__(self) -> Iterator[bytes]:
        end = self.start
        for number, raw in enumerate(self._lines, self.number + 1):
            self.number, self.start, end = number, end, end + len(raw)
            yield raw.rstrip(b"\r\n")


def _invalid_line(error: jsonlines.InvalidLineError, path: str, number: int) -> InputError:
    cause = error.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return InputError(path, f"invalid UTF-8 at byte {cause.start} of the line", line=number,
                          fix="re-encode the file as UTF-8")
    if isinstance(cause, json.JSONDecodeError):
        return InputError(path, f"malformed JSON ({cause.msg} at column {cause.colno})", line=number,
                          fix="write one JSON object per line")
    return InputError(path, f"not a JSON line ({error.message})", line=number, fix="write one JSON object per line")


def _records(counted: _Counted, path: str) -> Iterator[Any]:
    """The Reader's records of ``counted``'s non-blank lines; an invalid line raises :class:`InputError`."""
    first = counted.number + 1
    reader = jsonlines.Reader(counted, loads=json.loads)
    try:
        yield from reader.iter(allow_none=True, skip_empty=True)
    except jsonlines.InvalidLineError as error:
        raise _invalid_line(error, path, first + error.lineno - 1) from None


def iter_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line, decoded as UTF-8, without its line break."""
    with open_binary(path) as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, _decode(raw, path, number)


def read_jsonl_lines(lines: Iterable[bytes], path: str, first: int = 1) -> Iterator[tuple[int, Any]]:
    """``(line number, object)`` for each non-blank line of ``lines``, raw lines of ``path`` from line ``first``."""
    counted = _Counted(lines, first)
    for record in _records(counted, path):
        yield counted.number, record


def read_jsonl(path: str) -> Iterator[tuple[int, Any]]:
    """``(line number, object)`` for each non-blank line of a JSONL file (``.gz`` allowed)."""
    with open_binary(path) as handle:
        yield from read_jsonl_lines(handle, path)


def read_jsonl_offsets(path: str) -> Iterator[tuple[int, int, Any]]:
    """``(line number, byte offset of the line, object)`` for each non-blank line of a plain JSONL file."""
    with open_binary(path) as handle:
        counted = _Counted(handle)
        for record in _records(counted, path):
            yield counted.number, counted.start, record


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


def jsonl_writer(handle: IO[Any]) -> jsonlines.Writer:
    """A ``jsonlines.Writer`` on an open text or binary file: one object a line, as
    ``json.dumps(obj, ensure_ascii=False)`` writes it."""
    return jsonlines.Writer(handle)


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Write ``records``, one JSON object a line, to ``path`` atomically; returns how many."""
    count = 0
    with atomic_output(path) as handle, jsonl_writer(handle) as writer:
        for record in records:
            writer.write(record)
            count += 1
    return count


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    with atomic_output(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True, ensure_ascii=False)
        handle.write("\n")
