"""Vocabulary and co-occurrence counts computed by Spark equal the brute-force reference."""

from __future__ import annotations

import gzip
import json
import string

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from latentspark.config import load_config
from latentspark.cooccurrence import (
    count_cooccurrences,
    partition_keys,
    resolve_blocks,
    spark_int_hash,
)
from latentspark.corpus import read_corpus, resolve_input, tokenize
from latentspark.vocabulary import select_vocabulary, word_counts
from tests.reference import reference_cooccur, reference_vocab

WORDS = list(string.ascii_lowercase[:14])


def write_corpus(root, lines: list[list[str]], n_files: int, fmt: str) -> str:
    """Spread lines over ``n_files`` files of one format in Hive-style folders."""
    chunks = [lines[i::n_files] for i in range(n_files)]
    for i, chunk in enumerate(chunks):
        folder = root / f"part={i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        texts = [" ".join(line) for line in chunk]
        if fmt == "text":
            (folder / f"f{i}.txt").write_text("".join(t + "\n" for t in texts))
        elif fmt == "gz":
            with gzip.open(folder / f"f{i}.txt.gz", "wt") as fh:
                fh.writelines(t + "\n" for t in texts)
        elif fmt == "json":
            (folder / f"f{i}.jsonl").write_text(
                "".join(json.dumps({"body": t, "id": k}) + "\n" for k, t in enumerate(texts)))
        else:
            pq.write_table(pa.table({"body": pa.array(texts, pa.string())}),
                           folder / f"f{i}.parquet")
    return str(root)


def spark_counts(spark, path: str, overrides: list[str], partitions: int, fast: bool = False):
    cfg = load_config(overrides=[f"corpus.path={json.dumps(path)}", *overrides])
    source = resolve_input(spark, cfg.corpus)
    lines = read_corpus(spark, cfg.corpus, source)
    tokens = tokenize(lines.repartition(partitions), cfg.tokenize)
    vocab = select_vocabulary(word_counts(tokens), cfg.vocab.min_count, cfg.vocab.max_size)
    vocab_rows = [tuple(r) for r in vocab.collect()]
    words = pa.array([r[1] for r in vocab_rows], pa.string())
    counts = np.array([r[2] for r in vocab_rows])
    # fast: ASCII lines split in numpy (text_fast_path), the others by the JVM
    cooc = count_cooccurrences(spark, tokens, words, counts, cfg.cooccur,
                               tokenizer=cfg.tokenize if fast else None)
    blocks = resolve_blocks(spark, cfg.cooccur)
    tagged = cooc.withColumn("partition", F.spark_partition_id())
    rows = tagged.collect()
    if rows:  # one reduce task per block (Spark plans no task at all for an empty corpus)
        assert cooc.rdd.getNumPartitions() == blocks
    # partition k holds exactly the rows r with r % blocks == k, sorted by (row, col)
    assert all(r["partition"] == r["row"] % blocks for r in rows)
    for k in range(blocks):
        part = [(r["row"], r["col"]) for r in rows if r["partition"] == k]
        assert part == sorted(part)
    return vocab_rows, {(r["row"], r["col"]): r["weight"] for r in rows}


corpora = st.lists(st.lists(st.sampled_from(WORDS), max_size=25), min_size=1, max_size=40)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(
    lines=corpora,
    window=st.integers(1, 15),
    weighting=st.sampled_from(["harmonic", "uniform"]),
    fmt=st.sampled_from(["text", "gz", "json", "parquet"]),
    n_files=st.integers(1, 4),
    partitions=st.sampled_from([1, 3]),
    min_count=st.integers(1, 3),
    data=st.data(),
)
def test_counts_equal_brute_force(spark, tmp_path_factory, lines, window, weighting, fmt,
                                  n_files, partitions, min_count, data):
    root = tmp_path_factory.mktemp("corpus")
    path = write_corpus(root, lines, n_files, fmt)
    blocks = data.draw(st.integers(1, 5), label="blocks")
    dense = data.draw(st.sampled_from([0, 3, 1024]), label="dense_words")
    fast = data.draw(st.booleans(), label="fast")
    overrides = [f"cooccur.window={window}", f'cooccur.weighting="{weighting}"',
                 f"cooccur.blocks={blocks}", f"cooccur.dense_words={dense}",
                 f"vocab.min_count={min_count}", "vocab.max_size=10",
                 'corpus.text_field="body"', "cooccur.buffer_pairs=10000"]
    # the reference sees the lines in file order; vocab and counts do not depend on order
    ordered = [line for i in range(n_files) for line in lines[i::n_files]]
    want_vocab = reference_vocab(ordered, min_count, 10)
    vocab, got = spark_counts(spark, path, overrides, partitions, fast)
    assert vocab == want_vocab
    ids = {w: i for i, w, _ in want_vocab}
    want = reference_cooccur(ordered, ids, window, weighting)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5)


