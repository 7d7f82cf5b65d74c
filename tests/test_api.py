"""The Python API (latentspark.load) against the evaluator's per-question answers, brute-force
numpy and gensim, on a planted space; model roots, LATEST and the Annoy index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import latentspark
from latentspark import embeddings
from latentspark.cli import main
from latentspark.errors import ConfigError, InputError, UnknownWordError
from latentspark.fs import HadoopFS
from tests.eval_reference import unit64

V, DIM, RESTRICT, CANDIDATES = 160, 8, 120, 15


def planted(seed: int = 3) -> tuple[list[str], np.ndarray]:
    """Random vectors, plus a few words planted on analogy parallelograms."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(V, DIM)).astype(np.float32)
    # w0 : w1 :: w2 : w3 holds exactly, so the planted answer must come out first
    vectors[3] = vectors[1] - vectors[0] + vectors[2]
    return [f"w{i}" for i in range(V)], vectors


def questions(rng: np.random.Generator) -> list[tuple[str, str, str, str]]:
    qs = [("w0", "w1", "w2", "w3")]
    for _ in range(50):
        a, b, c, d = rng.choice(RESTRICT, 4, replace=False)
        qs.append((f"w{a}", f"w{b}", f"w{c}", f"w{d}"))
    qs += [("w1", "w2", "zzz", "w4"), (f"w{RESTRICT + 3}", "w2", "w5", "w4")]  # out of vocab
    return qs


