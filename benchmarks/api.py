"""The Python API and the new export formats on a synthetic vocabulary, without Spark.

Writes ``V x dim`` seeded random float32 vectors as an embeddings table, builds a model root
around it (``LATEST`` -> a version with ``embeddings/`` and a 2-shard Annoy ``index/`` built with
:func:`latentspark.index.build_shard`, the index stage's own builder, and a manifest like the
stage's), then measures:

* ``latentspark.load`` of the embeddings alone (exact) and of the model root (with the index);
* ``most_similar`` analogy queries (``positive=[b, c], negative=[a]``, 3CosAdd, ``topn=10``) in
  exact and Annoy mode: median and 95th percentile latency, and how often Annoy's first answer
  is the exact one;
* ``export_embeddings`` to ``fasttext``, ``projector``, ``npy`` (and ``word2vec-binary`` for
  reference): seconds and bytes.

Usage::

    python benchmarks/api.py [--words 400000] [--dim 50] [--queries 200] [--n-trees 10]
                             [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import latentspark  # noqa: E402
from latentspark.embeddings import to_table  # noqa: E402
from latentspark.export import export_embeddings  # noqa: E402
from latentspark.fs import sha256_file  # noqa: E402
from latentspark.index import build_shard  # noqa: E402


def make_model(root: Path, words: int, dim: int, n_trees: int, seed: int) -> dict:
    """Embeddings plus a 2-shard index, laid out as a model version under ``root``."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(words, dim)).astype(np.float32)
    names = [f"w{i}" for i in range(words)]
    version = root / "v1"
    data = version / "embeddings" / "data"
    data.mkdir(parents=True)
    table = to_table(names, np.arange(words, 0, -1), vectors)
    half = (words + 1) // 2
    pq.write_table(table.slice(0, half), data / "part-00000.parquet")
    pq.write_table(table.slice(half), data / "part-00001.parquet")
    (version / "embeddings" / "manifest.json").write_text(json.dumps(
        {"version": "e1", "dim": dim, "vocab_size": words}))
    index = version / "index" / "data"
    index.mkdir(parents=True)
    t0 = time.perf_counter()
    files = {}
    ids = np.arange(words)
    for s in range(2):
        mine = ids[ids % 2 == s]
        for name, kind, items in build_shard(mine, vectors[mine], 2, s, n_trees, seed, False,
                                             str(index)):
            files[f"data/{name}"] = {"kind": kind, "shard": s, "items": items}
    build = time.perf_counter() - t0
    pq.write_table(pa.table({"id": pa.array(ids, pa.int32()), "word": names}),
                   index / "words.parquet")
    files["data/words.parquet"] = {"kind": "words", "items": words}
    for name, entry in files.items():
        path = version / "index" / name
        entry.update(size=path.stat().st_size, sha256=sha256_file(str(path)))
    (version / "index" / "manifest.json").write_text(json.dumps(
        {"version": "i1", "dim": dim, "shards": 2, "vocab_size": words, "files": files}))
    (version / "manifest.json").write_text(json.dumps({"version": "v1"}))
    (root / "LATEST").write_text("v1\n")
    return {"vectors": vectors, "index_build_s": round(build, 2)}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, round(time.perf_counter() - t0, 4)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--words", type=int, default=400_000)
    ap.add_argument("--dim", type=int, default=50)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--n-trees", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    result: dict = {"words": args.words, "dim": args.dim, "queries": args.queries,
                    "n_trees": args.n_trees, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="latentspark-bench-api-") as tmp:
        root = Path(tmp) / "models"
        result.update({k: v for k, v in make_model(root, args.words, args.dim, args.n_trees,
                                                   args.seed).items() if k != "vectors"})
        exact, result["load_exact_s"] = timed(lambda: latentspark.load(
            str(root / "v1" / "embeddings")))
        annoy, result["load_with_index_s"] = timed(lambda: latentspark.load(
            str(root), cache_dir=str(Path(tmp) / "cache")))
        assert exact.mode == "exact" and annoy.mode == "annoy"
        rng = np.random.default_rng(args.seed + 1)
        questions = [tuple(f"w{i}" for i in rng.choice(args.words, 3, replace=False))
                     for _ in range(args.queries)]
        same = 0
        for mode, kv in (("exact", exact), ("annoy", annoy)):
            times, answers = [], []
            for a, b, c in questions:
                got, dt = timed(lambda kv=kv, a=a, b=b, c=c: kv.most_similar(
                    positive=[b, c], negative=[a], topn=10))
                times.append(dt)
                answers.append(got[0][0])
            result[f"most_similar_{mode}_ms_median"] = round(1e3 * float(np.median(times)), 2)
            result[f"most_similar_{mode}_ms_p95"] = round(
                1e3 * float(np.percentile(times, 95)), 2)
            if mode == "exact":
                exact_answers = answers
            else:
                same = sum(x == y for x, y in zip(exact_answers, answers, strict=True))
        result["annoy_top1_equals_exact"] = round(same / args.queries, 3)
        source = str(root / "v1" / "embeddings")
        for fmt in ("word2vec-binary", "fasttext", "projector", "npy"):
            out = Path(tmp) / f"export-{fmt}"
            r = export_embeddings(source, str(out), fmt)
            result[f"export_{fmt}_s"] = r.seconds
            result[f"export_{fmt}_mb"] = round(r.bytes / 1e6, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result["command"] = "python benchmarks/api.py " + " ".join(sys.argv[1:])
    result["load_average_1min"] = round(os.getloadavg()[0], 2)  # the machine is shared
    (out / "api.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
