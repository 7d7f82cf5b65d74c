"""Shared fixtures: one local SparkSession for the whole test session."""

from __future__ import annotations

import os
import sys

import pytest

# The test corpora have a few dozen words: the default dimension (100) would exceed them, and
# `latentspark run` now ends with the factorization. Tests that care set their own.
os.environ.setdefault("LATENTSPARK__FACTORIZE__DIM", "2")


@pytest.fixture(scope="session")
def spark():
    """A local[2] SparkSession shared by every test (starting one takes several seconds)."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("latentspark-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