def test_text_fast_path_counts_what_the_jvm_tokenizer_counts(spark, tmp_path):
    """ASCII lines split in numpy and the rest by the JVM: the counts of the JVM path alone,
    on text with case, apostrophes, digits, NFKC ligatures and non-ASCII words."""
    from latentspark.cooccurrence import text_fast_path

    rng = np.random.default_rng(11)
    pieces = ["the", "The", "CAT", "don't", "'q'", "a''b", "café", "\ufb01nd", "find", "x1",
              "\u03a3\u0391\u03a3", "na\u00efve", "  ", "-", "ok'", "\u0130s", "9", "it's", "\t",
              "\u2014"]
    texts = [" ".join(rng.choice(pieces, size=rng.integers(0, 16))) for _ in range(600)]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("".join(t + "\n" for t in texts))
    cfg = load_config(overrides=[f"corpus.path={json.dumps(str(tmp_path / 'c'))}",
                                 "vocab.min_count=1", "cooccur.blocks=3", "cooccur.window=4",
                                 "cooccur.dense_words=4"])
    tokens = tokenize(read_corpus(spark, cfg.corpus, resolve_input(spark, cfg.corpus)),
                      cfg.tokenize)
    vocab = select_vocabulary(word_counts(tokens), 1, 100).collect()
    words = pa.array([r["word"] for r in vocab], pa.string())
    counts = np.array([r["count"] for r in vocab])
    assert text_fast_path(tokens, cfg.cooccur, cfg.tokenize)
    jvm = count_cooccurrences(spark, tokens, words, counts, cfg.cooccur).collect()
    fast = count_cooccurrences(spark, tokens, words, counts, cfg.cooccur,
                               tokenizer=cfg.tokenize).collect()
    assert len(jvm) > 50
    assert sorted(map(tuple, fast)) == sorted(map(tuple, jvm))


def test_partition_keys_follow_sparks_own_hash_partitioning(spark):
    """The numpy Murmur3 is Spark's ``hash`` of an int, and ``repartition(n, key)`` sends
    the row of ``partition_keys(n)[p]`` to partition ``p``: no Spark job finds the keys."""
    values = np.concatenate([np.arange(-500, 500), [2**31 - 1, -2**31, 123_456_789]])
    df = spark.createDataFrame([(int(v),) for v in values], "v INT")
    want = [r["h"] for r in df.select(F.hash("v").alias("h")).collect()]
    assert spark_int_hash(values).tolist() == want
    for n in (1, 3, 8, 29):
        keys = partition_keys(spark, n)
        assert len(set(keys)) == n and min(keys) >= 0
        placed = (spark.createDataFrame([(k,) for k in keys], "k INT").repartition(n, "k")
                  .select("k", F.spark_partition_id().alias("p")).collect())
        assert sorted((r["p"], r["k"]) for r in placed) == list(enumerate(keys))


def test_dynamic_window_and_many_partitions(spark, tmp_path):
    rng = np.random.default_rng(5)
    lines = [[WORDS[i] for i in rng.integers(0, 14, size=rng.integers(0, 40))]
             for _ in range(300)]
    path = write_corpus(tmp_path, lines, 3, "text")
    overrides = ["cooccur.window=7", "cooccur.dynamic_window=true", "vocab.min_count=1",
                 "cooccur.blocks=3", "cooccur.dense_words=4"]
    vocab, got = spark_counts(spark, path, overrides, partitions=6)
    ids = {w: i for i, w, _ in vocab}
    ordered = [line for i in range(3) for line in lines[i::3]]
    want = reference_cooccur(ordered, ids, 7, "harmonic", dynamic=True)
    assert set(got) == set(want)
    assert all(got[k] == pytest.approx(v, rel=1e-5) for k, v in want.items())


def test_subsampling_is_seeded_and_independent_of_partitioning(spark, tmp_path):
    rng = np.random.default_rng(1)
    # a Zipf-like corpus so that subsampling drops many 'a's and few rare words
    probs = 1.0 / np.arange(1, 15)
    probs /= probs.sum()
    lines = [[WORDS[i] for i in rng.choice(14, size=20, p=probs)] for _ in range(400)]
    path = write_corpus(tmp_path, lines, 2, "text")
    base = ["vocab.min_count=1", "cooccur.subsample=0.02", "cooccur.window=3"]
    _, one = spark_counts(spark, path, [*base, "cooccur.seed=7"], partitions=1)
    _, many = spark_counts(spark, path, [*base, "cooccur.seed=7"], partitions=5)
    _, other = spark_counts(spark, path, [*base, "cooccur.seed=8"], partitions=1)
    vocab, full = spark_counts(spark, path, ["vocab.min_count=1", "cooccur.window=3"], 1)
    assert one == pytest.approx(many, rel=1e-6)
    assert one != other
    a = vocab[0][0]
    # the most frequent word loses most of its pairs, the rarest keeps nearly all
    assert one[a, a] < 0.5 * full[a, a]
    rare = vocab[-1][0]
    kept_rare = sum(v for (r, _), v in one.items() if r == rare)
    full_rare = sum(v for (r, _), v in full.items() if r == rare)
    assert kept_rare > 0.2 * full_rare


