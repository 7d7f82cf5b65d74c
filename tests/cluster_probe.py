"""A spark-submit application for tests/test_cluster.py: reports, from inside the executors'
Python workers, which interpreter runs them and where they import latentspark from.

::

    spark-submit --master spark://127.0.0.1:7077 --py-files dist/latentspark-V.zip \
        tests/cluster_probe.py OUT.json

It runs one task per slot for a few rounds so that every executor answers, and writes to
``OUT.json`` a JSON list of ``{"pid", "python", "latentspark", "numpy", "pyarrow"}`` records
(the interpreter and the modules' files).
"""

from __future__ import annotations

import json
import sys


def probe(_: object) -> dict[str, str | int]:
    """What one Python worker sees (runs on an executor)."""
    import os

    import numpy
    import pyarrow

    import latentspark

    return {"pid": os.getpid(), "python": sys.executable, "latentspark": latentspark.__file__,
            "numpy": numpy.__file__, "pyarrow": pyarrow.__file__}


def main(argv: list[str]) -> int:
    """Run the probe on the cluster and write what every task saw to ``argv[0]``."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("latentspark-cluster-probe").getOrCreate()
    try:
        slots = max(2, spark.sparkContext.defaultParallelism)
        seen = spark.sparkContext.parallelize(range(4 * slots), 4 * slots).map(probe).collect()
    finally:
        spark.stop()
    with open(argv[0], "w") as fh:
        json.dump(seen, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
