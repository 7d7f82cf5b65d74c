"""Vector math shared by search, drift and exploration: unit rows and one blocked exact top-k.

The top-k folds one block of scores at a time into a running best (``argpartition`` of the
block, then of the block's winners together with the best so far), so memory stays
``O(queries x block)`` whatever the number of candidates; callers that keep their candidates
in several places (index shards, embeddings blocks) call :func:`fold_top_k` per block.
"""

from __future__ import annotations

import numpy as np

#: score of an empty slot: below every cosine
NEG = np.float32(-np.inf)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32.

    Examples
    --------
    >>> unit_rows(np.array([[3, 4], [0, 0]], "f4")).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def empty_top_k(queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The running best of :func:`fold_top_k` before any block: ids ``-1``, scores ``-inf``."""
    return np.full((queries, k), -1, np.int64), np.full((queries, k), NEG, np.float32)


def fold_top_k(best: np.ndarray, best_score: np.ndarray, scores: np.ndarray,
               ids: np.ndarray) -> None:
    """Fold one block of scores into the running best, in place.

    Parameters
    ----------
    best, best_score : numpy.ndarray
        ``q x k`` running best ids and scores (from :func:`empty_top_k`).
    scores : numpy.ndarray
        ``q x b`` scores of this block's candidates (``-inf`` for excluded ones).
    ids : numpy.ndarray
        The ``b`` candidates' ids.
    """
    k = best.shape[1]
    if k == 0 or scores.shape[1] == 0:
        return
    if scores.shape[1] > k:
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    merged_ids = np.concatenate([best, ids[top]], axis=1)
    merged = np.concatenate([best_score, np.take_along_axis(scores, top, axis=1)], axis=1)
    keep = np.argpartition(-merged, k - 1, axis=1)[:, :k]
    best[:] = np.take_along_axis(merged_ids, keep, axis=1)
    best_score[:] = np.take_along_axis(merged, keep, axis=1)


def sorted_top_k(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The running best in order: highest score first, ties by id; empty slots get id ``-1``.

    Examples
    --------
    >>> sorted_top_k(np.array([[4, 2, 7]]), np.array([[0.5, 0.9, 0.5]], "f4"))[0].tolist()
    [[2, 4, 7]]
    """
    order = np.lexsort((ids, -scores), axis=1) if ids.size else np.zeros_like(ids)
    ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
    ids[~np.isfinite(scores)] = -1
    return ids, scores


def top_k(unit: np.ndarray, queries: np.ndarray, k: int, exclude: np.ndarray | None = None,
          block_rows: int = 32_768, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``unit`` of highest dot product with each query, exactly, blocked.

    Parameters
    ----------
    unit : numpy.ndarray
        ``n x d`` candidate rows (unit rows for cosines).
    queries : numpy.ndarray
        ``q x d`` query vectors.
    k : int
        Neighbours wanted (at most ``n``).
    exclude : numpy.ndarray, optional
        ``q x m`` row numbers each query must not return (``-1`` pads), e.g. the query's own
        row or the words of an analogy question.
    block_rows, chunk : int
        Candidate rows and queries scored together: memory ``O(chunk x block_rows)``.

    Returns
    -------
    ids, scores : numpy.ndarray
        ``q x k``, best first, ties by row number; ``-1`` where fewer candidates remain.

    Examples
    --------
    >>> u = unit_rows(np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], "f4"))
    >>> top_k(u, u[[0, 2]], 2, exclude=np.array([[0], [2]]))[0].tolist()
    [[1, 2], [1, 0]]
    """
    n, q = unit.shape[0], queries.shape[0]
    k = max(0, min(k, n))
    best, best_score = empty_top_k(q, k)
    for q0 in range(0, q, chunk):
        q1 = min(q, q0 + chunk)
        query = np.asarray(queries[q0:q1], dtype=unit.dtype)
        ex = None if exclude is None else np.asarray(exclude[q0:q1], dtype=np.int64)
        for b0 in range(0, n, block_rows):
            b1 = min(n, b0 + block_rows)
            scores = query @ unit[b0:b1].T
            if ex is not None:
                rows, cols = np.nonzero((ex >= b0) & (ex < b1))
                scores[rows, ex[rows, cols] - b0] = NEG
            fold_top_k(best[q0:q1], best_score[q0:q1], scores, np.arange(b0, b1))
    return sorted_top_k(best, best_score)
