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
    alignment. Computed for every shared word, or for a seeded uniform sample.

The neighbour search runs on Spark: the query words are split over ``mapInArrow`` tasks, each
of which scores blocks of queries against blocks of the two broadcast unit matrices with numpy
matrix products and keeps the running top ``k`` (as the evaluator's exact mode does). The
driver reads both tables: they are vocabulary-sized (``vocab.max_size``), and the Procrustes
fit, the cosines and the summary need them whole.

Output under ``out_path``:

==================  =========================================================================
``words/``          Parquet, one row per shared word in the new version's id order:
                    ``word, old_id, new_id, old_count, new_count, cosine, drift, overlap``
                    (``overlap`` null for words outside the sample)
``summary.json``    counts, Procrustes residuals, drift quantiles, mean overlap, and the most
                    and least drifted frequent words with their old and new neighbours
``summary.md``      the same, for people
==================  =========================================================================

**Memory.** The driver holds both tables and two ``shared x dim`` float32 unit matrices, and
reads ``words/`` back into nothing (it writes it from numpy). Each Python worker holds the
broadcast unit matrices (``8 x shared x dim`` bytes) and one ``chunk x block`` score block per
version (32 MiB at the defaults).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from latentspark import embeddings
from latentspark.errors import ConfigError, InputError
from latentspark.fs import HadoopFS
from latentspark.vecmath import unit_rows

logger = logging.getLogger(__name__)

#: a word is "frequent" when its count rank among the shared words is below this in both
#: versions; rare words' vectors are noisy and would crowd the most-drifted list
FREQUENT_RANK = 10_000
#: neighbours listed in the report for each of its words
REPORT_NEIGHBOURS = 5
#: rows per driver-side chunk of the Procrustes products (bounds float64 temporaries)
DRIVER_CHUNK = 65_536
#: shared words per block product, and query words per chunk, in the neighbour tasks
BLOCK_ROWS, QUERY_CHUNK = 32_768, 256

WORDS_SCHEMA = pa.schema([
    ("word", pa.string()), ("old_id", pa.int32()), ("new_id", pa.int32()),
    ("old_count", pa.int64()), ("new_count", pa.int64()), ("cosine", pa.float32()),
    ("drift", pa.float32()), ("overlap", pa.float32()),
])
NEIGHBOURS_DDL = "pos INT, overlap FLOAT, old_neighbours ARRAY<INT>, new_neighbours ARRAY<INT>"


# ---------------------------------------------------------------------------------------------
# reading the two versions


@dataclass(frozen=True)
class Version:
    """One embeddings table, read on the driver (rows in id order)."""

    path: str
    data_path: str
    version: str | None
    fingerprint: str
    words: pa.StringArray
    ids: np.ndarray
    counts: np.ndarray
    vectors: np.ndarray

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self.vectors.shape[1])


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
    """Read an embeddings table onto the driver.

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
    data, version, fingerprint, dim = located or _locate(spark, fs, path, role)
    table = (spark.read.parquet(data).select("id", "word", "count", "vector").orderBy("id")
             .toArrow())
    vec = table.column("vector").combine_chunks()
    lengths = pc.list_value_length(vec).to_numpy(zero_copy_only=False)
    if lengths.size and (lengths.min() != dim or lengths.max() != dim):
        raise InputError(f"drift: {role} embeddings {data}: vector lengths {lengths.min()} to "
                         f"{lengths.max()}, expected all {dim}")
    words = table.column("word").combine_chunks()
    if pc.count_distinct(words).as_py() != len(words):
        raise InputError(f"drift: {role} embeddings {data}: a word occurs more than once")
    flat = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    logger.info("drift: read %s embeddings %s: %d words x %d", role, data, len(words), dim)
    return Version(path, data, version, fingerprint, words,
                   table.column("id").to_numpy().astype(np.int32),
                   table.column("count").to_numpy().astype(np.int64),
                   flat.reshape(len(words), dim))


# ---------------------------------------------------------------------------------------------
# numpy kernels


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
    m = np.zeros((a.shape[1], b.shape[1]))
    # chunked so that the float64 copies stay small however many words there are
    for s in range(0, a.shape[0], DRIVER_CHUNK):
        m += a[s:s + DRIVER_CHUNK].astype(np.float64).T @ b[s:s + DRIVER_CHUNK].astype(
            np.float64)
    u, _, vt = np.linalg.svd(m)
    return u @ vt


def aligned_cosines(a: np.ndarray, b: np.ndarray, r: np.ndarray
                    ) -> tuple[np.ndarray, float, float]:
    """Row cosines of ``a R`` and ``b``, and the residuals ``||a - b||_F``, ``||a R - b||_F``.

    ``a`` and ``b`` are unit rows (or zero rows, whose cosine is 0).
    """
    cos = np.empty(a.shape[0], np.float64)
    before = after = 0.0
    for s in range(0, a.shape[0], DRIVER_CHUNK):
        x = a[s:s + DRIVER_CHUNK].astype(np.float64)
        y = b[s:s + DRIVER_CHUNK].astype(np.float64)
        before += float(np.sum((x - y) ** 2))
        x = x @ r
        after += float(np.sum((x - y) ** 2))
        cos[s:s + DRIVER_CHUNK] = np.einsum("ij,ij->i", x, y)
    return np.clip(cos, -1.0, 1.0), before ** 0.5, after ** 0.5


def nearest(unit: np.ndarray, queries: np.ndarray, k: int, block_rows: int = BLOCK_ROWS,
            chunk: int = QUERY_CHUNK) -> np.ndarray:
    """The ``k`` most cosine-similar rows of each query row (itself excluded), exactly.

    Blocked: a chunk of queries times a block of rows at a time, folded into the running best,
    so memory stays ``O(chunk x block_rows)``.

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
    n = unit.shape[0]
    kk = max(0, min(k, n - 1))
    q = queries.size
    best = np.full((q, kk), -1, np.int64)
    score = np.full((q, kk), -np.inf, np.float32)
    if kk == 0:
        return best
    for q0 in range(0, q, chunk):
        q1 = min(q, q0 + chunk)
        mine = queries[q0:q1].astype(np.int64)
        query = unit[mine]
        rows = np.arange(q1 - q0)
        for b0 in range(0, n, block_rows):
            b1 = min(n, b0 + block_rows)
            s = query @ unit[b0:b1].T
            own = (mine >= b0) & (mine < b1)
            s[rows[own], mine[own] - b0] = -np.inf
            top = (np.argpartition(-s, kk - 1, axis=1)[:, :kk] if s.shape[1] > kk
                   else np.broadcast_to(np.arange(s.shape[1]), (q1 - q0, s.shape[1])))
            ids = np.concatenate([best[q0:q1], top + b0], axis=1)
            val = np.concatenate([score[q0:q1], np.take_along_axis(s, top, axis=1)], axis=1)
            keep = np.argpartition(-val, kk - 1, axis=1)[:, :kk]
            best[q0:q1] = np.take_along_axis(ids, keep, axis=1)
            score[q0:q1] = np.take_along_axis(val, keep, axis=1)
    order = np.lexsort((best, -score), axis=1)
    return np.take_along_axis(best, order, axis=1)


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


