#!/usr/bin/env bash
# The committed report in docs/explore/: train embeddings on the shared 24M-token corpus with
# the settings of the best row of benchmarks/results/quality.md (ppmi_wals, dimension 100),
# index and evaluate them, explore them, copy the report here and check it in a browser.
#   scripts/explore_report.sh [RUN_ROOT]     (default /tmp/explore-run, outside the repository)
# Environment: PYTHON (default .venv/bin/python), SHARED_DATA (default ../shared/data).
# The heavy steps take /tmp/latentspark-heavy.lock so that they never overlap other heavy runs;
# each stage skips itself when its published output is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-/tmp/explore-run}
py=${PYTHON:-.venv/bin/python}
py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")"
data=${SHARED_DATA:-../shared/data}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYSPARK_PYTHON="$py"
export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
heavy=(flock /tmp/latentspark-heavy.lock)
ls=("$py" -m latentspark)
questions="$data/eval/questions-words.txt"

"${heavy[@]}" "${ls[@]}" run --config conf/embeddings.toml --corpus "$data/corpus24m-tokens" \
    --root "$root" --set tokenize.mode=whitespace --set vocab.min_count=5 \
    --set factorize.dim=100 --set 'spark.master="local[2]"'
"${heavy[@]}" "${ls[@]}" index --root "$root"
"${heavy[@]}" "${ls[@]}" evaluate -q --root "$root" --analogies "$questions" \
    --similarity "$data/eval/wordsim353.tsv" --similarity "$data/eval/simlex999.txt"
# publishes the stage explore under the run root, charting the newest evaluation there
"${ls[@]}" explore --root "$root" --analogies "$questions" --word france --word paris \
    --word water --word music
latest=$(ls -d "$root"/explore/*/ | sort | tail -1)
mkdir -p docs/explore
cp "$latest"/report.html "$latest"/report.json "$latest"/*.png docs/explore/
scripts/check_report.sh docs/explore/report.html docs/explore/screenshot.png
# the committed copy of the screenshot: half size, 256 colours, so that it stays small
"$py" - docs/explore/screenshot.png <<'PY'
import sys

from PIL import Image

with Image.open(sys.argv[1]) as im:
    small = im.convert("RGB").resize((im.width // 2, im.height // 2), Image.LANCZOS)
small.quantize(256).save(sys.argv[1], optimize=True)
PY
ls -l docs/explore/
