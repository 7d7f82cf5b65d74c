"""Distributed factors: the piece layout, the block product against numpy, CholeskyQR2 against
numpy's QR, task counts that follow the settings, and kernels bounded by settings."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from latentspark import factorize as fz
from latentspark.blocks import Factor, FactorReader, Layout, gram_basis, write_piece
from tests.test_factorize import matrix


def put(factor: Factor, dense: np.ndarray) -> Factor:
    """Write a dense matrix as a factor's pieces (driver side, for tests)."""
    for p in range(factor.layout.pieces):
        ids = factor.layout.rows_of(p)
        if len(ids):
            write_piece(factor, p, dense[ids])
    return factor


def stage_tasks(spark, group: str) -> list[int]:
    """Tasks of every stage of the jobs run under a job group."""
    tracker = spark.sparkContext.statusTracker()
    return [tracker.getStageInfo(s).numTasks for j in tracker.getJobIdsForGroup(group)
            for s in tracker.getJobInfo(j).stageIds if tracker.getStageInfo(s)]


@pytest.mark.parametrize(("vocab", "blocks", "splits"), [(1, 1, 1), (10, 3, 2), (97, 8, 5),
                                                         (5, 8, 3)])
def test_layout_pieces_cover_every_row_once(vocab, blocks, splits):
    lay = Layout(vocab, blocks, splits)
    rows = np.concatenate([lay.rows_of(p) for p in range(lay.pieces)])
    assert sorted(rows.tolist()) == list(range(vocab))
    for p in range(lay.pieces):
        ids = lay.rows_of(p)
        piece, local = lay.piece_of(ids)
        assert (piece == p).all() and local.tolist() == list(range(len(ids)))
        assert (ids % blocks == p // splits).all()           # a piece stays in its block


def test_factor_reader_gathers_rows_and_columns(tmp_path):
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((23, 4)).astype(np.float32)
    dense[[3, 11]] = 0
    lay = Layout(23, 3, 2)
    f = Factor(str(tmp_path / "f"), lay, 4)
    for p in range(lay.pieces):
        if dense[lay.rows_of(p)].any():
            write_piece(f, p, dense[lay.rows_of(p)])
    reader = FactorReader(f)
    ids = rng.integers(0, 23, 50)
    np.testing.assert_array_equal(reader.gather(ids), dense[ids])
    np.testing.assert_array_equal(reader.gather(ids, 2), dense[ids, 2])
    np.testing.assert_array_equal(reader.gather(ids, slice(1, 3)), dense[ids, 1:3])


def _plain_product(ids, lengths, cols, x, s, readers, params):
    return fz.spmm_rows(lengths, cols, x.astype(np.float64), fz.Design(readers["dense"])), \
        np.zeros(len(ids))


def test_block_product_equals_numpy(spark, tmp_path):
    """X @ (F T) by the pieces of F joined to the row pieces, and its Gram, against numpy."""
    rng = np.random.default_rng(1)
    n, w = 37, 6
    x = (rng.random((n, n)) < 0.3) * rng.integers(1, 5, (n, n))
    x = np.float32(x + x.T)
    x[4] = x[:, 4] = 0
    m = matrix(spark, tmp_path, x, blocks=3, tasks=7)              # 3 blocks x 3 ranges
    try:
        assert m.layout.pieces == 9 and m.rows.rdd.getNumPartitions() == 9
        f = put(m.factor("f", w), rng.standard_normal((n, w)).astype(np.float32))
        t = rng.standard_normal((w, 4))
        spec = fz.PassSpec(_plain_product, m.factor("out", 4), {"dense": f}, {}, post=t,
                           grams={"gram": None, "weighted": "sums"})
        agg = fz.run_pass(spark, m, spec)
        got = fz.to_numpy(spec.out)
    finally:
        m.unpersist()
    expect = x.astype(np.float64) @ (fz.to_numpy(f) @ t)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-5)
    stored = got.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(agg["gram"], stored.T @ stored, rtol=1e-6)
    sums = x.astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(agg["weighted"], stored.T @ (stored * sums[:, None]), rtol=1e-6)


@pytest.mark.parametrize("rank", [None, 5])
def test_cholesky_qr2_equals_numpy_qr(spark, tmp_path, rank):
    """Orthonormal columns spanning the same space as numpy's QR, even ill-conditioned or
    rank-deficient; the driver only sees k x k Grams."""
    rng = np.random.default_rng(2)
    n, w = 300, 8
    u, _ = np.linalg.qr(rng.standard_normal((n, w)))
    v, _ = np.linalg.qr(rng.standard_normal((w, w)))
    sv = np.logspace(0, -5, w)                                     # condition number 1e5
    if rank:
        sv[rank:] = 0
    y = (u * sv) @ v.T
    y[7] = 0
    lay = Layout(n, 4, 3)
    f = put(Factor(str(tmp_path / "y"), lay, w, "float64"), y)
    stored = fz.to_numpy(f)
    q = fz.orthonormalize(spark, f, stored.T @ stored)
    got = fz.to_numpy(q)
    r = rank or w
    assert got.shape == (n, r)
    np.testing.assert_allclose(got.T @ got, np.eye(r), atol=1e-10)
    qn = np.linalg.qr(y)[0][:, :r]
    np.testing.assert_allclose(got @ got.T, qn @ qn.T, atol=1e-8)
    np.testing.assert_allclose(got @ (got.T @ y), y, atol=1e-12)


