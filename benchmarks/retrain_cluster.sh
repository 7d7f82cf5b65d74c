#!/usr/bin/env bash
# Nightly retraining on the standalone cluster, on real text: the path cron takes.
#
#   benchmarks/retrain_cluster.sh [CORPUS [HOLD_OUT]]
#
# Starts scripts/cluster.sh (master + two 1-core, 2g workers), then runs scripts/retrain.sh
# (spark-submit of jobs/pipeline.py with the package zip) twice on CORPUS
# (default ../shared/data/corpus24m-raw, 23 source= partitions), with conf/embeddings.toml and
# the Google analogies as the quality gate: first with every partition but HOLD_OUT
# (default source=moby_dick), then after HOLD_OUT arrives. Writes the two runs' logs, times,
# exit codes and the LATEST versions' scores and drift to benchmarks/results/retrain-cluster.md.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
corpus=${1:-$repo/../shared/data/corpus24m-raw}
hold=${2:-source=moby_dick}
evalsets=${LATENTSPARK_EVAL:-$repo/../shared/data/eval}
work=$(mktemp -d /tmp/ls-retrain-XXXXXX)
out=benchmarks/results/retrain-cluster
mkdir -p "$out"
trap 'scripts/cluster.sh stop >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

mkdir "$work/corpus"
for d in "$corpus"/*=*; do
    [ "$(basename "$d")" = "$hold" ] || ln -s "$(cd "$d" && pwd)" "$work/corpus/"
done
scripts/cluster.sh start
export LATENTSPARK_CONFIG=conf/embeddings.toml LATENTSPARK_CORPUS=$work/corpus \
    LATENTSPARK_ROOT=$work/run LATENTSPARK_ANALOGIES=$evalsets/questions-words.txt \
    LATENTSPARK_SIMILARITY=$evalsets/wordsim353.tsv LATENTSPARK_LOCK=$work/lock
# executors of 1 core and 1g fit the 2g workers; the Python side of a counting task lives
# outside that heap, so its pair buffer is kept to a few hundred MB
opts=(--set 'spark.conf={"spark.executor.memory" = "1g", "spark.executor.cores" = "1"}'
      --set cooccur.buffer_pairs=5000000 --set evaluate.recall_sample=0)

run() {  # $1: label
    local t0=$SECONDS code=0
    scripts/retrain.sh "${opts[@]}" > "$work/$1.log" 2>&1 || code=$?
    # Spark's own INFO lines are most of the log: keep latentspark's, the wrapper's and warnings
    grep -v -E '^[0-9]{2}/[0-9]{2}/[0-9]{2} [0-9:]{8} INFO ' "$work/$1.log" > "$out/$1.log" || true
    echo "$1 $((SECONDS - t0)) $code"
}
first=$(run first)
ln -s "$(cd "$corpus/$hold" && pwd)" "$work/corpus/"
second=$(run second)

.venv/bin/python - "$work/run/models" "$first" "$second" "$hold" "$corpus" > "$out/README.md" <<'EOF'
import json, sys
from pathlib import Path

models, first, second, hold, corpus = Path(sys.argv[1]), *sys.argv[2:6]
versions = sorted(p for p in models.iterdir() if (p / "manifest.json").exists())
latest = (models / "LATEST").read_text().strip()
print("# Nightly retraining on the standalone cluster\n")
print("`benchmarks/retrain_cluster.sh`: `scripts/cluster.sh start` (master and two 1-core, 2g "
      "workers on 127.0.0.1), then `scripts/retrain.sh` (spark-submit of `jobs/pipeline.py` "
      "with the package zip, `conf/embeddings.toml`, the Google analogies as the gate) twice "
      f"on `{corpus}`: without `{hold}`, then after it arrives. Logs: `first.log`, "
      "`second.log`.\n")
print("| run | seconds | exit | version | counted now | Google 3CosAdd | WS-353 | gate | drift |")
print("|---|--:|--:|---|--:|--:|--:|---|---|")
extra = "none"
for (label, seconds, code), path in zip((first.split(), second.split()), versions):
    m = json.loads((path / "manifest.json").read_text())
    drift = m.get("drift") or {}
    d = (f"{drift.get('shared', 0):,} shared words" if drift else "-")
    print(f"| {label} | {seconds} | {code} | {m['version']} | {len(m['corpus']['counted_now'])} "
          f"of {len(m['corpus']['parts'])} | {m['scores']['analogies']:.4f} | "
          f"{m['scores']['similarity']:.4f} | {'passed' if m['gate']['passed'] else 'failed'} | "
          f"{d} |")
    if drift:
        summary = json.loads((path / "drift" / "summary.json").read_text())
        extra = (f"drift mean {summary['drift']['mean']:.4f}, median "
                 f"{summary['drift']['median']:.4f}, p99 {summary['drift']['p99']:.4f}; "
                 f"mean top-10 overlap {summary['overlap']['mean']:.3f}")
print(f"\nLATEST: {latest}. Second run's drift against the first: {extra}.")
EOF
cat "$out/README.md"