def _neighbour_kernel(bc, k: int, listed: int) -> Callable:
    """``mapInArrow`` function: rows of query numbers in, overlaps and listed neighbours out."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        data = bc.value
        old, new = data["old"], data["new"]
        width = max(k, listed)
        for batch in batches:
            pos = data["queries"][batch.column("id").to_numpy()]
            on, nn = nearest(old, pos, width), nearest(new, pos, width)
            kk = min(k, on.shape[1])
            ov = overlap(on[:, :kk], nn[:, :kk]).astype(np.float32)
            report = data["report"][pos]
            cols = [pa.array(pos.astype(np.int32)),
                    pa.array(ov, pa.float32(), mask=~data["sampled"][pos])]
            for found in (on, nn):
                m = min(listed, found.shape[1])
                lengths = np.where(report, m, 0)
                offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
                values = found[report, :m].reshape(-1).astype(np.int32)
                cols.append(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values),
                                                     mask=pa.array(~report)))
            yield pa.RecordBatch.from_arrays(
                cols, names=["pos", "overlap", "old_neighbours", "new_neighbours"])

    return run


# ---------------------------------------------------------------------------------------------
# the report


def _count_rank(counts: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rank of every word by count descending (ties by id): 0 is the most frequent."""
    order = np.lexsort((ids, -counts))
    rank = np.empty(counts.size, np.int64)
    rank[order] = np.arange(counts.size)
    return rank


