"""Benchmark ppmi_wals at dimension 300 against gensim's skip-gram at 300, and profile it.

Two modes:

``--breakdown``
    Where the time of one ``ppmi_wals`` half-iteration goes, measured in-process on the real
    rows of a published co-occurrence output (``--counts``, e.g. those of
    ``corpus24m-tokens`` counted with ``conf/embeddings.toml``): the rows of each profiled
    piece are cut as the factorization's row reader cuts them, and ``_wals_kernel`` runs on
    them against a seeded random ``V x dim`` context factor stored as piece files (so the
    gathers read memory-mapped pieces, as in a task). The kernel's phases are timed through
    :data:`latentspark.factorize.PROFILE`; writing the piece and the per-task Gram aggregates
    are timed here. ``--spark`` also runs the same half-iteration as one Spark pass
    (``run_pass`` over ``complete_rows``) on ``local[2]``, and reports what it costs beyond
    the in-process kernels. Results: ``factorize_breakdown.md``/``.json``.

default
    In ONE run: (a) ``latentspark embeddings`` with ``conf/embeddings.toml`` at dimension 300
    from already published counts (``--root``, counted first with ``latentspark cooccur`` if
    absent), (b) gensim's skip-gram at 300 (``benchmarks/quality.py``'s worker), both timed
    and scored the same way (Google analogies 3CosAdd and 3CosMul, WordSim-353, SimLex-999).
    Results: ``factorize.md``/``.json``.

Run it alone on the machine if you can: other work on the two cores distorts every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results"
CORPUS = REPO.parent / "shared" / "data" / "corpus24m-tokens"
EVAL = REPO.parent / "shared" / "data" / "eval"
#: rows per batch handed to the kernel: what the row reader yields (``make_row_reader``)
BATCH_ROWS = 8192


# ---------------------------------------------------------------------------------------------
# the breakdown


def published(root: Path, stage: str) -> Path:
    """The newest published version folder of ``stage`` under a run root."""
    versions = sorted(p for p in (root / stage).iterdir() if (p / "manifest.json").exists())
    if not versions:
        raise SystemExit(f"{root}: no published {stage}")
    return versions[-1]


def read_counts(cooccur: Path) -> tuple[int, int, dict[int, tuple[np.ndarray, ...]]]:
    """Vocabulary size, blocks and each block's ``(row, col, weight)`` sorted by row."""
    import pyarrow.dataset as ds

    manifest = json.loads((cooccur / "manifest.json").read_text())
    blocks = int(manifest["blocks"])
    out = {}
    for b in range(blocks):
        t = ds.dataset(str(cooccur / "data" / f"block={b}"), format="parquet").to_table(
            columns=["row", "col", "weight"])
        r = t.column("row").to_numpy().astype(np.int64)
        c = t.column("col").to_numpy().astype(np.int32)
        x = t.column("weight").to_numpy().astype(np.float32)
        order = np.lexsort((c, r))
        out[b] = (r[order], c[order], x[order])
    return int(manifest["vocab_size"]), blocks, out


def row_batches(r: np.ndarray, c: np.ndarray, x: np.ndarray, rows: np.ndarray):
    """The piece's rows as the kernel gets them: ``(ids, lengths, cols, x, s)`` batches."""
    keep = np.isin(r, rows)
    r, c, x = r[keep], c[keep], x[keep]
    heads = np.flatnonzero(np.r_[True, r[1:] != r[:-1], True])
    for a in range(0, len(heads) - 1, BATCH_ROWS):
        e0, e1 = heads[a], heads[min(a + BATCH_ROWS, len(heads) - 1)]
        h = heads[a:min(a + BATCH_ROWS, len(heads) - 1) + 1] - e0
        lengths = np.diff(h)
        xs = x[e0:e1]
        s = np.add.reduceat(xs.astype(np.float64), h[:-1])
        yield r[e0:e1][h[:-1]], lengths, c[e0:e1], xs, s


