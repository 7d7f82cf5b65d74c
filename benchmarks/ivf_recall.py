"""Feasibility of an inverted-file (k-means) neighbour search on GloVe 6B 50d: recall vs work.

Not a latentspark search mode (yet): a measurement of whether probing a few k-means clusters
could beat the exact export at recall@10 >= 0.98. Spherical k-means (seeded, ``--iters``
Lloyd steps from ``--clusters`` random words) over the 400,000 unit vectors; for a seeded
sample of words, the top 10 among the words of the clusters probed, against the exact top 10
(:func:`latentspark.vecmath.top_k`), for two ways of probing:

``query``
    each word probes the ``nprobe`` clusters whose centroids are nearest to *it*;
``cluster``
    each word probes the ``nprobe`` clusters nearest to *its own cluster's* centroid (one
    dense product per cluster, the cheap layout for a bulk export).

The work is given as the share of the ``words x words`` scores exact search computes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from evaluate import CACHE  # noqa: E402

from latentspark.vecmath import top_k, unit_rows  # noqa: E402


def kmeans(unit: np.ndarray, clusters: int, iters: int, seed: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: unit centroids and each row's cluster."""
    rng = np.random.default_rng(seed)
    cent = unit[rng.choice(unit.shape[0], clusters, replace=False)].copy()
    assign = np.empty(unit.shape[0], np.int64)
    for _ in range(iters):
        for b in range(0, unit.shape[0], 16_384):  # bounded score blocks
            assign[b:b + 16_384] = (unit[b:b + 16_384] @ cent.T).argmax(axis=1)
        sums = np.zeros_like(cent)
        np.add.at(sums, assign, unit)
        cent = unit_rows(sums)
        empty = np.bincount(assign, minlength=clusters) == 0
        cent[empty] = unit[rng.choice(unit.shape[0], int(empty.sum()), replace=False)]
    return cent, assign


def probe_recall(unit: np.ndarray, cent: np.ndarray, assign: np.ndarray, ids: np.ndarray,
                 exact: np.ndarray, nprobe: int, how: str) -> dict[str, float]:
    """Recall@k of the probed search for the sample ``ids``, and its share of the work."""
    members = [np.flatnonzero(assign == c) for c in range(cent.shape[0])]
    sizes = np.array([m.size for m in members])
    k = exact.shape[1]
    recall, scanned = [], 0
    for i, q in enumerate(ids):
        anchor = unit[q] if how == "query" else cent[assign[q]]
        probe = np.argsort(-(cent @ anchor), kind="stable")[:nprobe]
        cand = np.concatenate([members[c] for c in probe])
        scanned += cand.size
        sims = unit[cand] @ unit[q]
        sims[cand == q] = -np.inf
        top = cand[np.argsort(-sims, kind="stable")[:k]]
        recall.append(np.isin(exact[i], top).mean())
    return {"clusters": int(cent.shape[0]), "nprobe": nprobe, "probe": how,
            "recall": float(np.mean(recall)), "min_recall": float(np.min(recall)),
            "work_share": scanned / ids.size / unit.shape[0],
            "largest_cluster": int(sizes.max())}


def main(argv: list[str] | None = None) -> int:
    """Run the sweep and write ``ivf_recall.md`` / ``.json``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clusters", type=int, default=256)
    p.add_argument("--iters", type=int, default=6)
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 48, 64])
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)
    unit = unit_rows(np.load(CACHE / "glove_6B_50d_emb.npy"))
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    cent, assign = kmeans(unit, args.clusters, args.iters, args.seed)
    kmeans_s = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    ids = np.sort(rng.choice(unit.shape[0], args.sample, replace=False))
    exact, _ = top_k(unit, unit[ids], 10, exclude=ids[:, None])
    rows = [probe_recall(unit, cent, assign, ids, exact, n, how)
            for how in ("query", "cluster") for n in args.nprobe]
    result = {"date": dt.date.today().isoformat(), "words": int(unit.shape[0]),
              "dim": int(unit.shape[1]), "sample": int(ids.size), "kmeans_s": kmeans_s,
              "iters": args.iters, "load_before": load,
              "load_after": [round(x, 2) for x in os.getloadavg()],
              "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
              "command": " ".join([sys.executable, "benchmarks/ivf_recall.py", *(argv or
                                                                              sys.argv[1:])]),
              "rows": rows}
    lines = [f"# Inverted-file (k-means) probing on GloVe 6B 50d ({result['date']})", "",
             f"{result['words']:,} words x {result['dim']}; spherical k-means, "
             f"{args.clusters} clusters, {args.iters} Lloyd steps in {kmeans_s:.1f} s (one "
             f"process, OPENBLAS_NUM_THREADS={result['blas_threads']}); recall@10 against "
             f"exact on {ids.size:,} seeded words; load before {load}, after "
             f"{result['load_after']}.", "",
             "| probe | nprobe | recall@10 | worst word | work (share of exact's scores) |",
             "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['probe']} | {r['nprobe']} | {r['recall']:.4f} | {r['min_recall']:.1f} | "
              f"{r['work_share']:.3f} |" for r in rows]
    lines += ["", "Made with:", "", "```", result["command"], "```", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ivf_recall.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "ivf_recall.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
