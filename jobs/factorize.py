"""Factorize the co-occurrences into word vectors and publish them as Parquet.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/factorize.py \
        --corpus data/demo/corpus --root runs/demo [--config conf/default.toml] \
        [--set factorize.method=glove ...]

Options are those of ``latentspark factorize --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("factorize", argv)


if __name__ == "__main__":
    sys.exit(main())
