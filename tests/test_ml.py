"""The Spark ML transformer against pyspark's own Word2VecModel (trained here on a tiny corpus)
and numpy: mean vectors, per-token vectors, findSynonyms, getVectors, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from latentspark import embeddings
from latentspark.errors import ConfigError, UnknownWordError
from latentspark.fs import HadoopFS
from latentspark.ml import EmbeddingModel

DOCS = [["a", "b", "c", "a"], ["b", "c", "d"], ["c", "d", "e", "a"], ["e", "b"]] * 10
TESTS = [(0, ["a", "zz"]), (1, []), (2, ["zz", "yy"]), (3, ["a", "b", "a", "e"]),
         (4, ["d"]), (5, None)]


@pytest.fixture(scope="module")
def w2v(spark, tmp_path_factory):
    from pyspark.ml.feature import Word2Vec

    tmp = tmp_path_factory.mktemp("ml")
    docs = spark.createDataFrame([(d,) for d in DOCS], "tokens array<string>")
    model = Word2Vec(vectorSize=4, minCount=1, seed=1, maxIter=2, inputCol="tokens",
                     outputCol="w2v").fit(docs)
    pairs = sorted((r["word"], r["vector"].toArray()) for r in model.getVectors().collect())
    words = [w for w, _ in pairs]
    vectors = np.stack([v for _, v in pairs]).astype(np.float32)
    emb = tmp / "emb"
    embeddings.write(HadoopFS(spark), str(emb / "data"),
                     embeddings.to_table(words, np.ones(len(words)), vectors))
    return {"model": model, "emb": str(emb), "vectors": dict(zip(words, vectors, strict=True)),
            "tmp": tmp}


def test_mean_vectors_equal_word2vec_and_numpy(spark, w2v):
    df = spark.createDataFrame(TESTS, "id int, tokens array<string>")
    ours = {r["id"]: r["features"] for r in EmbeddingModel(
        inputCol="tokens", outputCol="features", embeddingsPath=w2v["emb"]).transform(df)
        .collect()}
    theirs = {r["id"]: r["w2v"] for r in w2v["model"].transform(df.filter("id < 5")).collect()}
    assert sorted(ours) == [0, 1, 2, 3, 4, 5]  # every row kept, once
    assert ours[5] is None  # Word2VecModel fails on a null array; null here
    vec = w2v["vectors"]
    for i, tokens in TESTS[:5]:
        # the documented behaviour: sum of the known words' vectors over all the tokens
        want = (np.sum([vec[t] for t in tokens if t in vec], axis=0, dtype=np.float64)
                / len(tokens) if any(t in vec for t in tokens) else np.zeros(4))
        np.testing.assert_allclose(ours[i].toArray(), want, atol=1e-7)
        np.testing.assert_allclose(ours[i].toArray(), theirs[i].toArray(), atol=1e-6)
        assert ours[i].size == 4
    assert ours[1] == theirs[1]  # the empty row: zeros (sparse there, dense here)


def test_other_columns_are_kept(spark, w2v):
    df = spark.createDataFrame([(1, "x", {"k": 1}, ["a"]), (2, "y", {}, ["b", "q"])],
                               "id int, text string, meta map<string,int>, tokens array<string>")
    model = EmbeddingModel(inputCol="tokens", outputCol="v", embeddingsPath=w2v["emb"])
    out = model.transform(df)
    assert out.columns == ["id", "text", "meta", "tokens", "v"]
    rows = sorted(out.collect(), key=lambda r: r["id"])
    assert [(r["id"], r["text"], r["meta"]) for r in rows] == [(1, "x", {"k": 1}), (2, "y", {})]
    with pytest.raises(ConfigError, match="already exists"):
        model.setOutputCol("text").transform(df)


def test_token_mode_gives_each_tokens_vector_or_null(spark, w2v):
    df = spark.createDataFrame([(0, ["c", "zz", "a", "c"]), (1, []), (2, ["zz"])],
                               "id int, tokens array<string>")
    model = EmbeddingModel(inputCol="tokens", outputCol="v", embeddingsPath=w2v["emb"],
                           mode="tokens")
    rows = {r["id"]: r["v"] for r in model.transform(df).collect()}
    vec = w2v["vectors"]
    assert rows[1] == [] and rows[2] == [None]
    got = rows[0]
    assert got[1] is None and len(got) == 4
    for k, t in ((0, "c"), (2, "a"), (3, "c")):
        np.testing.assert_allclose(got[k].toArray(), vec[t], atol=1e-7)


def test_find_synonyms_and_get_vectors_equal_word2vec(spark, w2v):
    model = EmbeddingModel(inputCol="tokens", outputCol="v", embeddingsPath=w2v["emb"])
    ours = model.findSynonyms("a", 3)
    assert ours.columns == ["word", "similarity"]
    theirs = w2v["model"].findSynonymsArray("a", 3)
    got = model.findSynonymsArray("a", 3)
    assert [w for w, _ in got] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in theirs], atol=1e-6)
    with pytest.raises(UnknownWordError, match="'zz'"):
        model.findSynonyms("zz", 3)
    # by vector: the word itself is not excluded and comes first
    from pyspark.ml.linalg import Vectors

    by_vec = model.findSynonymsArray(Vectors.dense(w2v["vectors"]["b"].astype(float)), 2)
    assert by_vec[0][0] == "b" and by_vec[0][1] == pytest.approx(1.0)
    vectors = {r["word"]: r["vector"].toArray() for r in model.getVectors().collect()}
    assert sorted(vectors) == sorted(w2v["vectors"])
    for w, v in w2v["model"].getVectors().collect():
        np.testing.assert_allclose(vectors[w], v.toArray(), atol=1e-7)


def test_save_and_load_round_trip(spark, w2v):
    model = EmbeddingModel(inputCol="tokens", outputCol="features", embeddingsPath=w2v["emb"],
                           mode="tokens")
    path = str(w2v["tmp"] / "saved")
    model.save(path)
    loaded = EmbeddingModel.load(path)
    assert loaded.uid == model.uid
    assert (loaded.getInputCol(), loaded.getOutputCol(), loaded.getEmbeddingsPath(),
            loaded.getMode()) == ("tokens", "features", w2v["emb"], "tokens")
    df = spark.createDataFrame([(0, ["a", "b"])], "id int, tokens array<string>")
    assert loaded.transform(df).collect() == model.transform(df).collect()
