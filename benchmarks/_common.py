"""Shared pieces of the benchmarks: real data from ../shared, timing, the machine's matmul peak."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DISCO_PYSERINI_SHARED", REPO.parent / "shared"))
SPLADE_TINY = SHARED / "models" / "splade-tiny"
CACM = SHARED / "data" / "cacm"
CAST = SHARED / "data" / "cast"
sys.path.insert(0, str(REPO))


def need(path: Path) -> Path:
    if not path.exists():
        sys.exit(f"{path} is absent: the benchmarks read real data from ../shared")
    return path


def default_model() -> str:
    return str(SPLADE_TINY) if SPLADE_TINY.is_dir() else "splade-tiny"


def cacm_corpus(folder: Path, limit: int | None = None) -> tuple[Path, list[Any]]:
    """CACM's documents (title and abstract) as a JSONL corpus, in id order."""
    from disco_pyserini.datasets.cacm import read_cacm_corpus

    documents = list(read_cacm_corpus(str(need(CACM / "cacm.tar.gz"))))[:limit]
    path = folder / f"cacm-{len(documents)}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps({"id": document.doc_id, "contents": document.text}) + "\n")
    return path, documents


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``repeat`` calls, all times, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, result


def matmul_peak(device: str = "cpu", repeat: int = 5) -> float:
    """FLOP/s of a large float32 (CPU) or bfloat16 (CUDA) matrix multiply, best of ``repeat``."""
    import torch

    n = 4096
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(repeat + 1):
        if device != "cpu":
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def flops_per_text(config: Any, length: int) -> float:
    """Forward FLOPs of a BERT masked LM on one text of ``length`` tokens, output layer included."""
    h, i, v, layers = config.hidden_size, config.intermediate_size, config.vocab_size, config.num_hidden_layers
    per_token_layer = 2 * 4 * h * h + 2 * 2 * h * i  # Q, K, V, output projections; feed-forward
    attention = 2 * 2 * length * h  # scores and weighted values, per token
    head = 2 * h * h + 2 * h * v  # transform, then the vocabulary-wide output layer
    return length * (layers * (per_token_layer + attention) + head)


def report(title: str, rows: list[tuple[str, str]], results: dict[str, Any], json_path: str | None) -> None:
    print(f"\n{title}")
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


# -- a model of SPLADE++'s shape ------------------------------------------------------------------
BERT_BASE = {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072,
             "vocab_size": 30522, "max_position_embeddings": 512, "type_vocab_size": 2}
"""bert-base-uncased's shape, which SPLADE++ (naver/splade-cocondenser-ensembledistil) and DiSCo share."""
RANDOM_OUTPUT_BIAS = -2.0
"""The output layer's bias in :func:`bert_base_splade`. With random weights (initializer range 0.02)
a logit is about N(0, 0.55) and its max over a passage's tokens is positive for nearly the whole
vocabulary; -2 leaves about 200 terms to a 65-token passage and 30 to 50 to a question, the order
of what SPLADE++ gives, so vectors, indexes and queries have realistic sizes."""


def bert_base_splade(folder: str | os.PathLike[str], tokenizer_from: str | os.PathLike[str], seed: int = 0) -> Path:
    """A SPLADE model folder of SPLADE++'s shape and cost (BERT-base, 110 M parameters, the same
    forward FLOPs) with random weights drawn from ``seed``, its output bias set to
    :data:`RANDOM_OUTPUT_BIAS`, and the tokenizer files of the model folder ``tokenizer_from``
    (SPLADE-tiny's: the BERT uncased vocabulary). Written with ``save_pretrained``, loaded as any
    model folder is."""
    import shutil

    import torch
    from transformers import BertConfig, BertForMaskedLM

    folder = Path(folder)
    torch.manual_seed(seed)
    model = BertForMaskedLM(BertConfig(**BERT_BASE)).eval()
    with torch.no_grad():
        model.cls.predictions.bias.fill_(RANDOM_OUTPUT_BIAS)
    model.save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(tokenizer_from) / name).is_file():
            shutil.copy(Path(tokenizer_from) / name, folder / name)
    return folder


def cast_passages() -> list[str]:
    """The distinct passages TREC CAsT gives as turns' canonical answers, in file order: 2021's
    ``passage`` (automatic and manual topics) and 2022's ``response``. Real web passages (MS MARCO
    v2, Wikipedia/KILT), the kind of text a passage collection holds."""
    files = (("2021/2021_automatic_evaluation_topics_v1.0.json", "passage"),
             ("2021/2021_manual_evaluation_topics_v1.0.json", "passage"),
             ("2022/2022_evaluation_topics_flattened_duplicated_v1.0.json", "response"))
    passages: dict[str, None] = {}
    for name, field in files:
        with open(need(CAST / name), encoding="utf-8") as handle:
            for topic in json.load(handle):
                for turn in topic["turn"]:
                    if turn.get(field):
                        passages.setdefault(" ".join(turn[field].split()))
    return list(passages)


CAST_TOPIC_SETS = {
    "cast2019": ("2019/evaluation_topics_v1.0.json", "2019/evaluation_topics_annotated_resolved_v1.0.tsv"),
    "cast2020": ("2020/2020_manual_evaluation_topics_v1.0.json", "2020/2020_automatic_evaluation_topics_v1.0.json"),
    "cast2021": ("2021/2021_manual_evaluation_topics_v1.0.json", "2021/2021_automatic_evaluation_topics_v1.0.json"),
    "cast2022": ("2022/2022_evaluation_topics_flattened_duplicated_v1.0.json",),
}


def cast_topics(name: str) -> list[Any]:
    """Every turn of one of the four TREC CAsT topic sets (``cast2019``...), as ``topics convert`` reads it
    (2021 and 2022 with their canonical passages as answers; 2019 and 2020 with questions only)."""
    from disco_pyserini.datasets.conversational import convert_topics

    return convert_topics(name, [str(need(CAST / path)) for path in CAST_TOPIC_SETS[name]])


def query_texts(topics: Any) -> list[tuple[str, str]]:
    """``(label, text)`` of every turn's query text in each mode it has: disco (the flattened
    conversation, [SEP] inside, long ones truncated at 256 tokens), raw, and the rewrites given."""
    from disco_pyserini.errors import QueryTextError

    texts = []
    for topic in topics:
        for mode in ("disco", "raw", "rewrite", "rewrite-auto"):
            try:
                texts.append((f"{topic.query_id}/{mode}", topic.query_text(mode)))
            except QueryTextError:
                pass
    return texts
