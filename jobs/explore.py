"""See the latent space: concept directions, word arithmetic, neighbourhoods, pictures.

Submit it like any Spark application; with no master it runs on local Spark::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit jobs/explore.py \
        --root runs/demo [--embeddings PATH] [--config conf/default.toml] \
        --analogies questions-words.txt [--between king queen] [--out report/]

Options are those of ``latentspark explore --help``.
"""

import sys

from latentspark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    """Run the job; returns the process exit code."""
    return job_main("explore", argv)


if __name__ == "__main__":
    sys.exit(main())
