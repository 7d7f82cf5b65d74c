#!/bin/bash
# One row of benchmarks/results/sweep_logistic.md: factorize the counts already published under
# ROOT (a copy of a root counted from corpus24m-tokens with conf/embeddings.toml), then score the
# published vectors. Run under the shared lock:
#   flock /tmp/latentspark-bench.lock benchmarks/sweep_logistic.sh ROOT LABEL [--set KEY=VALUE ...]
# Rows are appended to benchmarks/results/sweep_logistic.jsonl.
set -euo pipefail
root=$1; label=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python}
echo "== $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$here" && "$py" -m latentspark embeddings --config conf/embeddings.toml \
  --corpus /work/shared/data/corpus24m-tokens --root "$root" -q --set tokenize.mode=whitespace \
  --set vocab.min_count=5 --set spark.master='local[2]' --set factorize.dim=100 "$@" --force)
"$py" "$here/benchmarks/sweep_logistic_eval.py" "$root" "$label" \
  "$here/benchmarks/results/sweep_logistic.jsonl"
echo "== done $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