def test_gram_basis_orders_and_signs_deterministically():
    rng = np.random.default_rng(3)
    y = rng.standard_normal((50, 4))
    t = gram_basis(y.T @ y)
    q = y @ t
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-12)
    norms = np.linalg.norm(y @ t * np.sqrt(np.linalg.eigvalsh(y.T @ y)[::-1]), axis=0)
    assert np.all(np.diff(norms) <= 1e-9)                          # descending
    assert np.all(t[np.argmax(np.abs(t), axis=0), np.arange(4)] > 0)


def test_eight_blocks_give_eight_tasks_per_pass(spark, tmp_path):
    rng = np.random.default_rng(4)
    x = rng.poisson(2.0, (40, 40)) * (rng.random((40, 40)) < 0.4)
    x = np.float32(x + x.T)
    m = matrix(spark, tmp_path, x, blocks=8, tasks=6)
    try:
        spark.sparkContext.setJobGroup("eight", "a pass over 8 blocks")
        fz.ppmi_svd(spark, m, 3, cds=0.75, shift=0.0, eig=0.5, add_contexts=False,
                    oversample=2, power_iters=0, seed=1)
    finally:
        spark.sparkContext.setJobGroup("other", "")
        m.unpersist()
    tasks = stage_tasks(spark, "eight")
    assert tasks and set(tasks) == {8}


def test_rows_are_never_cut_whatever_the_split_sizes(spark, tmp_path):
    """Counts with tiny row groups, read with a 1 KB open cost and many minimum partitions:
    every row stays whole and each pass has the configured number of tasks."""
    rng = np.random.default_rng(5)
    n = 60
    x = rng.poisson(3.0, (n, n)) * (rng.random((n, n)) < 0.5)
    x = np.float32(x + x.T)
    conf = {"spark.sql.files.openCostInBytes": "1k", "spark.sql.files.minPartitionNum": "32",
            "spark.sql.files.maxPartitionBytes": "1k"}
    old = {k: spark.conf.get(k, None) for k in conf}
    for k, v in conf.items():
        spark.conf.set(k, v)
    try:
        m = matrix(spark, tmp_path, x, blocks=2, tasks=32)
        try:
            spark.sparkContext.setJobGroup("cut", "tiny splits")
            got = fz.ppmi_svd(spark, m, 4, cds=0.75, shift=0.0, eig=1.0, add_contexts=False,
                              oversample=n, power_iters=0, seed=2)
            spark.sparkContext.setJobGroup("other", "")
            assert m.rows.count() == m.nonempty == int((x != 0).any(axis=1).sum())
        finally:
            m.unpersist()
    finally:
        for k, v in old.items():
            spark.conf.unset(k) if v is None else spark.conf.set(k, v)
    assert 32 in stage_tasks(spark, "cut")
    from tests.test_factorize import dense_ppmi
    s = np.linalg.svd(dense_ppmi(x.astype(np.float64), 0.75, 1.0), compute_uv=False)
    np.testing.assert_allclose(got.extra["singular_values"], s[:4], rtol=1e-5)


def test_solve_rows_memory_is_bounded_by_settings_not_the_longest_row():
    """One row of 2M entries at k = 300: the kernel gathers it in bounded chunks."""
    rng = np.random.default_rng(6)
    k, distinct, length = 300, 2000, 2_000_000
    design = rng.standard_normal((distinct, k)).astype(np.float32)
    cols = rng.integers(0, distinct, length).astype(np.int32)
    weight = rng.random(length) + 0.5
    target = rng.standard_normal(length)
    tracemalloc.start()
    try:
        sol, loss = fz.solve_rows(np.array([length]), cols, target, weight, design, 1.0,
                                  free_last=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the old kernel padded the row and copied the design: over 2M x 300 x 4 x 3 bytes (7 GB)
    assert peak < 4 * fz.GATHER_BYTES + 64 * length, peak
    # reference: the same normal equations from per-column totals
    wsum = np.bincount(cols, weight, distinct)
    tsum = np.bincount(cols, weight * target, distinct)
    d = design.astype(np.float64)
    expect = np.linalg.solve(d.T @ (d * wsum[:, None]) + np.eye(k), d.T @ tsum)
    np.testing.assert_allclose(sol[0], expect, rtol=1e-3, atol=1e-6)
    assert loss[0] == pytest.approx(np.sum(weight * (d[cols] @ expect - target) ** 2), rel=1e-4)


def test_random_factors_do_not_depend_on_the_task_count(spark, tmp_path):
    a = Factor(str(tmp_path / "a"), Layout(50, 3, 1), 4)
    b = Factor(str(tmp_path / "b"), Layout(50, 3, 4), 4)
    fz.random_factor(spark, a, 9, chunk=5)
    fz.random_factor(spark, b, 9, chunk=5)
    got = fz.to_numpy(a)
    np.testing.assert_array_equal(got, fz.to_numpy(b))
    assert len(np.unique(got.round(12), axis=0)) == 50              # no chunk drawn twice


def test_task_records_summed_on_the_driver_or_by_a_tree_alike(spark, monkeypatch):
    from latentspark import blocks

    rng = np.random.default_rng(7)
    grams = rng.standard_normal((37, 3, 3))
    rows = [(p, grams[p].tobytes(), np.array([float(p)]).tobytes()) for p in range(37)]
    df = spark.createDataFrame(rows, "piece INT, gram BINARY, loss BINARY")
    direct = blocks.sum_records(df, {"gram": (3, 3), "loss": (1,)}, 37)
    monkeypatch.setattr(blocks, "DIRECT_SUM_BYTES", 0)
    tree = blocks.sum_records(df, {"gram": (3, 3), "loss": (1,)}, 37)
    np.testing.assert_allclose(direct["gram"], grams.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(tree["gram"], grams.sum(axis=0), rtol=1e-12)
    assert direct["loss"][0] == tree["loss"][0] == sum(range(37))
    assert direct["records"] == tree["records"] == 37
