"""The vocabulary: word counts, ``min_count``, ``max_size`` and deterministic ids.

Ids are ranks: count descending, ties broken by the word in code-point order, so the same
corpus and settings always give the same ids, whatever the partitioning.
"""

from __future__ import annotations

import logging

import numpy as np

from latentspark.errors import InputError

logger = logging.getLogger(__name__)


def word_counts(tokens_df):
    """Count every distinct token.

    Parameters
    ----------
    tokens_df : pyspark.sql.DataFrame
        Has ``tokens: array<string>``.

    Returns
    -------
    pyspark.sql.DataFrame
        ``word: string, count: bigint``, one row per distinct token.
    """
    from pyspark.sql import functions as F

    return (tokens_df.select(F.explode("tokens").alias("word"))
            .groupBy("word").agg(F.count(F.lit(1)).alias("count")))


def select_vocabulary(counts, min_count: int, max_size: int):
    """Keep words seen at least ``min_count`` times, at most ``max_size`` of them, with ids.

    Parameters
    ----------
    counts : pyspark.sql.DataFrame
        ``word, count`` as returned by :func:`word_counts`.
    min_count : int
        Smallest count kept.
    max_size : int
        Largest vocabulary kept (the most frequent words).

    Returns
    -------
    pyspark.sql.DataFrame
        ``id: int, word: string, count: bigint`` in id order, ids ``0 .. n-1`` by count
        descending then word. At most ``max_size`` rows, in one partition.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = [F.col("count").desc(), F.col("word").asc()]
    top = counts.where(F.col("count") >= min_count).orderBy(*order).limit(max_size)
    # limit() leaves one partition of at most max_size rows, so this window is bounded
    ranked = top.withColumn("id", (F.row_number().over(Window.orderBy(*order)) - 1).cast("int"))
    return ranked.select("id", "word", F.col("count").cast("bigint")).orderBy("id")


def load_vocabulary(spark, vocab) -> tuple:
    """The published vocabulary's words (as a pyarrow array) and counts, in id order.

    The vocabulary is capped by ``vocab.max_size``; it is the one thing the driver holds.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    vocab : Published
        A published ``vocab`` version.

    Returns
    -------
    words : pyarrow.StringArray
    counts : numpy.ndarray
    """
    import pyarrow.compute as pc

    table = spark.read.parquet(f"{vocab.path}/data").orderBy("id").toArrow()
    ids = table.column("id").to_numpy()
    if ids.size and (ids[0] != 0 or ids[-1] != ids.size - 1):
        raise InputError(f"vocabulary {vocab.path} does not have ids 0..{ids.size - 1}")
    return pc.cast(table.column("word"), "string").combine_chunks(), \
        np.asarray(table.column("count").to_numpy())
