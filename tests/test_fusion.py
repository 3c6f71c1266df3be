"""``fuse``: the DiSCo sum, reciprocal rank fusion and interpolation, against fused scores worked
out by hand on small runs written here, and against ``pyserini.fusion``'s own output on real runs
of the bundled sample (SPLADE-tiny, Lucene)."""

from __future__ import annotations

import itertools
import random

import pytest

from disco_pyserini.cli import main
from disco_pyserini.errors import SettingError
from disco_pyserini.eval.fusion import Fusion, fuse_runs
from disco_pyserini.io.runs import read_run
from disco_pyserini.pipeline.demo import sample_path


def write_run_file(path, rows, shuffle: int | None = None) -> str:
    """``rows``: ``(qid, doc, score)``; the rank column counts per query in the order given."""
    ranks: dict[str, int] = {}
    lines = []
    for qid, doc, score in rows:
        ranks[qid] = ranks.get(qid, 0) + 1
        lines.append(f"{qid} Q0 {doc} {ranks[qid]} {score:.6f} t\n")
    if shuffle is not None:
        random.Random(shuffle).shuffle(lines)
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def fuse(tmp_path, runs, *options, name="fused.trec") -> str:
    output = tmp_path / name
    assert main(["-q", "fuse", "--runs", *runs, "--output", str(output), *options]) == 0
    return output.read_text(encoding="utf-8")


# -- worked out by hand ----------------------------------------------------------------------------
def test_rrf_scores_worked_out_by_hand_written_as_anserini_writes_runs(tmp_path):
    first = write_run_file(tmp_path / "a.trec", [("10", "a", 3.0), ("10", "b", 2.0), ("10", "c", 1.0),
                                                 ("2", "x", 7.5)])
    second = write_run_file(tmp_path / "b.trec", [("10", "c", 5.0), ("10", "a", 4.0), ("10", "d", 1.0)])
    # a: 1/61 + 1/62 = 0.0325225; c: 1/63 + 1/61 = 0.0322665; b: 1/62; d: 1/63; x: 1/61.
    # Query 2 before query 10: Pyserini sorts ids made of digits as numbers.
    assert fuse(tmp_path, [first, second], "--method", "rrf", "--run-tag", "rrf") == (
        "2 Q0 x 1 0.016393 rrf\n"
        "10 Q0 a 1 0.032522 rrf\n"
        "10 Q0 c 2 0.032266 rrf\n"
        "10 Q0 b 3 0.016129 rrf\n"
        "10 Q0 d 4 0.015873 rrf\n")
    fused = Fusion("rrf", rrf_k=0).fuse([read_run(first), read_run(second)])
    assert fused["10"] == {"a": 1.5, "c": 1.333333, "b": 0.5, "d": 0.333333}  # 1 + 1/3, 1/3: kept as written
    assert list(fused["10"]) == ["a", "c", "b", "d"]


def test_rrf_of_three_runs_ties_equal_ranks_exactly_and_breaks_the_tie_by_doc_id(tmp_path):
    # a is ranked 1, 2, 7 and b 7, 1, 2: the same parts, so the same score, and a comes first
    runs = [[("q", "a", 9.0)] + [("q", f"f{i}", 8.0 - i) for i in range(5)] + [("q", "b", 1.0)],
            [("q", "b", 9.0), ("q", "a", 8.0)],
            [("q", "g", 9.0), ("q", "b", 8.0)] + [("q", f"h{i}", 7.0 - i) for i in range(4)] + [("q", "a", 1.0)]]
    paths = [write_run_file(tmp_path / f"{i}.trec", rows) for i, rows in enumerate(runs)]
    fused = Fusion("rrf").fuse([read_run(p) for p in paths])["q"]
    assert fused["a"] == fused["b"] == 0.047448  # 0.0163934 + 0.0161290 + 0.0149254
    assert [doc for doc in fused][:3] == ["a", "b", "g"]
    # the reason the parts are added with math.fsum: Pyserini's grouped pandas sum adds them in the
    # order of the runs and gives b a score one bit above a's, ranking it first
    from pyserini.fusion import reciprocal_rank_fusion
    from pyserini.trectools import TrecRun

    theirs = reciprocal_rank_fusion([TrecRun(p) for p in paths], rrf_k=60).run_data
    scores = dict(zip(theirs["docid"], theirs["score"]))
    assert scores["b"] > scores["a"] and list(theirs["docid"])[:2] == ["b", "a"]


