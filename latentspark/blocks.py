"""Dense factors as distributed row pieces: their layout, files, readers, and the small
``k x k`` algebra (Gram matrices, CholeskyQR2) that stays on the driver.

A factor of the factorization (``V x w``: a range-finder basis, WALS or GloVe vectors) is
never whole on the driver or in a broadcast. It lives as one ``.npy`` file per *piece* under
a scratch folder of the stage's staging directory, written by the task that computed it and
read back, memory-mapped, by the tasks of the next pass.

Pieces follow the co-occurrence blocks: block ``b`` holds rows ``r`` with ``r % B == b``;
its ``n_b`` rows (by ``r // B``) are cut into ``splits`` equal ranges of ``span`` rows, and
piece ``p = b * splits + s`` holds rows ``b + B * (s * span + i)`` for ``i < span``. One
pass has one task per piece, so the number of tasks is ``B * splits`` whatever the files
are (``factorize.tasks`` sets ``splits``), and a row is never cut: a task reads its block's
files with pyarrow and keeps the rows of its range.

A missing piece file stands for zeros (a piece without any non-empty row writes nothing).
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from latentspark.workers import arrow_task

#: bytes of factor rows gathered at once by a kernel (bounds its temporaries)
GATHER_BYTES = 16 << 20
#: records summed on the driver directly; above this, summed first by ~sqrt(n) tasks
DIRECT_SUM_BYTES = 64 << 20
#: a factor up to this size is copied whole into a reader that gathers from it, so that a
#: gather is one ``take`` instead of a sort by piece and a scatter per piece
WHOLE_FACTOR_BYTES = 128 << 20


@dataclass(frozen=True)
class Layout:
    """How ``vocab_size`` rows are cut into pieces (see the module docstring).

    Examples
    --------
    >>> lay = Layout(10, blocks=2, splits=2)
    >>> lay.pieces, lay.span, lay.rows_of(1).tolist(), lay.rows_of(3).tolist()
    (4, 3, [6, 8], [7, 9])
    >>> [int(p) for p in lay.piece_of(np.array([0, 6, 9]))[0]]
    [0, 1, 3]
    """

    vocab_size: int
    blocks: int
    splits: int

    @property
    def pieces(self) -> int:
        """Pieces, and tasks of every pass."""
        return self.blocks * self.splits

    @property
    def span(self) -> int:
        """Rows per piece (the last of a block may have fewer)."""
        per_block = -(-self.vocab_size // self.blocks)
        return max(1, -(-per_block // self.splits))

    def block_rows(self, block: int) -> int:
        """Rows of ``block`` below ``vocab_size``."""
        return max(0, -(-(self.vocab_size - block) // self.blocks))

    def piece_rows(self, piece: int) -> int:
        """Rows of ``piece``."""
        b, s = divmod(piece, self.splits)
        return int(np.clip(self.block_rows(b) - s * self.span, 0, self.span))

    def rows_of(self, piece: int) -> np.ndarray:
        """Global row ids of ``piece``, ascending."""
        b, s = divmod(piece, self.splits)
        return b + self.blocks * (s * self.span + np.arange(self.piece_rows(piece),
                                                             dtype=np.int64))

    def row_range(self, piece: int) -> tuple[int, int]:
        """``[lo, hi)``: the smallest and one past the largest global row of ``piece``."""
        rows = self.rows_of(piece)
        return (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)

    def piece_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Piece and local row index of global row ids."""
        ids = np.asarray(ids, dtype=np.int64)
        local = ids // self.blocks
        s = local // self.span
        return (ids % self.blocks) * self.splits + s, local - s * self.span

    def sql_piece(self, column: str = "id") -> str:
        """The same mapping as a Spark SQL expression over an integer column."""
        return (f"CAST(pmod({column}, {self.blocks}) * {self.splits} + "
                f"div(div({column}, {self.blocks}), {self.span}) AS INT)")


