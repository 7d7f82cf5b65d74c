"""Per-batch cost of turning tokens into vocabulary ids, at V = 50k and V = 2M.

Compares, on the same token batches:

* **old**: ``pyarrow.compute.index_in(tokens, value_set=vocab)``, what the counting kernel
  did before: it builds Arrow's hash set of all V words on every batch;
* **new**: :meth:`latentspark.cooccurrence.VocabTable.lookup`: the JVM's token hashes probed
  in an open-addressing table of the vocabulary's hashes, built once per worker process.

The vocabularies are synthetic (random lower-case words of 2 to 14 letters, distinct); the
50k one is the 50k most frequent words of the 2M one. A batch is 10,000 lines of 25 tokens
(Spark's default ``maxRecordsPerBatch`` lines), tokens drawn by Zipf's law over the ranks
of the 2M vocabulary, so that at V = 50k the rarer ones are out of vocabulary, as in a
corpus; 3% of the tokens are other random words, out of vocabulary at both sizes. Token
hashes are computed by Spark (``token_hashes``) before timing; both methods must give
identical ids. The timings are the median over ``--batches`` batches.

Usage::

    PYTHONPATH=. PYSPARK_PYTHON=.venv/bin/python .venv/bin/python benchmarks/lookup.py \\
        --out benchmarks/results/lookup.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_vocabulary(n: int, seed: int) -> pa.StringArray:
    """``n`` distinct random lower-case words, 2 to 14 letters, in random order."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", np.uint8)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < n:
        m = 2 * (n - len(words))
        lengths = rng.integers(2, 15, m)
        chars = letters[rng.integers(0, 26, int(lengths.sum()))].tobytes().decode()
        ends = np.cumsum(lengths)
        for s, e in zip(ends - lengths, ends, strict=True):
            w = chars[s:e]
            if w not in seen:
                seen.add(w)
                words.append(w)
                if len(words) == n:
                    break
    return pa.array(words, pa.string())


def token_batches(vocab: pa.StringArray, batches: int, lines: int, per_line: int,
                  seed: int, typos: float = 0.03) -> list[pa.ListArray]:
    """Lists of tokens drawn by Zipf's law (exponent 1.1) over the vocabulary's ranks, with a
    share ``typos`` of them replaced by other random words (mostly outside any vocabulary)."""
    rng = np.random.default_rng(seed)
    others = synthetic_vocabulary(100_000, seed + 1)
    out = []
    for _ in range(batches):
        n = lines * per_line
        ranks = np.minimum(rng.zipf(1.1, n) - 1, len(vocab) - 1)
        pool = pa.chunked_array([vocab, others]).combine_chunks()
        odd = rng.random(n) < typos
        ranks[odd] = len(vocab) + rng.integers(0, len(others), int(odd.sum()))
        flat = pool.take(pa.array(ranks))
        offsets = pa.array(np.arange(0, lines * per_line + 1, per_line, dtype=np.int32))
        out.append(pa.ListArray.from_arrays(offsets, flat))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write the Markdown report (and a JSON twin)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="50000,2000000")
    p.add_argument("--batches", type=int, default=5, help="token batches timed (median)")
    p.add_argument("--lines", type=int, default=10_000)
    p.add_argument("--per-line", type=int, default=25)
    p.add_argument("--out", default=str(REPO / "benchmarks/results/lookup.md"))
    args = p.parse_args(argv)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from latentspark.cooccurrence import token_hashes, vocab_table

    spark = (SparkSession.builder.master("local[1]").appName("lookup-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.memory", "2g")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    sizes = [int(x) for x in args.sizes.split(",")]
    full = synthetic_vocabulary(max(sizes), seed=1)
    batches = token_batches(full, args.batches, args.lines, args.per_line, seed=2)
    # the JVM's hashes of each batch's tokens, as the counting job hands them to Python
    hashed = []
    for b in batches:
        t = spark.createDataFrame(pa.table({"tokens": b})).select(
            *token_hashes(F.col("tokens"))).toArrow()
        hashed.append((pc.list_flatten(t.column("hashes")).to_numpy(),
                       pc.list_flatten(t.column("checks")).to_numpy()))
    rows = []
    for v in sizes:
        vocab = full.slice(0, v)
        t0 = time.perf_counter()
        table = vocab_table(spark, vocab)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        table.lookup(hashed[0][0][:1], hashed[0][1][:1])  # builds the worker's slots
        worker = time.perf_counter() - t0
        old_t, new_t, oov = [], [], []
        for b, (h, c) in zip(batches, hashed, strict=True):
            flat = pc.list_flatten(b)
            t0 = time.perf_counter()
            old = pc.fill_null(pc.index_in(flat, value_set=vocab), -1).to_numpy()
            old_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            new = table.lookup(h, c)
            new_t.append(time.perf_counter() - t0)
            if not np.array_equal(old, new):
                raise SystemExit(f"V={v}: lookup ids differ from index_in's")
            oov.append(float(np.mean(new < 0)))
        rows.append({"vocab": v, "tokens_per_batch": args.lines * args.per_line,
                     "old_ms": 1e3 * float(np.median(old_t)),
                     "new_ms": 1e3 * float(np.median(new_t)),
                     "table_build_s": build, "worker_build_s": worker,
                     "oov_share": float(np.mean(oov))})
        print(json.dumps(rows[-1]), flush=True)
    spark.stop()
    small, large = rows[0], rows[-1]
    command = ("PYTHONPATH=. PYSPARK_PYTHON=/work/main/.venv/bin/python "
               "/work/main/.venv/bin/python benchmarks/lookup.py "
               + " ".join(argv if argv is not None else sys.argv[1:]))
    lines = [
        "# Vocabulary look-up per token batch: V = 50k against V = 2M", "",
        f"Command: `{command}`", "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"Python {platform.python_version()}, pyarrow {pa.__version__}, numpy "
        f"{np.__version__}. A batch is {args.lines:,} lines x {args.per_line} tokens; "
        f"median of {args.batches} batches; both methods give identical ids.", "",
        "| V | old: `index_in` per batch (ms) | new: `VocabTable.lookup` per batch (ms) "
        "| driver: hash the vocabulary, once (s) | worker: build the table, once (s) "
        "| OOV tokens |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['vocab']:,} | {r['old_ms']:.1f} | {r['new_ms']:.1f} | "
                     f"{r['table_build_s']:.2f} | {r['worker_build_s']:.2f} | "
                     f"{100 * r['oov_share']:.1f}% |")
    lines += ["", f"Large over small: old {large['old_ms'] / small['old_ms']:.1f}x, new "
              f"{large['new_ms'] / small['new_ms']:.2f}x.", ""]
    Path(args.out).write_text("\n".join(lines))
    Path(args.out).with_suffix(".json").write_text(json.dumps(
        {"command": command, "rows": rows}, indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
