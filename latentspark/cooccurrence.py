"""Co-occurrence stage: windowed pair counts in vectorised Arrow batches, shuffled by Spark.

Each Spark task streams its lines through :class:`PairCounter` inside ``mapInArrow``:

* tokens become ids without building anything of size V per batch: the JVM hashes every
  token (Spark's ``xxhash64`` and, as a check, its 32-bit ``hash``) and each task looks them
  up in the vocabulary's hash table (:class:`VocabTable`: three numeric arrays broadcast by
  the driver, made into an open-addressing table once per worker process); a token is a
  vocabulary word only when both hashes match. Out-of-vocabulary and subsampled
  tokens are dropped *before* windowing, as GloVe and word2vec do;
* the pairs ``(ids[p], ids[p+d])``, ``d`` in ``1..window``, inside one line are formed in
  one compiled pass over the batch (:mod:`latentspark.pairkernels`, numba), never per token
  in Python; the numpy reference forms them by array slicing, one distance at a time;
* pairs of the ``dense_words`` most frequent words (most of all pairs, by Zipf's law) are
  summed in a dense array, in place; the rest are sorted and reduced, and handed on
  whenever ``buffer_pairs`` pairs have piled up, so task memory is bounded;
* the partial sums leave the task as *partial rows*: one record per row holding arrays of
  columns and weights (:func:`row_payloads`).

Counts are symmetric: a pair at distance ``d`` adds ``w(d)`` to both ``X[a, b]`` and
``X[b, a]`` (so to ``X[a, a]`` twice). Spark shuffles the partial rows so that row block ``k``
(the rows ``r`` with ``r % blocks == k``) lands in partition ``k``, sorts them by row, and
:class:`RowMerger` sums each row's pieces in a compiled loop. Spark thus moves a few hundred
thousand array records instead of tens of millions of single entries. The stage writes one
``block=k/`` folder per block, sorted by ``(row, col)``: each row's complete list of
non-zeros lives in one block.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Iterator

import numpy as np

from latentspark import schemas
from latentspark.config import DEFAULT_TOKEN_PATTERN, CooccurConfig, TokenizeConfig
from latentspark.workers import arrow_task

logger = logging.getLogger(__name__)

#: the published co-occurrence schema, as Spark DDL (``block`` is the folder partition column)
COOCCUR_DDL = schemas.ddl(schemas.COOCCUR)
#: per-partition counts kept for incremental merging: weights times weight_scale, exact
EXACT_DDL = schemas.ddl(schemas.COOCCUR_EXACT)
PARTIAL_ROWS_DDL = "row INT, n INT, cols BINARY, weights BINARY"
#: most entries in one partial-row record: bounds the size of the merging side's Arrow batches
PAYLOAD_CAP = 2048
_EMIT_ROWS = 1 << 21
#: entries per Parquet row group of the written blocks
_GROUP_ROWS = 1 << 20
_U64 = np.uint64


def distance_weights(window: int, weighting: str, dynamic: bool) -> np.ndarray:
    """Weight a pair gets at each distance ``d`` (index ``d``; index 0 unused).

    Parameters
    ----------
    window : int
        Largest distance counted.
    weighting : {"harmonic", "uniform"}
        ``harmonic``: ``1/d`` as in GloVe; ``uniform``: 1.
    dynamic : bool
        Also scale by ``(window - d + 1) / window``: the probability that word2vec's window,
        drawn uniformly from ``1..window``, reaches distance ``d`` (hyperwords' "dyn").

    Returns
    -------
    numpy.ndarray
        ``float64`` array of length ``window + 1``.

    Examples
    --------
    >>> distance_weights(3, "harmonic", False).tolist()
    [0.0, 1.0, 0.5, 0.3333333333333333]
    """
    d = np.arange(window + 1, dtype=np.float64)
    w = np.ones(window + 1) if weighting == "uniform" else np.divide(1.0, d, where=d > 0,
                                                                      out=np.zeros_like(d))
    if dynamic:
        w = w * (window - d + 1) / window
    w[0] = 0.0
    return w


#: largest common denominator for which counts are summed as exact integers (see weight_scale)
EXACT_SCALE_MAX = 1 << 24


def weight_scale(window: int, weighting: str, dynamic: bool) -> int:
    """The smallest integer ``L`` that makes every ``L * w(d)`` a whole number, or 1.

    Tasks add ``L * w(d)`` instead of ``w(d)``: the float64 sums are then sums of integers,
    exact below 2**53 and so independent of the order in which tasks, retries and
    incremental merges add them. The published weight is ``float32(sum / L)``, identical
    whether a corpus is counted in one job, on 1 or 100 executors, or partition by partition.
    When ``L`` would exceed ``EXACT_SCALE_MAX`` (harmonic windows beyond 16), 1 is returned
    and sums are ordinary floating point.

    Examples
    --------
    >>> weight_scale(10, "harmonic", False), weight_scale(5, "uniform", True)
    (2520, 5)
    """
    scale = math.lcm(*range(1, window + 1)) if weighting == "harmonic" else 1
    if dynamic:
        scale *= window
    return scale if scale <= EXACT_SCALE_MAX else 1


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 mixing function, vectorised over ``uint64`` (wrapping arithmetic)."""
    z = x + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def keyed_uniforms(key: np.ndarray, position: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic uniforms in [0, 1), one per ``(key, position)`` (numpy broadcasting).

    A draw depends only on its key (a token's line hash, a factor's row id), its position and
    the seed, never on partitioning or batching: subsampled counts and random factors are
    identical on 1 or 1,000 executors.
    """
    with np.errstate(over="ignore"):
        base = splitmix64(key.astype(np.int64).view(_U64) ^ splitmix64(
            np.full(1, seed, dtype=_U64)))
        z = splitmix64(base + position.astype(_U64))
    return (z >> _U64(11)).astype(np.float64) * (1.0 / (1 << 53))


def keep_probabilities(counts: np.ndarray, threshold: float) -> np.ndarray:
    """word2vec/hyperwords subsampling: keep a word of frequency ``f`` w.p. ``sqrt(t / f)``.

    Parameters
    ----------
    counts : numpy.ndarray
        Count of each vocabulary word, indexed by id.
    threshold : float
        ``t``; 0 keeps everything.

    Returns
    -------
    numpy.ndarray
        Keep probability per id, in ``(0, 1]``.
    """
    if threshold <= 0:
        return np.ones(len(counts))
    freq = counts / max(counts.sum(), 1)
    return np.minimum(1.0, np.sqrt(threshold / np.maximum(freq, 1e-300)))


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Indices where each run of equal values starts (``values`` grouped, non-empty)."""
    return np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))


def _reduce(keys: np.ndarray, vals: np.ndarray, kind: str = "stable"
            ) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``vals`` of equal ``keys``; returns sorted unique keys and their sums.

    ``kind="stable"`` (timsort) is cheap on concatenated sorted runs; ``"quicksort"``
    (vectorised introsort) is faster on keys in no particular order.
    """
    if keys.size == 0:
        return keys, vals
    order = np.argsort(keys, kind=kind)
    keys = keys[order]
    vals = vals[order]
    starts = _run_starts(keys)
    return keys[starts], np.add.reduceat(vals, starts)


def _reduce_by_sort(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_reduce` of keys in no particular order, with a plain sort instead of an argsort.

    The key (less its minimum) and the entry's index share one ``int64``, the key in the
    high bits: one vectorised ``np.sort`` orders the keys and still says where each weight
    is, several times faster than ``np.argsort``. Falls back to the argsort when the keys'
    span and the index do not fit in 63 bits together.
    """
    if keys.size == 0:
        return keys, vals
    low = int(keys.min())
    ibits = max(1, (keys.size - 1).bit_length())
    if (int(keys.max()) - low).bit_length() + ibits > 63:
        return _reduce(keys, vals, "quicksort")
    packed = (keys - low) << ibits
    packed |= np.arange(keys.size, dtype=np.int64)
    packed.sort()
    vals = vals[packed & ((1 << ibits) - 1)]
    packed >>= ibits
    starts = _run_starts(packed)
    return packed[starts] + low, np.add.reduceat(vals, starts)


