"""What the line audit of issue 17 costs, and that a file without newlines stays bounded.

The vocab stage now runs one Spark job over the corpus's lines before counting words
(:func:`latentspark.corpus.check_lines`: bad lines and the bytes of lines longer than
``corpus.max_line_bytes``, which Hadoop's reader skips without holding them). This measures,
in one run on one machine:

1. the audit of a real corpus against the word count that follows it (both full scans);
2. the audit of a folder holding one file of ``--blob-mb`` MB without a newline next to a
   normal file, with a 1 GiB driver: the file is reported, the run does not run out of memory.

Results go to ``benchmarks/results/line_audit.{md,json}``.

    .venv/bin/python benchmarks/line_audit.py [--corpus ../shared/data/corpus24m-raw]
        [--blob-mb 256]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default=str(ROOT.parent / "shared/data/corpus24m-raw"))
    p.add_argument("--blob-mb", type=int, default=256)
    p.add_argument("--out", default=str(ROOT / "benchmarks/results/line_audit"))
    args = p.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from latentspark.config import load_config
    from latentspark.corpus import audit_lines, read_corpus, resolve_input, tokenize
    from latentspark.vocabulary import word_counts

    load = os.getloadavg()[0]
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "1g").config("spark.sql.shuffle.partitions", "4")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    cfg = load_config(None, [f"corpus.path={json.dumps(args.corpus)}"])
    source = resolve_input(spark, cfg.corpus)
    t0 = time.perf_counter()
    bad = audit_lines(spark, cfg.corpus, source, list(source.files))
    audit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    counts = word_counts(tokenize(read_corpus(spark, cfg.corpus, source), cfg.tokenize))
    tokens = counts.agg(F.sum("count")).first()[0]
    count_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="line-audit-") as tmp:
        folder = Path(tmp) / "c"
        folder.mkdir()
        (folder / "good.txt").write_text("some fine words\n" * 1000)
        chunk = b"word " * (2**20 // 5)
        with open(folder / "blob.txt", "wb") as fh:
            for _ in range(args.blob_mb):
                fh.write(chunk)
        blob_bytes = (folder / "blob.txt").stat().st_size
        small = load_config(None, [f"corpus.path={json.dumps(str(folder))}"])
        small_source = resolve_input(spark, small.corpus)
        t0 = time.perf_counter()
        blob_bad = audit_lines(spark, small.corpus, small_source, list(small_source.files))
        blob_s = time.perf_counter() - t0
    spark.stop()

    result = {
        "command": "benchmarks/line_audit.py " + " ".join(sys.argv[1:]),
        "load_average_at_start": round(load, 2),
        "corpus": args.corpus, "files": source.n_files, "bytes": source.n_bytes,
        "tokens": int(tokens), "audit_seconds": round(audit_s, 1),
        "word_count_seconds": round(count_s, 1), "bad_files": len(bad),
        "blob_bytes": blob_bytes, "blob_audit_seconds": round(blob_s, 1),
        "blob_reported": {Path(k).name: v for k, v in blob_bad.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Line audit (issue 17)", "",
        f"Command: `.venv/bin/python {result['command']}` (local[2], driver 1 GiB, load "
        f"average {result['load_average_at_start']} at the start: the machine was shared).", "",
        "| step | seconds |", "|---|---|",
        f"| audit of {source.n_files} files, {source.n_bytes / 1e6:.1f} MB compressed | "
        f"{result['audit_seconds']} |",
        f"| word count of the same corpus ({tokens:,} tokens) | {result['word_count_seconds']} |",
        f"| audit of a folder with one {blob_bytes / 2**20:.0f} MiB file without newlines | "
        f"{result['blob_audit_seconds']} |", "",
        "What the audit said of that file: "
        + "; ".join(f"`{k}`: {v}" for k, v in result["blob_reported"].items()), "",
    ]
    Path(args.out + ".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
