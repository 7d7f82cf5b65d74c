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
#: the settings that shape the tokenised corpus
TOKEN_SECTIONS = ("corpus", "tokenize")

#: the corpus lines the last vocabulary build of this process read, left persisted (in
#: Spark's storage, memory and disk) for the counting stage that follows: (key, DataFrame)
_HANDOFF: dict[str, tuple] = {}


def _tokens_key(cfg: Config, source: CorpusInput) -> str:
    return f"{source.fingerprint}:{cfg.section_hash(*TOKEN_SECTIONS)}"


def take_tokens(cfg: Config, source: CorpusInput):
    """The corpus lines a vocabulary build just read, if they are this corpus's.

    ``latentspark run`` and the pipeline build the vocabulary and then count: the vocab
    stage keeps the lines it read and checked persisted (``MEMORY_AND_DISK``, in Spark's
    storage), so that the counting pass reads no file again. The caller owns the returned
    DataFrame and unpersists it when done; a second call returns ``None``.

    Parameters
    ----------
    cfg : Config
    source : CorpusInput
        The corpus about to be counted.

    Returns
    -------
    pyspark.sql.DataFrame or None
        ``text: string``, one row per context unit (:func:`~latentspark.corpus.tokenize`
        gives its tokens); ``None`` when the last build
        read another corpus or other settings (it is then released), or none was kept.
    """
    entry = _HANDOFF.pop("tokens", None)
    if entry is None:
        return None
    key, tokens = entry
    if key != _tokens_key(cfg, source):
        tokens.unpersist()
        return None
    return tokens


def release_tokens() -> None:
    """Unpersist the corpus lines kept for a counting pass, if any."""
    entry = _HANDOFF.pop("tokens", None)
    if entry is not None:
        entry[1].unpersist()


def run(spark, cfg: Config, force: bool = False,
        source: CorpusInput | None = None, keep_tokens: bool = False) -> Published:
    """Build and publish the vocabulary, unless an up-to-date one is published.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    force : bool
        Rebuild even when the published vocabulary matches the inputs and config.
    source : CorpusInput, optional
        The corpus already resolved by the caller (saves listing it again).
    keep_tokens : bool
        Keep the corpus lines persisted for a counting pass that follows in this process
        (:func:`take_tokens`), so the corpus is read once; a vocabulary built alone does not
        pay for it.

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

    def _count(st: Staging, tokens):
        """Count the words of ``tokens`` and write the vocabulary."""
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
        return kept, totals, n_tokens

    def build(st: Staging) -> None:
        logger.info("vocab: reading %s files under %s (%d files, %.1f MB before any where "
                    "filter)", source.format, source.path, source.n_files, source.n_bytes / 1e6)
        with spark_errors(f"corpus {source.path}"):
            with st.timed("check_lines"):
                skipped = check_lines(spark, cfg.corpus, source)
            release_tokens()  # one kept corpus at a time
            lines = read_corpus(spark, cfg.corpus, source)
            if keep_tokens:
                # kept for the counting pass (take_tokens): the corpus is read once. The
                # checked lines are kept, not their tokens: the counting pass splits the
                # ASCII lines itself (cooccurrence.text_fast_path), far faster than the
                # JVM hashes kept token arrays
                lines = lines.select("text").persist(StorageLevel.MEMORY_AND_DISK)
            try:
                kept, totals, n_tokens = _count(st, tokenize(lines, cfg.tokenize))
            except BaseException:
                if keep_tokens:
                    lines.unpersist()
                raise
            if keep_tokens:
                _HANDOFF["tokens"] = (_tokens_key(cfg, source), lines)
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
