"""Drift between two versions of the embeddings: which words moved, and how far.

Two embeddings tables (:mod:`latentspark.embeddings`) trained at different times have
unrelated coordinate systems: a factorization is only defined up to a rotation. The report
therefore compares them on their **shared vocabulary** (words present in both, matched by
the word, never by id) after an **orthogonal Procrustes** alignment: with ``A`` and ``B`` the
old and new unit vectors of the shared words (one row per word), the rotation ``R = U V^T``
from the SVD ``A^T B = U S V^T`` minimises ``||A R - B||_F`` (Schönemann, 1966). ``A^T B`` is
``d x d``; nothing ``V x V`` is ever formed.

Per shared word:

``cosine``
    cosine between the aligned old vector ``a R`` and the new vector ``b``;
    ``drift = 1 - cosine`` (0: unchanged, 1: orthogonal, 2: reversed). A zero vector has
    cosine 0.
``overlap``
    ``|N_old(w) ∩ N_new(w)| / k``, where ``N_v(w)`` are the ``k`` nearest neighbours (cosine,
    the word itself excluded) of ``w`` in version ``v`` **among the shared words only**, so a
    word that entered or left the vocabulary does not count as drift of its neighbours. With
    fewer than ``k + 1`` shared words the denominator is the ``shared - 1`` neighbours there
    are. Rotations do not change cosines within a version, so the old neighbours need no
    alignment. Computed for every shared word, or for a seeded sample: the ``sample`` shared
    words with the smallest ``xxhash64(seed, word)``, a uniform draw that does not depend on
    ids or partitioning.

**How it runs.** Nothing vocabulary-sized reaches the driver or a broadcast:

1. Spark joins the two tables on the word and writes the shared words' unit vectors (both
   versions) to a work folder under ``out_path`` (``_work/``, deleted at the end).
2. ``A^T B`` and ``||A - B||_F^2`` are partial sums of each task (``mapInArrow``, float64),
   added in a few tasks and then on the driver: ``d x d`` numbers per task.
3. The driver takes the SVD of ``A^T B`` and broadcasts ``R`` (``d x d``); tasks compute each
   word's cosine and ``||a R - b||^2``.
4. Statistics are Spark aggregates (exact sums in decimal, so they do not depend on the order
   in which tasks finish; exact quantiles from the few values that approximate ones bracket,
   :func:`exact_quantiles`); the frequent words are two top-:data:`FREQUENT_RANK` queries.
5. The neighbour search: the query words (sample and report) are split over tasks; each task
   holds its queries and streams the shared unit vectors from the work folder with pyarrow,
   ``BLOCK_ROWS`` words at a time, keeping the running top ``k`` of each query in both
   versions (as the evaluator's exact mode does). Every task reads the whole shared table,
   so a task gets :data:`QUERIES_PER_TASK` queries: enough that its products outweigh its
   reading, whatever V is.

Output under ``out_path``:

==================  =========================================================================
``words/``          Parquet, one row per shared word in the new version's id order:
                    ``word, old_id, new_id, old_count, new_count, cosine, drift, overlap``
                    (``overlap`` null for words outside the sample)
``summary.json``    counts, Procrustes residuals, drift quantiles, mean overlap, and the most
                    and least drifted frequent words with their old and new neighbours
``summary.md``      the same, for people
==================  =========================================================================

**Memory.** The driver holds ``d x d`` matrices, at most :data:`FREQUENT_RANK` rows of ids and
drifts, and the report. A Python worker holds one Arrow batch of the joined table, or its
queries (about :data:`QUERIES_PER_TASK` x ``2d`` floats) plus one block of
``BLOCK_ROWS`` shared words in both versions and one ``QUERY_CHUNK x BLOCK_ROWS`` score block.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from latentspark import vecmath
from latentspark.errors import ConfigError, InputError
from latentspark.fs import HadoopFS
from latentspark.vecmath import unit_rows
from latentspark.workers import arrow_task

logger = logging.getLogger(__name__)

#: a word is "frequent" when its count rank among the shared words is below this in both
#: versions; rare words' vectors are noisy and would crowd the most-drifted list
FREQUENT_RANK = 10_000
#: neighbours listed in the report for each of its words
REPORT_NEIGHBOURS = 5
#: rows per chunk of the numpy Procrustes products (bounds float64 temporaries)
DRIVER_CHUNK = 65_536
#: shared words per block product, and query words per chunk, in the neighbour tasks
BLOCK_ROWS, QUERY_CHUNK = 32_768, 256
#: queries per neighbour task, about. Each task reads the whole shared table (8 bytes per word
#: and dimension) and does 4 flops per word, dimension and query: at ~200 MB/s of Parquet
#: decoding and ~20 GFLOP/s, 512 queries make the products ~2.5 x the reading, at any V
QUERIES_PER_TASK = 512
#: bytes of ``d x d`` partial sums the driver collects at once; more are added in tasks first
PARTIALS_BUDGET = 16 * 2**20

WORDS_SCHEMA = pa.schema([
    ("word", pa.string()), ("old_id", pa.int32()), ("new_id", pa.int32()),
    ("old_count", pa.int64()), ("new_count", pa.int64()), ("cosine", pa.float32()),
    ("drift", pa.float32()), ("overlap", pa.float32()),
])
#: accuracy of the approximate quantiles that bracket the exact ones (their rank error is at
#: most ``n / QUANTILE_ACCURACY``): only the values between brackets reach the driver
QUANTILE_ACCURACY = 100_000
#: the work folder's shared-words table: unit vectors of both versions
SHARED_DDL = ("word STRING, old_id INT, new_id INT, old_count BIGINT, new_count BIGINT, "
              "ou ARRAY<FLOAT>, nu ARRAY<FLOAT>")
SCORED_DDL = ("word STRING, old_id INT, new_id INT, old_count BIGINT, new_count BIGINT, "
              "cosine DOUBLE, drift DOUBLE, sq DOUBLE")
PARTIAL_DDL = "part INT, sq DOUBLE, m ARRAY<DOUBLE>"
NEIGHBOURS_DDL = ("new_id INT, overlap FLOAT, old_neighbours ARRAY<INT>, "
                  "new_neighbours ARRAY<INT>")
#: exact sums: a double converts to this exactly enough (1e-18) and decimal addition is exact
_EXACT = "decimal(38,18)"


# ---------------------------------------------------------------------------------------------
# the two versions


@dataclass(frozen=True)
class Version:
    """One embeddings table, checked but not read: ``frame`` is a lazy Spark DataFrame."""

    path: str
    data_path: str
    version: str | None
    fingerprint: str
    words: int
    dim: int
    frame: Any


def _locate(spark, fs: HadoopFS, path: str, role: str) -> tuple[str, str | None, str, int]:
    """Data folder, version, fingerprint and dimension of an embeddings path, cheaply."""
    from latentspark.index import locate_embeddings
    from latentspark.models import resolve

    path = path.rstrip("/")
    if not fs.exists(path):
        raise InputError(f"drift: {role} embeddings {path!r}: no such file or folder")
    # a model root stands for its LATEST version, a model version for its embeddings
    path = resolve(fs, path) or path
    found = locate_embeddings(spark, fs, path, columns=("id", "word", "count", "vector"),
                              what=f"drift: {role} embeddings")
    return found.data_path, found.version, found.fingerprint, found.dim


def read_version(spark, fs: HadoopFS, path: str, role: str = "input",
                 located: tuple[str, str | None, str, int] | None = None) -> Version:
    """Check an embeddings table with Spark aggregates (nothing is collected but counts).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    fs : HadoopFS
    path : str
        A published ``embeddings/<version>`` folder (Parquet under ``data/``) or a bare
        Parquet folder of the embeddings schema; any Hadoop URI.
    role : str
        ``"old"`` or ``"new"``, for messages.
    located : tuple, optional
        The result of a previous :func:`_locate` of ``path``.

    Returns
    -------
    Version

    Raises
    ------
    InputError
        Missing path, no Parquet, missing columns, vectors of unequal length, repeated words.
    """
    from pyspark.sql import functions as F

    data, version, fingerprint, dim = located or _locate(spark, fs, path, role)
    frame = spark.read.parquet(data).select(
        F.col("id").cast("int").alias("id"), F.col("word").cast("string").alias("word"),
        F.col("count").cast("long").alias("count"), "vector")
    row = frame.agg(F.count(F.lit(1)).alias("n"), F.count_distinct("word").alias("distinct"),
                    F.min(F.size("vector")).alias("lo"),
                    F.max(F.size("vector")).alias("hi")).first()
    if row["n"] and (row["lo"] != dim or row["hi"] != dim):
        raise InputError(f"drift: {role} embeddings {data}: vector lengths {row['lo']} to "
                         f"{row['hi']}, expected all {dim}")
    if row["distinct"] != row["n"]:
        raise InputError(f"drift: {role} embeddings {data}: a word occurs more than once")
    logger.info("drift: %s embeddings %s: %d words x %d", role, data, row["n"], dim)
    return Version(path, data, version, fingerprint, int(row["n"]), int(dim), frame)


# ---------------------------------------------------------------------------------------------
# numpy kernels


def _matrix(column: pa.Array, dim: int) -> np.ndarray:
    """A list column of ``dim`` floats per row as an ``n x dim`` float32 matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False)
    return flat.astype(np.float32, copy=False).reshape(-1, dim)


