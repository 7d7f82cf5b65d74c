"""Compiled (numba) loops of the co-occurrence counting tasks.

Each function here does in one pass over its input what :mod:`latentspark.cooccurrence`'s
numpy reference does with a chain of whole-array operations, each of which allocates and
reads a temporary as large as the input: for a task, the windowed pairs of a batch, the
reduction of sorted packed pairs, their mirror image, and the partial-row records' bytes.
The results are identical, bit for bit, to the numpy reference's (the tests compare them).

The module is imported only where the loops run (the Python workers), so that the driver
does not pay numba's import. ``cache=True`` keeps the machine code in a per-user folder named
by this file's content (:func:`_cache_by_content`): a worker process loads it in milliseconds
and compiles only once per machine and version of this file, installed or zipped; Spark's reused
Python workers (``spark.python.worker.reuse``) load it once per process, not per task.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
from numba import njit


def _cache_by_content() -> None:
    """Keep numba's cache of these kernels in one per-user folder named by this file's
    content, wherever the file is imported from.

    numba files machine code next to the source, or under a hash of the source's folder;
    but a cluster fetches ``--py-files`` into a new folder for every application and
    executor, so each executor's first counting task would compile every kernel again (tens
    of seconds of CPU each time). Keyed by content, the code compiled once on a machine
    (``scripts/setup.sh`` runs :func:`warm`) serves the installed package and every zip of
    the same version. ``NUMBA_CACHE_DIR`` is honoured; numba's own placement stays where its
    (internal) cache classes differ or no such folder is writable.
    """
    try:
        from numba.core import caching, config

        impl = caching.CacheImpl
        bases = (caching.UserWideCacheLocator, caching.ZipCacheLocator)
        source = __loader__.get_source(__name__)
    except (ImportError, AttributeError):  # pragma: no cover - another numba or loader
        return
    folder = "latentspark_pairkernels_" + hashlib.sha256(source.encode()).hexdigest()[:20]

    def by_content(base: type) -> type:
        class ContentLocator(base):
            def __init__(self, py_func, py_file) -> None:
                super().__init__(py_func, py_file)
                root = config.CACHE_DIR or os.path.dirname(self._cache_path)
                self._cache_path = os.path.join(root, folder)

            @classmethod
            def from_function(cls, py_func, py_file):
                return super().from_function(py_func, py_file) if py_file == __file__ else None

        return ContentLocator

    if not any(c.__name__ == "ContentLocator" for c in impl._locator_classes):
        impl._locator_classes = [*map(by_content, bases), *impl._locator_classes]


_cache_by_content()


def _compiled(fn=None, **options):
    """``njit`` with machine code cached on disk, or, where no cache folder is writable
    (numba refuses ``cache=True`` there), compiled once per process."""
    if fn is None:
        return lambda f: _compiled(f, **options)
    try:
        return njit(cache=True, nogil=True, **options)(fn)
    except RuntimeError:  # pragma: no cover - read-only package and home folders
        return njit(nogil=True, **options)(fn)


#: small helpers are inlined into their callers: a call that passes arrays costs reference
#: counting per array, more than the helper's own work
_helper = _compiled(inline="always")


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
    bounds = np.empty(n + 1, np.int64)  # at most one record an entry
    m = 0
    within = 0
    for i in range(n):
        if i == 0 or rows[i] != rows[i - 1]:
            within = 0
        if within % cap == 0:
            bounds[m] = i
            m += 1
        within += 1
    bounds[m] = n
    bounds = bounds[: m + 1].copy()
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
def decode_records(
    lengths: np.ndarray, col_offsets: np.ndarray, col_bytes: np.ndarray,
    weight_offsets: np.ndarray, weight_bytes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The columns and weights of :func:`latentspark.cooccurrence.row_payloads`' records,
    entry after entry: :func:`latentspark.cooccurrence.payload_arrays` in one pass.

    Record ``r`` holds ``lengths[r]`` entries; its columns are
    ``col_bytes[col_offsets[r] : col_offsets[r + 1]]``: two bytes an entry are ``uint16``
    steps (the first from 0), four an entry ``int32``; its weights likewise four bytes an
    entry ``uint32``, eight ``float64``; all little-endian.
    """
    n = 0
    for r in range(lengths.size):
        n += lengths[r]
    cols = np.empty(n, np.int64)
    weights = np.empty(n, np.float64)
    bits = np.empty(1, np.uint64)
    as_float = bits.view(np.float64)
    at = 0
    for r in range(lengths.size):
        count = np.int64(lengths[r])
        p = np.int64(col_offsets[r])
        if np.int64(col_offsets[r + 1]) - p == 2 * count:
            prev = np.int64(0)
            for j in range(count):
                prev += np.int64(col_bytes[p]) | (np.int64(col_bytes[p + 1]) << 8)
                cols[at + j] = prev
                p += 2
        else:
            for j in range(count):
                v = (np.int64(col_bytes[p]) | (np.int64(col_bytes[p + 1]) << 8)
                     | (np.int64(col_bytes[p + 2]) << 16) | (np.int64(col_bytes[p + 3]) << 24))
                cols[at + j] = v - (np.int64(1) << 32) if v >= (np.int64(1) << 31) else v
                p += 4
        p = np.int64(weight_offsets[r])
        if np.int64(weight_offsets[r + 1]) - p == 4 * count:
            for j in range(count):
                weights[at + j] = np.float64(
                    np.uint64(weight_bytes[p]) | (np.uint64(weight_bytes[p + 1]) << np.uint64(8))
                    | (np.uint64(weight_bytes[p + 2]) << np.uint64(16))
                    | (np.uint64(weight_bytes[p + 3]) << np.uint64(24)))
                p += 4
        else:
            for j in range(count):
                b = np.uint64(0)
                for k in range(8):
                    b |= np.uint64(weight_bytes[p + k]) << np.uint64(8 * k)
                bits[0] = b
                weights[at + j] = as_float[0]
                p += 8
        at += count
    return cols, weights


