"""Count windowed co-occurrences and publish them (builds the vocabulary first if needed).

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/count_cooccurrences.py \
        --corpus data/demo/corpus --root runs/demo [--config conf/default.toml] \
        [--set cooccur.window=10 ...]

Options are those of ``latentspark cooccur --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("cooccur", argv)


if __name__ == "__main__":
    sys.exit(main())
