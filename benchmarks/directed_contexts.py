"""Do direction-aware contexts help? A single-process probe before building them into Spark.

Issue 11's last gap at 100 dimensions is SimLex-999 and the syntactic analogies, and every
setting of the symmetric count matrix trades one against the other (``results/sweep*.md``).
The idea left is to keep which side a context word stands on: a ``V x 2V`` matrix whose
columns are "``c`` to the right" and "``c`` to the left" (structured contexts, as Ling et
al. 2015's structured skip-gram keeps them), instead of the ``V x V`` sum of both.

Building that into the Spark stages means directed counts and a non-square factorization,
so this script first measures the effect on one machine with the same recipe for both
matrices, so that only the contexts differ:

1. read a pre-tokenised corpus, keep words seen ``--min-count`` times (most frequent first),
   drop frequent tokens as word2vec does (``--subsample``, a fixed seed);
2. count, within each line, every pair at distance ``d <= --window`` with word2vec's
   dynamic-window weight ``(window - d + 1) / window``, into ``R[i, j]`` (``j`` to the right
   of ``i``);
3. ``symmetric = R + R^T`` (what latentspark counts) and ``directed = [R | R^T]``;
4. PPMI with context-distribution smoothing (``--cds``), the same total weight for both;
5. a randomized truncated SVD of each (``--dim``), vectors ``U S^p`` for each ``--eig`` ``p``,
   alone (``w``) and plus the context vectors (``w + c``; for the directed matrix ``c`` is
   the mean of a word's right and left context vectors);
6. score every variant as ``benchmarks/quality.py`` does (Google analogies by 3CosAdd and
   3CosMul, WordSim-353 with its split, SimLex-999, the seed analogies).

This is PPMI-SVD, not the default ``ppmi_wals`` with SGNS's loss, so its absolute scores are
not the default's; the question it answers is the difference the direction makes under one
recipe. Needs scipy (installed with gensim by ``scripts/setup.sh --dev``).

Run alone on the machine::

    .venv/bin/python benchmarks/directed_contexts.py --out-dir benchmarks/results
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import (  # noqa: E402
    DEFAULT_CORPUS,
    DEFAULT_EVAL,
    DEFAULT_OUT,
    LineSentences,
    _get,
    corpus_files,
    evaluate,
)

#: columns of the result table: (label, path into evaluate()'s dict)
COLUMNS = (
    ("Google", ("google", "total")),
    ("semantic", ("google", "semantic")),
    ("syntactic", ("google", "syntactic")),
    ("3CosMul", ("google", "cosmul", "total")),
    ("WS-353", ("wordsim353", "spearman")),
    ("WS sim", ("wordsim353_similarity", "spearman")),
    ("WS rel", ("wordsim353_relatedness", "spearman")),
    ("SimLex-999", ("simlex999", "spearman")),
)


def read_lines(files: Sequence[Path], limit: int | None = None) -> Iterator[list[str]]:
    """Each non-empty line's whitespace-separated tokens, up to ``limit`` lines."""
    return islice(LineSentences(files), limit)


def build_vocab(files: Sequence[Path], min_count: int, limit: int | None
                ) -> tuple[list[str], np.ndarray]:
    """Words seen at least ``min_count`` times, most frequent first (ties by the word)."""
    counts: Counter[str] = Counter()
    for toks in read_lines(files, limit):
        counts.update(toks)
    kept = sorted((w for w, c in counts.items() if c >= min_count),
                  key=lambda w: (-counts[w], w))
    return kept, np.array([counts[w] for w in kept], dtype=np.int64)


