"""Factorization of the co-occurrence matrix into word vectors, on Spark, with every ``V x k``
factor distributed.

Both methods work on *complete rows*: one record per non-empty matrix row holding its columns
and weights (:func:`complete_rows`). Rows are grouped in *pieces*
(:class:`latentspark.blocks.Layout`): one task per piece reads the piece's rows from its
co-occurrence block with pyarrow, so a row is never cut whatever Spark's split sizes are, and
the number of tasks of every pass is ``cooccur.blocks x splits`` (``factorize.tasks``), not
the number of files.

Every dense factor (``V x k``) is a :class:`latentspark.blocks.Factor`: one ``.npy`` file per
piece, written by the task that computed it, read memory-mapped by the next pass's tasks
column chunk by column chunk. The driver holds only ``k x k`` matrices: Gram matrices and
objectives arrive as per-task aggregates, orthonormalisation is CholeskyQR2 on those Grams
(:func:`latentspark.blocks.gram_basis`), and results are ``k x k`` transforms applied lazily
by the next pass or by the job that writes the embeddings.

``glove``
    GloVe's weighted least squares (Pennington et al. 2014), solved by alternating exact
    least squares: with the context side fixed, each word's ``(w_i, b_i)`` is the solution of
    a ``(d+1) x (d+1)`` system, independent of every other word's. Each half-step therefore
    never increases the objective, which is logged with its time after every iteration.
``ppmi_svd``
    Positive PMI with context-distribution smoothing and an optional shift, then a truncated
    SVD by a randomized range finder with power iterations (Halko, Martinsson and Tropp 2011):
    ``2 + 2 q`` sparse-times-dense passes plus ``k x k`` work on the driver; eigenvalue
    weighting ``p`` and the ``w + c`` option as in Levy, Goldberg and Dagan (2015).
``ppmi_wals``
    Weighted PPMI over all pairs, from the PPMI-SVD start (see :func:`ppmi_wals`).

The co-occurrence matrix is symmetric and stored with both ``(i, j)`` and ``(j, i)``, so a row
record also gives the word's column: products with the transpose need no shuffle.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from latentspark.blocks import (
    GATHER_BYTES,
    Factor,
    FactorReader,
    Layout,
    default_splits,
    gram_basis,
    sum_records,
    write_piece,
)
from latentspark.cooccurrence import keyed_uniforms
from latentspark.workers import arrow_task

logger = logging.getLogger(__name__)

#: one record per matrix row: its piece, row id, entries, row sum and packed int32 columns /
#: float32 weights
ROWS_DDL = "piece INT, row INT, n INT, s DOUBLE, cols BINARY, x BINARY"
#: gathered entries a kernel handles at once, at most (with fewer for wide factors)
ENTRY_BUDGET = 1 << 18
#: rows solved at once, at most (bounds the batch of k x k Gram matrices)
MAX_BATCH_ROWS = 512
#: bytes of the batch of k x k Gram matrices solved at once
GRAM_BYTES = 16 << 20
#: rows with at most this many entries per column of the design are solved through the
#: Woodbury identity when they can be (``L^2 k`` work and an ``L x L`` system, against
#: ``L k^2 / 2`` and a ``k x k`` system: LAPACK's ``k x k`` factorizations run several times
#: slower per flop than the matrix products, which puts the crossover near ``0.8 k``)
WOODBURY_ROWS = 0.75
#: seconds spent in each phase of the kernels, accumulated only while it is a dict (set by
#: ``benchmarks/factorize.py --breakdown``; ``None`` costs one test per phase)
PROFILE: dict[str, float] | None = None


def _lap(phase: str, t0: float) -> float:
    """Add the time since ``t0`` to ``phase`` of :data:`PROFILE` (if profiling); the time now."""
    now = time.perf_counter()
    if PROFILE is not None:
        PROFILE[phase] = PROFILE.get(phase, 0.0) + now - t0
    return now


# ---------------------------------------------------------------------------------------------
# numpy kernels (pure functions of arrays; Spark only moves their inputs and outputs)
# ---------------------------------------------------------------------------------------------


def glove_weight(x: np.ndarray, x_max: float, alpha: float) -> np.ndarray:
    """GloVe's weighting ``f(x) = min(1, (x / x_max) ** alpha)``.

    >>> glove_weight(np.array([1.0, 10.0, 50.0]), 10.0, 0.75).round(3).tolist()
    [0.178, 1.0, 1.0]
    """
    return np.minimum(1.0, (x / x_max) ** alpha)


def pmi_values(x: np.ndarray, log_row: np.ndarray, log_col_alpha: np.ndarray,
               log_z: float, shift: float, clip: bool = True) -> np.ndarray:
    """Positive shifted PMI with smoothed context probabilities.

    ``max(0, log x - log r_i - log(c_j ** cds) + log Z - log k)`` where ``r`` are row sums,
    ``c`` column sums and ``Z = sum_j c_j ** cds``; the caller passes the logs already
    gathered per entry and ``shift = log k``. ``clip=False`` keeps negative values.
    """
    pmi = np.log(x) - log_row - log_col_alpha + (log_z - shift)
    return np.maximum(0.0, pmi) if clip else pmi


class Design:
    """Rows of a dense matrix gathered by index: an array, a factor's reader, or either with
    a column of ones appended (GloVe's bias), so that no kernel copies a whole factor.

    Parameters
    ----------
    source : numpy.ndarray or FactorReader
    columns : slice
        Columns of ``source`` used.
    ones : bool
        Append a column of ones.
    """

    def __init__(self, source, columns: slice = slice(None), ones: bool = False) -> None:
        self.source, self.columns, self.ones = source, columns, ones
        full = source.shape[1] if isinstance(source, np.ndarray) else source.factor.width
        self.width = len(range(full)[columns]) + int(ones)
        self.dtype = source.dtype if isinstance(source, np.ndarray) else np.dtype(
            source.factor.dtype)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        if isinstance(self.source, np.ndarray):
            g = self.source[idx, self.columns]
        else:
            g = self.source.gather(idx, self.columns)
        if self.ones:
            g = np.concatenate([g, np.ones((len(g), 1), g.dtype)], axis=1)
        return g


_BLAS_NAMES = (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
               ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
               ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
               ("openblas_get_num_threads", "openblas_set_num_threads"))
_blas_libs: list | None = None


def _openblas_libs() -> list:
    """``(get, set)`` thread-count functions of every OpenBLAS loaded in this process."""
    global _blas_libs
    if _blas_libs is None:
        import ctypes

        _blas_libs = []
        try:
            with open("/proc/self/maps") as fh:
                paths = sorted({ln.split()[-1] for ln in fh
                                if "openblas" in ln.lower() and ".so" in ln.split()[-1]})
        except OSError:                 # not Linux: leave the library's own setting alone
            paths = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for get, put in _BLAS_NAMES:
                if hasattr(lib, get) and hasattr(lib, put):
                    _blas_libs.append((getattr(lib, get), getattr(lib, put)))
                    break
    return _blas_libs


@contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` OpenBLAS threads, then restore the previous count.

    A Spark task owns ``spark.task.cpus`` cores (one by default) while the other tasks of
    its executor run beside it; OpenBLAS's default of one thread per core of the host then
    oversubscribes the cores, and its spinning threads made the factorization's BLAS calls
    several times slower on a busy 2-core machine.
    """
    libs = _openblas_libs()
    old = [get() for get, _ in libs]
    for _, put in libs:
        put(max(1, int(n)))
    try:
        yield
    finally:
        for (_, put), m in zip(libs, old, strict=True):
            put(m)


def _release_memory() -> None:
    """Hand a Python worker's freed memory back to the system at the end of a task.

    Spark reuses its workers, and glibc and Arrow's allocator keep what a task freed: an idle
    worker would hold its largest task's temporaries through the next stages.
    """
    import ctypes

    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):     # not glibc, or an old pyarrow: nothing to do
        pass


def _task_cpus() -> int:
    """Cores of the running Spark task (``spark.task.cpus``), 1 outside a task."""
    try:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        return int(ctx.cpus()) if ctx is not None else 1
    except Exception:                   # an old PySpark without cpus(): one core per task
        return 1


def _as_design(design) -> Design:
    return design if isinstance(design, Design) else Design(design)


