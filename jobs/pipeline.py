"""Retrain and publish a model version: vocabulary -> co-occurrences -> embeddings -> index ->
evaluation -> publish (LATEST moves only if the quality gate passes).

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --py-files dist/latentspark.zip \
        jobs/pipeline.py --config conf/cluster.toml --corpus hdfs:///corpus --root \
        hdfs:///latentspark --analogies hdfs:///eval/questions-words.txt [--from STAGE]

Options are those of ``latentspark pipeline --help``. Exit codes: 0 published or up to date,
2 bad configuration, 3 bad input, 5 broken artifact, 6 quality gate failed (LATEST unchanged),
7 infrastructure failure (retry).
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("pipeline", argv)


if __name__ == "__main__":
    sys.exit(main())
