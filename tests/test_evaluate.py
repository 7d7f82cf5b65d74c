"""The evaluator against brute-force references: analogies (3CosAdd, 3CosMul), word
similarity, neighbours, in both modes; malformed lines; gensim's vocabulary rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy import stats

from latentspark import embeddings
from latentspark.cli import main
from latentspark.evaluation import Lexicon, parse_analogies, parse_pairs
from latentspark.fs import HadoopFS
from tests.eval_reference import (
    known_words,
    reference_analogies,
    reference_neighbours,
    reference_seed,
    unit64,
)

V, DIM, RESTRICT = 160, 8, 120


def make_words() -> list[str]:
    words = [f"w{i}" for i in range(V)]
    words[9] = "W3"  # a rarer case variant of w3: excluded with it, never its vector
    words[30] = "W12"
    return words


def make_questions(words: list[str], vectors: np.ndarray) -> list[tuple[str, str, str, str]]:
    rng = np.random.default_rng(7)
    qs = []
    for _ in range(60):
        a, b, c, d = (words[i] for i in rng.choice(RESTRICT, 4, replace=False))
        qs.append((a.upper() if rng.random() < 0.2 else a, b, c, d))
    qs += [("w3", "w12", "w5", "w7"), ("W3", "w1", "w12", "w2"), ("w1", "w2", "zzz", "w4"),
           ("w1", "w2", "w3", f"w{RESTRICT + 5}"), (f"w{RESTRICT}", "w2", "w3", "w4")]
    # make about half answerable-and-right, so that accuracy is neither 0 nor 1
    ref = reference_analogies(words, vectors, qs, RESTRICT)
    return [(a, b, c, r[0] if r and i % 2 == 0 else d)
            for i, ((a, b, c, d), r) in enumerate(zip(qs, ref, strict=True))]


@pytest.fixture(scope="module")
def setup(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(V, DIM)).astype(np.float32)
    words = make_words()
    emb = tmp / "emb"
    embeddings.write(HadoopFS(spark), str(emb / "data"),
                     embeddings.to_table(words, np.arange(V, 0, -1), vectors))
    questions = make_questions(words, vectors)
    qfile = tmp / "questions.txt"
    body = [": capital-things"] + [" ".join(q) for q in questions[:30]]
    body += [": gram1-things"] + [" ".join(q) for q in questions[30:]]
    qfile.write_text("\n".join(body) + "\n")
    return {"tmp": tmp, "emb": emb, "words": words, "vectors": vectors,
            "questions": questions, "qfile": qfile}


def run_eval(setup, root: Path, *extra: str) -> dict:
    code = main(["evaluate", "-q", "--root", str(root), "--embeddings", str(setup["emb"]),
                 "--set", "index.shards=2", "--set", "index.n_trees=10",
                 "--set", f"index.cache_dir={json.dumps(str(setup['tmp'] / 'cache'))}",
                 "--set", f"evaluate.restrict_vocab={RESTRICT}", *extra])
    assert code == 0
    [version] = sorted((root / "eval").iterdir())
    return {"path": version,
            "summary": json.loads((version / "summary.json").read_text())}


@pytest.mark.parametrize("mode", ["exact", "annoy"])
def test_analogies_equal_brute_force(setup, tmp_path, mode):
    # annoy mode with more candidates than a shard holds must find exactly what exact finds
    out = run_eval(setup, tmp_path / "run", "--analogies", str(setup["qfile"]), "--mode", mode,
                   "--set", "evaluate.candidates=500", "--set", "evaluate.recall_sample=0",
                   "--set", "evaluate.block_rows=256", "--set", "evaluate.query_chunk=7")
    rows = sorted(pq.read_table(out["path"] / "data" / "analogies").to_pylist(),
                  key=lambda r: r["qid"])
    words, vectors, questions = setup["words"], setup["vectors"], setup["questions"]
    ref = reference_analogies(words, vectors, questions, RESTRICT)
    assert len(rows) == len(questions)
    assert any(r and r[0] != r[1] for r in ref), "test data must tell 3CosAdd from 3CosMul"
    for row, want, q in zip(rows, ref, questions, strict=True):
        assert (row["a"], row["b"], row["c"], row["expected"]) == q
        assert row["answerable"] == (want is not None)
        if want is None:
            assert row["answer_3cosadd"] is None and row["answer_3cosmul"] is None
            continue
        assert (row["answer_3cosadd"], row["answer_3cosmul"]) == want[:2]
        # the reported score is 3CosMul by Levy and Goldberg's definition
        assert row["score_3cosmul"] == pytest.approx(want[2], rel=1e-4)
        assert row["correct_3cosadd"] == (want[0].upper() == q[3].upper())
    total = out["summary"]["analogies"]["total"]
    answerable = [r for r in ref if r is not None]
    right_add = sum(r[0].upper() == q[3].upper() for r, q in zip(ref, questions, strict=True)
                    if r)
    right_mul = sum(r[1].upper() == q[3].upper() for r, q in zip(ref, questions, strict=True)
                    if r)
    assert (total["questions"], total["answerable"]) == (len(questions), len(answerable))
    assert total["3cosadd"]["correct"] == right_add
    assert total["3cosmul"]["correct"] == right_mul
    assert total["3cosadd"]["accuracy"] == pytest.approx(right_add / len(answerable))
    assert 0 < right_add < len(answerable)
    sections = {s["name"]: s for s in out["summary"]["analogies"]["sections"]}
    assert sections["capital-things"]["kind"] == "semantic"
    assert sections["gram1-things"]["kind"] == "syntactic"
    assert out["summary"]["analogies"]["semantic"]["questions"] == 30
    assert (tmp_path / "run" / "eval").exists()
    assert "capital-things" in (out["path"] / "report.md").read_text()


def test_oov_policy_wrong_counts_unanswerable_as_incorrect(setup, tmp_path):
    out = run_eval(setup, tmp_path / "run", "--analogies", str(setup["qfile"]), "--set",
                   "evaluate.oov=\"wrong\"", "--set", "evaluate.methods=\"3cosadd\"", "--set",
                   "evaluate.recall_sample=0")
    total = out["summary"]["analogies"]["total"]
    ref = reference_analogies(setup["words"], setup["vectors"], setup["questions"], RESTRICT)
    right = sum(r[0].upper() == q[3].upper() for r, q in zip(ref, setup["questions"],
                                                             strict=True) if r)
    assert total["oov"] == sum(r is None for r in ref) > 0
    assert total["scored"] == len(ref)
    assert total["3cosadd"]["accuracy"] == pytest.approx(right / len(ref))
    assert "3cosmul" not in total


def test_similarity_matches_scipy_on_reference_cosines(setup, tmp_path):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("# word1 word2 score\n"
                     "w1\tw2\t3.5\nw3 w4 1.0\nW3\tw7\t7\nw5 w6 2.25\n"
                     "w8\tzzz\t4\n"  # out of vocabulary
                     f"w1 w{RESTRICT + 1} 4\n"  # outside restrict_vocab: out of vocabulary
                     "w9 w10\n"  # malformed: line 8
                     "w11 w12 9.5\nw13 w14 0.5\n")
    out = run_eval(setup, tmp_path / "run", "--similarity", str(pairs), "--set",
                   "evaluate.recall_sample=0")
    [sim] = out["summary"]["similarity"]
    first = known_words(setup["words"], RESTRICT)
    unit = unit64(setup["vectors"])
    used = [("w1", "w2", 3.5), ("w3", "w4", 1.0), ("W3", "w7", 7.0), ("w5", "w6", 2.25),
            ("w11", "w12", 9.5), ("w13", "w14", 0.5)]
    model = [unit[first[a.upper()]] @ unit[first[b.upper()]] for a, b, _ in used]
    gold = [g for *_, g in used]
    assert sim["pearson"] == pytest.approx(stats.pearsonr(gold, model)[0], abs=1e-5)
    assert sim["spearman"] == pytest.approx(stats.spearmanr(gold, model)[0], abs=1e-5)
    assert (sim["pairs"], sim["oov"]) == (8, 2)
    assert sim["oov_ratio"] == pytest.approx(25.0)
    [bad] = out["summary"]["malformed_lines"]
    assert (bad["file"], bad["line"]) == (str(pairs), 8)


def export_neighbours(setup, root: Path, mode: str, budget_mb: int, *extra: str):
    """``latentspark neighbours --all`` (k = 4) into ``root``; its Parquet table."""
    code = main(["neighbours", "--all", "-q", "--root", str(root), "--embeddings",
                 str(setup["emb"]), "--mode", mode, "-k", "4", "--set", "index.n_trees=10",
                 "--set", "index.shards=3", "--set", "evaluate.candidates=500", "--set",
                 "evaluate.block_rows=300", "--set", f"evaluate.worker_vectors_mb={budget_mb}",
                 *extra])
    assert code == 0
    [version] = (root / "neighbours").iterdir()
    return pq.read_table(version / "data")


# ivf probing every one of its clusters searches every word: exact answers
ALL_PROBED = ("--set", "evaluate.ivf_clusters=12", "--set", "evaluate.ivf_probes=12")


@pytest.mark.parametrize(("mode", "budget_mb", "extra"), [
    ("exact", 4096, ()), ("annoy", 4096, ()), ("exact", 0, ()), ("annoy", 0, ()),
    ("ivf", 4096, ALL_PROBED), ("ivf", 0, ALL_PROBED)])
def test_bulk_neighbours_equal_brute_force(setup, tmp_path, mode, budget_mb, extra):
    # budget 0: every task maps one query and one target shard, Spark merges the candidates
    table = export_neighbours(setup, tmp_path / "run", mode, budget_mb, *extra)
    assert table.column_names == ["word", "rank", "neighbour", "similarity"]
    assert table.num_rows == V * 4
    got = {(r["word"], r["rank"]): (r["neighbour"], r["similarity"]) for r in table.to_pylist()}
    ids, sims = reference_neighbours(setup["vectors"], 4)
    words = setup["words"]
    for i in range(V):
        for rank in range(4):
            neighbour, sim = got[(words[i], rank + 1)]
            assert neighbour == words[ids[i, rank]]
            assert sim == pytest.approx(sims[i, rank], abs=1e-5)


@pytest.mark.parametrize("budget_mb", [4096, 0])
def test_ivf_export_schema_recall_and_determinism(setup, tmp_path, budget_mb):
    extra = ("--set", "evaluate.ivf_clusters=16", "--set", "evaluate.ivf_probes=6")
    first = export_neighbours(setup, tmp_path / "a", "ivf", budget_mb, *extra)
    again = export_neighbours(setup, tmp_path / "b", "ivf", budget_mb, *extra)
    exact = export_neighbours(setup, tmp_path / "c", "exact", budget_mb)
    assert first.schema == exact.schema
    assert first.num_rows == exact.num_rows == V * 4

    def lists(table):
        rows = sorted(table.to_pylist(), key=lambda r: (r["word"], r["rank"]))
        return {w: [(r["neighbour"], r["similarity"]) for r in rows if r["word"] == w]
                for w in {r["word"] for r in rows}}

    a, b, want = lists(first), lists(again), lists(exact)
    assert a == b  # seeded clusters: the same answer twice
    assert all(w not in [n for n, _ in a[w]] for w in a)  # never itself
    hits = [len({n for n, _ in a[w]} & {n for n, _ in want[w]}) / 4 for w in want]
    # 6 of 16 clusters of 8-dimensional Gaussian noise (no neighbourhoods): well above
    # chance (6/16), below exact
    assert 0.6 < np.mean(hits) < 1.0
    manifest = json.loads((next((tmp_path / "a" / "neighbours").iterdir()) /
                           "manifest.json").read_text())
    assert manifest["mode"] == "ivf"
    assert manifest["ivf"]["probes"] == 6


def test_recall_and_word_lists_in_report(setup, tmp_path):
    out = run_eval(setup, tmp_path / "run", "--word", "w1", "--word", "nope", "--mode", "annoy",
                   "-k", "5", "--set", "evaluate.recall_sample=40", "--set",
                   "evaluate.candidates=3")
    s = out["summary"]
    ids, _ = reference_neighbours(setup["vectors"], 5)
    assert [n for n, _ in s["neighbours"]["w1"]][:1] == [setup["words"][ids[1, 0]]]
    assert s["neighbours_unknown"] == ["nope"]
    assert s["annoy_recall"]["sample"] == 40
    # with 3 candidates per shard Annoy cannot find 5 neighbours of every word: recall < 1
    assert 0.3 < s["annoy_recall"]["recall"] < 1.0


def test_report_word_lists_searched_shard_by_shard(setup, tmp_path):
    # a budget of 0 MiB: the listed words' neighbours come from per-shard candidates
    out = run_eval(setup, tmp_path / "run", "--word", "w1", "--word", "w7", "--word", "nope",
                   "--mode", "exact", "-k", "5", "--set", "evaluate.recall_sample=0",
                   "--set", "evaluate.worker_vectors_mb=0")
    s = out["summary"]
    ids, sims = reference_neighbours(setup["vectors"], 5)
    for word in ("w1", "w7"):
        i = setup["words"].index(word)
        assert [n for n, _ in s["neighbours"][word]] == [setup["words"][j] for j in ids[i]]
        # the report rounds to 4 decimals
        assert [v for _, v in s["neighbours"][word]] == pytest.approx(sims[i].tolist(),
                                                                      abs=6e-5)
    assert s["neighbours_unknown"] == ["nope"]


def test_neighbours_command_for_a_few_words(setup, tmp_path, capsys):
    code = main(["neighbours", "-q", "--root", str(tmp_path / "run"), "--embeddings",
                 str(setup["emb"]), "--word", "W1", "--word", "nope", "-k", "3", "--mode",
                 "exact", "--set", "evaluate.worker_vectors_mb=0"])
    assert code == 0
    out = capsys.readouterr().out
    ids, _ = reference_neighbours(setup["vectors"], 3)
    i = setup["words"].index("w1")
    line = next(x for x in out.splitlines() if x.startswith("w1: "))
    assert [p.split()[0] for p in line[4:].split(", ")] == [setup["words"][j] for j in ids[i]]
    assert "nope: not in the vocabulary" in out


def test_seed_analogies_top_answers_and_ranks(setup, tmp_path):
    words, vectors = setup["words"], setup["vectors"]
    # one whose expected word is the true 3CosAdd answer (rank 1), one that is not, one with
    # a case variant among the question words, one unknown
    right = reference_analogies(words, vectors, [("w3", "w12", "w5", "w7")], RESTRICT)[0][0]
    seeds = [("w3", "w12", "w5", right), ("w40", "w41", "w42", "w43"),
             ("W3", "w1", "w12", "w2")]
    texts = [f"{b} - {a} + {c} = {d}" for a, b, c, d in seeds] + ["w1 - nope + w2 = w3"]
    out = run_eval(setup, tmp_path / "run", "--set", "evaluate.recall_sample=0", "--set",
                   f"evaluate.seed_analogies={json.dumps(texts)}")
    got = out["summary"]["seed_analogies"]
    assert [g["question"] for g in got] == texts
    for seed, g in zip(seeds, got, strict=False):
        want = reference_seed(words, vectors, seed, RESTRICT, 5)
        for method in ("3cosadd", "3cosmul"):
            assert [w for w, _ in g[method]["answers"]] == want[method][0]
            assert g[method]["rank"] == want[method][1]
    assert got[0]["3cosadd"]["rank"] == 1
    assert got[3]["unknown"] == ["nope"]
    report = (out["path"] / "report.md").read_text()
    assert f"- {texts[0]}: 3CosAdd rank 1 ({right} " in report
    assert "- w1 - nope + w2 = w3: not in the vocabulary: nope" in report


def test_seed_analogy_syntax_is_checked(setup, tmp_path, capsys):
    code = main(["evaluate", "-q", "--root", str(tmp_path / "run"), "--embeddings",
                 str(setup["emb"]), "--set", 'evaluate.seed_analogies=["king minus man"]'])
    assert code == 2
    assert "'king minus man' is not of the form" in capsys.readouterr().err


def test_malformed_lines_reported_with_file_and_line():
    text = ": sec\nw1 w2 w3 w4\n\nw1 w2 w3\n:\nw1 w2 w3 w4 w5\n: sec2\nA B C D\n"
    parsed = parse_analogies(text, "q.txt")
    assert [(p.file, p.line) for p in parsed.problems] == [("q.txt", 4), ("q.txt", 5),
                                                           ("q.txt", 6)]
    assert [(r["section"], r["line"]) for r in parsed.rows] == [("sec", 2), ("sec2", 8)]
    orphan = parse_analogies("w1 w2 w3 w4\n", "o.txt")
    assert "before any" in orphan.problems[0].reason and orphan.problems[0].line == 1
    pairs = parse_pairs("#c\na b 1\na\tb c\t2\na b\nx y nan\n", "p.txt")
    assert [r["word2"] for r in pairs.rows] == ["b", "b c"]
    assert [p.line for p in pairs.problems] == [4, 5]


def test_strict_mode_rejects_malformed_lines(setup, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text(": sec\nw1 w2 w3 w4\nw1 w2 w3\n")
    code = main(["evaluate", "-q", "--root", str(tmp_path / "run"), "--embeddings",
                 str(setup["emb"]), "--analogies", str(bad), "--set", "evaluate.strict=true",
                 "--set", "index.n_trees=5"])
    assert code == 3
    assert f"{bad}:3: expected 4 words, found 3" in capsys.readouterr().err
    assert not (tmp_path / "run" / "eval").exists()


def test_lexicon_follows_gensim_restrict_and_case_rules():
    lex = Lexicon(["the", "Paris", "paris", "PARIS", "rome"], restrict=4, case_insensitive=True)
    assert lex.id("paris") == 1 and lex.variants("PaRiS") == [1, 2, 3]
    assert lex.id("rome") is None  # outside the first 4 words
    exact = Lexicon(["the", "Paris", "paris"], restrict=3, case_insensitive=False)
    assert exact.id("paris") == 2 and exact.id("PARIS") is None
