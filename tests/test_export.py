"""The embeddings Parquet read by other tools, and its exports loaded back by gensim."""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from gensim.models import KeyedVectors, keyedvectors

from latentspark import embeddings, export
from latentspark.artifacts import EMBEDDINGS, StageStore
from latentspark.errors import ArtifactError, InputError
from latentspark.export import WHITESPACE_RE, export_embeddings
from latentspark.fs import HadoopFS

DIM = 7
WORDS = ["the", "café", "naïve", "東京", "straße", "🙂", "ελληνικά", "o'clock", "naïve-ish",
         "über"] + [f"w{i}" for i in range(15)]
ZERO = 3  # the row whose vector is all zeros


def source_table() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.normal(scale=2.0, size=(len(WORDS), DIM)).astype(np.float32)
    vectors[ZERO] = 0
    counts = np.arange(len(WORDS), 0, -1, dtype=np.int64) * 10
    return WORDS, counts, vectors


def write_source(spark, folder, words=WORDS) -> str:
    """Write the table as three part files (10 rows each) with the project's writer."""
    _, counts, vectors = source_table()
    data = f"{folder}/data"
    embeddings.write(HadoopFS(spark), data, embeddings.to_table(words, counts, vectors),
                     rows_per_file=10)
    return data


@pytest.fixture(scope="module")
def data_dir(spark, tmp_path_factory) -> str:
    return write_source(spark, tmp_path_factory.mktemp("emb"))


def test_parquet_is_read_identically_by_pyarrow_pandas_duckdb_and_spark(spark, data_dir):
    words, counts, vectors = source_table()

    table = pq.read_table(data_dir).sort_by("id")
    assert table.schema.field("vector").type == pa.list_(pa.float32(), DIM)
    assert table.column("word").to_pylist() == words
    assert table.column("count").to_pylist() == counts.tolist()
    got = table.column("vector").combine_chunks().flatten().to_numpy().reshape(-1, DIM)
    np.testing.assert_array_equal(got, vectors)
    np.testing.assert_allclose(table.column("norm").to_numpy(),
                               np.linalg.norm(vectors, axis=1), rtol=1e-6)

    df = pd.read_parquet(data_dir).sort_values("id")
    assert df["word"].tolist() == words
    assert df["id"].dtype == np.int32 and df["count"].dtype == np.int64
    np.testing.assert_array_equal(np.stack(df["vector"].to_numpy()), vectors)

    rel = duckdb.sql(f"select id, word, count, vector, norm "
                     f"from read_parquet('{data_dir}/*.parquet') order by id")
    # Parquet has no fixed-size list type and DuckDB ignores the Arrow schema stored with it,
    # so it sees a variable list; a cast gives the fixed-size array type
    assert [str(t) for t in rel.types] == ["INTEGER", "VARCHAR", "BIGINT", "FLOAT[]", "FLOAT"]
    rows = rel.fetchall()
    assert [r[1] for r in rows] == words
    assert [r[2] for r in rows] == counts.tolist()
    np.testing.assert_array_equal(np.array([r[3] for r in rows], np.float32), vectors)
    rel = duckdb.sql(f"select vector::FLOAT[{DIM}] as v, array_inner_product(v, v) "
                     f"from read_parquet('{data_dir}/*.parquet') where word = 'café'")
    assert str(rel.types[0]) == f"FLOAT[{DIM}]"
    [(vec, dot)] = rel.fetchall()
    np.testing.assert_array_equal(np.array(vec, np.float32), vectors[1])
    assert dot == pytest.approx(float(vectors[1] @ vectors[1]), rel=1e-5)

    sdf = spark.read.parquet(data_dir)
    assert dict(sdf.dtypes) == {"id": "int", "word": "string", "count": "bigint",
                                "vector": "array<float>", "norm": "float"}
    srows = sdf.orderBy("id").collect()
    assert [r.word for r in srows] == words
    np.testing.assert_array_equal(np.array([r.vector for r in srows], np.float32), vectors)


def load(path, fmt: str) -> KeyedVectors:
    if fmt == "glove":
        return KeyedVectors.load_word2vec_format(path, binary=False, no_header=True)
    return KeyedVectors.load_word2vec_format(path, binary=fmt == "word2vec-binary")


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_each_format_round_trips_through_gensim(data_dir, tmp_path, fmt):
    words, _, vectors = source_table()
    out = tmp_path / f"vectors.{fmt}"
    result = export_embeddings(data_dir, str(out), fmt, batch_rows=4)
    assert (result.words, result.dim, result.bytes) == (len(words), DIM, out.stat().st_size)
    kv = load(out, fmt)
    assert kv.index_to_key == words
    if fmt == "word2vec-binary":
        np.testing.assert_array_equal(kv.vectors, vectors)
        # gensim reads binaries in 100 kB chunks; tiny chunks split words and vectors across
        # reads, as a large file does (the public method does not expose the chunk size)
        small = keyedvectors._load_word2vec_format(KeyedVectors, str(out), binary=True,
                                                   binary_chunk_size=37)
        assert small.index_to_key == words
        np.testing.assert_array_equal(small.vectors, vectors)
    else:
        np.testing.assert_allclose(kv.vectors, vectors, rtol=0, atol=0.5e-6 + 1e-6)
    first = out.read_bytes().split(b"\n", 1)[0]
    assert first.startswith(f"{len(words)} {DIM}".encode() if fmt != "glove" else b"the ")


