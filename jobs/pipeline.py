"""Retrain and publish a model version: vocab -> cooccur -> embeddings -> index ->
eval -> publish (LATEST moves only if the quality gate passes).

A thin spark-submit entry point; options are those of ``latentspark pipeline --help``::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --py-files dist/latentspark.zip \
        jobs/pipeline.py --config conf/cluster.toml --root hdfs:///latentspark ...

Exit codes: ``latentspark --help`` (and :data:`latentspark.errors.EXIT_CODES`).
"""

import sys

from latentspark.jobs import submit

if __name__ == "__main__":
    sys.exit(submit("pipeline"))