def test_sum_with_weights_counts_a_missing_document_at_the_runs_lowest_kept_score(tmp_path):
    first = {"q": {"a": 3.0, "b": 1.0}}
    second = {"q": {"b": 5.0, "c": 2.0}}
    fused = Fusion(weights=(2.0, 0.5)).fuse([first, second])["q"]
    assert fused == {"a": 2 * 3 + 0.5 * 2, "b": 2 * 1 + 0.5 * 5, "c": 2 * 1 + 0.5 * 2}
    assert list(fused) == ["a", "b", "c"]
    # depth 1: the first run keeps a (3), the second b (5): those are the floors now
    fused = Fusion(weights=(2.0, 0.5), depth=1).fuse([first, second])["q"]
    assert fused == {"a": 2 * 3 + 0.5 * 5, "b": 2 * 3 + 0.5 * 5}
    assert list(fused) == ["a", "b"]
    assert fuse_runs([first, second]) == Fusion().fuse([first, second])  # distill's teacher is the default
    assert fuse_runs([first, second], depth=2) == {"q": {"b": 6.0, "a": 5.0}}


def test_a_sum_is_exactly_rounded_so_the_order_of_the_runs_cannot_change_a_written_score(tmp_path):
    # 0.5 * (0.004364 + 0.003749 + 0.009686) = 0.0088995, half-way between two written scores: added
    # left to right, three of the six orders of the runs give 0.008900 and three 0.008899
    scores = [0.004364, 0.003749, 0.009686]
    naive = {round(0.5 * a + 0.5 * b + 0.5 * c, 6) for a, b, c in itertools.permutations(scores)}
    assert naive == {0.0089, 0.008899}
    paths = [write_run_file(tmp_path / f"{i}.trec", [("q", "d", score)]) for i, score in enumerate(scores)]
    written = {fuse(tmp_path, list(order), "--weights", "0.5", "0.5", "0.5") for order in itertools.permutations(paths)}
    assert written == {"q Q0 d 1 0.008899 fused\n"}  # math.fsum: the sum of the three floats, rounded once


def test_interpolation_is_pyserinis_a_missing_document_adds_nothing(tmp_path):
    first = write_run_file(tmp_path / "a.trec", [("q", "a", 10.0), ("q", "b", 4.0)])
    second = write_run_file(tmp_path / "b.trec", [("q", "b", 20.0), ("q", "c", 5.0)])
    # alpha 0.25: a = 0.25 * 10 = 2.5; b = 0.25 * 4 + 0.75 * 20 = 16; c = 0.75 * 5 = 3.75
    assert fuse(tmp_path, [first, second], "--method", "interpolation", "--weights", "0.25") == (
        "q Q0 b 1 16.000000 fused\nq Q0 c 2 3.750000 fused\nq Q0 a 3 2.500000 fused\n")
    assert fuse(tmp_path, [first, second], "--method", "interpolation", "--weights", "0.25", "0.75",
                name="same.trec") == (tmp_path / "fused.trec").read_text()
    # no weights: the average, 1/2 each: a = 5, b = 12, c = 2.5
    assert fuse(tmp_path, [first, second], "--method", "interpolation", "--hits", "2", name="avg.trec") == (
        "q Q0 b 1 12.000000 fused\nq Q0 a 2 5.000000 fused\n")


def test_depth_fuses_only_each_runs_first_hits_and_hits_cuts_the_output(tmp_path):
    first = write_run_file(tmp_path / "a.trec", [("q", "a", 3.0), ("q", "b", 2.0), ("q", "z", 1.0)])
    second = write_run_file(tmp_path / "b.trec", [("q", "b", 3.0), ("q", "c", 2.0), ("q", "z", 1.0)])
    # depth 2: z (third in both) is not fused; b = 1/62 + 1/61, a = 1/61, c = 1/62
    assert fuse(tmp_path, [first, second], "--method", "rrf", "--depth", "2") == (
        "q Q0 b 1 0.032522 fused\nq Q0 a 2 0.016393 fused\nq Q0 c 3 0.016129 fused\n")
    assert fuse(tmp_path, [first, second], "--method", "rrf", "--hits", "1", name="one.trec") == (
        "q Q0 b 1 0.032522 fused\n")


