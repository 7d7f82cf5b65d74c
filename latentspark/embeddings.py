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