@pytest.fixture(scope="module")
def space(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api")
    words, vectors = planted()
    emb = tmp / "emb"
    embeddings.write(HadoopFS(spark), str(emb / "data"),
                     embeddings.to_table(words, np.arange(V, 0, -1), vectors),
                     rows_per_file=70)  # several files: the loader must order them
    (emb / "manifest.json").write_text(json.dumps({"stage": "embeddings", "version": "e1",
                                                   "dim": DIM, "vocab_size": V}))
    qs = questions(np.random.default_rng(5))
    qfile = tmp / "questions.txt"
    qfile.write_text(": planted\n" + "".join(" ".join(q) + "\n" for q in qs))
    answers = {}
    for mode in ("exact", "annoy"):
        root = tmp / f"run-{mode}"
        assert main(["evaluate", "-q", "--root", str(root), "--embeddings", str(emb),
                     "--analogies", str(qfile), "--mode", mode,
                     "--set", "index.shards=2", "--set", "index.n_trees=3",
                     "--set", f"index.cache_dir={json.dumps(str(tmp / 'cache'))}",
                     "--set", f"evaluate.candidates={CANDIDATES}",
                     "--set", f"evaluate.restrict_vocab={RESTRICT}",
                     "--set", "evaluate.recall_sample=0"]) == 0
        [version] = (root / "eval").iterdir()
        answers[mode] = sorted(pq.read_table(version / "data" / "analogies").to_pylist(),
                               key=lambda r: r["qid"])
    # a model root as the pipeline leaves it: LATEST -> version with embeddings/ and index/
    models = tmp / "models"
    shutil.copytree(emb, models / "v2" / "embeddings")
    [index] = (tmp / "run-exact" / "index").iterdir()
    shutil.copytree(index, models / "v2" / "index")
    (models / "v2" / "manifest.json").write_text(json.dumps({"version": "v2", "gate": {}}))
    (models / "LATEST").write_text("v2\n")
    return {"tmp": tmp, "emb": emb, "models": models, "words": words, "vectors": vectors,
            "questions": qs, "answers": answers}


def analogy(kv, q, method):
    a, b, c, _ = q
    return kv.most_similar(positive=[b, c], negative=[a], topn=1, method=method,
                           restrict_vocab=RESTRICT)[0]


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_exact_answers_equal_the_evaluators(space, method):
    kv = latentspark.load(str(space["emb"]))
    assert kv.mode == "exact" and kv.index is None
    rows = space["answers"]["exact"]
    assert len(rows) == len(space["questions"])
    assert rows[0][f"answer_{method}"] == "w3"  # the planted one
    checked = 0
    for row, q in zip(rows, space["questions"], strict=True):
        if not row["answerable"]:
            if q[2] == "zzz":
                with pytest.raises(UnknownWordError):
                    analogy(kv, q, method)
            continue
        word, score = analogy(kv, q, method)
        assert word == row[f"answer_{method}"], q
        assert score == pytest.approx(row[f"score_{method}"], rel=1e-5)
        checked += 1
    assert checked == len(rows) - 2


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_annoy_answers_equal_the_evaluators_through_latest(space, method):
    kv = latentspark.load(str(space["models"]), candidates=CANDIDATES,
                          cache_dir=str(space["tmp"] / "api-cache"))
    assert kv.mode == "annoy" and kv.index is not None
    assert kv.manifest["version"] == "v2"  # the model version's manifest, LATEST resolved
    exact, annoy = space["answers"]["exact"], space["answers"]["annoy"]
    # with 15 of 80 candidates per shard, Annoy's candidates must change some answer,
    # or this test would not tell the two modes apart
    assert any(e[f"answer_{method}"] != a[f"answer_{method}"] for e, a in zip(exact, annoy,
                                                                              strict=True))
    for row, q in zip(annoy, space["questions"], strict=True):
        if row["answerable"]:
            word, score = analogy(kv, q, method)
            assert word == row[f"answer_{method}"], q
            assert score == pytest.approx(row[f"score_{method}"], rel=1e-5)
    # the same path in exact mode gives the exact evaluator's answers
    kv_exact = latentspark.load(str(space["models"]) + "/LATEST", mode="exact")
    assert kv_exact.index is None
    for row, q in zip(exact, space["questions"], strict=True):
        if row["answerable"]:
            assert analogy(kv_exact, q, method)[0] == row[f"answer_{method}"]


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_evaluate_word_analogies_scores_as_the_evaluator(space, method):
    rows = space["answers"]["exact"]
    right = [(r["a"], r["b"], r["c"], r["expected"]) for r in rows if r[f"correct_{method}"]]
    answerable = sum(r["answerable"] for r in rows)
    kv = latentspark.load(str(space["emb"]))
    qfile = str(space["tmp"] / "questions.txt")
    score, sections = kv.evaluate_word_analogies(qfile, restrict_vocab=RESTRICT, method=method)
    assert [s["section"] for s in sections] == ["planted", "Total accuracy"]
    assert sections[-1]["correct"] == right and right  # the planted question at least
    assert score == pytest.approx(len(right) / answerable)
    # out-of-vocabulary questions counted wrong: gensim's dummy4unknown
    score, sections = kv.evaluate_word_analogies(qfile, restrict_vocab=RESTRICT, method=method,
                                                 dummy4unknown=True)
    assert score == pytest.approx(len(right) / len(rows))


def test_lookups_and_similarities_against_numpy(space):
    words, vectors = space["words"], space["vectors"]
    kv = latentspark.load("file://" + str(space["models"] / "v2"), mode="exact")
    unit = unit64(vectors)
    assert (len(kv), kv.dim, kv.words) == (V, DIM, words)
    assert "w5" in kv and "zzz" not in kv
    np.testing.assert_array_equal(kv.vector("w7"), vectors[7])
    np.testing.assert_array_equal(kv["w7"], vectors[7])
    np.testing.assert_array_equal(kv[["w7", "w2"]], vectors[[7, 2]])
    assert kv.similarity("w4", "w9") == pytest.approx(unit[4] @ unit[9], abs=1e-6)
    mean = lambda ids: unit[ids].mean(axis=0) / np.linalg.norm(unit[ids].mean(axis=0))  # noqa: E731
    assert kv.n_similarity(["w1", "w2"], ["w3"]) == pytest.approx(
        mean([1, 2]) @ mean([3]), abs=1e-6)
    group = ["w1", "w2", "w3", "w40"]
    ids = [1, 2, 3, 40]
    assert kv.doesnt_match(group) == group[int(np.argmin(unit[ids] @ mean(ids)))]
    sims = unit @ unit[10]
    sims[10] = -np.inf
    top = np.argsort(-sims, kind="stable")[:5]
    got = kv.most_similar("w10", topn=5)
    assert [w for w, _ in got] == [words[i] for i in top]
    np.testing.assert_allclose([s for _, s in got], sims[top], atol=1e-6)
    # gensim on the same vectors gives the same neighbours
    gkv = kv.to_gensim()
    assert [w for w, _ in gkv.most_similar("w10", topn=5)] == [w for w, _ in got]
    assert gkv.get_vecattr("w0", "count") == V


def test_unknown_words_raise_a_key_error_naming_them(space):
    kv = latentspark.load(str(space["emb"]))
    for call in (lambda: kv["nope"], lambda: kv.vector("nope"),
                 lambda: kv.similarity("w1", "nope"), lambda: kv.most_similar(["nope"]),
                 lambda: kv.doesnt_match(["w1", "nope"])):
        with pytest.raises(KeyError) as err:
            call()
        assert isinstance(err.value, UnknownWordError)
        assert "'nope'" in str(err.value)


def test_bare_parquet_file_and_bad_paths(space, tmp_path):
    [first] = sorted((space["emb"] / "data").glob("*.parquet"))[:1]
    kv = latentspark.load(str(first))  # one file: the first 70 words
    assert len(kv) == 70 and kv.manifest == {}
    with pytest.raises(InputError, match="no such file"):
        latentspark.load(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="needs an Annoy index"):
        latentspark.load(str(space["emb"]), mode="annoy")


def test_import_is_light():
    code = "import sys, latentspark; print(sorted({'pyspark', 'pyarrow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"
