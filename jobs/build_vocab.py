"""Build and publish the vocabulary.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/build_vocab.py \
        --corpus data/demo/corpus --root runs/demo [--config conf/default.toml] \
        [--set cooccur.window=10 ...]

Options are those of ``latentspark vocab --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("vocab", argv)


if __name__ == "__main__":
    sys.exit(main())
