"""A small command's time with and without the JVM class archive (``latentspark.jvmcache``).

Runs the same tiny ``latentspark`` command (a 2-dimension factorization of a few hundred lines,
``--force`` so it always does the work) several times, alternating a JVM started with the
class archive and one started without (``LATENTSPARK_JVM_ARCHIVE=0``), each a fresh process
as a user's command is. Alternating pairs keep the two sides under the same load; the report
gives each pair's ratio and the median. Builds the archive first if it is missing. Results go
to ``benchmarks/results/startup.{md,json}``.

    .venv/bin/python benchmarks/startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def timed(cmd: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one command, which must succeed."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="pairs of runs")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/startup"))
    args = p.parse_args()
    from latentspark import jvmcache
    from tests.sweep_data import write_corpus

    env = dict(os.environ, PYSPARK_PYTHON=sys.executable,
               SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"))
    env.pop(jvmcache.ENV_SWITCH, None)
    built = time.perf_counter()
    archive = jvmcache.build()
    built = time.perf_counter() - built
    if archive is None:
        raise SystemExit("no archive could be built (see the warnings)")
    work = Path(tempfile.mkdtemp(prefix="ls-startup-"))
    corpus = write_corpus(work / "corpus")
    root = work / "root"
    base = [sys.executable, "-m", "latentspark"]
    settings = ["--config", "conf/embeddings.toml", "--corpus", str(corpus), "--root", str(root),
                "-q", "--set", "tokenize.mode=whitespace", "--set", "vocab.min_count=3",
                "--set", "spark.master=local[2]", "--set", "factorize.dim=6",
                "--set", "factorize.wals_iterations=1", "--set", "factorize.power_iters=0"]
    timed(base + ["cooccur", *settings], env)  # the counts the timed commands reuse
    command = base + ["embeddings", *settings, "--force"]
    load = [os.getloadavg()]
    pairs = []
    for _ in range(args.repeats):
        without = timed(command, dict(env, **{jvmcache.ENV_SWITCH: "0"}))
        with_ = timed(command, env)
        pairs.append({"without_s": round(without, 2), "with_s": round(with_, 2),
                      "ratio": round(with_ / without, 3)})
        print(json.dumps(pairs[-1]), flush=True)
    load.append(os.getloadavg())
    ratio = statistics.median(x["ratio"] for x in pairs)
    result = {"date": dt.date.today().isoformat(), "archive": str(archive),
              "archive_bytes": archive.stat().st_size, "build_s": round(built, 1),
              "command": " ".join(["latentspark", *command[3:]]), "pairs": pairs,
              "median_ratio": ratio, "load": [[round(v, 2) for v in x] for x in load]}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {i + 1} | {x['without_s']} | {x['with_s']} | {x['ratio']} |"
                     for i, x in enumerate(pairs))
    out.with_suffix(".md").write_text(f"""# Start-up with the JVM class archive ({result['date']})

A tiny `latentspark embeddings --force` (a 2-dimension factorization of the 600-line test
corpus, counts already published), each run a fresh process, alternating a driver JVM started
without the class archive (`LATENTSPARK_JVM_ARCHIVE=0`) and one with it
(`{archive.name}`, {archive.stat().st_size / 2**20:.0f} MiB; building it took {built:.0f} s
this run, 0 if it existed).

| pair | without (s) | with (s) | with / without |
| ---: | ---: | ---: | ---: |
{rows}

Median ratio: **{ratio:.2f}**. Load average (1, 5, 15 min) before: {result['load'][0]},
after: {result['load'][1]}; the pairs alternate so that both sides see the same load.

Made with:

```
.venv/bin/python benchmarks/startup.py --repeats {args.repeats}
```
""")
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