class PairCounter:
    """Accumulates windowed pair counts of id sequences with bounded memory.

    Each pair at distance ``d`` is taken in canonical order ``lo <= hi`` and goes one of two
    ways:

    * both ids below ``dense_words`` (the most frequent words): summed in a dense array;
    * the rest are *packed*, ``lo``, ``hi`` and ``d`` in the bits of one ``int64``, and held
      unsummed. When ``buffer_pairs`` are held (and at the end) they are sorted in place
      with one ``np.sort`` (vectorised, much faster than an argsort or a merge of sorted
      runs), equal pairs are summed with the weight of their distance read from the low
      bits, and the sums are handed back.

    The compiled path (the default; :func:`latentspark.pairkernels.window_pairs`) forms the
    pairs in one pass over the batch, adds the dense ones in place and writes the packed ones
    straight into one held buffer. The numpy path (``compiled=False``, the reference the
    tests compare against) forms them one distance at a time by array slicing and sums the
    dense ones with ``np.bincount``: every pair's key is formed with its ids clipped to
    ``dense_words``, so the others fall into a spare column that is never read. Both hand
    back the same partial sums at the same calls (bit for bit when the weights are whole
    numbers, as :func:`weight_scale` makes them).

    Parameters
    ----------
    vocab_size : int
        Number of ids.
    weights : numpy.ndarray
        Weight per distance, from :func:`distance_weights`; its length - 1 is the window.
    dense_words : int
        Pairs with both ids below this are summed in a dense ``(n + 1) x (n + 1)`` array.
    buffer_pairs : int
        Sparse pairs (8 bytes each) held before :meth:`add` sums and hands them back.
    compiled : bool
        Count with the compiled loops (the default) or with numpy alone.

    Examples
    --------
    >>> pc = PairCounter(3, distance_weights(1, "uniform", False), 0, 100)
    >>> list(pc.add(np.array([0, 1, 2]), np.array([0, 0, 0])))
    []
    >>> [(r.tolist(), c.tolist(), w.tolist()) for r, c, w in pc.finish()]
    [([0, 1], [1, 2], [1.0, 1.0]), ([1, 2], [0, 1], [1.0, 1.0])]
    """

    def __init__(self, vocab_size: int, weights: np.ndarray, dense_words: int,
                 buffer_pairs: int, compiled: bool = True) -> None:
        self.vocab_size = int(vocab_size)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.window = len(self.weights) - 1
        self.k = int(min(dense_words, vocab_size))
        # dense keys are (lo * (k + 1) + hi) with both clipped to k: column k is the spare
        self._k1 = self.k + 1
        self.dense = np.zeros(self._k1 * self._k1) if self.k else None
        self.buffer_pairs = int(buffer_pairs)
        self._dbits = self.window.bit_length()
        self._dmask = (1 << self._dbits) - 1
        # packed pair: lo, then hi, then the distance; shifts, not products, so that lo and
        # hi come back without a division
        self._cbits = max(1, (self.vocab_size - 1).bit_length())
        self._cmask = (1 << self._cbits) - 1
        self._hshift = self._dbits
        self._lshift = self._cbits + self._dbits
        if self._lshift + self._cbits > 63:  # pragma: no cover - config bounds keep it < 63
            raise ValueError("vocabulary and window too large to pack a pair in 63 bits")
        self._raw: list[np.ndarray] = []
        self._held = 0
        self._dense_keys: list[np.ndarray] = []
        self._dense_dist: list[int] = []
        self._dense_held = 0
        self.compiled = bool(compiled)
        # the compiled path's unsummed packed pairs: one buffer, written in place
        self._buf = np.empty(0, np.int64)

    def add(self, ids: np.ndarray, line: np.ndarray
            ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Count the pairs of one batch of lines.

        Parameters
        ----------
        ids : numpy.ndarray
            Token ids of the batch, lines one after the other (dropped tokens removed).
        line : numpy.ndarray
            For each token, the index of its line; equal for tokens of one line, and
            non-decreasing (the lines one after the other).

        Yields
        ------
        tuple of numpy.ndarray
            ``(rows, cols, weights)`` partial counts grouped by row, when the buffer is
            full; both ``(a, b)`` and ``(b, a)`` are given.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if self.compiled:
            yield from self._add_compiled(ids, np.asarray(line, dtype=np.int64))
            return
        line = np.asarray(line)
        k = self.k
        for d in range(1, min(self.window, ids.size - 1) + 1):
            same = line[:-d] == line[d:]
            a = ids[:-d][same]
            b = ids[d:][same]
            lo = np.minimum(a, b)
            hi = np.maximum(a, b)
            packed = lo << self._lshift
            packed |= hi << self._hshift
            packed |= d
            if k:
                packed = packed[hi >= k]
                np.minimum(lo, k, out=lo)
                np.minimum(hi, k, out=hi)
                lo *= self._k1
                lo += hi
                self._dense_keys.append(lo)
                self._dense_dist.append(d)
                self._dense_held += lo.size
            self._raw.append(packed)
            self._held += packed.size
        if k and self._dense_held >= self.dense.size:
            self._flush_dense()
        if self._held > self.buffer_pairs:
            yield from self._drain_sparse()

    def _add_compiled(self, ids: np.ndarray, line: np.ndarray
                      ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """:meth:`add` in one compiled pass: dense pairs summed in place, the others packed
        straight into the held buffer (no per-distance temporaries)."""
        from latentspark import pairkernels

        need = self._held + ids.size * self.window  # at most `window` pairs a token
        if need > self._buf.size:
            buf = np.empty(max(need, self.buffer_pairs + ids.size * self.window), np.int64)
            buf[:self._held] = self._buf[:self._held]
            self._buf = buf
        dense = self.dense if self.k else np.zeros(1)
        self._held = pairkernels.window_pairs(
            ids, line, self.window, self.k, self._k1, self._lshift, self._hshift,
            self.weights, dense, self._buf, self._held)
        if self._held > self.buffer_pairs:
            yield from self._drain_sparse()

    def _flush_dense(self) -> None:
        """Add the held dense keys into the dense array (one bincount, whose cost over the
        whole array is paid once per about as many keys)."""
        if not self._dense_keys:
            return
        sizes = [x.size for x in self._dense_keys]
        w = np.repeat(self.weights[self._dense_dist], sizes)
        self.dense += np.bincount(np.concatenate(self._dense_keys), w,
                                  minlength=self.dense.size)
        self._dense_keys, self._dense_dist, self._dense_held = [], [], 0

    def _drain_sparse(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        if not self._held:
            self._raw = []
            return
        if self.compiled:
            from latentspark import pairkernels

            packed = self._buf[:self._held]
            self._held = 0
            packed.sort()  # numpy's vectorised sort: faster than a compiled radix sort here
            lo, hi, vals = pairkernels.reduce_packed(packed, self._dbits, self._cbits,
                                                     self.weights)
            yield from _mirror(lo, hi, vals, self.vocab_size)
            return
        packed = np.concatenate(self._raw)
        self._raw, self._held = [], 0
        packed.sort()
        starts = _run_starts(packed)
        uniq = packed[starts]
        # a run of one packed value is one pair at one distance: count times its weight
        vals = np.diff(np.append(starts, packed.size)) * self.weights[uniq & self._dmask]
        del packed, starts
        keys = uniq >> self._hshift
        starts = _run_starts(keys)
        keys = keys[starts]
        vals = np.add.reduceat(vals, starts)
        yield from _mirror(keys >> self._cbits, keys & self._cmask, vals)

    def finish(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Hand back everything still held (sparse buffer and the dense block)."""
        yield from self._drain_sparse()
        if self.k:
            self._flush_dense()
            k, k1 = self.k, self._k1
            upper = self.dense.reshape(k1, k1)[:k, :k]
            # the canonical counts are upper triangular: U + U.T is the symmetric matrix,
            # diagonal doubled, already in row order
            full = upper + upper.T
            nz = np.flatnonzero(full)
            if nz.size:
                yield nz // k, nz % k, full.ravel()[nz]
            self.dense[:] = 0.0


def _mirror(lo: np.ndarray, hi: np.ndarray, w: np.ndarray, vocab_size: int | None = None
            ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Both directions of canonical pairs sorted by ``(lo, hi)``, as runs sorted by row.

    ``(lo, hi)`` is already in row order; ``(hi, lo)`` is put in row order with one sort of
    ``hi << 32 | index`` (a plain sort, cheaper than an argsort), or, given ``vocab_size``,
    with the compiled counting sort of :func:`latentspark.pairkernels.mirror` (same order).
    A diagonal entry appears once, with both halves of its weight.
    """
    if vocab_size is not None:
        from latentspark import pairkernels

        lo, hi, w1, rows, cols, w2 = pairkernels.mirror(lo, hi, w, vocab_size)
        yield lo, hi, w1
        yield rows, cols, w2
        return
    diag = lo == hi
    yield lo, hi, np.where(diag, 2.0 * w, w)
    off = np.flatnonzero(~diag)
    order = (hi[off] << 32) | np.arange(off.size, dtype=np.int64)
    order.sort()
    at = off[order & 0xFFFFFFFF]
    yield order >> 32, lo[at], w[at]


def row_payloads(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, cap: int,
                 compiled: bool = True):
    """Group entries sorted by row into one record per row (at most ``cap`` entries each).

    Spark then moves a few hundred thousand records instead of tens of millions of single
    entries, which is where its per-row cost went. A record's columns and weights travel as
    raw little-endian bytes (``binary``), not as Arrow lists: the JVM copies, shuffles and
    hands back a binary value as one block of memory, where it would handle a list element
    by element.

    Both travel in as few bytes as is exact: a record's columns, increasing, as ``uint16``
    steps from the previous one (the first from 0) when every step of the record is below
    2**16, else as ``int32``; the weights as ``uint32`` when all are whole numbers below
    2**32, as the scaled counts of :func:`weight_scale` nearly always are, else as
    ``float64``. That is half the bytes for Spark to copy, shuffle and sort. ``n``, the
    entries of each record, tells the reader which form a record has, so records of all
    kinds mix in a batch.

    Parameters
    ----------
    rows, cols, weights : numpy.ndarray
        Entries, ``rows`` non-decreasing.
    cap : int
        Most entries in one record (bounds the reducer's Arrow batches).
    compiled : bool
        Find the records and encode their columns in one compiled pass
        (:func:`latentspark.pairkernels.encode_records`) instead of with numpy; the bytes
        are the same.

    Returns
    -------
    pyarrow.RecordBatch
        ``row: int32, n: int32, cols: binary, weights: binary``;
        :func:`payload_arrays` reads it back.
    """
    import pyarrow as pa

    n = rows.size
    if compiled:
        from latentspark import pairkernels

        bounds, col_offsets, col_bytes, _ = pairkernels.encode_records(
            np.asarray(rows, np.int64), np.asarray(cols, np.int64), int(cap))
        encoded = (col_bytes, col_offsets)
    else:
        starts = _run_starts(rows) if n else np.zeros(0, np.int64)
        within = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
        # a record ends where its row ends or after every `cap` entries of a row
        bounds = np.append(np.flatnonzero(within % cap == 0), n)
        encoded = _compact_cols(cols, bounds)
    m = bounds.size - 1

    def blob(values: np.ndarray, offsets: np.ndarray | None = None) -> pa.Array:
        offsets = (bounds * values.itemsize if offsets is None else offsets).astype(np.int32)
        return pa.Array.from_buffers(pa.binary(), m, [None, pa.py_buffer(offsets),
                                                      pa.py_buffer(values)])

    return pa.RecordBatch.from_arrays(
        [pa.array(rows[bounds[:-1]].astype(np.int32)),
         pa.array(np.diff(bounds).astype(np.int32)),
         blob(*encoded), blob(_compact_weights(weights))],
        names=["row", "n", "cols", "weights"])


def _compact_cols(cols: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The records' columns as bytes, and each record's byte offset (``bounds``: where
    records start, and the end): a record whose columns increase by steps below 2**16 holds
    them as ``uint16`` steps (the first from 0), any other as little-endian ``int32``."""
    c = np.asarray(cols, dtype=np.int64)
    n, firsts = c.size, bounds[:-1]
    if n == 0:
        return np.zeros(0, np.uint8), np.zeros(bounds.size, np.int64)
    steps = np.empty_like(c)
    steps[0] = c[0]
    np.subtract(c[1:], c[:-1], out=steps[1:])
    steps[firsts] = c[firsts]
    small = ((np.minimum.reduceat(steps, firsts) >= 0)
             & (np.maximum.reduceat(steps, firsts) < 1 << 16))
    if small.all():
        return steps.astype("<u2").view(np.uint8), bounds * 2
    if not small.any():
        return np.ascontiguousarray(c, dtype="<i4").view(np.uint8), bounds * 4
    lengths = np.diff(bounds)
    size = np.where(small, 2, 4)
    offsets = np.append(0, np.cumsum(lengths * size))
    item = np.repeat(size, lengths)
    at = np.repeat(offsets[:-1], lengths) + (np.arange(n) - np.repeat(firsts, lengths)) * item
    out = np.empty(int(offsets[-1]), np.uint8)
    two = item == 2
    out[at[two, None] + np.arange(2)] = steps[two].astype("<u2").view(np.uint8).reshape(-1, 2)
    out[at[~two, None] + np.arange(4)] = c[~two].astype("<i4").view(np.uint8).reshape(-1, 4)
    return out, offsets


def _compact_weights(weights: np.ndarray) -> np.ndarray:
    """``weights`` as little-endian ``uint32`` when that is exact, else as ``float64``."""
    w = np.asarray(weights, dtype=np.float64)
    if w.size and w.min() >= 0 and w.max() < 2.0**32:
        small = w.astype("<u4")
        if np.array_equal(small, w):
            return small
    return np.ascontiguousarray(w, dtype="<f8")


def payload_arrays(batch, compiled: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a batch of partial rows (:func:`row_payloads`) back as numpy arrays.

    Parameters
    ----------
    batch : pyarrow.RecordBatch
        Records of :func:`row_payloads`, of any forms mixed.
    compiled : bool
        Decode in one compiled pass over the bytes
        (:func:`latentspark.pairkernels.decode_records`) instead of with numpy's whole-array
        steps; the values are the same.

    Returns
    -------
    tuple of numpy.ndarray
        ``rows`` (one per record), ``lengths`` (entries per record), and the records'
        ``cols`` (``int64``) and ``weights`` (``float64``) one after the other.
    """
    lengths = batch.column("n").to_numpy().astype(np.int64)
    if compiled:
        from latentspark import pairkernels

        cols, weights = pairkernels.decode_records(
            lengths, *_binary_parts(batch.column("cols")), *_binary_parts(batch.column("weights")))
        return batch.column("row").to_numpy(), lengths, cols, weights
    steps, size = _record_values(batch.column("cols"), lengths, {2: "<u2", 4: "<i4"})
    cols = steps.astype(np.int64)
    small = size == 2
    if small.any():
        # uint16 steps: a running sum restarted at each record's first entry
        run = np.cumsum(np.where(small, cols, 0))
        first = np.minimum(np.cumsum(lengths) - lengths, max(cols.size - 1, 0))
        base = np.repeat(run[first] - np.where(small[first], cols[first], 0), lengths)
        cols = np.where(small, run - base, cols)
    weights, _ = _record_values(batch.column("weights"), lengths, {4: "<u4", 8: "<f8"})
    return batch.column("row").to_numpy(), lengths, cols, weights.astype(np.float64)


def _binary_parts(array) -> tuple[np.ndarray, np.ndarray]:
    """A ``binary`` array's value offsets (``int32``, one more than values) and data bytes
    (``uint8``, the whole buffer: the offsets index it), without copying."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)
    data = array.buffers()[2]
    return offsets, (np.frombuffer(data, np.uint8) if data is not None
                     else np.zeros(0, np.uint8))


def _record_values(array, lengths: np.ndarray, forms: dict[int, str]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The numbers of a ``binary`` array whose records hold ``lengths`` entries each, every
    record in one of ``forms`` (bytes an entry to dtype), and each entry's bytes."""
    n = int(lengths.sum())
    out_type = np.result_type(*forms.values())
    if n == 0:
        return np.zeros(0, out_type), np.zeros(0, np.int8)
    offsets, data = _binary_parts(array)
    start, stop = int(offsets[0]), int(offsets[-1])
    for size, dtype in forms.items():
        if stop - start == size * n:  # every record in this form
            return np.frombuffer(data, dtype, n, start), np.full(n, size, np.int8)
    # records of two forms, one entry in one or two units of the smaller: gather each
    # entry's units from where its record puts them (offsets are whole units)
    unit = min(forms)
    words = np.frombuffer(data, f"<u{unit}", (stop - start) // unit, start)
    item = np.repeat(np.diff(offsets) // np.maximum(lengths, 1), lengths)
    first = np.cumsum(lengths) - lengths
    at = (np.repeat(offsets[:-1].astype(np.int64) - start, lengths)
          + (np.arange(n) - np.repeat(first, lengths)) * item) // unit
    out = np.empty(n, out_type)
    wide = item != unit
    out[~wide] = words[at[~wide]]
    wide_at = at[wide]
    both = np.dtype(f"<u{2 * unit}")
    joined = words[wide_at].astype(both) | (words[wide_at + 1].astype(both) << both.type(8 * unit))
    out[wide] = joined.view(forms[2 * unit])
    return out, item.astype(np.int8)


class RowMerger:
    """Sums the partial rows of one block, arriving in row order, into final entries.

    Memory is bounded: one Arrow batch plus the partial entries of the one row that may
    continue into the next batch (summed whenever they exceed ``2 * vocab_size``).

    The compiled path (:func:`latentspark.pairkernels.merge_rows`) sums each row in a dense
    accumulator instead of sorting keys: one pass over the entries, ``16`` bytes a column
    of the vocabulary held (zeroed lazily by the system: only columns a row touched are
    resident).

    Parameters
    ----------
    vocab_size : int
        Number of ids (columns).
    compiled : bool
        Sum with the compiled loop (the default) or with numpy's sorts (the reference).
    """

    def __init__(self, vocab_size: int, compiled: bool = True) -> None:
        self.vocab_size = int(vocab_size)
        self._keys = np.zeros(0, dtype=np.int64)
        self._vals = np.zeros(0)
        self.compiled = bool(compiled)
        self._acc: np.ndarray | None = None

    def add(self, rows: np.ndarray, lengths: np.ndarray, cols: np.ndarray,
            weights: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Take a batch of partial rows (``rows`` non-decreasing, also across batches).

        Yields
        ------
        tuple of numpy.ndarray
            ``(rows, cols, weights)`` of complete rows, sorted by ``(row, col)``.
        """
        if rows.size == 0:
            return
        if self.compiled:
            from latentspark import pairkernels

            if self._acc is None:
                # np.zeros maps pages on first touch: V-sized but resident only where used
                self._acc = np.zeros(self.vocab_size)
                self._mark = np.zeros(self.vocab_size, np.int32)
                self._touched = np.zeros(self.vocab_size, np.int32)
                self._state = np.array([-1, 0], np.int64)
            out = pairkernels.merge_rows(
                np.asarray(rows, np.int64), np.asarray(lengths, np.int64),
                np.asarray(cols, np.int64), np.asarray(weights, np.float64), self._acc,
                self._mark, self._touched, self._state)
            if out[0].size:
                yield out
            return
        new_rows = np.repeat(rows.astype(np.int64), lengths)
        keys = np.concatenate((self._keys, new_rows * self.vocab_size + cols))
        vals = np.concatenate((self._vals, weights))
        # entries come grouped by row in non-decreasing row order; the batch's last row may
        # go on in the next batch, so its entries are held back
        entry_rows = np.concatenate((self._keys // self.vocab_size, new_rows))
        cut = int(np.searchsorted(entry_rows, rows[-1], side="left"))
        if cut:
            yield self._split(*_reduce_by_sort(keys[:cut], vals[:cut]))
        self._keys, self._vals = keys[cut:], vals[cut:]
        if self._keys.size > 2 * self.vocab_size:
            self._keys, self._vals = _reduce(self._keys, self._vals)

    def finish(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The entries held back for the last row."""
        if self.compiled:
            if self._acc is not None:
                from latentspark import pairkernels

                out = pairkernels.finish_rows(self._acc, self._mark, self._touched,
                                              self._state)
                if out[0].size:
                    yield out
            return
        if self._keys.size:
            yield self._split(*_reduce(self._keys, self._vals))
            self._keys, self._vals = self._keys[:0], self._vals[:0]

    def _split(self, keys: np.ndarray, vals: np.ndarray):
        rows, cols = np.divmod(keys, self.vocab_size)
        return rows, cols, vals



def _payload_batches(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray):
    """A counter's sorted entries as partial-row batches of at most ``_EMIT_ROWS`` entries."""
    for i in range(0, rows.size, _EMIT_ROWS):
        j = i + _EMIT_ROWS
        yield row_payloads(rows[i:j], cols[i:j], vals[i:j], PAYLOAD_CAP)

class VocabTable:
    """The vocabulary as a table of token hashes: the per-batch look-up structure.

    Spark hashes each token in the JVM twice, with ``xxhash64`` (64 bits) and ``hash``
    (murmur3, 32 bits, used as a check). A token is vocabulary word ``ids[i]`` when its
    64-bit hash equals ``hashes[i]`` *and* its check equals ``checks[i]``: a token outside
    the vocabulary is miscounted only if it matches a word on all 96 bits (odds about
    ``tokens * V / 2**96``, 6e-12 for 1e11 tokens and V = 5M). Two vocabulary words equal on
    all 96 bits are refused when the table is built (:func:`vocab_table`); two that share
    only the 64-bit hash (odds ``V**2 / 2**65``) are two different keys.

    The driver ships the three arrays (16 bytes a word). Each worker process builds, once, an
    open-addressing table over them: at least two ``int32`` slots a word (linear probing,
    home slot from the top bits of the 64-bit hash), each holding a row of the arrays or -1.
    A look-up costs a few gathers per token, whatever V is; the worker holds 16 bytes a
    word and 8 to 16 bytes of slots.

    Parameters
    ----------
    hashes : numpy.ndarray
        ``int64`` 64-bit hashes.
    checks : numpy.ndarray
        ``int32`` check hashes, in the same order.
    ids : numpy.ndarray
        ``int32`` vocabulary ids, in the same order.
    """

    def __init__(self, hashes: np.ndarray, checks: np.ndarray, ids: np.ndarray) -> None:
        self.hashes = np.asarray(hashes, np.int64)
        self.checks = np.asarray(checks, np.int32)
        self.ids = np.asarray(ids, np.int32)
        self._slots: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ids.size)

    def __getstate__(self) -> dict:
        # the slots are rebuilt where they are used: the broadcast carries 16 bytes a word
        return {"hashes": self.hashes, "checks": self.checks, "ids": self.ids}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["hashes"], state["checks"], state["ids"])

    @property
    def bits(self) -> int:
        """log2 of the slot count (:func:`latentspark.wordtable.slot_bits`)."""
        from latentspark.wordtable import slot_bits

        return slot_bits(len(self))

    def _slot(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes.view(np.uint64) >> np.uint64(64 - self.bits)).astype(np.int64)

    def _build(self) -> np.ndarray:
        """Place every word in the first free slot from its home slot; a slot holds the
        word's row in the arrays."""
        from latentspark.wordtable import place_in_slots

        return place_in_slots(self._slot(self.hashes), self.bits)

    def lookup(self, hashes: np.ndarray, checks: np.ndarray) -> np.ndarray:
        """Vocabulary id of each token, or -1.

        Examples
        --------
        >>> t = VocabTable(np.array([-5, 3, 9]), np.array([1, 2, 3]), np.array([2, 0, 1]))
        >>> t.lookup(np.array([9, 3, 3, 4]), np.array([3, 2, 7, 0], np.int32)).tolist()
        [1, 0, -1, -1]
        """
        out = np.full(hashes.size, -1, np.int64)
        if not len(self) or not hashes.size:
            return out
        if self._slots is None:
            self._slots = self._build()
        from latentspark.wordtable import probe_slots

        hashes = np.asarray(hashes, np.int64)
        checks = np.asarray(checks, np.int32)
        rows = probe_slots(self._slots, self._slot(hashes), lambda t, row: (
            (self.hashes[row] == hashes[t]) & (self.checks[row] == checks[t])))
        found = rows >= 0
        out[found] = self.ids[rows[found]]
        return out


def token_hashes(tokens):
    """The two per-token hash columns :class:`VocabTable` looks up, computed in the JVM.

    Parameters
    ----------
    tokens : pyspark.sql.Column
        ``array<string>``.

    Returns
    -------
    tuple of pyspark.sql.Column
        ``hashes: array<bigint>`` (``xxhash64`` per token) and ``checks: array<int>``
        (``hash`` per token).
    """
    from pyspark.sql import functions as F

    return (F.transform(tokens, lambda t: F.xxhash64(t)).alias("hashes"),
            F.transform(tokens, lambda t: F.hash(t)).alias("checks"))


def vocab_table(spark, words) -> VocabTable:
    """Hash the vocabulary with the JVM's functions and sort it (on the driver, once).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    words : pyarrow.Array
        Vocabulary words in id order (bounded by ``vocab.max_size``).

    Returns
    -------
    VocabTable

    Raises
    ------
    InputError
        Two vocabulary words with equal 64-bit and 32-bit hashes (named).
    """
    import pyarrow as pa
    from pyspark.sql import functions as F

    from latentspark.errors import InputError

    n = len(words)
    if n == 0:
        empty = np.zeros(0, np.int32)
        return VocabTable(np.zeros(0, np.int64), empty, empty)
    # the same functions as token_hashes, so a word and its tokens hash alike
    df = spark.createDataFrame(pa.table({"id": pa.array(np.arange(n, dtype=np.int32)),
                                         "word": pa.array(words, pa.string())}))
    t = df.select("id", F.xxhash64("word").alias("h"), F.hash("word").alias("c")).toArrow()
    h = t.column("h").to_numpy()
    c = t.column("c").to_numpy().astype(np.int32)
    ids = t.column("id").to_numpy().astype(np.int32)
    order = np.lexsort((c, h))
    h, c, ids = h[order], c[order], ids[order]
    same = np.flatnonzero((h[1:] == h[:-1]) & (c[1:] == c[:-1]))
    if same.size:
        a, b = int(ids[same[0]]), int(ids[same[0] + 1])
        raise InputError(f"vocabulary words {words[a].as_py()!r} (id {a}) and "
                         f"{words[b].as_py()!r} (id {b}) have the same 96-bit token hash; "
                         "they cannot be told apart (change vocab.min_count or vocab.max_size)")
    if np.any(h[1:] == h[:-1]):
        logger.info("cooccur: %d vocabulary words share a 64-bit hash with another; told apart "
                    "by the check hash", int(np.sum(h[1:] == h[:-1])) + 1)
    return VocabTable(h, c, ids)


#: per Python worker: the vocabulary table of the counting job it last ran, by job token
_TABLES: dict[str, VocabTable] = {}


def _worker_table(table, token: str) -> VocabTable:
    """The broadcast's table, unpickled once per worker process and reused by its tasks."""
    if not hasattr(table, "value"):
        return table
    if token not in _TABLES:
        _TABLES.clear()  # one vocabulary at a time: an older job's is not used again
        _TABLES[token] = table.value
    return _TABLES[token]


def make_batch_counter(table, keep_prob: np.ndarray | None, cfg: CooccurConfig):
    """Build the ``mapInArrow`` function that counts pairs in one task.

    Parameters
    ----------
    table : VocabTable or pyspark.Broadcast
        The vocabulary's hash table (:func:`vocab_table`), or a broadcast of it.
    keep_prob : numpy.ndarray or pyspark.Broadcast or None
        Subsampling keep probability per id, or ``None`` for no subsampling.
    cfg : CooccurConfig

    Returns
    -------
    callable
        ``f(batches: Iterator[pyarrow.RecordBatch]) -> Iterator[pyarrow.RecordBatch]``;
        input batches have ``hashes: list<int64>`` and ``checks: list<int32>`` (from
        :func:`token_hashes`), and ``line_hash: int64`` when subsampling; output batches
        hold partial rows, ``row, cols, weights`` (see :func:`row_payloads`), covering both
        ``(a, b)`` and ``(b, a)``, with weights multiplied by :func:`weight_scale`.
    """
    scale = weight_scale(cfg.window, cfg.weighting, cfg.dynamic_window)
    weights = distance_weights(cfg.window, cfg.weighting, cfg.dynamic_window)
    if scale > 1:  # whole numbers: sums are exact and independent of their order
        weights = np.rint(weights * scale)
    seed, dense_words, buffer_pairs = cfg.seed, cfg.dense_words, cfg.buffer_pairs
    token = uuid.uuid4().hex  # names this table in the workers' cache

    def count_batches(batches):
        import pyarrow.compute as pc

        vocab = _worker_table(table, token)
        keep = keep_prob.value if hasattr(keep_prob, "value") else keep_prob
        counter = PairCounter(len(vocab), weights, dense_words, buffer_pairs)

        for batch in batches:
            hashes = batch.column("hashes")
            flat = pc.list_flatten(hashes)
            if len(flat) == 0:
                continue
            line = pc.list_parent_indices(hashes).to_numpy()
            ids = vocab.lookup(flat.to_numpy(),
                               pc.list_flatten(batch.column("checks")).to_numpy())
            kept = ids >= 0
            if keep is not None:
                offsets = hashes.offsets.to_numpy()
                position = np.arange(len(flat)) - (offsets[line] - offsets[0])
                line_hash = batch.column("line_hash").to_numpy()[line]
                u = keyed_uniforms(line_hash, position, seed)
                kept &= u < keep[np.where(kept, ids, 0)]
            for part in counter.add(ids[kept], line[kept]):
                yield from _payload_batches(*part)
        for part in counter.finish():
            yield from _payload_batches(*part)

    return count_batches


def make_text_counter(table, cfg: CooccurConfig, lowercase: bool = True):
    """Build the ``mapInArrow`` function that counts pairs from raw ASCII text and tokens.

    The fast path of :func:`count_cooccurrences` for the default token rule: ASCII lines
    arrive as text and are split and looked up in one compiled pass
    (:meth:`latentspark.wordtable.WordTable.lookup_ascii`, the tokens of
    :func:`latentspark.wordtable.ascii_tokens`); the other lines arrive tokenised by the JVM,
    their tokens joined by single spaces (a token of the default rule holds no space), and
    become ids with a :class:`~latentspark.wordtable.WordTable` look-up of their bytes.

    Parameters
    ----------
    table : WordTable or pyspark.Broadcast
        The vocabulary (:meth:`WordTable.from_arrow`), or a broadcast of it.
    cfg : CooccurConfig
        With ``subsample = 0`` (subsampling draws need the JVM's token arrays).
    lowercase : bool
        ``tokenize.lowercase``.

    Returns
    -------
    callable
        ``f(batches) -> batches``; input batches have ``text: string`` (an ASCII line, or
        the space-joined tokens of another) and ``ascii: boolean`` (which of the two);
        output as for :func:`make_batch_counter`.
    """
    scale = weight_scale(cfg.window, cfg.weighting, cfg.dynamic_window)
    weights = distance_weights(cfg.window, cfg.weighting, cfg.dynamic_window)
    if scale > 1:  # whole numbers: sums are exact and independent of their order
        weights = np.rint(weights * scale)
    dense_words, buffer_pairs = cfg.dense_words, cfg.buffer_pairs
    token = uuid.uuid4().hex  # names this table in the workers' cache

    def count_text(batches):
        import pyarrow.compute as pc

        from latentspark.wordtable import string_buffers

        vocab = _worker_table(table, token)
        counter = PairCounter(len(vocab), weights, dense_words, buffer_pairs)

        for batch in batches:
            ids, line, lines = [], [], 0
            text, is_ascii = batch.column("text"), batch.column("ascii")
            plain = text.filter(is_ascii) if is_ascii.false_count else text
            if len(plain):
                found, at = vocab.lookup_ascii(*string_buffers(plain), lowercase)
                ids.append(found)
                line.append(at)
                lines = len(plain)
            if is_ascii.false_count:
                split = pc.split_pattern(text.filter(pc.invert(is_ascii)), " ")
                tokens = pc.list_flatten(split)
                # a line without tokens joins to "", which splits into one empty string
                real = pc.not_equal(pc.binary_length(tokens), 0)
                ids.append(vocab.lookup_arrow(tokens.filter(real)))
                # after the ASCII lines: each line's tokens stay together, in order
                at = pc.list_parent_indices(split).filter(real).to_numpy()
                line.append(at.astype(np.int64) + lines)
            if not ids:
                continue
            ids, line = np.concatenate(ids), np.concatenate(line)
            kept = ids >= 0
            for part in counter.add(ids[kept], line[kept]):
                yield from _payload_batches(*part)
        for part in counter.finish():
            yield from _payload_batches(*part)

    return count_text


def make_row_merger(vocab_size: int, scale: float = 1.0, exact: bool = False,
                    dest: str | None = None, blocks: int = 0):
    """Build the ``mapInArrow`` function that sums one block's partial rows.

    Parameters
    ----------
    vocab_size : int
        Number of ids.
    scale : float
        The counters' :func:`weight_scale`; sums are divided by it on output.
    exact : bool
        Output the scaled sums as ``weight: float64`` (exact integers) without dividing, the
        form in which per-partition counts are kept for later merging.
    dest : str, optional
        Write the block's entries with pyarrow to ``dest/block=k/part-00000.parquet``
        instead of handing them back to Spark (``blocks`` must then be given).
    blocks : int
        The number of row blocks (block ``k`` holds the rows ``r % blocks == k``).

    Returns
    -------
    callable
        ``f(batches) -> batches``: input ``row, cols, weights`` records sorted by row (all
        of one block), output ``row: int32, col: int32, weight: float32`` sorted by
        ``(row, col)``, one entry per non-zero; with ``dest``, one ``block, rows, total``
        record per block written.
    """

    def merge_batches(batches):
        import pyarrow as pa

        merger = RowMerger(vocab_size)

        def to_batch(rows, cols, vals):
            vals = vals if exact else (vals / scale if scale != 1 else vals).astype(np.float32)
            return pa.RecordBatch.from_arrays(
                [pa.array(rows.astype(np.int32)), pa.array(cols.astype(np.int32)),
                 pa.array(vals)], names=["row", "col", "weight"])

        def merged():
            for batch in batches:
                yield from (to_batch(*part) for part in merger.add(*payload_arrays(batch)))
            yield from (to_batch(*part) for part in merger.finish())

        if dest is None:
            yield from merged()
        else:
            yield from _write_block(merged(), dest, blocks)

    return merge_batches


def _write_block(batches, dest: str, blocks: int):
    """Write one block's entry batches to ``dest/block=k/part-00000.parquet`` (``k`` from the
    rows), yielding one ``block, rows, total`` record; nothing for an empty block."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from latentspark.remote import resolve

    writer = None
    block, rows, total = -1, 0, 0.0
    pending: list = []

    def flush() -> None:
        # row groups of about a million entries, whatever the batches' sizes
        writer.write_table(pa.Table.from_batches(pending), row_group_size=_GROUP_ROWS)
        pending.clear()

    try:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            r = batch.column("row").to_numpy()
            if writer is None:
                block = int(r[0]) % blocks
                fs, path = resolve(f"{dest}/block={block}/part-00000.parquet")
                fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
                # a retried task rewrites the same file with the same entries
                # dictionary pages only for the row (long runs): for the columns and weights
                # they cost four times the write and save little
                writer = pq.ParquetWriter(path, batch.schema, filesystem=fs,
                                          use_dictionary=["row"])
            if np.any(r % blocks != block):  # pragma: no cover - guards the partitioning
                raise RuntimeError(f"block {block} received rows of another block")
            pending.append(batch)
            rows += batch.num_rows
            total += float(batch.column("weight").to_numpy().astype(np.float64).sum())
            if sum(b.num_rows for b in pending) >= _GROUP_ROWS:
                flush()
        if pending:
            flush()
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        yield pa.RecordBatch.from_pydict(
            {"block": pa.array([block], pa.int32()), "rows": pa.array([rows], pa.int64()),
             "total": pa.array([total])})


def spark_int_hash(values: np.ndarray, seed: int = 42) -> np.ndarray:
    """Spark's ``hash()`` of ``int`` values: Murmur3 x86 32-bit of their 4 bytes.

    The function ``repartition(n, col)`` partitions an ``int`` column by (``pmod`` of it by
    ``n``), with Spark's seed 42; here in numpy, so finding partition keys costs no Spark
    job. ``tests/test_counting_spark.py`` checks it against Spark's own ``hash``.

    >>> spark_int_hash(np.array([0, 1, -7])).tolist()
    [933211791, -559580957, -1618159745]
    """
    def rotl(x: np.ndarray, r: int) -> np.ndarray:
        return (x << np.uint32(r)) | (x >> np.uint32(32 - r))

    with np.errstate(over="ignore"):
        k = np.asarray(values, np.int64).astype(np.uint32)
        k = rotl(k * np.uint32(0xCC9E2D51), 15) * np.uint32(0x1B873593)
        h = rotl(np.uint32(seed) ^ k, 13) * np.uint32(5) + np.uint32(0xE6546B64)
        h ^= np.uint32(4)  # the length in bytes
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h.view(np.int32)


def partition_keys(spark, n: int) -> list[int]:
    """For each shuffle partition ``p < n``, an int that Spark hash-partitions into ``p``.

    ``repartition(n, col)`` sends a row to ``pmod(murmur3(col), n)``; tagging block ``k``'s
    rows with ``keys[k]`` sends each block to its own partition, and so to its own file.
    The keys are the smallest such ints, found with :func:`spark_int_hash` (``spark`` is
    unused: kept so that callers need not know how).
    """
    candidates = np.arange(64 * n + 64)
    part = np.mod(spark_int_hash(candidates).astype(np.int64), n)  # pmod: never negative
    found, first = np.unique(part, return_index=True)  # each partition's smallest key
    if found.size < n:  # pragma: no cover - 64 candidates per partition always suffice
        missing = sorted(set(range(n)) - set(found.tolist()))
        raise RuntimeError(f"no partition key found for partitions {missing[:5]}")
    return candidates[first].tolist()


#: tokens below which one more row block is not worth its reduce task (and the factorization
#: pieces it brings): a corpus of a few million tokens counts in seconds
TOKENS_PER_BLOCK_MIN = 1_000_000
#: tokens above which another block is added whatever the cores: a block's partial entries
#: (and its factorization pieces) stay bounded as the corpus grows
TOKENS_PER_BLOCK_MAX = 500_000_000


def resolve_blocks(spark, cfg: CooccurConfig, recorded: int | None = None,
                   tokens: int | None = None) -> int:
    """The number of row blocks (reduce tasks) a count uses: ``cooccur.blocks``, or one that
    follows the corpus and the cluster.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : CooccurConfig
    recorded : int, optional
        The block count of counts that the new ones will be merged with (incremental runs
        of one root must keep one layout); used when ``cfg.blocks`` is 0.
    tokens : int, optional
        The corpus's tokens, when known (the vocabulary stage counts them).

    Returns
    -------
    int
        ``cfg.blocks`` when set; else ``recorded``; else, with ``tokens``, one block per
        :data:`TOKENS_PER_BLOCK_MIN` tokens up to twice Spark's default parallelism (its
        total executor cores, so a large count's reduce side has two waves of tasks), and
        above that one per :data:`TOKENS_PER_BLOCK_MAX`; without ``tokens``, twice the
        default parallelism.

    Notes
    -----
    An explicit value below the cores is warned about, not refused: it is legitimate for a
    small corpus, and for keeping the block layout of counts published earlier.

    >>> from types import SimpleNamespace as NS
    >>> spark = NS(sparkContext=NS(defaultParallelism=2))
    >>> cfg = NS(blocks=0)
    >>> [resolve_blocks(spark, cfg, tokens=t) for t in (120, 2_500_000, 24_000_000, 10**11)]
    [1, 3, 4, 200]
    >>> resolve_blocks(spark, cfg), resolve_blocks(spark, cfg, recorded=6, tokens=120)
    (4, 6)
    """
    cores = int(spark.sparkContext.defaultParallelism)
    if cfg.blocks:
        if cfg.blocks < cores:
            logger.warning("cooccur.blocks = %d is below the cluster's %d cores: the counting "
                           "reduce runs %d tasks and leaves cores idle; set cooccur.blocks = 0 "
                           "to follow the cluster", cfg.blocks, cores, cfg.blocks)
        return int(cfg.blocks)
    if recorded:
        return int(recorded)
    if tokens is None:
        return max(1, 2 * cores)
    from latentspark.blocks import tasks_for

    return tasks_for(tokens, TOKENS_PER_BLOCK_MIN, TOKENS_PER_BLOCK_MAX, 2 * cores)


def _layout_blocks(spark, cfg: CooccurConfig) -> int:
    """``cfg.blocks`` as the stage resolved it (silently: the stage warned about a value the
    user set), or :func:`resolve_blocks` when it is 0."""
    return int(cfg.blocks) if cfg.blocks else resolve_blocks(spark, cfg)


def _by_block(spark, df, blocks: int):
    """``df`` (with a ``row`` column) shuffled so that partition ``k`` holds the rows
    ``r % blocks == k``, sorted by row."""
    from pyspark.sql import functions as F

    keys = F.array(*map(F.lit, partition_keys(spark, blocks)))
    pkey = F.element_at(keys, F.pmod(F.col("row"), F.lit(blocks)).cast("int") + 1)
    return df.repartition(blocks, pkey).sortWithinPartitions("row")


def text_fast_path(tokens_df, cfg: CooccurConfig, tokenizer: TokenizeConfig | None) -> bool:
    """Whether the counting job may split ASCII lines itself (:func:`make_text_counter`).

    Only with the default token rule (what the numpy splitter implements), no subsampling
    (its draws hash the JVM's token arrays) and the raw ``text`` column at hand.
    """
    return (tokenizer is not None and tokenizer.mode == "regex"
            and tokenizer.pattern == DEFAULT_TOKEN_PATTERN and cfg.subsample == 0
            and "text" in tokens_df.columns and "tokens" in tokens_df.columns)


def _partial_rows_by_block(spark, tokens_df, words, counts: np.ndarray, cfg: CooccurConfig,
                           tokenizer: TokenizeConfig | None, blocks: int):
    """The counting tasks' partial rows, shuffled so that partition ``k`` holds block ``k``
    in row order (see :func:`count_cooccurrences` for the parameters)."""
    from pyspark.sql import functions as F

    sc = spark.sparkContext
    if text_fast_path(tokens_df, cfg, tokenizer):
        from latentspark.corpus import token_column
        from latentspark.wordtable import WordTable

        # the vocabulary's bytes (about 10 per word): bounded by vocab.max_size, like the
        # id table of the other path
        table_bc = sc.broadcast(WordTable.from_arrow(words))
        text = F.col("text")
        ascii_line = F.octet_length(text) == F.length(text)
        # the JVM tokenises only the lines that are not ASCII (the CASE evaluates the
        # tokens expression for those alone); the rest travel as raw text. One string
        # column: the tokens joined by spaces, not an array column, which Spark hands to
        # Arrow several times slower (and more so the larger the batch) when most rows are
        # null
        lines = tokens_df.select(
            F.when(ascii_line, text).otherwise(
                F.concat_ws(" ", token_column(text, tokenizer))).alias("text"),
            ascii_line.alias("ascii"))
        counter = make_text_counter(table_bc, cfg, tokenizer.lowercase)
        partial = lines.mapInArrow(arrow_task(counter), PARTIAL_ROWS_DDL)
        return _by_block(spark, partial, blocks)
    # numbers, not strings, go to the workers: 16 bytes per word
    table_bc = sc.broadcast(vocab_table(spark, words))
    keep_bc = None
    cols = list(token_hashes(F.col("tokens")))
    if cfg.subsample > 0:
        keep_bc = sc.broadcast(keep_probabilities(counts, cfg.subsample))
        cols.append(F.xxhash64("tokens").alias("line_hash"))
    lines = tokens_df.where(F.size("tokens") >= 2).select(*cols)
    partial = lines.mapInArrow(arrow_task(make_batch_counter(table_bc, keep_bc, cfg)),
                               PARTIAL_ROWS_DDL)
    # one shuffle of partial rows: block k to partition k, in row order, where numpy sums
    # them; Spark never handles single entries
    return _by_block(spark, partial, blocks)


def count_cooccurrences(spark, tokens_df, words, counts: np.ndarray, cfg: CooccurConfig,
                        exact: bool = False, tokenizer: TokenizeConfig | None = None):
    """Co-occurrence counts of a tokenised corpus, one row block per partition.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    tokens_df : pyspark.sql.DataFrame
        Has ``tokens: array<string>``, one row per context unit.
    words : pyarrow.Array
        Vocabulary words in id order (bounded by ``vocab.max_size``); tasks receive their
        hash table (:func:`vocab_table`), not the strings.
    counts : numpy.ndarray
        Their counts (for subsampling).
    cfg : CooccurConfig
    exact : bool
        Give ``weight: double`` sums multiplied by :func:`weight_scale` (whole numbers), the
        form :func:`merge_blocks` adds up exactly, instead of the published ``float``.
    tokenizer : TokenizeConfig, optional
        The settings that made ``tokens_df``'s ``tokens`` from its ``text``: with the
        default token rule the ASCII lines are split in numpy instead of by the JVM's regex
        (:func:`text_fast_path`); the counts are the same.

    Returns
    -------
    pyspark.sql.DataFrame
        ``row: int, col: int, weight: float``, one row per non-zero. Partition ``k`` holds
        exactly the rows ``r`` with ``r % blocks == k``, sorted by ``(row, col)``, where
        ``blocks`` is :func:`resolve_blocks` of ``cfg`` (callers that record the layout
        resolve it first and pass ``cfg`` with ``blocks`` set).

    See Also
    --------
    write_cooccurrences : the same counts written straight to ``block=k/`` files.
    """
    scale = weight_scale(cfg.window, cfg.weighting, cfg.dynamic_window)
    partial = _partial_rows_by_block(spark, tokens_df, words, counts, cfg, tokenizer,
                                     _layout_blocks(spark, cfg))
    return partial.mapInArrow(arrow_task(make_row_merger(len(words), scale, exact=exact)),
                              EXACT_DDL if exact else COOCCUR_DDL)


def write_cooccurrences(spark, tokens_df, words, counts: np.ndarray, cfg: CooccurConfig,
                        dest: str, exact: bool = False,
                        tokenizer: TokenizeConfig | None = None) -> tuple[int, float]:
    """Count co-occurrences and write them as ``dest/block=k/part-00000.parquet``.

    The same counts, layout and schema as :func:`count_cooccurrences` written by Spark and
    moved into block folders, but each reduce task writes its block with pyarrow as it sums
    it: the tens of millions of final entries never become Spark rows.

    Parameters
    ----------
    spark, tokens_df, words, counts, cfg, exact, tokenizer
        As for :func:`count_cooccurrences`.
    dest : str
        Folder (Hadoop URI or local path) to write the blocks to; a block with no entry gets
        no folder.

    Returns
    -------
    tuple
        Non-zeros written and their total weight (of the published ``float32`` values, or
        of the exact sums when ``exact``).
    """
    scale = weight_scale(cfg.window, cfg.weighting, cfg.dynamic_window)
    blocks = _layout_blocks(spark, cfg)
    partial = _partial_rows_by_block(spark, tokens_df, words, counts, cfg, tokenizer, blocks)
    stats = partial.mapInArrow(
        arrow_task(make_row_merger(len(words), scale, exact=exact, dest=dest, blocks=blocks)),
        "block INT, rows BIGINT, total DOUBLE").collect()  # one row per non-empty block
    seen = sorted(r["block"] for r in stats)
    if len(set(seen)) != len(seen):
        raise RuntimeError(f"blocks written twice: {seen}")
    by_block = sorted(stats, key=lambda r: r["block"])
    return sum(r["rows"] for r in by_block), float(sum(r["total"] for r in by_block))


def make_block_merger(vocab_size: int, scale: float, plan: dict[int, tuple[list, list]],
                      exact_dest: str, data_dest: str):
    """Build the ``mapInArrow`` function that merges kept counts block by block.

    Each task takes block numbers and, for block ``k``, reads the exact (whole-number) count
    files ``plan[k] = (add, subtract)`` with pyarrow, sums them with signs in numpy (one sort
    of ``row * V + col`` keys), drops the entries that cancel to exactly zero, and writes the
    block twice: exact sums to ``exact_dest/block=k/`` (the running total the next merge
    starts from) and the published ``float32(sum / scale)`` to ``data_dest/block=k/``. A
    block's rows stay in one task, so nothing is shuffled.

    Returns
    -------
    callable
        ``f(batches) -> batches`` over ``block: int`` records, yielding ``block, rows,
        total`` (non-zeros and total weight written).
    """

    def merge_blocks(batches):
        import pyarrow as pa
        import pyarrow.parquet as pq

        from latentspark.remote import resolve

        def write(dest: str, k: int, table) -> None:
            fs, path = resolve(f"{dest}/block={k}/part-00000.parquet")
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            pq.write_table(table, path, filesystem=fs, row_group_size=1 << 20)

        for batch in batches:
            for k in batch.column("block").to_pylist():
                keys, vals = [np.zeros(0, np.int64)], [np.zeros(0)]
                for sign, files in zip((1.0, -1.0), plan[k], strict=True):
                    for uri in files:
                        fs, path = resolve(uri)
                        t = pq.read_table(path, filesystem=fs, columns=["row", "col", "weight"])
                        keys.append(t.column("row").to_numpy().astype(np.int64) * vocab_size
                                    + t.column("col").to_numpy())
                        vals.append(sign * t.column("weight").to_numpy().astype(np.float64))
                key, val = _reduce(np.concatenate(keys), np.concatenate(vals), "quicksort")
                keep = val != 0  # exact: a pair counted and then subtracted is exactly 0
                key, val = key[keep], val[keep]
                rows = pa.array((key // vocab_size).astype(np.int32))
                cols = pa.array((key % vocab_size).astype(np.int32))
                write(exact_dest, k, pa.table({"row": rows, "col": cols, "weight": val}))
                published = (val / scale if scale != 1 else val).astype(np.float32)
                write(data_dest, k, pa.table({"row": rows, "col": cols,
                                              "weight": pa.array(published)}))
                yield pa.RecordBatch.from_pydict(
                    {"block": pa.array([k], pa.int32()), "rows": pa.array([key.size], pa.int64()),
                     "total": pa.array([float(published.astype(np.float64).sum())])})

    return merge_blocks


def merge_blocks(spark, plan: dict[int, tuple[list, list]], vocab_size: int,
                 cfg: CooccurConfig, exact_dest: str, data_dest: str) -> tuple[int, float]:
    """Merge kept counts into a new running total and published counts (one task per block).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    plan : dict
        For each block ``k < cfg.blocks``: the exact count files to add and to subtract.
    vocab_size : int
    cfg : CooccurConfig
    exact_dest, data_dest : str
        Folders (Hadoop URIs) for the exact sums and the published ``row, col, weight``.

    Returns
    -------
    tuple
        Non-zeros and total weight written.
    """
    scale = weight_scale(cfg.window, cfg.weighting, cfg.dynamic_window)
    blocks = spark.createDataFrame([(k,) for k in range(cfg.blocks)], "block INT")
    stats = blocks.repartition(cfg.blocks, "block").mapInArrow(
        arrow_task(make_block_merger(vocab_size, scale, plan, exact_dest, data_dest)),
        "block INT, rows BIGINT, total DOUBLE").collect()  # one row per block
    if sorted(r["block"] for r in stats) != list(range(cfg.blocks)):
        raise RuntimeError(f"merged blocks {sorted(r['block'] for r in stats)}, expected "
                           f"0..{cfg.blocks - 1}")
    return sum(r["rows"] for r in stats), sum(r["total"] for r in stats)