def tasks_for(amount: int, small: int, large: int, most: int) -> int:
    """Tasks for ``amount`` units of work: one per ``small`` units up to ``most`` (a few
    waves on the cores), and one per ``large`` units beyond that, whatever the cores; at
    least 1.

    >>> [tasks_for(n, 10, 100, 4) for n in (0, 5, 25, 400, 1000)]
    [1, 1, 3, 4, 10]
    """
    return max(1, min(most, math.ceil(amount / small)), math.ceil(amount / large))


def default_splits(blocks: int, tasks: int) -> int:
    """Row ranges per block so that a pass has at least ``tasks`` tasks."""
    return max(1, math.ceil(tasks / max(blocks, 1)))


@dataclass(frozen=True)
class Factor:
    """A ``V x width`` dense matrix stored as piece files under ``uri``.

    ``transform`` (``width x cols``), when given, is applied lazily: the factor stands for
    ``stored @ transform``. Products apply it once per output row (``M (Y T) = (M Y) T``), so
    an orthonormalised basis never has to be rewritten.
    """

    uri: str
    layout: Layout
    width: int
    dtype: str = "float32"
    transform: np.ndarray | None = field(default=None, compare=False)

    @property
    def cols(self) -> int:
        """Columns of the matrix the factor stands for."""
        return self.width if self.transform is None else self.transform.shape[1]

    def with_transform(self, t: np.ndarray | None) -> Factor:
        """The same files standing for ``stored @ t`` (composed with any transform)."""
        if t is not None and self.transform is not None:
            t = self.transform @ t
        return Factor(self.uri, self.layout, self.width, self.dtype, t)

    def piece_uri(self, piece: int) -> str:
        return f"{self.uri}/piece-{piece:06d}.npy"