@pytest.mark.parametrize("method", ["sum", "rrf", "interpolation"])
def test_the_bytes_depend_neither_on_the_order_of_the_runs_nor_on_their_lines(tmp_path, method):
    rng = random.Random(7)
    runs = [[(q, f"d{rng.randrange(40)}", rng.randrange(1, 60) / 8) for q in ("3", "1_2", "12") for _ in range(25)]
            for _ in range(3)]
    runs = [list({(q, d): (q, d, s) for q, d, s in rows}.values()) for rows in runs]  # one line per (q, d)
    ordered = [write_run_file(tmp_path / f"{i}.trec", rows) for i, rows in enumerate(runs)]
    shuffled = [write_run_file(tmp_path / f"{i}.shuffled.trec", rows, shuffle=i) for i, rows in enumerate(runs)]
    first = fuse(tmp_path, ordered, "--method", method)
    assert first == fuse(tmp_path, shuffled[::-1], "--method", method, name="again.trec")
    lines = first.splitlines()
    assert list(dict.fromkeys(line.split()[0] for line in lines)) == ["12", "1_2", "3"]  # sorted as strings
    for qid in ("1_2", "12", "3"):
        scores = [(-float(x.split()[4]), x.split()[2]) for x in lines if x.split()[0] == qid]
        assert scores == sorted(scores) and len(scores) > 25


def test_settings_that_do_not_fit_are_refused_by_flag(tmp_path, capsys):
    first = write_run_file(tmp_path / "a.trec", [("q", "a", 3.0)])
    second = write_run_file(tmp_path / "b.trec", [("q", "b", 3.0)])
    cases = [(["--method", "rrf", "--weights", "1", "2"], "--weights are not taken by rrf"),
             (["--weights", "1", "2", "3"], "--weights are 3 for 2 runs: give one per run"),
             (["--method", "interpolation", "--weights", "0.5", "0.6"], "--weights of an interpolation must sum to 1"),
             (["--method", "interpolation", "--weights", "1.5"], "alpha, between 0 and 1"),
             (["--weights", "-1", "1"], "--weights must be finite and at least 0"),
             (["--weights", "nan", "1"], "--weights must be finite"),
             (["--weights", "0", "0"], "--weights are all 0")]
    for options, message in cases:
        output = tmp_path / "out.trec"
        assert main(["fuse", "--runs", first, second, "--output", str(output), *options]) == 2, options
        err = capsys.readouterr().err
        assert message in err and len(err.splitlines()) == 1 and not output.exists(), (options, err)
    three = [first, second, first]
    assert main(["fuse", "--runs", *three, "--output", str(tmp_path / "o"), "--method", "interpolation",
                 "--weights", "0.5"]) == 2
    assert "a single weight (alpha) interpolates two runs, not 3" in capsys.readouterr().err
    for flag, value in (("--depth", "0"), ("--hits", "0"), ("--rrf-k", "-1"), ("--method", "max")):
        with pytest.raises(SystemExit) as stop:
            main(["fuse", "--runs", first, "--output", str(tmp_path / "o"), flag, value])
        assert stop.value.code == 2 and flag in capsys.readouterr().err
    with pytest.raises(SettingError, match="method 'max'"):
        Fusion("max")  # type: ignore[arg-type]
    with pytest.raises(SettingError, match="depth must be a whole number"):
        Fusion(depth=0)


