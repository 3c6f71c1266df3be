"""``disco-pyserini encode``: a corpus into a JsonVectorCollection folder, in one process, spawned
processes (``--processes``), shards (``--shard``) or on a Dask cluster (``--dask``)."""

from __future__ import annotations

import argparse
import os

from ..errors import DiscoError
from .options import add_encoder_options, positive_int


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
    dask = parser.add_argument_group("Dask (pip install 'disco-pyserini[dask]')")
    dask.add_argument("--dask", action="store_true", help="encode on a Dask cluster, one task per part")
    dask.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="an existing scheduler (default: $DASK_SCHEDULER_ADDRESS, else a local cluster)")
    dask.add_argument("--workers", type=positive_int, default=2, help="local cluster: worker processes (default 2)")
    dask.add_argument("--gpus", type=int, default=0, help="local cluster: one worker per GPU, pinned to it")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from ..collection import Shard, encode_collection, encode_in_processes
    from ..models import resolve_model
    from ..splade import SpladeEncoder

    shard = Shard.parse(args.shard)
    if args.resume and args.overwrite:
        raise DiscoError("--resume and --overwrite contradict each other; choose one")
    # what each worker process (Dask or spawned) builds its encoder from
    options = {"max_length": args.max_length, "batch_size": args.batch_size, "device": args.device,
               "threads": args.threads or 1, "precision": args.precision}
    if args.dask:
        if shard.count > 1 or args.processes > 1:
            raise DiscoError("--dask splits the work itself; run it without --shard or --processes")
        from ..distributed import connect, encode_with_dask

        client = connect(args.scheduler, args.workers, args.threads or 1, gpus=args.gpus)
        try:
            result = encode_with_dask(args.corpus, args.output, resolve_model(args.model, "document"), options,
                                      client=client, scale=args.scale, docs_per_part=args.docs_per_part,
                                      resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
        finally:
            client.close()
            if client.cluster is not None and not (args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")):
                client.cluster.close()
        return _collection_written(args.output, result)
    if args.processes > 1:
        if shard.count > 1:
            raise DiscoError("--processes splits the work itself; run it without --shard")
        result = encode_in_processes(args.corpus, args.output, resolve_model(args.model, "document"), options,
                                     processes=args.processes, scale=args.scale, docs_per_part=args.docs_per_part,
                                     resume=args.resume, overwrite=args.overwrite)
        return _collection_written(args.output, result)
    encoder = SpladeEncoder(resolve_model(args.model, "document"), max_length=args.max_length,
                            batch_size=args.batch_size, device=args.device, threads=args.threads,
                            precision=args.precision)
    result = encode_collection(args.corpus, args.output, encoder, scale=args.scale,
                               docs_per_part=args.docs_per_part, shard=shard, resume=args.resume,
                               overwrite=args.overwrite, progress=not args.quiet)
    if not result["complete"]:
        print(f"{args.output}: shard {args.shard} done; {len(result['missing_parts'])} part(s) of other shards missing")
        return 0
    return _collection_written(args.output, result)


def _collection_written(output: str, result: dict) -> int:
    print(f"{output}: {result['documents']} documents in {result['parts']} part(s)"
          f" ({result['empty_vectors']} with an empty vector)")
    return 0
