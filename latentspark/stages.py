"""The pipeline's stages: each reads its inputs, skips itself when its published output is up to
date, and otherwise writes to staging and publishes with a manifest."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from latentspark.artifacts import Published, StageStore
from latentspark.config import Config
from latentspark.corpus import CorpusInput, read_corpus, resolve_input, tokenize
from latentspark.errors import ConfigError, InputError, LatentSparkError

logger = logging.getLogger(__name__)

VOCAB, COOCCUR, EMBEDDINGS = "vocab", "cooccur", "embeddings"


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


def memory_plan(vocab_size: int, cfg: Config) -> dict[str, int]:
    """Bytes the factorization needs on the driver and in each Python worker.

    The driver holds a few ``V x k`` float64 arrays in Python (``k = dim + oversample`` for
    ``ppmi_svd``, ``dim + 1`` for ``glove``) and, while one pass is collected, that pass's
    result in the JVM as well. Each Python worker holds the broadcast ``V x k`` float32
    factor and the kernels' bounded temporaries.
    """
    from latentspark.factorize import ENTRY_BUDGET

    f = cfg.factorize
    width = f.dim + 1 if f.method == "glove" else f.dim + f.oversample
    dense = vocab_size * width
    return {
        "width": width,
        "driver_python": 6 * 8 * dense,
        "driver_jvm": 2 * 8 * dense + 4 * 8 * vocab_size,
        "worker": 2 * 4 * dense + 4 * ENTRY_BUDGET * width * 4,
    }


def _parse_bytes(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)b?\s*", text.lower())
    if not m:
        return 0
    return int(m.group(1)) * (units[m.group(2)] if m.group(2) else 1)


def available_memory() -> int:
    """Bytes of memory available to new allocations on this machine (Linux's MemAvailable)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(spark, vocab_size: int, cfg: Config) -> dict[str, int]:
    """Refuse a factorization that cannot fit, before any work, with what to change."""
    plan = memory_plan(vocab_size, cfg)
    conf = spark.sparkContext.getConf()
    jvm = _parse_bytes(conf.get("spark.driver.memory", "1g"))
    gib = 2**30
    hint = ("lower vocab.max_size or factorize.dim" + (", or factorize.oversample"
            if cfg.factorize.method != "glove" else ""))
    if jvm and plan["driver_jvm"] > 0.6 * jvm:
        raise ConfigError(
            f"factorize: {vocab_size:,} words x {plan['width']} columns needs about "
            f"{plan['driver_jvm'] / gib:.1f} GiB of driver JVM heap to collect a pass, more than "
            f"60% of spark.driver.memory = {jvm / gib:.1f} GiB; raise spark.driver.memory "
            f"(spark-submit --driver-memory) or {hint}")
    free = available_memory()
    if plan["driver_python"] > free:
        raise ConfigError(
            f"factorize: {vocab_size:,} words x {plan['width']} columns needs about "
            f"{plan['driver_python'] / gib:.1f} GiB in the driver's Python process, but only "
            f"{free / gib:.1f} GiB is available; {hint}")
    return plan


def warm_start_vectors(spark, words, path: str, dim: int) -> tuple[np.ndarray, int]:
    """The vectors of a previous embeddings version, in the current vocabulary's id order.

    Rows of words the previous version lacks are zero. Returns the matrix and the number of
    shared words.
    """
    import pyarrow.compute as pc

    from latentspark import embeddings

    old_words, _, old_vectors = embeddings.read(spark, path)
    if old_vectors.shape[1] != dim:
        raise ConfigError(f"factorize.warm_start: {path} has dimension {old_vectors.shape[1]}, "
                          f"this run factorizes to {dim}; turn warm_start off for this run")
    where = pc.fill_null(pc.index_in(words, value_set=old_words), -1).to_numpy()
    init = np.zeros((len(words), dim))
    rows = np.flatnonzero(where >= 0)
    init[rows] = old_vectors[where[rows]]
    return init, int(rows.size)


def run_factorize(spark, cfg: Config, force: bool = False, cooc: Published | None = None,
                  warm_from: str | None = None) -> Published:
    """Factorize the published co-occurrences into embeddings and publish them.

    Runs (or reuses) the vocabulary and co-occurrence stages first, unless ``cooc`` is given.

    Returns
    -------
    Published
        The embeddings table (see :mod:`latentspark.embeddings`) under ``path + "/data"``.

    Raises
    ------
    ConfigError
        A dimension larger than the vocabulary, or a size that cannot fit in memory.
    InputError
        No co-occurrences to factorize.

    Other Parameters
    ----------------
    cooc : Published, optional
        The co-occurrences to factorize (the pipeline's incremental counts).
    warm_from : str, optional
        Embeddings whose vectors start ``glove`` and ``ppmi_wals`` (``factorize.warm_start``).
    """
    from pyspark.sql import functions as F

    from latentspark import embeddings
    from latentspark import factorize as fz

    cooc = cooc or run_cooccur(spark, cfg, force=False)
    vocab = StageStore(spark, cfg.run.root, VOCAB).load(cooc.manifest["input"]["vocab_version"])
    fingerprint = f"{cooc.manifest['input_fingerprint']}:{cooc.version}"
    if warm_from and cfg.factorize.method == "ppmi_svd":
        logger.warning("factorize: ppmi_svd is not iterative; warm start ignored")
        warm_from = None
    if warm_from:
        fingerprint += f":warm={warm_from}"
    config_hash = cfg.section_hash("corpus", "tokenize", "vocab", "cooccur", "factorize")
    store = StageStore(spark, cfg.run.root, EMBEDDINGS, cfg.run.keep_versions)
    cur = store.current()
    if not force and _is_current(cur, fingerprint, config_hash):
        logger.info("factorize: version %s is up to date; skipping", cur.version)
        return cur
    f = cfg.factorize
    words, counts = load_vocabulary(spark, vocab)
    n = len(words)
    if f.dim > n:
        raise ConfigError(f"factorize.dim = {f.dim} is larger than the vocabulary ({n} words); "
                          "lower factorize.dim or vocab.min_count")
    plan = check_memory(spark, n, cfg)
    init = None
    if warm_from:
        init, shared = warm_start_vectors(spark, words, warm_from, f.dim)
        logger.info("factorize: warm start from %s (%d of %d words shared)", warm_from,
                    shared, n)
    logger.info("factorize: %s, dimension %d, %d words; driver needs ~%.2f GiB (Python) and "
                "~%.2f GiB (JVM), each Python worker ~%.2f GiB", f.method, f.dim, n,
                plan["driver_python"] / 2**30, plan["driver_jvm"] / 2**30,
                plan["worker"] / 2**30)
    data = f"{cooc.path}/data"
    with store.staging() as st:
        with st.timed("cache_rows"):
            rows = fz.complete_rows(spark, data)
        try:
            with st.timed("factorize"):
                if f.method == "glove":
                    result = fz.glove(spark, rows, n, f.dim, iterations=f.iterations,
                                      x_max=f.x_max, alpha=f.alpha, l2=f.l2, seed=f.seed,
                                      tolerance=f.tolerance, init=init)
                    vectors = result.vectors if f.add_contexts else result.extra["W"]
                else:
                    sums = spark.read.parquet(data).groupBy("row").agg(
                        F.sum("weight").alias("s")).toArrow()
                    row_sums = np.zeros(n)
                    row_sums[sums.column("row").to_numpy()] = sums.column("s").to_numpy()
                if f.method == "ppmi_wals":
                    result = fz.ppmi_wals(spark, rows, row_sums, f.dim, cds=f.cds,
                                          neg=f.negatives, iterations=f.wals_iterations,
                                          l2=f.ridge, eig=f.eig, add_contexts=f.add_contexts,
                                          oversample=f.oversample, power_iters=f.power_iters,
                                          seed=f.seed, tolerance=f.tolerance, init=init)
                    vectors = result.vectors
                elif f.method == "ppmi_svd":
                    result = fz.ppmi_svd(spark, rows, row_sums, f.dim, cds=f.cds,
                                         shift=float(np.log(f.neg)), eig=f.eig,
                                         add_contexts=f.add_contexts,
                                         oversample=f.oversample, power_iters=f.power_iters,
                                         seed=f.seed)
                    vectors = result.vectors
        finally:
            rows.unpersist()
        with st.timed("write"):
            embeddings.write(store.fs, st.data_path, embeddings.to_table(words, counts, vectors))
        empty = int(np.sum(~np.any(vectors != 0, axis=1)))
        st.manifest.update({
            "config": cfg.to_dict(),
            "config_hash": config_hash,
            "input_fingerprint": fingerprint,
            "input": {"cooccur_version": cooc.version, "vocab_version": vocab.version,
                      "corpus": cooc.manifest["input"]},
            "method": f.method,
            "parameters": dict(vars(f)),
            "warm_start": warm_from,
            "dim": f.dim,
            "vocab_size": n,
            "rows": n,
            "words_without_cooccurrences": empty,
            "history": result.history,
            "schema": "id INT, word STRING, count BIGINT, vector FIXED_SIZE_LIST<FLOAT>[dim], "
                      "norm FLOAT",
            **({"singular_values": [round(float(s), 6) for s in
                                    result.extra["singular_values"]]}
               if "singular_values" in result.extra else {}),
        })
    return store.require()