def breakdown(args: argparse.Namespace) -> dict[str, Any]:
    """Profile one half-iteration (words side) of ``ppmi_wals`` on the real rows."""
    from latentspark import factorize as fz
    from latentspark.blocks import Factor, FactorReader, Layout, default_splits, write_piece

    cooccur = published(Path(args.root), "cooccur")
    t0 = time.perf_counter()
    vocab, blocks, data = read_counts(cooccur)
    read_s = time.perf_counter() - t0
    layout = Layout(vocab, blocks, default_splits(blocks, args.tasks))
    scratch = Path(tempfile.mkdtemp(prefix="wals-breakdown-", dir=args.scratch))
    sums = np.zeros(vocab)
    for r, _, x in data.values():
        np.add.at(sums, r, x.astype(np.float64))
    sums_f = Factor(str(scratch / "sums"), layout, 1, "float64")
    design = Factor(str(scratch / "c0"), layout, args.dim)
    rng = np.random.default_rng(args.seed)
    # a context factor of the SVD start's scale: rows ~ sqrt(singular value) / sqrt(dim)
    full = (rng.standard_normal((vocab, args.dim)) / np.sqrt(args.dim)).astype(np.float32)
    for p in range(layout.pieces):
        ids = layout.rows_of(p)
        write_piece(sums_f, p, sums[ids][:, None])
        write_piece(design, p, full[ids])
    cds, neg, l2 = 0.75, 5.0, 1e-3
    p_ctx = np.where(sums > 0, sums ** cds, 0.0)
    log_z = float(np.log(p_ctx.sum()))
    p_ctx /= p_ctx.sum()
    c64 = full.astype(np.float64)
    gram = c64.T @ (c64 * p_ctx[:, None])
    del full, c64
    params = {"cds": cds, "log_z": log_z, "shift": 0.0, "k": neg, "l2": l2, "gram": gram,
              "transpose": False}
    pieces = list(range(layout.pieces)) if args.pieces < 0 else list(range(args.pieces))
    # as in a Spark task: one BLAS thread per task core, where the code sets it (run_pass)
    limit = getattr(fz, "blas_threads", None)
    threads = (lambda: limit(1)) if limit else contextlib.nullcontext
    per_piece = []
    fz.PROFILE = totals = {}
    for p in pieces:
        before = dict(totals)
        t_piece = time.perf_counter()
        readers = {"design": FactorReader(design), "sums": FactorReader(sums_f)}
        out = np.zeros((layout.piece_rows(p), args.dim))
        own = np.zeros(layout.piece_rows(p))
        b = p // layout.splits
        nnz = rows = 0
        t = time.perf_counter()
        every = max(1, round(1 / args.sample))
        for ids, lengths, cols, x, s in row_batches(*data[b], layout.rows_of(p)[::every]):
            t = fz._lap("(harness: cutting rows)", t)
            with threads():
                vec, _ = fz._wals_kernel(ids, lengths, cols, x, s, readers, params)
            t = time.perf_counter()
            local = layout.piece_of(ids)[1]
            out[local] = vec
            own[local] = s
            nnz += int(lengths.sum())
            rows += len(ids)
        stored = out.astype(np.float32)
        t = fz._lap("solve: other", t)
        write_piece(Factor(str(scratch / "w1"), layout, args.dim), p, stored)
        t = fz._lap("write piece", t)
        fz._aggregates({"gram": "sums", "plain": None}, {"l2": "sums"}, args.dim, stored, own,
                       params)
        fz._lap("task aggregates", t)
        wall = time.perf_counter() - t_piece
        phases = {k: round(v - before.get(k, 0.0), 3) for k, v in totals.items()}
        per_piece.append({"piece": p, "rows": rows, "nnz": nnz, "wall_s": round(wall, 3),
                          "phases": phases})
        print(f"piece {p}: {rows} rows, {nnz} entries, {wall:.1f} s {phases}", flush=True)
    fz.PROFILE = None
    result: dict[str, Any] = {
        "counts": str(cooccur), "vocab_size": vocab,
        "nnz_total": int(sum(len(v[0]) for v in data.values())),
        "rows_total": int(np.count_nonzero(sums)), "blocks": blocks, "pieces": layout.pieces,
        "dim": args.dim, "read_counts_s": round(read_s, 2), "profiled": per_piece,
        "blas_threads": ("1, as run_pass sets in a task" if limit else
                         os.environ.get("OPENBLAS_NUM_THREADS", "OpenBLAS's default (2)")),
    }
    if args.spark:
        result["spark"] = spark_pass(args, cooccur, vocab, design, gram, params)
    return result


