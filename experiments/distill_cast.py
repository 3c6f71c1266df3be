"""Distil a DiSCo version of SPLADE-tiny on TREC CAsT 2019-2022 and evaluate it on held-apart conversations.

    make distill-cast        (or: .venv/bin/python experiments/distill_cast.py)

Data, all real, from ../shared/data (nothing from heldout/):
* topics: every turn of CAsT 2019-2022 with its manual rewrite (converted by `disco-pyserini topics`);
* corpus: the texts those topic files carry, CAsT 2021's canonical passages and CAsT 2022's system
  responses, plus the 3,204 CACM abstracts as distractors;
* judgments: a CAsT 2021 turn's canonical passage and a CAsT 2022 turn's own response are its
  relevant document (relevance 2); CAsT 2019 and 2020 turns have no text in the corpus and train
  on the teacher's ranking alone.

Half of the CAsT 2021 and 2022 conversations (chosen by a seeded hash of the topic number) are
held apart for the test; training uses every other conversation, and a quarter of its judged
conversations are held apart for early stopping, which searches the index with the student and
measures MRR as the test does. Settings were chosen before looking at the test split:
the learning rate for a 4.4 M-parameter model, negatives from the teacher's ranks 2-100 because
the corpus is small (see the options). The teacher is SPLADE-tiny on the manual rewrite; the
student starts from SPLADE-tiny and reads the flattened conversation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("DISCO_PYSERINI_SHARED", REPO.parent / "shared"))
CAST = SHARED / "data" / "cast"


def cast(path: str) -> str:
    full = CAST / path
    if not full.exists():
        sys.exit(f"{full} is absent: this experiment reads TREC CAsT from ../shared/data/cast")
    return str(full)


def held_out(topic_number: str, seed: int) -> bool:
    return int(hashlib.sha256(f"{seed}:{topic_number}".encode()).hexdigest(), 16) % 2 == 0


def build_split(work: Path, seed: int) -> tuple[list, list, list]:
    """The corpus, judgments and topic splits of this experiment, written into ``work``
    (``corpus.jsonl``, ``train.jsonl``, ``validation.jsonl``, ``test.jsonl`` (the held-apart
    conversations), ``train.qrels``, ``test.qrels``); returns the train, validation and test topics."""
    from disco_pyserini.datasets.cacm import read_cacm_corpus
    from disco_pyserini.datasets.conversational import convert_topics
    from disco_pyserini.io.runs import Qrel, write_qrels
    from disco_pyserini.io.topics import write_topics

    work.mkdir(parents=True, exist_ok=True)
    years = {
        "cast2019": [cast("2019/evaluation_topics_v1.0.json"),
                     cast("2019/evaluation_topics_annotated_resolved_v1.0.tsv")],
        "cast2020": [cast("2020/2020_manual_evaluation_topics_v1.0.json"),
                     cast("2020/2020_automatic_evaluation_topics_v1.0.json")],
        "cast2021": [cast("2021/2021_manual_evaluation_topics_v1.0.json"),
                     cast("2021/2021_automatic_evaluation_topics_v1.0.json")],
        "cast2022": [cast("2022/2022_evaluation_topics_tree_v1.0.json")],
    }
    topics = {fmt: convert_topics(fmt, inputs) for fmt, inputs in years.items()}

    # the corpus: texts the topic files carry, and CACM as distractors
    documents: dict[str, str] = {}
    qrels: list[Qrel] = []
    raw2021 = json.load(open(years["cast2021"][0], encoding="utf-8"))
    for topic in raw2021:
        for turn in topic["turn"]:
            doc_id = f"{turn['canonical_result_id']}-{turn['passage_id']}"  # one document, several passages
            documents.setdefault(doc_id, " ".join(turn["passage"].split()))
            qrels.append(Qrel(f"{topic['number']}_{turn['number']}", doc_id, 2))
    responses = {}
    for topic in json.load(open(years["cast2022"][0], encoding="utf-8")):
        for turn in topic["turn"]:
            if turn.get("participant") == "System" and turn.get("response"):
                responses.setdefault(f"{topic['number']}_{turn['parent']}", " ".join(turn["response"].split()))
    for qid, text in responses.items():
        documents[f"CAsT22R_{qid}"] = text
        qrels.append(Qrel(qid, f"CAsT22R_{qid}", 2))
    for document in read_cacm_corpus(str(SHARED / "data" / "cacm" / "cacm.tar.gz")):
        documents[document.doc_id] = document.text
    with open(work / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for doc_id, text in documents.items():
            handle.write(json.dumps({"id": doc_id, "contents": text}, ensure_ascii=False) + "\n")

    # held-apart conversations: half of CAsT 2021 and 2022, by topic number
    train, test = [], []
    for fmt, turns in topics.items():
        for topic in turns:
            number = topic.query_id.split("_")[0]
            (test if fmt in ("cast2021", "cast2022") and held_out(number, seed) else train).append(topic)
    test_ids = {t.query_id for t in test}
    judged = {q.query_id for q in qrels}
    test = [t for t in test if t.query_id in judged]
    # early stopping watches a quarter of the judged training conversations (CAsT 2021-2022): the
    # 2019-2020 turns have no relevant text in this corpus, only the teacher's ranking
    judged_train = sorted({t.query_id.split("_")[0] for t in train if t.query_id in judged})
    watched = {c for c in judged_train if int(hashlib.sha256(f"v{seed}:{c}".encode()).hexdigest(), 16) % 4 == 0}
    validation = [t for t in train if t.query_id.split("_")[0] in watched and t.query_id in judged]
    train = [t for t in train if t.query_id.split("_")[0] not in watched]
    write_topics(validation, work / "validation.jsonl")
    write_topics(train, work / "train.jsonl")
    write_topics(test, work / "test.jsonl")
    write_qrels(work / "train.qrels", [q for q in qrels if q.query_id not in test_ids])
    write_qrels(work / "test.qrels", [q for q in qrels if q.query_id in test_ids])
    print(f"corpus {len(documents)} documents; training {len(train)} turns; validation {len(validation)}; "
          f"test {len(test)} turns of "
          f"{len({t.query_id.split('_')[0] for t in test})} held-apart conversations")

    return train, validation, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(REPO / "runs" / "distill-cast"))
    parser.add_argument("--model", default="splade-tiny")
    # chosen on the validation conversations: with 5 epochs and patience 6 (validations every 25
    # steps) training stopped at step 450 with the validation MRR still rising (best 0.520); 12 and
    # 12 reach 0.533 (step 600 of 900); lr 5e-4 gave 0.523, training on judged turns only 0.505
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--patience", type=int, default=12)
    # SPLADE-tiny has 4.4 M parameters: 10x the reference learning rate of BERT-base DiSCo
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    # the corpus is 3.6k documents: ranks 11-960 are nearly all of it, and the hardest negatives (the
    # passages the history itself quotes) rank 2-10 for the teacher; sample from ranks 2-100 instead
    parser.add_argument("--negative-ranks", type=int, nargs=2, default=(2, 100))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compare-mse", action="store_true",
                        help="also distil with the representation-level objective (--loss mse) and report it")
    args = parser.parse_args()

    from disco_pyserini.cli import main as cli
    from disco_pyserini.io.topics import write_topics

    work = Path(args.work)
    train, validation, test = build_split(work, args.seed)

    def run(*argv: str) -> None:
        if cli(["-q", *argv]) != 0:
            sys.exit(f"disco-pyserini {argv[0]} failed")

    threads = ["--threads", str(args.threads)]
    collection, index = str(work / "collection"), str(work / "index")
    if not (work / "index" / "disco_index.json").exists():
        run("encode", "--corpus", str(work / "corpus.jsonl"), "--model", args.model, "--output", collection,
            "--overwrite", *threads)
        run("index", "--collection", collection, "--index", index, "--overwrite", *threads)
    write_topics(train + validation, work / "train+validation.jsonl")
    run("search", "--index", index, "--topics", str(work / "train+validation.jsonl"), "--model", args.model,
        "--query-mode", "rewrite", "--output", str(work / "teacher.trec"), "--hits", "1000", "--no-query-cache",
        "--backend", "torch", *threads)  # torch: the figures in docs/distillation.md were made with it
    run("distill", "--topics", str(work / "train.jsonl"), "--teacher-run", str(work / "teacher.trec"),
        "--collection", collection, "--index", index, "--init-model", args.model, "--qrels", str(work / "train.qrels"),
        "--validation-topics", str(work / "validation.jsonl"), "--patience", str(args.patience),
        "--output", str(work / "model"), "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate),
        "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--eval-every", "25",
        "--negative-ranks", *map(str, args.negative_ranks), *threads)

    searches = [("raw", args.model, "raw"), ("disco-original", args.model, "disco"),
                ("rewrite-teacher", args.model, "rewrite"), ("disco-distilled", str(work / "model"), "disco")]
    if args.compare_mse:
        run("distill", "--loss", "mse", "--topics", str(work / "train.jsonl"), "--teacher-run",
            str(work / "teacher.trec"), "--collection", collection, "--index", index, "--init-model", args.model,
            "--teacher-model", args.model, "--validation-topics", str(work / "validation.jsonl"),
            "--qrels", str(work / "train.qrels"), "--patience", str(args.patience), "--output", str(work / "model-mse"),
            "--epochs", str(args.epochs), "--learning-rate", str(args.learning_rate), "--batch-size",
            str(args.batch_size), "--seed", str(args.seed), "--eval-every", "25", *threads)
        searches.append(("disco-distilled-mse", str(work / "model-mse"), "disco"))
    runs = []
    for name, model, mode in searches:
        output = str(work / f"test.{name}.trec")
        run("search", "--index", index, "--topics", str(work / "test.jsonl"), "--model", model, "--query-mode",
            mode, "--output", output, "--hits", "1000", "--no-query-cache", "--backend", "torch", *threads)
        runs.append(output)
    cli(["compare", "--qrels", str(work / "test.qrels"), "--runs", *runs, "--protocol", "disco", "--topics",
         str(work / "test.jsonl"), "--output", str(work / "compare")])


if __name__ == "__main__":
    main()
