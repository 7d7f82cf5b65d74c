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
        for ids, lengths, cols, x, s in row_batches(*data[b], layout.rows_of(p)):
            t = fz._lap("(harness: cutting rows)", t)
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
        "counts": str(cooccur), "vocab_size": vocab, "nnz_total": int(sum(
            len(v[0]) for v in data.values())), "blocks": blocks, "pieces": layout.pieces,
        "dim": args.dim, "read_counts_s": round(read_s, 2), "profiled": per_piece,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
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
        scale = r["nnz_total"] / max(nnz, 1)
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
    ap.add_argument("--spark", action="store_true", help="also time the pass on Spark")
    ap.add_argument("--spark-passes", type=int, default=1)
    ap.add_argument("--scratch", default=None, help="folder for temporary factors")
    ap.add_argument("--before", default=None, help="a previous breakdown .json to show too")
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
        res.update({"command": cmd, "commit": git_commit(),
                    "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                    "load_start": " ".join(f"{x:.1f}" for x in load_start),
                    "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg())})
        before = json.loads(Path(args.before).read_text()) if args.before else None
        name = args.name or "factorize_breakdown"
        (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
        (out_dir / f"{name}.md").write_text(breakdown_markdown(res, before, cmd))
        print((out_dir / f"{name}.md").read_text())
        return 0
    raise SystemExit("the side-by-side benchmark is not written yet")


if __name__ == "__main__":
    raise SystemExit(main())
