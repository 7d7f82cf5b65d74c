#!/usr/bin/env bash
# Render an explore report in headless Chromium and check that the screenshot is not blank.
#   scripts/check_report.sh REPORT.html [SCREENSHOT.png]
# Needs Debian's chromium (it installs nothing: if it is missing, it says how to install it).
# The browser runs with a fresh profile and no background networking; the report itself is
# self-contained (images are data: URIs), so nothing is fetched. Exit status 0 when the page
# rendered with content, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
report=${1:?usage: scripts/check_report.sh REPORT.html [SCREENSHOT.png]}
shot=${2:-$(mktemp --suffix=.png)}
python=${PYTHON:-.venv/bin/python}
browser=$(command -v chromium || true)
if [[ -z $browser ]]; then
    echo "chromium is not installed; install it with: sudo apt-get install -y chromium" >&2
    exit 1
fi
[[ -f $report ]] || { echo "no such report: $report" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
url="file://$(realpath "$report")"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --user-data-dir="$profile" \
    --screenshot="$shot" --window-size=1200,2000 "$url" >"$profile/chromium.log" 2>&1 || {
    echo "chromium failed:" >&2; tail -20 "$profile/chromium.log" >&2; exit 1; }
"$python" - "$shot" <<'EOF'
import sys

import numpy as np
from PIL import Image

path = sys.argv[1]
with Image.open(path) as im:
    pixels = np.asarray(im.convert("RGB"))
flat = pixels.reshape(-1, 3).astype(int)
colours = len(np.unique(flat, axis=0))
inked = float((flat.min(axis=1) < 250).mean())  # share of pixels that are not (near) white
# text and table rules are grey; coloured pixels come from the embedded charts only
coloured = float((flat.max(axis=1) - flat.min(axis=1) > 60).mean())
print(f"{path}: {pixels.shape[1]}x{pixels.shape[0]}, {colours} distinct colours, "
      f"{inked:.1%} of pixels not white, {coloured:.1%} coloured")
ok = colours > 100 and inked > 0.03 and coloured > 0.005
print("report renders: OK" if ok else "report renders: BLANK, or no charts")
sys.exit(0 if ok else 1)
EOF
