"""Build and publish the Annoy index shards of the embeddings.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/build_index.py \
        --root runs/demo [--embeddings PATH] [--config conf/default.toml] \
        [--set index.shards=4 ...]

Options are those of ``latentspark index --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("index", argv)


if __name__ == "__main__":
    sys.exit(main())
