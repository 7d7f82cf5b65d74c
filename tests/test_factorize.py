"""Factorization: kernels against numpy references, the methods on planted problems, the stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentspark import factorize as fz
from latentspark.cli import main
from tests.test_stages import published, write_corpus


def sparse_rows(rng, n_rows, n_cols, density):
    dense = rng.random((n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < density)
    lengths = (dense != 0).sum(axis=1)
    r, c = np.nonzero(dense)
    return dense, lengths, c, dense[r, c]


def test_spmm_rows_equals_dense_product():
    rng = np.random.default_rng(0)
    dense, lengths, cols, vals = sparse_rows(rng, 50, 40, 0.2)
    q = rng.standard_normal((40, 7))
    np.testing.assert_allclose(fz.spmm_rows(lengths, cols, vals, q), dense @ q, atol=1e-12)


def test_solve_rows_equals_per_row_least_squares():
    rng = np.random.default_rng(1)
    _, lengths, cols, weight = sparse_rows(rng, 30, 25, 0.4)
    lengths[3] = 0                                       # an empty row gets zeros
    cols = cols[: lengths.sum()]
    weight = weight[: lengths.sum()] + 0.1
    target = rng.standard_normal(len(cols))
    design = np.hstack([rng.standard_normal((25, 4)), np.ones((25, 1))])
    l2 = 0.3
    sol, loss = fz.solve_rows(lengths, cols, target, weight, design, l2)
    start = 0
    for r, n in enumerate(lengths):
        g, t, w = design[cols[start:start + n]], target[start:start + n], weight[start:start + n]
        start += n
        reg = np.diag([l2] * 4 + [0.0])
        if n == 0:
            assert not sol[r].any() and loss[r] == 0
            continue
        expect = np.linalg.lstsq(g.T @ (w[:, None] * g) + reg, g.T @ (w * t), rcond=None)[0]
        np.testing.assert_allclose(sol[r], expect, rtol=1e-6, atol=1e-8)
        assert loss[r] == pytest.approx(np.sum(w * (g @ expect - t) ** 2), rel=1e-6)


def write_matrix(path: Path, dense: np.ndarray, blocks: int = 2) -> str:
    """Store a symmetric matrix as the co-occurrence stage does: block=k/, sorted by row."""
    r, c = np.nonzero(dense)
    for k in range(blocks):
        sel = r % blocks == k
        folder = path / f"block={k}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"row": r[sel].astype(np.int32), "col": c[sel].astype(np.int32),
                                 "weight": dense[r[sel], c[sel]].astype(np.float32)}),
                       folder / "part-0.parquet", row_group_size=7)
    return str(path)


def matrix(spark, tmp_path, dense, blocks: int = 2, tasks: int = 2, name: str = "m"):
    """The cached rows of a dense symmetric matrix stored as the co-occurrence stage does."""
    return fz.complete_rows(spark, write_matrix(tmp_path / name, dense, blocks), len(dense),
                            tasks=tasks, scratch=str(tmp_path / f"{name}-scratch"))


def test_complete_rows_keeps_rows_whole(spark, tmp_path):
    rng = np.random.default_rng(2)
    dense = rng.random((30, 30)) * (rng.random((30, 30)) < 0.5)
    dense = np.float32(dense + dense.T)
    rows = matrix(spark, tmp_path, dense)
    try:
        got = np.zeros_like(dense)
        for batch in rows.rows.toArrow().to_batches():
            ids, lengths, cols, x = fz._unpack_rows(batch)
            got[np.repeat(ids, lengths), cols] = x
        assert rows.rows.count() == int((dense != 0).any(axis=1).sum())
        np.testing.assert_allclose(fz.to_numpy(rows.sums)[:, 0],
                                   dense.astype(np.float64).sum(axis=1), rtol=1e-6)
    finally:
        rows.unpersist()
    np.testing.assert_array_equal(got, dense)


def dense_ppmi(x: np.ndarray, cds: float, neg: float) -> np.ndarray:
    s = x.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(x) - np.log(s)[:, None] - cds * np.log(s)[None, :] + np.log(
            np.sum(s ** cds)) - np.log(neg)
    return np.where(x > 0, np.maximum(pmi, 0), 0.0)


def dense_pmi(x: np.ndarray, cds: float) -> np.ndarray:
    """PMI of the observed pairs, negative values kept; 0 for unobserved pairs."""
    s = x.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(x) - np.log(s)[:, None] - cds * np.log(s)[None, :] + np.log(
            np.sum(s ** cds))
    return np.where(x > 0, pmi, 0.0)


def test_all_but_the_top_removes_a_planted_dominant_direction():
    rng = np.random.default_rng(11)
    n, k = 400, 6
    signal = rng.standard_normal((n, k)) * 0.1
    common = np.zeros(k)
    common[2] = 1.0                                      # every vector shares it, strongly
    x = signal + 3.0 + np.outer(rng.standard_normal(n) * 5.0, common)
    x[7] = 0.0                                           # a word without a vector
    got = fz.all_but_the_top(x, 1)
    used = np.ones(n, bool)
    used[7] = False
    assert not got[7].any()
    np.testing.assert_allclose(got[used].mean(axis=0), 0.0, atol=1e-12)
    # the planted direction is gone and what remains is the centred signal, nearly untouched
    assert np.abs(got[used] @ common).max() < 0.05
    centred = signal[used] - signal[used].mean(axis=0)
    keep = np.arange(k) != 2
    np.testing.assert_allclose(got[used][:, keep], centred[:, keep], atol=0.05)
    # and without it the dominant direction is what a cosine sees first
    before = x[used] - x[used].mean(axis=0)
    assert np.abs(before @ common).mean() > 10 * np.abs(got[used] @ common).mean()
    np.testing.assert_array_equal(fz.all_but_the_top(x, 0), x)


def test_remove_top_directions_equals_the_numpy_reference(spark, tmp_path):
    rng = np.random.default_rng(12)
    n, dim = 40, 6
    x = rng.poisson(3.0, (n, n)) * (rng.random((n, n)) < 0.4)
    x = np.float32(x + x.T)
    x[0] = x[:, 0] = 0                                  # a word with no co-occurrence at all
    rows = matrix(spark, tmp_path, x, blocks=2, tasks=4)
    try:
        got = fz.ppmi_svd(spark, rows, dim, cds=0.75, shift=0.0, eig=0.5, add_contexts=True,
                          oversample=n, power_iters=1, seed=7)
        before = fz.to_numpy(got.vectors)
        after = fz.to_numpy(fz.remove_top_directions(spark, got.vectors,
                                                     rows.factor("abtt", dim), 2))
    finally:
        rows.unpersist()
    # the factor is stored as float32: the reference starts from the same stored values
    expect = fz.all_but_the_top(before, 2)
    np.testing.assert_allclose(after, expect, atol=1e-5)
    assert not after[0].any() and after[1:].any()
    assert np.abs(after[1:].mean(axis=0)).max() < 1e-5
    assert not np.allclose(after, before, atol=1e-2)


@pytest.mark.parametrize(("eig", "add_contexts", "neg"), [(0.5, False, 1.0), (1.0, True, 2.0)])
def test_ppmi_svd_equals_dense_numpy_svd(spark, tmp_path, eig, add_contexts, neg):
    rng = np.random.default_rng(3)
    n, dim = 40, 5
    x = rng.poisson(3.0, (n, n)) * (rng.random((n, n)) < 0.4)
    x = np.float32(x + x.T)
    x[0] = x[:, 0] = 0                                  # a word with no co-occurrence at all
    rows = matrix(spark, tmp_path, x)
    try:
        # oversampling to the full width makes the range finder exact
        got = fz.ppmi_svd(spark, rows, dim, cds=0.75,
                          shift=np.log(neg), eig=eig, add_contexts=add_contexts,
                          oversample=n, power_iters=1, seed=7)
        vectors = fz.to_numpy(got.vectors)
    finally:
        rows.unpersist()
    m = dense_ppmi(x.astype(np.float64), 0.75, neg)
    u, s, vt = np.linalg.svd(m)
    np.testing.assert_allclose(got.extra["singular_values"], s[:dim], rtol=1e-5)
    u, v = u[:, :dim], vt[:dim].T
    flip = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(dim)])
    expect = (u * flip) * s[:dim] ** eig + ((v * flip) * s[:dim] ** eig if add_contexts else 0)
    np.testing.assert_allclose(vectors, expect, atol=1e-5)
    assert not vectors[0].any()


def symmetric_counts(n: int) -> np.ndarray:
    """Seeded symmetric Poisson counts, half the pairs unseen, and word 1 with no counts at
    all (the dense references' problem)."""
    rng = np.random.default_rng(6)
    x = rng.poisson(2.0, (n, n)) * (rng.random((n, n)) < 0.5)
    x = (x + x.T).astype(np.float32)
    x[1] = x[:, 1] = 0
    return x


def dense_svd_start(y, dim):
    """``ppmi_wals``'s start with dense matrices: the top ``dim`` singular pairs of ``y``,
    signs fixed as the solver fixes them, each side scaled by the singular values' roots."""
    u, s, vt = np.linalg.svd(y)
    u, v = fz._fix_signs(u[:, :dim], vt[:dim].T)
    return u * np.sqrt(s[:dim]), v * np.sqrt(s[:dim])


def dense_published(w, c):
    """The vectors ``ppmi_wals`` publishes from dense factors (``eig = 0.5``, ``w + c``): the
    SVD of ``w c^T`` through the two QR factors, signs fixed, ``(u + v) sqrt(s)``."""
    qw, rw = np.linalg.qr(w)
    qc, rc = np.linalg.qr(c)
    us, ss, vst = np.linalg.svd(rw @ rc.T)
    u, v = fz._fix_signs(qw @ us, qc @ vst.T)
    return (u + v) * np.sqrt(ss)


def dense_row_solves(other, wts, target, sums, l2):
    """One dense weighted least-squares half-iteration: each row's ``dim x dim`` system
    (ridge ``l2 x`` its row sum); rows with no counts stay zero."""
    dim = other.shape[1]
    return np.stack([np.linalg.solve(other.T @ (wts[i][:, None] * other)
                                     + l2 * sums[i] * np.eye(dim),
                                     other.T @ (wts[i] * target[i]))
                     if sums[i] else np.zeros(dim) for i in range(len(sums))])


@pytest.mark.parametrize(("cg_steps", "negative_pmi", "power"),
                         [(0, False, 1.0), (12, False, 1.0), (0, True, 1.0), (0, False, 0.5)])
def test_ppmi_wals_equals_dense_reference(spark, tmp_path, cg_steps, negative_pmi, power):
    """Exact solves, and conjugate gradients run past the 4 unknowns of each row (which
    then reach the exact solution up to float32 rounding: same tolerances); with
    ``negative_pmi`` the observed pairs' targets are their PMI unclipped; with ``power`` the
    observed pairs weigh ``X_ij ** power``."""
    n, dim, k, l2 = 30, 4, 5.0, 1e-3
    x = symmetric_counts(n)
    rows = matrix(spark, tmp_path, x)
    sums = x.astype(np.float64).sum(axis=1)
    try:
        got = fz.ppmi_wals(spark, rows, dim, cds=0.75, neg=k, iterations=2, l2=l2,
                           eig=0.5, add_contexts=True, oversample=n, power_iters=1, seed=3,
                           cg_steps=cg_steps, cg_tol=1e-12, negative_pmi=negative_pmi,
                           observed_power=power)
        vectors = fz.to_numpy(got.vectors)
    finally:
        rows.unpersist()
    # the same algorithm with dense matrices: every pair weighted X_ij + k r_i P(j)
    xd = x.astype(np.float64)
    y = dense_ppmi(xd, 0.75, 1.0)
    start = y                                           # the SVD start is PPMI's either way
    if negative_pmi:
        y = dense_pmi(xd, 0.75)
        assert (y < 0).any()                            # the test has negative targets
    p = sums ** 0.75 / np.sum(sums ** 0.75)
    weight = xd ** power + k * sums[:, None] * p[None, :]
    w, c = dense_svd_start(start, dim)
    objective = []
    for _ in range(2):
        w = dense_row_solves(c, weight, y, sums, l2)
        c = dense_row_solves(w, weight.T, y.T, sums, l2)
        objective.append(np.sum(weight * (w @ c.T - y) ** 2)
                         + l2 * np.sum(sums[:, None] * (w ** 2 + c ** 2)))
    np.testing.assert_allclose([h["objective"] for h in got.history if "objective" in h],
                               objective, rtol=1e-4)
    assert objective[1] <= objective[0]
    expect = dense_published(w, c)
    expect[1] = 0
    np.testing.assert_allclose(vectors, expect, atol=2e-4)


def dense_logistic_wals(x, dim, k, l2, power, iterations, cds=0.75, loss="logistic",
                        center=0.0):
    """The logistic ``ppmi_wals`` with dense matrices: the first words half-iteration on the
    squared loss, then one Newton step per row and half-iteration (curvature floored at the
    unobserved weight ``B``) on ``2 l`` for the observed
    pairs plus ``B x^2`` for the unobserved ones (``B (x + x^2 / 4)`` with ``loss="sgns"``,
    the Taylor polynomial of ``2 B softplus(x)`` at 0; at ``center`` otherwise, or with
    ``center="rows"`` at each row's B-weighted mean score from its previous vector); the
    vectors and each iteration's objective."""
    def expansion(m):       # 2 softplus(x) ~ 2 sp(m) + 2 sp'(m) (x - m) + sp''(m) (x - m)^2
        if loss != "sgns":
            return np.ones_like(m), np.zeros_like(m)
        sp1 = np.exp(m) / (1.0 + np.exp(m))
        sp2 = sp1 * (1.0 - sp1)
        return sp2, 2.0 * sp1 - 2.0 * sp2 * m

    n = len(x)
    xd = x.astype(np.float64)
    sums = xd.sum(axis=1)
    seen = xd > 0
    p = sums ** cds / np.sum(sums ** cds)
    a = xd ** power * seen
    b = k * sums[:, None] * p[None, :]
    y = dense_ppmi(xd, cds, 1.0)
    w, c = dense_svd_start(y, dim)

    def newton(own, other, pos, neg, obs):
        out = np.zeros_like(own)
        if center == "rows":
            with np.errstate(invalid="ignore"):
                rq, rlin = expansion(np.nan_to_num(
                    np.sum(neg * (own @ other.T), axis=1) / neg.sum(axis=1)))
        else:
            rq, rlin = expansion(np.full(n, float(center)))
        for i in range(n):
            q, lin = rq[i], rlin[i]
            if not sums[i]:
                continue
            x0 = other @ own[i]
            sig = 1.0 / (1.0 + np.exp(-x0))
            h = np.maximum((pos[i] + neg[i]) * sig * (1 - sig), q * neg[i])   # floored at q B
            with np.errstate(divide="ignore", invalid="ignore"):   # h = 0: the word 1 column
                z = x0 - ((pos[i] + neg[i]) * sig - pos[i]) / h
            wt = np.where(obs[i], h, q * neg[i])           # unobserved: q B x^2 + lin B x
            rhs = np.where(obs[i], h * z, -0.5 * lin * neg[i])
            out[i] = np.linalg.solve(other.T @ (wt[:, None] * other) + l2 * sums[i] * np.eye(dim),
                                     other.T @ rhs)
        return out, rq, rlin

    def objective(w, c, q, lin):    # q, lin: the contexts' (the pass that logs it)
        f = w @ c.T
        pair = np.where(seen, 2 * (a * np.logaddexp(0, -f) + b * np.logaddexp(0, f)),
                        q[None, :] * b * f * f + lin[None, :] * b * f)
        return np.sum(pair) + l2 * np.sum(sums[:, None] * (w ** 2 + c ** 2))

    history = []
    for it in range(iterations):
        if it == 0:
            w = dense_row_solves(c, xd ** power + b, y, sums, l2)
        else:
            w = newton(w, c, a, b, seen)[0]
        c, q, lin = newton(c, w, a.T, b.T, seen.T)
        history.append(objective(w, c, q, lin))
    return w, c, history


@pytest.mark.parametrize(("power", "loss", "center"), [(1.0, "logistic", 0.0),
                                                     (0.5, "logistic", 0.0),
                                                     (1.0, "sgns", 0.0), (1.0, "sgns", -2.0),
                                                     (1.0, "sgns", "rows")])
def test_logistic_ppmi_wals_equals_dense_reference(spark, tmp_path, power, loss, center):
    """``loss="logistic"`` with exact solves against the dense Newton steps: the objective
    of every iteration and the published vectors (``sgns``: the negative term expanded at 0
    and at -2, and at each row's mean score)."""
    n, dim, k, l2 = 30, 4, 5.0, 1e-3
    x = symmetric_counts(n)
    rows = matrix(spark, tmp_path, x)
    try:
        got = fz.ppmi_wals(spark, rows, dim, cds=0.75, neg=k, iterations=3, l2=l2,
                           eig=0.5, add_contexts=True, oversample=n, power_iters=1, seed=3,
                           observed_power=power, loss=loss,
                           negative_center=0.0 if center == "rows" else center,
                           center_rows=center == "rows")
        vectors = fz.to_numpy(got.vectors)
    finally:
        rows.unpersist()
    w, c, objective = dense_logistic_wals(x, dim, k, l2, power, 3, loss=loss, center=center)
    np.testing.assert_allclose([h["objective"] for h in got.history if "objective" in h],
                               objective, rtol=1e-4)
    expect = dense_published(w, c)
    expect[1] = 0
    np.testing.assert_allclose(vectors, expect, atol=2e-4)


@pytest.mark.parametrize(("cg_steps", "loss"), [(0, "logistic"), (20, "logistic"), (0, "sgns")])
def test_logistic_ppmi_wals_decreases_its_loss_on_a_planted_problem(spark, tmp_path,
                                                                    cg_steps, loss):
    """Counts drawn from a planted low-rank PMI: the logistic objective goes down at every
    iteration (exact solves, and conjugate gradients)."""
    rng = np.random.default_rng(8)
    n, dim = 60, 3
    f = rng.standard_normal((n, dim))
    rate = 4.0 * np.exp(f @ f.T / 2)
    x = rng.poisson(rate)
    x = np.triu(x, 1)
    x = (x + x.T).astype(np.float32)
    rows = matrix(spark, tmp_path, x)
    try:
        got = fz.ppmi_wals(spark, rows, dim, cds=0.75, neg=5.0, iterations=6, l2=1e-3,
                           eig=0.5, add_contexts=False, oversample=10, power_iters=2, seed=1,
                           cg_steps=cg_steps, cg_tol=1e-10, loss=loss)
    finally:
        rows.unpersist()
    objective = [h["objective"] for h in got.history if "objective" in h]
    assert len(objective) == 6
    assert all(b <= a * (1 + 1e-9) for a, b in zip(objective, objective[1:], strict=False))
    assert objective[-1] < objective[0]


def test_an_unknown_loss_is_refused():
    with pytest.raises(ValueError, match="factorize.loss"):
        fz.ppmi_wals(None, None, 2, cds=0.75, neg=1.0, iterations=1, l2=0.0, eig=0.5,
                     add_contexts=False, oversample=0, power_iters=0, seed=0, loss="hinge")


def planted_glove(n=30, dim=3, seed=4):
    """A symmetric count matrix that GloVe's model fits exactly: log X = W W^T + b + b^T."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((n, dim)) * 0.5
    b = rng.standard_normal(n) * 0.3 + 2.0
    return np.exp(w @ w.T + b[:, None] + b[None, :]).astype(np.float32)


def test_glove_reaches_the_planted_optimum(spark, tmp_path):
    x = planted_glove()
    rows = matrix(spark, tmp_path, x)
    try:
        # x_max below every count: all weights are 1, and the planted factors give loss 0
        got = fz.glove(spark, rows, 3, iterations=5, x_max=1e-3, alpha=0.75, l2=0.0,
                       seed=1)
        w, c = fz.to_numpy(got.extra["words"]), fz.to_numpy(got.extra["contexts"])
    finally:
        rows.unpersist()
    objective = [h["objective"] for h in got.history]
    assert objective[-1] < 1e-8                        # the planted factors fit exactly
    fitted = w[:, :3] @ c[:, :3].T + w[:, 3][:, None] + c[:, 3][None, :]
    np.testing.assert_allclose(fitted, np.log(x), atol=1e-4)


def test_glove_objective_never_increases_with_uneven_weights(spark, tmp_path):
    x = planted_glove(n=40, dim=6, seed=8)
    x[x < np.quantile(x, 0.3)] = 0                     # sparse, as real counts are
    x = np.maximum(x, x.T)
    rows = matrix(spark, tmp_path, x)
    try:
        got = fz.glove(spark, rows, 3, iterations=8, x_max=float(np.median(x[x > 0])),
                       alpha=0.75, l2=0.05, seed=2)
    finally:
        rows.unpersist()
    objective = [h["objective"] for h in got.history]
    steps = np.diff(objective)
    assert np.all(steps <= 1e-9 * objective[0]), objective
    assert objective[-1] < objective[0]


def test_glove_is_deterministic_for_a_seed(spark, tmp_path):
    x = planted_glove(n=20, seed=5)
    rows = matrix(spark, tmp_path, x)
    try:
        runs = [fz.to_numpy(fz.glove(spark, rows, 4, iterations=2, x_max=50.0, alpha=0.75,
                                     l2=0.1, seed=s).vectors) for s in (3, 3, 4)]
    finally:
        rows.unpersist()
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0], runs[2])


def test_random_start_and_vectors_do_not_depend_on_the_layout(spark, tmp_path):
    """The same matrix stored in 2 or 3 row blocks and cut into 4 or 3 tasks: the same random
    draws, and vectors that differ only by the summation order of their k x k aggregates."""
    rng = np.random.default_rng(13)
    n, dim = 50, 4
    x = rng.poisson(3.0, (n, n)) * (rng.random((n, n)) < 0.4)
    x = np.float32(x + x.T)
    draws, vectors = [], []
    for blocks, tasks in ((2, 4), (3, 3)):
        rows = matrix(spark, tmp_path, x, blocks=blocks, tasks=tasks, name=f"m{blocks}")
        try:
            assert rows.layout.blocks == blocks
            for uniform in (None, 0.5):
                out = rows.factor(f"r{uniform}", 300)
                fz.random_factor(spark, out, seed=5, uniform=uniform)
                draws.append(fz.to_numpy(out))
            # seed 8 only on the first layout: with a loose range finder the start moves the vectors
            for seed in (7, 8) if blocks == 2 else (7,):
                vectors.append(fz.to_numpy(fz.ppmi_wals(
                    spark, rows, dim, cds=0.75, neg=1.0, eig=0.5, add_contexts=True,
                    oversample=2, power_iters=0, seed=seed, iterations=2, l2=0.1,
                    loss="sgns", negative_center=-1.5).vectors))
        finally:
            rows.unpersist()
    np.testing.assert_array_equal(draws[0], draws[2])
    np.testing.assert_array_equal(draws[1], draws[3])
    normal, uniform = draws[0], draws[1]
    assert abs(normal.mean()) < 0.02 and abs(normal.std() - 1.0) < 0.02
    assert uniform.min() >= -0.25 and uniform.max() < 0.25 and abs(uniform.mean()) < 0.01
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-4)
    assert np.abs(vectors[0]).max() > 0.1
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-2


def stage(tmp_path, *extra):
    corpus = tmp_path / "corpus"
    if not corpus.exists():
        write_corpus(corpus)
    return main(["factorize", "--corpus", str(corpus), "--root", str(tmp_path / "run"),
                 "--set", "vocab.min_count=2", "--set", "cooccur.window=3", *extra])


@pytest.mark.parametrize(("method", "extra"), [
    ("ppmi_wals", ()), ("ppmi_svd", ()), ("glove", ()),
    ("ppmi_wals", ("--set", "factorize.remove_top=1", "--set", "factorize.negative_pmi=true")),
    # conf/embeddings.toml's factorization: SGNS's loss; depth, iterations, eigenvalue
    # weighting, smoothing and the negatives' expansion point that follow the dimension
    ("ppmi_wals", ("--set", "factorize.remove_top=-1", "--set", "factorize.loss=sgns",
                   "--set", "factorize.observed_power=1.0", "--set", "factorize.cds=-1",
                   "--set", "factorize.negative_center=1",
                   "--set", "factorize.wals_iterations=-1", "--set", "factorize.eig=-1")),
])
def test_stage_publishes_embeddings_deterministically(spark, tmp_path, method, extra):
    args = ("--set", f"factorize.method={method}", "--set", "factorize.dim=4",
            "--set", "factorize.iterations=3", *extra)
    assert stage(tmp_path, *args) == 0
    assert stage(tmp_path, *args, "--force") == 0
    first, second = published(tmp_path / "run", "embeddings")
    tables = [pq.read_table(d / "data") for d in (first, second)]
    assert tables[0].schema.field("vector").type == pa.list_(pa.float32(), 4)
    assert tables[0].equals(tables[1])
    words = tables[0].column("word").to_pylist()
    vocab = pq.read_table(published(tmp_path / "run", "vocab")[0] / "data")
    assert words == vocab.column("word").to_pylist()
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["method"] == method and manifest["dim"] == 4
    assert manifest["remove_top_depth"] == (1 if any("remove_top" in a for a in extra) else 0)
    assert manifest["vocab_size"] == len(words)
    assert manifest["input"]["cooccur_version"] == published(tmp_path / "run", "cooccur")[0].name
    # blocks and tasks follow the data: a few hundred non-zeros are one block and one task
    assert manifest["tasks_per_pass"] == 1
    if method == "glove":
        objective = [h["objective"] for h in manifest["history"]]
        assert len(objective) == 3 and objective == sorted(objective, reverse=True)
    if method == "ppmi_wals":
        # the default 2 iterations and p = 0.5, or 4 and 0.25 when they follow the dimension
        # (-1, dimension 4)
        ran = [h["iteration"] for h in manifest["history"] if "iteration" in h]
        follows = any("wals_iterations=-1" in a for a in extra)
        expected = 4 if follows else 2
        assert manifest["wals_iterations"] == expected and ran == list(range(1, expected + 1))
        assert manifest["eig"] == (0.25 if follows else 0.5)
        # 0.5 and -1.5 at dimension 4 when they follow it, else the dataclass defaults
        assert manifest["cds"] == (0.5 if follows else 0.75)
        sgns = any("loss=sgns" in a for a in extra)
        assert manifest["negative_center"] == (-1.5 if sgns else None)
    else:
        assert manifest["wals_iterations"] is None
        assert manifest["eig"] == (0.5 if method == "ppmi_svd" else None)
    vectors = np.stack(tables[0].column("vector").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(tables[0].column("norm").to_numpy(),
                               np.linalg.norm(vectors, axis=1), rtol=1e-5)


def test_stage_skips_when_up_to_date(spark, tmp_path):
    assert stage(tmp_path) == 0
    assert stage(tmp_path) == 0
    assert len(published(tmp_path / "run", "embeddings")) == 1


@pytest.mark.parametrize(("setting", "message"), [
    ("factorize.loss=hinge", "factorize.loss"),
    ("factorize.dim=500", "larger than the vocabulary"),
    ("factorize.x_max=-1", "factorize.x_max"),
    ("factorize.method=nmf", "factorize.method"),
    ("factorize.remove_top=100", "must be below factorize.dim"),
    ("factorize.remove_top=-2", "factorize.remove_top"),
])
def test_bad_parameters_are_refused_clearly(spark, tmp_path, capsys, setting, message):
    assert stage(tmp_path, "--set", setting) == 2
    assert message in capsys.readouterr().err
    assert not published(tmp_path / "run", "embeddings")


def test_no_cooccurrence_is_a_clear_error(spark, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "part-0.txt").write_text("king\nqueen\nking\nqueen\n")   # no line has two words
    assert stage(tmp_path) == 3
    assert "no co-occurrence" in capsys.readouterr().err


def test_a_factorization_that_cannot_fit_is_refused_before_any_work(spark):
    from latentspark.config import Config
    from latentspark.errors import ConfigError
    from latentspark.stages.embeddings import check_memory

    cfg = Config()
    plan = check_memory(spark, 10_000, cfg)
    assert plan["width"] == cfg.factorize.dim + cfg.factorize.oversample
    assert plan["broadcast"] == 0 and plan["driver_python"] < 2**30   # nothing V-sized
    with pytest.raises(ConfigError, match="raise factorize.tasks"):
        check_memory(spark, 2_000_000_000, cfg)


def test_the_memory_check_knows_max_result_size(spark, monkeypatch):
    from latentspark.config import Config, FactorizeConfig
    from latentspark.errors import ConfigError
    from latentspark.stages import embeddings as stages

    cfg = Config(factorize=FactorizeConfig(dim=1000, tasks=100_000))
    real = stages._conf_bytes
    monkeypatch.setattr(stages, "_conf_bytes", lambda spark, key, default: 2**20 if
                        key == "spark.driver.maxResultSize" else real(spark, key, default))
    with pytest.raises(ConfigError, match="spark.driver.maxResultSize"):
        stages.check_memory(spark, 100_000, cfg)


def test_words_without_a_usable_vector_are_dropped_and_ids_stay_contiguous(spark, tmp_path):
    """A word whose every line holds no other vocabulary word has no co-occurrence: it is
    left out (counted in the manifest), and the others keep ids 0, 1, 2, ... in vocabulary
    order, so the export reads them as before."""
    corpus = write_corpus(tmp_path / "corpus")
    with open(corpus / "date=2026-11-01" / "hermit.txt", "w") as fh:
        fh.write("hermit\n" * 5)
    assert stage(tmp_path, "--set", "factorize.method=ppmi_svd", "--set", "factorize.dim=3") == 0
    [emb] = published(tmp_path / "run", "embeddings")
    manifest = json.loads((emb / "manifest.json").read_text())
    table = pq.read_table(emb / "data")
    words = table.column("word").to_pylist()
    vocab = pq.read_table(published(tmp_path / "run", "vocab")[0] / "data").sort_by("id")
    assert "hermit" in vocab.column("word").to_pylist() and "hermit" not in words
    assert manifest["dropped_words"] == 1 and manifest["dropped_sample"] == ["hermit"]
    assert manifest["rows"] == len(words) == vocab.num_rows - 1
    assert table.column("id").to_pylist() == list(range(len(words)))
    assert words == [w for w in vocab.column("word").to_pylist() if w != "hermit"]
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
    assert np.isfinite(vectors).all() and (np.abs(vectors).sum(axis=1) > 0).all()
    out = tmp_path / "vectors.txt"
    assert main(["export", "--root", str(tmp_path / "run"), "--format", "word2vec",
                 "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == f"{len(words)} 3" and [ln.split()[0] for ln in lines[1:]] == words
    # the index of those embeddings holds the words left, and opens (it once counted the
    # dropped word too and refused its own word table)
    assert main(["index", "-q", "--root", str(tmp_path / "run"), "--set", "index.shards=1",
                 "--set", "index.n_trees=2"]) == 0
    assert main(["neighbours", "-q", "--root", str(tmp_path / "run"), "--word", words[0],
                 "-k", "2", "--mode", "exact"]) == 0


@pytest.mark.parametrize("cholesky_width", [fz.CHOLESKY_WIDTH, 1])
@pytest.mark.parametrize("k", [6, 40])
def test_solve_rows_with_a_shared_background_equals_dense_solves(k, cholesky_width,
                                                                  monkeypatch):
    """Rows shorter than ``k`` take the Woodbury route, longer ones the direct one: both must
    give each row's exact solution with ``scale_r M + l2_r I`` added to its normal equations,
    whether their systems are solved by batched LU or one by one by Cholesky (``posv``)."""
    monkeypatch.setattr(fz, "CHOLESKY_WIDTH", cholesky_width)
    rng = np.random.default_rng(11)
    n_rows, n_cols = 40, 60
    dense = rng.random((n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.3)
    dense[5] = 0                                          # an empty row: background alone
    dense[7, :] = rng.random(n_cols) + 0.1                # a row longer than k
    lengths = (dense != 0).sum(axis=1)
    r, cols = np.nonzero(dense)
    weight = dense[r, cols]
    target = rng.standard_normal(len(cols))
    design = rng.standard_normal((n_cols, k)).astype(np.float32)
    basis = rng.standard_normal((3 * k, k))
    shared = basis.T @ basis / k                          # positive definite, like C^T P C
    scale = rng.random(n_rows) + 0.5
    l2 = rng.random(n_rows) * 1e-2 + 1e-3
    rhs_extra = rng.standard_normal((n_rows, k))
    sol, loss, pred = fz.solve_rows(lengths, cols, target, weight, design, l2,
                                    extra_gram=(shared, scale), extra_rhs=rhs_extra,
                                    free_last=False, predictions=True)
    d = design.astype(np.float64)
    start = 0
    assert (lengths <= k).any() and (lengths > k).any()
    for i, n in enumerate(lengths):
        g, w, t = d[cols[start:start + n]], weight[start:start + n], target[start:start + n]
        a = g.T @ (w[:, None] * g) + scale[i] * shared + l2[i] * np.eye(k)
        expect = np.linalg.solve(a, g.T @ (w * t) + rhs_extra[i])
        np.testing.assert_allclose(sol[i], expect, rtol=1e-4, atol=1e-6 * np.abs(expect).max())
        np.testing.assert_allclose(pred[start:start + n], g @ sol[i], rtol=1e-4, atol=1e-6)
        assert loss[i] == pytest.approx(np.sum(w * (g @ sol[i] - t) ** 2), rel=1e-4, abs=1e-9)
        start += n


@pytest.mark.parametrize("cholesky_width", [fz.CHOLESKY_WIDTH, 1])
def test_singular_systems_get_least_squares(cholesky_width, monkeypatch):
    """A rank-deficient system (a word whose entries span fewer directions than ``k``, with
    no ridge) gets the minimum-norm least-squares answer by either solver; the others their
    exact solution."""
    monkeypatch.setattr(fz, "CHOLESKY_WIDTH", cholesky_width)
    rng = np.random.default_rng(5)
    y = rng.standard_normal((3, 12, 6))
    y[1, :, 4:] = 0.0                                    # rank 4 of 6
    gram = np.einsum("mik,mil->mkl", y, y)
    rhs = np.einsum("mik,mi->mk", y, rng.standard_normal((3, 12)))
    got = fz._solve_spd(gram.copy(), rhs.copy())
    for i in range(3):
        want = np.linalg.lstsq(gram[i], rhs[i], rcond=None)[0]
        np.testing.assert_allclose(got[i], want, rtol=1e-8, atol=1e-10)


def background_rows(k: int, seed: int = 11):
    """Rows with a shared background, as WALS's: lengths, cols, target, weight, design,
    scale, l2, extra rhs, shared matrix."""
    rng = np.random.default_rng(seed)
    n_rows, n_cols = 40, 3 * k
    dense = rng.random((n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.5)
    dense[:, 0] = rng.random(n_rows) * 50 + 1              # uneven weights, as counts are
    lengths = (dense != 0).sum(axis=1)
    r, cols = np.nonzero(dense)
    basis = rng.standard_normal((3 * k, k))
    return (lengths, cols, rng.standard_normal(len(cols)), dense[r, cols],
            (rng.standard_normal((n_cols, k)) * np.linspace(3, 0.1, k)).astype(np.float32),
            rng.random(n_rows) + 0.5, rng.random(n_rows) * 1e-2 + 1e-3,
            rng.standard_normal((n_rows, k)), basis.T @ basis / k)


def row_systems(lengths, cols, target, weight, design, scale, l2, rhs_extra, shared):
    d, start = design.astype(np.float64), 0
    for i, n in enumerate(lengths):
        g, w, t = d[cols[start:start + n]], weight[start:start + n], target[start:start + n]
        start += n
        yield (g.T @ (w[:, None] * g) + scale[i] * shared + l2[i] * np.eye(d.shape[1]),
               g.T @ (w * t) + rhs_extra[i])


@pytest.mark.parametrize("k", [8, 40])
def test_conjugate_gradients_reach_the_exact_solution(k):
    """Run to a tight tolerance from a random start, CG gives each long row's exact solution
    (the Woodbury rows are exact anyway), to the accuracy its float32 products with the
    design rows allow: about 1e-7 times the system's condition number, so 1e-3 here."""
    lengths, cols, target, weight, design, scale, l2, extra, shared = background_rows(k)
    start = np.random.default_rng(2).standard_normal((len(lengths), k))
    sol, _ = fz.solve_rows(lengths, cols, target, weight, design, l2, extra_gram=(shared, scale),
                           extra_rhs=extra, free_last=False, start=start, cg_steps=20 * k,
                           cg_tol=1e-9)
    assert (lengths > fz.WOODBURY_ROWS * k).sum() >= 10    # most rows take the CG route
    for i, (a, b) in enumerate(row_systems(lengths, cols, target, weight, design, scale, l2,
                                           extra, shared)):
        expect = np.linalg.solve(a, b)
        np.testing.assert_allclose(sol[i], expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


def test_conjugate_gradients_never_increase_a_rows_objective():
    """Two steps from the start: each row's quadratic (its part of the objective) is lower
    than at the start, never higher, and more steps lower it further."""
    k = 40
    lengths, cols, target, weight, design, scale, l2, extra, shared = background_rows(k, 3)
    start = np.random.default_rng(4).standard_normal((len(lengths), k))
    runs = [fz.solve_rows(lengths, cols, target, weight, design, l2, extra_gram=(shared, scale),
                          extra_rhs=extra, free_last=False, start=start, cg_steps=steps,
                          cg_tol=0.0)[0] for steps in (2, 6)]
    long_rows = lengths > fz.WOODBURY_ROWS * k
    for i, (a, b) in enumerate(row_systems(lengths, cols, target, weight, design, scale, l2,
                                           extra, shared)):
        if not long_rows[i]:
            continue
        f = [0.5 * x @ a @ x - b @ x for x in (start[i], runs[0][i], runs[1][i])]
        assert f[1] < f[0] and f[2] <= f[1] + 1e-9 * abs(f[1])