def _stats(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"mean": None, "median": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"mean": float(values.mean()), "median": float(p50), "p90": float(p90),
            "p99": float(p99), "max": float(values.max())}


def compute_drift(spark, old_path: str, new_path: str, out_path: str, *, k: int = 10,
                  sample: int = 0, seed: int = 1, top: int = 50) -> dict:
    """Compare two embeddings versions word by word and write the drift report.

    Aligns the old unit vectors onto the new ones by orthogonal Procrustes over the shared
    words, then measures each shared word's cosine to itself across versions and the overlap
    of its top-``k`` neighbours (each version's neighbours among the shared words only; see
    the module docstring).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    old_path, new_path : str
        Embeddings folders: a published ``embeddings/<version>`` (Parquet under ``data/``) or
        a bare Parquet folder of the embeddings schema; any Hadoop URI.
    out_path : str
        Folder for ``words/``, ``summary.json`` and ``summary.md`` (created; an existing
        ``words/`` is replaced). Not atomic: the pipeline passes a staging folder.
    k : int
        Neighbours compared per word.
    sample : int
        Compute the overlap for this many shared words drawn uniformly with ``seed``
        (0, or at least the shared vocabulary: every shared word).
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

    # shared words in the new version's id order; index_in is one hashed pass, no Python loop
    in_old = pc.index_in(new.words, value_set=old.words)
    new_pos = np.flatnonzero(in_old.is_valid().to_numpy(zero_copy_only=False))
    old_pos = in_old.drop_null().to_numpy().astype(np.int64)
    n = new_pos.size
    if n == 0:
        raise InputError(f"drift: {old_path} and {new_path} have no word in common")
    logger.info("drift: %d shared words, %d only old, %d only new", n, len(old.words) - n,
                len(new.words) - n)

    a, b = unit_rows(old.vectors[old_pos]), unit_rows(new.vectors[new_pos])
    r = procrustes(a, b)
    cos, before, after = aligned_cosines(a, b, r)
    drift = 1.0 - cos
    logger.info("drift: Procrustes residual %.4f before, %.4f after alignment", before, after)

    rng = np.random.default_rng(seed)
    sampled = np.zeros(n, bool)
    if 0 < sample < n:
        sampled[rng.choice(n, sample, replace=False)] = True
    else:
        sampled[:] = True
    frequent = np.flatnonzero(np.maximum(
        _count_rank(old.counts[old_pos], old.ids[old_pos]),
        _count_rank(new.counts[new_pos], new.ids[new_pos])) < FREQUENT_RANK)
    most = frequent[np.lexsort((new_pos[frequent], -drift[frequent]))][:top]
    least = frequent[np.lexsort((new_pos[frequent], drift[frequent]))][:top]
    report = np.zeros(n, bool)
    report[most] = report[least] = True

    queries = np.flatnonzero(sampled | report)
    logger.info("drift: top-%d neighbours of %d words (%d sampled, %d reported) on Spark", k,
                queries.size, int(sampled.sum()), int(report.sum()))
    result = _neighbours(spark, a, b, queries, sampled, report, k)
    pos = result.column("pos").to_numpy()
    ov = np.full(n, np.nan, np.float32)
    ov[pos] = result.column("overlap").fill_null(np.nan).to_numpy(zero_copy_only=False)
    listed = result.filter(pc.is_valid(result.column("old_neighbours")))
    lists = {p: (o, w) for p, o, w in zip(
        listed.column("pos").to_pylist(), listed.column("old_neighbours").to_pylist(),
        listed.column("new_neighbours").to_pylist(), strict=True)}

    words = new.words.take(pa.array(new_pos))
    table = pa.Table.from_arrays([
        words, pa.array(old.ids[old_pos]), pa.array(new.ids[new_pos]),
        pa.array(old.counts[old_pos]), pa.array(new.counts[new_pos]),
        pa.array(cos.astype(np.float32)), pa.array(drift.astype(np.float32)),
        pa.array(ov, pa.float32(), mask=~sampled)], schema=WORDS_SCHEMA)
    out = out_path.rstrip("/")
    fs.delete(f"{out}/words")
    embeddings.write(fs, f"{out}/words", table)

    def entry(i: int) -> dict[str, Any]:
        o, w = lists.get(int(i), ([], []))
        return {"word": words[int(i)].as_py(), "old_id": int(old.ids[old_pos[i]]),
                "new_id": int(new.ids[new_pos[i]]), "old_count": int(old.counts[old_pos[i]]),
                "new_count": int(new.counts[new_pos[i]]), "cosine": round(float(cos[i]), 6),
                "drift": round(float(drift[i]), 6),
                "overlap": float(ov[i]) if sampled[i] else None,
                "old_neighbours": words.take(pa.array(o, pa.int64())).to_pylist(),
                "new_neighbours": words.take(pa.array(w, pa.int64())).to_pylist()}

    def source(v: Version) -> dict[str, Any]:
        return {"path": v.path, "data": v.data_path, "version": v.version,
                "fingerprint": v.fingerprint, "words": len(v.words), "dim": v.dim}

    measured = ov[sampled]
    summary: dict[str, Any] = {
        "old": source(old), "new": source(new), "dim": new.dim,
        "shared": int(n), "only_old": len(old.words) - int(n), "only_new": len(new.words) - int(n),
        "procrustes": {"residual_before": before, "residual_after": after},
        "drift": _stats(drift),
        "overlap": {"k": k, "neighbours": min(k, n - 1), "words": int(sampled.sum()),
                    "sample": sample, "seed": seed,
                    "mean": float(measured.mean()) if measured.size else None},
        "frequent_rank": FREQUENT_RANK, "frequent_words": int(frequent.size), "top": top,
        "most_drifted": [entry(i) for i in most],
        "least_drifted": [entry(i) for i in least],
        "seconds": round(time.monotonic() - t0, 3),
    }
    fs.write_bytes(f"{out}/summary.json",
                   json.dumps(summary, indent=2, ensure_ascii=False).encode())
    fs.write_bytes(f"{out}/summary.md", render_summary(summary).encode())
    logger.info("drift: median %.4f, mean overlap@%d %s; wrote %s in %.1f s",
                summary["drift"]["median"], k, summary["overlap"]["mean"], out,
                summary["seconds"])
    return summary


def _neighbours(spark, a: np.ndarray, b: np.ndarray, queries: np.ndarray, sampled: np.ndarray,
                report: np.ndarray, k: int) -> pa.Table:
    """Run the neighbour kernel over the query words; one small row per query comes back."""
    bc = spark.sparkContext.broadcast({"old": a, "new": b, "queries": queries,
                                       "sampled": sampled, "report": report})
    parts = int(max(1, min(queries.size, 4 * spark.sparkContext.defaultParallelism)))
    try:
        return (spark.range(0, queries.size, numPartitions=parts)
                .mapInArrow(_neighbour_kernel(bc, k, REPORT_NEIGHBOURS), NEIGHBOURS_DDL)
                .toArrow())
    finally:
        bc.unpersist()


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
