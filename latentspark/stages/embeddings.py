"""The ``embeddings`` stage: factorize the published co-occurrences into word vectors.

Output: ``<root>/embeddings/<version>/data/*.parquet`` with
:func:`latentspark.schemas.embeddings` (see :mod:`latentspark.embeddings`). The methods and
their kernels are in :mod:`latentspark.factorize`; this module checks the memory plan,
wires the passes and publishes.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from latentspark import schemas
from latentspark.artifacts import EMBEDDINGS, VOCAB, Published, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.errors import ConfigError, InputError
from latentspark.session import release_heap
from latentspark.workers import arrow_task

logger = logging.getLogger(__name__)

#: bytes of per-entry temporaries a factorization kernel holds per byte of its Arrow batch
BATCH_TEMPORARIES = 16
#: the settings that shape the vectors
SECTIONS = ("corpus", "tokenize", "vocab", "cooccur", "factorize")


#: non-zeros below which one more task per pass costs more in scheduling than it computes
NNZ_PER_TASK_MIN = 250_000
#: non-zeros above which another task is added whatever the cores: a task's piece of the
#: output rows stays bounded as the counts grow
NNZ_PER_TASK_MAX = 16_000_000


def factorize_tasks(spark, cfg: Config, nnz: int | None = None) -> int:
    """Tasks wanted per factorization pass.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    nnz : int, optional
        Non-zeros of the co-occurrence matrix, when known (its manifest's ``rows``).

    Returns
    -------
    int
        ``factorize.tasks`` when set; else, with ``nnz``, one task per
        :data:`NNZ_PER_TASK_MIN` non-zeros up to 3 x the default parallelism and one per
        :data:`NNZ_PER_TASK_MAX` above that (a few hundred words make one task, not one per
        core); without ``nnz``, 3 x the default parallelism.

    >>> from types import SimpleNamespace as NS
    >>> spark, cfg = NS(sparkContext=NS(defaultParallelism=2)), NS(factorize=NS(tasks=0))
    >>> [factorize_tasks(spark, cfg, n) for n in (124, 400_000, 37_500_000, 10**10)]
    [1, 2, 6, 625]
    >>> factorize_tasks(spark, cfg)
    6
    """
    from latentspark.blocks import tasks_for

    if cfg.factorize.tasks:
        return cfg.factorize.tasks
    most = 3 * int(spark.sparkContext.defaultParallelism)
    if nnz is None:
        return most
    return tasks_for(nnz, NNZ_PER_TASK_MIN, NNZ_PER_TASK_MAX, most)


def memory_plan(vocab_size: int, cfg: Config, tasks: int = 6, blocks: int = 0) -> dict[str, int]:
    """Bytes the factorization needs on the driver, in each Python worker, and per host.

    Nothing ``V``-sized is on the driver or broadcast: factors are pieces on the executors
    (:mod:`latentspark.blocks`). The driver holds a few ``k x k`` matrices and receives one
    record per task (a ``k x k`` Gram), summed on the driver or, above 64 MiB, first by
    ``sqrt(tasks)`` tasks. Each task holds its piece's output rows (float64 and float32) plus
    bounded gathers and batches of Gram matrices, and up to two in-memory copies of factors
    small enough to be copied whole, and the per-entry temporaries of one Arrow batch of rows
    (about 16 times the batch, ``spark.arrow_batch_mb``: measured about 1 GiB per worker with
    Spark's 64 MiB batches, which hold a whole piece); each host's page cache holds the factor
    the running pass reads, memory-mapped and shared by its Python workers.
    """
    from latentspark.blocks import (
        DIRECT_SUM_BYTES,
        GATHER_BYTES,
        WHOLE_FACTOR_BYTES,
        default_splits,
    )
    from latentspark.factorize import GRAM_BYTES

    f = cfg.factorize
    width = f.dim + 1 if f.method == "glove" else f.dim + f.oversample
    blocks = blocks or cfg.cooccur.blocks or tasks     # the counts' own, when known
    pieces = blocks * default_splits(blocks, tasks)
    piece_rows = -(-vocab_size // pieces)
    record = 8 * (2 * width * width + 4)
    records = pieces if pieces * record <= DIRECT_SUM_BYTES else math.isqrt(pieces) + 1
    return {
        "width": width,
        "tasks": pieces,
        "driver_python": 16 * 8 * width * width + 2 * records * record,
        "driver_result": records * record,
        "broadcast": 0,
        # plus in-memory copies of the (small) factors a pass reads: the design, and the
        # warm start of conjugate gradients
        "worker": piece_rows * width * (8 + 4 + 8) + 3 * GATHER_BYTES + GRAM_BYTES
        + 2 * min(WHOLE_FACTOR_BYTES, 4 * vocab_size * width)
        + BATCH_TEMPORARIES * (cfg.spark.arrow_batch_mb << 20),
        "host_cache": 2 * 4 * vocab_size * width,
    }


def _parse_bytes(text: str) -> int:
    """A Spark size setting in bytes, 0 if unreadable."""
    from latentspark.session import conf_bytes

    return max(0, conf_bytes(text))


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


def _conf_bytes(spark, key: str, default: str) -> int:
    return _parse_bytes(spark.sparkContext.getConf().get(key, default))


def check_memory(spark, vocab_size: int, cfg: Config, blocks: int = 0,
                 tasks: int | None = None) -> dict[str, int]:
    """Refuse a factorization that cannot fit, before any work, naming the setting to change.

    Checks what the driver collects against ``spark.driver.maxResultSize`` and
    ``spark.driver.memory``, and each task's Python memory against
    ``spark.executor.pyspark.memory`` (or, in local mode, this machine's free memory per core).
    Nothing is broadcast. ``blocks`` is the counts' layout and ``tasks`` the tasks wanted per
    pass, when known (default: :func:`factorize_tasks` without the counts).
    """
    cores = int(spark.sparkContext.defaultParallelism)
    plan = memory_plan(vocab_size, cfg, tasks or factorize_tasks(spark, cfg),
                       blocks or cfg.cooccur.blocks or 2 * cores)
    gib, mib = 2**30, 2**20
    limit = _conf_bytes(spark, "spark.driver.maxResultSize", "1g")
    if limit and plan["driver_result"] > limit:
        raise ConfigError(
            f"factorize: each pass collects about {plan['driver_result'] / mib:.0f} MiB of "
            f"per-task {plan['width']} x {plan['width']} Gram matrices, more than "
            f"spark.driver.maxResultSize = {limit / mib:.0f} MiB; raise "
            "spark.driver.maxResultSize or lower factorize.dim")
    jvm = _conf_bytes(spark, "spark.driver.memory", "1g")
    if jvm and 2 * plan["driver_result"] > 0.6 * jvm:
        raise ConfigError(
            f"factorize: collecting a pass needs about {2 * plan['driver_result'] / gib:.2f} "
            f"GiB of driver JVM heap, more than 60% of spark.driver.memory = {jvm / gib:.1f} "
            "GiB; raise spark.driver.memory (spark-submit --driver-memory) or lower "
            "factorize.dim")
    conf = spark.sparkContext.getConf()
    worker = _parse_bytes(conf.get("spark.executor.pyspark.memory", "0"))
    where = "spark.executor.pyspark.memory"
    if not worker and spark.sparkContext.master.startswith("local"):
        worker = available_memory() // max(1, int(spark.sparkContext.defaultParallelism))
        where = "this machine's free memory per core"
    hint = ("lower factorize.dim" + (" or factorize.oversample"
            if cfg.factorize.method != "glove" else ""))
    if worker and plan["worker"] > worker:
        raise ConfigError(
            f"factorize: {vocab_size:,} words in {plan['tasks']} tasks x {plan['width']} "
            f"columns needs about {plan['worker'] / gib:.2f} GiB per task, more than {where} "
            f"({worker / gib:.2f} GiB); raise factorize.tasks (each task holds "
            f"1/{plan['tasks']} of the rows), or {hint}")
    if spark.sparkContext.master.startswith("local") and plan["host_cache"] > available_memory():
        logger.warning("factorize: the factors read by a pass (%.1f GiB) exceed this "
                       "machine's free memory; passes will read them from disk",
                       plan["host_cache"] / gib)
    return plan


def warm_start_vectors(spark, vocab_data: str, path: str, dim: int, out) -> int:
    """Write the vectors of a previous embeddings version as the factor ``out``, by word.

    The old table is joined with the current vocabulary on the word on the executors; each
    task writes the pieces of ``out`` it receives (rows of words the previous version lacks
    stay zero). Returns the number of shared words.
    """
    import pyarrow as pa
    from pyspark.sql import functions as F

    from latentspark.blocks import write_piece

    data = path if path.rstrip("/").endswith("/data") else f"{path.rstrip('/')}/data"
    old = spark.read.parquet(data).select("word", "vector")
    first = old.select(F.size("vector").alias("d")).first()
    if first is not None and first["d"] != dim:
        raise ConfigError(f"factorize.warm_start: {path} has dimension {first['d']}, "
                          f"this run factorizes to {dim}; turn warm_start off for this run")
    layout = out.layout

    def write(batches):
        piece, buf, n = None, None, 0

        def done():
            write_piece(out, piece, buf)
            return pa.RecordBatch.from_pydict({"piece": pa.array([piece], pa.int32()),
                                               "rows": pa.array([n], pa.int64())})

        for batch in batches:
            pieces = batch.column("piece").to_numpy()
            ids = batch.column("id").to_numpy()
            vec = batch.column("vector").flatten().to_numpy(zero_copy_only=False).reshape(
                len(ids), dim)
            for p in np.unique(pieces):           # sorted by piece: runs of one piece
                if p != piece:
                    if piece is not None:
                        yield done()
                    piece, buf, n = int(p), np.zeros((layout.piece_rows(int(p)), dim)), 0
                sel = pieces == p
                buf[layout.piece_of(ids[sel])[1]] = vec[sel]
                n += int(sel.sum())
        if piece is not None:
            yield done()

    # a sort-merge join on the word: neither side is broadcast
    vocab = spark.read.parquet(vocab_data).select("id", "word").hint("merge")
    joined = vocab.join(old, "word").select(
        "id", "vector", F.expr(layout.sql_piece("id")).alias("piece"))
    rows = joined.repartition(layout.pieces, "piece").sortWithinPartitions("piece").mapInArrow(
        arrow_task(write), "piece INT, rows BIGINT").collect()        # one row per written piece
    return int(sum(r["rows"] for r in rows))


def _factorize(spark, matrix, f, init):
    """Run the configured method on the cached rows, then ``remove_top`` if set; the vectors
    stay a distributed factor."""
    from latentspark import factorize as fz

    result = _method(spark, matrix, f, init)
    depth = f.remove_top_depth()
    if depth:
        result.vectors = fz.remove_top_directions(
            spark, result.vectors, matrix.factor("vectors_abtt", f.dim), depth)
    return result


def _method(spark, matrix, f, init):
    from latentspark import factorize as fz

    if f.method == "glove":
        return fz.glove(spark, matrix, f.dim, iterations=f.iterations, x_max=f.x_max,
                        alpha=f.alpha, l2=f.l2, seed=f.seed, tolerance=f.tolerance, init=init,
                        add_contexts=f.add_contexts)
    if f.method == "ppmi_wals":
        return fz.ppmi_wals(spark, matrix, f.dim, cds=f.cds_value(), neg=f.negatives,
                            iterations=f.wals_iteration_count(), l2=f.ridge, eig=f.eig_value(),
                            add_contexts=f.add_contexts, oversample=f.oversample,
                            power_iters=f.power_iters, seed=f.seed, tolerance=f.tolerance,
                            init=init, cg_steps=f.cg_steps, cg_tol=f.cg_tolerance,
                            negative_pmi=f.negative_pmi,
                            observed_power=f.observed_power, loss=f.loss,
                            negative_center=f.negative_center_value(),
                            center_rows=f.negative_center_rows)
    return fz.ppmi_svd(spark, matrix, f.dim, cds=f.cds_value(), shift=float(np.log(f.neg)),
                       eig=f.eig_value(), add_contexts=f.add_contexts, oversample=f.oversample,
                       power_iters=f.power_iters, seed=f.seed)


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

    if cfg.factorize.remove_top_depth() >= cfg.factorize.dim:
        raise ConfigError(f"factorize.remove_top = {cfg.factorize.remove_top} must be below "
                          f"factorize.dim = {cfg.factorize.dim}")
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
        vocab_data = f"{vocab.path}/data"
        # the vocabulary stays on the executors: the driver needs only its size
        ids = spark.read.parquet(vocab_data).agg(F.count(F.lit(1)).alias("n"),
                                                 F.min("id").alias("lo"),
                                                 F.max("id").alias("hi")).first()
        n = int(ids["n"])
        if n and (ids["lo"] != 0 or ids["hi"] != n - 1):
            raise InputError(f"vocabulary {vocab.path} does not have ids 0..{n - 1}")
        if f.dim > n:
            raise ConfigError(f"factorize.dim = {f.dim} is larger than the vocabulary ({n} "
                              "words); lower factorize.dim or vocab.min_count")
        tasks = factorize_tasks(spark, cfg, cooc.manifest.get("rows"))
        plan = check_memory(spark, n, cfg, int(cooc.manifest.get("blocks") or 0), tasks)
        logger.info("embeddings: %s, dimension %d, %d words, %d tasks per pass; each task "
                    "needs ~%.2f GiB, the driver ~%.0f MiB", f.method, f.dim, n, plan["tasks"],
                    plan["worker"] / 2**30, plan["driver_python"] / 2**20)
        data = f"{cooc.path}/data"
        scratch = f"{st.path}/_factors"      # factor pieces; removed before publishing
        try:
            with st.timed("cache_rows"):
                # the counting stage's heap is garbage now (its pages, its cached tokens)
                release_heap(spark)
                matrix = fz.complete_rows(spark, data, n, tasks=tasks, scratch=scratch)
                # and so is the caching job's: the factorization needs little heap
                release_heap(spark)
            init, shared = None, 0
            if warm_from:
                init = matrix.factor("warm", f.dim)
                shared = warm_start_vectors(spark, vocab_data, warm_from, f.dim, init)
                logger.info("embeddings: warm start from %s (%d of %d words shared)",
                            warm_from, shared, n)
            try:
                with st.timed("factorize"):
                    result = _factorize(spark, matrix, f, init)
            finally:
                matrix.unpersist()
                release_heap(spark)
            with st.timed("write"):
                written = embeddings.write_factor(spark, result.vectors, vocab_data,
                                                  st.data_path)
        finally:
            root.fs.delete(scratch)
        if written["dropped_words"]:
            logger.warning("embeddings: %d words have no usable vector (no co-occurrence left, "
                           "or not finite) and are left out, e.g. %s", written["dropped_words"],
                           ", ".join(written["dropped_sample"][:5]))
        st.manifest.update({
            "config": cfg.to_dict(),
            "input": {"cooccur_version": cooc.version, "vocab_version": vocab.version,
                      "corpus": cooc.manifest["input"]},
            "method": f.method,
            "parameters": dict(vars(f)),
            "remove_top_depth": f.remove_top_depth(),
            "wals_iterations": f.wals_iteration_count() if f.method == "ppmi_wals" else None,
            "eig": f.eig_value() if f.method in ("ppmi_wals", "ppmi_svd") else None,
            "cds": f.cds_value() if f.method in ("ppmi_wals", "ppmi_svd") else None,
            "negative_center": (f.negative_center_value()
                                if f.method == "ppmi_wals" and f.loss == "sgns" else None),
            "warm_start": warm_from,
            "warm_start_shared_words": shared if warm_from else None,
            "dim": f.dim,
            "vocab_size": n,
            "rows": written["rows"],
            "dropped_words": written["dropped_words"],
            "dropped_sample": written["dropped_sample"],
            "ids": "0..rows-1 in vocabulary order; dropped words (zero or non-finite vectors) "
                   "are left out and the others renumbered",
            "tasks_per_pass": matrix.layout.pieces,
            "history": result.history,
            "schema": schemas.describe(schemas.embeddings(f.dim)),
            **({"singular_values": [round(float(s), 6) for s in
                                    result.extra["singular_values"]]}
               if "singular_values" in result.extra else {}),
        })

    return build_stage(root.store(EMBEDDINGS), fingerprint=fingerprint,
                       config_hash=cfg.section_hash(*SECTIONS), force=force, build=build)
