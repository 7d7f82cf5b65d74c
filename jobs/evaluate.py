"""Evaluate the embeddings: analogies, word similarity, neighbours, Annoy recall.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/evaluate.py \
        --root runs/demo [--embeddings PATH] [--config conf/default.toml] \
        --analogies questions-words.txt [--similarity wordsim353.tsv] [--mode annoy]

Options are those of ``latentspark evaluate --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("evaluate", argv)


if __name__ == "__main__":
    sys.exit(main())
