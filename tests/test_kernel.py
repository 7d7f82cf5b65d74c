"""The numpy pair-counting kernel against the brute-force reference (no Spark)."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
    keyed_uniforms,
    payload_arrays,
    row_payloads,
    weight_scale,
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


def test_keyed_uniforms_are_deterministic_and_uniform():
    hashes = np.arange(20_000, dtype=np.int64) * 7919
    pos = np.tile(np.arange(10), 2_000)
    u1 = keyed_uniforms(hashes, pos, seed=3)
    u2 = keyed_uniforms(hashes, pos, seed=3)
    u3 = keyed_uniforms(hashes, pos, seed=4)
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
    reference = payload_arrays(mixed, compiled=False)  # numpy's whole-array decoding
    for got, want_np in zip((r, lengths, c, w), reference, strict=True):
        assert got.dtype == want_np.dtype and got.tolist() == want_np.tolist()
    assert lengths.sum() == sum(len(p) for p, _ in parts)
    assert c.tolist() == np.concatenate([x[1] for x in want]).tolist()
    assert w.dtype == np.float64
    assert w.tolist() == np.concatenate([x[2] for x in want]).tolist()
    # a slice starting inside the batch reads the same records
    if mixed.num_rows > 1:
        tail = mixed.slice(1)
        for compiled in (True, False):
            r2, l2, c2, w2 = payload_arrays(tail, compiled=compiled)
            assert w2.tolist() == w[lengths[0]:].tolist()
            assert c2.tolist() == c[lengths[0]:].tolist()


# ---------------------------------------------------------------------------------------------
# the compiled loops (latentspark.pairkernels) against the numpy reference, bit for bit

def counter_parts(batches: list[list[list[int]]], vocab_size: int, weights: np.ndarray,
                  dense_words: int, buffer_pairs: int, compiled: bool) -> list:
    """Every ``(rows, cols, weights)`` a counter hands back, batch by batch."""
    counter = PairCounter(vocab_size, weights, dense_words, buffer_pairs, compiled=compiled)
    parts = []
    for batch in batches:
        ids = np.array([t for line in batch for t in line], dtype=np.int64)
        line = np.repeat(np.arange(len(batch)), [len(x) for x in batch])
        parts.append(list(counter.add(ids, line)))
    parts.append(list(counter.finish()))
    return parts


@settings(max_examples=200, deadline=None)
@given(
    # empty batches, empty and one-token lines, lines shorter than the window
    batches=st.lists(st.lists(st.lists(st.integers(0, 40), max_size=25), max_size=6),
                     max_size=5),
    vocab_size=st.integers(41, 3000),
    window=st.integers(1, 15),
    weighting=st.sampled_from(["harmonic", "uniform"]),
    dynamic=st.booleans(),
    scaled=st.booleans(),
    dense_words=st.sampled_from([0, 1, 7, 41, 5000]),
    buffer_pairs=st.sampled_from([1, 13, 10_000]),
)
def test_compiled_counter_equals_numpy(batches, vocab_size, window, weighting, dynamic, scaled,
                                       dense_words, buffer_pairs):
    """Same partial sums, handed back at the same calls, in the same order; with whole-number
    weights (weight_scale, as the tasks use) bit for bit."""
    weights = distance_weights(window, weighting, dynamic)
    scale = weight_scale(window, weighting, dynamic)
    if scaled:
        weights = np.rint(weights * scale)
    want = counter_parts(batches, vocab_size, weights, dense_words, buffer_pairs, False)
    got = counter_parts(batches, vocab_size, weights, dense_words, buffer_pairs, True)
    assert [len(p) for p in got] == [len(p) for p in want]
    for g_call, w_call in zip(got, want, strict=True):
        for g, w in zip(g_call, w_call, strict=True):
            assert g[0].tolist() == w[0].tolist() and g[1].tolist() == w[1].tolist()
            if scaled or scale == 1 and weighting == "uniform" and not dynamic:
                assert g[2].tolist() == w[2].tolist()
            else:  # fractions: the dense sums add in another order
                np.testing.assert_allclose(g[2], w[2], rtol=1e-12)


def test_compiled_counter_on_zipf_ids_with_real_buffers():
    """A realistic batch mix (Zipf ids, many drains, the dense block in use) bit for bit."""
    rng = np.random.default_rng(5)
    weights = np.rint(distance_weights(10, "harmonic", False) * 2520)
    out = []
    for compiled in (False, True):
        counter = PairCounter(5000, weights, 64, 20_000, compiled=compiled)
        parts = []
        for _ in range(6):
            n = int(rng.integers(0, 30_000))
            ids = (rng.zipf(1.2, n) - 1) % 5000
            line = np.sort(rng.integers(0, max(n // 9, 1), n))
            parts += counter.add(ids, line)
        parts += counter.finish()
        out.append(parts)
        rng = np.random.default_rng(5)
    assert len(out[0]) == len(out[1]) > 4
    for a, b in zip(*out, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 9),
                               st.sampled_from([0, 1, 2, 7, 65535, 65536, 70000, 2**31 - 1]),
                               st.sampled_from([1.0, 2520.0, 0.5, 2.0**32, 0.0])),
                     max_size=40),
    by_col=st.booleans(),
    cap=st.integers(1, 5),
)
def test_compiled_payloads_equal_numpy(entries, by_col, cap):
    """The compiled record encoder writes the numpy reference's bytes, empty input included."""
    entries = sorted(entries, key=(lambda e: e[:2]) if by_col else (lambda e: e[0]))
    rows, cols, ws = (np.array([e[i] for e in entries], dtype=t)
                      for i, t in enumerate((np.int64, np.int64, np.float64)))
    got = row_payloads(rows, cols, ws, cap, compiled=True)
    want = row_payloads(rows, cols, ws, cap, compiled=False)
    assert got.equals(want)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(st.tuples(st.integers(0, 30),
                               st.lists(st.tuples(st.integers(0, 30),
                                                  st.sampled_from([1.0, 2520.0, 840.0, 3.0])),
                                        min_size=1, max_size=8)), max_size=40),
    batch_records=st.integers(1, 9),
    vocab_size=st.sampled_from([31, 5000]),  # rows read off the marks, or sorted
)
def test_compiled_row_merger_equals_numpy(records, batch_records, vocab_size):
    """Partial rows in row order (columns in any order within a record), in batches that cut
    rows anywhere: the same complete rows, sorted by (row, col), with the same sums."""
    records = sorted(records, key=lambda r: r[0])
    out = []
    for compiled in (False, True):
        merger = RowMerger(vocab_size, compiled=compiled)
        parts = []
        for i in range(0, len(records), batch_records):
            chunk = records[i:i + batch_records]
            parts += merger.add(np.array([r for r, _ in chunk], dtype=np.int64),
                                np.array([len(e) for _, e in chunk], dtype=np.int64),
                                np.array([c for _, e in chunk for c, _ in e], dtype=np.int64),
                                np.array([w for _, e in chunk for _, w in e]))
        parts += merger.finish()
        out.append([np.concatenate([p[i] for p in parts]).tolist() if parts else []
                    for i in range(3)])
    assert out[1] == out[0]


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
    want = [ids.get(q, -1) for q in probe]
    assert table.lookup_strings(probe, compiled=False).tolist() == want
    if not collide:  # the compiled loop hashes inside: byte_hashes' patch does not reach it
        assert table.lookup_strings(probe).tolist() == want


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.text(alphabet="aAzZ09'' \t.-", max_size=60), min_size=1, max_size=10),
    pick=st.lists(st.integers(0, 10_000), max_size=30),
    extra=st.lists(st.text(alphabet="abc'", max_size=20), max_size=5),
    skip=st.integers(0, 2),
    lowercase=st.booleans(),
)
def test_compiled_token_lookups_equal_numpy(lines, pick, extra, skip, lowercase):
    """The compiled tokenizer-and-look-up and the compiled look-up of byte ranges give the
    numpy reference's ids: words of up to 8 bytes and longer, lower-casing, line starts."""
    arr = pa.array(lines, pa.string()).slice(min(skip, len(lines) - 1))
    buf, starts, lengths, _ = ascii_tokens(*string_buffers(arr), lowercase)
    tokens = sorted({bytes(buf[s:s + n]).decode() for s, n in zip(starts, lengths, strict=True)})
    words = sorted({tokens[i % len(tokens)] for i in pick} | set(extra)) if tokens else extra
    table = pickle.loads(pickle.dumps(WordTable.from_words(sorted(set(words)))))
    got = table.lookup_ascii(*string_buffers(arr), lowercase)
    want = table.lookup_ascii(*string_buffers(arr), lowercase, compiled=False)
    assert [x.tolist() for x in got] == [x.tolist() for x in want]
    ranges = (buf, starts, lengths)
    assert table.lookup(*ranges).tolist() == table.lookup(*ranges, compiled=False).tolist()


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


