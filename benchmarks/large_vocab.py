"""Factorize a synthetic large-vocabulary co-occurrence matrix with a small driver, sampling
the driver's memory: the acceptance run of issue 13.

Input from ``benchmarks/large_vocab_data.py``. Runs the factorization's own functions
(:func:`latentspark.factorize.complete_rows`, the method, then
:func:`latentspark.embeddings.write_factor`) on ``local[2]`` with ``spark.driver.memory`` as
given, while a thread samples the resident memory of the driver's Python process and of its
JVM every 0.5 s (and reads their peaks, ``VmHWM``, at the end). Prints one JSON record.

    python benchmarks/large_vocab.py --data /tmp/large_vocab --method ppmi_svd --power-iters 0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time


def rss(pid: int, field: str = "VmRSS") -> int:
    """Bytes of ``field`` (VmRSS, VmHWM) of a process, 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def jvm_pid() -> int:
    """The driver JVM: the java child of this process."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    parts = fh.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{name}/comm") as fh:
                    comm = fh.read().strip()
            except OSError:
                continue
            if int(parts[1]) == me and comm == "java":
                return int(name)
    raise RuntimeError("no java child process found")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="output folder of large_vocab_data.py")
    ap.add_argument("--method", default="ppmi_svd", choices=("ppmi_svd", "ppmi_wals"))
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--oversample", type=int, default=20)
    ap.add_argument("--power-iters", type=int, default=0)
    ap.add_argument("--wals-iterations", type=int, default=1)
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--driver-memory", default="2g")
    ap.add_argument("--out", help="where the embeddings go (default: DATA/embeddings)")
    a = ap.parse_args()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    from latentspark import embeddings
    from latentspark import factorize as fz
    from latentspark.fs import HadoopFS

    spark = (SparkSession.builder.master("local[2]").appName("large-vocab")
             .config("spark.driver.memory", a.driver_memory)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    java = jvm_pid()
    samples = {"python": 0, "jvm": 0, "sum": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            p, j = rss(os.getpid()), rss(java)
            samples["python"] = max(samples["python"], p)
            samples["jvm"] = max(samples["jvm"], j)
            samples["sum"] = max(samples["sum"], p + j)
            stop.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    stats = json.load(open(os.path.join(a.data, "stats.json")))
    vocab = stats["vocab"]
    data = os.path.abspath(a.data)
    scratch = f"file:{data}/_scratch"
    out = a.out or f"file:{data}/embeddings"
    fs = HadoopFS(spark)
    fs.delete(scratch)
    fs.delete(out)
    steps = {}
    t0 = time.monotonic()
    matrix = fz.complete_rows(spark, f"file:{data}/data", vocab, tasks=a.tasks, scratch=scratch)
    steps["cache_rows"] = round(time.monotonic() - t0, 1)
    t1 = time.monotonic()
    if a.method == "ppmi_svd":
        result = fz.ppmi_svd(spark, matrix, a.dim, cds=0.75, shift=0.0, eig=0.5,
                             add_contexts=True, oversample=a.oversample,
                             power_iters=a.power_iters, seed=1)
    else:
        result = fz.ppmi_wals(spark, matrix, a.dim, cds=0.75, neg=5.0,
                              iterations=a.wals_iterations, l2=1e-3, eig=0.5,
                              add_contexts=True, oversample=a.oversample,
                              power_iters=a.power_iters, seed=1)
    steps["factorize"] = round(time.monotonic() - t1, 1)
    t2 = time.monotonic()
    written = embeddings.write_factor(spark, result.vectors, f"file:{data}/vocab", out)
    steps["write"] = round(time.monotonic() - t2, 1)
    steps["signs_and_vectors"] = round(steps["factorize"] - sum(
        h["seconds"] for h in result.history if "seconds" in h and "pass" in h), 1)
    steps["total"] = round(time.monotonic() - t0, 1)
    matrix.unpersist()
    fs.delete(scratch)
    stop.set()
    thread.join()
    gib = 2**30
    record = {
        "method": a.method, "vocab": vocab, "nnz": matrix.nnz, "dim": a.dim,
        "oversample": a.oversample, "power_iters": a.power_iters,
        "wals_iterations": a.wals_iterations if a.method == "ppmi_wals" else None,
        "tasks_per_pass": matrix.layout.pieces, "driver_memory": a.driver_memory,
        "steps_s": steps, "history": result.history,
        "rows_written": written["rows"], "dropped_words": written["dropped_words"],
        "rss_sampled_max_gib": {k: round(v / gib, 3) for k, v in samples.items()},
        "rss_peak_vmhwm_gib": {"python": round(rss(os.getpid(), "VmHWM") / gib, 3),
                               "jvm": round(rss(java, "VmHWM") / gib, 3)},
        "singular_values_head": [round(float(s), 4) for s in
                                 result.extra["singular_values"][:5]],
    }
    print(json.dumps(record, indent=1))
    spark.stop()


if __name__ == "__main__":
    main()
