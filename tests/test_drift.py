"""The drift report against numpy and scipy references: rotations are invisible, perturbed
words stand out, vocabularies are matched by word, dimensions must agree, the CLI publishes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.linalg import orthogonal_procrustes

from latentspark import drift, embeddings
from latentspark.cli import main
from latentspark.drift import compute_drift, nearest, procrustes
from latentspark.errors import InputError
from latentspark.fs import HadoopFS

V, DIM = 300, 8


def write(spark, path: Path, words: list[str], vectors: np.ndarray,
          counts: np.ndarray | None = None, published: bool = True) -> Path:
    """An embeddings folder: a published-style one (``data/`` inside) or bare Parquet."""
    counts = np.arange(len(words), 0, -1) * 10 if counts is None else counts
    embeddings.write(HadoopFS(spark), str(path / "data" if published else path),
                     embeddings.to_table(words, counts, vectors))
    return path


def rotation(seed: int, dim: int = DIM) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def words_table(out: Path) -> dict[str, dict]:
    rows = pq.read_table(out / "words").to_pylist()
    return {r["word"]: r for r in rows}


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference_neighbours(vectors: np.ndarray, k: int) -> list[set[int]]:
    """Brute force: full similarity matrix, self excluded, top k by sort."""
    u = unit(vectors)
    sims = u @ u.T
    np.fill_diagonal(sims, -np.inf)
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in sims]


@pytest.fixture(scope="module")
def base():
    rng = np.random.default_rng(11)
    return [f"w{i}" for i in range(V)], rng.normal(size=(V, DIM)).astype(np.float32)


def test_rotation_is_no_drift(spark, tmp_path, base):
    words, x = base
    old = write(spark, tmp_path / "old", words, x)
    new = write(spark, tmp_path / "new", words, x @ rotation(5), published=False)
    s = compute_drift(spark, str(old), str(new), str(tmp_path / "out"), k=10)
    table = words_table(tmp_path / "out")
    assert len(table) == V
    cos = np.array([r["cosine"] for r in table.values()])
    assert np.all(cos > 1 - 1e-5)
    assert all(r["overlap"] == 1.0 for r in table.values())
    assert s["drift"]["max"] < 1e-5 and s["overlap"]["mean"] == 1.0
    assert s["procrustes"]["residual_after"] < 1e-3
    # unaligned, the rotation is far from the identity: the alignment did the work
    assert s["procrustes"]["residual_before"] > 10
    assert (s["shared"], s["only_old"], s["only_new"], s["dim"]) == (V, 0, 0, DIM)


def test_perturbed_words_rank_most_drifted(spark, tmp_path, base):
    words, x = base
    rng = np.random.default_rng(2)
    moved = sorted(rng.choice(V, 12, replace=False).tolist())
    y = x @ rotation(6) + rng.normal(scale=0.02, size=x.shape).astype(np.float32)
    y[moved] = rng.normal(size=(len(moved), DIM))  # a new, unrelated vector for each
    old = write(spark, tmp_path / "old", words, x)
    new = write(spark, tmp_path / "new", words, y)
    s = compute_drift(spark, str(old), str(new), str(tmp_path / "out"), k=10, top=20)
    expect = {words[i] for i in moved}
    assert {e["word"] for e in s["most_drifted"][:len(moved)]} == expect
    drifts = [e["drift"] for e in s["most_drifted"]]
    assert drifts == sorted(drifts, reverse=True)
    assert not expect & {e["word"] for e in s["least_drifted"]}
    assert all(len(e["old_neighbours"]) == len(e["new_neighbours"]) == 5
               for e in s["most_drifted"] + s["least_drifted"])
    table = words_table(tmp_path / "out")
    moved_overlap = np.mean([table[w]["overlap"] for w in expect])
    kept_overlap = np.mean([r["overlap"] for w, r in table.items() if w not in expect])
    assert moved_overlap < 0.3 < 0.7 < kept_overlap
    assert s["procrustes"]["residual_after"] < s["procrustes"]["residual_before"]
    md = (tmp_path / "out" / "summary.md").read_text()
    assert s["most_drifted"][0]["word"] in md and "Procrustes" in md


def test_vocabularies_are_matched_by_word(spark, tmp_path, base):
    words, x = base
    rng = np.random.default_rng(3)
    # old: the first 250 words plus 20 of its own; new: words 40..299 plus 30 of its own, in
    # another order, so that ids of the same word differ between versions
    old_words = words[:250] + [f"gone{i}" for i in range(20)]
    old_vec = np.vstack([x[:250], rng.normal(size=(20, DIM))]).astype(np.float32)
    order = rng.permutation(np.arange(40, V))
    new_words = [words[i] for i in order] + [f"born{i}" for i in range(30)]
    new_vec = np.vstack([x[order] @ rotation(7), rng.normal(size=(30, DIM))]).astype(np.float32)
    old_counts = rng.integers(5, 10_000, len(old_words))
    new_counts = rng.integers(5, 10_000, len(new_words))
    old = write(spark, tmp_path / "old", old_words, old_vec, old_counts)
    new = write(spark, tmp_path / "new", new_words, new_vec, new_counts)
    s = compute_drift(spark, str(old), str(new), str(tmp_path / "out"), k=5, sample=60, seed=4)
    shared = set(old_words) & set(new_words)
    assert (s["shared"], s["only_old"], s["only_new"]) == (210, 60, 80) == (
        len(shared), len(old_words) - len(shared), len(new_words) - len(shared))
    table = words_table(tmp_path / "out")
    assert set(table) == shared
    for w, r in table.items():
        i, j = old_words.index(w), new_words.index(w)
        assert (r["old_id"], r["new_id"]) == (i, j)
        assert (r["old_count"], r["new_count"]) == (old_counts[i], new_counts[j])
        assert r["cosine"] > 1 - 1e-5  # the shared words are a rotation of each other
    # the sample: exactly `sample` words have an overlap, and shared-only neighbours agree
    measured = [r for r in table.values() if r["overlap"] is not None]
    assert len(measured) == 60 and all(r["overlap"] == 1.0 for r in measured)
    assert s["overlap"]["words"] == 60
    again = compute_drift(spark, str(old), str(new), str(tmp_path / "again"), k=5, sample=60,
                          seed=4)
    assert {w for w, r in words_table(tmp_path / "again").items() if r["overlap"] is not None} \
        == {r["word"] for r in measured}
    assert again["drift"] == s["drift"]


def test_procrustes_and_overlap_match_references(spark, tmp_path, base):
    words, x = base
    rng = np.random.default_rng(8)
    y = (x @ rotation(9) + rng.normal(scale=0.5, size=x.shape)).astype(np.float32)
    a, b = unit(x), unit(y)
    r_ref, _ = orthogonal_procrustes(a, b)
    assert np.allclose(procrustes(a, b), r_ref, atol=1e-8)
    old = write(spark, tmp_path / "old", words, x)
    new = write(spark, tmp_path / "new", words, y)
    s = compute_drift(spark, str(old), str(new), str(tmp_path / "out"), k=7)
    assert s["procrustes"]["residual_after"] == pytest.approx(np.linalg.norm(a @ r_ref - b),
                                                              rel=1e-5)
    assert s["procrustes"]["residual_before"] == pytest.approx(np.linalg.norm(a - b), rel=1e-5)
    table = words_table(tmp_path / "out")
    ref_cos = np.einsum("ij,ij->i", a @ r_ref, b)
    got = np.array([table[w]["cosine"] for w in words])
    assert np.allclose(got, ref_cos, atol=1e-5)
    assert np.allclose([table[w]["drift"] for w in words], 1 - ref_cos, atol=1e-5)
    assert s["drift"]["median"] == pytest.approx(np.median(1 - ref_cos), abs=1e-5)
    # noisy enough that overlaps spread out, so a wrong neighbour search would show
    n_old, n_new = reference_neighbours(x, 7), reference_neighbours(y, 7)
    ref_overlap = np.array([len(o & n) / 7 for o, n in zip(n_old, n_new, strict=True)])
    assert 0.2 < ref_overlap.mean() < 0.9
    assert np.allclose([table[w]["overlap"] for w in words], ref_overlap, atol=1e-6)
    assert s["overlap"]["mean"] == pytest.approx(ref_overlap.mean(), abs=1e-6)


def test_nearest_matches_brute_force_across_blocks():
    x = np.random.default_rng(1).normal(size=(500, 6)).astype(np.float32)
    u = unit(x).astype(np.float32)
    queries = np.array([0, 7, 250, 499])
    got = nearest(u, queries, 9, block_rows=64, chunk=3)
    ref = reference_neighbours(x, 9)
    assert [set(row) for row in got.tolist()] == [ref[q] for q in queries]
    sims = np.take_along_axis(u[queries] @ u.T, got, axis=1)
    assert np.all(np.diff(sims, axis=1) <= 0)  # most similar first


def test_dimension_mismatch_is_refused(spark, tmp_path, base):
    words, x = base
    old = write(spark, tmp_path / "old", words, x)
    new = write(spark, tmp_path / "new", words, np.hstack([x, x[:, :2]]))
    with pytest.raises(InputError) as err:
        compute_drift(spark, str(old), str(new), str(tmp_path / "out"))
    message = str(err.value)
    assert str(old) in message and str(new) in message
    assert f"has {DIM}" in message and f"has {DIM + 2}" in message
    assert not (tmp_path / "out").exists()
    assert main(["drift", "-q", "--old", str(old), "--new", str(new), "--out",
                 str(tmp_path / "out")]) == InputError.exit_code


def test_cli_end_to_end(spark, tmp_path, base, run_job):
    words, x = base
    y = x @ rotation(12)
    y[3] = -y[3]  # a reversed word: drift 2
    old = write(spark, tmp_path / "old", words, x)
    new = write(spark, tmp_path / "new", words, y)
    out = tmp_path / "report"
    args = ["drift", "-q", "--old", str(old), "--new", str(new), "-k", "5", "--sample", "40"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shared"] == V and summary["overlap"]["k"] == 5
    assert summary["most_drifted"][0]["word"] == "w3"
    assert summary["most_drifted"][0]["drift"] == pytest.approx(2.0, abs=1e-3)
    assert pq.read_table(out / "words").num_rows == V
    assert (out / "summary.md").read_text().startswith("# Embedding drift")
    # an existing report is not overwritten without --force
    assert main([*args, "--out", str(out)]) == InputError.exit_code
    assert main([*args, "--out", str(out), "--force"]) == 0
    # without --out the report is published under the run root, with a manifest
    root = tmp_path / "run"
    assert run_job("drift", *args[2:], "--root", str(root)) == 0
    [version] = sorted((root / "drift").iterdir())
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["stage"] == "drift" and manifest["config"]["sample"] == 40
    assert manifest["summary"]["shared"] == V
    assert json.loads((version / "summary.json").read_text())["most_drifted"][0]["word"] == "w3"
    assert pq.read_table(version / "words").num_rows == V
    assert not list((root / "_staging").iterdir())


def test_many_tasks_blocks_and_partials_match_references(spark, tmp_path, base, monkeypatch):
    """Split every step: the inputs over many files and tasks, the d x d partial sums added in
    tasks before the driver, the queries over several tasks, the shared words into small
    blocks. The results must not change, and the scratch folder must be gone."""
    words, x = base
    rng = np.random.default_rng(21)
    y = (x @ rotation(22) + rng.normal(scale=0.5, size=x.shape)).astype(np.float32)
    fs = HadoopFS(spark)
    for name, vec in (("old", x), ("new", y)):
        embeddings.write(fs, str(tmp_path / name / "data"),
                         embeddings.to_table(words, np.arange(V, 0, -1), vec), rows_per_file=40)
    monkeypatch.setattr(drift, "PARTIALS_BUDGET", 1)  # one group: added in a task first
    monkeypatch.setattr(drift, "QUERIES_PER_TASK", 45)
    monkeypatch.setattr(drift, "BLOCK_ROWS", 37)
    monkeypatch.setattr(drift, "QUERY_CHUNK", 11)
    previous = {key: spark.conf.get(key) for key in ("spark.sql.files.maxPartitionBytes",
                                                     "spark.sql.files.openCostInBytes")}
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8k")
    spark.conf.set("spark.sql.files.openCostInBytes", "1k")
    try:
        s = compute_drift(spark, str(tmp_path / "old"), str(tmp_path / "new"),
                          str(tmp_path / "out"), k=6, sample=120, seed=3)
        shared = spark.read.parquet(str(tmp_path / "new" / "data")).rdd.getNumPartitions()
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)
    assert shared > 1
    a, b = unit(x), unit(y)
    r_ref, _ = orthogonal_procrustes(a, b)
    assert s["procrustes"]["residual_after"] == pytest.approx(np.linalg.norm(a @ r_ref - b),
                                                              rel=1e-6)
    table = words_table(tmp_path / "out")
    ref_cos = np.einsum("ij,ij->i", a @ r_ref, b)
    assert np.allclose([table[w]["cosine"] for w in words], ref_cos, atol=1e-5)
    n_old, n_new = reference_neighbours(x, 6), reference_neighbours(y, 6)
    measured = {w: r["overlap"] for w, r in table.items() if r["overlap"] is not None}
    assert len(measured) == 120 == s["overlap"]["words"]
    for w, got in measured.items():
        i = words.index(w)
        assert got == pytest.approx(len(n_old[i] & n_new[i]) / 6, abs=1e-6), w
    # the sample: the 120 words with the smallest xxhash64(seed, word), as Spark computes it
    from pyspark.sql import functions as F

    ranked = (spark.createDataFrame([(w,) for w in words], "word STRING")
              .select("word", F.xxhash64(F.lit(3), F.col("word")).alias("h"))
              .orderBy("h").limit(120).collect())
    assert set(measured) == {r["word"] for r in ranked}
    for e in s["most_drifted"][:5]:
        i = words.index(e["word"])
        want = [words[j] for j in np.argsort(-(a[i] @ a.T))[1:6]]
        assert e["old_neighbours"] == want
    assert not (tmp_path / "out" / "_work").exists()


def test_exact_quantiles_match_numpy_without_collecting_everything(spark, monkeypatch):
    """Ties, repeated values and a coarse bracket (so the windows matter) against numpy."""
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(size=3000), np.full(400, 0.25), rng.integers(0, 5, 600)
                             .astype(float)])
    df = spark.createDataFrame([(float(v),) for v in rng.permutation(values)], "x DOUBLE"
                               ).repartition(5)
    monkeypatch.setattr(drift, "QUANTILE_ACCURACY", 50)
    qs = [0.0, 0.01, 0.5, 0.9, 0.99, 1.0]
    got = drift.exact_quantiles(df, "x", qs, values.size)
    assert got == pytest.approx(np.percentile(values, [100 * q for q in qs]), abs=1e-12)
    one = spark.createDataFrame([(7.5,)], "x DOUBLE")
    assert drift.exact_quantiles(one, "x", [0.5, 0.99], 1) == [7.5, 7.5]
