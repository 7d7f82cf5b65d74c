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
from latentspark.cooccurrence import count_cooccurrences
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


def spark_counts(spark, path: str, overrides: list[str], partitions: int):
    cfg = load_config(overrides=[f"corpus.path={json.dumps(path)}", *overrides])
    source = resolve_input(spark, cfg.corpus)
    lines = read_corpus(spark, cfg.corpus, source)
    tokens = tokenize(lines.repartition(partitions), cfg.tokenize)
    vocab = select_vocabulary(word_counts(tokens), cfg.vocab.min_count, cfg.vocab.max_size)
    vocab_rows = [tuple(r) for r in vocab.collect()]
    words = pa.array([r[1] for r in vocab_rows], pa.string())
    counts = np.array([r[2] for r in vocab_rows])
    cooc = count_cooccurrences(spark, tokens, words, counts, cfg.cooccur)
    tagged = cooc.withColumn("partition", F.spark_partition_id())
    rows = tagged.collect()
    # partition k holds exactly the rows r with r % blocks == k, sorted by (row, col)
    assert all(r["partition"] == r["row"] % cfg.cooccur.blocks for r in rows)
    for k in range(cfg.cooccur.blocks):
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
    overrides = [f"cooccur.window={window}", f'cooccur.weighting="{weighting}"',
                 f"cooccur.blocks={blocks}", f"cooccur.dense_words={dense}",
                 f"vocab.min_count={min_count}", "vocab.max_size=10",
                 'corpus.text_field="body"', "cooccur.buffer_pairs=10000"]
    # the reference sees the lines in file order; vocab and counts do not depend on order
    ordered = [line for i in range(n_files) for line in lines[i::n_files]]
    want_vocab = reference_vocab(ordered, min_count, 10)
    vocab, got = spark_counts(spark, path, overrides, partitions)
    assert vocab == want_vocab
    ids = {w: i for i, w, _ in want_vocab}
    want = reference_cooccur(ordered, ids, window, weighting)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-5)


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
