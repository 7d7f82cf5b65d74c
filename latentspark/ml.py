"""A Spark ML transformer over published embeddings, with the conventions of ``Word2VecModel``.

::

    from latentspark.ml import EmbeddingModel

    model = EmbeddingModel(inputCol="tokens", outputCol="features",
                           embeddingsPath="hdfs:///latentspark/news/models")   # LATEST
    model.transform(docs)            # the mean vector of each row's tokens (a VectorUDT column)
    model.findSynonyms("king", 10)   # DataFrame word, similarity
    model.getVectors()               # DataFrame word, vector
    model.save("hdfs:///models/embedder")   # metadata only; EmbeddingModel.load(...) reads it

``embeddingsPath`` takes what :func:`latentspark.load` takes: a model root (``LATEST``), a model
version, a published embeddings version or bare embeddings Parquet, on any Hadoop filesystem.
The table is read as a DataFrame and **joined** with the exploded tokens; nothing of vocabulary
size goes through the driver (Spark may still broadcast the smaller side of the join when it is
under ``spark.sql.autoBroadcastJoinThreshold``). Only built-in Spark functions are used (no
Python UDFs): ``explode``, a join, ``Summarizer.sum`` and the ``transform`` array function.

``mode = "mean"`` behaves as ``pyspark.ml.feature.Word2VecModel.transform`` (checked against it
in the tests): the sum of the vectors of the tokens found, divided by the number of tokens
*including* the unknown ones; an all-zero vector of size ``dim`` when none is found or the array
is empty. Where Word2VecModel fails on a null array, the output is null. Vectors are
``DenseVector`` of float64 (Word2VecModel returns a sparse zero vector for an empty array,
which compares equal). ``mode = "tokens"`` gives, per row, an array with the vector of each
token in order, null for an unknown token.

The input is read twice (once for the tokens, once for the rows the means are joined back to,
by a ``monotonically_increasing_id`` key): cache an expensive or non-deterministic input first.

Saving writes only the params (``DefaultParamsWritable``): the model refers to the embeddings
by path, and a model root path follows ``LATEST`` when the transformer runs.
"""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml import Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCol, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable

from latentspark.errors import ConfigError, UnknownWordError

MODES = ("mean", "tokens")
_ROW, _WORD, _POS, _VEC = "__ls_row", "__ls_word", "__ls_pos", "__ls_vec"


