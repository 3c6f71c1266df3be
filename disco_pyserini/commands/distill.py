"""``disco-pyserini distill``: train a DiSCo query encoder from rewrite teacher runs."""

from __future__ import annotations

import argparse

from .options import add_java_options, positive_float, positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    add_java_options(parser)
    parser.set_defaults(command=run, flags={"model": "--init-model"})


def run(args: argparse.Namespace) -> int:
    from ..distill.train import DistillConfig, distill
    from ..io.runs import read_qrels
    from ..io.topics import check_query_mode, read_topics

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