def test_text_precision_is_the_number_of_decimals(data_dir, tmp_path):
    _, _, vectors = source_table()
    out = tmp_path / "vectors.txt"
    export_embeddings(data_dir, str(out), "glove", precision=2)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[1].split(" ")[0] == "café"
    values = [v for line in lines for v in line.split(" ")[1:]]
    assert all(len(v.split(".")[1]) == 2 for v in values)
    np.testing.assert_allclose(np.array(values, float).reshape(-1, DIM), vectors,
                               rtol=0, atol=0.005 + 1e-6)


def test_normalize_and_limit(data_dir, tmp_path):
    words, _, vectors = source_table()
    out = tmp_path / "unit.bin"
    # 12 rows: all of the first file and part of the second
    result = export_embeddings(data_dir, str(out), "word2vec-binary", normalize=True, limit=12)
    assert result.words == 12
    kv = load(out, "word2vec-binary")
    assert kv.index_to_key == words[:12]
    norms = np.linalg.norm(vectors[:12], axis=1, keepdims=True)
    expected = np.divide(vectors[:12], norms, out=np.zeros_like(vectors[:12]), where=norms > 0)
    np.testing.assert_allclose(kv.vectors, expected, rtol=1e-6, atol=1e-7)
    got_norms = np.linalg.norm(kv.vectors, axis=1)
    assert got_norms[ZERO] == 0  # a zero vector stays zero rather than becoming NaN
    np.testing.assert_allclose(np.delete(got_norms, ZERO), 1, rtol=1e-6)
    # a limit beyond the vocabulary exports everything
    assert export_embeddings(data_dir, str(out), "word2vec", limit=10**6).words == len(words)


