#!/usr/bin/env bash
# One command from a fresh machine to a passing test suite.
#   scripts/test.sh [pytest options]    every test, as CI runs them
#   scripts/test.sh --quick [options]   leave out the slow ones (clusters, killed JVMs, cron)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export PYSPARK_PYTHON="$PWD/.venv/bin/python" SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
.venv/bin/ruff check .
if [ "${1:-}" = "--quick" ]; then
    shift
    set -- -m "not slow" "$@"
fi
exec .venv/bin/python -m pytest "$@"
