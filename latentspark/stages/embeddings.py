"""The ``embeddings`` stage: factorize the published co-occurrences into word vectors.

Output: ``<root>/embeddings/<version>/data/*.parquet`` with
:func:`latentspark.schemas.embeddings` (see :mod:`latentspark.embeddings`). The methods and
their kernels are in :mod:`latentspark.factorize`; this module checks the memory plan,
wires the passes and publishes.
"""

from __future__ import annotations

import logging
import re

import numpy as np

from latentspark import schemas
from latentspark.artifacts import EMBEDDINGS, VOCAB, Published, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.errors import ConfigError

logger = logging.getLogger(__name__)

#: the settings that shape the vectors
SECTIONS = ("corpus", "tokenize", "vocab", "cooccur", "factorize")


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


def run(spark, cfg: Config, force: bool = False, cooc: Published | None = None,
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
    from latentspark.stages import cooccur as cooccur_stage
    from latentspark.vocabulary import load_vocabulary

    cooc = cooc or cooccur_stage.run(spark, cfg, force=False)
    root = RunRoot.from_config(spark, cfg)
    vocab = root.load(VOCAB, cooc.manifest["input"]["vocab_version"])
    fingerprint = f"{cooc.manifest['input_fingerprint']}:{cooc.version}"
    if warm_from and cfg.factorize.method == "ppmi_svd":
        logger.warning("embeddings: ppmi_svd is not iterative; warm start ignored")
        warm_from = None
    if warm_from:
        fingerprint += f":warm={warm_from}"

    def build(st: Staging) -> None:
        f = cfg.factorize
        words, counts = load_vocabulary(spark, vocab)
        n = len(words)
        if f.dim > n:
            raise ConfigError(f"factorize.dim = {f.dim} is larger than the vocabulary ({n} "
                              "words); lower factorize.dim or vocab.min_count")
        plan = check_memory(spark, n, cfg)
        init = None
        if warm_from:
            init, shared = warm_start_vectors(spark, words, warm_from, f.dim)
            logger.info("embeddings: warm start from %s (%d of %d words shared)", warm_from,
                        shared, n)
        logger.info("embeddings: %s, dimension %d, %d words; driver needs ~%.2f GiB (Python) "
                    "and ~%.2f GiB (JVM), each Python worker ~%.2f GiB", f.method, f.dim, n,
                    plan["driver_python"] / 2**30, plan["driver_jvm"] / 2**30,
                    plan["worker"] / 2**30)
        data = f"{cooc.path}/data"
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
            embeddings.write(root.fs, st.data_path, embeddings.to_table(words, counts, vectors))
        empty = int(np.sum(~np.any(vectors != 0, axis=1)))
        st.manifest.update({
            "config": cfg.to_dict(),
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
            "schema": schemas.describe(schemas.embeddings(f.dim)),
            **({"singular_values": [round(float(s), 6) for s in
                                    result.extra["singular_values"]]}
               if "singular_values" in result.extra else {}),
        })

    return build_stage(root.store(EMBEDDINGS), fingerprint=fingerprint,
                       config_hash=cfg.section_hash(*SECTIONS), force=force, build=build)
