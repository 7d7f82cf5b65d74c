"""The numpy pair-counting kernel against the brute-force reference (no Spark)."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentspark.cooccurrence import (
    PairCounter,
    RowMerger,
    distance_weights,
    keep_probabilities,
    payload_arrays,
    row_payloads,
    token_uniforms,
)
from latentspark.wordtable import WordTable, ascii_tokens, string_buffers
from tests.reference import reference_cooccur


def run_counter(lines: list[list[int]], vocab_size: int, window: int, weighting: str,
                dynamic: bool, dense_words: int, buffer_pairs: int,
                batch_lines: int) -> dict[tuple[int, int], float]:
    counter = PairCounter(vocab_size, distance_weights(window, weighting, dynamic),
                          dense_words, buffer_pairs)
    parts = []
    for s in range(0, len(lines), batch_lines):
        batch = lines[s:s + batch_lines]
        ids = np.array([t for line in batch for t in line], dtype=np.int64)
        line = np.repeat(np.arange(len(batch)), [len(x) for x in batch])
        parts.extend(counter.add(ids, line))
    parts.extend(counter.finish())
    out: dict[tuple[int, int], float] = {}
    for rows, cols, vals in parts:
        assert np.all(np.diff(rows) >= 0)  # each run comes in row order
        for r, c, v in zip(rows.tolist(), cols.tolist(), vals.tolist(), strict=True):
            out[r, c] = out.get((r, c), 0.0) + v
    return out


def assert_counts_equal(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-6), key


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.lists(st.integers(0, 11), max_size=30), min_size=1, max_size=25),
    window=st.integers(1, 15),
    weighting=st.sampled_from(["harmonic", "uniform"]),
    dynamic=st.booleans(),
    dense_words=st.sampled_from([0, 1, 5, 12, 100]),
    buffer_pairs=st.sampled_from([1, 7, 10_000]),
    batch_lines=st.integers(1, 10),
)
def test_kernel_equals_brute_force(lines, window, weighting, dynamic, dense_words,
                                   buffer_pairs, batch_lines):
    words = {str(i): i for i in range(12)}
    want = reference_cooccur([[str(t) for t in line] for line in lines], words, window,
                             weighting, dynamic)
    got = run_counter(lines, 12, window, weighting, dynamic, dense_words, buffer_pairs,
                      batch_lines)
    assert_counts_equal(got, want)


def test_windows_do_not_cross_lines():
    # two lines "0 1" and "2 3": 1 and 2 are adjacent in the flat array but never co-occur
    got = run_counter([[0, 1], [2, 3]], 4, 5, "uniform", False, 0, 100, 10)
    assert got == {(0, 1): 1.0, (1, 0): 1.0, (2, 3): 1.0, (3, 2): 1.0}


def test_self_pairs_count_twice_on_the_diagonal():
    got = run_counter([[3, 3]], 4, 2, "harmonic", False, 0, 100, 1)
    assert got == {(3, 3): 2.0}


def test_distance_weights():
    assert distance_weights(4, "harmonic", False).tolist() == [0, 1, 0.5, 1 / 3, 0.25]
    assert distance_weights(4, "uniform", True).tolist() == [0, 1, 0.75, 0.5, 0.25]


def test_token_uniforms_are_deterministic_and_uniform():
    hashes = np.arange(20_000, dtype=np.int64) * 7919
    pos = np.tile(np.arange(10), 2_000)
    u1 = token_uniforms(hashes, pos, seed=3)
    u2 = token_uniforms(hashes, pos, seed=3)
    u3 = token_uniforms(hashes, pos, seed=4)
    assert np.array_equal(u1, u2)
    assert not np.array_equal(u1, u3)
    assert u1.min() >= 0 and u1.max() < 1
    assert abs(u1.mean() - 0.5) < 0.01
    assert np.histogram(u1, bins=10, range=(0, 1))[0].min() > 1_800


def test_keep_probabilities_follow_word2vec_formula():
    counts = np.array([900, 90, 10])
    p = keep_probabilities(counts, 0.01)
    assert p.tolist() == pytest.approx([np.sqrt(0.01 / 0.9), np.sqrt(0.01 / 0.09), 1.0])
    assert keep_probabilities(counts, 0.0).tolist() == [1.0, 1.0, 1.0]


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6),
                               st.sampled_from([0.5, 1.0, 2.0, 1 / 3])), max_size=120),
    runs=st.integers(1, 4),
    cap=st.integers(1, 5),
    batch_records=st.integers(1, 7),
)
def test_partial_rows_merge_to_the_sums(entries, runs, cap, batch_records):
    """Partial rows from several tasks, shuffled and sorted by row, sum to the totals."""
    want: dict[tuple[int, int], float] = {}
    for r, c, w in entries:
        want[r, c] = want.get((r, c), 0.0) + w
    records = []  # what Spark shuffles: (row, cols, weights), then sorts by row
    for k in range(runs):
        part = sorted(entries[k::runs], key=lambda e: e[0])
        if part:
            rows, cols, ws = (np.array(x) for x in zip(*part, strict=True))
            batch = row_payloads(rows, cols, ws, cap)
            r, lengths, c, w = payload_arrays(batch)
            assert lengths.max() <= cap and lengths.sum() == len(part)
            ends = np.cumsum(lengths)
            records += [(int(r[i]), c[e - n:e].tolist(), w[e - n:e].tolist())
                        for i, (n, e) in enumerate(zip(lengths, ends, strict=True))]
    records.sort(key=lambda rec: rec[0])
    merger = RowMerger(7)
    out = []
    for i in range(0, len(records), batch_records):
        chunk = records[i:i + batch_records]
        out += merger.add(np.array([r for r, _, _ in chunk]),
                          np.array([len(c) for _, c, _ in chunk]),
                          np.array([x for _, c, _ in chunk for x in c], dtype=np.int64),
                          np.array([x for _, _, w in chunk for x in w], dtype=np.float64))
    out += merger.finish()
    got = [(r, c, w) for rows, cols, ws in out
           for r, c, w in zip(rows.tolist(), cols.tolist(), ws.tolist(), strict=True)]
    assert [(r, c) for r, c, _ in got] == sorted(want)  # one entry each, in (row, col) order
    for r, c, w in got:
        assert w == pytest.approx(want[r, c])


@settings(max_examples=150, deadline=None)
@given(
    parts=st.lists(st.tuples(
        st.lists(st.tuples(st.integers(0, 9),
                           st.sampled_from([0, 1, 2, 7, 65535, 65536, 70000, 2**31 - 1]),
                           st.sampled_from([1.0, 2520.0, 0.5, 2.0**32 - 1, 2.0**32, 3e12,
                                            0.0])),
                 min_size=1, max_size=30),
        st.booleans()), min_size=1, max_size=5),
    cap=st.integers(1, 4),
)
def test_payloads_round_trip_exactly_in_mixed_batches(parts, cap):
    """Columns travel as 2-byte steps when they can, whole-number weights in 4 bytes; a
    batch mixing records of every kind (as the shuffle makes it) reads back bit for bit."""
    import pyarrow as pa

    batches, want = [], []
    for part, by_col in parts:
        part = sorted(part, key=(lambda e: e[:2]) if by_col else (lambda e: e[0]))
        rows, cols, ws = (np.array(x) for x in zip(*part, strict=True))
        batch = row_payloads(rows, cols, ws, cap)
        exact = all(w == int(w) and w < 2**32 for w in ws.tolist())
        bytes_of = {name: sum(len(v) for v in batch.column(name).to_pylist())
                    for name in ("cols", "weights")}
        assert bytes_of["weights"] == (4 if exact else 8) * len(part)
        assert 2 * len(part) <= bytes_of["cols"] <= 4 * len(part)
        if by_col and max(cols.tolist()) < 2**16:
            assert bytes_of["cols"] == 2 * len(part)
        batches.append(batch)
        want.append((rows, cols, ws))
    mixed = pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
    r, lengths, c, w = payload_arrays(mixed)
    assert lengths.sum() == sum(len(p) for p, _ in parts)
    assert c.tolist() == np.concatenate([x[1] for x in want]).tolist()
    assert w.dtype == np.float64
    assert w.tolist() == np.concatenate([x[2] for x in want]).tolist()
    # a slice starting inside the batch reads the same records
    if mixed.num_rows > 1:
        tail = mixed.slice(1)
        r2, l2, c2, w2 = payload_arrays(tail)
        assert w2.tolist() == w[lengths[0]:].tolist() and c2.tolist() == c[lengths[0]:].tolist()


# ---------------------------------------------------------------------------------------------
# the numpy tokenizer and the byte-keyed vocabulary table of the counting fast path

ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z0-9]+)*")


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet="aZ09'' \t\r.-_~\x00\x7f", max_size=25), min_size=1,
                      max_size=8),
       skip=st.integers(0, 2), lowercase=st.booleans())
def test_ascii_tokens_equal_the_java_pattern_on_ascii(lines, skip, lowercase):
    """On ASCII text the default pattern's matches are exactly what ascii_tokens finds."""
    arr = pa.array(lines, pa.string()).slice(min(skip, len(lines) - 1))
    buf, starts, lengths, line = ascii_tokens(*string_buffers(arr), lowercase)
    got = [(int(i), bytes(buf[s:s + n]).decode())
           for s, n, i in zip(starts, lengths, line, strict=True)]
    want = [(i, t.lower() if lowercase else t) for i, text in enumerate(arr.to_pylist())
            for t in ASCII_TOKEN.findall(text)]
    assert got == want


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text(max_size=20), unique=True, max_size=40),
       queries=st.lists(st.text(max_size=20), max_size=40), collide=st.booleans())
def test_word_table_finds_exactly_the_words(words, queries, collide, monkeypatch_hashes):
    """Ids of words, -1 otherwise, even when every hash is equal (bytes decide)."""
    monkeypatch_hashes(collide)
    table = WordTable.from_words(words)
    table = pickle.loads(pickle.dumps(table))  # as the workers receive it
    ids = {w: i for i, w in enumerate(words)}
    probe = queries + words + [w + "x" for w in words] + [w[:-1] for w in words]
    assert table.lookup_strings(probe).tolist() == [ids.get(q, -1) for q in probe]


@pytest.fixture
def monkeypatch_hashes(monkeypatch):
    """``f(True)`` makes every byte hash 7: all words and tokens share one home slot."""
    import latentspark.wordtable as wt

    real = wt.byte_hashes

    def constant(buf, starts, lengths):
        h, first = real(buf, starts, lengths)
        return np.full_like(h, 7), first

    def use(collide: bool) -> None:
        monkeypatch.setattr(wt, "byte_hashes", constant if collide else real)

    return use
