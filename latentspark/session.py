"""SparkSession construction from the ``[spark]`` config section.

Nothing here runs at import time: jobs call :func:`get_session` from ``main``.
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
    extra: dict[str, str] = {}
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
    import latentspark

    # under spark-submit --py-files this names the zip: says which code the job runs
    logger.info("Spark %s session on %s (parallelism %d), latentspark %s from %s",
                spark.version, master, spark.sparkContext.defaultParallelism,
                latentspark.__version__, os.path.dirname(latentspark.__file__))
    return spark


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

