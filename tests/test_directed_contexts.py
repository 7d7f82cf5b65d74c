"""The direction-aware contexts probe (``benchmarks/directed_contexts.py``): its counts and
PPMI against plain loops, its SVD against numpy's, and a run on the tiny corpus."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.sweep_data import bench_module, write_corpus, write_eval


@pytest.fixture(scope="module")
def probe():
    """The script as a module (it imports its sibling ``quality.py``)."""
    pytest.importorskip("gensim")
    pytest.importorskip("scipy")
    return bench_module("directed_contexts")


def test_right_counts_match_a_loop(probe) -> None:
    """Every pair at distance 1..window in one line, weighted (window - d + 1) / window."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 7, size=200)
    line = np.sort(rng.integers(0, 9, size=200))
    window = 3
    want = np.zeros((7, 7))
    for i in range(len(ids)):
        for d in range(1, window + 1):
            if i + d < len(ids) and line[i + d] == line[i]:
                want[ids[i], ids[i + d]] += (window - d + 1) / window
    got = probe.right_counts(ids, line, 7, window).toarray()
    np.testing.assert_allclose(got, want)


def test_ppmi_and_svd(probe) -> None:
    """PPMI from its definition; the randomized SVD finds a low-rank matrix's triplets."""
    import scipy.sparse as sp

    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, size=(12, 20)).astype(float)
    got = probe.ppmi(sp.csr_matrix(x), 0.75).toarray()
    col = x.sum(0) ** 0.75
    with np.errstate(divide="ignore"):
        pmi = np.log(x * col.sum() / (x.sum(1)[:, None] * col[None, :]))
    np.testing.assert_allclose(got, np.where(x > 0, np.maximum(pmi, 0), 0), atol=1e-12)

    low = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 30))
    u, s, v = probe.randomized_svd(sp.csr_matrix(low), 3, oversample=5)
    np.testing.assert_allclose(s, np.linalg.svd(low, compute_uv=False)[:3], rtol=1e-8)
    np.testing.assert_allclose((u * s) @ v.T, low, atol=1e-8)


def test_probe_end_to_end(probe, tmp_path: Path) -> None:
    """Both matrices scored in every form; the directed one has twice the columns' room and
    the report lists the differences."""
    corpus = write_corpus(tmp_path / "corpus")
    ev = write_eval(tmp_path / "eval")
    out = tmp_path / "out"
    assert probe.main(["--corpus", str(corpus), "--eval-dir", str(ev), "--min-count", "3",
                       "--dim", "6", "--eig", "0.5", "--subsample", "0",
                       "--out-dir", str(out)]) == 0
    result = json.loads((out / "directed_contexts.json").read_text(encoding="utf-8"))
    rows = result["rows"]
    assert [(r["contexts"], r["form"]) for r in rows] == [
        ("symmetric", "w"), ("symmetric", "w + c"), ("directed", "w"), ("directed", "w + c")]
    for r in rows:
        assert all(v is None or math.isfinite(v) for v in r["scores"].values())
        assert math.isfinite(r["scores"]["SimLex-999"])
    # the directed matrix holds each symmetric entry split by side: more non-zeros
    assert rows[2]["nnz"] > rows[0]["nnz"]
    md = (out / "directed_contexts.md").read_text(encoding="utf-8")
    assert "directed minus symmetric" in md and md.count("| w") >= 6
