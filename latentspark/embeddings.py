"""The embeddings table: how word vectors are stored, written and read back.

A published ``embeddings`` version holds Parquet files under ``<path>/data/`` with the schema

=========  ==================================  ==============================================
column     Arrow type                          meaning
=========  ==================================  ==============================================
id         int32                               0..V-1, by count descending (the vocabulary's)
word       string                              the word
count      int64                               its corpus count
vector     fixed_size_list<float32>[dim]       the embedding (not normalised)
norm       float32                             the L2 norm of ``vector``
=========  ==================================  ==============================================

Spark reads ``vector`` as ``array<float>``, pandas as numpy arrays, DuckDB as ``FLOAT[]``
(cast with ``vector::FLOAT[dim]`` for its array functions; Parquet has no fixed-size list).
Files are written by pyarrow (Spark's writer would turn the fixed-size list into a plain
list) and copied to the run root through the Hadoop filesystem, so any URI works.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from latentspark import schemas
from latentspark.errors import ArtifactError
from latentspark.workers import arrow_task

ROWS_PER_FILE = 200_000


#: the Arrow schema of an embeddings table of dimension ``dim`` (declared in :mod:`.schemas`)
schema = schemas.embeddings


def to_table(words, counts: np.ndarray, vectors: np.ndarray) -> pa.Table:
    """Build the embeddings table for words with ids ``0..V-1``.

    Parameters
    ----------
    words : sequence of str or pyarrow.Array
        The words, in id order.
    counts : numpy.ndarray
        Their corpus counts.
    vectors : numpy.ndarray
        ``V x dim`` matrix, row ``i`` for word ``i``.

    Returns
    -------
    pyarrow.Table

    Examples
    --------
    >>> t = to_table(["a", "b"], np.array([3, 1]), np.array([[3, 4], [0, 1]], "f4"))
    >>> t.column("norm").to_pylist()
    [5.0, 1.0]
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if len(words) != n or len(counts) != n:
        raise ValueError(f"{len(words)} words, {len(counts)} counts, {n} vectors")
    flat = pa.array(vectors.reshape(-1), pa.float32())
    return pa.Table.from_arrays([
        pa.array(np.arange(n, dtype=np.int32)),
        pa.array(words, pa.string()),
        pa.array(np.asarray(counts, dtype=np.int64)),
        pa.FixedSizeListArray.from_arrays(flat, dim),
        pa.array(np.linalg.norm(vectors, axis=1).astype(np.float32)),
    ], schema=schema(dim))


def write(fs, data_path: str, table: pa.Table, rows_per_file: int = ROWS_PER_FILE) -> list[str]:
    """Write ``table`` as ``part-NNNNN.parquet`` files under ``data_path`` (any Hadoop URI).

    Returns
    -------
    list of str
        The written file paths, in order.
    """
    fs.mkdirs(data_path)
    out = []
    with tempfile.TemporaryDirectory(prefix="latentspark-emb-") as tmp:
        for k, start in enumerate(range(0, max(table.num_rows, 1), rows_per_file)):
            local = os.path.join(tmp, f"part-{k:05d}.parquet")
            pq.write_table(table.slice(start, rows_per_file), local, compression="zstd")
            dest = f"{data_path}/part-{k:05d}.parquet"
            fs.put(local, dest)
            os.unlink(local)
            out.append(dest)
    return out