def cross_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a^T b`` in float64, in chunks of rows so that the float64 copies stay small."""
    m = np.zeros((a.shape[1], b.shape[1]))
    for s in range(0, a.shape[0], DRIVER_CHUNK):
        m += a[s:s + DRIVER_CHUNK].astype(np.float64).T @ b[s:s + DRIVER_CHUNK].astype(
            np.float64)
    return m


def rotation(cross: np.ndarray) -> np.ndarray:
    """The orthogonal ``U V^T`` from ``svd(A^T B)``: Procrustes from its ``d x d`` product."""
    u, _, vt = np.linalg.svd(cross)
    return u @ vt


def procrustes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The orthogonal ``R`` minimising ``||a R - b||_F``: ``U V^T`` from ``svd(a^T b)``.

    Parameters
    ----------
    a, b : numpy.ndarray
        ``n x d`` matrices, row ``i`` of both for the same word.

    Returns
    -------
    numpy.ndarray
        ``d x d`` float64 orthogonal matrix.

    Examples
    --------
    >>> q = np.array([[0.0, -1.0], [1.0, 0.0]])
    >>> a = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    >>> bool(np.allclose(procrustes(a, a @ q), q))
    True
    """
    return rotation(cross_product(a, b))


def aligned_cosines(a: np.ndarray, b: np.ndarray, r: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Row cosines of ``a R`` and ``b``, and each row's ``||a R - b||^2``.

    ``a`` and ``b`` are unit rows (or zero rows, whose cosine is 0).
    """
    x = a.astype(np.float64) @ r
    y = b.astype(np.float64)
    cos = np.clip(np.einsum("ij,ij->i", x, y), -1.0, 1.0)
    return cos, np.einsum("ij,ij->i", x - y, x - y)


def fold_nearest(best: np.ndarray, score: np.ndarray, query: np.ndarray, qkeys: np.ndarray,
                 block: np.ndarray, bkeys: np.ndarray) -> None:
    """Fold one block of rows into the running top-``k`` of a chunk of queries, in place.

    Parameters
    ----------
    best, score : numpy.ndarray
        ``q x k`` keys and cosines of the best rows so far (:func:`vecmath.empty_top_k`).
    query : numpy.ndarray
        ``q x d`` unit rows of the queries; ``qkeys`` their keys.
    block : numpy.ndarray
        ``b x d`` unit rows; ``bkeys`` their keys. A row with its query's key (the word
        itself) is never taken.
    """
    if best.shape[1] == 0 or block.shape[0] == 0:
        return
    s = query @ block.T
    s[qkeys[:, None] == bkeys[None, :]] = vecmath.NEG
    vecmath.fold_top_k(best, score, s, bkeys)


def nearest(unit: np.ndarray, queries: np.ndarray, k: int, block_rows: int = BLOCK_ROWS,
            chunk: int = QUERY_CHUNK) -> np.ndarray:
    """The ``k`` most cosine-similar rows of each query row (itself excluded), exactly.

    Parameters
    ----------
    unit : numpy.ndarray
        ``n x d`` unit rows.
    queries : numpy.ndarray
        Row numbers of the queries.
    k : int
        Neighbours wanted; at most ``n - 1`` are returned.

    Returns
    -------
    numpy.ndarray
        ``len(queries) x min(k, n - 1)`` row numbers, most similar first (ties by row).

    Examples
    --------
    >>> u = unit_rows(np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], "f4"))
    >>> nearest(u, np.array([0, 2]), 2).tolist()
    [[1, 2], [1, 0]]
    """
    queries = np.asarray(queries, np.int64)
    kk = max(0, min(k, unit.shape[0] - 1))
    return vecmath.top_k(unit, unit[queries], kk, exclude=queries[:, None],
                         block_rows=block_rows, chunk=chunk)[0]


def overlap(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Per row, the share of the ``old`` neighbour ids that ``new`` also lists.

    Examples
    --------
    >>> overlap(np.array([[1, 2], [3, 4]]), np.array([[2, 9], [4, 3]])).tolist()
    [0.5, 1.0]
    """
    if old.shape[1] == 0:
        return np.ones(old.shape[0])
    return (old[:, :, None] == new[:, None, :]).any(axis=2).sum(axis=1) / old.shape[1]


