"""What a small Python task costs on local Spark: Spark's defaults against latentspark's
local settings (``latentspark.workers.settle`` and ``session.LOCAL_DEFAULTS``).

Each variant runs in a fresh process (a fresh JVM and fresh Python workers: a worker's frozen
objects stay frozen), alternating the variants round by round so that they share the load:

- *tcp, no freeze*: Spark's defaults; the workers collect all their objects after each task;
- *tcp, freeze*: :func:`latentspark.workers.settle` before each task;
- *uds, no freeze*: ``spark.python.unix.domain.socket.enabled=true``;
- *uds, freeze*: both, what latentspark's local sessions and tasks do.

In each process the workers first load what a latentspark task loads (numpy, pyarrow and the
compiled numba kernels, ``pairkernels.warm()``), then a job of 16 tasks over 16,000 ids is
timed ``--jobs`` times; the median is reported. With ``--pipelines N`` each process also runs
the test suite's small retraining pipeline (``tests/test_pipeline.py``'s settings, 1,500
lines) N + 1 times in the same session and reports the median of the warm runs.

    .venv/bin/python benchmarks/task_overhead.py [--rounds 2] [--pipelines 2]

Results go to ``benchmarks/results/task_overhead.{md,json}``. ``--gc`` instead times, in fresh
processes that import what a counting task's worker imports (pyspark's worker, numpy, pyarrow,
the package's task modules, the compiled kernels loaded by ``pairkernels.warm()``), the full
collection PySpark's daemon runs after each task, before and after :func:`gc.freeze`; to
``benchmarks/results/task_overhead_gc.{md,json}``. ``--daemon`` instead times, in fresh
processes alternating Spark's Python daemon (``pyspark.daemon``) and latentspark's
(``latentspark.workerdaemon``), a new session's first Python job (2 tasks that load what a
counting task loads, ``pairkernels.warm()``), the same job again, and the Python processes'
CPU in the first; to ``benchmarks/results/task_overhead_daemon.{md,json}``.
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

VARIANTS = {
    "tcp, no freeze": {"uds": False, "freeze": False},
    "tcp, freeze": {"uds": False, "freeze": True},
    "uds, no freeze": {"uds": True, "freeze": False},
    "uds, freeze": {"uds": True, "freeze": True},
}
BASELINE = "tcp, no freeze"


def _load_kernels(batches):
    from latentspark.pairkernels import warm

    warm()
    yield from batches


def _identity(batches):
    yield from batches


def gc_walk() -> dict:
    """In this process: the objects a loaded worker tracks and what a full collection costs,
    at each step of loading and after :func:`gc.freeze` (median of 5 collections)."""
    import gc

    def collect() -> float:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            gc.collect()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    steps = []
    import pyspark.worker  # noqa: F401  what the daemon's child imports

    steps.append(("pyspark's worker", len(gc.get_objects()), collect()))
    import numpy  # noqa: F401
    import pyarrow.compute  # noqa: F401

    steps.append(("+ numpy, pyarrow", len(gc.get_objects()), collect()))
    sys.path.insert(0, str(ROOT))
    import latentspark.cooccurrence  # noqa: F401
    import latentspark.factorize  # noqa: F401
    from latentspark.pairkernels import warm

    warm()
    steps.append(("+ latentspark's task modules, kernels loaded", len(gc.get_objects()),
                  collect()))
    gc.freeze()
    steps.append(("after gc.freeze()", len(gc.get_objects()), collect()))
    return {"steps": [{"step": n, "tracked": k, "collect_s": c} for n, k, c in steps]}


def gc_report(args: argparse.Namespace) -> int:
    """``--gc``: :func:`gc_walk` in ``--rounds`` fresh processes; the median of each step."""
    runs = []
    for _ in range(args.rounds):
        done = subprocess.run([sys.executable, __file__, "--gc-child"], cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    steps = [{"step": s["step"], "tracked": s["tracked"],
              "collect_s": statistics.median(r["steps"][i]["collect_s"] for r in runs)}
             for i, s in enumerate(runs[0]["steps"])]
    command = f"benchmarks/task_overhead.py --gc --rounds {args.rounds}"
    record = {"date": dt.date.today().isoformat(), "command": command, "steps": steps,
              "runs": runs, "load": os.getloadavg()}
    out = Path(args.out + "_gc")
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    lines = [f"# A Python worker's full garbage collection ({record['date']})", "",
             f"{os.cpu_count()} cores, load average {[round(x, 2) for x in record['load']]}; "
             f"median over {args.rounds} fresh processes of the median of 5 collections.", "",
             "| loaded | objects the collection walks | `gc.collect()` |", "| --- | ---: | ---: |"]
    lines += [f"| {s['step']} | {s['tracked']:,} | {1000 * s['collect_s']:.1f} ms |"
              for s in steps]
    lines += ["", "PySpark's daemon runs this collection in a reused worker after every task; "
              "the next task waits for it. `latentspark.workers.settle` freezes the kept "
              "objects at the start of a task."]
    return _finish(out, lines, command)


def _record(out: Path, title: str, kind: str, command: str, load: list, summary: dict,
            runs: dict, rounds: int) -> list[str]:
    """Write the JSON record to ``out.json``; return the Markdown report's first lines."""
    record = {"date": dt.date.today().isoformat(), "command": command, "cores": os.cpu_count(),
              "load": load, "summary": summary, "runs": runs}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return [f"# {title} ({record['date']})", "",
            f"{os.cpu_count()} cores; load average at the start "
            f"{[round(x, 2) for x in load[0]]}, at the end {[round(x, 2) for x in load[1]]}. "
            f"Each {kind} ran {rounds} times in a fresh process, alternating; medians.", ""]