@_helper
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


# -------------------------------------------------------------------------------------------
# tokens to ids: latentspark.wordtable's tokenizer and hash-table look-up in one pass

_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@_helper
def _mix(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


@_helper
def _load8(buf: np.ndarray, start: int, count: int, lower: bool) -> np.uint64:  # pragma: no cover
    """Bytes ``start .. start + count - 1`` (``count <= 8``) as a little-endian ``uint64``,
    ASCII letters lower-cased when ``lower``."""
    v = np.uint64(0)
    for i in range(count):
        b = buf[start + i]
        if lower and 65 <= b <= 90:
            b += 32
        v |= np.uint64(b) << np.uint64(8 * i)
    return v


@_helper
def _find(
    buf: np.ndarray, start: int, length: int, lower: bool, table: tuple
) -> int:  # pragma: no cover - compiled
    """The id of the word whose bytes are ``buf[start : start + length]`` (lower-cased when
    ``lower``), or -1: :func:`latentspark.wordtable.byte_hashes`'s hash, then linear probing
    from the slot its top ``bits`` bits name; a word is accepted on equal length and bytes
    (its first 8 bytes, ``wfirst``, compared as one number: most words need nothing else).
    ``table`` is :meth:`latentspark.wordtable.WordTable._table`'s ``(slots, bits, wfirst,
    wbuf, wstarts, wlengths)``."""
    slots, bits, wfirst, wbuf, wstarts, wlengths = table
    first = _load8(buf, start, min(length, 8), lower)
    h = _mix(first ^ (np.uint64(length) * _GOLDEN))
    c = 1
    while length > 8 * c:
        h = _mix(h ^ _load8(buf, start + 8 * c, min(length - 8 * c, 8), lower))
        c += 1
    mask = slots.size - 1
    pos = np.int64(h >> np.uint64(64 - bits))
    while True:
        row = slots[pos]
        if row < 0:
            return -1
        if wlengths[row] == length and wfirst[row] == first:
            same = True
            ws = wstarts[row]
            c = 1
            while same and length > 8 * c:
                k = min(length - 8 * c, 8)
                same = _load8(buf, start + 8 * c, k, lower) == _load8(wbuf, ws + 8 * c, k, False)
                c += 1
            if same:
                return row
        pos = (pos + 1) & mask


@_compiled
def lookup_ranges(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, table: tuple
) -> np.ndarray:  # pragma: no cover - compiled
    """:meth:`latentspark.wordtable.WordTable.lookup` of byte ranges: id of each, or -1."""
    out = np.empty(starts.size, np.int64)
    for t in range(starts.size):
        out[t] = _find(buf, starts[t], lengths[t], False, table)
    return out


#: byte classes of :func:`ascii_ids`' scan: 1 a letter or digit, 2 an apostrophe, 0 the rest
_CLASS = np.zeros(256, np.uint8)
_CLASS[np.r_[48:58, 65:91, 97:123]] = 1
_CLASS[39] = 2
#: each byte lower-cased (ASCII letters only)
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32


@_helper
def _probe(first: np.uint64, h: np.uint64, length: int, table: tuple) -> int:  # pragma: no cover
    """:func:`_find` for a word of at most 8 bytes, given as ``first`` with its hash ``h``.

    The same probe as :func:`_find`'s, kept apart on purpose: with :func:`_find`'s general
    loop (hash and compare past 8 bytes) inlined in its place, :func:`ascii_ids` lost the
    speed it gains from reading each byte once.
    """
    slots, bits, wfirst, wbuf, wstarts, wlengths = table
    mask = slots.size - 1
    pos = np.int64(h >> np.uint64(64 - bits))
    while True:
        row = slots[pos]
        if row < 0:
            return -1
        if wfirst[row] == first and wlengths[row] == length:
            return row
        pos = (pos + 1) & mask


@_compiled
def ascii_ids(
    data: np.ndarray, offsets: np.ndarray, lower: bool, table: tuple
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The vocabulary tokens of ASCII lines: :func:`latentspark.wordtable.ascii_tokens` and
    the look-up of each token in one pass, without a token buffer.

    Line ``l`` is ``data[offsets[l] : offsets[l + 1]]``. A token is a maximal run, inside a
    line, of letters and digits and of apostrophes with a letter or digit on both sides.
    Returns the ids of the tokens that are vocabulary words, and each one's line, in order.

    Each byte is read once: a token's first 8 bytes (lower-cased) are gathered as one number
    while it is scanned, which for the many words of up to 8 bytes is all the look-up needs
    (:func:`_probe`); longer words go to :func:`_find`.
    """
    lines = offsets.size - 1
    # at most one token every two bytes (a token and its separator), or one on a last byte
    cap = (offsets[lines] - offsets[0]) // 2 + lines
    ids = np.empty(cap, np.int64)
    at = np.empty(cap, np.int64)
    m = 0
    for ln in range(lines):
        lo = offsets[ln]
        hi = offsets[ln + 1]
        i = lo
        while i < hi:
            # skip to a letter or digit (a token never starts with an apostrophe)
            while i < hi and _CLASS[data[i]] != 1:
                i += 1
            if i >= hi:
                break
            s = i
            first = np.uint64(0)
            while i < hi:
                b = data[i]
                k = _CLASS[b]
                if k == 0 or (k == 2 and (i + 1 >= hi or _CLASS[data[i + 1]] != 1)):
                    break
                if i - s < 8:
                    if lower:
                        b = _LOWER[b]
                    first |= np.uint64(b) << np.uint64(8 * (i - s))
                i += 1
            n = i - s
            if n <= 8:
                row = _probe(first, _mix(first ^ (np.uint64(n) * _GOLDEN)), n, table)
            else:
                row = _find(data, s, n, lower, table)
            if row >= 0:
                ids[m] = row
                at[m] = ln
                m += 1
    return ids[:m].copy(), at[:m].copy()


def warm() -> None:
    """Compile every kernel for the argument types the counting tasks pass, so that the
    machine code is in numba's cache before the first Spark job (``scripts/setup.sh`` runs
    it): a cold cache costs each Python worker of that job tens of seconds of compiling."""
    from latentspark.cooccurrence import PairCounter, RowMerger, row_payloads
    from latentspark.wordtable import WordTable

    counter = PairCounter(100, np.arange(11.0), 10, 100)
    parts = list(counter.add(np.arange(50), np.zeros(50, np.int64))) + list(counter.finish())
    row_payloads(*parts[0], 5)
    merger = RowMerger(100)
    list(merger.add(np.array([1]), np.array([1]), np.array([3]), np.array([1.0])))
    list(merger.finish())
    table = WordTable.from_words(["a", "b"])
    table.lookup_ascii(np.frombuffer(b"a b", np.uint8), np.array([0, 3]))
    table.lookup_strings(["a"])