def _entry_step(width: int) -> int:
    """Entries gathered at once for rows ``width`` wide: bounded in bytes, not by a row."""
    return int(max(1, min(ENTRY_BUDGET, GATHER_BYTES // (8 * max(width, 1)))))


def spmm_rows(lengths: np.ndarray, cols: np.ndarray, vals: np.ndarray,
              dense) -> np.ndarray:
    """Sparse rows times a dense matrix: ``out[r] = sum_e vals[e] * dense[cols[e]]``.

    One compiled sparse product (``scipy.sparse``) per stored piece of ``dense``, in its
    precision (float32 for factors): gathering the ``E x k`` design rows first would move
    ``k`` times more memory than the entries themselves.

    Parameters
    ----------
    lengths : numpy.ndarray
        Entries of each row; the entries of row ``r`` follow those of row ``r - 1``.
    cols, vals : numpy.ndarray
        Column and value of every entry.
    dense : numpy.ndarray or Design
        ``V x k`` matrix (or a factor's gatherer); a factor is read one piece at a time, or
        from its in-memory copy when it is small (:data:`latentspark.blocks.WHOLE_FACTOR_BYTES`).

    Returns
    -------
    numpy.ndarray
        ``len(lengths) x k`` float64.

    Examples
    --------
    >>> spmm_rows(np.array([2, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 2.0, 3.0]),
    ...           np.array([[1.0], [10.0]])).ravel().tolist()
    [21.0, 0.0, 30.0]
    """
    from scipy import sparse

    design = _as_design(dense)
    n, k = len(lengths), design.width
    lengths = np.asarray(lengths, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    out = np.zeros((n, k))
    if not len(cols) or not n:
        return out

    def product(c, v, rows_of_entries, matrix):
        m = np.ascontiguousarray(matrix)
        indptr = np.r_[0, np.cumsum(np.bincount(rows_of_entries, minlength=n))]
        csr = sparse.csr_matrix((v.astype(m.dtype), c, indptr), shape=(n, len(m)))
        return csr @ m

    if design.ones:
        raise ValueError("spmm_rows: a design with a column of ones is not supported")
    source = design.source
    rid = np.repeat(np.arange(n), lengths)
    if not isinstance(source, np.ndarray) and not source.whole_in_memory():
        # one product per stored piece of the factor, entries grouped by piece (stable: each
        # piece's entries stay in row order, as CSR wants them)
        for data, sel, local in source.by_piece(cols):
            if data is not None and len(data):
                out += product(local, vals[sel], rid[sel], data[:, design.columns])
        return out
    matrix = source if isinstance(source, np.ndarray) else source.whole()
    out += product(cols, vals, rid, matrix[:, design.columns])
    return out


def solve_rows(lengths: np.ndarray, cols: np.ndarray, target: np.ndarray, weight: np.ndarray,
               design, l2: float | np.ndarray, extra_gram: np.ndarray | tuple | None = None,
               extra_rhs: np.ndarray | None = None, free_last: bool = True,
               predictions: bool = False, start: np.ndarray | None = None,
               cg_steps: int = 0, cg_tol: float = 1e-3) -> tuple[np.ndarray, ...]:
    """Weighted least squares for every row at once, row by row independent.

    Row ``r`` gets ``u_r = argmin sum_e weight[e] (design[cols[e]] . u - target[e])^2 +
    l2 |u[:-1]|^2`` (the last coordinate, a bias when ``design`` ends with a column of ones,
    is not penalised unless ``free_last`` is false; ``l2`` may also give one penalty per row).
    ``extra_gram[r]`` and ``extra_rhs[r]`` add terms to row ``r``'s normal equations (used for
    pairs that are not stored); ``extra_gram`` may also be one ``k x k`` matrix scaled per row,
    given as ``(matrix, scale_per_row)``.

    Every solve is exact (to rounding); two routes, chosen per row:

    * *direct*: the row's Gram ``G^T diag(w) G`` is accumulated in the design's precision
      (float32 for factors) by one symmetric BLAS product per row over its gathered entries,
      with no padding, then the ``k x k`` system is solved in float64;
    * *short rows* (at most :data:`WOODBURY_ROWS` ``x k`` entries) when ``extra_gram`` is
      ``(matrix, scale)`` and every coordinate is penalised (WALS's rows): the row's matrix
      ``D_r = scale_r M + l2_r I`` is diagonal in ``M``'s eigenbasis (one ``k x k``
      eigendecomposition per call), so the Woodbury
      identity solves the row with an ``L x L`` system instead of forming and factoring a
      ``k x k`` one (``L^2 k`` work instead of ``L k^2 + k^3``).

    With ``cg_steps`` and a warm ``start`` (``n x k``, e.g. the previous iterate) and
    ``extra_gram`` given as ``(matrix, scale)``, the rows of the direct route are instead
    solved by conjugate gradients (Jacobi-preconditioned, as implicit-feedback ALS does:
    Takacs, Pilaszy and Tikk 2011): at most ``cg_steps`` steps, stopping once the residual is
    below ``cg_tol`` times the right-hand side's norm. Each step costs two products with the
    row's gathered ``L x k`` design rows and one with the shared matrix (``2 L k + k^2``)
    instead of its ``L k^2`` Gram and ``k^3`` factorization. Started from the previous
    iterate, CG never increases the row's quadratic, so the objective still never
    increases; a system of ``k`` unknowns is solved exactly after ``k`` steps (to rounding).
    Rows longer than one gather chunk are still solved exactly.

    Memory is bounded by :data:`GATHER_BYTES` and :data:`GRAM_BYTES`, not by the longest row
    (a row longer than one gather chunk is accumulated chunk by chunk), and ``design`` (an
    array or a :class:`Design`) is never copied whole.

    Returns
    -------
    solution : numpy.ndarray
        ``len(lengths) x design.shape[1]``.
    loss : numpy.ndarray
        Each row's weighted squared error at its solution (stored entries only).
    predictions : numpy.ndarray
        Only with ``predictions``: ``design[cols[e]] . solution[row of e]`` for every entry.
    """
    design = _as_design(design)
    n, k = len(lengths), design.width
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64) if n else lengths
    target = np.asarray(target, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    l2_rows = np.broadcast_to(np.asarray(l2, dtype=np.float64), (n,))
    penalised = np.ones(k)
    if free_last:
        penalised[-1] = 0.0
    sol = np.zeros((n, k))
    loss = np.zeros(n)
    pred = np.zeros(len(cols))
    step = _entry_step(k)
    gram_rows = int(max(1, min(MAX_BATCH_ROWS, GRAM_BYTES // (8 * k * k))))
    # w = root^2: the Gram is then one symmetric product (syrk) of the scaled rows
    signed = bool(len(weight)) and float(weight.min()) < 0
    root = np.sqrt(np.maximum(weight, 0.0))
    order = np.argsort(-lengths, kind="stable")
    short = np.zeros(n, bool)
    if isinstance(extra_gram, tuple) and not free_last and not signed and n:
        lam, basis = np.linalg.eigh((extra_gram[0] + extra_gram[0].T) / 2)
        lam = np.maximum(lam, 0.0)
        scale = np.broadcast_to(np.asarray(extra_gram[1], dtype=np.float64), (n,))
        d_lo, d_hi = scale * lam[0] + l2_rows, scale * lam[-1] + l2_rows
        # a well-posed diagonal only: the identity subtracts from D^-1, which must be sound
        short = (lengths <= WOODBURY_ROWS * k) & (d_lo > 1e-9 * d_hi) & (d_lo > 0)
    use_cg = bool(cg_steps) and start is not None and isinstance(extra_gram, tuple) \
        and not free_last and not signed
    if use_cg:
        shared = (extra_gram[0] + extra_gram[0].T) / 2
        scale = np.broadcast_to(np.asarray(extra_gram[1], dtype=np.float64), (n,))
        start = np.asarray(start, dtype=np.float64)
    t = time.perf_counter()

    def finish(batch, gram, rhs):
        if isinstance(extra_gram, tuple):
            gram += extra_gram[0][None, :, :] * extra_gram[1][batch][:, None, None]
        elif extra_gram is not None:
            gram += extra_gram[batch]
        if extra_rhs is not None:
            rhs += extra_rhs[batch]
        gram[:, np.arange(k), np.arange(k)] += l2_rows[batch][:, None] * penalised
        return _solve_spd(gram, rhs)

    def rows_gram(g, a, b, gram, rhs):
        """Add entries ``a:b`` (gathered as ``g``) to one row's Gram and right-hand side."""
        if signed:
            gram += (g * weight[a:b, None].astype(g.dtype)).T @ g
        else:
            gs = g * root[a:b, None].astype(g.dtype)
            gram += gs.T @ gs                       # numpy calls syrk for x.T @ x
        rhs += g.T @ (target[a:b] * weight[a:b]).astype(g.dtype)

    direct = order[~short[order]]
    i = 0
    # direct route, long rows one at a time, their Gram accumulated over bounded chunks
    while i < len(direct) and lengths[direct[i]] > step:
        r = direct[i]
        i += 1
        gram, rhs = np.zeros((1, k, k)), np.zeros((1, k))
        chunks = range(starts[r], starts[r] + lengths[r], step)
        for a in chunks:
            b = min(a + step, starts[r] + lengths[r])
            t = _lap("solve: other", t)
            g = design(cols[a:b])
            t = _lap("gather", t)
            rows_gram(g, a, b, gram[0], rhs[0])
            t = _lap("gram + rhs", t)
        sol[r] = finish(np.array([r]), gram, rhs)[0]
        t = _lap("solve", t)
        for a in chunks:
            b = min(a + step, starts[r] + lengths[r])
            g = design(cols[a:b])
            t = _lap("gather", t)
            pred[a:b] = g @ sol[r].astype(g.dtype)
            t = _lap("loss", t)
    # direct route, the others by groups of whole rows: entries gathered once, no padding
    while i < len(direct):
        batch = [direct[i]]
        total = lengths[direct[i]]
        i += 1
        while i < len(direct) and len(batch) < gram_rows and total + lengths[direct[i]] <= step:
            total += lengths[direct[i]]
            batch.append(direct[i])
            i += 1
        batch = np.array(batch)
        entry, offset = _ranges(starts[batch], lengths[batch])
        t = _lap("solve: other", t)
        g = design(cols[entry])
        t = _lap("gather", t)
        if use_cg:
            for j, r in enumerate(batch):
                e0, e1 = starts[r], starts[r] + lengths[r]
                gr = g[offset[j]:offset[j] + lengths[r]]
                sol[r] = _cg_row(gr, weight[e0:e1], target[e0:e1], shared, scale[r],
                                 l2_rows[r], start[r], cg_steps, cg_tol,
                                 None if extra_rhs is None else extra_rhs[r])
                pred[e0:e1] = gr @ sol[r].astype(g.dtype)
            t = _lap("conjugate gradients", t)
            continue
        gram, rhs = np.zeros((len(batch), k, k)), np.zeros((len(batch), k))
        for j, r in enumerate(batch):
            a = offset[j]
            gr = g[a:a + lengths[r]]
            e0 = starts[r]
            rows_gram(gr, e0, e0 + lengths[r], gram[j], rhs[j])
        t = _lap("gram + rhs", t)
        u = finish(batch, gram, rhs)
        sol[batch] = u
        del gram
        t = _lap("solve", t)
        u = u.astype(g.dtype)
        for j, r in enumerate(batch):
            pred[starts[r]:starts[r] + lengths[r]] = g[offset[j]:offset[j] + lengths[r]] @ u[j]
        t = _lap("loss", t)
    # short rows: Woodbury in the eigenbasis of the shared matrix
    rows = order[short[order]]
    i = 0
    while i < len(rows):
        width = max(int(lengths[rows[i]]), 1)
        size = max(1, min(step // width, MAX_BATCH_ROWS, GRAM_BYTES // (8 * width * width)))
        batch = rows[i:i + size]
        i += len(batch)
        sol[batch], pred_batch = _woodbury(batch, lengths, starts, cols, target, root, design,
                                           lam, basis, scale, l2_rows, extra_rhs, width)
        entry, _ = _ranges(starts[batch], lengths[batch])
        pred[entry] = pred_batch
        t = time.perf_counter()
    rid = np.repeat(np.arange(n), lengths)
    resid = pred - target
    loss = np.bincount(rid, weight * resid * resid, minlength=n) if len(rid) else loss
    _lap("loss", t)
    return (sol, loss, pred) if predictions else (sol, loss)


def _cg_row(g: np.ndarray, w: np.ndarray, t: np.ndarray, shared: np.ndarray, scale: float,
            l2: float, x0: np.ndarray, steps: int, tol: float,
            extra_rhs: np.ndarray | None) -> np.ndarray:
    """One row's ``(G^T diag(w) G + scale M + l2 I) u = G^T (w t) (+ extra)`` by
    Jacobi-preconditioned conjugate gradients from ``x0`` (see :func:`solve_rows`).

    ``g`` stays in its precision (float32 for factors): its products take a float32 vector
    and are accumulated in float64, so no ``L x k`` float64 copy is made.
    """
    dt = g.dtype
    b = g.T @ (w * t).astype(dt)
    b = b.astype(np.float64) + (0.0 if extra_rhs is None else extra_rhs)
    diag = np.einsum("ij,ij,i->j", g, g, w.astype(dt)).astype(np.float64) \
        + scale * np.diagonal(shared) + l2
    inv = 1.0 / np.maximum(diag, 1e-300)

    def times(v: np.ndarray) -> np.ndarray:
        gv = (g @ v.astype(dt)).astype(np.float64)
        return (g.T @ (w * gv).astype(dt)).astype(np.float64) + scale * (shared @ v) + l2 * v

    x = x0.copy()
    r = b - times(x)
    bound = tol * max(float(np.linalg.norm(b)), 1e-300)
    z = inv * r
    p = z.copy()
    rz = float(r @ z)
    for _ in range(steps):
        if float(np.linalg.norm(r)) <= bound or rz <= 0.0:
            break
        ap = times(p)
        curv = float(p @ ap)
        if curv <= 0.0:
            break
        alpha = rz / curv
        x += alpha * p
        r -= alpha * ap
        z = inv * r
        rz, old = float(r @ z), rz
        p = z + (rz / old) * p
    return x


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Entry indices of whole rows, concatenated, and where each row begins among them."""
    offset = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    return np.repeat(starts - offset, lengths) + np.arange(int(lengths.sum())), offset


def _woodbury(batch, lengths, starts, cols, target, root, design, lam, basis, scale, l2_rows,
              extra_rhs, width):
    """Solve rows of at most ``k`` entries with ``D_r`` diagonal in ``basis`` (Woodbury).

    With ``V`` the row's gathered design rows times ``sqrt(w)``, rotated into ``basis``,
    ``(D + V^T V)^-1 y = D^-1 y - D^-1 V^T (I + V D^-1 V^T)^-1 V D^-1 y``: one ``L x L``
    system per row. Rows are padded with zero entries, which add identity rows to the small
    systems and change nothing else. Returns the solutions and each row's predictions
    (padded, ``len(batch) x width``).
    """
    t = time.perf_counter()
    m = len(batch)
    entry, offset = _ranges(starts[batch], lengths[batch])
    rid = np.repeat(np.arange(m), lengths[batch])
    pos = np.arange(len(entry)) - offset[rid]
    t = _lap("solve: other (short rows)", t)
    g = design(cols[entry])
    t = _lap("gather (short rows)", t)
    gp = np.zeros((m, width, g.shape[1]))
    gp[rid, pos] = g @ basis.astype(g.dtype)        # the rows in the eigenbasis, padded
    del g
    t = _lap("gram (short rows)", t)
    # with D^-1/2 folded into the rows, (D + V^T V)^-1 y = D^-1/2 (I + S^T S)^-1 D^-1/2 y for
    # S = V D^-1/2, and (I + S^T S)^-1 = I - S^T (I + S S^T)^-1 S
    root_d = np.sqrt(scale[batch][:, None] * lam[None, :] + l2_rows[batch][:, None])
    vs = gp * _padded(root[entry], rid, pos, m, width)[:, :, None] / root_d[:, None, :]
    st = _padded(root[entry] * target[entry], rid, pos, m, width)
    y = np.matmul(st[:, None, :], vs)[:, 0] * root_d    # Q^T G^T diag(w) t
    if extra_rhs is not None:
        y += extra_rhs[batch] @ basis
    zs = y / root_d
    t = _lap("rhs (short rows)", t)
    small = np.matmul(vs, vs.transpose(0, 2, 1))
    small[:, np.arange(width), np.arange(width)] += 1.0
    c = _solve_spd(small, np.matmul(vs, zs[:, :, None])[..., 0])[..., None]
    rotated = (zs - np.matmul(c.transpose(0, 2, 1), vs)[:, 0]) / root_d
    t = _lap("solve (short rows)", t)
    pred = np.matmul(gp, rotated[:, :, None])[:, :, 0]
    _lap("loss (short rows)", t)
    return rotated @ basis.T, pred[rid, pos]


def _padded(values: np.ndarray, rid: np.ndarray, pos: np.ndarray, m: int, width: int
            ) -> np.ndarray:
    out = np.zeros((m, width))
    out[rid, pos] = values
    return out


#: systems at least this wide are solved one by one by LAPACK's Cholesky driver (``posv``);
#: narrower ones by numpy's batched LU, whose per-call cost is lower
CHOLESKY_WIDTH = 48


def _solve_spd(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a batch of symmetric positive (semi-)definite systems; least squares if singular.

    Wide systems go through ``posv`` (Cholesky: half the flops of LU, and measured 2.2x
    faster than numpy's batched ``gesv`` at ``k = 301``); a system that is not numerically
    positive definite falls back to least squares.
    """
    if gram.shape[-1] < CHOLESKY_WIDTH:
        try:
            return np.linalg.solve(gram, rhs[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return np.stack([np.linalg.lstsq(a, b, rcond=None)[0]
                             for a, b in zip(gram, rhs, strict=True)])
    from scipy.linalg import lapack

    out = np.empty(rhs.shape, dtype=np.float64)
    for i in range(len(gram)):
        # a C-ordered symmetric matrix is its own Fortran-ordered transpose: no copy needed
        _, x, info = lapack.dposv(gram[i].T, rhs[i], lower=1)
        out[i] = x if info == 0 else np.linalg.lstsq(gram[i], rhs[i], rcond=None)[0]
    return out


def _fix_signs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip each component so that the largest-magnitude entry of ``u`` is positive."""
    flip = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])])
    flip[flip == 0] = 1.0
    return u * flip, v * flip


def weighted_vectors(u: np.ndarray, s: np.ndarray, v: np.ndarray, eig: float,
                     add_contexts: bool) -> np.ndarray:
    """``U S**eig`` (plus ``V S**eig`` with ``add_contexts``), Levy et al.'s two knobs."""
    scale = s ** eig
    return u * scale + (v * scale if add_contexts else 0.0)


# ---------------------------------------------------------------------------------------------
# Arrow packing
# ---------------------------------------------------------------------------------------------


def _unpack_rows(batch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row ids, lengths, and the concatenated int32 columns / float32 weights of a batch."""
    rows = batch.column("row").to_numpy()
    lengths = batch.column("n").to_numpy().astype(np.int64)
    cols = _binary_values(batch.column("cols")).view(np.int32)
    x = _binary_values(batch.column("x")).view(np.float32)
    return rows, lengths, cols, x


def _binary_values(arr) -> np.ndarray:
    """The concatenated bytes of a binary Arrow array, as uint8, without a copy per element."""
    import pyarrow as pa

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if not len(arr):
        return np.zeros(0, np.uint8)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset:arr.offset + len(arr) + 1]
    return np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]


def _binary_array(data: np.ndarray, lengths: np.ndarray, itemsize: int):
    """A binary Arrow array whose element ``r`` holds ``lengths[r]`` packed items of ``data``."""
    import pyarrow as pa

    offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64) * itemsize
    if offsets[-1] >= 2**31:
        return pa.array([data[a // itemsize:b // itemsize].tobytes()
                         for a, b in zip(offsets[:-1], offsets[1:], strict=True)], pa.binary())
    return pa.Array.from_buffers(pa.binary(), len(lengths),
                                 [None, pa.py_buffer(offsets.astype(np.int32)),
                                  pa.py_buffer(np.ascontiguousarray(data).tobytes())])


def _record(piece: int, **arrays) -> object:
    """One per-task record: the piece and packed float64 arrays (Grams, losses)."""
    import pyarrow as pa

    return pa.RecordBatch.from_pydict(
        {"piece": pa.array([piece], pa.int32()),
         **{k: pa.array([np.ascontiguousarray(v, dtype=np.float64).tobytes()], pa.binary())
            for k, v in arrays.items()}})


def _record_ddl(names) -> str:
    return "piece INT" + "".join(f", {n} BINARY" for n in names)


# ---------------------------------------------------------------------------------------------
# complete rows, one task per piece
# ---------------------------------------------------------------------------------------------


@dataclass
class Matrix:
    """The cached co-occurrence rows, their layout, and the row sums as a ``V x 1`` factor."""

    rows: object
    layout: Layout
    sums: Factor
    scratch: str
    nnz: int
    nonempty: int

    def unpersist(self) -> None:
        """Release the cached rows."""
        self.rows.unpersist()

    def factor(self, name: str, width: int, dtype: str = "float32") -> Factor:
        """A new factor in this matrix's scratch folder."""
        return Factor(f"{self.scratch}/{name}", self.layout, width, dtype)


def _group_rows(rows: np.ndarray, cols: np.ndarray, x: np.ndarray, piece: int, pa):
    """Entries sorted by row -> one ``ROWS_DDL`` batch of complete rows."""
    heads = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    lengths = np.diff(np.r_[heads, len(rows)])
    sums = np.add.reduceat(x.astype(np.float64), heads) if len(rows) else np.zeros(0)
    return pa.RecordBatch.from_arrays(
        [pa.array(np.full(len(heads), piece, np.int32)), pa.array(rows[heads].astype(np.int32)),
         pa.array(lengths.astype(np.int32)), pa.array(sums),
         _binary_array(cols.astype(np.int32), lengths, 4),
         _binary_array(x.astype(np.float32), lengths, 4)],
        names=["piece", "row", "n", "s", "cols", "x"])


def make_row_reader(layout: Layout, files: dict[int, list[str]], sums: Factor,
                    batch_rows: int = 8192) -> Callable:
    """``mapInArrow`` kernel over ``piece`` ids: read each piece's rows with pyarrow.

    A task reads only the row groups of its block's files whose ``row`` statistics overlap
    its range, keeps the rows of its piece, and yields them as complete rows (whatever Spark's
    file splits would have been); it also writes the piece of the row sums.
    """

    def run(batches: Iterator) -> Iterator:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from latentspark.remote import resolve

        # a reused worker may still hold the counting stage's freed buffers
        _release_memory()
        for batch in batches:
            for piece in batch.column("piece").to_pylist():
                block = piece // layout.splits
                lo, hi = layout.row_range(piece)
                parts = []
                for uri in files.get(block, []) if hi > lo else []:
                    fs, path = resolve(uri)
                    with fs.open_input_file(path) as fh:
                        pf = pq.ParquetFile(fh)
                        idx = pf.schema_arrow.get_field_index("row")
                        groups = []
                        for g in range(pf.metadata.num_row_groups):
                            st = pf.metadata.row_group(g).column(idx).statistics
                            if st is None or not st.has_min_max or (st.min < hi and st.max >= lo):
                                groups.append(g)
                        if groups:
                            parts.append(pf.read_row_groups(groups,
                                                            columns=["row", "col", "weight"]))
                row_sums = np.zeros(layout.piece_rows(piece))
                if parts:
                    t = pa.concat_tables(parts)
                    r = t.column("row").to_numpy().astype(np.int64)
                    keep = (r >= lo) & (r < hi) & (r % layout.blocks == block)
                    r = r[keep]
                    c = t.column("col").to_numpy()[keep]
                    x = t.column("weight").to_numpy()[keep]
                    del t, parts
                    # one (row, col) order; the stage writes it already, so this is a check
                    key = r * layout.vocab_size + c
                    if len(key) and not np.all(key[1:] > key[:-1]):
                        order = np.argsort(key, kind="stable")
                        r, c, x = r[order], c[order], x[order]
                    del key
                    if len(r):
                        heads = np.flatnonzero(np.r_[True, r[1:] != r[:-1], True])
                        for a in range(0, len(heads) - 1, batch_rows):
                            e0, e1 = heads[a], heads[min(a + batch_rows, len(heads) - 1)]
                            out = _group_rows(r[e0:e1], c[e0:e1], x[e0:e1], piece, pa)
                            row_sums[layout.piece_of(out.column("row").to_numpy())[1]] = \
                                out.column("s").to_numpy()
                            yield out
                if row_sums.any():
                    write_piece(sums, piece, row_sums[:, None])
                _release_memory()

    return run


def complete_rows(spark, cooccur_data: str, vocab_size: int, *, tasks: int,
                  scratch: str) -> Matrix:
    """The co-occurrence matrix as one record per row, cached, one piece per task.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cooccur_data : str
        The published co-occurrence ``data`` folder (``block=k/`` Parquet sorted by row).
    vocab_size : int
    tasks : int
        Tasks wanted per pass; there are ``blocks * ceil(tasks / blocks)``.
    scratch : str
        Folder (Hadoop URI) for the factor pieces of this factorization; the caller deletes
        it afterwards.

    Returns
    -------
    Matrix
        Rows persisted (memory and disk; on disk only on local Spark); call ``unpersist()``
        when done.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from latentspark.fs import HadoopFS

    fs = HadoopFS(spark)
    files: dict[int, list[str]] = {}
    for name in fs.list_names(cooccur_data):
        if name.startswith("block="):
            block = int(name.split("=", 1)[1])
            files[block] = [f"{cooccur_data}/{name}/{f}"
                            for f in fs.list_names(f"{cooccur_data}/{name}")
                            if f.endswith(".parquet") and not f.startswith(("_", "."))]
    if not files:
        raise RuntimeError(f"{cooccur_data}: no block=k folders of co-occurrence Parquet files")
    blocks = max(files) + 1
    layout = Layout(vocab_size, blocks, default_splits(blocks, tasks))
    matrix = Matrix(None, layout, Factor(f"{scratch}/sums", layout, 1, "float64"), scratch,
                    0, 0)
    pieces = spark.range(0, layout.pieces, 1, layout.pieces).selectExpr("CAST(id AS INT) piece")
    # on local Spark the cache would sit in the one JVM's heap for the whole factorization,
    # beside everything else; on disk it costs a read per pass, mostly from the page cache
    level = (StorageLevel.DISK_ONLY if spark.sparkContext.master.startswith("local")
             else StorageLevel.MEMORY_AND_DISK)
    matrix.rows = pieces.mapInArrow(arrow_task(make_row_reader(layout, files, matrix.sums)),
                                    ROWS_DDL).persist(level)
    stats = matrix.rows.agg(F.count(F.lit(1)).alias("rows"), F.sum("n").alias("nnz")).first()
    matrix.nnz, matrix.nonempty = int(stats["nnz"] or 0), int(stats["rows"])
    logger.info("factorize: %d non-empty rows, %d non-zeros cached in %d pieces (%d blocks x %d)",
                matrix.nonempty, matrix.nnz, layout.pieces, blocks, layout.splits)
    return matrix


# ---------------------------------------------------------------------------------------------
# passes: over the rows (products, solves) and over the pieces (small transforms)
# ---------------------------------------------------------------------------------------------


@dataclass
class PassSpec:
    """What the tasks of one pass over the rows compute and return.

    ``kernel(ids, lengths, cols, x, s, readers, params) -> (vectors, losses)`` for one batch of
    rows; the piece of its output (times ``post``, if given) is written to ``out``; each task
    returns the sum of the losses and, for ``grams``/``norms`` (name -> row weight: ``None``
    for 1, ``"sums"`` for the row sum ``r_i``, ``"p_ctx"`` for ``r_i ** cds / Z``), the
    weighted Gram matrix ``Y^T diag(w) Y`` and the weighted squared norm of the first
    ``norm_cols`` columns of its output as stored.
    """

    kernel: Callable
    out: Factor
    reads: dict[str, Factor]
    params: dict
    post: np.ndarray | None = None
    grams: dict[str, str | None] = field(default_factory=dict)
    norms: dict[str, str | None] = field(default_factory=dict)
    norm_cols: int | None = None


def _row_weights(kind: str | None, s: np.ndarray, params: dict) -> np.ndarray:
    if kind is None:
        return np.ones_like(s)
    if kind == "sums":
        return s
    if kind == "p_ctx":
        with np.errstate(divide="ignore"):
            return np.where(s > 0, np.exp(params["cds"] * np.log(np.maximum(s, 1e-300))
                                          - params["log_z"]), 0.0)
    raise ValueError(kind)


def _aggregates(spec_grams, spec_norms, norm_cols, stored, s, params) -> dict:
    out = {}
    for name, kind in spec_grams.items():
        w = _row_weights(kind, s, params)
        y = stored.astype(np.float64)
        out[name] = y.T @ (y * w[:, None])
    for name, kind in spec_norms.items():
        w = _row_weights(kind, s, params)
        y = stored[:, :norm_cols].astype(np.float64)
        out[name] = np.array([np.sum(w * np.sum(y * y, axis=1))])
    return out


def run_pass(spark, matrix: Matrix, spec: PassSpec) -> dict[str, np.ndarray]:
    """One ``mapInArrow`` job over the cached rows: one task per piece.

    Returns
    -------
    dict
        ``"loss"`` (scalar) and the summed ``grams`` and ``norms`` of :class:`PassSpec`.
    """
    layout, sums = matrix.layout, matrix.sums     # the closure must not capture the DataFrame
    keep = [f.uri for f in (*spec.reads.values(), sums)]
    names = ["loss", *spec.grams, *spec.norms]
    cols_out = spec.out.width

    def run(batches):
        readers = {k: FactorReader(f, keep) for k, f in spec.reads.items()}
        readers["sums"] = FactorReader(sums, keep)
        piece, total = None, 0.0
        out = own = None
        for batch in batches:
            if not batch.num_rows:
                continue
            if piece is None:
                piece = int(batch.column("piece")[0].as_py())
                out = np.zeros((layout.piece_rows(piece), spec.out.width if spec.post is None
                                else spec.post.shape[0]))
                own = np.zeros(layout.piece_rows(piece))
            ids, lengths, cols, x = _unpack_rows(batch)
            s = batch.column("s").to_numpy()
            with blas_threads(_task_cpus()):
                vec, loss = spec.kernel(ids, lengths, cols, x, s, readers, spec.params)
            local = layout.piece_of(ids)[1]
            out[local] = vec
            own[local] = s
            total += float(np.sum(loss))
        if piece is None:
            return
        if spec.post is not None:
            out = out @ spec.post
        stored = out.astype(spec.out.dtype)
        del out
        write_piece(spec.out, piece, stored)
        aggs = _aggregates(spec.grams, spec.norms, spec.norm_cols, stored, own, spec.params)
        del stored, own, readers
        yield _record(piece, loss=np.array([total]), **aggs)
        _release_memory()

    shapes = {"loss": (1,), **{n: (cols_out, cols_out) for n in spec.grams},
              **{n: (1,) for n in spec.norms}}
    assert spec.post is None or spec.post.shape[1] == cols_out
    df = matrix.rows.mapInArrow(arrow_task(run), _record_ddl(names))
    result = sum_records(df, shapes, layout.pieces)
    return {k: (float(v[0]) if shapes.get(k) == (1,) else v) for k, v in result.items()}


def map_pieces(spark, layout: Layout, fn: Callable, out: Factor | None,
               shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """One job with one task per piece: ``fn(piece, ids) -> (array or None, aggregates)``.

    The array (``piece_rows x out.width``) is written as the piece of ``out``; the aggregates
    (name -> array of ``shapes[name]``) are summed over the pieces in piece order.
    """

    def run(batches):
        for batch in batches:
            for piece in batch.column("piece").to_pylist():
                data, aggs = fn(piece, layout.rows_of(piece))
                if out is not None and data is not None:
                    write_piece(out, piece, data)
                yield _record(piece, **{n: aggs.get(n, np.zeros(shapes[n])) for n in shapes})

    pieces = spark.range(0, layout.pieces, 1, layout.pieces).selectExpr("CAST(id AS INT) piece")
    df = pieces.mapInArrow(arrow_task(run), _record_ddl(shapes))
    return sum_records(df, shapes, layout.pieces)


def random_factor(spark, out: Factor, seed: int, uniform: float | None = None,
                  init: Factor | None = None, chunk: int = 4096) -> None:
    """Fill ``out`` with a seeded random matrix, the same whatever the layout is.

    Element ``(i, j)`` depends only on the seed, the row id ``i`` and the column ``j``
    (:func:`~latentspark.cooccurrence.keyed_uniforms`), never on ``cooccur.blocks`` or
    ``factorize.tasks``: the same configuration gives the same vectors on a laptop and on a
    cluster. Standard normal (Box-Muller), or with ``uniform = s`` uniform on ``[-s/2, s/2)``.
    With ``init`` (``width - 1`` or ``width`` columns), its non-zero rows replace the random
    ones' leading columns and zero the rest (a warm start). Rows are drawn ``chunk`` at a
    time.
    """
    keep = [out.uri] + ([init.uri] if init else [])
    width = out.width

    def draw(ids: np.ndarray) -> np.ndarray:
        if uniform is not None:
            return (keyed_uniforms(ids[:, None], np.arange(width), seed) - 0.5) * uniform
        u = keyed_uniforms(ids[:, None], np.arange(2 * width), seed)
        return np.sqrt(-2.0 * np.log1p(-u[:, :width])) * np.cos(2.0 * np.pi * u[:, width:])

    def fn(piece, ids):
        data = np.zeros((len(ids), width))
        for lo in range(0, len(ids), chunk):   # bounds the hashing's temporaries
            data[lo:lo + chunk] = draw(ids[lo:lo + chunk])
        if init is not None and len(ids):
            old = FactorReader(init, keep).value(piece)
            known = np.any(old != 0, axis=1)
            data[known] = 0.0
            data[known, :old.shape[1]] = old[known]
        return data, {}

    map_pieces(spark, out.layout, fn, out, {})


def gram_of(spark, factor: Factor, weight: Factor | None = None,
            weight_fn: Callable | None = None) -> np.ndarray:
    """``F^T diag(w) F`` of a factor (transform applied), a ``k x k`` aggregate."""
    keep = [factor.uri] + ([weight.uri] if weight else [])
    k = factor.cols

    def fn(piece, ids):
        y = FactorReader(factor, keep).value(piece)
        w = np.ones(len(ids)) if weight is None else FactorReader(weight, keep).stored(piece)[:, 0]
        if weight_fn is not None:
            w = weight_fn(w)
        return None, {"gram": y.T @ (y * w[:, None])}

    return map_pieces(spark, factor.layout, fn, None, {"gram": (k, k)})["gram"]


def materialize(spark, factor: Factor, out: Factor, scale_cols: np.ndarray | None = None
                ) -> Factor:
    """Write ``factor`` (its transform applied, columns times ``scale_cols``) as ``out``."""
    keep = [factor.uri, out.uri]

    def fn(piece, ids):
        y = FactorReader(factor, keep).value(piece)
        if scale_cols is not None:
            y = y * scale_cols
        return (y if y.any() else None), {}

    map_pieces(spark, factor.layout, fn, out, {})
    return out


def orthonormalize(spark, factor: Factor, gram: np.ndarray) -> Factor:
    """CholeskyQR2 on a distributed factor, given its Gram ``F^T F``.

    The first step's basis ``T1`` comes from the Gram the producing pass returned; the second
    recomputes the Gram of ``F T1`` from the stored rows (one light pass) and corrects it, so
    that the columns of ``F T`` are orthonormal to working precision even when ``F`` is
    ill-conditioned. Nothing is rewritten: the result is ``factor`` with transform ``T``.
    """
    t1 = gram_basis(gram)
    first = factor.with_transform(t1)
    t2 = gram_basis(gram_of(spark, first), rtol=1e-10)
    return first.with_transform(t2)


def column_signs(spark, factor: Factor) -> np.ndarray:
    """``+-1`` per column: the sign of the column's largest-magnitude entry (ties: lowest id)."""
    import pyarrow as pa

    keep = [factor.uri]
    k = factor.cols

    def run(batches):
        for batch in batches:
            for piece in batch.column("piece").to_pylist():
                y = FactorReader(factor, keep).value(piece)
                ids = factor.layout.rows_of(piece)
                if not len(ids):
                    continue
                at = np.argmax(np.abs(y), axis=0)
                yield pa.RecordBatch.from_pydict({
                    "piece": pa.array([piece], pa.int32()),
                    "ids": pa.array([ids[at].astype(np.int64).tobytes()], pa.binary()),
                    "vals": pa.array([y[at, np.arange(k)].tobytes()], pa.binary())})

    layout = factor.layout
    pieces = spark.range(0, layout.pieces, 1, layout.pieces).selectExpr("CAST(id AS INT) piece")
    table = pieces.mapInArrow(arrow_task(run), "piece INT, ids BINARY, vals BINARY").toArrow()
    best_val, best_id = np.zeros(k), np.full(k, np.iinfo(np.int64).max)
    for ib, vb in zip(table.column("ids").to_pylist(), table.column("vals").to_pylist(),
                      strict=True):
        ids, vals = np.frombuffer(ib, np.int64), np.frombuffer(vb, np.float64)
        better = (np.abs(vals) > np.abs(best_val)) | (
            (np.abs(vals) == np.abs(best_val)) & (ids < best_id))
        best_val[better], best_id[better] = vals[better], ids[better]
    signs = np.sign(best_val)
    signs[signs == 0] = 1.0
    return signs


def combine(spark, out: Factor, parts: list[tuple[Factor, np.ndarray | None]]) -> Factor:
    """Write ``out = sum_i F_i @ M_i`` (each factor's transform applied first; ``M_i`` None
    for the identity): the last step of every method, from ``k x k`` pieces on the driver."""
    keep = [f.uri for f, _ in parts] + [out.uri]

    def fn(piece, ids):
        acc = np.zeros((len(ids), out.width))
        for f, m in parts:
            y = FactorReader(f, keep).value(piece)
            acc += y if m is None else y @ m
        return (acc if acc.any() else None), {}

    map_pieces(spark, out.layout, fn, out, {})
    return out


def top_directions(mean: np.ndarray, gram: np.ndarray, count: float, d: int) -> np.ndarray:
    """The ``d`` leading principal directions (``k x d``, orthonormal columns) of vectors whose
    mean is ``mean`` and whose uncentred Gram ``sum_i x_i x_i^T`` over ``count`` rows is
    ``gram``: the top eigenvectors of their covariance, a ``k x k`` problem."""
    cov = gram / max(count, 1.0) - np.outer(mean, mean)
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    order = np.argsort(-vals, kind="stable")[:d]
    return vecs[:, order]


def all_but_the_top(x: np.ndarray, d: int) -> np.ndarray:
    """Mu and Viswanath's (2018) post-processing of word vectors, on one array.

    Subtracts the mean vector and the projections on the ``d`` leading principal directions
    of the centred vectors. All-zero rows (words without a vector) stay zero and take no part
    in the mean or the directions. The reference of :func:`remove_top_directions`.

    Examples
    --------
    >>> x = np.array([[3.0, 2.0], [-1.0, 2.0], [3.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    >>> np.abs(all_but_the_top(x, 1)).round(6).tolist()   # mean (1, 1), top direction (1, 0)
    [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
    """
    x = np.asarray(x, dtype=np.float64)
    used = np.any(x != 0, axis=1)
    if d <= 0 or not used.any():
        return x.copy()
    y = x[used]
    mean = y.mean(axis=0)
    u = top_directions(mean, y.T @ y, float(len(y)), d)
    out = np.zeros_like(x)
    centred = y - mean
    out[used] = centred - (centred @ u) @ u.T
    return out


def remove_top_directions(spark, factor: Factor, out: Factor, d: int) -> Factor:
    """:func:`all_but_the_top` on a distributed factor, written as ``out``.

    One pass sums each piece's non-zero rows, their ``k x k`` Gram and their number (the
    driver gets ``k x k``); the driver finds the directions (``k x k`` eigenproblem); a second
    pass writes ``(x - mean)(I - U U^T)`` for the non-zero rows (zero rows stay zero).
    """
    if d <= 0:  # nothing to remove: no pass over the factor
        return factor
    k = factor.cols
    keep = [factor.uri, out.uri]

    def moments(piece, ids):
        y = FactorReader(factor, keep).value(piece)
        y = y[np.any(y != 0, axis=1)]
        return None, {"sum": y.sum(axis=0), "gram": y.T @ y, "n": np.array([float(len(y))])}

    agg = map_pieces(spark, factor.layout, moments, None, {"sum": (k,), "gram": (k, k),
                                                           "n": (1,)})
    n = float(np.asarray(agg["n"]).ravel()[0])
    if n == 0:
        return factor
    mean = agg["sum"] / n
    u = top_directions(mean, agg["gram"], n, d)
    project = np.eye(k) - u @ u.T
    shift = mean @ project

    def apply(piece, ids):
        y = FactorReader(factor, keep).value(piece)
        used = np.any(y != 0, axis=1)
        y = y @ project - shift
        y[~used] = 0.0
        return (y if used.any() else None), {}

    map_pieces(spark, factor.layout, apply, out, {})
    return out


def to_numpy(factor: Factor) -> np.ndarray:
    """The whole factor as one array on the driver: for tests and small vocabularies only."""
    reader = FactorReader(factor)
    out = np.zeros((factor.layout.vocab_size, factor.cols))
    for p in range(factor.layout.pieces):
        ids = factor.layout.rows_of(p)
        if len(ids):
            out[ids] = reader.value(p)
    return out


# ---------------------------------------------------------------------------------------------
# the methods
# ---------------------------------------------------------------------------------------------


@dataclass
class Factors:
    """The result of a factorization: the vectors as a distributed factor, before writing."""

    vectors: Factor
    history: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def _history_step(history: list[dict], progress, method: str, step: dict) -> None:
    history.append(step)
    text = ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in step.items() if k != "seconds")
    logger.info("%s: %s (%.1f s)", method, text, step["seconds"])
    if progress:
        progress(step)


@dataclass
class PMI:
    """What every task needs to compute the shifted positive PMI of its entries; the row and
    column sums themselves are read from the matrix's ``sums`` factor."""

    cds: float
    log_z: float
    shift: float

    @classmethod
    def of(cls, matrix: Matrix, cds: float, shift: float) -> PMI:
        """From the cached rows: ``log Z = log sum_j c_j ** cds`` is a scalar aggregate."""
        def run(batches):
            total, piece = 0.0, None
            for batch in batches:
                if batch.num_rows:
                    piece = int(batch.column("piece")[0].as_py())
                    total += float(np.sum(batch.column("s").to_numpy() ** cds))
            if piece is not None:
                yield _record(piece, z=np.array([total]))

        # summed in piece order on the driver, so that the same input gives the same bits
        z = float(sum_records(matrix.rows.mapInArrow(arrow_task(run), _record_ddl(["z"])),
                              {"z": (1,)}, matrix.layout.pieces)["z"][0])
        return cls(cds, float(np.log(z)) if z > 0 else 0.0, shift)

    def shared(self) -> dict:
        return {"cds": self.cds, "log_z": self.log_z, "shift": self.shift}


def _log_sums(readers, ids: np.ndarray) -> np.ndarray:
    s = readers["sums"].gather(ids, 0).astype(np.float64)
    with np.errstate(divide="ignore"):
        return np.where(s > 0, np.log(np.maximum(s, 1e-300)), 0.0)


def _ppmi_kernel(ids, lengths, cols, x, s, readers, data):
    with np.errstate(divide="ignore"):
        log_own = np.repeat(np.where(s > 0, np.log(np.maximum(s, 1e-300)), 0.0), lengths)
    log_col = _log_sums(readers, cols)
    if data["transpose"]:   # entry (r, c) stands for M[c, r]: the matrix is stored symmetric
        vals = pmi_values(x, log_col, data["cds"] * log_own, data["log_z"], data["shift"])
    else:
        vals = pmi_values(x, log_own, data["cds"] * log_col, data["log_z"], data["shift"])
    keep = vals > 0
    kept_lengths = np.add.reduceat(keep, np.r_[0, np.cumsum(lengths)[:-1]]) if len(ids) else \
        np.zeros(0, np.int64)
    kept_lengths[lengths == 0] = 0
    return (spmm_rows(kept_lengths, cols[keep], vals[keep], Design(readers["dense"])),
            np.zeros(len(ids)))


def truncated_svd(spark, matrix: Matrix, pmi: PMI, dim: int, *, oversample: int,
                  power_iters: int, seed: int, history: list[dict], progress=None,
                  method: str = "ppmi_svd") -> tuple[Factor, np.ndarray, Factor]:
    """The top ``dim`` singular triplets of the positive PMI matrix (randomized, on Spark).

    Returns
    -------
    u, s, v
        ``V x dim`` left vectors and right vectors as factors (``k x k`` transforms of stored
        pieces), ``dim`` singular values (descending); each component's sign makes the
        largest entry of ``u`` positive, and words without co-occurrences get zero rows.
    """
    vocab_size = matrix.layout.vocab_size
    width = min(dim + oversample, vocab_size)
    count = iter(range(1_000_000))

    def product(dense: Factor, transpose: bool, label: str) -> tuple[Factor, np.ndarray]:
        t0 = time.monotonic()
        out = matrix.factor(f"y{next(count)}", dense.width)
        spec = PassSpec(_ppmi_kernel, Factor(out.uri, out.layout, dense.cols), {"dense": dense.
                        with_transform(None)}, {**pmi.shared(), "transpose": transpose},
                        post=dense.transform, grams={"gram": None})
        agg = run_pass(spark, matrix, spec)
        _history_step(history, progress, method,
                      {"pass": label, "seconds": round(time.monotonic() - t0, 2)})
        return spec.out, agg["gram"]

    def orth(y: Factor, gram: np.ndarray, label: str) -> Factor:
        t0 = time.monotonic()
        q = orthonormalize(spark, y, gram)
        _history_step(history, progress, method,
                      {"pass": f"CholeskyQR2 of {label}", "seconds": round(time.monotonic() - t0,
                                                                            2)})
        return q

    t0 = time.monotonic()
    omega = matrix.factor("omega", width)
    random_factor(spark, omega, seed)
    _history_step(history, progress, method,
                  {"pass": "Omega", "seconds": round(time.monotonic() - t0, 2)})
    y, gram = product(omega, False, "M @ Omega")
    q = orth(y, gram, "M @ Omega")
    for it in range(1, power_iters + 1):
        y, gram = product(q, True, f"power {it}: M^T @ Q")
        q = orth(y, gram, f"power {it}: M^T @ Q")
        y, gram = product(q, False, f"power {it}: M @ Q")
        q = orth(y, gram, f"power {it}: M @ Q")
    z, zgram = product(q, True, "M^T @ Q")                     # M ~ Q Z^T
    # Z = Qz Rz by CholeskyQR2 on its Gram; then the SVD of the small Rz
    zt = orth(z, zgram, "Z").transform
    rz = zt.T @ zgram                                          # Qz^T Z
    a, s, bt = np.linalg.svd(rz, full_matrices=False)
    # left singular vectors of M: Q Vz = Q bt^T; right: Z's left ones, Qz a
    u = q.with_transform(bt.T[:, :dim])
    v = z.with_transform(zt @ a[:, :dim])
    s = s[:dim]
    if len(s) < dim:                                           # rank below dim: zero columns
        pad = np.zeros((u.cols, dim))
        pad[np.arange(u.cols), np.arange(u.cols)] = 1.0
        u, v = u.with_transform(pad), v.with_transform(pad)
        s = np.r_[s, np.zeros(dim - len(s))]
    signs = column_signs(spark, u)
    return u.with_transform(np.diag(signs)), s, v.with_transform(np.diag(signs))


def _final_vectors(spark, matrix: Matrix, u: Factor, s: np.ndarray, v: Factor, eig: float,
                   add_contexts: bool) -> Factor:
    scale = np.diag(s ** eig)
    parts = [(u, scale)] + ([(v, scale)] if add_contexts else [])
    return combine(spark, matrix.factor("vectors", len(s)), parts)


def ppmi_svd(spark, matrix: Matrix, dim: int, *, cds: float, shift: float,
             eig: float, add_contexts: bool, oversample: int, power_iters: int,
             seed: int, progress: Callable[[dict], None] | None = None) -> Factors:
    """Truncated SVD of the positive (shifted) PMI matrix by a randomized range finder.

    Parameters
    ----------
    matrix : Matrix
        From :func:`complete_rows` (its row sums are also the column sums: it is symmetric).
    cds : float
        Context-distribution smoothing exponent.
    shift : float
        ``log k``: subtracted from PMI before clipping at 0.
    eig : float
        Eigenvalue weighting: vectors are ``U S ** eig``.
    add_contexts : bool
        Return ``U S**eig + V S**eig``.
    oversample, power_iters : int
        Extra columns of the random projection, and power iterations.
    """
    history: list[dict] = []
    u, s, v = truncated_svd(spark, matrix, PMI.of(matrix, cds, shift), dim,
                            oversample=oversample, power_iters=power_iters, seed=seed,
                            history=history, progress=progress)
    return Factors(_final_vectors(spark, matrix, u, s, v, eig, add_contexts), history,
                   {"singular_values": s})


def _pair_logs(lengths, cols, s, readers, transpose: bool):
    """The logs of a batch's row sums, and per entry of its own and the other side's sums
    (``transpose``: the batch's rows are contexts), shared by the ``ppmi_wals`` kernels."""
    with np.errstate(divide="ignore"):
        log_ids = np.where(s > 0, np.log(np.maximum(s, 1e-300)), 0.0)
    log_cols = _log_sums(readers, cols)
    log_rows = np.repeat(log_ids, lengths)
    log_own, log_other = (log_cols, log_rows) if transpose else (log_rows, log_cols)
    return log_ids, log_own, log_other


def _wals_kernel(ids, lengths, cols, x, s, readers, data):
    """One side of the weighted PPMI factorization for a batch of rows.

    The weight of pair ``(i, j)`` is ``X_ij + k r_i P(j)``: its count plus the count of
    negative samples SGNS would draw for it (``P`` the smoothed context distribution). The
    second term spans all ``V^2`` pairs but is rank one, so its part of each row's normal
    equations is ``k r_i (C^T diag(P) C)``, one ``d x d`` matrix for everyone.
    """
    t = time.perf_counter()
    x = x.astype(np.float64)
    cds, log_z, transpose = data["cds"], data["log_z"], data["transpose"]
    log_ids, log_own, log_other = _pair_logs(lengths, cols, s, readers, transpose)
    target = pmi_values(x, log_own, cds * log_other, log_z, data["shift"],
                        clip=not data.get("negative_pmi", False))
    # row scale of the background weight: r_i for words, P(j) for contexts
    background = data["k"] * np.exp(log_own + cds * log_other - log_z)
    power = data.get("observed_power", 1.0)
    seen = x if power == 1.0 else x ** power          # the observed pairs' own weight
    weight = seen + background
    p_ids = np.where(s > 0, np.exp(cds * log_ids - log_z), 0.0)
    scale = p_ids if transpose else s
    design = Design(readers["design"])
    l2 = data["l2"] * s
    t = _lap("targets and weights", t)
    start = None
    if data.get("cg_steps") and "start" in readers:     # the previous iterate, for CG
        start = readers["start"].gather(ids).astype(np.float64)
        if readers["start"].factor.transform is not None:
            start = start @ readers["start"].factor.transform
    sol, _, pred = solve_rows(lengths, cols, weight * target / seen, seen, design, l2,
                              extra_gram=(data["k"] * data["gram"], scale), free_last=False,
                              predictions=True, start=start, cg_steps=data.get("cg_steps", 0),
                              cg_tol=data.get("cg_tol", 1e-3))
    t = time.perf_counter()
    # the objective's part from these rows, at their new vectors
    entry = weight * (pred - target) ** 2 - background * pred ** 2
    observed = np.bincount(np.repeat(np.arange(len(ids)), lengths), entry, minlength=len(ids))
    quad = np.sum((sol @ data["gram"]) * sol, axis=1)
    loss = observed + data["k"] * scale * quad + l2 * np.sum(sol * sol, axis=1)
    _lap("objective", t)
    return sol, loss


def _entry_products(lengths: np.ndarray, cols: np.ndarray, own: np.ndarray, design
                    ) -> np.ndarray:
    """``design[cols[e]] . own[row of e]`` for every entry, gathered in bounded chunks."""
    design = _as_design(design)
    rid = np.repeat(np.arange(len(lengths)), lengths)
    out = np.zeros(len(cols))
    step = _entry_step(design.width)
    for a in range(0, len(cols), step):
        b = min(a + step, len(cols))
        g = design(cols[a:b])
        out[a:b] = np.einsum("ij,ij->i", g, own[rid[a:b]].astype(g.dtype), dtype=np.float64)
    return out


def logistic_pair_loss(x: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """SGNS's loss of pairs at ``x = w . c``: ``-pos log s(x) - neg log s(-x)``.

    >>> logistic_pair_loss(np.array([0.0]), np.array([1.0]), np.array([1.0])).round(4).tolist()
    [1.3863]
    """
    return pos * np.logaddexp(0.0, -x) + neg * np.logaddexp(0.0, x)


def negative_expansion(center: float | np.ndarray) -> tuple:
    """``(q, lin)`` of ``2 x (-log s(-x))`` expanded to second order at ``x = center``:
    ``q x^2 + lin x`` plus a constant, the unobserved pairs' term of ``loss="sgns"`` per unit
    of negative weight (floats, or arrays for an array of centres).

    Its minimum is at ``center - 1 / s(-center)``: -2 at 0, about -3.1 at -2.

    >>> negative_expansion(0.0)
    (0.25, 1.0)
    >>> [round(v, 4) for v in negative_expansion(-2.0)]
    [0.105, 0.6584]
    """
    c = np.asarray(center, dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-c))                    # s(center)
    q = p * (1.0 - p)                               # 2 x half of softplus'' at center
    lin = 2.0 * p - 2.0 * c * q
    return (float(q), float(lin)) if c.ndim == 0 else (q, lin)


def _wals_logistic_kernel(ids, lengths, cols, x, s, readers, data):
    """One side of ``ppmi_wals`` with the logistic loss: one Newton (IRLS) step per row.

    Objective: ``sum_obs 2 l_ij(w_i . c_j) + sum_unobs B_ij (w_i . c_j)^2 + ridge``, with
    ``l_ij(x) = -A log s(x) - B log s(-x)`` SGNS's loss of a pair seen ``A = X_ij **
    observed_power`` times and drawn ``B = k r_i P(j)`` times as a negative, and the unobserved
    pairs kept on the squared loss's structured pull to 0 (one ``d x d`` matrix). At the
    current fit ``x0`` (the row's previous vector, ``readers["start"]``), ``2 l`` is replaced by
    the quadratic ``c (x - z)^2`` with the same slope at ``x0``: ``z = x0 - ((A + B) s(x0) -
    A) / c``, where ``c`` is Newton's curvature ``h = (A + B) s(x0) s(-x0)`` floored at ``B``.
    The structured matrix covers *all* pairs with weight ``B``, so an observed pair enters the
    row's system with weight ``c - B >= 0`` and right-hand side ``c z``. Why the floor: with
    ``h`` itself the weight ``h - B`` is negative for most pairs, and the row's system becomes
    a small difference of large float32 sums that conjugate gradients met as indefinite (on
    the 24M-token counts its iterates overflowed); ``c >= h`` only shortens the step, and the
    fixed points (zero slope) are the same.
    """
    from scipy.special import expit

    t = time.perf_counter()
    x = x.astype(np.float64)
    cds, log_z, transpose = data["cds"], data["log_z"], data["transpose"]
    log_ids, log_own, log_other = _pair_logs(lengths, cols, s, readers, transpose)
    neg = data["k"] * np.exp(log_own + cds * log_other - log_z)     # B: SGNS's negatives
    power = data.get("observed_power", 1.0)
    pos = x if power == 1.0 else x ** power                       # A
    p_ids = np.where(s > 0, np.exp(cds * log_ids - log_z), 0.0)
    scale = p_ids if transpose else s
    design = Design(readers["design"])
    l2 = data["l2"] * s
    start = readers["start"].gather(ids).astype(np.float64)
    if readers["start"].factor.transform is not None:
        start = start @ readers["start"].factor.transform
    x0 = _entry_products(lengths, cols, start, design)
    # the unobserved pairs' term U(x) = q B x^2 + lin B x: (1, 0) pulls them to 0 ("logistic");
    # "sgns" expands 2 x (-B log s(-x)) at data["center"] ((1/4, 1) at 0): SGNS's own negatives
    sgns = data.get("unobserved") == "sgns"
    if sgns and data.get("center_rows"):
        # each row's negatives expanded at its own mean score over them, B-weighted, from its
        # previous vector: sum_j B_ij (w_i . c_j) / sum_j B_ij = w_i . mean / total
        q, lin = negative_expansion(start @ (data["mean"] / data["mean_total"]))
        q_e, lin_e = np.repeat(q, lengths), np.repeat(lin, lengths)     # per stored pair
    else:       # one expansion for every row: scalars, no per-pair arrays
        q, lin = negative_expansion(data.get("center", 0.0)) if sgns else (1.0, 0.0)
        q_e, lin_e = q, lin
    both = pos + neg
    curv = np.maximum(both * expit(x0) * expit(-x0), q_e * neg)
    cz = curv * x0 - (both * expit(x0) - pos)       # c z, without dividing by c
    # the right-hand side goes in whole as an extra term: pairs of weight c - qB = 0 keep theirs
    rhs = spmm_rows(lengths, cols, cz + 0.5 * lin_e * neg, design)
    if sgns:    # the structured linear term, sum_j B_ij c_j = k r_i (C^T P) (or its transpose)
        rhs -= 0.5 * (lin * data["k"] * scale)[:, None] * data["mean"][None, :]
    t = _lap("targets and weights", t)
    sol, _, pred = solve_rows(lengths, cols, np.zeros(len(cols)), curv - q_e * neg, design, l2,
                              extra_gram=(data["k"] * data["gram"], q * scale), extra_rhs=rhs,
                              free_last=False, predictions=True, start=start,
                              cg_steps=data.get("cg_steps", 0), cg_tol=data.get("cg_tol", 1e-3))
    t = time.perf_counter()
    entry = 2.0 * logistic_pair_loss(pred, pos, neg) - q_e * neg * pred ** 2 - lin_e * neg * pred
    observed = np.bincount(np.repeat(np.arange(len(ids)), lengths), entry, minlength=len(ids))
    quad = np.sum((sol @ data["gram"]) * sol, axis=1)
    loss = observed + q * data["k"] * scale * quad + l2 * np.sum(sol * sol, axis=1)
    if sgns:
        loss += lin * data["k"] * scale * (sol @ data["mean"])
    _lap("objective", t)
    return sol, loss


def _sgns_mean(spark, matrix: Matrix, other: Factor, loss: str, newton: bool, pmi: PMI,
               contexts: bool) -> dict:
    """``loss="sgns"``: the other side's weighted sum, ``C^T P`` for contexts or ``W^T r`` for
    words (a ``d``-vector, one light pass over the pieces); nothing otherwise."""
    if loss != "sgns" or not newton:
        return {}
    sums = matrix.sums                  # the closure must not capture the cached DataFrame
    keep = [other.uri, sums.uri]
    k, cds, log_z = other.cols, pmi.cds, pmi.log_z

    def fn(piece, ids):
        y = FactorReader(other, keep).value(piece)
        r = FactorReader(sums, keep).stored(piece)[:, 0]
        if contexts:
            r = np.where(r > 0, np.exp(cds * np.log(np.maximum(r, 1e-300)) - log_z), 0.0)
        return None, {"mean": r @ y, "mean_total": np.array([r.sum()])}

    out = map_pieces(spark, matrix.layout, fn, None, {"mean": (k,), "mean_total": (1,)})
    return {"mean": out["mean"], "mean_total": float(out["mean_total"][0])}


def ppmi_wals(spark, matrix: Matrix, dim: int, *, cds: float, neg: float,
              iterations: int, l2: float, eig: float, add_contexts: bool, oversample: int,
              power_iters: int, seed: int, tolerance: float = 0.0,
              progress: Callable[[dict], None] | None = None,
              init: Factor | None = None, cg_steps: int = 0, cg_tol: float = 1e-3,
              negative_pmi: bool = False, observed_power: float = 1.0,
              loss: str = "squared", negative_center: float = 0.0,
              center_rows: bool = False) -> Factors:
    """Weighted least-squares factorization of positive PMI over *all* word pairs.

    Minimises ``sum_ij (X_ij + k r_i P(j)) (w_i . c_j - PPMI_ij)^2 + l2 sum_i r_i
    (|w_i|^2 + |c_i|^2)``: every pair is weighted by how often SGNS would see it, as a
    positive (``X_ij``) or as one of ``k`` negative samples (``k r_i P(j)``, ``P`` the context
    distribution smoothed by ``cds``), and unobserved pairs are pulled towards 0 like PPMI's
    zeros. PPMI-SVD solves the same problem with uniform weights, so it is the starting point;
    each half-iteration then solves every row exactly (implicit-feedback ALS: the unobserved
    pairs cost one ``d x d`` matrix, not ``V^2`` terms), and the objective never increases.

    The published vectors are those of the rank-``dim`` product ``W C^T`` written as
    ``U S V^T`` (CholeskyQR2 of each side from its ``d x d`` Gram, SVD of the ``d x d``
    core), so ``eig`` and ``add_contexts`` mean what they mean for ``ppmi_svd``.

    ``init`` (a ``dim``-wide factor, warm start, e.g. the previous model's vectors with zero
    rows for new words) replaces the SVD start as the first context factor: the first
    half-iteration solves every word exactly against it, new words included.

    ``cg_steps > 0`` solves the long rows by at most that many conjugate-gradient steps from
    each row's previous vector (the SVD start's ``U S^1/2`` and ``V S^1/2`` at first; see
    :func:`solve_rows`) instead of exactly; with ``init`` the first words pass stays exact
    (there is no previous word vector to start from).

    ``negative_pmi`` fits the observed pairs' PMI unclipped (SGNS's optimum keeps negative
    values for pairs seen less often than chance) instead of PPMI; the unobserved pairs are
    still pulled towards 0, and the SVD start is still PPMI's. ``observed_power`` weights
    the observed pairs ``X_ij ** observed_power + k r_i P(j)`` (below 1: frequent pairs
    dominate less).

    ``loss="logistic"`` replaces the observed pairs' squared error by SGNS's logistic loss
    ``-A log s(w.c) - B log s(-w.c)`` (``A = X_ij ** observed_power``, ``B = k r_i P(j)``),
    each half-iteration taking one Newton (IRLS) step per row from its previous vector
    (:func:`_wals_logistic_kernel`; Newton's curvature floored at ``B``, which keeps every
    weight non-negative); the unobserved pairs keep the structured pull to 0. The
    first words half-iteration is the squared loss's (its solution is the first fit), and the
    logged objective is the logistic one (``2 l`` per observed pair), from the first iteration.
    ``loss="sgns"`` also replaces the unobserved pairs' pull to 0 by SGNS's own negative term
    ``-B log s(-x)`` expanded to second order at 0 (``B (x + x^2 / 4)`` against the observed
    pairs' ``2 l``): still structured (the ``d x d`` matrix at a quarter, plus ``k r_i C^T P``),
    but with its minimum at ``x = -2``, below the observed pairs' ``log(A / B)``, instead of 0.
    ``negative_center`` expands that term at another score instead of 0
    (:func:`negative_expansion`): closer to where the unobserved pairs' scores end up, a
    lower minimum and a weaker pull.
    """
    if loss not in ("squared", "logistic", "sgns"):
        raise ValueError(f"factorize.loss = {loss!r}: expected 'squared', 'logistic' or 'sgns'")
    history: list[dict] = []
    pmi = PMI.of(matrix, cds, 0.0)
    if init is None:
        u, s, v = truncated_svd(spark, matrix, pmi, dim, oversample=oversample,
                                power_iters=power_iters, seed=seed, history=history,
                                progress=progress, method="ppmi_wals")
        contexts = materialize(spark, v, matrix.factor("c0", dim), np.sqrt(s))
    else:
        iterations = max(iterations, 1)
        contexts = init
    shared = {**pmi.shared(), "k": float(neg), "l2": l2, "cg_steps": int(cg_steps),
              "cg_tol": float(cg_tol), "negative_pmi": bool(negative_pmi),
              "observed_power": float(observed_power), "unobserved": loss,
              "center": float(negative_center), "center_rows": bool(center_rows)}
    # each side's previous iterate: CG's warm start (none for the words after ``init``)
    previous_words = None if init is not None else u.with_transform(np.diag(np.sqrt(s)))
    gram = gram_of(spark, contexts, matrix.sums,
                   lambda r: np.where(r > 0, np.exp(cds * np.log(np.maximum(r, 1e-300))
                                                    - pmi.log_z), 0.0))
    previous = math.inf
    words = None
    for it in range(1, iterations + 1):
        t0 = time.monotonic()
        reads = {"design": contexts}
        # logistic: a Newton step from the previous words, once there is a fitted pair of sides
        newton = loss != "squared" and it > 1
        if (cg_steps or newton) and previous_words is not None:
            reads["start"] = previous_words
        spec = PassSpec(_wals_logistic_kernel if newton else _wals_kernel,
                        matrix.factor(f"w{it}", dim), reads,
                        {**shared, "gram": gram, "transpose": False,
                         **_sgns_mean(spark, matrix, contexts, loss, newton, pmi, True)},
                        grams={"gram": "sums", "plain": None}, norms={"l2": "sums"},
                        norm_cols=dim)
        agg = run_pass(spark, matrix, spec)
        words, wgram, gram = spec.out, agg["plain"], agg["gram"]
        previous_words = words
        newton = loss != "squared"
        reads = {"design": words, **({"start": contexts} if cg_steps or newton else {})}
        spec = PassSpec(_wals_logistic_kernel if newton else _wals_kernel,
                        matrix.factor(f"c{it}", dim), reads,
                        {**shared, "gram": gram, "transpose": True,
                         **_sgns_mean(spark, matrix, words, loss, newton, pmi, False)},
                        grams={"gram": "p_ctx", "plain": None})
        agg2 = run_pass(spark, matrix, spec)
        contexts, cgram, gram = spec.out, agg2["plain"], agg2["gram"]
        objective = agg2["loss"] + l2 * agg["l2"]
        _history_step(history, progress, "ppmi_wals",
                      {"iteration": it, "objective": float(objective),
                       "seconds": round(time.monotonic() - t0, 2)})
        if tolerance and previous - objective < tolerance * abs(previous):
            break
        previous = objective
    if words is None:       # no iteration: the SVD start is the answer
        return Factors(_final_vectors(spark, matrix, u, s, v, eig, add_contexts), history,
                       {"singular_values": s})
    # rewrite W C^T as U S V^T: W = Qw Rw, C = Qc Rc (CholeskyQR2), SVD of Rw Rc^T
    tw = orthonormalize(spark, words, wgram).transform
    tc = orthonormalize(spark, contexts, cgram).transform
    us, s, vst = np.linalg.svd((tw.T @ wgram) @ (tc.T @ cgram).T, full_matrices=False)
    u = words.with_transform(tw @ us[:, :dim])
    v = contexts.with_transform(tc @ vst.T[:, :dim])
    s = s[:dim]
    if len(s) < dim:
        pad = np.zeros((u.cols, dim))
        pad[np.arange(u.cols), np.arange(u.cols)] = 1.0
        u, v = u.with_transform(pad), v.with_transform(pad)
        s = np.r_[s, np.zeros(dim - len(s))]
    signs = column_signs(spark, u)
    u, v = u.with_transform(np.diag(signs)), v.with_transform(np.diag(signs))
    return Factors(_final_vectors(spark, matrix, u, s, v, eig, add_contexts), history,
                   {"singular_values": s})


def _glove_kernel(ids, lengths, cols, x, s, readers, data):
    other = readers["other"]                       # V x (d + 1): vectors, then bias
    d = other.factor.width - 1
    design = Design(other, slice(0, d), ones=True)
    target = np.log(x.astype(np.float64)) - other.gather(cols, d).astype(np.float64)
    weight = glove_weight(x.astype(np.float64), data["x_max"], data["alpha"])
    return solve_rows(lengths, cols, target, weight, design, data["l2"])


def glove(spark, matrix: Matrix, dim: int, *, iterations: int, x_max: float,
          alpha: float, l2: float, seed: int, tolerance: float = 0.0,
          progress: Callable[[dict], None] | None = None,
          init: Factor | None = None, add_contexts: bool = True) -> Factors:
    """GloVe by alternating weighted least squares.

    Minimises ``sum_ij f(X_ij) (w_i . c_j + b_i + b~_j - log X_ij)^2 + l2 (|W|^2 + |C|^2)``
    over the stored non-zeros. Each half-iteration solves every word's ``(w_i, b_i)`` exactly
    with the context side fixed (then the reverse), so the objective never increases.

    ``init`` (a ``dim``-wide factor, warm start) replaces the context vectors of the rows it
    does not leave all zero (their biases start at 0); the first half-iteration then solves
    the words against them.

    Returns
    -------
    Factors
        ``vectors`` is ``W + C`` (as GloVe's reference code saves; ``W`` alone without
        ``add_contexts``); ``extra`` holds the
        ``(d + 1)``-wide factors ``words`` and ``contexts`` (vectors, then bias).
    """
    contexts = matrix.factor("glove-c0", dim + 1)
    # GloVe's own initialisation: uniform on [-0.5, 0.5) / dim, biases too
    random_factor(spark, contexts, seed, uniform=1.0 / dim, init=init)
    history: list[dict] = []
    shared = {"x_max": x_max, "alpha": alpha, "l2": l2}
    previous = math.inf
    words = None
    for it in range(1, iterations + 1):
        t0 = time.monotonic()
        spec = PassSpec(_glove_kernel, matrix.factor(f"glove-w{it}", dim + 1),
                        {"other": contexts}, shared, norms={"sq": None}, norm_cols=dim)
        wagg = run_pass(spark, matrix, spec)
        words = spec.out
        spec = PassSpec(_glove_kernel, matrix.factor(f"glove-c{it}", dim + 1),
                        {"other": words}, shared, norms={"sq": None}, norm_cols=dim)
        cagg = run_pass(spark, matrix, spec)
        contexts = spec.out
        data_loss = cagg["loss"]
        objective = data_loss + l2 * (wagg["sq"] + cagg["sq"])
        step = {"iteration": it, "objective": float(objective), "data_loss": data_loss,
                "seconds": round(time.monotonic() - t0, 2)}
        history.append(step)
        logger.info("glove: iteration %d/%d objective %.6g (%.1f s)", it, iterations,
                    objective, step["seconds"])
        if progress:
            progress(step)
        if tolerance and previous - objective < tolerance * abs(previous):
            logger.info("glove: relative improvement below %g; stopping", tolerance)
            break
        previous = objective
    take = np.eye(dim + 1)[:, :dim]
    parts = [(words, take)] + ([(contexts, take)] if add_contexts else [])
    return Factors(combine(spark, matrix.factor("vectors", dim), parts), history,
                   {"words": words, "contexts": contexts})
