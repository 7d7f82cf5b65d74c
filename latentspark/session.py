"""SparkSession construction from the ``[spark]`` config section.

Nothing here runs at import time: jobs call :func:`get_session` from ``main``.

Memory: on local Spark the executors live in the driver JVM, and its heap is sized from the
run's settings (:func:`local_memory_plan`), not from the machine: what the counting and
factorization stages need at once, with Spark's sorts and caches spilling to disk beyond it.

Console: unless ``spark.verbose`` is set, a session built here has Spark's console progress
bar off and Spark, Hadoop and py4j logging at ERROR, from the JVM's start when latentspark
launches it (a log4j2 file passed with ``-Dlog4j2.configurationFile``), else from the moment
the session exists; :mod:`latentspark.progress` prints one line per long stage instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from latentspark.config import Config, SparkConfig

logger = logging.getLogger(__name__)

#: Spark's reserved system memory, taken off the heap before its unified memory region
RESERVED_BYTES = 300 << 20
#: ``spark.memory.fraction``'s default: execution and storage share this part of the rest;
#: the remainder is "user" memory (the driver's own objects)
MEMORY_FRACTION = 0.6
#: execution memory planned for each running task: the shuffle writes and sorts of the
#: counting stage's partial rows and of the word counts. Beyond it they spill to disk, as
#: the cached tokens and co-occurrence rows (memory and disk) do, so that the heap does not
#: grow with the corpus
TASK_EXECUTION_BYTES = 128 << 20
#: driver JVM bytes per vocabulary word outside Spark's memory region: the collected
#: vocabulary (words and counts, as Arrow and as Java objects) and the hash table's
#: broadcast blocks
VOCAB_WORD_BYTES = 256
#: the least heap planned: Spark's own default (768 MiB ran out of heap caching the tokens
#: of a 48M-token corpus: the serial collector's old generation is 2/3 of the heap)
HEAP_FLOOR_BYTES = 1 << 30
#: input split size (``spark.sql.files.maxPartitionBytes``): Spark's 128 MiB default lets a
#: few small files per core make one partition that grows with the corpus, and the
#: vocab stage caches a whole partition's tokens at once
INPUT_PARTITION_BYTES = 16 << 20
#: planned heaps are rounded up to a multiple of this
HEAP_STEP_BYTES = 128 << 20
#: HotSpot options of a JVM latentspark starts on local Spark: the serial collector has no
#: concurrent threads or region tables, which a heap of this size does not need. The others
#: let the heap give memory back: it starts small (``-Xms``; HotSpot's default, 1/64 of the
#: RAM, is also the least it ever shrinks to), grows to keep 20-40% of it free after a full
#: collection instead of 40-70%, and shrinks to that in one full collection instead of over
#: four (``ShrinkHeapInSteps``), so that :func:`release_heap` between stages returns what a
#: stage no longer holds: the factorization then runs in ~0.5 GiB of JVM instead of the whole
#: planned heap
LOCAL_JAVA_OPTIONS = ("-XX:+UseSerialGC", "-Xms128m", "-XX:MinHeapFreeRatio=20",
                      "-XX:MaxHeapFreeRatio=40", "-XX:-ShrinkHeapInSteps")
#: glibc malloc arenas of a local JVM latentspark starts (``MALLOC_ARENA_MAX``)
LOCAL_MALLOC_ARENAS = 2


def get_session(cfg: SparkConfig, config: Config | None = None):  # -> SparkSession
    """Return the active SparkSession, or build one from ``cfg``.

    With no master in the config and none from ``spark-submit``, the session runs on local
    Spark with all cores. For local masters the Python workers use this interpreter (so they
    see the same numpy and pyarrow), Spark binds to 127.0.0.1 unless told otherwise, and the
    driver's heap comes from :func:`local_memory_plan` unless ``spark.driver.memory`` is set.

    Parameters
    ----------
    cfg : SparkConfig
        The ``[spark]`` section.
    config : Config, optional
        The whole configuration, whose settings size the local driver's heap; the defaults
        when not given.

    Returns
    -------
    pyspark.sql.SparkSession
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        _apply_runtime(active, cfg)
        return active
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        # Under spark-submit the driver JVM already runs with --master, --conf and friends.
        # Until Python connects to it SparkConf() is empty, and a master read from it would
        # be local[*] whatever spark-submit was told: connect first (this starts no JVM).
        SparkContext._ensure_initialized()
    launch_conf = SparkConf()
    master = cfg.master or launch_conf.get("spark.master", "local[*]")
    local = master.startswith("local")
    extra = _console_conf(cfg, launch_conf, local)
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        if not os.environ.get("PYSPARK_GATEWAY_PORT"):
            # the JVM we start (and its Python workers) inherit this: glibc gives each
            # thread that allocates natively (Arrow buffers, netty) its own 64 MiB arena,
            # hundreds of MiB of RSS in Spark's many threads; two arenas cost no time here
            os.environ.setdefault("MALLOC_ARENA_MAX", str(LOCAL_MALLOC_ARENAS))
        if "spark.driver.memory" not in cfg.conf and not launch_conf.contains(
                "spark.driver.memory"):
            # in local mode the executors live in the driver JVM: the heap is what the
            # run's stages need at once, from its settings (a heap sized from the machine
            # is filled by garbage before the JVM collects it)
            plan = local_memory_plan(config or Config(spark=cfg), local_cores(master))
            extra["spark.driver.memory"] = f"{plan['heap'] >> 20}m"
            logger.info("local driver heap %d MiB: %d running tasks x %d MiB, factorization "
                        "results %d MiB, vocabulary %d MiB (spark.driver.memory overrides it)",
                        plan["heap"] >> 20, local_cores(master), TASK_EXECUTION_BYTES >> 20,
                        plan["driver_result"] >> 20, plan["user"] >> 20)
        extra.update(local_conf(cfg, launch_conf))
    builder = (
        SparkSession.builder.appName(cfg.app_name)
        .master(master)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in {**extra, **cfg.conf}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _apply_runtime(spark, cfg)
    if not cfg.verbose:
        spark.sparkContext.setLogLevel("ERROR")
    from latentspark import progress

    progress.start(spark, cfg.progress_interval)
    import latentspark

    # under spark-submit --py-files this names the zip: says which code the job runs
    logger.info("Spark %s session on %s (parallelism %d), latentspark %s from %s",
                spark.version, master, spark.sparkContext.defaultParallelism,
                latentspark.__version__, os.path.dirname(latentspark.__file__))
    return spark


#: what a local session sets unless the user did (in ``spark.conf`` or for ``spark-submit``)
LOCAL_DEFAULTS = {
    # a local shuffle never crosses a network: compressing it spends the only cores on
    # bytes that stay on this machine
    "spark.shuffle.compress": "false",
    # the JVM talks to its Python workers over Unix domain sockets instead of TCP on the
    # loopback: less latency per task (Spark 4.1's own option)
    "spark.python.unix.domain.socket.enabled": "true",
}


#: the module the JVM runs as its Python daemon (Spark's own is ``pyspark.daemon``)
DAEMON_MODULE = "spark.python.daemon.module"


def local_conf(cfg: SparkConfig, launch_conf) -> dict[str, str]:
    """The settings of :data:`LOCAL_DEFAULTS`, and :mod:`latentspark.workerdaemon` as the
    Python daemon when the workers' Python can import it, that the user did not set, for a
    local session.

    Counting corpus24m, an uncompressed shuffle writes 529 MB against 370 MB and saves 3-5 s
    of JVM CPU in a count of about 20 s (``benchmarks/results/cooccur_handoff.md``). With
    Unix domain sockets between the JVM and its Python workers a job of 16 small tasks took
    0.93x the time over TCP, and a warm test pipeline 0.86x (0.82x with the workers'
    freezing as well, against 1.05x for the freezing alone; one run each,
    ``benchmarks/results/task_overhead.md``). With :mod:`latentspark.workerdaemon` a new
    session's first Python job took 0.75x the time of Spark's daemon and 0.64x its Python CPU
    (``benchmarks/results/task_overhead_daemon.md``). A cluster keeps Spark's defaults.

    Examples
    --------
    >>> from latentspark.config import Config
    >>> from pyspark import SparkConf
    >>> for key in sorted(local_conf(Config().spark, SparkConf(loadDefaults=False))):
    ...     print(key)
    spark.python.daemon.module
    spark.python.unix.domain.socket.enabled
    spark.shuffle.compress
    """
    defaults = dict(LOCAL_DEFAULTS)
    python = (cfg.conf.get("spark.pyspark.python") or launch_conf.get("spark.pyspark.python", "")
              or os.environ.get("PYSPARK_PYTHON") or sys.executable)
    from latentspark import workerdaemon

    # under spark-submit the JVM that starts the daemon was not started with this process's
    # environment, and a package in a --py-files zip reaches the workers only after it
    if (not os.environ.get("PYSPARK_GATEWAY_PORT") and os.path.isfile(workerdaemon.__file__)
            and workerdaemon.importable(python)):
        defaults[DAEMON_MODULE] = workerdaemon.__name__
    return {key: value for key, value in defaults.items()
            if key not in cfg.conf and not launch_conf.contains(key)}


#: log4j2 configuration of the quiet console, shipped with the package
QUIET_LOG4J2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf",
                            "log4j2-quiet.properties")


