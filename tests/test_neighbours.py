"""Exact top-k search against brute force: the blocked, thresholded fold of
:mod:`latentspark.vecmath` and the bulk-neighbour kernel of :mod:`latentspark.search`, on
planted spaces full of exact ties (which must be broken by the lower id)."""

from __future__ import annotations

import numpy as np
import pytest

from latentspark import search
from latentspark.config import Config, load_config
from latentspark.errors import ConfigError
from latentspark.evaluation import (
    EXACT_MAX_CELLS,
    IVF_MAX_CELLS,
    IVF_MIN_CELLS,
    ivf_plan,
    list_mode,
    search_mode,
)
from latentspark.index import IndexSpec, LoadedIndex, Shard
from latentspark.vecmath import empty_top_k, fold_top_k, fold_top_k_t, sorted_top_k, top_k


def brute_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row sorted by score (descending), ties by column; the first ``k``."""
    cols = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    order = np.lexsort((cols, -scores), axis=1)[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


def planted_unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """Unit vectors whose cosines are exact in float32 (multiples of 1/4), with duplicates:
    each row has four entries of +-1/2 (or one of +-1), drawn from a small pool."""
    pool = np.zeros((n // 3 + 1, dim), np.float32)
    for row in pool:
        if rng.random() < 0.2:
            row[rng.integers(dim)] = rng.choice([-1.0, 1.0])
        else:
            row[rng.choice(dim, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    return pool[rng.integers(len(pool), size=n)]


def fold_t(best, best_score, scores, ids):
    """:func:`fold_top_k_t` on the candidates x queries copy of ``scores``."""
    fold_top_k_t(best, best_score, np.ascontiguousarray(scores.T), ids)


@pytest.mark.parametrize("fold", [fold_top_k, fold_t], ids=["queries_x_rows", "rows_x_queries"])
@pytest.mark.parametrize("seed", range(6))
def test_fold_equals_sorting_every_row(seed, fold):
    rng = np.random.default_rng(seed)
    q, n = int(rng.integers(1, 40)), int(rng.integers(1, 700))
    k = int(rng.integers(1, 25))
    # few distinct values: ties everywhere, also across blocks and at the k-th place
    scores = rng.integers(-6, 7, size=(q, n)).astype(np.float32) / 4
    scores[rng.random((q, n)) < 0.05] = -np.inf  # excluded candidates
    ids = rng.permutation(n)  # blocks arrive out of id order
    best, best_score = empty_top_k(q, k)
    start = 0
    while start < n:
        width = int(rng.integers(1, 300))
        fold(best, best_score, scores[:, start:start + width], ids[start:start + width])
        start += width
    got, got_score = sorted_top_k(best, best_score)
    by_id = np.empty_like(scores)
    by_id[:, ids] = scores
    want, want_score = brute_top_k(by_id, min(k, n))
    want[~np.isfinite(want_score)] = -1
    assert np.array_equal(got[:, :want.shape[1]], want)
    assert np.array_equal(got_score[:, :want.shape[1]], want_score)
    assert (got[:, want.shape[1]:] == -1).all()


@pytest.mark.parametrize("fold", [fold_top_k, fold_t], ids=["queries_x_rows", "rows_x_queries"])
def test_fold_raises_a_first_block_threshold_and_keeps_ties_by_id(fold):
    # 200 columns (7 groups): the first block must be cut to its own top 3 via group maxima
    scores = np.zeros((2, 200), np.float32)
    scores[0, [150, 3, 77]] = [0.9, 0.5, 0.5]
    scores[0, 190] = 0.5
    scores[1, :] = 0.25
    best, best_score = empty_top_k(2, 3)
    fold(best, best_score, scores, np.arange(200))
    ids, sims = sorted_top_k(best, best_score)
    assert ids.tolist() == [[150, 3, 77], [0, 1, 2]]
    assert sims.tolist() == [[pytest.approx(0.9), 0.5, 0.5], [0.25, 0.25, 0.25]]


def make_index(unit: np.ndarray, shards: int) -> LoadedIndex:
    """An in-memory index: global id ``local * shards + shard``, as the index stage lays out."""
    spec = IndexSpec(path="mem", version="v", dim=unit.shape[1], shards=shards,
                     vocab_size=unit.shape[0], files={})
    return LoadedIndex(spec, [Shard(np.ascontiguousarray(unit[s::shards]))
                              for s in range(shards)])


def reference_neighbours(unit: np.ndarray, ids: np.ndarray, k: int):
    """Brute force in float64 over the whole vocabulary, itself excluded, ties by id."""
    sims = unit[ids].astype(np.float64) @ unit.T.astype(np.float64)
    sims[np.arange(ids.size), ids] = -np.inf
    return brute_top_k(sims, k)


@pytest.mark.parametrize(("shards", "block_rows", "chunk"), [(1, 4096, 512), (2, 37, 16),
                                                              (3, 64, 1)])
def test_exact_neighbours_equal_brute_force_on_planted_ties(shards, block_rows, chunk):
    rng = np.random.default_rng(shards)
    unit = planted_unit(rng, 500, 8)
    ix = make_index(unit, shards)
    ids = np.concatenate([np.arange(0, 500, 3), [499, 0]]).astype(np.int64)
    got, got_sim = search.neighbours_exact(ix, ids, 12, block_rows, chunk)
    want, want_sim = reference_neighbours(unit, ids, 12)
    assert np.array_equal(got, want)
    assert np.array_equal(got_sim, want_sim.astype(np.float32))
    # duplicates of a word are its first neighbours, at cosine 1, lowest id first
    dup = np.flatnonzero((unit == unit[ids[0]]).all(axis=1))
    assert got[0, :dup.size - 1].tolist() == [i for i in dup if i != ids[0]][:12]


def test_exact_neighbours_on_random_vectors_and_small_vocabularies():
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ix = make_index(unit, 2)
    ids = rng.permutation(300)[:90].astype(np.int64)
    got, got_sim = search.neighbours_exact(ix, ids, 10, 128, 32)
    want, want_sim = reference_neighbours(unit, ids, 10)
    assert np.array_equal(got, want)
    np.testing.assert_allclose(got_sim, want_sim, atol=1e-6)
    # more neighbours asked than there are other words: -1 past the end
    small = make_index(unit[:4], 2)
    nbr, sim = search.neighbours_exact(small, np.arange(4), 5)
    assert (nbr[:, 3:] == -1).all() and np.isneginf(sim[:, 3:]).all()
    assert sorted(nbr[0, :3].tolist()) == [1, 2, 3]


def test_top_k_with_exclusions_equals_brute_force():
    rng = np.random.default_rng(5)
    unit = planted_unit(rng, 400, 8)
    queries = unit[rng.integers(400, size=50)]
    exclude = rng.integers(-1, 400, size=(50, 3))
    got, got_score = top_k(unit, queries, 7, exclude=exclude, block_rows=100, chunk=16)
    scores = queries.astype(np.float64) @ unit.T.astype(np.float64)
    rows, cols = np.nonzero(exclude >= 0)
    scores[rows, exclude[rows, cols]] = -np.inf
    want, want_score = brute_top_k(scores, 7)
    assert np.array_equal(got, want)
    assert np.array_equal(got_score, want_score.astype(np.float32))


def test_auto_mode_is_exact_below_the_crossover_ivf_above_and_exact_for_analogies():
    cfg = Config()
    assert cfg.evaluate.mode == "auto"

    def spec(words: int, dim: int) -> IndexSpec:
        return IndexSpec("mem", "v", dim=dim, shards=2, vocab_size=words, files={})

    assert search_mode(cfg, spec(IVF_MIN_CELLS // 100, 100)) == "exact"
    assert search_mode(cfg, spec(IVF_MIN_CELLS // 100 + 1, 100)) == "ivf"
    assert search_mode(cfg, spec(IVF_MAX_CELLS // 100, 100)) == "ivf"
    above = spec(IVF_MAX_CELLS // 100 + 1, 100)
    assert search_mode(cfg, above) == "annoy"
    assert search_mode(cfg, above, neighbours=False) == "exact"
    assert EXACT_MAX_CELLS < IVF_MAX_CELLS
    # the measured cases: GloVe's 400,000 x 50 and the corpus24m model's 80,376 x 100
    assert search_mode(cfg, spec(400_000, 50)) == search_mode(cfg, spec(80_376, 100)) == "ivf"
    # a few listed words: auto searches them exactly rather than fit clusters for them
    assert list_mode(cfg, spec(400_000, 50), bulk=False) == "exact"
    assert list_mode(cfg, spec(400_000, 50), bulk=True) == "ivf"
    cfg.evaluate.mode = "exact"
    assert search_mode(cfg, spec(10**9, 300)) == "exact"
    cfg.evaluate.mode = "annoy"
    assert search_mode(cfg, spec(10, 2)) == "annoy"
    cfg.evaluate.mode = "ivf"  # analogies and pairs stay exact
    assert (search_mode(cfg, spec(10, 2)), search_mode(cfg, spec(10, 2), False)) == ("ivf",
                                                                                   "exact")
    assert list_mode(cfg, spec(10, 2), bulk=False) == "ivf"  # asked for: kept


def test_ivf_plan_defaults_and_bounds():
    cfg = Config()
    clusters, probes = ivf_plan(cfg, 400_000)
    assert clusters == 632 and 1 <= probes < clusters
    assert ivf_plan(cfg, 1) == (1, 1)
    cfg.evaluate.ivf_clusters, cfg.evaluate.ivf_probes = 50, 80
    assert ivf_plan(cfg, 1000) == (50, 50)  # probes never exceed clusters
    assert ivf_plan(cfg, 20) == (20, 20)  # nor clusters the words


@pytest.mark.parametrize(("key", "value"), [("evaluate.ivf_clusters", -1),
                                            ("evaluate.ivf_probes", 70_000),
                                            ("evaluate.ivf_clusters", "many"),
                                            ("evaluate.mode", "ivf2")])
def test_ivf_settings_are_validated_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [f"{key}={value}"])


def clustered_unit(rng: np.random.Generator, n: int, dim: int, centres: int) -> np.ndarray:
    """Unit vectors scattered around random centres (a space with neighbourhoods, as real
    embeddings have)."""
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(centres, size=n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_ivf_probing_every_cluster_equals_brute_force_on_planted_ties(monkeypatch):
    # every cluster probed: the answer must be exact, ties by lower id included; small
    # tiles so that both the queries and a cluster's members are split
    monkeypatch.setattr(search, "TILE_CELLS", 64)
    rng = np.random.default_rng(4)
    unit = planted_unit(rng, 500, 8)
    ids = np.concatenate([np.arange(0, 500, 3), [499]]).astype(np.int64)
    cl = search.build_clusters(unit, np.arange(500), 7, seed=3)
    assert np.array_equal(np.sort(cl.ids), np.arange(500))
    got, got_sim = search.neighbours_ivf(cl, unit[ids], ids, 12, probes=7, chunk=16)
    want, want_sim = reference_neighbours(unit, ids, 12)
    assert np.array_equal(got, want)
    assert np.array_equal(got_sim, want_sim.astype(np.float32))


def test_ivf_recall_against_brute_force_on_a_clustered_space():
    rng = np.random.default_rng(8)
    unit = clustered_unit(rng, 6000, 16, 60)
    ids = np.arange(0, 6000, 5, dtype=np.int64)
    want, want_sim = reference_neighbours(unit, ids, 10)
    cl = search.build_clusters(unit, np.arange(6000), 77, seed=1)
    got, got_sim = search.neighbours_ivf(cl, unit[ids], ids, 10, probes=12)
    recall = search.recall_at_k(want, got)
    assert recall.mean() >= 0.99
    assert (got != ids[:, None]).all()  # never itself
    # what it found is scored exactly and ranked like exact search
    np.testing.assert_allclose(got_sim, np.einsum("qd,qkd->qk", unit[ids], unit[got]),
                               atol=1e-5)
    assert (np.diff(got_sim, axis=1) <= 0).all()
    # fewer probes, lower recall: the probes do the work
    few, _ = search.neighbours_ivf(cl, unit[ids], ids, 10, probes=1)
    assert search.recall_at_k(want, few).mean() < recall.mean()


def test_ivf_is_deterministic_and_pads_with_minus_one():
    rng = np.random.default_rng(2)
    unit = clustered_unit(rng, 800, 8, 10)
    gids = np.arange(800, dtype=np.int64) * 3 + 1  # a shard's global ids
    a = search.build_clusters(unit, gids, 20, seed=5)
    b = search.build_clusters(unit, gids, 20, seed=5)
    for name in ("centroids", "vectors", "ids", "bounds"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    q = np.arange(0, 800, 7)
    one = search.neighbours_ivf(a, unit[q], gids[q], 5, 4)
    two = search.neighbours_ivf(b, unit[q], gids[q], 5, 4, chunk=3)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
    assert set(one[0].ravel().tolist()) <= set(gids.tolist())
    # more neighbours asked than a single tiny cluster holds: -1 and -inf past the end
    tiny = search.build_clusters(unit[:3], gids[:3], 1, seed=5)
    nbr, sim = search.neighbours_ivf(tiny, unit[:3], gids[:3], 4, 1)
    assert (nbr[:, 2:] == -1).all() and np.isneginf(sim[:, 2:]).all()
    assert sorted(nbr[0, :2].tolist()) == sorted(gids[1:3].tolist())


@pytest.mark.parametrize(("shards", "block_rows", "chunk"), [(1, 4096, 512), (3, 37, 16)])
def test_per_shard_top_k_merged_equals_whole_index_search(shards, block_rows, chunk):
    rng = np.random.default_rng(7 + shards)
    unit = planted_unit(rng, 400, 8)
    ix = make_index(unit, shards)
    ids = np.arange(0, 400, 2, dtype=np.int64)
    want, want_sim = search.neighbours_exact(ix, ids, 9, block_rows, chunk)
    parts = [search.neighbours_in_shard(ix.unit(ids), ids, shard, s, shards, 9, "exact",
                                        block_rows=block_rows, chunk=chunk)
             for s, shard in enumerate(ix.shards)]
    nbr = np.concatenate([p[0] for p in parts], axis=1)
    sim = np.concatenate([p[1] for p in parts], axis=1)
    # the merge Spark does: best similarity first, ties by lower id, k kept
    order = np.lexsort((nbr, -sim), axis=1)[:, :9]
    got = np.take_along_axis(nbr, order, 1)
    assert np.array_equal(got, want)
    assert np.array_equal(np.take_along_axis(sim, order, 1), want_sim)