def _unit_kernel(dim: int) -> Callable:
    """``mapInArrow``: the joined rows with both vectors scaled to unit length."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            cols = [batch.column(c) for c in ("word", "old_id", "new_id", "old_count",
                                               "new_count")]
            for name in ("ov", "nv"):
                u = unit_rows(_matrix(batch.column(name), dim))
                offsets = pa.array(np.arange(0, u.size + 1, dim, dtype=np.int32))
                cols.append(pa.ListArray.from_arrays(offsets, pa.array(u.reshape(-1))))
            yield pa.RecordBatch.from_arrays(cols, names=["word", "old_id", "new_id",
                                                          "old_count", "new_count", "ou", "nu"])

    return run


def _task_id() -> int:
    from pyspark import TaskContext

    ctx = TaskContext.get()
    return int(ctx.partitionId()) if ctx is not None else 0


def _partial_row(part: int, sq: float, m: np.ndarray) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([part], pa.int32()), pa.array([sq]),
         pa.array([m.reshape(-1)], pa.list_(pa.float64()))], names=["part", "sq", "m"])


def _cross_kernel(dim: int) -> Callable:
    """``mapInArrow``: one task's ``A^T B`` and ``||A - B||^2`` as one row."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        m, sq = np.zeros((dim, dim)), 0.0
        for batch in batches:
            a, b = _matrix(batch.column("ou"), dim), _matrix(batch.column("nu"), dim)
            m += cross_product(a, b)
            d = a.astype(np.float64) - b
            sq += float(np.einsum("ij,ij->", d, d))
        yield _partial_row(_task_id(), sq, m)

    return run


