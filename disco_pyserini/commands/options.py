"""Options shared by several commands, and the checks of their values (argparse ``type=`` functions).

``python -m disco_pyserini.search`` uses the same checks as ``disco-pyserini`` itself.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..encode.spec import EncoderSpec


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum} (got {value})")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text})")
    return value


def add_encoder_options(parser: argparse.ArgumentParser, *, batch_size_flag: str = "--batch-size") -> None:
    from ..encode.spec import DEFAULT_BATCH_SIZE, PRECISIONS

    add_length_and_scale_options(parser)
    parser.add_argument(batch_size_flag, dest="batch_size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                        help=f"texts per encoding batch (default: {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--device", default=None,
                        help="cuda or cpu (default: cuda if available, else cpu); for queries the cpu runs ONNX "
                             "Runtime unless --backend torch")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto: float32 on CPU, bfloat16 autocast on CUDA; int8 (queries, onnx backend): "
                             "the graph dynamically quantized, faster, its ranking quality measured in "
                             "docs/performance.md")


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    """``--backend``: what runs the query model (torch, or its ONNX export on ONNX Runtime)."""
    from ..encode.spec import BACKEND_CHOICES, DEFAULT_BACKEND

    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=DEFAULT_BACKEND,
                        help="what runs the query model: torch, or onnx (its ONNX export on ONNX Runtime's CPU, "
                             "exported on first use and cached; imports neither torch nor transformers); "
                             "auto: onnx on the CPU, torch on CUDA or with a half --precision "
                             f"(default: {DEFAULT_BACKEND})")


def add_length_and_scale_options(parser: argparse.ArgumentParser) -> None:
    """``--max-length`` and ``--scale``, the encoder settings that decide a vector's bytes."""
    from ..encode.spec import DEFAULT_MAX_LENGTH, DEFAULT_SCALE

    parser.add_argument("--max-length", type=positive_int, default=DEFAULT_MAX_LENGTH,
                        help=f"tokens per text, truncated on the right (default: {DEFAULT_MAX_LENGTH})")
    parser.add_argument("--scale", type=positive_float, default=DEFAULT_SCALE,
                        help=f"quantization: impact = round(weight * scale) (default: {DEFAULT_SCALE})")


def encoder_spec(args: argparse.Namespace, model: str, side: str, *, threads: int | None) -> EncoderSpec:
    """The :class:`~disco_pyserini.encode.spec.EncoderSpec` of the options :func:`add_encoder_options` added."""
    from ..encode.spec import DEFAULT_BACKEND, EncoderSpec

    return EncoderSpec(model, side=side, max_length=args.max_length, scale=args.scale, batch_size=args.batch_size,
                       device=args.device, threads=threads, precision=args.precision,
                       backend=getattr(args, "backend", DEFAULT_BACKEND))


def add_java_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--java-heap", default=None, metavar="SIZE",
                        help="maximum JVM heap, e.g. 4g (default: $DISCO_PYSERINI_JAVA_XMX or the JVM's)")


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query-cache", metavar="DIR", default=None,
                        help="encoded-query cache, by query id, model, backend, mode, max length and scale "
                             "(default: ~/.cache/disco_pyserini/queries)")
    parser.add_argument("--no-query-cache", action="store_true", help="encode every query, cache nothing")


def add_pruning_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query-max-terms", type=positive_int, default=None, metavar="K",
                        help="keep only the K heaviest terms of every query, ties to the lower token id "
                             "(default: all of them)")


def query_cache(args: argparse.Namespace) -> str | None:
    """The query cache folder the options ask for, or ``None`` for no cache."""
    from ..search.searcher import default_query_cache

    return None if args.no_query_cache else (args.query_cache or default_query_cache())


METRICS_HELP = ("trec_eval measure names: a measure (map, recip_rank, Rprec...), a family alone for trec_eval's "
                "default cut-offs (recall, P, ndcg_cut...), chosen cut-offs as recall.10,100 or recall_10, or a "
                "nickname (official); a wrong name lists the valid ones")


def add_average_option(parser: argparse.ArgumentParser) -> None:
    from ..eval.evaluate import AVERAGES

    parser.add_argument("--average", choices=tuple(AVERAGES), default="judged",
                        help="which queries the means are over: " + "; ".join(
                            f"{name}: {rule}" for name, rule in AVERAGES.items()) + " (default: judged)")


def add_dask_options(parser: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    """``--dask`` (doing ``what`` on a cluster), ``--scheduler`` and ``--workers``; returns the group."""
    dask = parser.add_argument_group("Dask (pip install 'disco-pyserini[dask]')")
    dask.add_argument("--dask", action="store_true", help=what)
    dask.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="an existing scheduler (default: $DASK_SCHEDULER_ADDRESS, else a local cluster)")
    dask.add_argument("--workers", type=positive_int, default=2, help="local cluster: worker processes (default 2)")
    return dask


def command_line(*args: str) -> str:
    """``disco-pyserini ARGS`` as a shell command to print for pasting: the bare name where it is the
    one on ``PATH``, else the path of this environment's console script (or its module)."""
    script = os.path.join(os.path.dirname(sys.executable), "disco-pyserini")
    if not os.path.exists(script):  # not installed as a console script: run the module
        return shlex.join([sys.executable, "-m", "disco_pyserini.cli", *args])
    found = shutil.which("disco-pyserini")
    name = "disco-pyserini" if found and os.path.samefile(found, script) else script
    return shlex.join([name, *args])
