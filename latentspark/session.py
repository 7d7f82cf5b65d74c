"""SparkSession construction from the ``[spark]`` config section.

Nothing here runs at import time: jobs call :func:`get_session` from ``main``.

Console: unless ``spark.verbose`` is set, a session built here has Spark's console progress
bar off and Spark, Hadoop and py4j logging at ERROR, from the JVM's start when latentspark
launches it (a log4j2 file passed with ``-Dlog4j2.configurationFile``), else from the moment
the session exists; :mod:`latentspark.progress` prints one line per long stage instead.
"""

from __future__ import annotations

import logging
import os
import sys

from latentspark.config import SparkConfig

logger = logging.getLogger(__name__)


def get_session(cfg: SparkConfig):  # -> pyspark.sql.SparkSession
    """Return the active SparkSession, or build one from ``cfg``.

    With no master in the config and none from ``spark-submit``, the session runs on local
    Spark with all cores. For local masters the Python workers use this interpreter (so they
    see the same numpy and pyarrow) and Spark binds to 127.0.0.1 unless told otherwise.

    Parameters
    ----------
    cfg : SparkConfig
        The ``[spark]`` section.

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
    extra = _console_conf(cfg, launch_conf)
    _with_class_archive(extra, cfg, launch_conf)
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        if "spark.driver.memory" not in cfg.conf and not launch_conf.contains(
                "spark.driver.memory"):
            # in local mode the executors live in the driver JVM: Spark's 1g default makes
            # the co-occurrence aggregation spill; take a third of the machine, up to 8g
            extra["spark.driver.memory"] = f"{local_driver_memory_gb()}g"
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


#: log4j2 configuration of the quiet console, shipped with the package
QUIET_LOG4J2 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conf",
                            "log4j2-quiet.properties")


def _console_conf(cfg: SparkConfig, launch_conf) -> dict[str, str]:
    """Settings for the console: progress bar and, when the JVM is ours to start, log level."""
    if cfg.verbose:
        return {"spark.ui.showConsoleProgress": "true"}
    logging.getLogger("py4j").setLevel(logging.ERROR)
    out = {"spark.ui.showConsoleProgress": "false"}
    # a package inside a zip (--py-files) has no file to point log4j at; the options are
    # split on spaces
    if (_java_options_are_ours(cfg, launch_conf) and os.path.isfile(QUIET_LOG4J2)
            and " " not in QUIET_LOG4J2):
        out[JAVA_OPTIONS] = f"-Dlog4j2.configurationFile=file:{QUIET_LOG4J2}"
    return out


JAVA_OPTIONS = "spark.driver.extraJavaOptions"


def _java_options_are_ours(cfg: SparkConfig, launch_conf) -> bool:
    """Whether latentspark may set the driver JVM's options: it starts that JVM (not
    spark-submit) and the user set none of their own."""
    return not (os.environ.get("PYSPARK_GATEWAY_PORT") or JAVA_OPTIONS in cfg.conf
                or launch_conf.contains(JAVA_OPTIONS))


def _with_class_archive(extra: dict[str, str], cfg: SparkConfig, launch_conf) -> None:
    """Add the class archive of :mod:`latentspark.jvmcache`, if built, to the JVM options."""
    from latentspark import jvmcache

    if not _java_options_are_ours(cfg, launch_conf):
        return
    options = [o for o in (extra.get(JAVA_OPTIONS), *jvmcache.java_options()) if o]
    if options:
        extra[JAVA_OPTIONS] = " ".join(options)


def local_driver_memory_gb() -> int:
    """A third of the physical memory, between 1 and 8 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1
    return int(max(1, min(8, total // 3 // 2**30)))


def _apply_runtime(spark, cfg: SparkConfig) -> None:
    """Settings that may change on a running session."""
    partitions = cfg.shuffle_partitions or 2 * spark.sparkContext.defaultParallelism
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(cfg.arrow_batch_lines))