def test_vocabulary_ids_are_deterministic_with_ties(spark, tmp_path):
    # every word appears exactly twice: ids are decided by the word alone
    words = ["zeta", "alpha", "émile", "beta", "Zulu", "Alpha", "delta", "gamma"]
    lines = [[w] for w in words] * 2
    path = write_corpus(tmp_path, lines, 4, "text")
    runs = [spark_counts(spark, path, ["vocab.min_count=1", "tokenize.lowercase=false"],
                         partitions)[0] for partitions in (1, 4, 7)]
    expected = [(i, w, 2) for i, w in enumerate(sorted(words))]  # code-point order
    assert runs[0][0] == (0, "Alpha", 2)
    assert all(r == expected for r in runs)


def test_hashed_lookup_equals_arrow_index_in(spark):
    # words with shared prefixes, accents and an empty-looking mix, looked up from Spark's
    # token hashes; tokens outside the vocabulary must come back as -1
    from latentspark.cooccurrence import token_hashes, vocab_table

    rng = np.random.default_rng(3)
    vocab = pa.array([f"{a}{b}" for a in ("x", "xy", "é", "Ω") for b in range(60)], pa.string())
    pool = vocab.to_pylist() + [f"oov{i}" for i in range(40)] + ["x", "é0é"]
    lines = [[pool[i] for i in rng.integers(0, len(pool), rng.integers(0, 30))]
             for _ in range(200)]
    t = spark.createDataFrame(pa.table({"tokens": pa.array(lines, pa.list_(pa.string()))}))
    hashed = t.select(*token_hashes(F.col("tokens"))).toArrow()
    table = vocab_table(spark, vocab)
    assert len(table) == len(vocab)
    got = table.lookup(pa.compute.list_flatten(hashed.column("hashes")).to_numpy(),
                       pa.compute.list_flatten(hashed.column("checks")).to_numpy())
    flat = pa.array([w for line in lines for w in line], pa.string())
    want = pa.compute.fill_null(pa.compute.index_in(flat, value_set=vocab), -1).to_numpy()
    np.testing.assert_array_equal(got, want)
    assert (got < 0).any() and (got >= 0).any()


def test_hash_collisions_are_told_apart_or_refused(spark):
    from latentspark.cooccurrence import VocabTable, vocab_table
    from latentspark.errors import InputError

    # two words sharing the 64-bit hash (and, like 9, the home slot): the check hash tells
    # them and an outsider apart
    table = VocabTable(np.array([5, 5, 9]), np.array([-1, 7, 0]), np.array([4, 2, 0]))
    got = table.lookup(np.array([5, 5, 5, 9, 9, 6]), np.array([7, -1, 3, 0, 1, 7], np.int32))
    assert got.tolist() == [2, 4, -1, 0, -1, -1]
    # crowded home slots (hashes that differ only in their low bits) against a dict
    rng = np.random.default_rng(4)
    hashes = np.concatenate([rng.integers(-2**63, 2**63 - 1, 700), rng.integers(0, 300, 300),
                             np.full(20, 77)])
    checks = rng.integers(-2**31, 2**31 - 1, hashes.size).astype(np.int32)
    ids = rng.permutation(hashes.size).astype(np.int32)
    want = {(int(h), int(c)): int(i) for h, c, i in zip(hashes, checks, ids, strict=True)}
    table = VocabTable(hashes, checks, ids)
    pick = rng.integers(0, hashes.size, 5000)
    q_h = np.concatenate([hashes[pick], hashes[pick[:500]], rng.integers(0, 400, 500)])
    q_c = np.concatenate([checks[pick], checks[pick[:500]] ^ 1,
                          rng.integers(-2**31, 2**31 - 1, 500).astype(np.int32)])
    got = table.lookup(q_h, q_c)
    assert got.tolist() == [want.get((int(h), int(c)), -1) for h, c in zip(q_h, q_c,
                                                                           strict=True)]
    assert (got[:5000] >= 0).all()
    # equal on all 96 bits (here: the same word twice) cannot be told apart: refused, named
    with pytest.raises(InputError, match="'b' \\(id 1\\) and 'b' \\(id 3\\)"):
        vocab_table(spark, pa.array(["a", "b", "c", "b"]))