def _add_partials(dim: int) -> Callable:
    """``mapInArrow``: the sum of partial rows, added in the order of their task numbers (so
    the result does not depend on the order they arrive in)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows = pa.Table.from_batches(list(batches), schema=pa.schema(
            [("part", pa.int32()), ("sq", pa.float64()), ("m", pa.list_(pa.float64()))]))
        if rows.num_rows:
            yield _partial_row(*_sum_rows(rows, dim))

    return run


def _sum_rows(rows: pa.Table, dim: int) -> tuple[int, float, np.ndarray]:
    parts = rows.column("part").to_numpy()
    sq = rows.column("sq").to_numpy()
    m = np.zeros((dim, dim))
    total = 0.0
    for i in np.argsort(parts, kind="stable"):
        total += float(sq[i])
        m += np.asarray(rows.column("m")[int(i)].values.to_numpy()).reshape(dim, dim)
    return int(parts.min()), total, m


def _cosine_kernel(bc, dim: int) -> Callable:
    """``mapInArrow``: each shared word's cosine, drift and ``||a R - b||^2`` (``R`` broadcast)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        r = bc.value
        for batch in batches:
            cos, sq = aligned_cosines(_matrix(batch.column("ou"), dim),
                                      _matrix(batch.column("nu"), dim), r)
            cols = [batch.column(c) for c in ("word", "old_id", "new_id", "old_count",
                                               "new_count")]
            yield pa.RecordBatch.from_arrays(
                [*cols, pa.array(cos), pa.array(1.0 - cos), pa.array(sq)],
                names=["word", "old_id", "new_id", "old_count", "new_count", "cosine",
                       "drift", "sq"])

    return run