def test_kernels_compile_once_per_content_installed_or_zipped(tmp_path):
    """The machine code compiled by an installed copy of the package is what zips of the
    same version load, wherever they are (a cluster fetches ``--py-files`` into a new folder
    for every application and executor), instead of compiling again."""
    package = Path(__file__).resolve().parents[1] / "latentspark"
    shutil.copytree(package, tmp_path / "site" / "latentspark",
                    ignore=shutil.ignore_patterns("__pycache__"))
    places = [tmp_path / "site"]
    for folder in ("app-1", "app-2"):
        (tmp_path / folder).mkdir()
        places.append(tmp_path / folder / "latentspark.zip")
        with zipfile.ZipFile(places[-1], "w") as z:
            for path in package.rglob("*.py"):
                z.write(path, path.relative_to(package.parent).as_posix())
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import numpy as np; "
             "import latentspark.pairkernels as pk; assert pk.__file__.startswith(sys.argv[1]); "
             "pk.mirror(np.array([0, 1]), np.array([1, 1]), np.array([1.0, 2.0]), 2); "
             "s = pk.mirror.stats; print(sum(s.cache_hits.values()), "
             "sum(s.cache_misses.values()))")
    # numba's per-user cache in a fresh folder
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    got = [subprocess.run([sys.executable, "-c", probe, str(p)], env=env, check=True,
                          capture_output=True, text=True).stdout.split() for p in places]
    # compiled by the installed copy, loaded by both zips
    assert got == [["0", "1"], ["1", "0"], ["1", "0"]]
