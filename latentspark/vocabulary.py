"""Vocabulary stage: word counts, ``min_count``, ``max_size`` and deterministic ids.

Ids are ranks: count descending, ties broken by the word in code-point order, so the same
corpus and settings always give the same ids, whatever the partitioning.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

#: the published vocabulary's schema, as Spark DDL
VOCAB_DDL = "id INT, word STRING, count BIGINT"


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
