"""Look inside published co-occurrence counts: the strongest contexts of a few words.

Reads only the row blocks that hold the asked words (``block = id % blocks``), so it stays
cheap however large the matrix is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from latentspark.artifacts import Published
from latentspark.errors import InputError


@dataclass(frozen=True)
class Context:
    """One context word of a target word."""

    word: str
    weight: float
    pmi: float


def top_contexts(spark, vocab: Published, cooc: Published, words: list[str], k: int = 10,
                 min_weight: float = 2.0, cds: float = 0.75
                 ) -> dict[str, tuple[list[Context], list[Context]]]:
    """The ``k`` heaviest and the ``k`` most associated contexts of each word.

    Association is PMI with context-distribution smoothing, from the vocabulary counts:
    ``log(X_ij * sum(c^cds) / (c_i * c_j^cds))`` up to a constant shared by all pairs,
    among contexts with ``X_ij >= min_weight`` (rare pairs have noisy PMI).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    vocab, cooc : Published
        The published vocabulary and co-occurrence stages of one run.
    words : list of str
        Target words (looked up as given, so lower-case them if the corpus was).
    k : int
        Contexts per list.
    min_weight : float
        Smallest co-occurrence weight considered for the PMI ranking.
    cds : float
        Context-distribution smoothing exponent.

    Returns
    -------
    dict
        ``word -> (by_weight, by_pmi)``.

    Raises
    ------
    InputError
        If a word is not in the vocabulary.
    """
    from pyspark.sql import functions as F

    table = spark.read.parquet(f"{vocab.path}/data").where(
        F.col("word").isin(words)).collect()
    ids = {r["word"]: r["id"] for r in table}
    own = {r["word"]: r["count"] for r in table}
    missing = [w for w in words if w not in ids]
    if missing:
        raise InputError(f"not in the vocabulary of {vocab.path}: {', '.join(missing)}")
    blocks = cooc.manifest["blocks"]
    rows = (spark.read.parquet(f"{cooc.path}/data")
            .where(F.col("block").isin(sorted({i % blocks for i in ids.values()}))
                   & F.col("row").isin(list(ids.values())))
            .select("row", "col", "weight").collect())
    cols = sorted({r["col"] for r in rows})
    names = {r["id"]: (r["word"], r["count"]) for r in spark.read.parquet(
        f"{vocab.path}/data").where(F.col("id").isin(cols)).collect()}
    total = spark.read.parquet(f"{vocab.path}/data").agg(
        F.sum(F.pow(F.col("count").cast("double"), F.lit(cds)))).first()[0]
    out = {}
    for word in words:
        wid = ids[word]
        mine = [r for r in rows if r["row"] == wid]
        ctx = [Context(names[r["col"]][0], float(r["weight"]),
                       math.log(r["weight"] * total / (own[word] * names[r["col"]][1] ** cds)))
               for r in mine]
        by_weight = sorted(ctx, key=lambda c: (-c.weight, c.word))[:k]
        by_pmi = sorted((c for c in ctx if c.weight >= min_weight),
                        key=lambda c: (-c.pmi, c.word))[:k]
        out[word] = (by_weight, by_pmi)
    return out