def _neighbour_kernel(files: list[str], dim: int, k: int, width: int, listed: int,
                      block_rows: int = BLOCK_ROWS, chunk: int = QUERY_CHUNK) -> Callable:
    """``mapInArrow``: a task's queries against every shared word, read block by block.

    Input rows: ``new_id, ou, nu, sampled, report``. Output: ``new_id``, the overlap (null
    unless sampled) and, for report words, the first ``listed`` neighbours' ``new_id`` in
    each version.
    """

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        from latentspark.remote import resolve

        mine = [b for b in batches if b.num_rows]
        if not mine:
            return
        q = pa.Table.from_batches(mine).combine_chunks()
        keys = q.column("new_id").to_numpy().astype(np.int64)
        queries = {"ou": _matrix(q.column("ou"), dim), "nu": _matrix(q.column("nu"), dim)}
        best, score = {}, {}
        for v in queries:
            best[v], score[v] = vecmath.empty_top_k(keys.size, width)
        for uri in files:
            fs, path = resolve(uri)
            with fs.open_input_file(path) as fh:
                reader = pq.ParquetFile(fh)
                for block in reader.iter_batches(batch_size=block_rows,
                                                 columns=["new_id", "ou", "nu"]):
                    bkeys = block.column("new_id").to_numpy().astype(np.int64)
                    for v in queries:
                        rows = _matrix(block.column(v), dim)
                        for q0 in range(0, keys.size, chunk):
                            s = slice(q0, q0 + chunk)
                            fold_nearest(best[v][s], score[v][s], queries[v][s], keys[s],
                                         rows, bkeys)
        on, nn = (vecmath.sorted_top_k(best[v], score[v])[0] for v in ("ou", "nu"))
        kk = min(k, width)
        sampled = q.column("sampled").to_numpy(zero_copy_only=False)
        report = q.column("report").to_numpy(zero_copy_only=False)
        cols = [pa.array(keys.astype(np.int32)),
                pa.array(overlap(on[:, :kk], nn[:, :kk]).astype(np.float32), pa.float32(),
                         mask=~sampled)]
        m = min(listed, width)
        for found in (on, nn):
            lengths = np.where(report, m, 0)
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
            values = found[report, :m].reshape(-1).astype(np.int32)
            cols.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values),
                                                 mask=pa.array(~report)))
        yield pa.RecordBatch.from_arrays(
            cols, names=["new_id", "overlap", "old_neighbours", "new_neighbours"])

    return run


# ---------------------------------------------------------------------------------------------
# the report


def _stats(n: int, total, p50, p90, p99, top) -> dict[str, float | None]:
    if n == 0:
        return {"mean": None, "median": None, "p90": None, "p99": None, "max": None}
    return {"mean": float(total) / n, "median": float(p50), "p90": float(p90),
            "p99": float(p99), "max": float(top)}


def exact_quantiles(df, column: str, qs: list[float], n: int) -> list[float]:
    """numpy's (linearly interpolated) quantiles of a column of ``n`` values, exactly.

    No task or driver holds the ``n`` values: Spark's approximate quantiles bracket each
    wanted rank, one aggregate counts the values below each bracket, and only the values
    inside the brackets (about ``4 n / QUANTILE_ACCURACY`` per quantile) are collected and
    sorted. If a bracket missed its rank, Spark's exact ``percentile`` answers instead.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
    column : str
        A numeric column without nulls.
    qs : list of float
        Quantiles in ``[0, 1]``.
    n : int
        Its number of rows (at least 1).

    Returns
    -------
    list of float
        ``np.percentile(values, 100 * q)`` for each ``q``.
    """
    from pyspark.sql import functions as F

    col = F.col(column)
    margin = 3.0 / QUANTILE_ACCURACY
    ranks = []
    for q in qs:
        pos = q * (n - 1)
        lo = min(int(math.floor(pos)), n - 1)
        ranks.append((lo, min(lo + 1, n - 1), pos - lo))
    fractions = [f for lo, hi, _ in ranks
                 for f in (max(0.0, lo / n - margin), min(1.0, (hi + 1) / n + margin))]
    edges = df.agg(F.percentile_approx(col, fractions, QUANTILE_ACCURACY).alias("e")).first()["e"]
    brackets = list(zip(edges[::2], edges[1::2], strict=True))
    below = df.agg(*[F.count(F.when(col < lo, 1)).alias(f"b{i}")
                     for i, (lo, _) in enumerate(brackets)]).first()
    inside = F.lit(False)
    for lo, hi in brackets:
        inside = inside | col.between(lo, hi)
    values = np.sort(df.where(inside).select(col).toArrow().column(0).to_numpy())
    out = []
    for i, ((lo_rank, hi_rank, t), (lo, hi)) in enumerate(zip(ranks, brackets, strict=True)):
        window = values[(values >= lo) & (values <= hi)]
        start = int(below[f"b{i}"])
        if not (start <= lo_rank and hi_rank < start + window.size):
            exact = df.agg(F.percentile(col, qs[i]).alias("p")).first()["p"]
            out.append(float(exact))
            continue
        pair = window[[lo_rank - start, hi_rank - start]]
        # interpolated exactly as numpy does between the two neighbouring order statistics
        out.append(float(np.percentile(pair, 100.0 * t)))
    return out


