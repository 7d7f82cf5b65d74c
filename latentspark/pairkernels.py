"""Compiled (numba) loops of the co-occurrence counting tasks.

Each function here does in one pass over its input what :mod:`latentspark.cooccurrence`'s
numpy reference does with a chain of whole-array operations, each of which allocates and
reads a temporary as large as the input: for a task, the windowed pairs of a batch, the
reduction of sorted packed pairs, their mirror image, and the partial-row records' bytes.
The results are identical, bit for bit, to the numpy reference's (the tests compare them).

The module is imported only where the loops run (the Python workers), so that the driver
does not pay numba's import. ``cache=True`` keeps the machine code next to this file (or in
numba's per-user cache when the package folder is read-only): a worker process loads it in
milliseconds and compiles only once per machine and version of this file; Spark's reused
Python workers (``spark.python.worker.reuse``) load it once per process, not per task.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def _compiled(fn):
    """``njit`` with machine code cached on disk, or, where no cache folder is writable
    (numba refuses ``cache=True`` there), compiled once per process."""
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # pragma: no cover - read-only package and home folders
        return njit(nogil=True)(fn)


@_compiled
def window_pairs(
    ids: np.ndarray,
    line: np.ndarray,
    window: int,
    k: int,
    k1: int,
    lshift: int,
    hshift: int,
    weights: np.ndarray,
    dense: np.ndarray,
    out: np.ndarray,
    start: int,
) -> int:  # pragma: no cover - compiled
    """Count the pairs of one batch: dense ones in place, the others packed into ``out``.

    For each token ``p`` and each distance ``d <= window`` with ``p + d`` in the same line,
    the canonical pair ``lo <= hi`` of ``(ids[p], ids[p + d])`` adds ``weights[d]`` to
    ``dense[lo * k1 + hi]`` when ``hi < k``, and is otherwise written to ``out`` from
    ``start`` as ``lo << lshift | hi << hshift | d``. ``line`` must be non-decreasing (the
    lines of a batch one after the other); ``out`` must have room for ``window`` pairs a
    token. Returns the end of the pairs written to ``out``.
    """
    n = ids.size
    j = start
    for p in range(n):
        a = ids[p]
        lp = line[p]
        stop = min(n, p + window + 1)
        for q in range(p + 1, stop):
            if line[q] != lp:
                break
            b = ids[q]
            if a <= b:
                lo, hi = a, b
            else:
                lo, hi = b, a
            d = q - p
            if hi < k:
                dense[lo * k1 + hi] += weights[d]
            else:
                out[j] = (lo << lshift) | (hi << hshift) | d
                j += 1
    return j


@_compiled
def reduce_packed(
    packed: np.ndarray, dbits: int, cbits: int, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Sum the sorted packed pairs of :func:`window_pairs` by pair.

    Returns ``lo``, ``hi`` (sorted by ``(lo, hi)``, one entry a pair) and the sum of the
    weights of the pair's occurrences; each distance's run adds ``count * weights[d]``, in
    increasing ``d``, as the numpy reference does.
    """
    n = packed.size
    pairs = 0
    for i in range(n):
        if i == 0 or (packed[i] >> dbits) != (packed[i - 1] >> dbits):
            pairs += 1
    lo = np.empty(pairs, np.int64)
    hi = np.empty(pairs, np.int64)
    vals = np.empty(pairs, np.float64)
    dmask = (1 << dbits) - 1
    cmask = (1 << cbits) - 1
    j = -1
    i = 0
    while i < n:
        v = packed[i]
        run = i + 1
        while run < n and packed[run] == v:
            run += 1
        w = (run - i) * weights[v & dmask]
        key = v >> dbits
        if j < 0 or key != (packed[i - 1] >> dbits):
            j += 1
            lo[j] = key >> cbits
            hi[j] = key & cmask
            vals[j] = w
        else:
            vals[j] += w
        i = run
    return lo, hi, vals


