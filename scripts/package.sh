#!/usr/bin/env bash
# Package latentspark for spark-submit on a cluster.
#
#   scripts/package.sh           dist/latentspark-<version>.zip, the package with its data
#                                files, for --py-files
#   scripts/package.sh --env     also dist/latentspark-<version>-env.tar.gz, a relocatable
#                                virtual environment with latentspark and its dependencies
#                                (numpy, pyarrow, pandas, annoy, pyspark), packed by venv-pack
#   --dist DIR                   write into DIR instead of dist/
#
# Use them as:
#   spark-submit --py-files dist/latentspark-<version>.zip jobs/pipeline.py ...
#   spark-submit --archives dist/latentspark-<version>-env.tar.gz#env \
#       --conf spark.pyspark.python=./env/bin/python --py-files dist/latentspark-<version>.zip ...
#
# The packed environment links to the Python it was made with (venv-pack keeps the base
# interpreter out), so the executors' machines need that Python at the same path.
# PYTHON (default .venv/bin/python, needs venv-pack for --env: scripts/setup.sh --dev).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

PYTHON=${PYTHON:-$repo/.venv/bin/python}
with_env=0
dist=dist
while [ $# -gt 0 ]; do
    case $1 in
        --env) with_env=1 ;;
        --dist) dist=${2:?--dist needs a folder}; shift ;;
        *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
    shift
done

say() { printf 'package: %s\n' "$*" >&2; }
die() { printf 'package: error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || [ -x "$PYTHON" ] \
    || die "no Python at $PYTHON: run scripts/setup.sh or set PYTHON"
version=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
mkdir -p "$dist"
zip_path="$dist/latentspark-$version.zip"

# Written by Python's zipfile rather than `zip` (not on every machine): every file of the
# package except caches, with fixed timestamps so that the same source gives the same bytes.
"$PYTHON" - "$zip_path" <<'EOF'
import os, sys, zipfile
out = sys.argv[1]
tmp = out + ".tmp"
names = []
for folder, dirs, files in os.walk("latentspark"):
    dirs[:] = sorted(d for d in dirs if d != "__pycache__")
    names += [os.path.join(folder, f) for f in sorted(files) if not f.endswith((".pyc", ".pyo"))]
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
    for name in names:
        info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(name, "rb") as fh:
            zf.writestr(info, fh.read())
os.replace(tmp, out)
print(f"{out}: {len(names)} files, {os.path.getsize(out) / 1e3:.0f} kB", file=sys.stderr)
EOF
# a zip the executors cannot import from is worse than none: import the package from it alone
# (-I: not from this checkout) and check the version it carries
"$PYTHON" -I -c 'import sys; sys.path.insert(0, sys.argv[1]); import latentspark as p
assert p.__file__.startswith(sys.argv[1]) and p.__version__ == sys.argv[2], (p.__file__, p.__version__)' \
    "$zip_path" "$version" || die "$zip_path does not import, or its version is not $version"
echo "$zip_path"

if [ $with_env = 1 ]; then
    "$PYTHON" -c 'import venv_pack' 2>/dev/null \
        || die "venv-pack is missing from $PYTHON: run scripts/setup.sh --dev"
    env_dir=build/pack-env
    env_path="$dist/latentspark-$version-env.tar.gz"
    # a fresh environment with a regular (not editable) install: venv-pack refuses editable
    # ones, and the executors must not depend on this checkout
    base=$("$PYTHON" -c 'import sys; print(sys._base_executable)')
    say "building $env_dir from $base"
    rm -rf "$env_dir"
    "$base" -m venv "$env_dir"
    "$env_dir/bin/python" -m pip install -q --upgrade pip
    "$env_dir/bin/python" -m pip install -q .
    say "packing it into $env_path"
    rm -f "$env_path"
    # the executors' Python workers need pyspark's Python modules only: the executor JVM
    # brings its own jars, which are 400 MB of the 550
    "$PYTHON" -m venv_pack -q -p "$env_dir" -o "$env_path" \
        --exclude 'lib/python*/site-packages/pyspark/jars/*'

    say "$env_path: $(du -h "$env_path" | cut -f1)"
    echo "$env_path"
fi
