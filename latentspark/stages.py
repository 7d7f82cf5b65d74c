"""The pipeline's stages: each reads its inputs, skips itself when its published output is up to
date, and otherwise writes to staging and publishes with a manifest."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from latentspark.artifacts import Published, StageStore
from latentspark.config import Config
from latentspark.corpus import CorpusInput, read_corpus, resolve_input, tokenize
from latentspark.errors import InputError, LatentSparkError

logger = logging.getLogger(__name__)

VOCAB, COOCCUR = "vocab", "cooccur"


@contextmanager
def spark_errors(what: str) -> Iterator[None]:
    """Turn a Spark job failure caused by bad input into an :class:`InputError`.

    Spark reports a corrupt file or a record rejected by :func:`read_corpus` deep inside a
    Java stack trace; this finds the file and the reason and says them in one line.
    """
    try:
        yield
    except LatentSparkError:
        raise
    except Exception as exc:
        text = str(exc)
        bad = re.search(r"BAD_INPUT: ([^\n]*?)(?:\s+SQLSTATE|\n|$)", text)
        if bad:
            raise InputError(f"{what}: {bad.group(1).strip()}") from None
        failed = re.search(r"(?:while reading file|FAILED_READ_FILE[^\n]*?file) (\S+?)\.?\s", text)
        if failed:
            cause = _root_cause(text)
            raise InputError(f"{what}: cannot read {failed.group(1)}: {cause}") from None
        raise


def _root_cause(text: str) -> str:
    causes = re.findall(r"Caused by: ([^\n]+)", text)
    return causes[-1].strip() if causes else "the file is corrupt or truncated"


def _is_current(cur: Published | None, fingerprint: str, config_hash: str) -> bool:
    return (cur is not None and cur.manifest.get("input_fingerprint") == fingerprint
            and cur.manifest.get("config_hash") == config_hash)


def _provenance(cfg: Config, config_hash: str, fingerprint: str, source: CorpusInput,
                **upstream: str) -> dict:
    """The manifest fields that say what a stage was made from."""
    return {
        "config": cfg.to_dict(),
        "config_hash": config_hash,
        "input_fingerprint": fingerprint,
        "input": {"path": source.path, "format": source.format, "files": source.n_files,
                  "bytes": source.n_bytes, **upstream},
    }


def run_vocab(spark, cfg: Config, force: bool = False,
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
    config_hash = cfg.section_hash("corpus", "tokenize", "vocab")
    store = StageStore(spark, cfg.run.root, VOCAB, cfg.run.keep_versions)
    cur = store.current()
    if not force and _is_current(cur, source.fingerprint, config_hash):
        logger.info("vocab: version %s is up to date with the corpus and config; skipping",
                    cur.version)
        return cur
    logger.info("vocab: reading %s files under %s (%d files, %.1f MB before any where filter)",
                source.format, source.path, source.n_files, source.n_bytes / 1e6)
    with store.staging() as st, spark_errors(f"corpus {source.path}"):
        tokens = tokenize(read_corpus(spark, cfg.corpus, source), cfg.tokenize)
        counts = word_counts(tokens).persist(StorageLevel.MEMORY_AND_DISK)
        with st.timed("count_words"):
            totals = counts.agg(F.count(F.lit(1)).alias("distinct"),
                                F.sum("count").alias("tokens")).first()
        n_tokens = int(totals["tokens"] or 0)
        if n_tokens == 0:
            raise InputError(f"corpus {source.path} has no tokens ({source.n_files} files"
                             + (f", where {cfg.corpus.where}" if cfg.corpus.where else "") + ")")
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
            **_provenance(cfg, config_hash, source.fingerprint, source),
            "rows": int(kept["words"]),
            "corpus_tokens": n_tokens,
            "distinct_words": int(totals["distinct"]),
            "vocab_tokens": int(kept["tokens"]),
            "coverage": round(int(kept["tokens"]) / n_tokens, 6),
            "schema": "id INT, word STRING, count BIGINT",
        })
    logger.info("vocab: %d words kept of %d distinct; they cover %.1f%% of %d tokens",
                kept["words"], totals["distinct"], 100 * kept["tokens"] / n_tokens, n_tokens)
    return store.require()


def load_vocabulary(spark, vocab: Published):
    """The published vocabulary's words (as a pyarrow array) and counts, in id order.

    The vocabulary is capped by ``vocab.max_size``; it is the one thing the driver holds.
    """
    import pyarrow.compute as pc

    table = spark.read.parquet(f"{vocab.path}/data").orderBy("id").toArrow()
    ids = table.column("id").to_numpy()
    if ids.size and (ids[0] != 0 or ids[-1] != ids.size - 1):
        raise InputError(f"vocabulary {vocab.path} does not have ids 0..{ids.size - 1}")
    return pc.cast(table.column("word"), "string").combine_chunks(), \
        table.column("count").to_numpy()


def _files_into_blocks(fs, path: str, blocks: int) -> None:
    """Move ``part-0000k-*`` (partition k holds block k) into Hive-style ``block=k/`` folders,
    which any Parquet reader discovers as a ``block`` column."""
    for name in fs.list_names(path):
        m = re.match(r"part-(\d+)-", name)
        if m:
            block = int(m.group(1))
            if block >= blocks:
                raise RuntimeError(f"unexpected output file {name} for {blocks} blocks")
            fs.mkdirs(f"{path}/block={block}")
            fs.rename(f"{path}/{name}", f"{path}/block={block}/{name}")


def run_cooccur(spark, cfg: Config, force: bool = False) -> Published:
    """Count co-occurrences against the published vocabulary and publish them.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    force : bool
        Recount even when the published counts match the inputs and config.

    Returns
    -------
    Published
        Parquet ``row int, col int, weight float`` under ``path + "/data/block=k/"``.
    """
    from pyspark.sql import functions as F

    from latentspark.cooccurrence import count_cooccurrences

    source = resolve_input(spark, cfg.corpus)
    vocab = run_vocab(spark, cfg, force=False, source=source)
    fingerprint = f"{source.fingerprint}:{vocab.version}"
    config_hash = cfg.section_hash("corpus", "tokenize", "vocab", "cooccur")
    store = StageStore(spark, cfg.run.root, COOCCUR, cfg.run.keep_versions)
    cur = store.current()
    if not force and _is_current(cur, fingerprint, config_hash):
        logger.info("cooccur: version %s is up to date; skipping", cur.version)
        return cur
    words, counts = load_vocabulary(spark, vocab)
    c = cfg.cooccur
    logger.info("cooccur: window %d (%s%s%s) over %d vocabulary words, %d row blocks",
                c.window, c.weighting, ", dynamic" if c.dynamic_window else "",
                f", subsample {c.subsample:g}" if c.subsample else "", len(words), c.blocks)
    with store.staging() as st, spark_errors(f"corpus {source.path}"):
        tokens = tokenize(read_corpus(spark, cfg.corpus, source), cfg.tokenize)
        cooc = count_cooccurrences(spark, tokens, words, counts, c)
        with st.timed("count_and_write"):
            cooc.write.parquet(st.data_path)
        _files_into_blocks(store.fs, st.data_path, c.blocks)
        stats = spark.read.parquet(st.data_path).agg(
            F.count(F.lit(1)).alias("nnz"), F.sum("weight").alias("total")).first()
        if not stats["nnz"]:
            raise InputError(f"corpus {source.path} has no line with two vocabulary words; "
                             "no co-occurrence to count")
        seconds = st._marks["count_and_write"]
        st.manifest.update({
            **_provenance(cfg, config_hash, fingerprint, source, vocab_version=vocab.version),
            "vocab_size": len(words),
            "rows": int(stats["nnz"]),
            "total_weight": float(stats["total"]),
            "blocks": c.blocks,
            "layout": "data/block=k/ holds rows r with r % blocks == k, sorted by (row, col); "
                      "the matrix is symmetric and both (i, j) and (j, i) are stored",
            "schema": "row INT, col INT, weight FLOAT",
            "corpus_tokens": vocab.manifest.get("corpus_tokens"),
            "tokens_per_second": round(vocab.manifest.get("corpus_tokens", 0) / seconds)
            if seconds else None,
        })
    logger.info("cooccur: %d non-zeros, total weight %.4g", stats["nnz"], stats["total"])
    return store.require()