def _console_conf(cfg: SparkConfig, launch_conf, local: bool = False) -> dict[str, str]:
    """Settings for the console (progress bar and, when the JVM is ours to start, log level)
    and, for a local JVM of ours, its HotSpot options (:data:`LOCAL_JAVA_OPTIONS`); for any
    JVM of ours, the class archive of :mod:`latentspark.jvmcache` when it is built, then
    ``spark.java_options``."""
    out = {"spark.ui.showConsoleProgress": "true" if cfg.verbose else "false"}
    if not cfg.verbose:
        logging.getLogger("py4j").setLevel(logging.ERROR)
    option = "spark.driver.extraJavaOptions"
    # under spark-submit the driver JVM runs already; never replace the user's own options
    if (os.environ.get("PYSPARK_GATEWAY_PORT") or option in cfg.conf
            or launch_conf.contains(option)):
        return out
    java = list(LOCAL_JAVA_OPTIONS) if local else []
    # a package inside a zip (--py-files) has no file to point log4j at; the options are
    # split on spaces
    if not cfg.verbose and os.path.isfile(QUIET_LOG4J2) and " " not in QUIET_LOG4J2:
        java.insert(0, f"-Dlog4j2.configurationFile=file:{QUIET_LOG4J2}")
    from latentspark import jvmcache

    java += jvmcache.java_options()
    java += cfg.java_options.split()
    if java:
        out[option] = " ".join(java)
    return out


