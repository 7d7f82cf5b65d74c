"""Drift report between two embeddings versions: Procrustes-aligned cosines, neighbour overlap.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/drift.py \
        --old runs/demo/embeddings/V1 --new runs/demo/embeddings/V2 \
        [--root runs/demo | --out DIR] [-k 10] [--sample 5000]

Options are those of ``latentspark drift --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("drift", argv)


if __name__ == "__main__":
    sys.exit(main())
