"""Token ids straight from UTF-8 bytes, in numpy: the counting job's fast tokenizer and look-up.

Two pieces, both vectorised over whole Arrow buffers (never a Python loop per token):

* :func:`ascii_tokens` splits ASCII lines with the default token rule
  (:data:`latentspark.config.DEFAULT_TOKEN_PATTERN`): on ASCII text the Java pattern
  ``[\\p{L}\\p{N}]+(?:'[\\p{L}\\p{N}]+)*`` matches exactly the maximal runs of bytes that are
  letters or digits, or an apostrophe with a letter or digit on both sides in its line; NFKC
  leaves ASCII as it is, and Spark's ``lower`` lower-cases ASCII byte by byte. So the counting
  job hands ASCII lines to Python as raw text and the JVM tokenises only the others (most
  lines of most corpora are ASCII; the regex was the stage's largest cost);
* :class:`WordTable` maps tokens (byte ranges of a buffer) to vocabulary ids with an
  open-addressing table over a 64-bit hash of their bytes, and checks every hit against the
  word's bytes, so a token is never mistaken for another word, whatever the hashes do.

A token's bytes are read eight at a time through an unaligned ``uint64`` view of a padded
copy of the buffer (:func:`_words8`): a token of up to 8 bytes is one load and one mask.

The counting tasks run both pieces as compiled loops (:mod:`latentspark.pairkernels`:
:meth:`WordTable.lookup_ascii` splits and looks up in one pass, with no token buffer); the
numpy functions here are the reference they are tested against, and define the hash.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
#: byte -> is an ASCII letter or digit
_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[np.r_[48:58, 65:91, 97:123]] = True
#: byte -> the byte lower-cased (ASCII letters only, as Spark's ``lower`` does on ASCII)
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[65:91] += 32
_APOSTROPHE = 39
#: MASKS[k]: the low k bytes of a little-endian uint64 (k = 0..8)
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=_U64)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place where it can be (``uint64``, wrapping)."""
    z ^= z >> _U64(30)
    z *= _MIX1
    z ^= z >> _U64(27)
    z *= _MIX2
    z ^= z >> _U64(31)
    return z


def _words8(buf: np.ndarray) -> np.ndarray:
    """An unaligned ``uint64`` view of ``buf``: element ``i`` holds bytes ``i .. i + 7``.

    ``buf`` must end with 8 padding bytes; the view has ``buf.size - 7`` elements.
    """
    return np.ndarray((buf.size - 7,), dtype="<u8", buffer=buf, offset=0, strides=(1,))