def local_cores(master: str) -> int:
    """Task slots of a local master: ``local`` 1, ``local[N]`` / ``local[N,F]`` N, else all.

    Examples
    --------
    >>> local_cores("local"), local_cores("local[3]"), local_cores("local[4, 2]")
    (1, 3, 4)
    """
    m = re.fullmatch(r"local(?:\[\s*(\d+|\*)\s*(?:,\s*\d+\s*)?\])?", master.strip())
    if m is not None and m.group(1) is None and "[" not in master:
        return 1
    if m is not None and m.group(1) != "*":
        return max(1, int(m.group(1)))
    # local[*] (and anything else): the cores this process may use
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def local_memory_plan(config: Config, cores: int) -> dict[str, int]:
    """The heap a local driver JVM (driver and executor in one) needs for a run, in bytes.

    What the heap must hold at once, whichever stage runs:

    * ``execution``: ``cores x TASK_EXECUTION_BYTES`` (128 MiB) for the running tasks'
      shuffle writes and sorts (the counting stage's partial rows, the word counts), plus
      twice the factorization's per-pass result (``driver_result`` of
      :func:`latentspark.stages.embeddings.memory_plan` at ``vocab.max_size`` words: the
      ``k x k`` Gram records arrive and are handed to Python). Sorts and shuffles spill to
      disk beyond it and the cached tokens and co-occurrence rows (memory and disk) are
      evicted to disk, so nothing here grows with the corpus;
    * ``user``: ``VOCAB_WORD_BYTES x vocab.max_size`` for the driver's vocabulary (the
      collected words and counts, the hash table's broadcast blocks).

    Spark keeps ``RESERVED_BYTES`` (300 MiB) for itself and gives execution and storage
    ``MEMORY_FRACTION`` (0.6) of the rest, the driver's objects the other 0.4, so::

        heap = 300 MiB + max(execution / 0.6, user / 0.4)

    rounded up to 128 MiB and at least 1 GiB. With 2 cores and the defaults (400,000 words,
    dimension 100) that is 1 GiB; with 8 cores 2 GiB. The factor-
    ization's own check (:func:`latentspark.stages.embeddings.check_memory`) then passes on
    this heap for every vocabulary up to ``vocab.max_size``.

    Parameters
    ----------
    config : Config
        The run's settings.
    cores : int
        Task slots of the local master (:func:`local_cores`).

    Returns
    -------
    dict
        ``heap`` (bytes, what ``spark.driver.memory`` is set to), ``execution``, ``user``,
        ``counting_tasks`` (the execution part of the running tasks) and ``driver_result``.
    """
    from latentspark.stages.embeddings import memory_plan

    cores = max(1, int(cores))
    words = config.vocab.max_size
    factor = memory_plan(words, config, config.factorize.tasks or 3 * cores,
                         config.cooccur.blocks or 2 * cores)
    counting = cores * TASK_EXECUTION_BYTES
    execution = counting + 2 * factor["driver_result"]
    user = VOCAB_WORD_BYTES * words
    heap = RESERVED_BYTES + max(execution / MEMORY_FRACTION, user / (1 - MEMORY_FRACTION))
    heap = max(HEAP_FLOOR_BYTES, -(-int(heap) // HEAP_STEP_BYTES) * HEAP_STEP_BYTES)
    return {"heap": heap, "execution": int(execution), "user": int(user),
            "counting_tasks": counting, "driver_result": int(factor["driver_result"])}


#: a local heap committed up to this size is left alone by :func:`release_heap`: the
#: factorization runs in about this much anyway, and a small run would pay a full collection
#: three times per pipeline for a few hundred MiB at most
RELEASE_MIN_BYTES = 512 << 20


def release_heap(spark, min_committed: int = RELEASE_MIN_BYTES) -> bool:
    """Give the local JVM's free heap back to the system between stages (a full collection).

    On local Spark the executors live in the driver JVM, whose heap keeps what the previous
    stage's tasks needed (the counting shuffle's sort pages, its cached tokens) unless a full
    collection shrinks it (:data:`LOCAL_JAVA_OPTIONS`); the heap then grows again only as far
    as the next stage needs. A no-op on other masters: executors there run elsewhere, and
    a collection on the driver would only cost time.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        The session.
    min_committed : int
        Collect only when the JVM has more heap committed than this many bytes.

    Returns
    -------
    bool
        Whether a collection ran.
    """
    sc = spark.sparkContext
    if not sc.master.startswith("local"):
        return False
    runtime = sc._jvm.java.lang.Runtime.getRuntime()
    before = runtime.totalMemory()
    if before <= min_committed:
        return False
    sc._jvm.java.lang.System.gc()
    logger.debug("local JVM heap %d -> %d MiB committed (%d MiB used)", before >> 20,
                 runtime.totalMemory() >> 20, (runtime.totalMemory() - runtime.freeMemory()) >> 20)
    return True


def local_driver_memory(config: Config | None = None, master: str = "local[*]") -> str:
    """The planned local driver heap as a ``spark.driver.memory`` value (``"1024m"``), for
    benchmarks that give a peer the heap latentspark takes."""
    return f"{local_memory_plan(config or Config(), local_cores(master))['heap'] >> 20}m"


def _apply_runtime(spark, cfg: SparkConfig) -> None:
    """Settings that may change on a running session."""
    partitions = cfg.shuffle_partitions or 2 * spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(cfg.arrow_batch_lines))
    # Spark's 64 MiB default lets one batch carry a whole factorization piece: the kernels'
    # temporaries then reach ~1 GiB per Python worker
    spark.conf.set("spark.sql.execution.arrow.maxBytesPerBatch", f"{cfg.arrow_batch_mb}m")
    key = "spark.sql.files.maxPartitionBytes"
    # only where nobody chose a split size: not the config, not spark-submit's --conf, not a
    # value already set on the running session
    if (key not in cfg.conf and not spark.sparkContext.getConf().contains(key)
            and conf_bytes(spark.conf.get(key)) == SPARK_PARTITION_BYTES):
        spark.conf.set(key, str(INPUT_PARTITION_BYTES))


#: Spark's own default of ``spark.sql.files.maxPartitionBytes``
SPARK_PARTITION_BYTES = 128 << 20


def conf_bytes(value: str) -> int:
    """A Spark size setting in bytes (``"134217728b"``, ``"128MB"``, ``"200000"``); -1 if
    unreadable.

    Examples
    --------
    >>> conf_bytes("134217728b"), conf_bytes("128MB"), conf_bytes("200000"), conf_bytes("x")
    (134217728, 134217728, 200000, -1)
    """
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", str(value).lower())
    if m is None:
        return -1
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[m.group(2)]

