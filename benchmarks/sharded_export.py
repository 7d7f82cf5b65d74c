"""Benchmark the exact bulk neighbour export shard against shard, against the whole-index export.

``latentspark neighbours --all --mode exact`` maps the whole index in every Python worker while
the index fits ``evaluate.worker_vectors_mb``; above it, each task maps one query shard and one
target shard and Spark merges every shard's top k per word
(:func:`latentspark.evaluation.sharded_neighbours`). One run of this script, one step after the
other, on GloVe 6B 50d (400,000 x 50, as ``benchmarks/neighbours.py``):

1. ``latentspark index`` with ``--shards`` shards (default 8);
2. the export with the default budget (whole index per worker);
3. the export with ``evaluate.worker_vectors_mb=0`` (two shards per worker at most);

each timed by the stage's ``export`` step, its process tree's peak RSS sampled, and the largest
amount of index files any one Python worker held in its private cache folder sampled every
``--sample-interval`` seconds (the workers copy, verify and map index files there). Then both
exports are compared row by row (same neighbours; similarities within float32 rounding).
Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cooccur import git_state, machine_info, read_manifest, run_measured, shell_join  # noqa: E402
from evaluate import CACHE, write_embeddings  # noqa: E402


class CacheSampler:
    """The peak bytes of files in any one worker's private index cache folder under a parent."""

    def __init__(self, parent: Path, interval: float) -> None:
        self.parent, self.interval, self.peak = parent, interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for folder in self.parent.glob("latentspark-index-*"):
                size = 0
                for p in folder.rglob("*"):
                    try:
                        size += p.stat().st_size if p.is_file() else 0
                    except FileNotFoundError:  # evicted while we looked
                        pass
                self.peak = max(self.peak, size)
            self._stop.wait(self.interval)

    def __enter__(self) -> CacheSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def export(args: argparse.Namespace, common: list[str], name: str, budget: int | None,
           out: Path) -> dict[str, Any]:
    """One timed exact export; returns its figures."""
    cache = Path(args.work) / f"cache-{name}"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    extra = ["--set", f"evaluate.worker_vectors_mb={budget}"] if budget is not None else []
    command = [sys.executable, "-m", "latentspark", "neighbours", "--all", "--force", "-q",
               "--mode", "exact", "-k", str(args.k), *common,
               "--set", f"index.cache_dir={json.dumps(str(cache))}", *extra]
    print(f"== {name}: {shell_join(command)}", flush=True)
    load = os.getloadavg()
    with CacheSampler(cache, args.sample_interval) as sampler:
        run = run_measured(command, out / f"sharded-export-{name}.log", args.sample_interval)
    if run.returncode != 0:
        raise SystemExit(f"{name} failed ({run.returncode}); see {run.log}")
    m = read_manifest(Path(args.work) / "root", "neighbours")
    res = {"command": shell_join(command), "wall_s": run.wall_s,
           "export_s": m["timings"]["export"], "peak_rss_bytes": run.peak_rss_bytes,
           "worker_cache_peak_bytes": sampler.peak, "path": m["_path"],
           "load_before": [round(x, 2) for x in load]}
    print(f"   export {res['export_s']:.1f} s, peak RSS {run.peak_rss_bytes / 2**30:.2f} GiB, "
          f"largest worker cache {sampler.peak / 2**20:.1f} MiB", flush=True)
    return res


def compare(a: str, b: str) -> dict[str, Any]:
    """Row-by-row comparison of two exports (sorted by word and rank)."""
    import pyarrow.parquet as pq

    def table(path: str):
        t = pq.ParquetDataset(str(Path(path) / "data")).read()
        return t.sort_by([("word", "ascending"), ("rank", "ascending")])

    ta, tb = table(a), table(b)
    same_rows = ta.num_rows == tb.num_rows
    nbr_a, nbr_b = ta.column("neighbour").to_pylist(), tb.column("neighbour").to_pylist()
    sa = ta.column("similarity").to_numpy()
    sb = tb.column("similarity").to_numpy()
    differ = sum(x != y for x, y in zip(nbr_a, nbr_b, strict=False)) if same_rows else None
    return {"rows": ta.num_rows, "same_rows": same_rows, "neighbours_differ": differ,
            "max_similarity_diff": float(np.max(np.abs(sa - sb))) if same_rows else None}


def render(r: dict[str, Any]) -> str:
    whole, sharded, c = r["whole"], r["sharded"], r["compare"]
    mib = 2**20
    lines = [
        f"# Exact bulk export, shard against shard ({r['date']})", "",
        f"GloVe 6B 50d ({r['words']:,} words x {r['dim']}), top {r['k']} of every word, "
        f"{r['shards']} index shards ({r['index_bytes'] / mib:.1f} MiB of vectors), local "
        f"Spark on {r['machine'].get('nproc', '?')} cores. Load average (1/5/15 min) before "
        "each step is given; the machine may be shared, so compare within this run only.", "",
        "| export | export step | whole command | peak RSS (all processes) | largest worker's "
        "index files | load before |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, x in (("whole index per worker (default budget)", whole),
                    ("shard against shard (`evaluate.worker_vectors_mb=0`)", sharded)):
        lines.append(f"| {name} | {x['export_s']:.1f} s | {x['wall_s']:.1f} s | "
                     f"{x['peak_rss_bytes'] / 2**30:.2f} GiB | "
                     f"{x['worker_cache_peak_bytes'] / mib:.1f} MiB | {x['load_before']} |")
    lines += [
        "", f"Shard against shard / whole index: export step "
        f"**{sharded['export_s'] / whole['export_s']:.2f}x**, largest worker's index files "
        f"**{sharded['worker_cache_peak_bytes'] / max(whole['worker_cache_peak_bytes'], 1):.2f}"
        "x**.", "",
        f"Same answers: {c['rows']:,} rows each; neighbours that differ: "
        f"{c['neighbours_differ']}; largest similarity difference {c['max_similarity_diff']:.2e}"
        " (float32 block products of other shapes).", "",
        "Made with:", "", "```", r["command"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--work", default="/tmp/latentspark-bench-sharded")
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--sample-interval", type=float, default=0.2)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    emb = write_embeddings(args.cache)
    root = Path(args.work) / "root"
    common = ["--root", str(root), "--embeddings", str(emb), "--set",
              f"index.shards={args.shards}", "--set", "index.n_trees=10"]
    t0 = time.perf_counter()
    index = run_measured([sys.executable, "-m", "latentspark", "index", "--force", "-q",
                          *common], args.out / "sharded-export-index.log", 1.0)
    if index.returncode != 0:
        raise SystemExit(f"index failed; see {index.log}")
    m = read_manifest(root, "index")
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine": machine_info(), "git": git_state(),
        "command": shell_join([sys.executable, "benchmarks/sharded_export.py",
                               *(argv if argv is not None else sys.argv[1:])]),
        "words": int(m["vocab_size"]), "dim": int(m["dim"]), "shards": args.shards, "k": args.k,
        "index_bytes": sum(f["size"] for f in m["files"].values() if f["kind"] == "vectors"),
        "index_s": round(time.perf_counter() - t0, 1)}
    result["whole"] = export(args, common, "whole", None, args.out)
    result["sharded"] = export(args, common, "sharded", 0, args.out)
    result["compare"] = compare(result["whole"]["path"], result["sharded"]["path"])
    (args.out / "sharded_export.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "sharded_export.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