def spark_pass(args, cooccur: Path, vocab: int, design, gram, params) -> dict[str, Any]:
    """The same half-iteration as one Spark pass over the cached complete rows."""
    from pyspark.sql import SparkSession

    from latentspark import factorize as fz

    spark = (SparkSession.builder.master("local[2]").appName("factorize-breakdown")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "8g")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        scratch = tempfile.mkdtemp(prefix="wals-spark-", dir=args.scratch)
        t0 = time.perf_counter()
        matrix = fz.complete_rows(spark, str(cooccur / "data"), vocab, tasks=args.tasks,
                                  scratch=scratch)
        rows_s = time.perf_counter() - t0
        # the design factor lives in the breakdown's own scratch: same layout, same pieces
        out = {"complete_rows_s": round(rows_s, 2), "passes_s": []}
        for _ in range(args.spark_passes):
            t0 = time.perf_counter()
            spec = fz.PassSpec(fz._wals_kernel, matrix.factor("w1", args.dim),
                               {"design": design}, params,
                               grams={"gram": "sums", "plain": None}, norms={"l2": "sums"},
                               norm_cols=args.dim)
            fz.run_pass(spark, matrix, spec)
            out["passes_s"].append(round(time.perf_counter() - t0, 2))
            print(f"spark pass: {out['passes_s'][-1]} s", flush=True)
        matrix.unpersist()
        return out
    finally:
        spark.stop()