class EmbeddingModel(Model, HasInputCol, HasOutputCol, DefaultParamsReadable,
                     DefaultParamsWritable):
    """Map a column of token arrays to embedding vectors (see the module docstring).

    Parameters
    ----------
    inputCol : str
        Column of ``array<string>`` tokens.
    outputCol : str
        Column to add: a vector (``mean``) or an array of vectors (``tokens``).
    embeddingsPath : str
        Model root, model version, embeddings version or bare embeddings Parquet (any URI).
    mode : {"mean", "tokens"}
        The mean vector per row, as ``Word2VecModel``; or the vector of every token.
    """

    embeddingsPath: Param[str] = Param(
        Params._dummy(), "embeddingsPath", "model root (LATEST), model version, embeddings "
        "version or bare embeddings Parquet", typeConverter=TypeConverters.toString)
    mode: Param[str] = Param(
        Params._dummy(), "mode", "mean: the mean vector of the row's tokens, as "
        "Word2VecModel.transform; tokens: an array with each token's vector (null if unknown)",
        typeConverter=TypeConverters.toString)

    @keyword_only
    def __init__(self, *, inputCol: str | None = None, outputCol: str | None = None,
                 embeddingsPath: str | None = None, mode: str = "mean") -> None:
        super().__init__()
        self._setDefault(mode="mean")
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCol: str | None = None, outputCol: str | None = None,
                  embeddingsPath: str | None = None, mode: str = "mean") -> EmbeddingModel:
        """Set any of the params."""
        return self._set(**self._input_kwargs)

    def setInputCol(self, value: str) -> EmbeddingModel:
        """Set ``inputCol``."""
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> EmbeddingModel:
        """Set ``outputCol``."""
        return self._set(outputCol=value)

    def setEmbeddingsPath(self, value: str) -> EmbeddingModel:
        """Set ``embeddingsPath``."""
        return self._set(embeddingsPath=value)

    def getEmbeddingsPath(self) -> str:
        """The ``embeddingsPath`` param."""
        return self.getOrDefault(self.embeddingsPath)

    def setMode(self, value: str) -> EmbeddingModel:
        """Set ``mode``."""
        return self._set(mode=value)

    def getMode(self) -> str:
        """The ``mode`` param."""
        return self.getOrDefault(self.mode)

    # -- the embeddings -------------------------------------------------------------------

    def _embeddings(self, spark) -> tuple[Any, int]:
        """The table as a ``word, vector`` DataFrame (``array<float>``), and its dimension."""
        from latentspark.errors import InputError
        from latentspark.fs import HadoopFS
        from latentspark.index import locate_embeddings
        from latentspark.models import resolve

        if not self.isDefined(self.embeddingsPath):
            raise ConfigError("EmbeddingModel: set embeddingsPath")
        fs = HadoopFS(spark)
        path = self.getEmbeddingsPath().rstrip("/")
        if not fs.exists(path):
            raise InputError(f"EmbeddingModel embeddingsPath = {path!r}: no such file or folder")
        path = resolve(fs, path) or path
        emb = locate_embeddings(spark, fs, path, what="EmbeddingModel embeddingsPath")
        return spark.read.parquet(emb.data_path).select("word", "vector"), emb.dim

    def getVectors(self):
        """All words and their vectors, as ``Word2VecModel.getVectors``.

        Returns
        -------
        pyspark.sql.DataFrame
            ``word STRING, vector VECTOR`` (DenseVector).
        """
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import SparkSession

        emb, _ = self._embeddings(SparkSession.active())
        return emb.select("word", array_to_vector("vector").alias("vector"))

    def findSynonyms(self, word, num: int):
        """The ``num`` words most cosine-similar to a word (itself excluded) or a vector.

        Computed on the executors: one query vector goes into the plan as a literal and the
        dot products are Spark array functions.

        Parameters
        ----------
        word : str or pyspark.ml.linalg.Vector
        num : int

        Returns
        -------
        pyspark.sql.DataFrame
            ``word STRING, similarity DOUBLE``, most similar first, as ``Word2VecModel``.

        Raises
        ------
        UnknownWordError
            ``word`` is not in the vocabulary.
        """
        import numpy as np
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F

        if num < 1:
            raise ValueError(f"findSynonyms: num {num} must be positive")
        emb, dim = self._embeddings(SparkSession.active())
        if isinstance(word, str):
            rows = emb.filter(F.col("word") == word).select("vector").limit(1).collect()
            if not rows:
                raise UnknownWordError(word, f"the embeddings at {self.getEmbeddingsPath()}")
            query = np.asarray(rows[0]["vector"], dtype=np.float64)
        else:
            query = np.asarray(word.toArray(), dtype=np.float64)
        if query.size != dim:
            raise ValueError(f"findSynonyms: a vector of size {query.size}, the embeddings "
                             f"have dimension {dim}")
        q_norm = float(np.linalg.norm(query))
        lit = F.array(*[F.lit(float(x)) for x in query])
        dot = F.aggregate(F.zip_with("vector", lit, lambda a, b: a * b), F.lit(0.0),
                          lambda acc, x: acc + x)
        norm = F.sqrt(F.aggregate(F.transform("vector", lambda x: x * x), F.lit(0.0),
                                  lambda acc, x: acc + x))
        # a zero vector is similar to nothing, as Word2VecModel scores it
        sim = F.when((norm > 0) & F.lit(q_norm > 0), dot / (norm * F.lit(q_norm))) \
            .otherwise(F.lit(0.0))
        out = emb.select("word", sim.alias("similarity"))
        if isinstance(word, str):
            out = out.filter(F.col("word") != word)
        return out.orderBy(F.desc("similarity"), "word").limit(num)

    def findSynonymsArray(self, word, num: int) -> list[tuple[str, float]]:
        """:meth:`findSynonyms` as a list of ``(word, similarity)`` (``num`` rows)."""
        return [(r["word"], r["similarity"]) for r in self.findSynonyms(word, num).collect()]

    # -- the transformation ---------------------------------------------------------------

    def _transform(self, dataset):
        from pyspark.ml.functions import array_to_vector, vector_to_array
        from pyspark.ml.stat import Summarizer
        from pyspark.sql import functions as F

        mode = self.getMode()
        if mode not in MODES:
            raise ConfigError(f"EmbeddingModel mode {mode!r} is not one of {', '.join(MODES)}")
        inp, out = self.getInputCol(), self.getOutputCol()
        if inp not in dataset.columns:
            raise ConfigError(f"EmbeddingModel inputCol {inp!r} is not a column of the input "
                              f"({', '.join(dataset.columns)})")
        if out in dataset.columns:
            raise ConfigError(f"EmbeddingModel outputCol {out!r} already exists in the input")
        emb, dim = self._embeddings(dataset.sparkSession)
        vectors = emb.select(F.col("word").alias(_WORD), array_to_vector("vector").alias(_VEC))
        rows = dataset.withColumn(_ROW, F.monotonically_increasing_id())
        tokens = F.col(inp)
        if mode == "mean":
            found = rows.select(_ROW, F.explode(inp).alias(_WORD)).join(vectors, _WORD)
            sums = found.groupBy(_ROW).agg(Summarizer.sum(F.col(_VEC)).alias("__ls_sum"))
            summed = F.col("__ls_sum")
            # vector_to_array refuses nulls: rows without a known token take zeros first
            total = F.when(summed.isNull(), F.array_repeat(F.lit(0.0), dim)) \
                .otherwise(vector_to_array(summed))
            # Word2VecModel divides by all the tokens, unknown ones included
            n = F.greatest(F.size(tokens), F.lit(1)).cast("double")
            value = array_to_vector(F.transform(total, lambda x: x / n))
            joined, extra = rows.join(sums, _ROW, "left"), "__ls_sum"
        else:
            found = rows.select(_ROW, F.posexplode(inp).alias(_POS, _WORD)).join(vectors, _WORD)
            by_pos = found.groupBy(_ROW).agg(
                F.map_from_entries(F.collect_list(F.struct(_POS, _VEC))).alias("__ls_map"))
            value = F.transform(tokens, lambda _, i: F.try_element_at(F.col("__ls_map"), i))
            joined, extra = rows.join(by_pos, _ROW, "left"), "__ls_map"
        result = F.when(tokens.isNull(), F.lit(None)).otherwise(value)
        return joined.withColumn(out, result).drop(_ROW, extra)