def test_remote_files_are_copied_before_reading(spark, data_dir, tmp_path, monkeypatch):
    # pretend the files are on a non-local filesystem: they must come through HadoopFS.get
    fs = HadoopFS(spark)
    fetched = []
    real_get = fs.get
    monkeypatch.setattr(export, "_local_path", lambda qualified: None)
    monkeypatch.setattr(fs, "get", lambda path, local: (fetched.append(path),
                                                        real_get(path, local)))
    out = tmp_path / "vectors.txt"
    export_embeddings(data_dir, str(out), "word2vec", fs=fs, limit=5)
    assert [p.rsplit("/", 1)[1] for p in fetched] == ["part-00000.parquet"]  # only what it needs
    assert load(out, "word2vec").index_to_key == WORDS[:5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vectors.txt"]  # scratch removed


@pytest.mark.parametrize("bad", ["new york", "tab\there", "nbsp\u00a0word", "ideographic\u3000",
                                 ""])
def test_words_that_no_reader_can_split_are_refused_and_nothing_is_replaced(
        spark, tmp_path, bad):
    words = list(WORDS)
    words[14] = bad  # in the second file, after a whole batch was written
    data = write_source(spark, tmp_path / "emb", words)
    out = tmp_path / "out" / "vectors.txt"
    out.parent.mkdir()
    out.write_text("previous export\n")
    with pytest.raises(InputError, match=r"id 14, in .*part-00001\.parquet") as err:
        export_embeddings(data, str(out), "word2vec", batch_rows=4)
    assert repr(bad) in str(err.value)
    assert out.read_text() == "previous export\n"
    assert [p.name for p in out.parent.iterdir()] == ["vectors.txt"]  # no temporary left


def test_whitespace_pattern_is_exactly_python_isspace():
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    matched = pc.match_substring_regex(pa.array(chars), WHITESPACE_RE).to_pylist()
    assert [c for c, m in zip(chars, matched, strict=True) if m] == \
        [c for c in chars if c.isspace()]


def test_ids_that_are_not_contiguous_name_the_file(tmp_path):
    _, counts, vectors = source_table()
    table = embeddings.to_table(WORDS, counts, vectors)
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(table.slice(0, 10), data / "part-00000.parquet")
    pq.write_table(table.slice(11), data / "part-00001.parquet")  # id 10 is missing
    with pytest.raises(ArtifactError, match=r"part-00001\.parquet.*expected id 10 but found 11"):
        export_embeddings(str(data), str(tmp_path / "v.txt"), "glove")
    assert not (tmp_path / "v.txt").exists()


def test_cli_exports_the_newest_or_a_named_version(spark, tmp_path, capsys, run_job):
    from latentspark.cli import main

    root = tmp_path / "run"
    store = StageStore(spark, str(root), EMBEDDINGS)
    _, counts, vectors = source_table()
    versions = []
    for scale in (1, 2):  # two versions with different vectors
        with store.staging() as st:
            embeddings.write(store.fs, st.data_path,
                             embeddings.to_table(WORDS, counts, vectors * scale))
        versions.append(st.version)
    out = tmp_path / "newest.bin"
    assert main(["export", "--root", str(root), "--format", "word2vec-binary",
                 "--out", str(out)]) == 0
    np.testing.assert_array_equal(load(out, "word2vec-binary").vectors, vectors * 2)
    assert "25 words x 7" in capsys.readouterr().out

    out = tmp_path / "first.txt"
    assert run_job("export", "--root", str(root), "--version", versions[0], "--format",
                   "word2vec", "--out", str(out), "--limit", "3") == 0
    kv = load(out, "word2vec")
    assert kv.index_to_key == WORDS[:3]
    np.testing.assert_allclose(kv.vectors, vectors[:3], atol=1e-6)


def test_cli_missing_embeddings_exit_with_code_5(spark, tmp_path, capsys):
    from latentspark.cli import main

    out = tmp_path / "v.txt"
    assert main(["export", "--root", str(tmp_path / "nothing"), "--format", "glove",
                 "--out", str(out)]) == 5
    assert "no published embeddings" in capsys.readouterr().err
    assert main(["export", "--embeddings", str(tmp_path / "missing"), "--format", "glove",
                 "--out", str(out)]) == 5
    assert main(["export", "--root", str(tmp_path), "--version", "20990101T000000000000Z-abc",
                 "--format", "glove", "--out", str(out)]) == 5
    assert not out.exists()


def test_fasttext_vec_loads_in_gensim(data_dir, tmp_path):
    words, _, vectors = source_table()
    out = tmp_path / "vectors.vec"
    export_embeddings(data_dir, str(out), "fasttext", batch_rows=4)
    kv = KeyedVectors.load_word2vec_format(str(out), binary=False)
    assert kv.index_to_key == words
    np.testing.assert_allclose(kv.vectors, vectors, rtol=0, atol=0.5e-6 + 1e-6)


def test_npy_and_vocabulary_load_in_numpy(data_dir, tmp_path):
    words, _, vectors = source_table()
    out = tmp_path / "npy"
    result = export_embeddings(data_dir, str(out), "npy", batch_rows=4, limit=12,
                               normalize=True)
    got = np.load(out / "vectors.npy")
    assert got.dtype == np.float32 and got.shape == (12, DIM)
    norms = np.linalg.norm(vectors[:12], axis=1, keepdims=True)
    np.testing.assert_array_equal(
        got, np.divide(vectors[:12], norms, out=np.zeros_like(vectors[:12]), where=norms > 0))
    assert (out / "vocab.txt").read_text(encoding="utf-8").split("\n") == words[:12] + [""]
    assert result.bytes == sum(f.stat().st_size for f in out.iterdir())
    # exact bytes without normalize, and the memory-mapped load
    export_embeddings(data_dir, str(out), "npy")
    np.testing.assert_array_equal(np.load(out / "vectors.npy", mmap_mode="r"), vectors)
    assert sorted(p.name for p in out.iterdir()) == ["vectors.npy", "vocab.txt"]  # no leftovers


def test_projector_tsvs_have_matching_lines_of_tab_separated_floats(data_dir, tmp_path):
    words, _, vectors = source_table()
    out = tmp_path / "projector"
    export_embeddings(data_dir, str(out), "projector", batch_rows=4, limit=20)
    rows = (out / "vectors.tsv").read_text(encoding="utf-8").splitlines()
    meta = (out / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == len(meta) == 20
    assert meta == words[:20]
    values = np.array([r.split("\t") for r in rows], dtype=float)
    np.testing.assert_allclose(values, vectors[:20], rtol=0, atol=0.5e-6 + 1e-6)


def test_a_failed_folder_export_keeps_the_previous_files(spark, tmp_path):
    out = tmp_path / "projector"
    good = write_source(spark, tmp_path / "good")
    export_embeddings(good, str(out), "projector")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = write_source(spark, tmp_path / "bad", words=WORDS[:20] + ["has space"] + WORDS[21:])
    with pytest.raises(InputError, match="'has space'"):
        export_embeddings(bad, str(out), "projector")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