def _sum_partials(spark, partials, dim: int) -> tuple[float, np.ndarray]:
    """Add up the ``d x d`` partial rows: in tasks first when there are too many to collect."""
    per_row = 8 * dim * dim + 64
    groups = max(1, PARTIALS_BUDGET // per_row)
    if partials.rdd.getNumPartitions() > groups:
        partials = partials.repartition(groups).mapInArrow(arrow_task(_add_partials(dim)),
                                                           PARTIAL_DDL)
    _, sq, m = _sum_rows(partials.toArrow(), dim)
    return sq, m


def compute_drift(spark, old_path: str, new_path: str, out_path: str, *, k: int = 10,
                  sample: int = 0, seed: int = 1, top: int = 50) -> dict:
    """Compare two embeddings versions word by word and write the drift report.

    Aligns the old unit vectors onto the new ones by orthogonal Procrustes over the shared
    words, then measures each shared word's cosine to itself across versions and the overlap
    of its top-``k`` neighbours (each version's neighbours among the shared words only; see
    the module docstring, which also says where each step runs).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    old_path, new_path : str
        Embeddings folders: a published ``embeddings/<version>`` (Parquet under ``data/``) or
        a bare Parquet folder of the embeddings schema; any Hadoop URI.
    out_path : str
        Folder for ``words/``, ``summary.json`` and ``summary.md`` (created; an existing
        ``words/`` is replaced), and for the temporary ``_work/``. Not atomic: the pipeline
        passes a staging folder.
    k : int
        Neighbours compared per word.
    sample : int
        Compute the overlap for this many shared words, those with the smallest
        ``xxhash64(seed, word)`` (0, or at least the shared vocabulary: every shared word).
    seed : int
        Seed of the sample.
    top : int
        Most and least drifted frequent words listed in the summary (count rank below
        :data:`FREQUENT_RANK` among the shared words in both versions).

    Returns
    -------
    dict
        The summary written to ``summary.json``:

        - ``old``, ``new``: ``path``, ``data``, ``version`` (from its manifest, or None),
          ``fingerprint``, ``words``, ``dim``;
        - ``dim``, ``shared``, ``only_old``, ``only_new``: word counts;
        - ``procrustes``: ``residual_before``, ``residual_after``, the Frobenius norms
          ``||A - B||`` and ``||A R - B||`` over the shared unit vectors;
        - ``drift``: ``mean``, ``median``, ``p90``, ``p99``, ``max`` of ``1 - cosine``;
        - ``overlap``: ``k``, ``neighbours`` (``min(k, shared - 1)``), ``words`` (measured),
          ``sample``, ``seed``, ``mean``;
        - ``frequent_rank``, ``frequent_words``, ``top``;
        - ``most_drifted``, ``least_drifted``: up to ``top`` frequent words each, with
          ``word, old_id, new_id, old_count, new_count, cosine, drift, overlap`` and their
          top-5 ``old_neighbours`` and ``new_neighbours`` (shared words);
        - ``seconds``.

    Raises
    ------
    ConfigError
        ``k < 1``, ``sample < 0`` or ``top < 0``.
    InputError
        A missing or malformed input, two different dimensions, no shared word.
    """
    for name, value, lo in (("k", k, 1), ("sample", sample, 0), ("top", top, 0)):
        if value < lo:
            raise ConfigError(f"drift: {name} = {value} is out of range (at least {lo})")
    t0 = time.monotonic()
    fs = HadoopFS(spark)
    located = {role: _locate(spark, fs, p, role) for role, p in (("old", old_path),
                                                                 ("new", new_path))}
    if located["old"][3] != located["new"][3]:
        raise InputError(f"drift: the embeddings have different dimensions: old {old_path} "
                         f"has {located['old'][3]}, new {new_path} has {located['new'][3]}; "
                         "Procrustes alignment needs one dimension")
    old = read_version(spark, fs, old_path, "old", located["old"])
    new = read_version(spark, fs, new_path, "new", located["new"])
    out = out_path.rstrip("/")
    work = f"{out}/_work"
    fs.delete(work)
    try:
        summary = _report(spark, fs, old, new, out, work, k, sample, seed, top)
    finally:
        fs.delete(work)
    summary["seconds"] = round(time.monotonic() - t0, 3)
    fs.write_bytes(f"{out}/summary.json",
                   json.dumps(summary, indent=2, ensure_ascii=False).encode())
    fs.write_bytes(f"{out}/summary.md", render_summary(summary).encode())
    logger.info("drift: median %s, mean overlap@%d %s; wrote %s in %.1f s",
                summary["drift"]["median"], k, summary["overlap"]["mean"], out,
                summary["seconds"])
    return summary


def _report(spark, fs: HadoopFS, old: Version, new: Version, out: str, work: str, k: int,
            sample: int, seed: int, top: int) -> dict[str, Any]:
    """The Spark jobs of :func:`compute_drift`; ``work`` is its scratch folder."""
    from pyspark.sql import functions as F

    dim = new.dim
    sc = spark.sparkContext
    # 1. the shared words, matched by word, with unit vectors of both versions
    joined = old.frame.select("word", F.col("id").alias("old_id"),
                              F.col("count").alias("old_count"), F.col("vector").alias("ov")
                              ).join(new.frame.select("word", F.col("id").alias("new_id"),
                                                      F.col("count").alias("new_count"),
                                                      F.col("vector").alias("nv")), "word")
    joined.mapInArrow(arrow_task(_unit_kernel(dim)), SHARED_DDL).write.parquet(f"{work}/shared")
    shared = spark.read.parquet(f"{work}/shared")
    n = shared.count()
    if n == 0:
        raise InputError(f"drift: {old.path} and {new.path} have no word in common")
    logger.info("drift: %d shared words, %d only old, %d only new", n, old.words - n,
                new.words - n)

    # 2-3. Procrustes from the d x d aggregate, then per-word cosines in the tasks
    sq_before, cross = _sum_partials(spark, shared.select("ou", "nu").mapInArrow(
        arrow_task(_cross_kernel(dim)), PARTIAL_DDL), dim)
    r_bc = sc.broadcast(rotation(cross))
    try:
        shared.mapInArrow(arrow_task(_cosine_kernel(r_bc, dim)), SCORED_DDL).write.parquet(
            f"{work}/scored")
    finally:
        r_bc.unpersist()
    scored = spark.read.parquet(f"{work}/scored")

    # 4. statistics and the frequent words
    agg = scored.agg(
        F.sum(F.col("sq").cast(_EXACT)).alias("sq"), F.sum(F.col("drift").cast(_EXACT)).alias("d"),
        F.max("drift").alias("max")).first()
    before, after = math.sqrt(max(sq_before, 0.0)), math.sqrt(max(float(agg["sq"]), 0.0))
    logger.info("drift: Procrustes residual %.4f before, %.4f after alignment", before, after)
    drift_stats = _stats(n, agg["d"], *exact_quantiles(scored, "drift", [0.5, 0.9, 0.99], n),
                         agg["max"])
    fields = ["word", "old_id", "new_id", "old_count", "new_count", "cosine", "drift"]
    ranks = [scored.orderBy(F.desc(c), F.asc(i)).limit(FREQUENT_RANK).select("new_id")
             for c, i in (("old_count", "old_id"), ("new_count", "new_id"))]
    frequent = scored.join(ranks[0], "new_id").join(ranks[1], "new_id").select(*fields).toArrow()
    f_ids = frequent.column("new_id").to_numpy()
    f_drift = frequent.column("drift").to_numpy()
    most = np.lexsort((f_ids, -f_drift))[:top]
    least = np.lexsort((f_ids, f_drift))[:top]
    reported = sorted({int(f_ids[i]) for i in np.concatenate([most, least])})

    # 5. neighbours of the sample and of the reported words
    key = F.xxhash64(F.lit(seed), F.col("word"))
    if 0 < sample < n:
        # a top-`sample` (executors hold `sample` rows), then its largest (hash, id)
        last = (scored.select(key.alias("h"), "new_id").orderBy("h", "new_id").limit(sample)
                .agg(F.max(F.struct("h", "new_id")).alias("m")).first()["m"])
        sampled = (key < last["h"]) | ((key == last["h"]) & (F.col("new_id") <= last["new_id"]))
    else:
        sampled = F.lit(True)
    report = F.col("new_id").isin(reported) if reported else F.lit(False)
    queries = shared.select("new_id", "ou", "nu", sampled.alias("sampled"),
                            report.alias("report")).where(F.col("sampled") | F.col("report"))
    n_queries = queries.count()
    width = max(0, min(max(k, REPORT_NEIGHBOURS), n - 1))
    parts = max(1, math.ceil(n_queries / QUERIES_PER_TASK))
    logger.info("drift: top-%d neighbours of %d words (%d reported) in %d tasks", k, n_queries,
                len(reported), parts)
    files = [f.path for f in fs.list_files(f"{work}/shared") if f.path.endswith(".parquet")]
    queries.repartition(parts).mapInArrow(
        arrow_task(_neighbour_kernel(files, dim, k, width, REPORT_NEIGHBOURS, BLOCK_ROWS,
                                     QUERY_CHUNK)),
        NEIGHBOURS_DDL
    ).write.parquet(f"{work}/neighbours")
    found = spark.read.parquet(f"{work}/neighbours")
    ov = found.agg(F.count("overlap").alias("n"),
                   F.sum(F.col("overlap").cast(_EXACT)).alias("sum")).first()

    # the words table, in the new version's id order
    words = scored.join(found.select("new_id", "overlap"), "new_id", "left").select(
        *[F.col(c).cast("float").alias(c) if c in ("cosine", "drift") else F.col(c)
          for c in fields], "overlap").orderBy("new_id")
    fs.delete(f"{out}/words")
    words.write.parquet(f"{out}/words")

    # the reported words with their neighbours, as words
    listed = {r["new_id"]: r for r in found.where(F.col("old_neighbours").isNotNull())
              .select("new_id", "overlap", "old_neighbours", "new_neighbours").collect()}
    ids = sorted({i for r in listed.values() for i in r["old_neighbours"] + r["new_neighbours"]})
    names = {r["new_id"]: r["word"] for r in (
        scored.where(F.col("new_id").isin(ids)).select("new_id", "word").collect() if ids else [])}

    def entry(i: int) -> dict[str, Any]:
        row = {c: frequent.column(c)[int(i)].as_py() for c in fields}
        hit = listed.get(row["new_id"])
        return {**row, "cosine": round(row["cosine"], 6), "drift": round(row["drift"], 6),
                "overlap": hit["overlap"] if hit else None,
                "old_neighbours": [names[j] for j in hit["old_neighbours"]] if hit else [],
                "new_neighbours": [names[j] for j in hit["new_neighbours"]] if hit else []}

    def source(v: Version) -> dict[str, Any]:
        return {"path": v.path, "data": v.data_path, "version": v.version,
                "fingerprint": v.fingerprint, "words": v.words, "dim": v.dim}

    return {
        "old": source(old), "new": source(new), "dim": dim,
        "shared": int(n), "only_old": old.words - int(n), "only_new": new.words - int(n),
        "procrustes": {"residual_before": before, "residual_after": after},
        "drift": drift_stats,
        "overlap": {"k": k, "neighbours": min(k, n - 1), "words": int(ov["n"]),
                    "sample": sample, "seed": seed,
                    "mean": float(ov["sum"]) / ov["n"] if ov["n"] else None},
        "frequent_rank": FREQUENT_RANK, "frequent_words": int(frequent.num_rows), "top": top,
        "most_drifted": [entry(i) for i in most],
        "least_drifted": [entry(i) for i in least],
    }


def render_summary(summary: dict[str, Any]) -> str:
    """The drift summary as Markdown."""
    old, new, d, ov = summary["old"], summary["new"], summary["drift"], summary["overlap"]

    def name(v: dict[str, Any]) -> str:
        return f"`{v['path']}`" + (f" (version {v['version']})" if v["version"] else "")

    def fmt(x: float | None, spec: str = ".4f") -> str:
        return "n/a" if x is None else format(x, spec)

    lines = [f"# Embedding drift: {name(old)} -> {name(new)}", "",
             f"- shared words: {summary['shared']:,} (only old: {summary['only_old']:,}, "
             f"only new: {summary['only_new']:,}); dimension {summary['dim']}",
             f"- Procrustes residual ||A R - B||_F over the shared unit vectors: "
             f"{summary['procrustes']['residual_before']:.4f} before alignment, "
             f"{summary['procrustes']['residual_after']:.4f} after",
             f"- drift (1 - cosine after alignment): mean {fmt(d['mean'])}, median "
             f"{fmt(d['median'])}, p90 {fmt(d['p90'])}, p99 {fmt(d['p99'])}, "
             f"max {fmt(d['max'])}",
             f"- top-{ov['k']} neighbour overlap (among shared words): mean "
             f"{fmt(ov['mean'], '.3f')} over {ov['words']:,} words", ""]
    for key, title in (("most_drifted", "Most drifted"), ("least_drifted", "Least drifted")):
        lines += [f"## {title} frequent words (count rank < {summary['frequent_rank']:,} in "
                  "both)", "", "| word | drift | overlap | old neighbours | new neighbours |",
                  "| --- | ---: | ---: | --- | --- |"]
        for e in summary[key]:
            lines.append(f"| {e['word']} | {e['drift']:.4f} | {fmt(e['overlap'], '.2f')} | "
                         f"{', '.join(e['old_neighbours'])} | "
                         f"{', '.join(e['new_neighbours'])} |")
        lines.append("")
    return "\n".join(lines)
