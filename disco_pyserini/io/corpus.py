"""Reading document corpora: JSONL files, streamed, one document per line.

Accepted records: Pyserini's ``{"id", "contents"}`` and ``{"id", "title", "text"}`` (also
``_id``/``docid`` for the id, as in BEIR and ir_datasets exports). A document's text is
``title + ". " + text`` where a title exists, as in the DiSCo reference code.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from ..errors import InputError
from .jsonl import read_jsonl

ID_FIELDS = ("id", "_id", "docid", "doc_id")
CORPUS_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz")
FIX = 'write {"id": "...", "contents": "..."} or {"id": "...", "title": "...", "text": "..."}'


class Document(NamedTuple):
    doc_id: str
    text: str


def document_text(title: str | None, text: str) -> str:
    """``title + ". " + text`` where a title exists, else the text."""
    title = (title or "").strip()
    text = text.strip()
    if title and text:
        return f"{title}. {text}"
    return title or text


def corpus_files(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The JSONL files of ``paths`` (files, or folders of ``*.jsonl``/``*.json``), in a fixed order."""
    files: list[str] = []
    for path in map(os.fspath, paths):
        if os.path.isdir(path):
            found = sorted(f for f in glob.glob(os.path.join(path, "**", "*"), recursive=True)
                           if f.endswith(CORPUS_SUFFIXES) and os.path.isfile(f))
            if not found:
                raise InputError(path, "the folder holds no .jsonl or .json files", fix="point --corpus at JSONL files")
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise InputError(path, "no such file or folder", fix="check --corpus")
    return files


SURROGATE_FIX = "write the character whole (a \\ud83d\\udc1d pair, or the character itself), or remove the stray half"


def lone_surrogate(text: str) -> int | None:
    """The position of the first unpaired surrogate of ``text`` (JSON's ``"\\ud800"`` decodes to one:
    half of a character, which UTF-8 and the tokenizers cannot take), or ``None``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


def parse_document(record: Any, path: str, line: int) -> Document:
    if not isinstance(record, dict):
        raise InputError(path, "a document must be a JSON object", line=line, fix=FIX)
    doc_id = next((record[f] for f in ID_FIELDS if f in record), None)
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id.strip():
        raise InputError(path, "the document has no \"id\"", line=line, fix=FIX)
    if any(c.isspace() for c in doc_id):
        raise InputError(path, f"document id {doc_id!r} contains white space, which TREC run files cannot hold",
                         line=line, fix="use ids without spaces")
    if lone_surrogate(doc_id) is not None:
        raise InputError(path, "the document id holds a lone surrogate (half of a character)", line=line,
                         fix=SURROGATE_FIX)
    if "contents" in record:
        text = record["contents"]
        if not isinstance(text, str):
            raise InputError(path, "\"contents\" must be a string", line=line, record=f"id {doc_id}")
        _check_surrogates(path, line, doc_id, contents=text)
        return Document(doc_id, text.strip())
    if "text" in record:
        text, title = record["text"], record.get("title")
        if not isinstance(text, str) or (title is not None and not isinstance(title, str)):
            raise InputError(path, "\"title\" and \"text\" must be strings", line=line, record=f"id {doc_id}")
        _check_surrogates(path, line, doc_id, title=title or "", text=text)
        return Document(doc_id, document_text(title, text))
    raise InputError(path, "the document has neither \"contents\" nor \"text\"", line=line,
                     record=f"id {doc_id}", fix=FIX)


def _check_surrogates(path: str, line: int, doc_id: str, **fields: str) -> None:
    for name, text in fields.items():
        at = lone_surrogate(text)
        if at is not None:
            raise InputError(path, f"\"{name}\" holds a lone surrogate (half of a character) at character {at}",
                             line=line, record=f"id {doc_id}", fix=SURROGATE_FIX)


def iter_corpus(paths: Iterable[str]) -> Iterator[Document]:
    """Every document of the files, in order, streamed."""
    for path in paths:
        for line, record in read_jsonl(path):
            yield parse_document(record, path, line)