def _is_local(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri


def _local_path(uri: str) -> str:
    from latentspark.remote import resolve

    return resolve(uri)[1]


def write_piece(factor: Factor, piece: int, data: np.ndarray) -> None:
    """Write one piece (``piece_rows x width``) of ``factor``, replacing it atomically.

    A retried or speculative task writes the same bytes, so the last rename wins harmlessly.
    """
    data = np.ascontiguousarray(data, dtype=factor.dtype)
    expect = (factor.layout.piece_rows(piece), factor.width)
    if data.shape != expect:
        raise ValueError(f"piece {piece} of {factor.uri}: shape {data.shape}, expected {expect}")
    uri = factor.piece_uri(piece)
    if _is_local(uri):
        path = _local_path(uri)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp.npy"
        np.save(tmp, data, allow_pickle=False)
        os.replace(tmp, path)
        return
    from latentspark.remote import upload

    with tempfile.TemporaryDirectory(prefix="latentspark-piece-") as tmp:
        local = os.path.join(tmp, "piece.npy")
        np.save(local, data, allow_pickle=False)
        upload(local, uri)


def _cache_root() -> str:
    return os.path.join(tempfile.gettempdir(), "latentspark-factors")


class FactorReader:
    """Random access to the rows of a :class:`Factor` inside a task.

    Pieces are memory-mapped (local or shared filesystems) or first copied to a per-host
    cache (HDFS, S3) and then memory-mapped, so one copy in the page cache serves every
    Python worker of a host and a task's heap holds only what it gathers. ``keep`` names the
    other factors the running job needs: cached copies of any other factor of the same
    scratch folder are removed from the host.
    """

    def __init__(self, factor: Factor, keep: Iterable[str] = ()) -> None:
        self.factor = factor
        self.layout = factor.layout
        self._maps: dict[int, np.ndarray | None] = {}
        self._whole: np.ndarray | None = None
        self._cache = None
        if not _is_local(factor.uri):
            parent, name = factor.uri.rstrip("/").rsplit("/", 1)
            root = os.path.join(_cache_root(), hashlib.sha1(parent.encode()).hexdigest()[:16])
            self._cache = os.path.join(root, name)
            os.makedirs(self._cache, exist_ok=True)
            live = {name, *(str(k).rstrip("/").rsplit("/", 1)[-1] for k in keep)}
            for other in os.listdir(root):
                if other not in live:
                    shutil.rmtree(os.path.join(root, other), ignore_errors=True)

    def piece(self, piece: int) -> np.ndarray | None:
        """The stored rows of ``piece`` (memory-mapped), or ``None`` if it is all zeros."""
        if piece not in self._maps:
            uri = self.factor.piece_uri(piece)
            if self._cache is None:
                path = _local_path(uri)
            else:
                from latentspark.remote import download, resolve

                path = os.path.join(self._cache, f"piece-{piece:06d}.npy")
                if not os.path.exists(path):
                    fs, remote = resolve(uri)
                    from pyarrow import fs as pafs

                    if fs.get_file_info(remote).type == pafs.FileType.NotFound:
                        self._maps[piece] = None
                        return None
                    download(uri, path)
            self._maps[piece] = np.load(path, mmap_mode="r") if os.path.exists(path) else None
        return self._maps[piece]

    def stored(self, piece: int) -> np.ndarray:
        """A piece's stored rows as float64 (zeros when it was not written)."""
        data = self.piece(piece)
        if data is None:
            return np.zeros((self.layout.piece_rows(piece), self.factor.width))
        return np.asarray(data, dtype=np.float64)

    def value(self, piece: int) -> np.ndarray:
        """A piece of the matrix the factor stands for (its transform applied), float64."""
        y = self.stored(piece)
        t = self.factor.transform
        return y if t is None else y @ t

    def whole_in_memory(self) -> bool:
        """Whether gathers read one in-memory copy of the factor (it is small enough)."""
        lay = self.layout
        size = lay.vocab_size * self.factor.width * np.dtype(self.factor.dtype).itemsize
        return lay.pieces > 1 and size <= WHOLE_FACTOR_BYTES

    def whole(self) -> np.ndarray:
        """The stored factor as one ``V x width`` array, copied once (only when small)."""
        if self._whole is None:
            lay = self.layout
            whole = np.zeros((lay.vocab_size, self.factor.width), self.factor.dtype)
            for p in range(lay.pieces):
                data = self.piece(p)
                if data is not None and len(data):
                    b, s = divmod(p, lay.splits)
                    lo = b + lay.blocks * s * lay.span
                    whole[lo:lo + lay.blocks * len(data):lay.blocks] = data
            self._whole = whole
            # unmap the pieces: their pages would stay in this worker's RSS beside the copy
            self._maps.clear()
        return self._whole

    def by_piece(self, ids: np.ndarray) -> Iterator[tuple[np.ndarray | None, np.ndarray,
                                                            np.ndarray]]:
        """For each piece that global ``ids`` fall in: its stored rows (``None`` if all zero),
        the positions in ``ids`` of its rows (ascending: a stable grouping) and their local
        rows."""
        pid, local = self.layout.piece_of(np.asarray(ids, dtype=np.int64))
        order = np.argsort(pid, kind="stable")
        bounds = np.flatnonzero(np.r_[True, pid[order][1:] != pid[order][:-1], True])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            sel = order[a:b]
            yield self.piece(int(pid[sel[0]])), sel, local[sel]

    def gather(self, ids: np.ndarray, columns: slice | int = slice(None)) -> np.ndarray:
        """Stored rows of global ids (``len(ids) x width``, or one column), as stored."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.whole_in_memory():
            whole = self.whole()
            if isinstance(columns, int):
                return whole[ids, columns]
            if columns == slice(None):
                return np.take(whole, ids, axis=0)
            return whole[ids, columns]
        width = 1 if isinstance(columns, int) else len(range(self.factor.width)[columns])
        out = np.zeros((ids.size, width), dtype=self.factor.dtype)
        if not ids.size:
            return out[:, 0] if isinstance(columns, int) else out
        for data, sel, local in self.by_piece(ids):
            if data is not None:
                take = data[local, columns]
                out[sel] = take[:, None] if isinstance(columns, int) else take
        return out[:, 0] if isinstance(columns, int) else out


# ---------------------------------------------------------------------------------------------
# small algebra on the driver
# ---------------------------------------------------------------------------------------------


def gram_basis(gram: np.ndarray, rtol: float | None = None) -> np.ndarray:
    """``T`` with ``(Y T)^T (Y T) = I`` from ``G = Y^T Y``, dropping numerically null directions.

    The Cholesky step of CholeskyQR, done by a symmetric eigendecomposition so that a
    rank-deficient ``Y`` (a word without co-occurrences, a vocabulary smaller than the
    projection) keeps its true rank instead of failing. Columns follow the eigenvalues in
    descending order; each column's sign is fixed so its largest entry is positive.
    """
    g = (gram + gram.T) / 2
    lam, vec = np.linalg.eigh(g)
    lam, vec = lam[::-1], vec[:, ::-1]
    if rtol is None:
        rtol = len(g) * np.finfo(np.float64).eps * 10
    keep = lam > max(lam[0], 0.0) * rtol if len(lam) else np.zeros(0, bool)
    vec = vec[:, keep]
    signs = np.sign(vec[np.argmax(np.abs(vec), axis=0), np.arange(vec.shape[1])])
    signs[signs == 0] = 1.0
    return (vec * signs) / np.sqrt(lam[keep])


def sum_records(df, columns: dict[str, tuple[int, ...]], tasks: int) -> dict[str, np.ndarray]:
    """Sum per-task arrays (packed float64 in binary columns) into driver arrays, in a fixed
    order, so that the result is the same on every run.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        ``piece INT`` and, for each name of ``columns``, a ``BINARY`` column of float64.
    columns : dict
        Name -> shape of each summed array.
    tasks : int
        Records expected (to choose between summing on the driver and in ~sqrt(n) tasks).

    Returns
    -------
    dict
        Name -> summed array; ``"records"`` -> how many records were summed.
    """
    import pyarrow as pa

    names = list(columns)
    record_bytes = 8 * sum(int(np.prod(s)) for s in columns.values())
    if tasks * record_bytes > DIRECT_SUM_BYTES:
        groups = max(1, math.isqrt(tasks))

        def partial(batches):
            recs = [b for b in batches]
            table = pa.Table.from_batches(recs) if recs else None
            if table is None or not table.num_rows:
                return
            table = table.sort_by("piece")
            piece = table.column("piece").to_numpy()
            out = {n: np.zeros(int(np.prod(columns[n]))) for n in names}
            for n in names:
                for v in table.column(n).to_pylist():
                    out[n] += np.frombuffer(v, dtype=np.float64)
            yield pa.RecordBatch.from_pydict(
                {"piece": pa.array([int(piece[0])], pa.int32()),
                 "count": pa.array([len(piece)], pa.int64()),
                 **{n: pa.array([out[n].tobytes()], pa.binary()) for n in names}})

        from pyspark.sql import functions as F

        df = df.repartition(groups, F.expr(f"pmod(piece, {groups})")).mapInArrow(
            arrow_task(partial),
            "piece INT, count BIGINT, " + ", ".join(f"{n} BINARY" for n in names))
        rows = df.toArrow()
        counts = rows.column("count").to_numpy()
    else:
        rows = df.toArrow()
        counts = np.ones(rows.num_rows, np.int64)
    order = np.argsort(rows.column("piece").to_numpy(), kind="stable")
    result: dict[str, np.ndarray] = {}
    for n in names:
        acc = np.zeros(int(np.prod(columns[n])))
        values = rows.column(n).to_pylist()
        for i in order:
            acc += np.frombuffer(values[i], dtype=np.float64)
        result[n] = acc.reshape(columns[n])
    result["records"] = np.int64(counts.sum())
    return result
