"""Vectorised search kernels over a loaded index: analogies, neighbours, pair similarity.

Every function here takes a :class:`~latentspark.index.LoadedIndex` and numpy arrays of word
ids for a batch of queries, and returns numpy arrays; the Spark jobs in
:mod:`latentspark.evaluation` call them on each Arrow batch. Three modes:

``exact``
    blocked matrix products: the queries of a chunk times a block of each shard's unit vectors,
    reduced to the running best per query, so memory stays ``O(chunk x block)``.
``annoy``
    each shard's Annoy index proposes candidates, which are then scored exactly (and so ranked
    by the true cosine, whatever the approximate distances were).
``ivf`` (neighbour lists only)
    an inverted file: the words are grouped by spherical k-means (:func:`build_clusters`) and
    each query scores the words of its few nearest clusters, exactly (:func:`neighbours_ivf`).

Analogy ``a : b :: c : ?`` scores a candidate ``d`` (all vectors of unit length) by

* 3CosAdd: ``cos(d, b - a + c)``;
* 3CosMul (Levy and Goldberg, 2014): ``cos'(d, b) * cos'(d, c) / (cos'(d, a) + eps)``, with
  cosines shifted to ``[0, 1]`` by ``cos' = (cos + 1) / 2`` and ``eps = 0.001``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentspark.index import LoadedIndex, Shard
from latentspark.vecmath import NEG, empty_top_k, fold_top_k, fold_top_k_t, sorted_top_k, unit_rows

EPS_3COSMUL = 1e-3


@dataclass
class AnalogyResult:
    """Best answers of a batch of analogy questions (``-1`` where none, e.g. not run)."""

    add: np.ndarray
    add_score: np.ndarray
    mul: np.ndarray
    mul_score: np.ndarray


def _groups(rows: np.ndarray, ids: np.ndarray, n: int) -> list[np.ndarray]:
    """Split flattened ``(row, id)`` pairs into one id array per row ``0..n-1``."""
    order = np.argsort(rows, kind="stable")
    rows, ids = rows[order], ids[order]
    return np.split(ids, np.searchsorted(rows, np.arange(1, n)))


def _restricted(ix: LoadedIndex, shard: int, restrict: int) -> int:
    """How many leading items of a shard have a global id below ``restrict``."""
    n = ix.spec.shards
    return int(min(ix.shards[shard].vectors.shape[0], max(0, (restrict - shard + n - 1) // n)))


def _blocks(ix: LoadedIndex, restrict: int, block_rows: int):
    """Yield ``(shard, start, global ids, unit vectors)`` blocks covering the first words."""
    n = ix.spec.shards
    for s, shard in enumerate(ix.shards):
        stop = _restricted(ix, s, restrict)
        for start in range(0, stop, block_rows):
            end = min(stop, start + block_rows)
            yield s, start, np.arange(start, end, dtype=np.int64) * n + s, shard.vectors[start:end]


def _mask(scores: np.ndarray, rows: np.ndarray, ids: np.ndarray, ix: LoadedIndex, shard: int,
          start: int) -> None:
    """Set ``scores[row, column of id] = -inf`` for the ``(row, id)`` pairs in this block."""
    if rows.size == 0:
        return
    n = ix.spec.shards
    local = ids // n - start
    hit = (ids % n == shard) & (local >= 0) & (local < scores.shape[1])
    scores[rows[hit], local[hit]] = NEG


def _cosmul(sa: np.ndarray, sb: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """Twice 3CosMul, from the three cosines (arrays of equal shape, all overwritten).

    ``cos'(d,b) cos'(d,c) / (cos'(d,a) + eps)`` with ``cos' = (cos + 1) / 2`` equals
    ``(sb + 1)(sc + 1) / (2 (sa + 1 + 2 eps))``; leaving out the factor 1/2 saves a pass over
    the block and does not change the ranking. The result is written into ``sb``.
    """
    sb += 1.0
    sc += 1.0
    sb *= sc
    sa += 1.0 + 2 * EPS_3COSMUL
    sb /= sa
    return sb


def analogies_exact(ix: LoadedIndex, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                    ex_rows: np.ndarray, ex_ids: np.ndarray, restrict: int, cosmul: bool,
                    block_rows: int = 32_768, chunk: int = 256) -> AnalogyResult:
    """Answer ``a : b :: c : ?`` by scoring every one of the first ``restrict`` words.

    Parameters
    ----------
    ix : LoadedIndex
    a, b, c : numpy.ndarray
        Global ids of the question words (all valid).
    ex_rows, ex_ids : numpy.ndarray
        Flattened pairs: word ``ex_ids[i]`` may not answer question ``ex_rows[i]`` (the question
        words and their case variants).
    restrict : int
        Only words with an id below this are candidates.
    cosmul : bool
        Also compute 3CosMul (3CosAdd is always computed: it costs one product row in four).
    block_rows, chunk : int
        Vocabulary rows and questions per block product.

    Returns
    -------
    AnalogyResult
    """
    q = a.size
    out = AnalogyResult(np.full(q, -1, np.int64), np.full(q, NEG, np.float32),
                        np.full(q, -1, np.int64), np.full(q, NEG, np.float32))
    for q0 in range(0, q, chunk):
        q1 = min(q, q0 + chunk)
        m = q1 - q0
        ua, ub, uc = ix.unit(a[q0:q1]), ix.unit(b[q0:q1]), ix.unit(c[q0:q1])
        query = unit_rows(ub - ua + uc)
        weights = np.concatenate([query, ua, ub, uc]) if cosmul else query
        sel = (ex_rows >= q0) & (ex_rows < q1)
        rows, ids = ex_rows[sel] - q0, ex_ids[sel]
        for s, start, gids, vectors in _blocks(ix, restrict, block_rows):
            scores = weights @ vectors.T
            add = scores[:m]
            _mask(add, rows, ids, ix, s, start)
            _take_best(add, gids, out.add, out.add_score, q0)
            if cosmul:
                mul = _cosmul(scores[m:2 * m], scores[2 * m:3 * m], scores[3 * m:])
                _mask(mul, rows, ids, ix, s, start)
                _take_best(mul, gids, out.mul, out.mul_score, q0)
    out.mul_score *= 0.5  # see _cosmul
    return out


def analogy_ranks(ix: LoadedIndex, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                  expected: np.ndarray, ex_rows: np.ndarray, ex_ids: np.ndarray, restrict: int,
                  k: int, block_rows: int = 32_768) -> dict[str, tuple[np.ndarray, ...]]:
    """A few analogies in full: each method's top ``k`` answers and the expected word's rank.

    For the handful of questions a report shows (``king - man + woman = queen``), so it scores
    in float64 over every one of the first ``restrict`` words. The rank is one more than the
    number of candidates scoring strictly above the expected word (``0`` when the expected
    word is itself excluded, e.g. one of the question words).

    Returns
    -------
    dict
        ``{"3cosadd": (ids, scores, rank), "3cosmul": (ids, scores, rank)}``; ``ids`` and
        ``scores`` are ``q x k``, best first, ties by lower id.
    """
    q = a.size
    ua, ub, uc = (ix.unit(x).astype(np.float64) for x in (a, b, c))
    query = unit_rows(ub - ua + uc)
    ue = ix.unit(expected).astype(np.float64)
    weights = np.concatenate([query, ua, ub, uc])
    own = np.einsum("mqd,qd->mq", weights.reshape(4, q, -1), ue)
    target = {"3cosadd": own[0], "3cosmul": _cosmul(own[1], own[2], own[3])}
    rows = np.arange(q)
    out = {}
    for method in target:
        best, best_score = empty_top_k(q, k)
        best_score = best_score.astype(np.float64)
        above = np.zeros(q, np.int64)
        for s, start, gids, vectors in _blocks(ix, restrict, block_rows):
            scores = weights @ np.asarray(vectors, np.float64).T
            score = scores[:q] if method == "3cosadd" else _cosmul(
                scores[q:2 * q], scores[2 * q:3 * q], scores[3 * q:])
            _mask(score, ex_rows, ex_ids, ix, s, start)
            fold_top_k(best, best_score, score, gids)
            _mask(score, rows, expected, ix, s, start)  # the expected word is not above itself
            above += (score > target[method][:, None]).sum(axis=1)
        excluded = np.zeros(q, bool)
        excluded[ex_rows[ex_ids == expected[ex_rows]]] = True
        ids, scores = sorted_top_k(best, best_score)
        if method == "3cosmul":
            scores = scores * 0.5  # see _cosmul
        out[method] = (ids, scores, np.where(excluded, 0, above + 1))
    return out


def _take_best(scores: np.ndarray, gids: np.ndarray, best: np.ndarray, best_score: np.ndarray,
               q0: int) -> None:
    """Fold a block's per-row maximum into the running best of rows ``q0..``."""
    arg = scores.argmax(axis=1)
    val = scores[np.arange(scores.shape[0]), arg]
    view, view_score = best[q0:q0 + arg.size], best_score[q0:q0 + arg.size]
    better = val > view_score
    view[better] = gids[arg[better]]
    view_score[better] = val[better]


def _annoy_candidates(ix: LoadedIndex, vector: np.ndarray, n: int) -> np.ndarray:
    """Global ids proposed by every shard's Annoy index for one query vector."""
    shards = ix.spec.shards
    out = []
    for s, shard in enumerate(ix.shards):
        local = shard.annoy.get_nns_by_vector(vector, n, search_k=ix.spec.search_k)
        out.append(np.asarray(local, dtype=np.int64) * shards + s)
    return np.concatenate(out) if out else np.empty(0, np.int64)


def analogies_annoy(ix: LoadedIndex, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                    ex_rows: np.ndarray, ex_ids: np.ndarray, restrict: int, cosmul: bool,
                    candidates: int = 100) -> AnalogyResult:
    """Answer analogies among the candidates Annoy proposes for the 3CosAdd query vector.

    Parameters are those of :func:`analogies_exact`, plus ``candidates``, the number of
    neighbours of ``b - a + c`` taken from each shard. The candidates are re-scored exactly with
    both methods; 3CosMul therefore ranks 3CosAdd's candidates.
    """
    q = a.size
    out = AnalogyResult(np.full(q, -1, np.int64), np.full(q, NEG, np.float32),
                        np.full(q, -1, np.int64), np.full(q, NEG, np.float32))
    ua, ub, uc = ix.unit(a), ix.unit(b), ix.unit(c)
    query = unit_rows(ub - ua + uc)
    excluded = _groups(ex_rows, ex_ids, q)
    for r in range(q):  # Annoy answers one query at a time
        cand = np.unique(_annoy_candidates(ix, query[r], candidates))
        cand = cand[(cand < restrict) & ~np.isin(cand, excluded[r])]
        if cand.size == 0:
            continue
        vecs = ix.unit(cand)
        add = vecs @ query[r]
        i = int(add.argmax())
        out.add[r], out.add_score[r] = cand[i], add[i]
        if cosmul:
            cos = vecs @ np.stack([ua[r], ub[r], uc[r]]).T
            mul = _cosmul(cos[:, 0].copy(), cos[:, 1].copy(), cos[:, 2].copy())
            i = int(mul.argmax())
            out.mul[r], out.mul_score[r] = cand[i], 0.5 * mul[i]
    return out


#: scores in a neighbour search's tile (8 MiB of float32: 4,096 rows x the default chunk of
#: 512 queries): small enough to stay in the cache between the product that writes it and the
#: fold that reads it; the 32,768 x 512 tiles before (64 MiB) were 1.2-1.3x slower per word
#: on GloVe (benchmarks/results/neighbours.md)
TILE_CELLS = 2**21


def _tile_rows(block_rows: int, rows: int, chunk: int) -> int:
    """Rows per product: at most ``block_rows`` and ``TILE_CELLS / chunk``, at least 32."""
    return max(1, min(block_rows, max(32, TILE_CELLS // max(chunk, 1)), rows))


def _fold_block(best: np.ndarray, best_score: np.ndarray, query: np.ndarray, qids: np.ndarray,
                vectors: np.ndarray, start: int, s: int, shards: int, tile: int,
                buffer: np.ndarray) -> None:
    """Fold one shard's rows ``start..`` of ``vectors`` into the queries' running best.

    Each tile of at most ``tile`` rows is multiplied by the queries into ``buffer`` (rows x
    queries, so :func:`~latentspark.vecmath.fold_top_k_t` reads it in the layout the product
    wrote), a query of this shard's own row is set to ``-inf``, and the tile is folded.
    """
    m = query.shape[0]
    mine = np.flatnonzero(qids % shards == s)
    local_all = qids[mine] // shards
    for t0 in range(0, vectors.shape[0], tile):
        block = np.asarray(vectors[t0:t0 + tile])
        b = block.shape[0]
        scores = np.matmul(block, query.T, out=buffer[:b * m].reshape(b, m))
        local = local_all - (start + t0)
        hit = (local >= 0) & (local < b)
        scores[local[hit], mine[hit]] = NEG
        gids = np.arange(start + t0, start + t0 + b, dtype=np.int64) * shards + s
        fold_top_k_t(best, best_score, scores, gids)


def neighbours_exact(ix: LoadedIndex, ids: np.ndarray, k: int, block_rows: int = 32_768,
                     chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar words of each word (itself excluded), by brute force.

    Each chunk of queries is multiplied (float32 BLAS) by a tile of at most ``block_rows``
    of a shard's mapped unit vectors at a time, into a reused score buffer of at most
    :data:`TILE_CELLS` scores (small enough to stay in the cache), and
    :func:`~latentspark.vecmath.fold_top_k_t` keeps the running best: memory bounded by the
    tile, whatever the vocabulary.

    Returns
    -------
    neighbours : numpy.ndarray
        ``len(ids) x k`` global ids, most similar first, ties by lower id (``-1`` past the
        vocabulary's end).
    similarity : numpy.ndarray
        Their cosines.
    """
    q = ids.size
    best, best_score = empty_top_k(q, k)
    if q == 0:
        return best, best_score
    n = ix.spec.shards
    tile = _tile_rows(block_rows, max(s.vectors.shape[0] for s in ix.shards), min(chunk, q))
    buffer = np.empty(tile * min(chunk, q), np.float32)
    for q0 in range(0, q, chunk):
        q1 = min(q, q0 + chunk)
        query = ix.unit(ids[q0:q1])
        for s, shard in enumerate(ix.shards):
            _fold_block(best[q0:q1], best_score[q0:q1], query, ids[q0:q1], shard.vectors, 0,
                        s, n, tile, buffer)
    return sorted_top_k(best, best_score)


def neighbours_annoy(ix: LoadedIndex, ids: np.ndarray, k: int,
                     candidates: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`neighbours_exact`, among the candidates Annoy proposes, scored exactly."""
    q = ids.size
    best, best_score = empty_top_k(q, k)
    query = ix.unit(ids)
    for r in range(q):  # Annoy answers one query at a time
        cand = np.unique(_annoy_candidates(ix, query[r], max(candidates, k + 1)))
        cand = cand[cand != ids[r]]
        sims = ix.unit(cand) @ query[r]
        top = np.argsort(-sims, kind="stable")[:k]
        best[r, :top.size] = cand[top]
        best_score[r, :top.size] = sims[top]
    return sorted_top_k(best, best_score)


def neighbours_in_shard(query: np.ndarray, ids: np.ndarray, shard: Shard, s: int, shards: int,
                        k: int, mode: str, candidates: int = 100, search_k: int = -1,
                        block_rows: int = 32_768, chunk: int = 512
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best neighbours of each query among one shard's words only.

    The pieces of a search that never maps more than two shards in one process: Spark merges
    every shard's candidates per word (:func:`latentspark.evaluation.neighbours_of`). The
    top ``k`` of a union is the top ``k`` of the union of each part's top ``k``, so the merge
    gives exactly :func:`neighbours_exact`'s answer in exact mode.

    Parameters
    ----------
    query : numpy.ndarray
        ``q x d`` unit vectors of the query words.
    ids : numpy.ndarray
        Their global ids (each is excluded from its own list).
    shard : Shard
        The mapped shard ``s`` (vectors; and its Annoy index in annoy mode).
    s, shards : int
        Its number and the number of shards (global id ``local * shards + s``).
    k : int
        Neighbours per query.
    mode : str
        ``"exact"`` (blocked products over the shard) or ``"annoy"`` (the shard's candidates,
        scored exactly).
    candidates, search_k : int
        Annoy mode: candidates taken from the shard, and Annoy's ``search_k``.
    block_rows, chunk : int
        Exact mode: at most this many shard rows per block product (also at most
        :data:`TILE_CELLS` scores), and queries per block product.

    Returns
    -------
    neighbours, similarity : numpy.ndarray
        ``q x k`` global ids (``-1`` where the shard has fewer words) and cosines, best first,
        ties by lower id.
    """
    q = ids.size
    best, best_score = empty_top_k(q, k)
    if q == 0:
        return best, best_score
    vectors = shard.vectors
    if mode == "annoy":
        for r in range(q):  # Annoy answers one query at a time
            local = np.asarray(shard.annoy.get_nns_by_vector(
                query[r], max(candidates, k + 1), search_k=search_k), np.int64)
            cand = local * shards + s
            keep = cand != ids[r]
            local, cand = local[keep], cand[keep]
            sims = np.asarray(vectors[local]) @ query[r]
            top = np.lexsort((cand, -sims))[:k]
            best[r, :top.size] = cand[top]
            best_score[r, :top.size] = sims[top]
        return sorted_top_k(best, best_score)
    tile = _tile_rows(block_rows, vectors.shape[0], min(chunk, q))
    buffer = np.empty(tile * min(chunk, q), np.float32)
    for q0 in range(0, q, chunk):
        q1 = min(q, q0 + chunk)
        _fold_block(best[q0:q1], best_score[q0:q1], np.ascontiguousarray(query[q0:q1]),
                    ids[q0:q1], vectors, 0, s, shards, tile, buffer)
    return sorted_top_k(best, best_score)


def pair_similarity(ix: LoadedIndex, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of word pairs."""
    return np.einsum("ij,ij->i", ix.unit(a), ix.unit(b))


def recall_at_k(exact: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """Per row, the share of the exact top-k ids that the approximate top-k contains.

    Examples
    --------
    >>> recall_at_k(np.array([[1, 2], [3, 4]]), np.array([[2, 9], [4, 3]])).tolist()
    [0.5, 1.0]
    """
    hits = (exact[:, :, None] == approx[:, None, :]).any(axis=2) & (exact >= 0)
    return hits.sum(axis=1) / np.maximum((exact >= 0).sum(axis=1), 1)


# ---------------------------------------------------------------------------------------------
# inverted file (IVF): k-means clusters of the candidates, each query scores a few of them


@dataclass
class Clusters:
    """Candidates grouped by spherical k-means cluster, for :func:`neighbours_ivf`.

    Attributes
    ----------
    centroids : numpy.ndarray
        ``clusters x dim`` unit centroids (float32).
    vectors : numpy.ndarray
        The candidates' unit vectors in cluster order (cluster 0's first), float32.
    ids : numpy.ndarray
        Their global ids, in the same order.
    bounds : numpy.ndarray
        ``clusters + 1`` offsets: cluster ``c`` is rows ``bounds[c]:bounds[c + 1]``.
    """

    centroids: np.ndarray
    vectors: np.ndarray
    ids: np.ndarray
    bounds: np.ndarray

    _by_id: np.ndarray | None = None

    def position(self, gids: np.ndarray) -> np.ndarray:
        """Row of each global id in :attr:`vectors` (``-1`` where it is not a candidate)."""
        gids = np.asarray(gids, np.int64)
        if self.ids.size == 0:
            return np.full(gids.shape, -1, np.int64)
        if self._by_id is None:
            self._by_id = np.argsort(self.ids, kind="stable")
        at = np.minimum(np.searchsorted(self.ids[self._by_id], gids), self.ids.size - 1)
        return np.where(self.ids[self._by_id[at]] == gids, self._by_id[at], -1)


#: rows scored per block while assigning words to centroids (bounds the score matrix)
ASSIGN_ROWS = 16_384


def _assign(unit: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid (highest cosine, lower number on ties) of each row, in blocks."""
    out = np.empty(unit.shape[0], np.int64)
    for b in range(0, unit.shape[0], ASSIGN_ROWS):
        out[b:b + ASSIGN_ROWS] = (np.asarray(unit[b:b + ASSIGN_ROWS]) @ centroids.T).argmax(1)
    return out


def build_clusters(unit: np.ndarray, gids: np.ndarray, clusters: int, seed: int,
                   iters: int = 10, sample_per_cluster: int = 64) -> Clusters:
    """Spherical k-means over unit vectors, seeded, and the candidates sorted by cluster.

    The centroids are fitted by ``iters`` Lloyd steps on a seeded sample of at most
    ``sample_per_cluster x clusters`` rows (starting from ``clusters`` of them; an emptied
    cluster restarts from a sampled row), then every row is assigned to its nearest centroid
    once. Deterministic: the same vectors, ``clusters`` and ``seed`` give the same clusters
    (one BLAS thread, as in a Spark task).

    Parameters
    ----------
    unit : numpy.ndarray
        ``n x dim`` unit vectors (may be memory-mapped).
    gids : numpy.ndarray
        Their global ids.
    clusters : int
        Clusters wanted (at most ``n``).
    seed : int
        Seed of the sample and the starting centroids.
    iters, sample_per_cluster : int
        Lloyd steps, and sampled rows per cluster while fitting.

    Returns
    -------
    Clusters

    Examples
    --------
    >>> u = unit_rows(np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]], "f4"))
    >>> c = build_clusters(u, np.arange(4), 2, seed=1)
    >>> sorted(sorted(c.ids[c.bounds[i]:c.bounds[i + 1]].tolist()) for i in range(2))
    [[0, 1], [2, 3]]
    """
    n = unit.shape[0]
    clusters = max(1, min(clusters, n))
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(n, min(n, sample_per_cluster * clusters), replace=False))
    sample = np.asarray(unit[take], np.float32)
    cent = sample[rng.choice(sample.shape[0], clusters, replace=False)].copy()
    for _ in range(iters):
        assign = _assign(sample, cent)
        sums = np.zeros_like(cent)
        np.add.at(sums, assign, sample)
        empty = np.bincount(assign, minlength=clusters) == 0
        cent = unit_rows(sums)
        cent[empty] = sample[rng.choice(sample.shape[0], int(empty.sum()), replace=False)]
    assign = _assign(unit, cent)
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(clusters + 1)).astype(np.int64)
    return Clusters(cent, np.ascontiguousarray(np.asarray(unit)[order], np.float32),
                    np.asarray(gids, np.int64)[order], bounds)


def neighbours_ivf(cl: Clusters, query: np.ndarray, qids: np.ndarray, k: int, probes: int,
                   chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar candidates of each query among its ``probes`` nearest
    clusters (approximate; each query's own id excluded).

    Work is grouped by cluster, not by query: every query picks the ``probes`` centroids of
    highest cosine; then for each cluster, the queries that probe it are multiplied by its
    members in one product (tiles of at most :data:`TILE_CELLS` scores) and folded into their
    running best (:func:`~latentspark.vecmath.fold_top_k_t`, ties by lower id, so the answer
    does not depend on the order of the clusters).

    Parameters
    ----------
    cl : Clusters
        The candidates, from :func:`build_clusters`.
    query : numpy.ndarray
        ``q x dim`` unit vectors of the queries.
    qids : numpy.ndarray
        Their global ids (each is excluded from its own list).
    k, probes : int
        Neighbours per query, and clusters each query scores.
    chunk : int
        Queries whose centroid scores are computed together (memory ``chunk x clusters``).

    Returns
    -------
    neighbours, similarity : numpy.ndarray
        ``q x k`` global ids (``-1`` where fewer candidates were probed) and cosines, best
        first, ties by lower id.
    """
    q = qids.size
    best, best_score = empty_top_k(q, k)
    nc = cl.centroids.shape[0]
    probes = max(1, min(probes, nc))
    if q == 0 or cl.ids.size == 0:
        return best, best_score
    query = np.ascontiguousarray(query, np.float32)
    # which clusters each query probes: the top ``probes`` centroids, the nearest one first
    # (the set is what matters, and the nearest one goes first: see below)
    probe = np.empty((q, probes), np.int32)
    for q0 in range(0, q, chunk):
        sc = query[q0:q0 + chunk] @ cl.centroids.T
        part = (np.argpartition(-sc, probes - 1, axis=1)[:, :probes] if probes < nc
                else np.tile(np.arange(nc), (sc.shape[0], 1)))
        r = np.arange(sc.shape[0])
        near = np.argmax(np.take_along_axis(sc, part, 1), axis=1)
        head = part[r, near]
        part[r, near] = part[:, 0]
        part[:, 0] = head
        probe[q0:q0 + chunk] = part
    own = cl.position(qids)  # each query's row among the candidates, to exclude it
    # every query's nearest cluster first, then the others: the first pass sets each query's
    # running k-th best high, so the folds of the rest merge few candidates
    for part in (probe[:, :1], probe[:, 1:]):
        _scan_clusters(cl, query, own, part, best, best_score)
    return sorted_top_k(best, best_score)


def _scan_clusters(cl: Clusters, query: np.ndarray, own: np.ndarray, probe: np.ndarray,
                   best: np.ndarray, best_score: np.ndarray) -> None:
    """Fold every ``(query, probed cluster)`` pair of ``probe`` into the running best, one
    cluster at a time (see :func:`neighbours_ivf`)."""
    q, width = probe.shape
    nc = cl.centroids.shape[0]
    if width == 0:
        return
    flat = probe.ravel()
    by_cluster = np.argsort(flat, kind="stable")
    rows_all = (by_cluster // width).astype(np.int64)
    starts = np.searchsorted(flat[by_cluster], np.arange(nc + 1))
    for c in range(nc):
        lo, hi = int(cl.bounds[c]), int(cl.bounds[c + 1])
        rows = rows_all[starts[c]:starts[c + 1]]
        if hi == lo or rows.size == 0:
            continue
        m = hi - lo
        # tiles: queries in groups, members in blocks, at most TILE_CELLS scores each
        per = max(1, min(rows.size, TILE_CELLS // min(m, TILE_CELLS)))
        tile = max(1, min(m, TILE_CELLS // per))
        for r0 in range(0, rows.size, per):
            sub = rows[r0:r0 + per]
            qv = query[sub]
            sub_best, sub_score = best[sub], best_score[sub]
            local_own = own[sub]
            for t0 in range(lo, hi, tile):
                t1 = min(hi, t0 + tile)
                scores = cl.vectors[t0:t1] @ qv.T
                loc = local_own - t0
                hit = np.flatnonzero((loc >= 0) & (loc < t1 - t0))
                scores[loc[hit], hit] = NEG
                fold_top_k_t(sub_best, sub_score, scores, cl.ids[t0:t1])
            best[sub], best_score[sub] = sub_best, sub_score
