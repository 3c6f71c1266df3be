"""The CACM test collection (3,204 abstracts, 64 queries, 52 judged) as Anserini distributes it.

``cacm.tar.gz`` holds ``CACM-####.html`` files: a ``<pre>`` block with the title, often an
abstract, then a citation block that starts with ``CACM <Month>, <Year>``. A document's text is
its title and abstract (``title + ". " + abstract``); the citation block is left out.
``topics.cacm.txt`` holds the queries as ``<DOC><DOCNO> n </DOCNO> text </DOC>``.
"""

from __future__ import annotations

import html
import os
import re
import tarfile
from collections.abc import Iterator

from ..errors import InputError
from ..io.corpus import Document, document_text
from ..io.topics import Topic

_CITATION = re.compile(r"^CACM\s+\w+,\s*\d{4}")
_TAG = re.compile(r"<[^>]+>")
_QUERY = re.compile(r"<DOC>\s*<DOCNO>\s*(\d+)\s*</DOCNO>(.*?)</DOC>", re.S)


def parse_document(name: str, raw: str) -> Document:
    """One ``CACM-####.html`` file as a document (id ``CACM-####``)."""
    doc_id = os.path.basename(name).rsplit(".", 1)[0]
    text = html.unescape(_TAG.sub("", raw))
    blocks = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text.strip())]
    blocks = [b for b in blocks if b]
    if not blocks:
        return Document(doc_id, "")
    title, body = blocks[0], []
    for block in blocks[1:]:
        if _CITATION.match(block):
            break
        body.append(block)
    return Document(doc_id, document_text(title, " ".join(body)))


def read_cacm_corpus(path: str) -> Iterator[Document]:
    """Every document of ``cacm.tar.gz``, in id order."""
    if not os.path.isfile(path):
        raise InputError(path, "no such file", fix="point at cacm.tar.gz")
    with tarfile.open(path) as archive:
        members = sorted((m for m in archive.getmembers() if m.isfile() and m.name.endswith(".html")),
                         key=lambda m: m.name)
        if not members:
            raise InputError(path, "the archive holds no CACM-*.html files")
        for member in members:
            handle = archive.extractfile(member)
            assert handle is not None  # a regular file
            yield parse_document(member.name, handle.read().decode("utf-8", errors="strict"))


def read_cacm_topics(path: str) -> list[Topic]:
    """The queries of ``topics.cacm.txt`` as one-turn conversations."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    topics = [Topic(number, (((" ".join(body.split())), None),)) for number, body in _QUERY.findall(text)]
    if not topics:
        raise InputError(path, "no <DOC><DOCNO> n </DOCNO> ... </DOC> queries found")
    return topics