def breakdown_markdown(res: dict[str, Any], before: dict[str, Any] | None, cmd: str) -> str:
    """The breakdown table (and the one before the change, if given)."""
    def table(r: dict[str, Any]) -> list[str]:
        prof = r["profiled"]
        phases: dict[str, float] = {}
        for p in prof:
            for k, v in p["phases"].items():
                phases[k] = phases.get(k, 0.0) + v
        wall = sum(p["wall_s"] for p in prof)
        nnz = sum(p["nnz"] for p in prof)
        # rows are sampled uniformly (every n-th of a piece): project by the share of rows
        scale = r["rows_total"] / max(sum(p["rows"] for p in prof), 1)
        lines = [f"{len(prof)} of {r['pieces']} pieces profiled ({sum(p['rows'] for p in prof):,}"
                 f" rows, {nnz:,} of {r['nnz_total']:,} entries), dimension {r['dim']}, "
                 f"BLAS threads: {r['blas_threads']}.", "",
                 "| phase | seconds (profiled pieces) | share | projected per half-iteration, "
                 "one core |", "| --- | ---: | ---: | ---: |"]
        for k, v in sorted(phases.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {k} | {v:.2f} | {v / wall:.1%} | {v * scale:.0f} s |")
        lines.append(f"| **total (wall)** | **{wall:.2f}** | | **{wall * scale:.0f} s** "
                     f"(two cores: {wall * scale / 2:.0f} s) |")
        if "spark" in r:
            s = r["spark"]
            lines += ["", f"Spark, `local[2]`, the same half-iteration as one `run_pass` over "
                      f"the cached rows: {', '.join(f'{x} s' for x in s['passes_s'])} (caching "
                      f"the complete rows first: {s['complete_rows_s']} s). In-process "
                      f"projection on two cores: {wall * scale / 2:.0f} s."]
        return lines

    out = ["# ppmi_wals half-iteration breakdown", "",
           f"Command: `{cmd}`", "",
           f"Counts: `{res['counts']}` ({res['vocab_size']:,} words, {res['nnz_total']:,} "
           f"stored non-zeros, {res['blocks']} blocks, {res['pieces']} pieces per pass). "
           f"Measured {res['date']} at commit `{res['commit']}`; load average at the start "
           f"{res['load_start']}, at the end {res['load_end']}.", "",
           "The kernel (`_wals_kernel`, the words side) runs in-process on each profiled "
           "piece's real rows, against a random context factor stored as float32 piece files "
           "(memory-mapped, as in a task). Phases: *gather* reads design rows from the pieces, "
           "*gram* accumulates each row's observed Gram, *rhs* its right-hand side, *solve* "
           "adds the rank-one background and ridge terms and solves, *loss* / *objective* "
           "compute the row's part of the objective, *targets and weights* the PPMI targets "
           "of the entries; *write piece* and *task aggregates* are the task's output.", "",
           "## After", ""] if before else [
           "# ppmi_wals half-iteration breakdown", "", f"Command: `{cmd}`", "",
           f"Counts: `{res['counts']}`; measured {res['date']} at commit `{res['commit']}`, "
           f"load average {res['load_start']} -> {res['load_end']}.", ""]
    out += table(res)
    if before:
        out += ["", f"## Before (commit `{before['commit']}`, {before['date']}, load "
                f"{before['load_start']} -> {before['load_end']})", "",
                f"Command: `{before['command']}`", ""] + table(before)
    return "\n".join(out) + "\n"



# ---------------------------------------------------------------------------------------------
# the side-by-side run


#: the latentspark settings of the comparison, beyond ``conf/embeddings.toml``: the same words
#: as gensim's (whitespace tokens of the pre-tokenised corpus, min count 5) on two cores
SETTINGS = ("tokenize.mode=whitespace", "vocab.min_count=5", "spark.master=local[2]")
#: Levy and Goldberg's 3CosMul epsilon, as latentspark's evaluator uses
COSMUL_EPS = 1e-3


class LoadSampler:
    """The 1-minute load average, sampled every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 5.0) -> None:
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(interval)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        s = self.samples or [float("nan")]
        return {"mean": round(float(np.mean(s)), 2), "max": round(float(np.max(s)), 2)}


def analogies_cosmul(words: list[str], vectors: np.ndarray, eval_dir: Path,
                     restrict: int = 300_000, block: int = 256) -> dict[str, Any]:
    """3CosMul accuracy on the Google analogies with gensim's vocabulary rules.

    Words match case-insensitively (the first, most frequent, variant among the first
    ``restrict``), questions with an unknown word are skipped, and the three question words
    are never answers, as in gensim's ``evaluate_word_analogies``; the answer maximises
    ``cos'(d, b) cos'(d, c) / (cos'(d, a) + eps)`` with ``cos' = (cos + 1) / 2`` (Levy and
    Goldberg 2014).
    """
    from quality import ANALOGIES, SEMANTIC_SECTIONS

    v = vectors[:restrict].astype(np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)
    first: dict[str, int] = {}
    for i, w in enumerate(words[:restrict]):
        first.setdefault(w.upper(), i)
    section, quads = None, []
    for line in (eval_dir / ANALOGIES).read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        q = line.split()
        if len(q) == 4 and all(w.upper() in first for w in q):
            quads.append((section, *(first[w.upper()] for w in q)))
    idx = np.array([q[1:] for q in quads], dtype=np.int64).reshape(-1, 4)
    right = np.zeros(len(idx), bool)
    for a in range(0, len(idx), block):
        q = idx[a:a + block]
        cos = [(unit @ unit[q[:, j]].T + 1) / 2 for j in range(3)]     # V x block each
        score = cos[1] * cos[2] / (cos[0] + COSMUL_EPS)
        cols = np.arange(len(q))
        for j in range(3):
            score[q[:, j], cols] = -np.inf
        right[a:a + block] = np.argmax(score, axis=0) == q[:, 3]
    sem = np.array([q[0] in SEMANTIC_SECTIONS for q in quads], bool)

    def acc(m: np.ndarray) -> float | None:
        return float(right[m].mean()) if m.any() else None

    return {"total": acc(np.ones(len(right), bool)), "semantic": acc(sem),
            "syntactic": acc(~sem), "answerable": int(len(right)), "eps": COSMUL_EPS}


def score(words: list[str], vectors: np.ndarray, eval_dir: Path) -> dict[str, Any]:
    """``quality.evaluate`` (gensim: 3CosAdd, WordSim-353, SimLex-999) plus 3CosMul."""
    from quality import evaluate

    out = evaluate(words, vectors, eval_dir)
    t0 = time.perf_counter()
    out["google_3cosmul"] = analogies_cosmul(words, vectors, eval_dir)
    out["google_3cosmul"]["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def latentspark_cmd(stage: str, root: Path, corpus: str, dim: int) -> list[str]:
    cmd = [sys.executable, "-m", "latentspark", stage, "--config", "conf/embeddings.toml",
           "--corpus", corpus, "--root", str(root), "-q"]
    for item in (*SETTINGS, f"factorize.dim={dim}"):
        cmd += ["--set", item]
    return cmd + (["--force"] if stage == "embeddings" else [])


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """(a) ``latentspark embeddings`` from published counts, (b) gensim skip-gram, scored."""
    from cooccur import machine_info, read_manifest, run_measured
    from quality import read_vectors, run_peer

    root = Path(args.root)
    work = Path(tempfile.mkdtemp(prefix="factorize-bench-", dir=args.scratch))
    logs = Path(args.out_dir) / "factorize_logs"
    res: dict[str, Any] = {"machine": machine_info(), "dim": args.dim, "root": str(root),
                           "corpus": args.corpus}
    if not (root / "cooccur").exists() or not any((root / "cooccur").iterdir()):
        cmd = latentspark_cmd("cooccur", root, args.corpus, args.dim)
        run = run_measured(cmd, work / "cooccur.log", args.sample_interval)
        res["counting"] = {"command": shlex.join(cmd), "wall_s": round(run.wall_s, 1),
                           "returncode": run.returncode}
        if run.returncode:
            raise SystemExit(f"counting failed: {work / 'cooccur.log'}")
    cooc = read_manifest(root, "cooccur")
    res["counts"] = {"version": cooc["version"], "nonzeros": cooc["rows"],
                     "vocab_size": cooc["vocab_size"],
                     "cooccur": cooc["config"]["cooccur"],
                     "command": shlex.join(latentspark_cmd("cooccur", root, args.corpus,
                                                           args.dim)[1:])}
    peer_args = argparse.Namespace(dim=args.dim, sample_interval=args.sample_interval,
                                   eval_dir=args.eval_dir)

    def peer() -> dict[str, Any]:
        with LoadSampler() as load:
            rec = run_peer("gensim", args.corpus, work, peer_args, logs, "2g")
        rec["load"] = load.summary()
        if not rec.get("returncode"):
            gwords, gvec = read_vectors(work / "gensim" / "vectors.parquet")
            rec["eval"]["google_3cosmul"] = analogies_cosmul(gwords, gvec,
                                                             Path(args.eval_dir))
        return rec

    res["concurrent"] = bool(args.concurrent)
    if args.concurrent:        # both started together: the same load for both, less time
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1)
        peer_future = pool.submit(peer)
    # (a) ours
    cmd = latentspark_cmd("embeddings", root, args.corpus, args.dim)
    with LoadSampler() as load:
        run = run_measured(cmd, work / "embeddings.log", args.sample_interval)
    ours: dict[str, Any] = {"command": shlex.join(cmd), "wall_s": round(run.wall_s, 1),
                            "peak_rss_bytes": run.peak_rss_bytes, "returncode": run.returncode,
                            "load": load.summary()}
    if run.returncode:
        raise SystemExit(f"latentspark embeddings failed: {work / 'embeddings.log'}")
    emb = read_manifest(root, "embeddings")
    ours.update({"version": emb["version"], "timings": emb.get("timings"),
                 "history": emb.get("history"), "tasks_per_pass": emb.get("tasks_per_pass"),
                 "parameters": emb.get("parameters"), "rows": emb.get("rows")})
    print(f"latentspark: {ours['wall_s']} s {ours['timings']}", flush=True)
    words, vectors = read_vectors(Path(emb["_path"]) / "data", order_by="id")
    ours["eval"] = score(words, vectors, Path(args.eval_dir))
    res["latentspark"] = ours
    # (b) gensim
    rec = peer_future.result() if args.concurrent else peer()
    if rec.get("returncode"):
        raise SystemExit(f"gensim failed: {rec.get('log')}")
    print(f"gensim: train {rec.get('train_s')} s", flush=True)
    res["gensim"] = rec
    t = ours["timings"] or {}
    res["ratios"] = {
        "factorize_over_sg_train": round(t.get("factorize", float("nan")) / rec["train_s"], 3),
        "stage_over_sg_train": round(sum(t.values()) / rec["train_s"], 3) if t else None,
        "command_over_sg_train": round(ours["wall_s"] / rec["train_s"], 3),
        "command_over_sg_total": round(ours["wall_s"] / rec["time_s"], 3),
    }
    return res


def side_by_side_markdown(res: dict[str, Any], cmd: str) -> str:
    """The comparison table."""
    ours, sg = res["latentspark"], res["gensim"]
    t = ours["timings"] or {}

    def row(name: str, time_cell: str, e: dict[str, Any]) -> str:
        g, m = e["google"], e["google_3cosmul"]
        return (f"| {name} | {time_cell} | {g['total']:.3f} | {g['semantic']:.3f} | "
                f"{g['syntactic']:.3f} | {m['total']:.3f} | {m['semantic']:.3f} | "
                f"{m['syntactic']:.3f} | {e['wordsim353']['spearman']:.3f} | "
                f"{e['simlex999']['spearman']:.3f} |")

    iters = [h for h in ours.get("history") or [] if "iteration" in h]
    svd = [h for h in ours.get("history") or [] if "pass" in h]
    r = res["ratios"]
    lines = [
        "# ppmi_wals at dimension 300 against gensim skip-gram at 300", "",
        f"Command: `{cmd}`", "",
        f"Measured {res['date']} at commit `{res['commit']}` on {res['machine'].get('nproc')} "
        f"cores ({res['machine'].get('cpu')}). Corpus `{res['corpus']}`; counts published "
        f"before the run (`{res['counts']['version']}`, {res['counts']['nonzeros']:,} "
        f"non-zeros, {res['counts']['vocab_size']:,} words, "
        f"`{json.dumps(res['counts']['cooccur'], sort_keys=True)}`), counted by "
        f"`{res['counts']['command']}` (what the script runs when `--root` has no counts).",
        "",
        f"latentspark's command: `{ours['command']}`.", "",
        "| model | time | Google 3CosAdd total | semantic | syntactic | 3CosMul total | "
        "semantic | syntactic | WordSim-353 | SimLex-999 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        row("latentspark `ppmi_wals`, `conf/embeddings.toml`, dim 300",
            f"{t.get('factorize', float('nan')):.0f} s factorization "
            f"({ours['wall_s']:.0f} s whole command)", ours["eval"]),
        row("gensim skip-gram, dim 300, window 5, 5 epochs, 2 workers",
            f"{sg['train_s']:.0f} s training ({sg['time_s']:.0f} s with its vocabulary)",
            sg["eval"]),
        "",
        f"**Ratio, factorization / skip-gram training: {r['factorize_over_sg_train']:.2f}** "
        f"(whole `latentspark embeddings` command, JVM start, caching the rows and writing "
        f"the table included: {r['command_over_sg_train']:.2f}; against skip-gram's "
        f"vocabulary + training: {r['command_over_sg_total']:.2f}).", "",
        "latentspark's stage steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
        + f"; {ours.get('tasks_per_pass')} tasks per pass; peak RSS of the command's "
        f"process tree {ours['peak_rss_bytes'] / 2**30:.2f} GiB (skip-gram: "
        f"{sg['peak_rss_bytes'] / 2**30:.2f} GiB).", "",
        "SVD start (" + ", ".join(f"{h['pass']} {h['seconds']:.0f} s" for h in svd) + ").", "",
        "WALS iterations: " + "; ".join(f"{h['iteration']}: {h['seconds']:.0f} s, objective "
                                         f"{h['objective']:.6g}" for h in iters) + ".", "",
        ("Both ran **at the same time** (`--concurrent`), each competing with the other "
         "for the two cores as well as with other work." if res.get("concurrent") else
         "They ran one after the other."),
        "",
        f"Load average (1 min) while ours ran: mean {ours['load']['mean']}, max "
        f"{ours['load']['max']}; while skip-gram ran: mean {sg['load']['mean']}, max "
        f"{sg['load']['max']} (2 cores; each run alone contributes about 2).", "",
        "Scores: 3CosAdd, WordSim-353 and SimLex-999 (Spearman) by gensim's "
        "`evaluate_word_analogies` / `evaluate_word_pairs` (`benchmarks/quality.py`'s "
        "`evaluate`, restrict_vocab 300,000); 3CosMul by this script with gensim's "
        f"vocabulary rules and epsilon {COSMUL_EPS}. Answerable analogy questions: "
        f"{ours['eval']['google']['answerable']:,} (ours), "
        f"{sg['eval']['google']['answerable']:,} (skip-gram).",
    ]
    return "\n".join(lines) + "\n"


def gensim_progress(log: Path) -> dict[str, Any]:
    """Skip-gram's training progress from its worker's log (gensim's own INFO lines).

    Returns the training start, the last progress line's time and fraction of the 5 epochs,
    and the time gensim reports when it finished (``took N s``), if it did.
    """
    import re

    def when(line: str) -> dt.datetime:
        return dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")

    start = last = None
    done = 0.0
    took = None
    for line in log.read_text(errors="replace").splitlines():
        if "training model with" in line:
            start = when(line)
        m = re.search(r"EPOCH (\d+) - PROGRESS: at ([\d.]+)% examples", line)
        if m:
            last, done = when(line), (int(m.group(1)) + float(m.group(2)) / 100) / 5
        m = re.search(r"'msg': 'training on .* took ([\d.]+)s", line)
        if m:
            took = float(m.group(1))
    out: dict[str, Any] = {"fraction_done": round(done, 4), "finished": took is not None}
    if start and last:
        elapsed = (last - start).total_seconds()
        out.update({"train_started": start.isoformat(), "last_progress": last.isoformat(),
                    "elapsed_s": round(elapsed, 1),
                    "projected_train_s": round(elapsed / done, 1) if done else None})
    if took is not None:
        out["train_s"] = took
    return out


def partial_report(args: argparse.Namespace) -> dict[str, Any]:
    """Score a finished ``latentspark embeddings`` of an interrupted ``--concurrent`` run and
    report skip-gram's progress from its log, when skip-gram could not finish in time."""
    from cooccur import machine_info, read_manifest
    from quality import read_vectors

    work = Path(args.partial)
    root = Path(args.root)
    emb = read_manifest(root, "embeddings")
    cooc = read_manifest(root, "cooccur")
    ours: dict[str, Any] = {
        "command": shlex.join(latentspark_cmd("embeddings", root, args.corpus, args.dim)),
        "version": emb["version"], "timings": emb.get("timings"), "history": emb.get("history"),
        "tasks_per_pass": emb.get("tasks_per_pass"), "rows": emb.get("rows")}
    words, vectors = read_vectors(Path(emb["_path"]) / "data", order_by="id")
    ours["eval"] = score(words, vectors, Path(args.eval_dir))
    sg = gensim_progress(work / "gensim.log")
    t = ours["timings"] or {}
    sg_time = sg.get("train_s") or sg.get("projected_train_s")
    return {"machine": machine_info(), "dim": args.dim, "root": str(root),
            "corpus": args.corpus, "work": str(work), "latentspark": ours, "gensim": sg,
            "counts": {"version": cooc["version"], "nonzeros": cooc["rows"],
                       "vocab_size": cooc["vocab_size"], "cooccur": cooc["config"]["cooccur"]},
            "ratios": {"factorize_over_sg_train": round(t["factorize"] / sg_time, 3)
                       if sg_time and "factorize" in t else None}}


def partial_markdown(res: dict[str, Any], cmd: str) -> str:
    ours, sg = res["latentspark"], res["gensim"]
    e = ours["eval"]
    g, m = e["google"], e["google_3cosmul"]
    t = ours["timings"] or {}
    iters = [h for h in ours.get("history") or [] if "iteration" in h]
    svd = [h for h in ours.get("history") or [] if "pass" in h]
    state = (f"finished: training took {sg['train_s']:.0f} s" if sg.get("finished") else
             f"**not finished** when this report was made: {sg['fraction_done']:.1%} of its 5 "
             f"epochs after {sg.get('elapsed_s', float('nan')):.0f} s of training, so "
             f"**{sg.get('projected_train_s') or float('nan'):.0f} s projected** at that rate")
    return "\n".join([
        "# ppmi_wals at dimension 300 against gensim skip-gram at 300 (partial)", "",
        f"Report command: `{cmd}`, made {res['date']} at commit `{res['commit']}` from the "
        f"work folder `{res['work']}` of `python benchmarks/factorize.py --root "
        f"{res['root']} --scratch /tmp/wals --concurrent` (started at commit `be3e0dc`, "
        "the same code), which ran latentspark and skip-gram at the same time on the 2-core "
        "machine while other agents' Spark jobs kept the load average at 12-17.", "",
        f"Counts published before the run: `{res['counts']['version']}`, "
        f"{res['counts']['nonzeros']:,} non-zeros, {res['counts']['vocab_size']:,} words, "
        f"`{json.dumps(res['counts']['cooccur'], sort_keys=True)}`.", "",
        f"latentspark's command: `{ours['command']}`.", "",
        "| model | time | Google 3CosAdd total | semantic | syntactic | 3CosMul total | "
        "semantic | syntactic | WordSim-353 | SimLex-999 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| latentspark `ppmi_wals`, `conf/embeddings.toml`, dim 300 | "
        f"{t.get('factorize', float('nan')):.0f} s factorization | {g['total']:.3f} | "
        f"{g['semantic']:.3f} | {g['syntactic']:.3f} | {m['total']:.3f} | {m['semantic']:.3f} "
        f"| {m['syntactic']:.3f} | {e['wordsim353']['spearman']:.3f} | "
        f"{e['simlex999']['spearman']:.3f} |",
        f"| gensim skip-gram, dim 300, window 5, 5 epochs, 2 workers | {state} | not scored "
        "| | | | | | | |", "",
        f"Ratio, factorization / skip-gram training: "
        f"**{res['ratios']['factorize_over_sg_train'] or float('nan'):.2f}**"
        + ("" if sg.get("finished") else " (against the projection)") + ".", "",
        "latentspark's stage steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items())
        + f"; {ours.get('tasks_per_pass')} tasks per pass.", "",
        "SVD start (" + ", ".join(f"{h['pass']} {h['seconds']:.0f} s" for h in svd) + ").", "",
        "WALS iterations: " + "; ".join(f"{h['iteration']}: {h['seconds']:.0f} s, objective "
                                         f"{h['objective']:.6g}" for h in iters) + ".", "",
        "Scores: 3CosAdd, WordSim-353 and SimLex-999 (Spearman) by gensim's "
        "`evaluate_word_analogies` / `evaluate_word_pairs` (`benchmarks/quality.py`'s "
        "`evaluate`, restrict_vocab 300,000); 3CosMul by this script with gensim's "
        f"vocabulary rules and epsilon {COSMUL_EPS}; {g['answerable']:,} answerable "
        "questions.", ""])


# ---------------------------------------------------------------------------------------------
# main


def git_commit() -> str:
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--breakdown", action="store_true", help="profile one half-iteration")
    ap.add_argument("--root", default="/tmp/wals/root",
                    help="run root with published counts (the benchmark counts them if absent)")
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--eval-dir", default=str(EVAL))
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--tasks", type=int, default=6, help="factorize.tasks (6: local[2]'s)")
    ap.add_argument("--pieces", type=int, default=1, help="pieces profiled (-1: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=float, default=1.0,
                    help="fraction of each profiled piece's rows (every n-th row)")
    ap.add_argument("--label", default=None, help="what was measured (default: the commit)")
    ap.add_argument("--spark", action="store_true", help="also time the pass on Spark")
    ap.add_argument("--spark-passes", type=int, default=1)
    ap.add_argument("--scratch", default=None, help="folder for temporary factors")
    ap.add_argument("--before", default=None, help="a previous breakdown .json to show too")
    ap.add_argument("--partial", default=None, metavar="WORK",
                    help="report a finished latentspark run of an interrupted --concurrent run "
                         "(its work folder) and skip-gram's progress from its log")
    ap.add_argument("--concurrent", action="store_true",
                    help="run skip-gram at the same time as latentspark instead of after it")
    ap.add_argument("--sample-interval", type=float, default=0.5,
                    help="seconds between RSS samples")
    ap.add_argument("--out-dir", default=str(OUT))
    ap.add_argument("--name", default=None, help="results file name (without extension)")
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    cmd = shlex.join(["python", "benchmarks/factorize.py", *argv])
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.breakdown:
        load_start = os.getloadavg()
        res = breakdown(args)
        res.update({"command": cmd, "commit": args.label or git_commit(),
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "load_start": " ".join(f"{x:.1f}" for x in load_start),
                    "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg())})
        before = json.loads(Path(args.before).read_text()) if args.before else None
        name = args.name or "factorize_breakdown"
        (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
        (out_dir / f"{name}.md").write_text(breakdown_markdown(res, before, cmd))
        print((out_dir / f"{name}.md").read_text())
        return 0
    if args.partial:
        res = partial_report(args)
        res.update({"command": cmd, "commit": args.label or git_commit(),
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "load_now": list(os.getloadavg())})
        name = args.name or "factorize"
        (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
        (out_dir / f"{name}.md").write_text(partial_markdown(res, cmd))
        print((out_dir / f"{name}.md").read_text())
        return 0
    load_start = os.getloadavg()
    res = side_by_side(args)
    res.update({"command": cmd, "commit": args.label or git_commit(),
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "load_start": list(load_start), "load_end": list(os.getloadavg())})
    name = args.name or "factorize"
    (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    (out_dir / f"{name}.md").write_text(side_by_side_markdown(res, cmd))
    print((out_dir / f"{name}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