@_compiled
def mirror(
    lo: np.ndarray, hi: np.ndarray, w: np.ndarray, vocab_size: int
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:  # pragma: no cover - compiled
    """Both directions of canonical pairs sorted by ``(lo, hi)``, each sorted by row.

    Returns ``(lo, hi, w)`` with a diagonal entry's weight doubled, then the off-diagonal
    entries as ``(hi, lo, w)`` in ``(hi, lo)`` order: a stable counting sort by ``hi``
    (``O(n + vocab_size)``), the order the reference's sort of ``hi << 32 | index`` gives.
    """
    n = lo.size
    w1 = np.empty(n, np.float64)
    starts = np.zeros(vocab_size + 1, np.int64)
    off = 0
    for i in range(n):
        if lo[i] == hi[i]:
            w1[i] = 2.0 * w[i]
        else:
            w1[i] = w[i]
            starts[hi[i] + 1] += 1
            off += 1
    for r in range(vocab_size):
        starts[r + 1] += starts[r]
    rows = np.empty(off, np.int64)
    cols = np.empty(off, np.int64)
    w2 = np.empty(off, np.float64)
    for i in range(n):
        if lo[i] != hi[i]:
            at = starts[hi[i]]
            starts[hi[i]] = at + 1
            rows[at] = hi[i]
            cols[at] = lo[i]
            w2[at] = w[i]
    return lo, hi, w1, rows, cols, w2


@_compiled
def encode_records(
    rows: np.ndarray, cols: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The records of :func:`latentspark.cooccurrence.row_payloads` and their column bytes.

    A record ends where its row ends or after ``cap`` entries of a row. Returns each
    record's first entry (and, last, the entry count), its byte offset in the column bytes
    (and, last, their length), and the bytes: a record's columns as little-endian ``uint16``
    steps (the first from 0) when every step is in ``[0, 2**16)``, else as ``int32``.
    """
    n = rows.size
    m = 0
    within = 0
    for i in range(n):
        if i == 0 or rows[i] != rows[i - 1]:
            within = 0
        if within % cap == 0:
            m += 1
        within += 1
    bounds = np.empty(m + 1, np.int64)
    j = 0
    for i in range(n):
        if i == 0 or rows[i] != rows[i - 1]:
            within = 0
        if within % cap == 0:
            bounds[j] = i
            j += 1
        within += 1
    bounds[m] = n
    offsets = np.empty(m + 1, np.int64)
    small = np.empty(m, np.bool_)
    size = 0
    for r in range(m):
        offsets[r] = size
        ok = True
        for i in range(bounds[r] + 1, bounds[r + 1]):
            step = cols[i] - cols[i - 1]
            if step < 0 or step >= 65536:
                ok = False
                break
        first = cols[bounds[r]]
        if first < 0 or first >= 65536:
            ok = False
        small[r] = ok
        size += (bounds[r + 1] - bounds[r]) * (2 if ok else 4)
    offsets[m] = size
    out = np.empty(size, np.uint8)
    for r in range(m):
        at = offsets[r]
        prev = 0
        for i in range(bounds[r], bounds[r + 1]):
            if small[r]:
                v = cols[i] - prev
                prev = cols[i]
                out[at] = v & 0xFF
                out[at + 1] = (v >> 8) & 0xFF
                at += 2
            else:
                v = cols[i] & 0xFFFFFFFF
                out[at] = v & 0xFF
                out[at + 1] = (v >> 8) & 0xFF
                out[at + 2] = (v >> 16) & 0xFF
                out[at + 3] = (v >> 24) & 0xFF
                at += 4
    return bounds, offsets, out, small


@_compiled
def _emit_row(
    row: int,
    count: int,
    touched: np.ndarray,
    mark: np.ndarray,
    acc: np.ndarray,
    out_rows: np.ndarray,
    out_cols: np.ndarray,
    out_vals: np.ndarray,
    j: int,
) -> int:  # pragma: no cover - compiled
    """Write row ``row``'s ``count`` summed columns in column order from ``j``; returns the
    new end. Few columns are sorted; a row with many is read off ``mark`` in order."""
    stamp = row + 1
    if count * 16 > mark.size:
        for c in range(mark.size):
            if mark[c] == stamp:
                out_rows[j] = row
                out_cols[j] = c
                out_vals[j] = acc[c]
                j += 1
    else:
        cols = np.sort(touched[:count])
        for i in range(count):
            c = cols[i]
            out_rows[j] = row
            out_cols[j] = c
            out_vals[j] = acc[c]
            j += 1
    return j


@_compiled
def merge_rows(
    rows: np.ndarray,
    lengths: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    acc: np.ndarray,
    mark: np.ndarray,
    touched: np.ndarray,
    state: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Sum partial rows arriving in row order, one row at a time, in a dense accumulator.

    ``acc``, ``mark`` and ``touched`` (``vocab_size`` each) and ``state`` (the row being
    summed, or -1, and its column count) persist between calls: the batch's last row may go
    on in the next batch, so it is held until a later row (or :func:`finish_rows`) ends it.
    A column ``c`` is in the current row when ``mark[c] == row + 1``: nothing is cleared
    between rows. Returns the complete rows' ``(rows, cols, sums)`` sorted by
    ``(row, col)``; each sum adds the entries in the order they arrive.
    """
    cur = state[0]
    count = state[1]
    total = count
    for r in range(lengths.size):
        total += lengths[r]
    out_rows = np.empty(total, np.int32)
    out_cols = np.empty(total, np.int32)
    out_vals = np.empty(total, np.float64)
    j = 0
    at = 0
    for r in range(rows.size):
        row = rows[r]
        if row != cur:
            if cur >= 0:
                j = _emit_row(cur, count, touched, mark, acc, out_rows, out_cols, out_vals, j)
            cur = row
            count = 0
        stamp = row + 1
        for i in range(at, at + lengths[r]):
            c = cols[i]
            if mark[c] != stamp:
                mark[c] = stamp
                touched[count] = c
                count += 1
                acc[c] = weights[i]
            else:
                acc[c] += weights[i]
        at += lengths[r]
    state[0] = cur
    state[1] = count
    return out_rows[:j], out_cols[:j], out_vals[:j]


@_compiled
def finish_rows(
    acc: np.ndarray, mark: np.ndarray, touched: np.ndarray, state: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """The row :func:`merge_rows` holds, summed (empty when it holds none)."""
    cur = state[0]
    count = state[1] if cur >= 0 else 0
    out_rows = np.empty(count, np.int32)
    out_cols = np.empty(count, np.int32)
    out_vals = np.empty(count, np.float64)
    if count:
        _emit_row(cur, count, touched, mark, acc, out_rows, out_cols, out_vals, 0)
    state[0] = -1
    state[1] = 0
    return out_rows, out_cols, out_vals
