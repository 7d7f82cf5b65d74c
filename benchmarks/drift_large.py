"""Drift between two synthetic 2M x 300 embeddings tables with a 1 GiB driver.

The old table holds words ``w0 .. w{V-1}`` with standard normal vectors; the new one drops
the first ``--churn`` words, adds as many new ones, and gives every shared word the old
vector rotated by a random orthogonal matrix plus Gaussian noise (``--noise`` per
component). Both are written with pyarrow in the embeddings schema under ``--work`` (a few
GB each) and deleted at the end.

:func:`latentspark.drift.compute_drift` then runs in a child process on ``local[2]`` with
``spark.driver.memory=1g`` and ``spark.driver.maxResultSize=64m``, while this process
samples, every half second, the resident memory of the child's driver (its Python process
plus the JVM, which in local mode also runs the executors) and, separately, of the Python
workers. The report gives the wall time, the peaks and the drift summary's headline figures,
which the construction predicts: no drift beyond the noise, and a Procrustes residual after
alignment close to the noise's.

Usage::

    PYTHONPATH=. PYSPARK_PYTHON=.venv/bin/python .venv/bin/python benchmarks/drift_large.py \\
        --out benchmarks/results/drift_large.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = """
import json, os, sys, time
from pyspark.sql import SparkSession
from latentspark.drift import compute_drift
spark = (SparkSession.builder.master("local[2]").appName("drift-large")
         .config("spark.ui.enabled", "false")
         .config("spark.driver.memory", "1g")
         .config("spark.driver.maxResultSize", "64m")
         .config("spark.sql.shuffle.partitions", sys.argv[5])
         .config("spark.local.dir", sys.argv[6])
         .getOrCreate())
spark.sparkContext.setLogLevel("WARN")
t0 = time.monotonic()
s = compute_drift(spark, sys.argv[1], sys.argv[2], sys.argv[3], k=10, sample=int(sys.argv[4]))
s["wall_seconds"] = time.monotonic() - t0
print("SUMMARY " + json.dumps(s), flush=True)
spark.stop()
"""


def write_tables(work: Path, n: int, dim: int, churn: int, noise: float, rows: int,
                 seed: int) -> tuple[Path, Path]:
    """The two embeddings folders, written chunk by chunk (memory: one chunk)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from latentspark import embeddings

    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    q *= np.sign(np.diag(r))
    old, new = work / "old" / "data", work / "new" / "data"
    old.mkdir(parents=True)
    new.mkdir(parents=True)
    counts = (1e9 / np.arange(1, n + churn + 1) ** 1.05).astype(np.int64) + 5
    for k, s in enumerate(range(0, n + churn, rows)):
        e = min(n + churn, s + rows)
        x = rng.standard_normal((e - s, dim), dtype=np.float32)
        if s < n:  # old rows s .. min(e, n)
            m = min(e, n) - s
            t = embeddings.to_table([f"w{i}" for i in range(s, s + m)], counts[s:s + m], x[:m])
            pq.write_table(t, old / f"part-{k:05d}.parquet", compression="none")
        if e > churn:  # new rows: words churn .. n + churn, ids from 0
            lo = max(s, churn) - s
            y = x[lo:] @ q.astype(np.float32)
            y[: max(0, min(e, n) - s - lo)] += noise * rng.standard_normal(
                (max(0, min(e, n) - s - lo), dim), dtype=np.float32)
            ids = np.arange(s + lo, e)
            t = embeddings.to_table([f"w{i}" for i in ids], counts[ids], y)
            t = t.set_column(0, t.schema.field("id"), pa.array((ids - churn).astype(np.int32)))
            pq.write_table(t, new / f"part-{k:05d}.parquet", compression="none")
    return old.parent, new.parent


def tree(pid: int) -> dict[str, int]:
    """Resident bytes of the driver's Python process, its JVM, and the Python workers."""
    import psutil

    out = {"driver_python": 0, "jvm": 0, "workers": 0}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for p in procs:
        try:
            rss = p.memory_info().rss
            cmd = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
        if p.pid == pid:
            out["driver_python"] += rss
        elif "java" in cmd.split(" ")[0]:
            out["jvm"] += rss
        else:
            out["workers"] += rss
    return out


