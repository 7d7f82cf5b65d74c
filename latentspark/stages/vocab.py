"""The ``vocab`` stage: count words and publish the vocabulary.

Output: ``<root>/vocab/<version>/data/*.parquet`` with :data:`latentspark.schemas.VOCAB`.
The scheduled pipeline builds the same stage from per-partition word counts
(:mod:`latentspark.incremental`).
"""

from __future__ import annotations

import logging

from latentspark import schemas
from latentspark.artifacts import VOCAB, Published, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.corpus import CorpusInput, check_lines, read_corpus, resolve_input, tokenize
from latentspark.errors import InputError, spark_errors
from latentspark.stages import corpus_provenance

logger = logging.getLogger(__name__)

#: the settings that shape the vocabulary
SECTIONS = ("corpus", "tokenize", "vocab")


def run(spark, cfg: Config, force: bool = False,
        source: CorpusInput | None = None) -> Published:
    """Build and publish the vocabulary, unless an up-to-date one is published.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    force : bool
        Rebuild even when the published vocabulary matches the inputs and config.
    source : CorpusInput, optional
        The corpus already resolved by the caller (saves listing it again).

    Returns
    -------
    Published
        The published (or reused) vocabulary: Parquet ``id int, word string, count bigint``
        under ``path + "/data"``.

    Raises
    ------
    InputError
        Missing path, empty corpus, undecodable or corrupt input, or no word kept.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from latentspark.vocabulary import select_vocabulary, word_counts

    source = source or resolve_input(spark, cfg.corpus)

    def build(st: Staging) -> None:
        logger.info("vocab: reading %s files under %s (%d files, %.1f MB before any where "
                    "filter)", source.format, source.path, source.n_files, source.n_bytes / 1e6)
        with spark_errors(f"corpus {source.path}"):
            with st.timed("check_lines"):
                skipped = check_lines(spark, cfg.corpus, source)
            tokens = tokenize(read_corpus(spark, cfg.corpus, source), cfg.tokenize)
            counts = word_counts(tokens).persist(StorageLevel.MEMORY_AND_DISK)
            with st.timed("count_words"):
                totals = counts.agg(F.count(F.lit(1)).alias("distinct"),
                                    F.sum("count").alias("tokens")).first()
            n_tokens = int(totals["tokens"] or 0)
            if n_tokens == 0:
                raise InputError(f"corpus {source.path} has no tokens ({source.n_files} files"
                                 + (f", where {cfg.corpus.where}" if cfg.corpus.where else "")
                                 + ")")
            vocab = select_vocabulary(counts, cfg.vocab.min_count, cfg.vocab.max_size)
            with st.timed("write"):
                vocab.coalesce(1).write.parquet(st.data_path)
            kept = spark.read.parquet(st.data_path).agg(
                F.count(F.lit(1)).alias("words"), F.sum("count").alias("tokens")).first()
            counts.unpersist()
        if not kept["words"]:
            raise InputError(f"no word of corpus {source.path} occurs {cfg.vocab.min_count} "
                             "times or more; lower vocab.min_count")
        st.manifest.update({
            **corpus_provenance(cfg, source),
            # bad_records = "skip": the files whose lines (or all of them) were left out
            "skipped_files": skipped,
            "rows": int(kept["words"]),
            "corpus_tokens": n_tokens,
            "distinct_words": int(totals["distinct"]),
            "vocab_tokens": int(kept["tokens"]),
            "coverage": round(int(kept["tokens"]) / n_tokens, 6),
            "schema": schemas.describe(schemas.VOCAB),
        })
        logger.info("vocab: %d words kept of %d distinct; they cover %.1f%% of %d tokens",
                    kept["words"], totals["distinct"], 100 * kept["tokens"] / n_tokens,
                    n_tokens)

    return build_stage(RunRoot.from_config(spark, cfg).store(VOCAB),
                       fingerprint=source.fingerprint, config_hash=cfg.section_hash(*SECTIONS),
                       force=force, build=build)
