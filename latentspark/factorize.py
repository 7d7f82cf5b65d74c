"""Factorization of the co-occurrence matrix into word vectors, on Spark.

Both methods work on *complete rows*: one record per vocabulary word holding its non-zero
columns and weights (:func:`complete_rows`, built once from the published co-occurrence blocks
and cached by Spark). Each pass over the matrix is one ``mapInArrow`` job whose numpy kernel
reads a broadcast ``V x k`` dense factor and returns one ``k``-vector per row; the driver only
ever holds ``V x k`` dense arrays, never anything ``V x V``.

``glove``
    GloVe's weighted least squares (Pennington et al. 2014), solved by alternating exact
    least squares: with the context side fixed, each word's ``(w_i, b_i)`` is the solution of
    a ``(d+1) x (d+1)`` system, independent of every other word's. Each half-step therefore
    never increases the objective, which is logged with its time after every iteration.
``ppmi_svd``
    Positive PMI with context-distribution smoothing and an optional shift, then a truncated
    SVD by a randomized range finder with power iterations (Halko, Martinsson and Tropp 2011):
    ``2 + 2 q`` sparse-times-dense passes plus small dense work on the driver; eigenvalue
    weighting ``p`` and the ``w + c`` option as in Levy, Goldberg and Dagan (2015).

The co-occurrence matrix is symmetric and stored with both ``(i, j)`` and ``(j, i)``, so a row
record also gives the word's column: products with the transpose need no shuffle.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

#: one record per matrix row; ``cols`` and ``x`` are packed int32 / float32 arrays
ROWS_DDL = "row INT, n INT, cols BINARY, x BINARY"
#: a kernel's output: one vector (packed float32) and one loss term per row
VECTORS_DDL = "row INT, vec BINARY, loss DOUBLE"
#: gathered entries a kernel handles at once (bounds its temporary arrays)
ENTRY_BUDGET = 1 << 18
#: rows solved at once (bounds the batch of k x k Gram matrices)
MAX_BATCH_ROWS = 512


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
               log_z: float, shift: float) -> np.ndarray:
    """Positive shifted PMI with smoothed context probabilities.

    ``max(0, log x - log r_i - log(c_j ** cds) + log Z - log k)`` where ``r`` are row sums,
    ``c`` column sums and ``Z = sum_j c_j ** cds``; the caller passes the logs already
    gathered per entry and ``shift = log k``.
    """
    return np.maximum(0.0, np.log(x) - log_row - log_col_alpha + (log_z - shift))


def spmm_rows(lengths: np.ndarray, cols: np.ndarray, vals: np.ndarray,
              dense: np.ndarray) -> np.ndarray:
    """Sparse rows times a dense matrix: ``out[r] = sum_e vals[e] * dense[cols[e]]``.

    Parameters
    ----------
    lengths : numpy.ndarray
        Entries of each row; the entries of row ``r`` follow those of row ``r - 1``.
    cols, vals : numpy.ndarray
        Column and value of every entry.
    dense : numpy.ndarray
        ``V x k`` matrix.

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
    n, k = len(lengths), dense.shape[1]
    out = np.zeros((n, k))
    rid = np.repeat(np.arange(n), lengths)
    step = max(1, ENTRY_BUDGET * 64 // max(k, 1))
    for a in range(0, len(cols), step):
        r, c, v = rid[a:a + step], cols[a:a + step], vals[a:a + step]
        if not len(r):
            continue
        contrib = dense[c] * v[:, None].astype(dense.dtype)
        heads = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
        out[r[heads]] += np.add.reduceat(contrib, heads, axis=0)
    return out


def solve_rows(lengths: np.ndarray, cols: np.ndarray, target: np.ndarray, weight: np.ndarray,
               design: np.ndarray, l2: float | np.ndarray, extra_gram: np.ndarray | None = None,
               extra_rhs: np.ndarray | None = None,
               free_last: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares for every row at once, row by row independent.

    Row ``r`` gets ``u_r = argmin sum_e weight[e] (design[cols[e]] . u - target[e])^2 +
    l2 |u[:-1]|^2`` (the last coordinate, a bias when ``design`` ends with a column of ones,
    is not penalised unless ``free_last`` is false; ``l2`` may also give one penalty per row).
    ``extra_gram[r]`` and ``extra_rhs[r]`` add terms to row ``r``'s normal equations (used for
    pairs that are not stored); ``extra_gram`` may also be one ``k x k`` matrix scaled per row,
    given as ``(matrix, scale_per_row)``.

    Rows are sorted by length and solved in padded batches, so the Gram matrices are formed by
    batched matrix products instead of a Python loop over rows.

    Returns
    -------
    solution : numpy.ndarray
        ``len(lengths) x design.shape[1]``.
    loss : numpy.ndarray
        Each row's weighted squared error at its solution (stored entries only).
    """
    n, k = len(lengths), design.shape[1]
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    # a zero design row and a zero-weight entry for the padding
    design_pad = np.vstack([design, np.zeros((1, k), design.dtype)])
    cols_pad = np.r_[cols, len(design)].astype(np.int64)
    tw = np.r_[target * weight, 0.0]
    w_pad = np.r_[weight, 0.0]
    t_pad = np.r_[target, 0.0]
    pad_entry = len(cols)
    l2_rows = np.broadcast_to(np.asarray(l2, dtype=np.float64), (n,))
    penalised = np.ones(k)
    if free_last:
        penalised[-1] = 0.0
    sol = np.zeros((n, k))
    loss = np.zeros(n)
    order = np.argsort(-lengths, kind="stable")
    i = 0
    while i < n:
        width = max(int(lengths[order[i]]), 1)
        batch = order[i:i + max(1, min(ENTRY_BUDGET // width, MAX_BATCH_ROWS))]
        i += len(batch)
        pos = np.arange(width)
        mask = pos[None, :] < lengths[batch][:, None]
        entry = np.where(mask, starts[batch][:, None] + pos[None, :], pad_entry)
        g = design_pad[cols_pad[entry]]                          # b x width x k
        gw = g * w_pad[entry][..., None].astype(g.dtype)
        gram = np.matmul(gw.transpose(0, 2, 1), g).astype(np.float64)
        rhs = np.einsum("bwk,bw->bk", g, tw[entry].astype(g.dtype), dtype=np.float64)
        if isinstance(extra_gram, tuple):
            gram += extra_gram[0][None, :, :] * extra_gram[1][batch][:, None, None]
        elif extra_gram is not None:
            gram += extra_gram[batch]
        if extra_rhs is not None:
            rhs += extra_rhs[batch]
        gram[:, np.arange(k), np.arange(k)] += l2_rows[batch][:, None] * penalised
        u = _solve_spd(gram, rhs)
        sol[batch] = u
        resid = np.einsum("bwk,bk->bw", g, u.astype(g.dtype)) - t_pad[entry]
        loss[batch] = np.einsum("bw,bw->b", w_pad[entry], resid * resid)
    return sol, loss


def _solve_spd(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve a batch of symmetric positive (semi-)definite systems; least squares if singular."""
    try:
        return np.linalg.solve(gram, rhs[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in zip(gram, rhs,
                                                                                strict=True)])


def orthonormal(y: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the columns of ``y`` (thin QR, signs fixed for determinism)."""
    q, r = np.linalg.qr(y)
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


# ---------------------------------------------------------------------------------------------
# Spark side
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


def group_rows_kernel(batches: Iterator) -> Iterator:
    """``mapInArrow`` kernel: ``row, col, weight`` entries sorted by row -> complete rows.

    A row cut by a batch boundary is carried into the next batch; the caller makes sure no
    row is cut by a partition boundary (each block file is read by one task).
    """
    import pyarrow as pa

    carry = None
    for batch in batches:
        rows = batch.column("row").to_numpy()
        cols = batch.column("col").to_numpy().astype(np.int32)
        x = batch.column("weight").to_numpy().astype(np.float32)
        if carry is not None:
            rows, cols, x = (np.r_[a, b] for a, b in zip(carry, (rows, cols, x), strict=True))
        if not len(rows):
            continue
        heads = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        last = heads[-1]
        carry = (rows[last:], cols[last:], x[last:])
        if last:
            yield _rows_batch(rows[:last], cols[:last], x[:last], heads[:-1], pa)
    if carry is not None and len(carry[0]):
        yield _rows_batch(*carry, np.array([0]), pa)


def _rows_batch(rows, cols, x, heads, pa):
    lengths = np.diff(np.r_[heads, len(rows)])
    return pa.RecordBatch.from_arrays(
        [pa.array(rows[heads].astype(np.int32)), pa.array(lengths.astype(np.int32)),
         _binary_array(cols, lengths, 4), _binary_array(x, lengths, 4)],
        names=["row", "n", "cols", "x"])


def complete_rows(spark, cooccur_data: str):
    """The co-occurrence matrix as one record per row, cached: ``row, n, cols, x``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cooccur_data : str
        The published co-occurrence ``data`` folder (``block=k/`` Parquet sorted by row).

    Returns
    -------
    pyspark.sql.DataFrame
        Persisted (memory and disk); call ``unpersist()`` when done.
    """
    from pyspark import StorageLevel

    # every block file must be read whole by one task, or a row could be cut in two
    key = "spark.sql.files.maxPartitionBytes"
    old = spark.conf.get(key, None)
    spark.conf.set(key, str(1 << 40))
    try:
        entries = spark.read.parquet(cooccur_data).select("row", "col", "weight")
        rows = entries.mapInArrow(group_rows_kernel, ROWS_DDL).persist(
            StorageLevel.MEMORY_AND_DISK)
        stats = rows.selectExpr("count(1) AS records", "count(DISTINCT row) AS rows",
                                "sum(n) AS nnz").first()
    finally:
        if old is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, old)
    if stats["records"] != stats["rows"]:
        rows.unpersist()
        raise RuntimeError(f"{cooccur_data}: {stats['records'] - stats['rows']} rows were cut "
                           "between tasks; the co-occurrence blocks are not sorted by row")
    logger.info("factorize: %d non-empty rows, %d non-zeros cached", stats["rows"],
                stats["nnz"] or 0)
    return rows


def row_pass(spark, rows, kernel: Callable, shared: dict, vocab_size: int,
             width: int) -> tuple[np.ndarray, float]:
    """Run ``kernel`` over every row record and assemble its per-row vectors on the driver.

    Parameters
    ----------
    rows : pyspark.sql.DataFrame
        From :func:`complete_rows`.
    kernel : callable
        ``kernel(rows, lengths, cols, x, shared) -> (vectors, losses)`` for one batch.
    shared : dict
        Arrays every task needs (broadcast once per pass).
    vocab_size, width : int
        Shape of the assembled result; rows without entries stay zero.

    Returns
    -------
    vectors : numpy.ndarray
        ``vocab_size x width`` float64.
    loss : float
        Sum of the kernel's losses.
    """
    import pyarrow as pa

    bc = spark.sparkContext.broadcast(shared)

    def run(batches):
        data = bc.value
        for batch in batches:
            ids, lengths, cols, x = _unpack_rows(batch)
            vec, loss = kernel(ids, lengths, cols, x, data)
            vec = np.ascontiguousarray(vec, dtype=np.float64)
            yield pa.RecordBatch.from_arrays(
                [pa.array(ids.astype(np.int32)),
                 _binary_array(vec.reshape(-1), np.full(len(ids), vec.shape[1]), 8),
                 pa.array(np.asarray(loss, dtype=np.float64))], names=["row", "vec", "loss"])

    try:
        table = rows.mapInArrow(run, VECTORS_DDL).toArrow()
    finally:
        bc.unpersist()
    out = np.zeros((vocab_size, width))
    ids = table.column("row").to_numpy()
    if len(ids):
        out[ids] = _binary_values(table.column("vec")).view(np.float64).reshape(
            len(ids), width)
    return out, float(np.sum(table.column("loss").to_numpy()))


# ---------------------------------------------------------------------------------------------
# the two methods
# ---------------------------------------------------------------------------------------------


@dataclass
class Factors:
    """The result of a factorization, before it is written."""

    vectors: np.ndarray
    history: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)


def _glove_kernel(ids, lengths, cols, x, data):
    other = data["other"]                          # V x (d + 1): vectors, then bias
    d = other.shape[1] - 1
    design = np.hstack([other[:, :d], np.ones((len(other), 1), other.dtype)])
    target = np.log(x.astype(np.float64)) - other[cols, d]
    weight = glove_weight(x.astype(np.float64), data["x_max"], data["alpha"])
    return solve_rows(lengths, cols, target, weight, design, data["l2"])


def glove(spark, rows, vocab_size: int, dim: int, *, iterations: int, x_max: float,
          alpha: float, l2: float, seed: int, tolerance: float = 0.0,
          progress: Callable[[dict], None] | None = None,
          init: np.ndarray | None = None) -> Factors:
    """GloVe by alternating weighted least squares.

    Minimises ``sum_ij f(X_ij) (w_i . c_j + b_i + b~_j - log X_ij)^2 + l2 (|W|^2 + |C|^2)``
    over the stored non-zeros. Each half-iteration solves every word's ``(w_i, b_i)`` exactly
    with the context side fixed (then the reverse), so the objective never increases.

    ``init`` (``vocab_size x dim``, warm start) replaces the context vectors of the rows it
    does not leave all zero; the first half-iteration then solves the words against them.

    Returns
    -------
    Factors
        ``vectors`` is ``W + C`` (as GloVe's reference code saves); ``extra`` holds ``W``,
        ``C`` and the biases.
    """
    rng = np.random.default_rng(seed)
    # GloVe's own initialisation: uniform in [-0.5, 0.5] / dim, biases too
    words = (rng.random((vocab_size, dim + 1)) - 0.5) / dim
    contexts = (rng.random((vocab_size, dim + 1)) - 0.5) / dim
    if init is not None:
        known = np.any(init != 0, axis=1)
        contexts[known, :dim] = init[known]
        contexts[known, dim] = 0.0
    history: list[dict] = []
    shared = {"x_max": x_max, "alpha": alpha, "l2": l2}
    previous = math.inf
    for it in range(1, iterations + 1):
        t0 = time.monotonic()
        words, _ = row_pass(spark, rows, _glove_kernel,
                            {**shared, "other": contexts}, vocab_size, dim + 1)
        contexts, data_loss = row_pass(spark, rows, _glove_kernel,
                                       {**shared, "other": words},
                                       vocab_size, dim + 1)
        objective = data_loss + l2 * (np.sum(words[:, :dim] ** 2) + np.sum(contexts[:, :dim] ** 2))
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
    return Factors(words[:, :dim] + contexts[:, :dim], history,
                   {"W": words[:, :dim], "C": contexts[:, :dim], "b": words[:, dim],
                    "b_context": contexts[:, dim]})


def _ppmi_kernel(ids, lengths, cols, x, data):
    rows_of = np.repeat(ids, lengths)
    logs = data["log_sums"]
    if data["transpose"]:   # entry (r, c) stands for M[c, r]: the matrix is stored symmetric
        vals = pmi_values(x, logs[cols], data["cds"] * logs[rows_of], data["log_z"],
                          data["shift"])
    else:
        vals = pmi_values(x, logs[rows_of], data["cds"] * logs[cols], data["log_z"],
                          data["shift"])
    keep = vals > 0
    kept_lengths = np.add.reduceat(keep, np.r_[0, np.cumsum(lengths)[:-1]]) if len(ids) else \
        np.zeros(0, np.int64)
    kept_lengths[lengths == 0] = 0
    return spmm_rows(kept_lengths, cols[keep], vals[keep], data["dense"]), np.zeros(len(ids))


@dataclass
class PMI:
    """What every task needs to compute the shifted positive PMI of its entries."""

    log_sums: np.ndarray
    cds: float
    log_z: float
    shift: float

    @classmethod
    def from_sums(cls, row_sums: np.ndarray, cds: float, shift: float) -> PMI:
        """From the matrix's row sums (its column sums too: it is symmetric)."""
        with np.errstate(divide="ignore"):
            log_sums = np.where(row_sums > 0, np.log(np.maximum(row_sums, 1e-300)), 0.0)
        log_z = float(np.log(np.sum(np.where(row_sums > 0, row_sums, 0.0) ** cds)))
        return cls(log_sums, cds, log_z, shift)

    def shared(self) -> dict:
        return {"log_sums": self.log_sums, "cds": self.cds, "log_z": self.log_z,
                "shift": self.shift}


def _history_step(history: list[dict], progress, method: str, step: dict) -> None:
    history.append(step)
    text = ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in step.items() if k != "seconds")
    logger.info("%s: %s (%.1f s)", method, text, step["seconds"])
    if progress:
        progress(step)


def truncated_svd(spark, rows, pmi: PMI, dim: int, *, oversample: int, power_iters: int,
                  seed: int, history: list[dict], progress=None,
                  method: str = "ppmi_svd") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``dim`` singular triplets of the positive PMI matrix (randomized, on Spark).

    Returns
    -------
    u, s, v : numpy.ndarray
        ``V x dim`` left vectors, ``dim`` singular values (descending), ``V x dim`` right
        vectors; the sign of each component is fixed so that the largest entry of ``u`` is
        positive, and words without co-occurrences get zero rows.
    """
    vocab_size = len(pmi.log_sums)
    width = min(dim + oversample, vocab_size)

    def product(dense: np.ndarray, transpose: bool, label: str) -> np.ndarray:
        t0 = time.monotonic()
        out, _ = row_pass(spark, rows, _ppmi_kernel,
                          {**pmi.shared(), "dense": dense.astype(np.float32),
                           "transpose": transpose}, vocab_size, dense.shape[1])
        _history_step(history, progress, method,
                      {"pass": label, "seconds": round(time.monotonic() - t0, 2)})
        return out

    rng = np.random.default_rng(seed)
    q = orthonormal(product(rng.standard_normal((vocab_size, width)), False, "M @ Omega"))
    for it in range(1, power_iters + 1):
        q = orthonormal(product(q, True, f"power {it}: M^T @ Q"))
        q = orthonormal(product(q, False, f"power {it}: M @ Q"))
    z = product(q, True, "M^T @ Q")                  # M ~ Q Z^T
    uz, s, vzt = np.linalg.svd(z, full_matrices=False)
    u = q @ vzt.T                                    # left singular vectors of M
    u, s, v = u[:, :dim], s[:dim], uz[:, :dim]
    u, v = _fix_signs(u, v)
    return u, s, v


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


def ppmi_svd(spark, rows, row_sums: np.ndarray, dim: int, *, cds: float, shift: float,
             eig: float, add_contexts: bool, oversample: int, power_iters: int,
             seed: int, progress: Callable[[dict], None] | None = None) -> Factors:
    """Truncated SVD of the positive (shifted) PMI matrix by a randomized range finder.

    Parameters
    ----------
    row_sums : numpy.ndarray
        Row sums of the co-occurrence matrix (also its column sums: it is symmetric).
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
    u, s, v = truncated_svd(spark, rows, PMI.from_sums(row_sums, cds, shift), dim,
                            oversample=oversample, power_iters=power_iters, seed=seed,
                            history=history, progress=progress)
    u[row_sums <= 0] = 0.0                          # no co-occurrence: no direction
    v[row_sums <= 0] = 0.0
    return Factors(weighted_vectors(u, s, v, eig, add_contexts), history,
                   {"singular_values": s})


def _entry_dots(lengths: np.ndarray, cols: np.ndarray, left: np.ndarray,
                design: np.ndarray) -> np.ndarray:
    """``left[r] . design[cols[e]]`` for every entry ``e`` of row ``r`` (in chunks)."""
    rid = np.repeat(np.arange(len(lengths)), lengths)
    out = np.empty(len(cols))
    step = ENTRY_BUDGET
    for a in range(0, len(cols), step):
        out[a:a + step] = np.einsum("ek,ek->e", left[rid[a:a + step]],
                                    design[cols[a:a + step]], dtype=np.float64)
    return out


def _wals_kernel(ids, lengths, cols, x, data):
    """One side of the weighted PPMI factorization for a batch of rows.

    The weight of pair ``(i, j)`` is ``X_ij + k r_i P(j)``: its count plus the count of
    negative samples SGNS would draw for it (``P`` the smoothed context distribution). The
    second term spans all ``V^2`` pairs but is rank one, so its part of each row's normal
    equations is ``k r_i (C^T diag(P) C)``, one ``d x d`` matrix for everyone.
    """
    x = x.astype(np.float64)
    rows_of = np.repeat(ids, lengths)
    logs, cds = data["log_sums"], data["cds"]
    transpose = data["transpose"]
    own, other = (cols, rows_of) if transpose else (rows_of, cols)
    target = pmi_values(x, logs[own], cds * logs[other], data["log_z"], data["shift"])
    # row scale of the background weight: r_i for words, P(j) for contexts
    p_ctx = data["p_ctx"]
    r = data["row_sums"]
    background = data["k"] * (r[own] * p_ctx[other])
    weight = x + background
    scale = p_ctx[ids] if transpose else r[ids]
    design = data["design"]
    l2 = data["l2"] * r[ids]
    sol, _ = solve_rows(lengths, cols, weight * target / x, x, design, l2,
                        extra_gram=(data["k"] * data["gram"], scale), free_last=False)
    # the objective's part from these rows, at their new vectors
    pred = _entry_dots(lengths, cols, sol, design)
    entry = weight * (pred - target) ** 2 - background * pred ** 2
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    observed = np.add.reduceat(entry, starts) if len(entry) else np.zeros(len(ids))
    observed[lengths == 0] = 0.0
    quad = np.einsum("rk,kl,rl->r", sol, data["gram"], sol)
    loss = observed + data["k"] * scale * quad + l2 * np.sum(sol * sol, axis=1)
    return sol, loss


def ppmi_wals(spark, rows, row_sums: np.ndarray, dim: int, *, cds: float, neg: float,
              iterations: int, l2: float, eig: float, add_contexts: bool, oversample: int,
              power_iters: int, seed: int, tolerance: float = 0.0,
              progress: Callable[[dict], None] | None = None,
              init: np.ndarray | None = None) -> Factors:
    """Weighted least-squares factorization of positive PMI over *all* word pairs.

    Minimises ``sum_ij (X_ij + k r_i P(j)) (w_i . c_j - PPMI_ij)^2 + l2 sum_i r_i
    (|w_i|^2 + |c_i|^2)``: every pair is weighted by how often SGNS would see it, as a
    positive (``X_ij``) or as one of ``k`` negative samples (``k r_i P(j)``, ``P`` the context
    distribution smoothed by ``cds``), and unobserved pairs are pulled towards 0 like PPMI's
    zeros. PPMI-SVD solves the same problem with uniform weights, so it is the starting point;
    each half-iteration then solves every row exactly (implicit-feedback ALS: the unobserved
    pairs cost one ``d x d`` matrix, not ``V^2`` terms), and the objective never increases.

    The published vectors are those of the rank-``dim`` product ``W C^T`` written as
    ``U S V^T``, so ``eig`` and ``add_contexts`` mean what they mean for ``ppmi_svd``.

    ``init`` (``vocab_size x dim``, warm start, e.g. the previous model's vectors with zero
    rows for new words) replaces the SVD start as the first context factor: the first
    half-iteration solves every word exactly against it, new words included.
    """
    history: list[dict] = []
    pmi = PMI.from_sums(row_sums, cds, 0.0)
    if init is None:
        u, s, v = truncated_svd(spark, rows, pmi, dim, oversample=oversample,
                                power_iters=power_iters, seed=seed, history=history,
                                progress=progress, method="ppmi_wals")
        words, contexts = u * np.sqrt(s), v * np.sqrt(s)
    else:
        iterations = max(iterations, 1)
        contexts = np.asarray(init, dtype=np.float64)
    active = row_sums > 0
    p_ctx = np.where(active, row_sums, 0.0) ** cds
    p_ctx /= p_ctx.sum()
    shared = {**pmi.shared(), "p_ctx": p_ctx, "row_sums": row_sums, "k": float(neg),
              "l2": l2}
    vocab_size = len(row_sums)
    previous = math.inf
    for it in range(1, iterations + 1):
        t0 = time.monotonic()
        gram = contexts.T @ (contexts * p_ctx[:, None])
        words, _ = row_pass(spark, rows, _wals_kernel,
                            {**shared, "design": contexts.astype(np.float32), "gram": gram,
                             "transpose": False}, vocab_size, dim)
        gram = words.T @ (words * row_sums[:, None])
        contexts, objective = row_pass(spark, rows, _wals_kernel,
                                       {**shared, "design": words.astype(np.float32),
                                        "gram": gram, "transpose": True}, vocab_size, dim)
        objective += l2 * float(np.sum(row_sums * np.sum(words * words, axis=1)))
        _history_step(history, progress, "ppmi_wals",
                      {"iteration": it, "objective": float(objective),
                       "seconds": round(time.monotonic() - t0, 2)})
        if tolerance and previous - objective < tolerance * abs(previous):
            break
        previous = objective
    # rewrite W C^T as U S V^T (QR of each side, SVD of the small d x d core)
    qw, rw = np.linalg.qr(words)
    qc, rc = np.linalg.qr(contexts)
    us, s, vst = np.linalg.svd(rw @ rc.T)
    u, v = _fix_signs(qw @ us, qc @ vst.T)
    u[~active] = 0.0
    v[~active] = 0.0
    return Factors(weighted_vectors(u, s, v, eig, add_contexts), history,
                   {"singular_values": s})
