#!/usr/bin/env bash
# One command from a fresh machine to a passing test suite.
#   scripts/test.sh [pytest options]    every test, as CI runs them
#   scripts/test.sh --quick [options]   leave out the slow ones (clusters, killed JVMs, cron)
# Test files run in LATENTSPARK_TEST_WORKERS (default 2) pytest processes, a file's tests in
# one of them (each has its own local[2] session): most of the suite waits on JVM starts,
# subprocess jobs and killed workers rather than on the cores. LATENTSPARK_TEST_WORKERS=0 runs
# everything in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export PYSPARK_PYTHON="$PWD/.venv/bin/python" SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
.venv/bin/ruff check .
if [ "${1:-}" = "--quick" ]; then
    shift
    set -- -m "not slow" "$@"
fi
workers=${LATENTSPARK_TEST_WORKERS:-2}
if [ "$workers" != 0 ]; then
    set -- -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
fi
exec .venv/bin/python -m pytest "$@"
