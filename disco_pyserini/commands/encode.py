"""``disco-pyserini encode``: a corpus into a JsonVectorCollection folder, in one process, spawned
processes (``--processes``), shards (``--shard``) or on a Dask cluster (``--dask``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..errors import DiscoError
from .options import add_dask_options, add_encoder_options, encoder_spec, positive_int

if TYPE_CHECKING:
    from ..encode.spec import EncoderSpec


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("encode", help="encode a corpus into a JsonVectorCollection folder",
                            description="Encode documents with a SPLADE document model, quantize the weights "
                                        "and write Pyserini JsonVectorCollection files.")
    parser.add_argument("--corpus", required=True, nargs="+", metavar="PATH",
                        help="JSONL files or folders: {id, contents} or {id, title, text} per line")
    parser.add_argument("--model", required=True,
                        help="preset (e.g. disco-human, splade-tiny: its document model), hub id or local folder")
    parser.add_argument("--output", required=True, metavar="DIR", help="collection folder to write")
    add_encoder_options(parser)
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (per process with --processes)")
    parser.add_argument("--processes", type=positive_int, default=1,
                        help="spawn N worker processes, shard i of N each (default: 1); on CPUs N processes of "
                             "one thread beat one process of N threads")
    parser.add_argument("--docs-per-part", type=positive_int, default=10_000,
                        help="documents per collection file (default: 10000)")
    parser.add_argument("--shard", default="0/1", metavar="I/N",
                        help="encode only shard I of N (parts I, I+N, ...); N processes fill one folder")
    parser.add_argument("--resume", action="store_true", help="finish an interrupted encoding in --output")
    parser.add_argument("--overwrite", action="store_true", help="replace a collection already in --output")
    dask = add_dask_options(parser, "encode on a Dask cluster, one task per part")
    dask.add_argument("--gpus", type=int, default=0, help="local cluster: one worker per GPU, pinned to it")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..encode.backends import build_encoder
    from ..encode.collection import Shard, encode_collection, encode_in_processes

    shard = Shard.parse(args.shard)
    if args.resume and args.overwrite:
        raise DiscoError("--resume and --overwrite contradict each other; choose one")
    if args.dask and (shard.count > 1 or args.processes > 1):
        raise DiscoError("--dask splits the work itself; run it without --shard or --processes")
    if args.processes > 1 and shard.count > 1:
        raise DiscoError("--processes splits the work itself; run it without --shard")
    spec = encoder_spec(args, args.model, "document", threads=args.threads)
    common = {"docs_per_part": args.docs_per_part, "resume": args.resume, "overwrite": args.overwrite}
    if args.dask:
        result = _encode_with_dask(args, spec, common)
    elif args.processes > 1:
        result = encode_in_processes(args.corpus, args.output, spec, processes=args.processes, **common)
    else:
        result = encode_collection(args.corpus, args.output, build_encoder(spec), shard=shard, progress=not args.quiet,
                                   **common)
    if not result["complete"]:
        print(f"{args.output}: shard {args.shard} done; {len(result['missing_parts'])} part(s) of other shards missing")
        return 0
    print(f"{args.output}: {result['documents']} documents in {result['parts']} part(s)"
          f" ({result['empty_vectors']} with an empty vector)")
    return 0


def _encode_with_dask(args: argparse.Namespace, spec: EncoderSpec, common: dict) -> dict:
    """On the scheduler the options name, or on a local cluster started (and stopped) for the job."""
    from ..cluster.encode import close_client, connect, encode_with_dask

    client = connect(args.scheduler, args.workers, spec.threads or 1, gpus=args.gpus)
    try:
        return encode_with_dask(args.corpus, args.output, spec, client=client, progress=not args.quiet, **common)
    finally:
        close_client(client, args.scheduler)
