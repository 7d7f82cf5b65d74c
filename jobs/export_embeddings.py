"""Export published embeddings to the word2vec text or binary format or the GloVe text format.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/export_embeddings.py \
        --root runs/demo --format word2vec-binary --out vectors.bin [--version V] \
        [--normalize] [--limit N]

Options are those of ``latentspark export --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("export", argv)


if __name__ == "__main__":
    sys.exit(main())
