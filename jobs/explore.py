"""Explore the latent space: concepts, arithmetic, pictures (stage ``explore``).

A thin spark-submit entry point; options are those of ``latentspark explore --help``::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --py-files dist/latentspark.zip \
        jobs/explore.py --config conf/cluster.toml --root hdfs:///latentspark ...

Exit codes: ``latentspark --help`` (and :data:`latentspark.errors.EXIT_CODES`).
"""

import sys

from latentspark.jobs import submit

if __name__ == "__main__":
    sys.exit(submit("explore"))