# -- real runs, against pyserini.fusion ------------------------------------------------------------
@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory, sample_index):
    """Three real runs of the bundled sample's 50 turns (raw, rewrite, history), 100 hits each."""
    root = tmp_path_factory.mktemp("fusion")
    paths = []
    for mode in ("raw", "rewrite", "history"):
        path = root / f"{mode}.trec"
        assert main(["-q", "search", "--index", str(sample_index / "index"), "--topics", sample_path("topics.jsonl"),
                     "--model", "splade-tiny", "--output", str(path), "--hits", "100", "--query-mode", mode,
                     "--no-query-cache"]) == 0
        paths.append(str(path))
    return paths


def pyserini_hits(trec_run) -> dict[str, list[tuple[str, float]]]:
    fused: dict[str, list[tuple[str, float]]] = {}
    for topic, docid, score in zip(trec_run.run_data["topic"], trec_run.run_data["docid"], trec_run.run_data["score"]):
        fused.setdefault(str(topic), []).append((docid, float(score)))
    return fused


def anserini_lines(fused: dict[str, list[tuple[str, float]]], tag: str) -> str:
    return "".join(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n" for qid in sorted(fused)
                   for rank, (doc, score) in enumerate(fused[qid], start=1))


@pytest.mark.java
@pytest.mark.parametrize("count", [2, 3])
def test_rrf_and_interpolation_are_pyserinis_on_real_runs(sample_runs, tmp_path, count):
    """Pyserini's fused scores, kept as a run file writes them (six decimals) and ranked as Anserini
    ranks (score, then doc id), are ours; Pyserini fuses every hit (no ``k``) so that the cut to
    ``hits`` is made after that ranking."""
    from pyserini.fusion import average, interpolation, reciprocal_rank_fusion
    from pyserini.trectools import TrecRun

    paths = sample_runs[:count]
    runs = [read_run(p) for p in paths]
    assert all(len(run) == 50 for run in runs) and len({tuple(r["1_2"]) for r in runs}) == count

    def trec_runs():
        return [TrecRun(p) for p in paths]

    cases = [(Fusion("rrf", depth=60, hits=40), ["--method", "rrf", "--depth", "60", "--hits", "40"],
              reciprocal_rank_fusion(trec_runs(), rrf_k=60, depth=60)),
             (Fusion("rrf", rrf_k=5, hits=1000), ["--method", "rrf", "--rrf-k", "5"],
              reciprocal_rank_fusion(trec_runs(), rrf_k=5)),
             (Fusion("interpolation", depth=80, hits=1000), ["--method", "interpolation", "--depth", "80"],
              average(trec_runs(), depth=80))]
    if count == 2:
        cases.append((Fusion("interpolation", weights=(0.3,), hits=50),
                      ["--method", "interpolation", "--weights", "0.3", "--hits", "50"],
                      interpolation(trec_runs(), alpha=0.3)))
    for fusion, options, theirs in cases:
        ours = {qid: [(hit.doc_id, hit.score) for hit in hits] for qid, hits in fusion.ranked(runs)}
        expected = {qid: sorted(((doc, round(score, 6)) for doc, score in hits), key=lambda h: (-h[1], h[0]))
                    [:fusion.hits] for qid, hits in pyserini_hits(theirs).items()}
        assert ours.keys() == expected.keys()
        for qid in ours:
            assert ours[qid] == expected[qid], (options, qid)
        # the file: Pyserini's fused hits as Anserini writes a run (sorted() is Pyserini's query
        # order here: the ids are not all numbers)
        assert fuse(tmp_path, paths, *options, "--run-tag", "t") == anserini_lines(expected, "t"), options


@pytest.mark.java
def test_the_default_sum_is_the_disco_teachers_sum_on_real_runs(sample_runs, tmp_path):
    """A literal transcription of the sum ``fuse`` always wrote (the run's lowest score for a
    missing document), formatted as Anserini writes runs; integer impact scores add exactly."""
    for paths in (sample_runs[:2], sample_runs):
        runs = [read_run(p) for p in paths]
        expected = {}
        for qid in {q for run in runs for q in run}:
            docs = set().union(*(run.get(qid, {}) for run in runs))
            totals = {d: sum(run[qid].get(d, min(run[qid].values())) for run in runs if qid in run) for d in docs}
            expected[qid] = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:30]
        assert fuse(tmp_path, paths, "--hits", "30") == anserini_lines(expected, "fused")
