"""Incremental retraining against a full recount, on a real partitioned corpus.

A scheduled retraining adds one partition to a corpus already counted. This measures, in one
run on one machine:

1. the first count of every partition but one (vocabulary frozen from them);
2. the retraining after the last partition lands: its word counts and file check, its
   co-occurrences, and the merge of every partition's counts;
3. a full recount of the whole corpus in one job against the same vocabulary (what a
   non-incremental job does every night);

and checks that 2 and 3 publish identical counts. Results go to
``benchmarks/results/incremental.{md,json}``.

    .venv/bin/python benchmarks/incremental.py [--corpus ../shared/data/corpus24m-raw]
        [--hold-out source=moby_dick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default=str(ROOT.parent / "shared/data/corpus24m-raw"))
    p.add_argument("--hold-out", default="source=moby_dick",
                   help="the partition that arrives last")
    p.add_argument("--config", default=str(ROOT / "conf/embeddings.toml"))
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/incremental"))
    args = p.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    import numpy as np
    import pyarrow.parquet as pq

    from latentspark.artifacts import StageStore
    from latentspark.config import load_config
    from latentspark.incremental import run_cooccur_incremental
    from latentspark.session import get_session

    work = Path(tempfile.mkdtemp(prefix="ls-incremental-"))
    corpus = work / "corpus"
    corpus.mkdir()
    parts = sorted(d.name for d in Path(args.corpus).iterdir() if "=" in d.name)
    if args.hold_out not in parts:
        raise SystemExit(f"{args.hold_out} is not a partition of {args.corpus}: {parts}")
    for name in parts:
        if name != args.hold_out:
            (corpus / name).symlink_to(Path(args.corpus) / name)
    cfg = load_config(args.config, [f"corpus.path={json.dumps(str(corpus))}",
                                    f"run.root={json.dumps(str(work / 'run'))}",
                                    "spark.conf={\"spark.driver.memory\" = \"8g\"}"])
    spark = get_session(cfg.spark)

    def timed(label: str, **kw) -> tuple[float, dict]:
        t0 = time.monotonic()
        pub = run_cooccur_incremental(spark, cfg, **kw)
        seconds = time.monotonic() - t0
        print(f"{label}: {seconds:.1f} s", flush=True)
        return seconds, pub.manifest

    def counts():
        pub = StageStore(spark, cfg.run.root, "cooccur").require()
        t = pq.read_table(f"{pub.path.removeprefix('file:')}/data",
                          columns=["row", "col", "weight"])
        return t.sort_by([("row", "ascending"), ("col", "ascending")])

    first, m0 = timed(f"first count, {len(parts) - 1} partitions")
    (corpus / args.hold_out).symlink_to(Path(args.corpus) / args.hold_out)
    incremental, m1 = timed(f"incremental, +{args.hold_out}")
    merged = counts()
    full, m2 = timed("full recount", full=True)
    recount = counts()
    same = merged.num_rows == recount.num_rows and all(
        np.array_equal(merged.column(c).to_numpy(), recount.column(c).to_numpy())
        for c in ("row", "col", "weight"))
    vocab = StageStore(spark, cfg.run.root, "vocab").require().manifest
    result = {
        "command": " ".join([".venv/bin/python", "benchmarks/incremental.py", *sys.argv[1:]]),
        "corpus": args.corpus, "partitions": len(parts), "hold_out": args.hold_out,
        "config": args.config, "vocab_words": vocab["rows"],
        "corpus_tokens_first_run": vocab["corpus_tokens"],
        "nonzeros": merged.num_rows,
        "seconds": {"first_count": round(first, 1), "incremental": round(incremental, 1),
                    "full_recount": round(full, 1)},
        "incremental_timings": m1.get("timings"), "full_timings": m2.get("timings"),
        "counted_now": m1["counted_now"],
        "speedup_vs_full": round(full / incremental, 2),
        "identical": bool(same),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(
        "# Incremental retraining against a full recount\n\n"
        f"`{result['command']}` on one machine (2 cores), local Spark.\n\n"
        f"Corpus: {args.corpus} ({len(parts)} partitions); the vocabulary "
        f"({vocab['rows']:,} words, frozen) comes from the first {len(parts) - 1}; then "
        f"`{args.hold_out}` arrives.\n\n"
        "| step | seconds |\n|---|--:|\n"
        f"| first count of {len(parts) - 1} partitions | {first:.1f} |\n"
        f"| retraining: count the new partition, merge all | {incremental:.1f} |\n"
        f"| full recount in one job (same vocabulary) | {full:.1f} |\n\n"
        f"Full recount / incremental: **{full / incremental:.2f}x**. Identical counts "
        f"({merged.num_rows:,} non-zeros): **{same}**.\n")
    print(json.dumps(result, indent=2))
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