def encode(files: Sequence[Path], words: Sequence[str], limit: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (out-of-vocabulary tokens dropped) and each token's line number."""
    index = {w: i for i, w in enumerate(words)}
    ids: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    for n, toks in enumerate(read_lines(files, limit)):
        row = np.fromiter((index.get(t, -1) for t in toks), dtype=np.int32, count=len(toks))
        row = row[row >= 0]
        ids.append(row)
        lines.append(np.full(len(row), n, dtype=np.int32))
    return np.concatenate(ids), np.concatenate(lines)


def subsample(ids: np.ndarray, line: np.ndarray, counts: np.ndarray, t: float, seed: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Drop tokens as word2vec does: keep with ``(sqrt(f / t) + 1) * t / f``."""
    if t <= 0:
        return ids, line
    f = counts / counts.sum()
    keep = np.minimum(1.0, (np.sqrt(f / t) + 1) * t / f)
    rng = np.random.default_rng(seed)
    mask = rng.random(len(ids)) < keep[ids]
    return ids[mask], line[mask]


def right_counts(ids: np.ndarray, line: np.ndarray, vocab_size: int, window: int):
    """``R[i, j]``: weighted count of ``j`` at 1..``window`` tokens right of ``i``, same line.

    Examples
    --------
    >>> r = right_counts(np.array([0, 1, 2, 0]), np.array([0, 0, 0, 1]), 3, 2).toarray()
    >>> r.tolist()  # 0 then 1 at d=1 (weight 1), 0 then 2 at d=2 (1/2), 1 then 2 at d=1
    [[0.0, 1.0, 0.5], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    import scipy.sparse as sp

    total = sp.csr_matrix((vocab_size, vocab_size), dtype=np.float64)
    for d in range(1, window + 1):
        same = line[:-d] == line[d:]
        a, b = ids[:-d][same], ids[d:][same]
        w = np.full(len(a), (window - d + 1) / window)
        total = total + sp.csr_matrix((w, (a, b)), shape=(vocab_size, vocab_size))
    total.sum_duplicates()
    return total


def ppmi(m, cds: float):
    """Positive PMI of a sparse count matrix, contexts' counts raised to ``cds``."""
    import scipy.sparse as sp

    m = sp.csr_matrix(m, dtype=np.float64)
    rows = np.asarray(m.sum(axis=1)).ravel()
    cols = np.asarray(m.sum(axis=0)).ravel() ** cds
    coo = m.tocoo()
    pmi = (np.log(coo.data) - np.log(rows[coo.row]) - np.log(cols[coo.col])
           + np.log(cols.sum()))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=m.shape)


def randomized_svd(m, k: int, oversample: int = 20, power: int = 4, seed: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` leading singular triplets of a sparse matrix (Halko et al.'s range finder)."""
    rng = np.random.default_rng(seed)
    q = m @ rng.standard_normal((m.shape[1], k + oversample))
    q, _ = np.linalg.qr(q)
    for _ in range(power):
        z, _ = np.linalg.qr(m.T @ q)
        q, _ = np.linalg.qr(m @ z)
    b = (m.T @ q).T  # (k + oversample) x n
    ub, s, vt = np.linalg.svd(b, full_matrices=False)
    u = q @ ub
    return u[:, :k], s[:k], vt[:k].T


def variants(u: np.ndarray, s: np.ndarray, v: np.ndarray, vocab_size: int,
             eigs: Sequence[float]) -> Iterator[tuple[str, float, np.ndarray]]:
    """``(form, p, vectors)``: ``U S^p`` and ``U S^p + C S^p`` for each ``p``."""
    # u and v come in pairs from one SVD, so their signs agree and w + c adds
    c = v if v.shape[0] == vocab_size else (v[:vocab_size] + v[vocab_size:]) / 2
    for p in eigs:
        w = u * s**p
        yield "w", p, w
        yield "w + c", p, w + c * s**p


def _score(ev: dict[str, Any], path: Sequence[str]) -> float | None:
    value = _get(ev, *path)
    return None if value is None else float(value)


def _seeds(ev: dict[str, Any]) -> str:
    ranks = []
    for method in ("3cosadd", "3cosmul"):
        ranks.append(",".join(str(r[method]["rank"]) for r in ev["seed_analogies"]))
    return " / ".join(ranks)


def render(result: dict[str, Any]) -> str:
    """The markdown report of a run."""
    lines = [f"# Direction-aware contexts, a PPMI-SVD probe ({result['date']})", ""]
    lines += [
        f"Corpus `{result['corpus']}`" + (f" (first {result['lines']:,} lines)"
                                          if result["lines"] else "")
        + f": {result['tokens']:,} in-vocabulary tokens, {result['vocab_size']:,} words (min count "
        f"{result['min_count']}), {result['kept_tokens']:,} tokens after subsampling at "
        f"{result['subsample']}; window {result['window']} with word2vec's dynamic-window "
        f"weights; PPMI with cds {result['cds']}; rank-{result['dim']} randomized SVD.", "",
        "| contexts | non-zeros (PPMI) | form | p | " + " | ".join(c for c, _ in COLUMNS)
        + " | seeds 3CosAdd / 3CosMul |",
        "| --- | ---: | --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " | --- |",
    ]
    for r in result["rows"]:
        cells = [f"{r['scores'][c]:.3f}" if r["scores"][c] is not None else "n/a"
                 for c, _ in COLUMNS]
        lines.append(f"| {r['contexts']} | {r['nnz']:,} | {r['form']} | {r['p']:g} | "
                     + " | ".join(cells) + f" | {r['seeds']} |")
    lines += ["", "Differences, directed minus symmetric, same form and `p`:", "",
              "| form | p | " + " | ".join(c for c, _ in COLUMNS) + " |",
              "| --- | ---: | " + " | ".join("---:" for _ in COLUMNS) + " |"]
    by = {(r["contexts"], r["form"], r["p"]): r for r in result["rows"]}
    for (ctx, form, p), r in by.items():
        if ctx != "directed" or ("symmetric", form, p) not in by:
            continue
        base = by[("symmetric", form, p)]
        cells = []
        for c, _ in COLUMNS:
            a, b = r["scores"][c], base["scores"][c]
            cells.append("n/a" if a is None or b is None else f"{a - b:+.3f}")
        lines.append(f"| {form} | {p:g} | " + " | ".join(cells) + " |")
    lines += ["", "Seeds: the rank of `queen`, `berlin`, `ran` in the three seed analogies "
              "(1 = found).", "",
              f"Times: counting {result['seconds']['count']:.1f} s; per matrix, PPMI and SVD: "
              + ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"]["svd"].items())
              + ".", "", "Made with:", "", "```", result["command"], "```", ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Count, factorize and score both context kinds; return the result record."""
    import scipy.sparse as sp

    files = corpus_files(args.corpus)
    if not files:
        raise SystemExit(f"no corpus files under {args.corpus}")
    t0 = time.perf_counter()
    words, counts = build_vocab(files, args.min_count, args.lines)
    ids, line = encode(files, words, args.lines)
    tokens = len(ids)
    ids, line = subsample(ids, line, counts, args.subsample, args.seed)
    r = right_counts(ids, line, len(words), args.window)
    t_count = time.perf_counter() - t0
    print(f"counted {tokens:,} tokens ({len(ids):,} kept), {len(words):,} words, "
          f"{r.nnz:,} directed pairs in {t_count:.1f} s", flush=True)
    matrices = {"symmetric": r + r.T, "directed": sp.hstack([r, r.T.tocsr()]).tocsr()}
    rows: list[dict[str, Any]] = []
    svd_seconds: dict[str, float] = {}
    for name, m in matrices.items():
        t1 = time.perf_counter()
        p = ppmi(m, args.cds)
        u, s, v = randomized_svd(p, args.dim, seed=args.seed)
        svd_seconds[name] = time.perf_counter() - t1
        print(f"{name}: {p.shape[0]:,} x {p.shape[1]:,}, {p.nnz:,} PPMI non-zeros, "
              f"SVD in {svd_seconds[name]:.1f} s", flush=True)
        for form, eig, vec in variants(u, s, v, len(words), args.eig):
            ev = evaluate(words, vec.astype(np.float32), Path(args.eval_dir),
                          gensim_analogies=False)
            row = {"contexts": name, "nnz": int(p.nnz), "form": form, "p": eig,
                   "scores": {c: _score(ev, path) for c, path in COLUMNS},
                   "seeds": _seeds(ev), "evaluation": ev}
            rows.append(row)
            print(f"  {form} p={eig:g}: " + ", ".join(
                f"{c} {v:.3f}" for c, v in row["scores"].items() if v is not None),
                flush=True)
    return {
        "date": dt.date.today().isoformat(),
        "corpus": str(args.corpus), "lines": args.lines, "tokens": tokens,
        "kept_tokens": int(len(ids)), "vocab_size": len(words), "min_count": args.min_count,
        "subsample": args.subsample, "window": args.window, "cds": args.cds, "dim": args.dim,
        "seconds": {"count": t_count, "svd": svd_seconds},
        "command": " ".join([os.path.relpath(sys.executable), *sys.argv]),
        "rows": rows,
    }


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS),
                    help="pre-tokenised corpus folder or file; default: %(default)s")
    ap.add_argument("--eval-dir", default=str(DEFAULT_EVAL),
                    help="folder of the evaluation sets; default: %(default)s")
    ap.add_argument("--lines", type=int, default=None,
                    help="use only the first N non-empty lines (a quick run); default: all")
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--subsample", type=float, default=1e-4)
    ap.add_argument("--cds", type=float, default=0.75)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--eig", type=lambda s: [float(x) for x in s.split(",")],
                    default=[0.0, 0.5], help="comma-separated p of U S^p; default: 0,0.5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-dir", default=str(DEFAULT_OUT),
                    help="where directed_contexts.{md,json} go; default: %(default)s")
    ap.add_argument("--name", default="directed_contexts", help="output file stem")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run the probe and write its report."""
    args = build_parser().parse_args(argv)
    result = run(args)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(render(result))
    print(f"wrote {out / args.name}.md and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
