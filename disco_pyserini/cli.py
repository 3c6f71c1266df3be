"""The ``disco-pyserini`` command line: one console script, one subcommand per pipeline stage.

``main(argv)`` returns the exit status; tests call it in-process. Errors caused by input or
options print one line (``disco-pyserini: error: ...``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence

from .errors import DiscoError

logger = logging.getLogger("disco_pyserini")

Command = Callable[[argparse.Namespace], int]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {text})")
    return value


_positive_int, _positive_float = positive_int, positive_float  # TODO(issue 13): one module of option checks


def _add_encoder_options(parser: argparse.ArgumentParser, *, batch_size: int = 32) -> None:
    parser.add_argument("--max-length", type=positive_int, default=256,
                        help="tokens per text, truncated on the right (default: 256)")
    parser.add_argument("--scale", type=positive_float, default=100,
                        help="quantization: impact = round(weight * scale) (default: 100)")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size,
                        help=f"texts per batch (default: {batch_size})")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="auto: float32 on CPU, bfloat16 autocast on CUDA")


def _add_java_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--java-heap", default=None, metavar="SIZE",
                        help="maximum JVM heap, e.g. 4g (default: $DISCO_PYSERINI_JAVA_XMX or the JVM's)")


# -- encode --------------------------------------------------------------------------------------
def _encode_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("encode", help="encode a corpus into a JsonVectorCollection folder",
                            description="Encode documents with a SPLADE document model, quantize the weights "
                                        "and write Pyserini JsonVectorCollection files.")
    parser.add_argument("--corpus", required=True, nargs="+", metavar="PATH",
                        help="JSONL files or folders: {id, contents} or {id, title, text} per line")
    parser.add_argument("--model", required=True,
                        help="preset (e.g. disco-human, splade-tiny: its document model), hub id or local folder")
    parser.add_argument("--output", required=True, metavar="DIR", help="collection folder to write")
    _add_encoder_options(parser)
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
    parser.set_defaults(command=_encode)


def _encode(args: argparse.Namespace) -> int:
    from .collection import Shard, encode_collection, encode_in_processes
    from .models import resolve_model
    from .splade import SpladeEncoder

    shard = Shard.parse(args.shard)
    if args.resume and args.overwrite:
        raise DiscoError("--resume and --overwrite contradict each other; choose one")
    # what each worker process (Dask or spawned) builds its encoder from
    options = {"max_length": args.max_length, "batch_size": args.batch_size, "device": args.device,
               "threads": args.threads or 1, "precision": args.precision}
    if args.dask:
        if shard.count > 1 or args.processes > 1:
            raise DiscoError("--dask splits the work itself; run it without --shard or --processes")
        from .distributed import connect, encode_with_dask

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


# -- index ---------------------------------------------------------------------------------------
def _index_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("index", help="build a Lucene impact index from a collection folder",
                            description="Index a collection folder with Pyserini (JsonVectorCollection, "
                                        "impact, pretokenized) and check the document count.")
    parser.add_argument("--collection", required=True, metavar="DIR")
    parser.add_argument("--index", required=True, metavar="DIR")
    parser.add_argument("--threads", type=positive_int, default=1, help="indexing threads (default: 1)")
    parser.add_argument("--store-raw", action="store_true", help="store each document's JSON in the index")
    parser.add_argument("--index-shards", type=positive_int, default=1, metavar="K",
                        help="build K indexes from K groups of collection parts (search them with the folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing index in --index")
    _add_java_options(parser)
    parser.set_defaults(command=_index)


def _index(args: argparse.Namespace) -> int:
    from .indexing import build_index

    info = build_index(args.collection, args.index, threads=args.threads, overwrite=args.overwrite,
                       store_raw=args.store_raw, heap=args.java_heap, shards=args.index_shards)
    shards = f" in {len(info['shards'])} shards" if info.get("shards") else ""
    print(f"{args.index}: {info['documents']} documents{shards}")
    return 0


# -- search --------------------------------------------------------------------------------------
def _search_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("search", help="search a topics file into a TREC run",
                            description="Encode every turn of a topics file (batched) and search the "
                                        "impact index into a TREC run file.")
    parser.add_argument("--index", required=True, metavar="DIR", action="append",
                        help="an index, a folder of index shards, or several --index searched as one")
    parser.add_argument("--topics", required=True, metavar="FILE", help="topics JSONL")
    parser.add_argument("--model", default=None,
                        help="preset (its query model), hub id or local folder of the query encoder")
    parser.add_argument("--encoded-queries", metavar="FILE", default=None,
                        help="search these pre-encoded queries instead (.jsonl from encode-queries, or Anserini's "
                             ".tsv[.gz] with each token repeated weight times), keyed by query id")
    parser.add_argument("--output", required=True, metavar="RUN", help="TREC run file to write")
    parser.add_argument("--query-mode", default="disco",
                        help="disco (flattened conversation), raw (current question), rewrite, "
                             "rewrite-auto, history, or field:NAME (default: disco)")
    parser.add_argument("--hits", type=positive_int, default=1000, help="hits per query (default: 1000)")
    parser.add_argument("--run-tag", default="disco-pyserini", help="last column of the run")
    parser.add_argument("--threads", type=positive_int, default=1, help="search and encoding threads")
    parser.add_argument("--allow-mismatch", action="store_true",
                        help="search even if the index's model vocabulary or scale differs from the queries'")
    _add_cache_options(parser)
    _add_encoder_options(parser)
    _add_java_options(parser)
    parser.set_defaults(command=_search)


def _search(args: argparse.Namespace) -> int:
    from .encoded_queries import read_encoded_metadata, read_encoded_queries
    from .queries import QueryEncoding
    from .search import check_compatible, open_searcher, search_topics, write_search_run
    from .topics import check_query_mode, read_topics

    if (args.model is None) == (args.encoded_queries is None):
        raise DiscoError("give a query model (--model) or pre-encoded queries (--encoded-queries), one of them")
    check_query_mode(args.query_mode)
    topics = read_topics(args.topics)
    searcher = open_searcher(args.index, heap=args.java_heap)
    encoding = encoded = None
    if args.model is not None:
        encoding = QueryEncoding(args.model, max_length=args.max_length, scale=args.scale,
                                 batch_size=args.batch_size, device=args.device, threads=args.threads,
                                 precision=args.precision)
        description = {"encoder": encoding.describe(), "query_mode": args.query_mode}
    else:
        encoded = read_encoded_queries(args.encoded_queries)
        made_by = read_encoded_metadata(args.encoded_queries)
        if made_by is not None and "encoder" in made_by:  # ours: check its model and scale against the index
            check_compatible(searcher.metadata, made_by["encoder"], index=searcher.index,
                             allow_mismatch=args.allow_mismatch)
        description = {"encoded_queries": os.path.abspath(args.encoded_queries)}
    results = search_topics(searcher, topics, encoding, mode=args.query_mode, hits=args.hits,
                            threads=args.threads, allow_mismatch=args.allow_mismatch,
                            cache=_query_cache(args), encoded=encoded)
    lines = write_search_run(args.output, results, tag=args.run_tag, description={
        "index": args.index if len(args.index) > 1 else args.index[0], "topics": args.topics, "hits": args.hits,
        **description})
    print(f"{args.output}: {len(results)} queries, {lines} lines")
    return 0


def _add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query-cache", metavar="DIR", default=None,
                        help="encoded-query cache, by query id, model, mode, max length and scale "
                             "(default: ~/.cache/disco_pyserini/queries)")
    parser.add_argument("--no-query-cache", action="store_true", help="encode every query, cache nothing")


def _query_cache(args: argparse.Namespace) -> str | None:
    from .search import default_query_cache

    return None if args.no_query_cache else (args.query_cache or default_query_cache())


# -- encode-queries ------------------------------------------------------------------------------
def _encode_queries_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("encode-queries", help="encode a topics file into queries stock Pyserini reads",
                            description="Encode every turn once (batched) into pre-encoded impact queries that "
                                        "stock `python -m pyserini.search.lucene --impact` searches unchanged.")
    parser.add_argument("--topics", required=True, metavar="FILE", help="topics JSONL")
    parser.add_argument("--model", required=True, help="preset (its query model), hub id or local folder")
    parser.add_argument("--query-mode", default="disco", help="as for search (default: disco)")
    parser.add_argument("--output", required=True, metavar="QUERIES",
                        help="QUERIES.jsonl (with QUERIES.topics.tsv beside it: search with --encoder QUERIES.jsonl "
                             "--topics QUERIES.topics.tsv) or QUERIES.tsv[.gz] (Anserini's format: --topics only)")
    parser.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    _add_cache_options(parser)
    _add_encoder_options(parser)
    parser.set_defaults(command=_encode_queries)


def _encode_queries(args: argparse.Namespace) -> int:
    from .encoded_queries import encoded_format, topics_tsv_path, write_encoded_queries
    from .queries import QueryEncoding
    from .topics import check_query_mode, read_topics

    check_query_mode(args.query_mode)
    fmt = encoded_format(args.output)
    topics = read_topics(args.topics)
    encoding = QueryEncoding(args.model, max_length=args.max_length, scale=args.scale, batch_size=args.batch_size,
                             device=args.device, threads=args.threads, precision=args.precision)
    vectors = encoding.encode_topics(topics, args.query_mode, cache=_query_cache(args))
    count = write_encoded_queries(args.output, zip([t.query_id for t in topics], vectors), description={
        "topics": os.path.abspath(args.topics), "query_mode": args.query_mode, "encoder": encoding.describe()})
    print(f"{args.output}: {count} queries")
    if fmt == "jsonl":
        print(f"search them with: python -m pyserini.search.lucene --index INDEX --impact --min-idf -1 "
              f"--encoder {args.output} --topics {topics_tsv_path(args.output)} --output RUN --hits 1000")
    else:
        print(f"search them with: python -m pyserini.search.lucene --index INDEX --impact --min-idf -1 "
              f"--topics {args.output} --output RUN --hits 1000")
    return 0


# -- evaluate ------------------------------------------------------------------------------------
_METRICS_HELP = ("trec_eval measure names: a measure (map, recip_rank, Rprec...), a family alone for trec_eval's "
                 "default cut-offs (recall, P, ndcg_cut...), chosen cut-offs as recall.10,100 or recall_10, or a "
                 "nickname (official); a wrong name lists the valid ones")


def _add_average_option(parser: argparse.ArgumentParser) -> None:
    from .evaluate import AVERAGES

    parser.add_argument("--average", choices=tuple(AVERAGES), default="judged",
                        help="which queries the means are over: " + "; ".join(
                            f"{name}: {rule}" for name, rule in AVERAGES.items()) + " (default: judged)")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    from .evaluate import DEFAULT_METRICS, PROTOCOLS

    parser = sub.add_parser("evaluate", help="evaluate a TREC run with pytrec_eval",
                            description="Evaluate a run with trec_eval's measures (pytrec_eval). By default the "
                                        "means are over every judged query, missing ones 0 (trec_eval -c); "
                                        "--average retrieved gives the DiSCo reference code's averaging.")
    parser.add_argument("--qrels", required=True, metavar="FILE")
    parser.add_argument("--run", required=True, metavar="FILE")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="MEASURE",
                        help=f"{_METRICS_HELP} (default: {' '.join(DEFAULT_METRICS)}, or the protocol's)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                        help="a named protocol's measures and threshold: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROTOCOLS.values()))
    parser.add_argument("--rel-threshold", type=positive_int, default=None,
                        help="lowest relevance counted as relevant by MRR, recall and MAP (trec_eval -l; "
                             "default 1, or the protocol's)")
    _add_average_option(parser)
    parser.add_argument("--per-query", action="store_true", help="also print every query's values")
    parser.add_argument("--json", action="store_true", help="print one JSON object: measure -> mean, and counts")
    parser.set_defaults(command=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluate import DEFAULT_METRICS, evaluate_run, format_table, get_protocol, resolve_measures, summary_json
    from .runs import read_qrels, read_run

    protocol = get_protocol(args.protocol) if args.protocol else None
    metrics = resolve_measures(args.metrics or (protocol.metrics if protocol else DEFAULT_METRICS))
    qrels = read_qrels(args.qrels)
    run = read_run(args.run)
    threshold = args.rel_threshold or (protocol.threshold(qrels) if protocol else 1)
    result = evaluate_run(qrels, run, metrics, rel_threshold=threshold, average=args.average)
    if args.json:
        print(json.dumps(summary_json(result), sort_keys=False))
        return 0
    print(format_table({args.run: result["mean"]}, metrics))
    if args.per_query:
        print()
        print(format_table(result["per_query"], metrics).replace("| run |", "| query |", 1))
    missing = len(result["missing"])
    if args.average == "judged":
        averaged = f"means over all {result['judged']} judged queries; {missing} missing from the run (scored 0)"
    else:
        averaged = (f"means over the {result['averaged']} judged queries in the run; {missing} judged queries "
                    "missing from the run (not scored)")
    print(f"\n{averaged}; {len(result['unjudged'])} in the run without judgments (not scored); "
          f"relevance >= {threshold} relevant")
    return 0


# -- topics --------------------------------------------------------------------------------------
def _topics_parser(sub: argparse._SubParsersAction) -> None:
    from .datasets.conversational import FORMATS

    parser = sub.add_parser("topics", help="convert a benchmark's topic files into a topics JSONL",
                            description="Convert conversational topic sets (TREC CAsT 2019-2022, iKAT 2023, "
                                        "TopiOCQA, QReCC) into topics JSONL: one line per turn, with the "
                                        "official query ids, the conversation so far, and every rewrite.")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="the dataset's files (cast2019: topics JSON and resolved TSV; cast2020/2021: "
                             "manual and/or automatic topics JSON; ...)")
    parser.add_argument("--passages", metavar="FILE", default=None,
                        help="cast2020: JSONL of canonical passages ({id, contents}) to fill in the answers")
    parser.add_argument("--output", required=True, metavar="FILE")
    parser.add_argument("--qrels-output", metavar="FILE", default=None,
                        help="topiocqa: also write qrels with each turn's gold passage (relevance 1)")
    parser.set_defaults(command=_topics)


def _topics(args: argparse.Namespace) -> int:
    from .datasets.conversational import convert_topics, gold_qrels
    from .runs import write_qrels
    from .topics import conversation_id, write_topics

    topics = convert_topics(args.format, args.inputs, args.passages)
    qrels = gold_qrels(topics) if args.qrels_output else None
    write_topics(topics, args.output)
    if qrels is not None:
        write_qrels(args.qrels_output, qrels)
        print(f"{args.qrels_output}: {len(qrels)} gold passages")
    conversations = len({conversation_id(t.query_id) for t in topics})
    print(f"{args.output}: {len(topics)} turns of {conversations} conversations; "
          f"{sum(1 for t in topics if t.rewrite)} with a manual rewrite, "
          f"{sum(1 for t in topics if t.rewrite_auto)} with an automatic one, "
          f"{sum(1 for t in topics if any(a for _, a in t.conversation))} with answers in their history")
    return 0


# -- compare -------------------------------------------------------------------------------------
def _compare_parser(sub: argparse._SubParsersAction) -> None:
    from .evaluate import PROTOCOLS

    parser = sub.add_parser("compare", help="compare runs: measures, significance, turn depth",
                            description="Evaluate runs side by side with a protocol, test each against the "
                                        "baseline (paired t-test, Bonferroni), break the measures down by "
                                        "turn depth, and write a CSV and a PNG plot.")
    parser.add_argument("--qrels", required=True, metavar="FILE")
    parser.add_argument("--runs", required=True, nargs="+", metavar="RUN")
    parser.add_argument("--baseline", default=None, metavar="RUN", help="one of --runs (default: the first)")
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="disco",
                        help="the measures and threshold: " + "; ".join(
                            f"{p.name}: {p.description}" for p in PROTOCOLS.values()) + " (default: disco)")
    parser.add_argument("--metrics", nargs="+", default=None, metavar="MEASURE",
                        help=f"{_METRICS_HELP} (default: the protocol's)")
    parser.add_argument("--rel-threshold", type=positive_int, default=None,
                        help="override the protocol's relevance threshold")
    _add_average_option(parser)
    parser.add_argument("--topics", metavar="FILE", default=None,
                        help="topics JSONL giving each turn's depth (default: the number after the last _ of the id)")
    parser.add_argument("--output", default="compare", metavar="PREFIX",
                        help="writes PREFIX.csv and PREFIX.png (default: compare)")
    parser.set_defaults(command=_compare)


def _compare(args: argparse.Namespace) -> int:
    from .compare import compare_runs, markdown, plot_by_depth, run_labels, write_csv
    from .evaluate import get_protocol, resolve_measures
    from .runs import read_qrels, read_run
    from .topics import read_topics

    if len(set(args.runs)) != len(args.runs):
        raise DiscoError("--runs lists a run twice")
    protocol = get_protocol(args.protocol)
    metrics = resolve_measures(args.metrics or protocol.metrics)
    qrels = read_qrels(args.qrels)
    runs = {path: read_run(path) for path in args.runs}
    depths = {t.query_id: t.depth for t in read_topics(args.topics)} if args.topics else None
    comparison = compare_runs(qrels, runs, protocol, baseline=args.baseline, depths=depths,
                              rel_threshold=args.rel_threshold, metrics=metrics, average=args.average)
    labels = run_labels(args.runs)
    print(markdown(comparison, labels))
    write_csv(comparison, args.output + ".csv", labels)
    plot_by_depth(comparison, args.output + ".png", labels)
    print(f"\nwritten: {args.output}.csv, {args.output}.png")
    return 0


# -- run -----------------------------------------------------------------------------------------
def _run_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run an experiment configuration (configs/*.yaml)",
                            description="Topics -> encode -> index -> search (each mode) -> evaluate -> compare, "
                                        "skipping every stage whose output exists and matches the configuration.")
    parser.add_argument("config", metavar="CONFIG", help="a YAML file, e.g. configs/demo.yaml")
    _add_java_options(parser)
    parser.set_defaults(command=_run)


def _run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .experiment import run_experiment

    print(run_experiment(load_config(args.config), heap=args.java_heap, progress=not args.quiet))
    return 0


# -- fuse and distill ---------------------------------------------------------------------------
def _fuse_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("fuse", help="fuse teacher runs by summing their scores",
                            description="Sum the scores of several runs per (query, document), as the "
                                        "multi-teacher DiSCo models do; a document missing from a run gets that "
                                        "run's lowest score for the query.")
    parser.add_argument("--runs", required=True, nargs="+", metavar="RUN")
    parser.add_argument("--output", required=True, metavar="RUN")
    parser.add_argument("--hits", type=positive_int, default=1000)
    parser.add_argument("--run-tag", default="fused")
    parser.set_defaults(command=_fuse)


def _fuse(args: argparse.Namespace) -> int:
    from .distill import fuse_runs
    from .runs import Hit, pyserini_order, read_run, write_run

    fused = fuse_runs([read_run(path) for path in args.runs], depth=args.hits)
    results = [(qid, [Hit(d, s) for d, s in sorted(fused[qid].items(), key=lambda x: (-x[1], x[0]))])
               for qid in pyserini_order(fused)]
    lines = write_run(args.output, results, tag=args.run_tag)
    print(f"{args.output}: {len(results)} queries, {lines} lines fused from {len(args.runs)} runs")
    return 0


def _distill_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("distill", help="train a DiSCo query encoder from rewrite teacher runs",
                            description="Distill a conversational query encoder: the student reads the flattened "
                                        "conversation and learns to rank the teacher's candidates as the teacher "
                                        "(SPLADE on the rewrite) does. Documents stay frozen (read from the "
                                        "collection).")
    parser.add_argument("--topics", required=True, metavar="FILE", help="training topics JSONL")
    parser.add_argument("--teacher-run", required=True, nargs="+", metavar="RUN",
                        help="teacher run(s), e.g. `search --query-mode rewrite`; several are fused (sum)")
    parser.add_argument("--collection", required=True, metavar="DIR", help="the collection the runs searched")
    parser.add_argument("--index", metavar="DIR", action="append", default=None,
                        help="the Lucene index of --collection: validation searches it as `search` does (needed "
                             "unless --validation-fraction 0); repeat for several indexes searched as one")
    parser.add_argument("--init-model", required=True, help="student initialisation: preset, hub id or folder")
    parser.add_argument("--output", required=True, metavar="MODEL_DIR")
    parser.add_argument("--qrels", metavar="FILE", default=None, help="positives from judgments (else teacher's top)")
    parser.add_argument("--loss", choices=("kldiv", "mse"), default="kldiv",
                        help="kldiv: DiSCo's score distillation; mse: student vs teacher vector of the rewrite")
    parser.add_argument("--teacher-model", default=None, help="--loss mse: the teacher query model (default: init)")
    parser.add_argument("--query-mode", default="disco", help="the student's input (default: disco)")
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--max-steps", type=positive_int, default=None)
    parser.add_argument("--batch-size", type=positive_int, default=8)
    parser.add_argument("--learning-rate", type=positive_float, default=2e-5)
    parser.add_argument("--negatives", type=positive_int, default=16)
    parser.add_argument("--negative-ranks", type=positive_int, nargs=2, default=(11, 960), metavar=("FIRST", "LAST"))
    parser.add_argument("--validation-fraction", type=float, default=0.1,
                        help="share of conversations held apart for early stopping (default: 0.1)")
    parser.add_argument("--validation-topics", metavar="FILE", default=None,
                        help="held-apart turns for early stopping, instead of a random share of --topics")
    parser.add_argument("--eval-every", type=positive_int, default=50,
                        help="steps between validations: MRR of the validation turns searched in --index with the "
                             "student, against --qrels (disco protocol) or else the teacher's top document")
    parser.add_argument("--patience", type=positive_int, default=4, help="validations without gain before stopping")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="save a checkpoint every N steps (0: never)")
    parser.add_argument("--max-length", type=positive_int, default=256)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=positive_int, default=None)
    parser.add_argument("--device", default=None)
    _add_java_options(parser)
    parser.set_defaults(command=_distill)


def _distill(args: argparse.Namespace) -> int:
    from .distill import DistillConfig, distill
    from .runs import read_qrels
    from .topics import check_query_mode, read_topics

    check_query_mode(args.query_mode)
    config = DistillConfig(loss=args.loss, negatives=args.negatives, negative_ranks=tuple(args.negative_ranks),
                           batch_size=args.batch_size, epochs=args.epochs, max_steps=args.max_steps,
                           learning_rate=args.learning_rate, max_length=args.max_length,
                           validation_fraction=args.validation_fraction, eval_every=args.eval_every,
                           patience=args.patience, checkpoint_every=args.checkpoint_every, seed=args.seed,
                           mode=args.query_mode)
    result = distill(read_topics(args.topics), args.teacher_run, args.collection, args.init_model, args.output,
                     qrels=read_qrels(args.qrels) if args.qrels else None, teacher_model=args.teacher_model,
                     config=config, device=args.device, threads=args.threads, progress=not args.quiet,
                     validation=read_topics(args.validation_topics) if args.validation_topics else None,
                     index=args.index, heap=args.java_heap)
    print(f"{args.output}: {result['steps']} steps, best at step {result['best_step']} "
          f"(validation MRR {result['best_validation_mrr']}, before training {result['initial_validation_mrr']})")
    return 0


# -- demo ----------------------------------------------------------------------------------------
def _demo_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the whole pipeline on the bundled sample with SPLADE-tiny",
                            description="Encode, index, search (raw, disco, rewrite) and evaluate the sample "
                                        "conversations that ship with the package.")
    parser.add_argument("--output", default="runs", metavar="DIR", help="where runs and work files go (default: runs)")
    parser.add_argument("--model", default="splade-tiny", help="preset, hub id or folder (default: splade-tiny)")
    parser.add_argument("--threads", type=positive_int, default=None)
    _add_java_options(parser)
    parser.set_defaults(command=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    print(run_demo(args.output, model=args.model, threads=args.threads, heap=args.java_heap,
                   progress=not args.quiet))
    return 0


SUBCOMMANDS = (_topics_parser, _encode_parser, _index_parser, _encode_queries_parser, _search_parser,
               _evaluate_parser, _compare_parser, _fuse_parser, _distill_parser, _run_parser, _demo_parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="disco-pyserini",
                                     description="DiSCo conversational sparse retrieval on Pyserini and Lucene.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="log debugging details")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bars")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _version() -> str:
    from .metadata import package_version

    return package_version()


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("disco_pyserini")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # options shared by all commands may also follow the subcommand
    args.quiet = getattr(args, "quiet", False)
    _configure_logging(args)
    try:
        return int(args.command(args))
    except DiscoError as error:
        print(f"disco-pyserini: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the file system refused: permissions, a full disk, a missing folder
        where = f"{error.filename}: " if error.filename else ""
        print(f"disco-pyserini: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("disco-pyserini: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