def main(argv: list[str] | None = None) -> int:
    """Generate, run, sample, report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--words", type=int, default=2_000_000)
    p.add_argument("--dim", type=int, default=300)
    p.add_argument("--churn", type=int, default=20_000, help="words only old (and only new)")
    p.add_argument("--noise", type=float, default=0.3)
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--partitions", type=int, default=32, help="spark.sql.shuffle.partitions")
    p.add_argument("--work", default="/tmp/latentspark-drift-large")
    p.add_argument("--out", default=str(REPO / "benchmarks/results/drift_large.md"))
    args = p.parse_args(argv)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        t0 = time.monotonic()
        old, new = write_tables(work, args.words, args.dim, args.churn, args.noise, 100_000, 7)
        generate = time.monotonic() - t0
        print(f"generated in {generate:.0f} s", flush=True)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.setdefault("PYSPARK_PYTHON", sys.executable)
        env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        (work / "spark-local").mkdir()
        t0 = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(old), str(new), str(work / "report"),
             str(args.sample), str(args.partitions), str(work / "spark-local")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        peak = {"driver_python": 0, "jvm": 0, "workers": 0, "driver_total": 0}
        lines: list[str] = []
        import threading

        reader = threading.Thread(target=lambda: lines.extend(child.stdout), daemon=True)
        reader.start()
        while child.poll() is None:
            now = tree(child.pid)
            now["driver_total"] = now["driver_python"] + now["jvm"]
            peak = {k: max(peak[k], now[k]) for k in peak}
            time.sleep(0.5)
        reader.join()
        wall = time.monotonic() - t0
        summary = next((json.loads(x[len("SUMMARY "):]) for x in lines
                        if x.startswith("SUMMARY ")), None)
        if child.returncode != 0 or summary is None:
            sys.stdout.write("".join(lines[-60:]))
            raise SystemExit(f"drift failed with exit code {child.returncode}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mib = {k: v / 2**20 for k, v in peak.items()}
    command = ("PYTHONPATH=. PYSPARK_PYTHON=/work/main/.venv/bin/python "
               "/work/main/.venv/bin/python benchmarks/drift_large.py "
               + " ".join(argv if argv is not None else sys.argv[1:]))
    d, pr, ov = summary["drift"], summary["procrustes"], summary["overlap"]
    report = [
        f"# Drift on two synthetic {args.words:,} x {args.dim} embeddings tables, 1 GiB driver",
        "", f"Command: `{command}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs; "
        f"Spark local[2], spark.driver.memory=1g, spark.driver.maxResultSize=64m, "
        f"{args.partitions} shuffle partitions. The new table is the old one rotated by a "
        f"random orthogonal matrix plus N(0, {args.noise}^2) noise per component, with "
        f"{args.churn:,} words only in each. Generating the tables took {generate:.0f} s "
        "(not counted below).", "",
        "| measure | value |", "| --- | ---: |",
        f"| wall time of `compute_drift` (s) | {summary['wall_seconds']:.0f} |",
        f"| child process wall time, Spark start and stop included (s) | {wall:.0f} |",
        f"| peak driver RSS, Python (MiB) | {mib['driver_python']:.0f} |",
        f"| peak driver RSS, JVM incl. local executors (MiB) | {mib['jvm']:.0f} |",
        f"| peak driver RSS, Python + JVM sampled together (MiB) | {mib['driver_total']:.0f} |",
        f"| peak RSS of the Python workers, summed (MiB) | {mib['workers']:.0f} |",
        f"| shared / only old / only new words | {summary['shared']:,} / "
        f"{summary['only_old']:,} / {summary['only_new']:,} |",
        f"| Procrustes residual before / after | {pr['residual_before']:.1f} / "
        f"{pr['residual_after']:.1f} |",
        f"| drift median / p99 / max | {d['median']:.4f} / {d['p99']:.4f} / {d['max']:.4f} |",
        f"| top-{ov['k']} overlap, mean over {ov['words']:,} sampled words | "
        f"{ov['mean']:.3f} |", "",
    ]
    Path(args.out).write_text("\n".join(report))
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"command": command, "generate_seconds": generate, "child_seconds": wall,
         "peak_rss_mib": mib, "summary": {k: v for k, v in summary.items()
                                          if k not in ("most_drifted", "least_drifted")}},
        indent=2) + "\n")
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