def read(spark, path: str, data_folder: bool = False
         ) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Read an embeddings table (a published version's path, or its ``data`` folder).

    With ``data_folder``, ``path`` itself is the folder of Parquet files, whatever its name
    (a bare Parquet folder of this schema, as :func:`latentspark.index.resolve_embeddings`
    finds it).

    Returns
    -------
    words : pyarrow.StringArray
        Words in id order.
    counts : numpy.ndarray
        int64 counts.
    vectors : numpy.ndarray
        ``V x dim`` float32 matrix.
    """
    data = path if data_folder or path.rstrip("/").endswith("/data") \
        else f"{path.rstrip('/')}/data"
    table = spark.read.parquet(data).orderBy("id").select("id", "word", "count",
                                                            "vector").toArrow()
    ids = table.column("id").to_numpy()
    if ids.size and (ids[0] != 0 or ids[-1] != ids.size - 1):
        raise ArtifactError(f"embeddings {path}: ids are not 0..{ids.size - 1}")
    vec = table.column("vector").combine_chunks()
    flat = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    dim = flat.size // max(len(ids), 1)
    if flat.size != dim * len(ids):
        raise ArtifactError(f"embeddings {path}: vectors of unequal length")
    return (table.column("word").combine_chunks(), table.column("count").to_numpy(),
            flat.reshape(len(ids), dim))


def _file_record(f: int, rows: int) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({"f": pa.array([int(f)], pa.int32()),
                                       "rows": pa.array([rows], pa.int64())})


def write_factor(spark, factor, vocab_data: str, data_path: str,
                 rows_per_file: int = ROWS_PER_FILE, sample: int = 20) -> dict:
    """Write a distributed factor as the embeddings table, from the executors.

    Each task reads one piece of ``factor`` (see :mod:`latentspark.blocks`) and keeps the rows
    whose vector is finite and not all zero; the words and counts are joined in from the
    vocabulary Parquet by id on the executors, and each writing task streams its rows,
    sorted by id, into ``part-NNNNN.parquet`` files. The driver holds one count per file.

    Ids stay contiguous: a word whose vector is zero or not finite (no co-occurrence left, or
    a failed solve) is *dropped*, and the kept words are renumbered ``0, 1, 2, ...`` in
    vocabulary order (most frequent first), so readers that expect ids ``0..n-1`` in file
    order (the index, the exports) need no change.

    Parameters
    ----------
    factor : latentspark.blocks.Factor
        ``V x dim`` vectors, row ``i`` for vocabulary id ``i``.
    vocab_data : str
        The vocabulary's Parquet folder (``id, word, count``).
    data_path : str
        Destination folder (any Hadoop URI the executors can reach).
    rows_per_file : int
        Vocabulary ids per file (files with no kept word are not written).
    sample : int
        Dropped words listed by name (the first by id).

    Returns
    -------
    dict
        ``rows`` written, ``dropped_words`` (count) and ``dropped_sample`` (words).
    """
    from pyspark.sql import functions as F

    from latentspark.blocks import FactorReader
    from latentspark.remote import resolve

    layout, dim = factor.layout, factor.cols

    def vectors(batches):
        reader = FactorReader(factor, [factor.uri])
        for batch in batches:
            for piece in batch.column("piece").to_pylist():
                ids = layout.rows_of(piece)
                y = reader.value(piece).astype(np.float32)
                ok = np.isfinite(y).all(axis=1) & (y != 0).any(axis=1)
                flat = pa.array(y[ok].reshape(-1), pa.float32())
                offsets = pa.array(np.arange(0, (int(ok.sum()) + 1) * dim, dim, dtype=np.int32))
                yield pa.RecordBatch.from_arrays(
                    [pa.array(ids[ok].astype(np.int32)), pa.ListArray.from_arrays(offsets, flat)],
                    names=["id", "vector"])

    pieces = spark.range(0, layout.pieces, 1, layout.pieces).selectExpr("CAST(id AS INT) piece")
    # recomputed by each job below rather than cached: re-reading a piece is cheaper than
    # holding V x dim floats in the executors' storage
    vec = pieces.mapInArrow(arrow_task(vectors), "id INT, vector ARRAY<FLOAT>")
    per_file = {int(r["f"]): int(r["n"]) for r in vec.groupBy(
        F.expr(f"CAST(div(id, {rows_per_file}) AS INT)").alias("f")).agg(
        F.count(F.lit(1)).alias("n")).collect()}         # one row per file
    offsets, total = {}, 0
    for f in sorted(per_file):
        offsets[f], total = total, total + per_file[f]
    # a sort-merge join: a broadcast would ship all V words to every executor
    vocab = spark.read.parquet(vocab_data).select("id", "word", "count").hint("merge")
    out_schema = schema(dim)

    def write(batches):
        writer, current, done, fh = None, None, 0, None
        pending: list = []

        def flush():
            if pending:
                writer.write_table(pa.Table.from_batches(pending, out_schema))
                pending.clear()

        for batch in batches:
            f_col = batch.column("f").to_numpy()
            for f in np.unique(f_col):          # sorted by (f, id): runs of one file
                part = batch.filter(pa.array(f_col == f))
                if f != current:
                    if writer is not None:
                        flush()
                        writer.close()
                        fh.close()
                        yield _file_record(current, done)
                    current, done = int(f), 0
                    fs, path = resolve(f"{data_path}/part-{current:05d}.parquet")
                    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
                    fh = fs.open_output_stream(path)
                    writer = pq.ParquetWriter(fh, out_schema, compression="zstd")
                flat = part.column("vector").flatten().to_numpy(
                    zero_copy_only=False).astype(np.float32)
                vecs = flat.reshape(part.num_rows, dim)
                new_ids = offsets[current] + done + np.arange(part.num_rows)
                pending.append(pa.RecordBatch.from_arrays([
                    pa.array(new_ids.astype(np.int32)),
                    pa.array(part.column("word"), pa.string()),
                    pa.array(part.column("count").to_numpy().astype(np.int64)),
                    pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
                    pa.array(np.linalg.norm(vecs, axis=1).astype(np.float32))],
                    schema=out_schema))
                done += part.num_rows
                if sum(b.num_rows for b in pending) >= 65536:
                    flush()
        if writer is not None:
            flush()
            writer.close()
            fh.close()
            yield _file_record(current, done)

    joined = vec.join(vocab, "id").withColumn(
        "f", F.expr(f"CAST(div(id, {rows_per_file}) AS INT)"))
    parts = max(1, len(per_file))
    written = joined.repartition(parts, "f").sortWithinPartitions("f", "id").mapInArrow(
        arrow_task(write), "f INT, rows BIGINT").collect()           # one row per file
    got = {int(r["f"]): int(r["rows"]) for r in written}
    if got != per_file:
        raise ArtifactError(f"embeddings {data_path}: wrote {got} rows per file, expected "
                            f"{per_file} (are ids missing from the vocabulary?)")
    # every vocabulary id is a row of the factor, so the dropped words are the rest: no job
    # (each would compute every vector again) unless some were dropped and need naming
    n_dropped = layout.vocab_size - total
    names = []
    if n_dropped:
        dropped = vocab.join(vec, "id", "left_anti")
        names = [r["word"] for r in dropped.orderBy("id").limit(sample).collect()]
    return {"rows": total, "dropped_words": int(n_dropped), "dropped_sample": names}