def test_blocks_follow_the_corpus_and_the_cluster(spark, tmp_path, caplog, monkeypatch):
    import logging

    from latentspark import cooccurrence
    from latentspark.stages import cooccur as cooccur_stage

    # local[2] with spark.default.parallelism = 2 (conftest): 0 means up to 2 x 2 blocks, one
    # per million tokens, and more than that only past 500 million per block
    cfg = load_config(overrides=["cooccur.blocks=0"])
    assert resolve_blocks(spark, cfg.cooccur) == 4
    assert [resolve_blocks(spark, cfg.cooccur, tokens=t)
            for t in (0, 960, 1_000_001, 3_000_000, 4_000_001, 2_000_000_001)] == [1, 1, 2, 3,
                                                                                  4, 5]
    assert resolve_blocks(spark, cfg.cooccur, recorded=6) == 6
    assert resolve_blocks(spark, cfg.cooccur, recorded=6, tokens=10) == 6
    with caplog.at_level(logging.WARNING, logger="latentspark.cooccurrence"):
        assert resolve_blocks(spark, load_config(overrides=["cooccur.blocks=1"]).cooccur) == 1
    assert "cooccur.blocks = 1 is below the cluster's 2 cores" in caplog.text
    # the default counts this corpus's 960 tokens into 4 reduce tasks when a block is worth
    # 100 tokens (into one at the real million), and the published layout records it
    monkeypatch.setattr(cooccurrence, "TOKENS_PER_BLOCK_MIN", 100)
    rng = np.random.default_rng(9)
    lines = [[WORDS[i] for i in rng.integers(0, 14, 12)] for _ in range(80)]
    path = write_corpus(tmp_path / "corpus", lines, 2, "text")
    vocab, got = spark_counts(spark, path, ["vocab.min_count=1"], partitions=3)
    ordered = [line for i in range(2) for line in lines[i::2]]
    assert got == pytest.approx(reference_cooccur(ordered, {w: i for i, w, _ in vocab}, 10),
                                rel=1e-6)
    cfg = load_config(overrides=[f"corpus.path={json.dumps(path)}", "vocab.min_count=1",
                                 f"run.root={json.dumps(str(tmp_path / 'run'))}"])
    pub = cooccur_stage.run(spark, cfg)
    assert pub.manifest["blocks"] == 4 and pub.manifest["config"]["cooccur"]["blocks"] == 0
    data = tmp_path / "run" / "cooccur" / pub.version / "data"
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == [f"block={k}"
                                                                    for k in range(4)]
    # one block for fewer tokens than cores is the rule's choice, not the user's: no warning
    monkeypatch.setattr(cooccurrence, "TOKENS_PER_BLOCK_MIN", 1000)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="latentspark.cooccurrence"):
        assert cooccur_stage.run(spark, cfg, force=True).manifest["blocks"] == 1
    assert "below the cluster" not in caplog.text


def test_incremental_roots_keep_their_block_count(spark, tmp_path, monkeypatch):
    from pyspark import SparkContext

    from latentspark.incremental import run_cooccur_incremental
    from tests import synthetic

    corpus = tmp_path / "corpus"

    def day(d: int) -> None:
        synthetic.write_lines(corpus / f"date=2026-11-0{d}" / "part-0.txt",
                              synthetic.sentences(300, seed=d))

    cfg = load_config(overrides=[f"corpus.path={json.dumps(str(corpus))}", "vocab.min_count=2",
                                 "cooccur.window=3",
                                 f"run.root={json.dumps(str(tmp_path / 'run'))}"])
    day(1)
    first = run_cooccur_incremental(spark, cfg)
    assert first.manifest["blocks"] == 4
    # the cluster grows: the root keeps its 4 blocks, so the new part merges with the old
    monkeypatch.setattr(SparkContext, "defaultParallelism", property(lambda self: 5))
    day(2)
    second = run_cooccur_incremental(spark, cfg)
    assert second.manifest["blocks"] == 4
    assert second.manifest["counted_now"] == ["date=2026-11-02"]
    assert "previous total" in second.manifest["merge"]
    merged = pq.read_table(tmp_path / "run" / "cooccur" / second.version / "data").sort_by(
        [("row", "ascending"), ("col", "ascending")])
    # recounting everything re-lays the root out for the bigger cluster, same counts
    again = run_cooccur_incremental(spark, cfg, force_counts=True)
    assert again.manifest["blocks"] == 10
    assert sorted(again.manifest["counted_now"]) == ["date=2026-11-01", "date=2026-11-02"]
    relaid = pq.read_table(tmp_path / "run" / "cooccur" / again.version / "data")
    assert {int(b) for b in relaid.column("block").to_pylist()} == set(range(10))
    relaid = relaid.sort_by([("row", "ascending"), ("col", "ascending")])
    for col in ("row", "col", "weight"):
        np.testing.assert_array_equal(merged.column(col).to_numpy(),
                                      relaid.column(col).to_numpy())
