#!/usr/bin/env bash
# Set up latentspark on a fresh Debian/Ubuntu machine: Java for Spark, a virtual environment
# in .venv with the package (and, with --dev, the test tools). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"
PYTHON=${PYTHON:-python3}

say() { printf '==> %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else return 1; fi
}

java_major() {
    java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1
}

# Spark 4 runs on Java 17 or 21.
major=$(command -v java >/dev/null 2>&1 && java_major || true)
if [ -z "$major" ] || [ "$major" -lt 17 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing Java 17 (or 21) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        pkg=openjdk-17-jre-headless
        apt-cache show "$pkg" >/dev/null 2>&1 || pkg=openjdk-21-jre-headless
        apt-get install -y -qq "$pkg" >/dev/null
    else
        found=${major:+"version $major"}
        echo "error: Spark needs Java 17 or 21; found ${found:-no java}." >&2
        echo "Install it, e.g.: sudo apt-get install openjdk-17-jre-headless" >&2
        exit 1
    fi
fi

# Spark's daemon scripts (scripts/cluster.sh) need ps; minimal images may lack it.
if ! command -v ps >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing procps (ps) with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq procps >/dev/null
    else
        echo "warning: ps is missing; scripts/cluster.sh needs it (apt-get install procps)" >&2
    fi
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: latentspark needs Python 3.11 or newer as '$PYTHON' (set PYTHON=...)." >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    say "creating the virtual environment .venv"
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        as_root apt-get install -y -qq python3-venv >/dev/null || {
            echo "error: '$PYTHON -m venv' failed; install python3-venv" >&2; exit 1; }
        "$PYTHON" -m venv .venv
    fi
fi
say "installing latentspark${extras} into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c scripts/constraints.txt -e ".${extras}"

# the counting kernels compiled once (numba keeps the machine code in a per-user folder named
# by the source, which the zips of this version that spark-submit ships load too)
say "compiling the counting kernels (once per version)"
.venv/bin/python -c "from latentspark.pairkernels import warm; warm()" ||
    say "warning: kernels not compiled ahead; the first counting job compiles them"

# Spark's JVM classes archived once: every later local session starts several seconds sooner
say "archiving Spark's JVM classes (once per Java and Spark)"
SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1} .venv/bin/python -m latentspark.jvmcache >/dev/null ||
    say "warning: no JVM class archive; sessions start without it"
