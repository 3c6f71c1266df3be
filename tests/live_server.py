"""Helpers of the server tests: the sample's index, and a real `disco-pyserini serve` process on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 300  # imports torch and transformers, starts Java, loads the model: ~10 s on 2 idle cores


def build_sample_index(root: Path, encoder: Any, extra: dict[str, str] | None = None) -> Path:
    """The 155 sample passages (and ``extra``, ``{doc_id: text}``), encoded with ``encoder`` and
    indexed under ``root`` (``root/index``)."""
    from disco_pyserini.encode.collection import encode_collection
    from disco_pyserini.index.lucene import build_index
    from disco_pyserini.pipeline.demo import sample_path

    corpus = [sample_path("corpus.jsonl")]
    if extra:
        corpus.append(str(root / "extra.jsonl"))
        with open(corpus[-1], "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"id": doc_id, "contents": text}, ensure_ascii=False) + "\n"
                              for doc_id, text in extra.items())
    encode_collection(corpus, str(root / "collection"), encoder, docs_per_part=50, progress=False)
    build_index(str(root / "collection"), str(root / "index"), threads=2)
    return root / "index"


class LiveServer:
    """``disco-pyserini serve ARGS --port 0`` in a child process; ``url`` once it listens."""

    def __init__(self, args: list[str]) -> None:
        command = [sys.executable, "-c", "import sys; from disco_pyserini.cli import main; sys.exit(main())",
                   "serve", *args, "--port", "0"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env=dict(os.environ))
        self.stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.url = self._wait_for_url()

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def _wait_for_url(self) -> str:
        found: list[str] = []

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                if line.startswith("serving "):
                    found.append(line.split()[1])
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(STARTUP_SECONDS)
        if not found:
            self.stop()
            raise RuntimeError("the server did not start: " + "".join(self.stderr[-20:]))
        return found[0]

    def request(self, path: str, body: Any = None, *, raw: bytes | None = None, method: str | None = None,
                timeout: float = 120) -> tuple[int, bytes]:
        """``(status, body bytes)``; ``body`` is sent as JSON, ``raw`` as it is."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode("utf-8"))
        request = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data is not None else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def json(self, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
        status, content = self.request(path, body, **options)
        return status, json.loads(content)

    def stop(self) -> int | None:
        """Stop the server as Ctrl-C would (SIGINT); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
                return None
        return self.process.returncode


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