def _finish(out: Path, lines: list[str], command: str) -> int:
    """End the report with the command that made it, write it to ``out.md`` and print it."""
    lines += ["", "Made with:", "", "```", f".venv/bin/python {command}", "```", ""]
    out.with_suffix(".md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


def _session(app: str, conf: dict[str, str]):
    """A fresh ``local[2]`` session with Spark's defaults but for ``conf`` and a few
    settings of the test suite's (2g heap, serial collector, Arrow, no UI)."""
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.master("local[2]").appName(app)
               .config("spark.ui.enabled", "false")
               .config("spark.driver.memory", "2g")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


DAEMONS = {"Spark's daemon (pyspark.daemon)": "pyspark.daemon",
           "latentspark's daemon (latentspark.workerdaemon)": "latentspark.workerdaemon"}


def _python_cpu() -> float:
    """CPU seconds so far of this process's Python descendants (the daemon, its workers)."""
    import psutil

    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            if p.name() != "java":
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            continue
    return total


def daemon_first_job(module: str) -> dict:
    """In this process: a fresh local[2] session with ``module`` as the Python daemon; the
    first job of 2 tasks that load the counting kernels, then the same job again."""
    sys.path.insert(0, str(ROOT))
    from latentspark.workers import arrow_task

    spark = _session("task-overhead-daemon", {
        "spark.python.unix.domain.socket.enabled": "true",
        "spark.python.daemon.module": module})
    df = spark.range(0, 2_000, numPartitions=2)
    df.count()  # the JVM's side of a job, warmed without Python
    out = {}
    for key in ("first", "second"):
        cpu, t = _python_cpu(), time.perf_counter()
        df.mapInArrow(arrow_task(_load_kernels), "id BIGINT").count()
        out[f"{key}_s"] = time.perf_counter() - t
        out[f"{key}_cpu_s"] = _python_cpu() - cpu
    spark.stop()
    return out


def daemon_report(args: argparse.Namespace, env: dict) -> int:
    """``--daemon``: :func:`daemon_first_job` for each daemon, ``--rounds`` times, alternating
    in fresh processes; medians."""
    runs: dict[str, list[dict]] = {name: [] for name in DAEMONS}
    load = [os.getloadavg()]
    for r in range(args.rounds):
        for name, module in DAEMONS.items():
            done = subprocess.run([sys.executable, __file__, "--daemon-child", module],
                                  env=env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {name}: first job {runs[name][-1]['first_s']:.2f} s",
                  flush=True)
    load.append(os.getloadavg())
    keys = ("first_s", "first_cpu_s", "second_s")
    summary = {name: {k: statistics.median(x[k] for x in rs) for k in keys}
               for name, rs in runs.items()}
    base = summary[next(iter(DAEMONS))]
    for s in summary.values():
        s["first_ratio"] = s["first_s"] / base["first_s"]
        s["cpu_ratio"] = s["first_cpu_s"] / base["first_cpu_s"]
    command = f"benchmarks/task_overhead.py --daemon --rounds {args.rounds}"
    out = Path(args.out + "_daemon")
    lines = _record(out, "A new session's first Python job, by Python daemon", "daemon",
                    command, load, summary, runs, args.rounds)
    lines += ["| daemon | first job | vs Spark's | Python CPU in it | vs Spark's "
             "| the same job again |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['first_s']:.2f} s | {s['first_ratio']:.2f}x | "
                     f"{s['first_cpu_s']:.2f} s | {s['cpu_ratio']:.2f}x | "
                     f"{s['second_s']:.2f} s |")
    lines += ["", "*First job*: in a fresh `local[2]` session (after one job without Python), "
              "`mapInArrow` over 2 partitions whose tasks load what a counting task loads "
              "(numpy, pyarrow, the compiled kernels from numba's cache: "
              "`pairkernels.warm()`): the daemon's start, its two workers' imports and their "
              "first tasks. *Python CPU*: the daemon's and its workers'. Unix domain sockets "
              "and the workers' freezing in both."]
    return _finish(out, lines, command)


def measure(uds: bool, freeze: bool, jobs: int, pipelines: int, work: Path) -> dict:
    """One variant, in this process: the median 16-task job and warm pipeline times."""
    sys.path.insert(0, str(ROOT))
    from latentspark.workers import arrow_task

    spark = _session("task-overhead", {
        "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
        "spark.python.unix.domain.socket.enabled": str(uds).lower()})
    df = spark.range(0, 16_000, numPartitions=16)
    fn = arrow_task(_identity) if freeze else _identity
    for _ in range(3):  # both workers load the kernels (and settle, when they do)
        df.mapInArrow(_load_kernels, "id BIGINT").count()
        df.mapInArrow(fn, "id BIGINT").count()
    times = []
    for _ in range(jobs):
        t = time.perf_counter()
        df.mapInArrow(fn, "id BIGINT").count()
        times.append(time.perf_counter() - t)
    out = {"job_s": statistics.median(times), "jobs_s": times}
    if pipelines:
        from latentspark.pipeline import run_pipeline
        from tests.test_pipeline import add_day, make_cfg

        runs = []
        for i in range(pipelines + 1):
            run = work / f"p{i}"
            add_day(run / "corpus", 1)
            t = time.perf_counter()
            run_pipeline(spark, make_cfg(run, run / "corpus"))
            runs.append(time.perf_counter() - t)
        out.update(pipeline_s=statistics.median(runs[1:]), pipelines_s=runs)
    spark.stop()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=2, help="rounds over the variants")
    p.add_argument("--jobs", type=int, default=10, help="timed 16-task jobs per process")
    p.add_argument("--pipelines", type=int, default=0,
                   help="warm test pipelines per process (0: none)")
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/task_overhead"))
    p.add_argument("--gc", action="store_true",
                   help="time a loaded worker's full garbage collection instead")
    p.add_argument("--daemon", action="store_true",
                   help="time a new session's first Python job with each Python daemon")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--gc-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--daemon-child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.gc_child:
        print(json.dumps(gc_walk()))
        return 0
    if args.daemon_child:
        print(json.dumps(daemon_first_job(args.daemon_child)))
        return 0
    if args.gc:
        return gc_report(args)
    if args.child:
        v = VARIANTS[args.child]
        os.environ["LATENTSPARK_WORKER_FREEZE"] = "1" if v["freeze"] else "0"
        with tempfile.TemporaryDirectory(prefix="ls-overhead-") as work:
            print(json.dumps(measure(v["uds"], v["freeze"], args.jobs, args.pipelines,
                                     Path(work))))
        return 0
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable,
               SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get(
                   "PYTHONPATH")])))
    if args.daemon:
        return daemon_report(args, env)
    load = [os.getloadavg()]
    results: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for r in range(args.rounds):
        for name in VARIANTS:
            cmd = [sys.executable, __file__, "--child", name, "--jobs", str(args.jobs),
                   "--pipelines", str(args.pipelines)]
            done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {name}: job {results[name][-1]['job_s']:.3f} s"
                  + (f", pipeline {results[name][-1]['pipeline_s']:.1f} s"
                     if args.pipelines else ""), flush=True)
    load.append(os.getloadavg())
    summary = {}
    for name, runs in results.items():
        summary[name] = {"job_s": statistics.median(r["job_s"] for r in runs)}
        if args.pipelines:
            summary[name]["pipeline_s"] = statistics.median(r["pipeline_s"] for r in runs)
    base = summary[BASELINE]
    for s in summary.values():
        s["job_ratio"] = s["job_s"] / base["job_s"]
        if args.pipelines:
            s["pipeline_ratio"] = s["pipeline_s"] / base["pipeline_s"]
    command = "benchmarks/task_overhead.py " + " ".join(
        f"--{k} {getattr(args, k)}" for k in ("rounds", "jobs", "pipelines"))
    out = Path(args.out)
    lines = _record(out, "Small Python tasks on local Spark", "variant", command, load,
                    summary, results, args.rounds)
    lines += ["| variant | 16-task job | vs Spark's defaults |"
              + (" warm test pipeline | vs Spark's defaults |" if args.pipelines else ""),
              "| --- | ---: | ---: |" + (" ---: | ---: |" if args.pipelines else "")]
    for name, s in summary.items():
        row = f"| {name} | {s['job_s']:.3f} s | {s['job_ratio']:.2f}x |"
        if args.pipelines:
            row += f" {s['pipeline_s']:.1f} s | {s['pipeline_ratio']:.2f}x |"
        lines.append(row)
    lines += ["", "*16-task job*: `mapInArrow` of 16,000 ids in 16 partitions on `local[2]`, "
              "counted, after the workers loaded numpy, pyarrow and the compiled kernels. "
              "*Warm test pipeline*: `run_pipeline` with `tests/test_pipeline.py`'s settings "
              "on 1,500 lines, in the same session after a first (cold) run. *tcp / uds*: "
              "`spark.python.unix.domain.socket.enabled`; *freeze*: the function wrapped by "
              "`latentspark.workers.arrow_task` (off: `LATENTSPARK_WORKER_FREEZE=0`)."]
    return _finish(out, lines, command)


if __name__ == "__main__":
    raise SystemExit(main())