def _padded(data: np.ndarray, lut: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``data`` (``uint8``) with 8 zero bytes after it, mapped through ``lut``."""
    out = np.zeros(data.size + 8, dtype=np.uint8)
    if lut is None:
        out[:data.size] = data
    else:
        np.take(lut, data, out=out[:data.size])
    return out


def _chunk(words8: np.ndarray, starts: np.ndarray, lengths: np.ndarray, c: int) -> np.ndarray:
    """Bytes ``8c .. 8c + 7`` of each token (``uint64``, zero past its end)."""
    rest = np.clip(lengths - 8 * c, 0, 8)
    return words8[starts + 8 * c] & _MASKS[rest]


def byte_hashes(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of each byte range ``buf[s : s + n]``, and its first 8 bytes.

    Parameters
    ----------
    buf : numpy.ndarray
        ``uint8`` bytes followed by 8 padding bytes (see :func:`_padded`).
    starts, lengths : numpy.ndarray
        ``int64`` start and length of each range.

    Returns
    -------
    hashes : numpy.ndarray
        ``uint64`` hashes; equal ranges hash alike, in any buffer.
    first : numpy.ndarray
        ``uint64`` bytes 0 .. 7 of each range (zero past its end), kept for the exact check.
    """
    words8 = _words8(buf)
    first = _chunk(words8, starts, lengths, 0)
    with np.errstate(over="ignore"):
        h = _mix(first ^ (lengths.astype(_U64) * _GOLDEN))
        # most tokens fit in 8 bytes: the next chunks touch only the longer ones
        c, longer = 1, np.flatnonzero(lengths > 8)
        while longer.size:
            h[longer] = _mix(h[longer] ^ _chunk(words8, starts[longer], lengths[longer], c))
            c += 1
            longer = longer[lengths[longer] > 8 * c]
    return h, first


def ascii_tokens(data: np.ndarray, offsets: np.ndarray, lowercase: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ASCII lines into tokens with the default token rule.

    Parameters
    ----------
    data : numpy.ndarray
        ``uint8`` bytes of the lines, one after the other (an Arrow string array's data).
    offsets : numpy.ndarray
        Line ``i`` is ``data[offsets[i] : offsets[i + 1]]``; ``offsets[0]`` may be non-zero.
    lowercase : bool
        Lower-case the tokens (``tokenize.lowercase``).

    Returns
    -------
    buf : numpy.ndarray
        The lines' bytes (lower-cased if asked) with 8 padding bytes, which the token
        ranges index.
    starts, lengths : numpy.ndarray
        ``int64`` start in ``buf`` and length of each token, in line order.
    line : numpy.ndarray
        ``int64`` index of each token's line.

    Examples
    --------
    >>> text = b"Don't 'quote' a''b x'"
    >>> buf, s, n, line = ascii_tokens(np.frombuffer(text, np.uint8), np.array([0, 21]))
    >>> [bytes(buf[i:i + k]).decode() for i, k in zip(s, n)]
    ["don't", 'quote', 'a', 'b', 'x']
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lo, hi = int(offsets[0]), int(offsets[-1])
    raw = np.asarray(data[lo:hi], dtype=np.uint8)
    n = raw.size
    empty = np.zeros(0, np.int64)
    buf = _padded(raw, _LOWER if lowercase else None)
    if n == 0:
        return buf, empty, empty, empty
    # first[i]: byte i starts a line (index n closes the last one), so that no run of token
    # bytes joins two lines
    first = np.zeros(n + 1, dtype=bool)
    first[offsets[:-1] - lo] = True
    first[n] = True
    alnum = _ALNUM[raw]
    # an apostrophe belongs to a token only between two letters or digits of its line
    inner = raw[1:-1] == _APOSTROPHE
    inner &= alnum[:-2]
    inner &= alnum[2:]
    inner &= ~first[1:-2]
    inner &= ~first[2:-1]
    tok = alnum.copy()
    tok[1:-1] |= inner
    # a token starts where token bytes start after a non-token byte or a line start, and
    # ends before a non-token byte or a line end
    cont = np.empty(n, dtype=bool)  # byte i continues the run of byte i - 1
    cont[0] = False
    np.logical_and(tok[1:], tok[:-1], out=cont[1:])
    cont &= ~first[:-1]
    starts = np.flatnonzero(tok & ~cont)
    nxt = np.append(cont[1:], False)
    lasts = np.flatnonzero(tok & ~nxt)
    line = np.searchsorted(offsets - lo, starts, side="right") - 1
    return buf, starts, lasts - starts + 1, line



def _read_only(data: np.ndarray) -> np.ndarray:
    """A read-only ``uint8`` view of ``data``: the compiled look-ups then see one argument
    type (and load one cached compilation) whether Arrow's buffer was writable or not."""
    view = np.asarray(data, np.uint8).view()
    view.flags.writeable = False
    return view


def slot_bits(n: int) -> int:
    """log2 of an open-addressing table's slot count for ``n`` keys: at least twice the
    keys, so that probe runs stay short.

    Examples
    --------
    >>> slot_bits(0), slot_bits(8), slot_bits(9)
    (4, 4, 5)
    """
    return max(4, int(2 * max(n, 1) - 1).bit_length())


def place_in_slots(home: np.ndarray, bits: int) -> np.ndarray:
    """Linear probing, vectorised: key ``i`` takes the first free slot from ``home[i]``.

    Keys are placed in index order (of several wanting one free slot the first takes it;
    the rest probe on), so the layout is the same in every worker.

    Parameters
    ----------
    home : numpy.ndarray
        ``int64`` home slot of each key, below ``2**bits``.
    bits : int
        log2 of the slot count (:func:`slot_bits`).

    Returns
    -------
    numpy.ndarray
        ``int32`` slots holding a key's index, or -1 where free.

    Examples
    --------
    >>> place_in_slots(np.array([3, 3, 0]), 2).tolist()
    [2, 1, -1, 0]
    """
    size = 1 << bits
    mask = size - 1
    slots = np.full(size, -1, np.int32)
    pos = np.array(home, np.int64)
    todo = np.arange(pos.size)
    while todo.size:
        p = pos[todo]
        free = slots[p] < 0
        taken, first = np.unique(p[free], return_index=True)
        won = todo[free][first]
        slots[taken] = won
        placed = np.zeros(pos.size, bool)
        placed[won] = True
        todo = todo[~placed[todo]]
        pos[todo] = (pos[todo] + 1) & mask
    return slots


def probe_slots(slots: np.ndarray, home: np.ndarray, same) -> np.ndarray:
    """Linear-probing look-up of many queries at once in a table of :func:`place_in_slots`.

    Parameters
    ----------
    slots : numpy.ndarray
        The table: a key's index per slot, -1 where free.
    home : numpy.ndarray
        ``int64`` home slot of each query.
    same : callable
        ``same(queries, keys)``: whether each query (index into ``home``) is the key at that
        index; called only on occupied slots.

    Returns
    -------
    numpy.ndarray
        ``int64`` key index of each query, -1 where absent.

    Examples
    --------
    >>> keys = np.array([30, 31, 20])
    >>> slots = place_in_slots(np.array([3, 3, 0]), 2)
    >>> queries = np.array([31, 20, 99])
    >>> probe_slots(slots, np.array([3, 0, 3]), lambda q, k: keys[k] == queries[q]).tolist()
    [1, 2, -1]
    """
    out = np.full(home.size, -1, np.int64)
    mask = slots.size - 1
    todo, pos = np.arange(home.size), np.asarray(home, np.int64)
    while todo.size:
        row = slots[pos]
        full = np.flatnonzero(row >= 0)
        hit = np.zeros(todo.size, bool)
        hit[full] = same(todo[full], row[full])
        out[todo[hit]] = row[hit]
        # an occupied slot holding another key: probe the next one; an empty one: absent
        on = (row >= 0) & ~hit
        todo, pos = todo[on], (pos[on] + 1) & mask
    return out

class WordTable:
    """The vocabulary as an open-addressing table over hashes of the words' UTF-8 bytes.

    A look-up hashes each token's bytes (:func:`byte_hashes`), probes the table from the
    slot the hash's top bits name, and accepts a word only when its hash, length and bytes
    all equal the token's: two words sharing a hash are two keys, and a token that only
    shares a word's hash is not that word. Memory: the words' bytes, 16 bytes a word and
    at least two ``int32`` slots a word; built once per worker process.

    Parameters
    ----------
    data : numpy.ndarray
        ``uint8`` UTF-8 bytes of the words, one after the other.
    offsets : numpy.ndarray
        Word ``i`` is ``data[offsets[i] : offsets[i + 1]]`` and has id ``i``.

    Examples
    --------
    >>> t = WordTable.from_words(["the", "cat", "internationalization"])
    >>> t.lookup_strings(["cat", "dog", "the", "internationalisation",
    ...                   "internationalization"]).tolist()
    [1, -1, 0, -1, 2]
    """

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        self.buf = _padded(np.asarray(data[offsets[0]:offsets[-1]], dtype=np.uint8))
        self.starts = offsets[:-1] - offsets[0]
        self.lengths = np.diff(offsets)
        self.hashes, self._first = byte_hashes(self.buf, self.starts, self.lengths)
        self._slots: np.ndarray | None = None

    @classmethod
    def from_arrow(cls, words) -> WordTable:
        """The table of a pyarrow string array of words in id order."""
        data, offsets = string_buffers(words)
        return cls(data, offsets)

    @classmethod
    def from_words(cls, words: list[str]) -> WordTable:
        """The table of Python strings in id order."""
        import pyarrow as pa

        return cls.from_arrow(pa.array(words, pa.string()))

    def __len__(self) -> int:
        return int(self.lengths.size)

    def __getstate__(self) -> dict:
        # the slots are rebuilt where they are used
        end = int(self.starts[-1] + self.lengths[-1]) if len(self) else 0
        return {"data": self.buf[:end], "offsets": np.append(self.starts, end)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["data"], state["offsets"])

    @property
    def bits(self) -> int:
        """log2 of the slot count (:func:`slot_bits`)."""
        return slot_bits(len(self))

    def _home(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes >> _U64(64 - self.bits)).astype(np.int64)

    def _build(self) -> np.ndarray:
        """Place every word in the first free slot from its home slot, in id order."""
        return place_in_slots(self._home(self.hashes), self.bits)

    def _same_bytes(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
                    first: np.ndarray, words: np.ndarray) -> np.ndarray:
        """Whether each token (of equal hash) has exactly the bytes of its candidate word;
        ``first`` holds the tokens' first 8 bytes."""
        same = lengths == self.lengths[words]
        same &= first == self._first[words]
        c, longer = 1, np.flatnonzero(same & (lengths > 8))
        while longer.size:
            w = words[longer]
            ok = (_chunk(_words8(buf), starts[longer], lengths[longer], c)
                  == _chunk(_words8(self.buf), self.starts[w], self.lengths[w], c))
            same[longer[~ok]] = False
            c += 1
            longer = longer[ok & (lengths[longer] > 8 * c)]
        return same

    def lookup(self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
               compiled: bool = True) -> np.ndarray:
        """Vocabulary id of each token ``buf[s : s + n]``, or -1.

        Parameters
        ----------
        buf : numpy.ndarray
            ``uint8`` bytes with 8 padding bytes at the end.
        starts, lengths : numpy.ndarray
            ``int64`` token ranges in ``buf``.
        compiled : bool
            Hash and probe token by token in a compiled loop
            (:func:`latentspark.pairkernels.lookup_ranges`) instead of with numpy's
            whole-array passes (the reference); the ids are the same.

        Returns
        -------
        numpy.ndarray
            ``int64`` ids.
        """
        out = np.full(starts.size, -1, np.int64)
        if not len(self) or not starts.size:
            return out
        if self._slots is None:
            self._slots = self._build()
        if compiled:
            from latentspark import pairkernels

            return pairkernels.lookup_ranges(
                _read_only(buf), np.asarray(starts, np.int64),
                np.asarray(lengths, np.int64), self._table())
        hashes, first = byte_hashes(buf, starts, lengths)

        def same(t: np.ndarray, row: np.ndarray) -> np.ndarray:
            hit = self.hashes[row] == hashes[t]
            maybe = np.flatnonzero(hit)  # equal hashes: compare the bytes
            t = t[maybe]
            hit[maybe] = self._same_bytes(buf, starts[t], lengths[t], first[t], row[maybe])
            return hit

        return probe_slots(self._slots, self._home(hashes), same)

    def _table(self) -> tuple:
        """What the compiled look-ups read: slots, bits, and the words' bytes (the first 8
        as one number); the slots are built on first use."""
        if self._slots is None:
            self._slots = self._build()
        return self._slots, self.bits, self._first, self.buf, self.starts, self.lengths

    def lookup_ascii(self, data: np.ndarray, offsets: np.ndarray, lowercase: bool = True,
                     compiled: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The vocabulary words among the tokens of ASCII lines, and the line of each.

        The tokens are :func:`ascii_tokens`'s; the compiled path
        (:func:`latentspark.pairkernels.ascii_ids`) finds and looks them up in one pass over
        the bytes, with no token buffer; ``compiled=False`` is :func:`ascii_tokens` and
        :meth:`lookup` (the reference). Tokens outside the vocabulary are left out.

        Parameters
        ----------
        data, offsets : numpy.ndarray
            As for :func:`ascii_tokens` (:func:`string_buffers` of the lines).
        lowercase : bool
            Lower-case the tokens (``tokenize.lowercase``).
        compiled : bool
            Use the compiled loop.

        Returns
        -------
        ids, line : numpy.ndarray
            ``int64`` id and line index of each vocabulary token, in line order.

        Examples
        --------
        >>> t = WordTable.from_words(["don't", "b"])
        >>> ids, line = t.lookup_ascii(np.frombuffer(b"Don't a''b", np.uint8), np.array([0, 6, 10]))
        >>> ids.tolist(), line.tolist()
        ([0, 1], [0, 1])
        """
        offsets = np.asarray(offsets, dtype=np.int64)
        if not compiled or not len(self) or offsets[-1] == offsets[0]:
            buf, starts, lengths, line = ascii_tokens(data, offsets, lowercase)
            ids = self.lookup(buf, starts, lengths, compiled=compiled)
            kept = ids >= 0
            return ids[kept], line[kept]
        from latentspark import pairkernels

        return pairkernels.ascii_ids(_read_only(data), offsets, bool(lowercase), self._table())

    def lookup_arrow(self, strings, compiled: bool = True) -> np.ndarray:
        """Vocabulary id of each value of a pyarrow string array (nulls: -1)."""
        data, offsets = string_buffers(strings)
        lo = int(offsets[0]) if offsets.size else 0
        buf = _padded(np.asarray(data[lo:int(offsets[-1])] if offsets.size else data[:0]))
        ids = self.lookup(buf, offsets[:-1] - lo, np.diff(offsets), compiled=compiled)
        if strings.null_count:
            ids[~np.asarray(strings.is_valid())] = -1
        return ids

    def lookup_strings(self, words: list[str], compiled: bool = True) -> np.ndarray:
        """Vocabulary id of each Python string, or -1."""
        import pyarrow as pa

        return self.lookup_arrow(pa.array(words, pa.string()), compiled=compiled)


def string_buffers(strings) -> tuple[np.ndarray, np.ndarray]:
    """The data bytes (``uint8``) and offsets (``int64``, one more than values) of a pyarrow
    string or large string array, without copying the data."""
    import pyarrow as pa

    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    large = pa.types.is_large_string(strings.type)
    width = 8 if large else 4
    bufs = strings.buffers()
    n = len(strings)
    offsets = np.frombuffer(bufs[1], np.int64 if large else np.int32, n + 1,
                            strings.offset * width).astype(np.int64)
    data = (np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size
            else np.zeros(0, np.uint8))
    return data, offsets
