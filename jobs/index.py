"""Build the Annoy index shards of the embeddings (stage ``index``).

A thin spark-submit entry point; options are those of ``latentspark index --help``::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --py-files dist/latentspark.zip \
        jobs/index.py --config conf/cluster.toml --root hdfs:///latentspark ...

Exit codes: ``latentspark --help`` (and :data:`latentspark.errors.EXIT_CODES`).
"""

import sys

from latentspark.jobs import submit

if __name__ == "__main__":
    sys.exit(submit("index"))
