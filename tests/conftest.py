"""Shared fixtures: one local SparkSession for the whole test session."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[1] / "jobs"


#: HotSpot options of every JVM the tests start: the test jobs run for seconds on a few
#: hundred rows, and the optimizing compiler (C2) spends more CPU compiling Spark than its
#: code saves in that time; the quick compiler (C1) alone is enough
TEST_JAVA_OPTIONS = ("-XX:TieredStopAtLevel=1",)

#: the test files that take minutes, started first: scripts/test.sh runs the files in two
#: processes in collection order (``--dist loadfile --no-loadscope-reorder``), and a long file
#: started last would keep one process busy after the other has finished
LONG_FILES = ("test_cluster.py", "test_safety.py", "test_pipeline.py", "test_sweep.py",
              "test_stages.py")


def pytest_collection_modifyitems(config, items):
    """Put the long files first (stable: the other files and every file's tests keep their
    order)."""
    def rank(item) -> int:
        name = item.path.name
        return LONG_FILES.index(name) if name in LONG_FILES else len(LONG_FILES)

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def small_dimension(monkeypatch):
    """The test corpora have a few dozen words, fewer than the default dimension (100): every
    test factorizes to 2 dimensions with one power iteration (the range finder's 22 columns
    already hold such a matrix's top directions; the default 3 would add 8 Spark passes to
    every factorization) unless it sets its own; and, like the shared session, Spark SQL
    without generated code or adaptive execution (see :func:`spark`). The environment
    variables reach the jobs a test starts in subprocesses too, and with them the tests' HotSpot
    options (:data:`TEST_JAVA_OPTIONS`)."""
    for key, value in (("FACTORIZE__DIM", "2"), ("FACTORIZE__POWER_ITERS", "1"),
                       ("SPARK__CONF", '{"spark.sql.codegen.wholeStage" = "false", '
                                       '"spark.sql.adaptive.enabled" = "false"}'),
                       ("SPARK__JAVA_OPTIONS", " ".join(TEST_JAVA_OPTIONS))):
        if f"LATENTSPARK__{key}" not in os.environ:
            monkeypatch.setenv(f"LATENTSPARK__{key}", value)


@pytest.fixture(scope="session")
def spark():
    """A local[2] SparkSession shared by every test (starting one takes several seconds)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    from latentspark import jvmcache
    from latentspark.config import Config
    from latentspark.session import local_conf

    builder = SparkSession.builder
    # the class archive scripts/setup.sh built (a faster start), and the serial collector a
    # local latentspark JVM gets (G1's concurrent threads only compete for the 2 cores)
    java = ["-XX:+UseSerialGC", *jvmcache.java_options(), *TEST_JAVA_OPTIONS]
    builder = builder.config("spark.driver.extraJavaOptions", " ".join(java))
    builder = (
        builder.master("local[2]")
        .appName("latentspark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # the test tables have a few hundred rows: compiling each query's generated Java
        # costs more CPU than it saves (about 20% of a small pipeline's wall time on 2
        # cores); the jobs tests start in subprocesses still run Spark's default, codegen
        .config("spark.sql.codegen.wholeStage", "false")
        # adaptive execution runs every shuffle as a job of its own, and a job costs about
        # half a second on local Spark: a third of a small pipeline's wall time. The test
        # pipelines' results must not depend on it: the cluster test compares a submitted
        # job (Spark's defaults, adaptive execution on) with the same job run here
        .config("spark.sql.adaptive.enabled", "false")
    )
    # what latentspark's own local sessions set (an uncompressed shuffle, Unix domain
    # sockets to the Python workers, its Python daemon), from the one place that lists it
    for key, value in local_conf(Config().spark, SparkConf(loadDefaults=False)).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def run_job(monkeypatch):
    """Run ``jobs/<name>.py`` as spark-submit would (as ``__main__``); return its exit code."""
    def run(name: str, *argv: str) -> int:
        path = JOBS / f"{name}.py"
        monkeypatch.setattr(sys, "argv", [str(path), *argv])
        with pytest.raises(SystemExit) as done:
            runpy.run_path(str(path), run_name="__main__")
        return done.value.code
    return run
