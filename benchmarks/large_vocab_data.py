"""Write a synthetic co-occurrence matrix with a large vocabulary, laid out as the cooccur stage
publishes it, plus its vocabulary: the input of ``benchmarks/large_vocab.py``.

Each word pairs with ``--partners`` others drawn towards frequent words (``id = V u^3``), and
the ``--head`` most frequent words pair with a large share of the vocabulary (word ``h`` with
``V / (2 (h + 1))`` random words: "the" touches half the vocabulary). Pairs are stored both
ways, summed, and written as ``data/block=k/part-00000.parquet`` (rows ``r % blocks == k``,
sorted by row and column); the vocabulary as ``vocab/part-00000.parquet``.

    python benchmarks/large_vocab_data.py --out /tmp/large_vocab --vocab 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def pairs(vocab: int, partners: int, head: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keys ``row * V + col`` (both directions, summed, sorted) and their weights."""
    rng = np.random.default_rng(seed)
    rows = [np.repeat(np.arange(vocab, dtype=np.int64), partners)]
    cols = [(vocab * rng.random(vocab * partners) ** 3).astype(np.int64)]
    for h in range(head):
        n = vocab // (2 * (h + 1))
        rows.append(np.full(n, h, np.int64))
        cols.append(rng.choice(vocab, n, replace=False).astype(np.int64))
    r, c = np.concatenate(rows), np.concatenate(cols)
    del rows, cols
    keep = r != c
    r, c = r[keep], c[keep]
    w = (1.0 + rng.exponential(2.0, r.size)).astype(np.float32)
    keys = np.concatenate([r * vocab + c, c * vocab + r])
    del r, c
    weights = np.concatenate([w, w])
    order = np.argsort(keys, kind="stable")
    keys, weights = keys[order], weights[order]
    heads = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[heads], np.add.reduceat(weights, heads).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab", type=int, default=2_000_000)
    ap.add_argument("--partners", type=int, default=5, help="random partners per word "
                    "(stored both ways: about twice as many non-zeros per row)")
    ap.add_argument("--head", type=int, default=20)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--seed", type=int, default=13)
    a = ap.parse_args()
    t0 = time.monotonic()
    keys, weights = pairs(a.vocab, a.partners, a.head, a.seed)
    rows = (keys // a.vocab).astype(np.int32)
    cols = (keys % a.vocab).astype(np.int32)
    del keys
    for b in range(a.blocks):
        sel = rows % a.blocks == b
        folder = os.path.join(a.out, "data", f"block={b}")
        os.makedirs(folder, exist_ok=True)
        pq.write_table(pa.table({"row": rows[sel], "col": cols[sel], "weight": weights[sel]}),
                       os.path.join(folder, "part-00000.parquet"), row_group_size=1 << 20)
    os.makedirs(os.path.join(a.out, "vocab"), exist_ok=True)
    ids = np.arange(a.vocab, dtype=np.int32)
    pq.write_table(pa.table({"id": ids, "word": pa.array([f"w{i}" for i in range(a.vocab)]),
                             "count": (a.vocab - ids).astype(np.int64) * 10}),
                   os.path.join(a.out, "vocab", "part-00000.parquet"))
    lengths = np.bincount(rows, minlength=a.vocab)
    stats = {"vocab": a.vocab, "nnz": int(rows.size), "blocks": a.blocks,
             "nnz_per_row_median": float(np.median(lengths)),
             "longest_row": int(lengths.max()), "empty_rows": int((lengths == 0).sum()),
             "seconds": round(time.monotonic() - t0, 1)}
    with open(os.path.join(a.out, "stats.json"), "w") as fh:
        json.dump(stats, fh, indent=2)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
