"""Corpus input: formats, partitions, filters and tokenisation with Spark built-ins."""

from __future__ import annotations

import bz2
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentspark.config import load_config
from latentspark.corpus import detect_format, read_corpus, resolve_input, tokenize
from latentspark.errors import ConfigError, InputError


def cfg_for(path, *overrides):
    return load_config(overrides=[f"corpus.path={json.dumps(str(path))}", *overrides])


def tokens_of(spark, cfg, order="text"):
    df = tokenize(read_corpus(spark, cfg.corpus), cfg.tokenize)
    return [r["tokens"] for r in df.orderBy(order).collect()]


def test_regex_tokens_nfkc_and_lowercase(spark, tmp_path):
    (tmp_path / "a.txt").write_text(
        "Don't ﬁnd Ｆｕｌｌ-width 'quotes' rock'n'roll x'\nCafé № 42, naïve_test\n")
    cfg = cfg_for(tmp_path)
    assert tokens_of(spark, cfg) == [
        ["café", "no", "42", "naïve", "test"],
        ["don't", "find", "full", "width", "quotes", "rock'n'roll", "x"],
    ]
    cfg = cfg_for(tmp_path, "tokenize.nfkc=false", "tokenize.lowercase=false")
    assert tokens_of(spark, cfg)[1][:3] == ["Don't", "ﬁnd", "Ｆｕｌｌ"]


def test_whitespace_mode_keeps_pretokenised_text(spark, tmp_path):
    (tmp_path / "a.txt").write_text("  the  u.s. , x-ray\t\tend \n")
    cfg = cfg_for(tmp_path, "tokenize.mode=whitespace")
    assert tokens_of(spark, cfg) == [["the", "u.s.", ",", "x-ray", "end"]]


def test_compressed_text_and_partitions_with_where(spark, tmp_path):
    for day, opener, name in (("2026-10-31", gzip.open, "a.txt.gz"),
                              ("2026-11-01", bz2.open, "b.txt.bz2"),
                              ("2026-11-02", open, "c.txt")):
        folder = tmp_path / "source=news" / f"date={day}"
        folder.mkdir(parents=True)
        with opener(folder / name, "wt") as fh:
            fh.write(f"text of {day}\n")
    cfg = cfg_for(tmp_path)
    df = read_corpus(spark, cfg.corpus)
    assert {"text", "source", "date"} <= set(df.columns)
    assert df.count() == 3
    cfg = cfg_for(tmp_path, "corpus.where=\"date >= '2026-11-01'\"")
    got = sorted(r["text"] for r in read_corpus(spark, cfg.corpus).collect())
    assert got == ["text of 2026-11-01", "text of 2026-11-02"]


def test_glob_input_keeps_partition_columns(spark, tmp_path):
    for src in ("a", "b"):
        (tmp_path / f"source={src}").mkdir()
        (tmp_path / f"source={src}" / "p.txt").write_text(f"from {src}\n")
    cfg = cfg_for(f"{tmp_path}/source=*/*.txt")
    rows = read_corpus(spark, cfg.corpus).collect()
    assert sorted((r["source"], r["text"]) for r in rows) == [("a", "from a"), ("b", "from b")]


def test_json_and_parquet_text_fields(spark, tmp_path):
    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "a.jsonl").write_text(
        json.dumps({"body": "Hello JSON", "n": 1}) + "\n" + json.dumps({"n": 2}) + "\n")
    cfg = cfg_for(tmp_path / "j", 'corpus.text_field="body"')
    assert tokens_of(spark, cfg) == [["hello", "json"]]
    (tmp_path / "p").mkdir()
    pq.write_table(pa.table({"content": ["Hello Parquet", None]}), tmp_path / "p" / "a.parquet")
    cfg = cfg_for(tmp_path / "p", 'corpus.text_field="content"')
    assert resolve_input(spark, cfg.corpus).format == "parquet"
    assert tokens_of(spark, cfg) == [["hello", "parquet"]]


def test_detect_format():
    assert detect_format(["a/x.txt.gz", "b/y.txt"]) == "text"
    assert detect_format(["a/x.jsonl.bz2"]) == "json"
    assert detect_format(["part-0.snappy.parquet"]) == "parquet"
    with pytest.raises(InputError, match="mixes input formats"):
        detect_format(["a.txt", "b.parquet"])


def test_bad_where_is_a_config_error(spark, tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    cfg = cfg_for(tmp_path, "corpus.where=\"nosuchcol = 1\"")
    with pytest.raises(ConfigError, match="corpus.where"):
        read_corpus(spark, cfg.corpus)


def test_fingerprint_follows_file_changes(spark, tmp_path):
    f = tmp_path / "a.txt"
    f.write_text("one\n")
    cfg = cfg_for(tmp_path)
    first = resolve_input(spark, cfg.corpus).fingerprint
    assert resolve_input(spark, cfg.corpus).fingerprint == first
    f.write_text("one two\n")
    assert resolve_input(spark, cfg.corpus).fingerprint != first


def test_fingerprint_covers_only_partitions_passing_where(spark, tmp_path):
    for day in ("2026-10-31", "2026-11-01", "2026-11-02"):
        folder = tmp_path / f"date={day}"
        folder.mkdir()
        (folder / "a.txt").write_text(f"text of {day}\n")
    cfg = cfg_for(tmp_path, "corpus.where=\"date >= '2026-11-01'\"")
    first = resolve_input(spark, cfg.corpus)
    assert first.n_files == 2
    # a change outside the filter does not change the fingerprint; one inside does
    (tmp_path / "date=2026-10-31" / "a.txt").write_text("changed\n")
    assert resolve_input(spark, cfg.corpus).fingerprint == first.fingerprint
    (tmp_path / "date=2026-11-02" / "a.txt").write_text("changed\n")
    assert resolve_input(spark, cfg.corpus).fingerprint != first.fingerprint
