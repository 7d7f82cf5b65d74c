#!/usr/bin/env bash
# Retrain and publish: spark-submit jobs/pipeline.py to the standalone cluster, one run at a
# time (safe to call from cron while a run is still going), passing the job's exit code on.
#
#   scripts/retrain.sh [options of jobs/pipeline.py, e.g. --set cooccur.window=5]
#
# Environment (defaults in brackets):
#   LATENTSPARK_MASTER         Spark master [spark://127.0.0.1:$LATENTSPARK_MASTER_PORT or :7077]
#   LATENTSPARK_CONFIG         settings file [conf/standalone.toml]
#   LATENTSPARK_CORPUS         corpus path or URI [corpus.path of the config]
#   LATENTSPARK_ROOT           run root [run.root of the config]
#   LATENTSPARK_ANALOGIES      analogy file the quality gate scores [evaluate.analogies]
#   LATENTSPARK_SIMILARITY     word-pair file for the evaluation [evaluate.similarity]
#   LATENTSPARK_JOB            the job [jobs/pipeline.py]
#   LATENTSPARK_DRIVER_MEMORY  driver heap [4g]
#   LATENTSPARK_LOCK           lock file that keeps runs from overlapping [.retrain.lock]
#   LATENTSPARK_DIST           where the package zip is built [dist]
#   PYSPARK_PYTHON             Python of the driver and executors [.venv/bin/python]
#
# Exit codes: 0 published; 2 bad configuration; 3 bad input; 5 missing or broken artifact;
# 6 quality gate failed (the version is kept, LATEST unchanged); 7 infrastructure failure (e.g. the cluster is
# down); 1 anything unexpected; 75 another retrain is still running (this one did nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

MASTER=${LATENTSPARK_MASTER:-spark://127.0.0.1:${LATENTSPARK_MASTER_PORT:-7077}}
CONFIG=${LATENTSPARK_CONFIG:-conf/standalone.toml}
JOB=${LATENTSPARK_JOB:-jobs/pipeline.py}
LOCK=${LATENTSPARK_LOCK:-$repo/.retrain.lock}
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$repo/.venv/bin/python}
export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}

log() { printf '%s retrain: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

exec 9>>"$LOCK"
if ! flock -n 9; then
    log "another retrain holds $LOCK; not starting"
    exit 75
fi

# The infrastructure has to be there before the job can be blamed for anything.
if [ "$MASTER" = "spark://127.0.0.1:${LATENTSPARK_MASTER_PORT:-7077}" ] \
        && ! scripts/cluster.sh status >/dev/null 2>&1; then
    log "the standalone cluster at $MASTER is down (scripts/cluster.sh status); start it" \
        "with scripts/cluster.sh start"
    exit 7
fi
[ -f "$JOB" ] || { log "no job $JOB"; exit 7; }
SPARK_HOME=$("$PYSPARK_PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))') \
    || { log "$PYSPARK_PYTHON cannot import pyspark: run scripts/setup.sh"; exit 7; }
export SPARK_HOME
# the executors run this checkout's code, shipped as a fresh zip
zip_path=$(PYTHON=$PYSPARK_PYTHON scripts/package.sh --dist "${LATENTSPARK_DIST:-dist}" 2>/dev/null \
    | tail -n 1) \
    || { log "scripts/package.sh failed"; exit 7; }

args=(--config "$CONFIG")
[ -n "${LATENTSPARK_CORPUS:-}" ] && args+=(--corpus "$LATENTSPARK_CORPUS")
[ -n "${LATENTSPARK_ROOT:-}" ] && args+=(--root "$LATENTSPARK_ROOT")
[ -n "${LATENTSPARK_ANALOGIES:-}" ] && args+=(--analogies "$LATENTSPARK_ANALOGIES")
[ -n "${LATENTSPARK_SIMILARITY:-}" ] && args+=(--similarity "$LATENTSPARK_SIMILARITY")
log "starting $JOB on $MASTER with $zip_path ${args[*]} $*"
start=$SECONDS
set +e
"$SPARK_HOME/bin/spark-submit" --master "$MASTER" \
    --driver-memory "${LATENTSPARK_DRIVER_MEMORY:-4g}" --py-files "$zip_path" \
    "$JOB" "${args[@]}" "$@"
code=$?
set -e
case $code in
    0) what="published" ;;
    2) what="bad configuration" ;;
    3) what="bad input" ;;
    5) what="missing or broken artifact" ;;
    6) what="quality gate failed; nothing published" ;;
    7) what="infrastructure failure" ;;
    75) what="another run holds the run root's lease (on this or another host); nothing done" ;;
    *) what="unexpected failure" ;;
esac
log "exit $code ($what) after $((SECONDS - start)) s"
exit $code
