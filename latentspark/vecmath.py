"""Vector math shared by search, drift and exploration: unit rows and one blocked exact top-k.

The top-k folds one block of scores at a time into a running best: a cheap pass over group
maxima finds the few scores that can beat each row's running ``k``-th best, and only those are
merged (ties by id), so memory stays ``O(queries x block)`` whatever the number of
candidates; callers that keep their candidates in several places (index shards, embeddings
blocks) call :func:`fold_top_k` per block.
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


#: columns per group of :func:`fold_top_k`'s first pass (the maxima of column groups)
GROUP = 32


def _group_max(scores: np.ndarray, groups: int) -> np.ndarray:
    """Per row, the maximum of columns ``j, j + groups, j + 2 groups, ...`` for each ``j``.

    Strided groups let each step be one contiguous ``np.maximum`` over whole rows, which is
    several times faster than numpy's reduction over a short inner axis.
    """
    width = scores.shape[1]
    out = scores[:, :groups].copy()
    for start in range(groups, width, groups):
        w = min(groups, width - start)
        np.maximum(out[:, :w], scores[:, start:start + w], out=out[:, :w])
    return out


def _merge_top_k(best: np.ndarray, best_score: np.ndarray, rows: np.ndarray, ids: np.ndarray,
                 scores: np.ndarray) -> None:
    """Merge candidate ``(row, id, score)`` triples into the running best of their rows.

    Each touched row keeps its ``k`` best of old and new entries, highest score first and ties
    by lower id, so the result never depends on the order in which blocks arrive.
    """
    k = best.shape[1]
    touched = np.unique(rows)
    r = np.concatenate([np.repeat(touched, k), rows])
    i = np.concatenate([best[touched].ravel(), ids])
    v = np.concatenate([best_score[touched].ravel(), scores])
    order = np.lexsort((i, -v, r))
    r, i, v = r[order], i[order], v[order]
    first = np.searchsorted(r, touched)
    rank = np.arange(r.size) - np.repeat(first, np.diff(np.append(first, r.size)))
    keep = rank < k  # every touched row has at least its k old entries
    best[touched] = i[keep].reshape(-1, k)
    best_score[touched] = v[keep].reshape(-1, k)


def fold_top_k(best: np.ndarray, best_score: np.ndarray, scores: np.ndarray,
               ids: np.ndarray) -> None:
    """Fold one block of scores into the running best, in place.

    Only scores at or above a row's running ``k``-th best can enter it, so the block is first
    reduced to the maxima of groups of :data:`GROUP` columns; only the groups whose maximum
    reaches the threshold are looked at. While a row holds fewer than ``k`` (the first block)
    or too many groups pass, its threshold is first raised to the ``k``-th largest group maximum,
    a lower bound of the block's own ``k``-th best score. Ties at the threshold are kept and
    ranked by id, so the result is exactly the ``k`` highest scores, ties by lower id.

    Parameters
    ----------
    best, best_score : numpy.ndarray
        ``q x k`` running best ids and scores (from :func:`empty_top_k`), kept sorted by score
        (descending), then id.
    scores : numpy.ndarray
        ``q x b`` scores of this block's candidates (``-inf`` for excluded ones).
    ids : numpy.ndarray
        The ``b`` candidates' ids.

    Examples
    --------
    >>> best, score = empty_top_k(1, 2)
    >>> fold_top_k(best, score, np.array([[0.5, 0.9, 0.5]], "f4"), np.array([7, 8, 3]))
    >>> best.tolist(), score.tolist()
    ([[8, 3]], [[0.8999999761581421, 0.5]])
    """
    q, k = best.shape
    width = scores.shape[1]
    if k == 0 or width == 0 or q == 0:
        return
    threshold = best_score.min(axis=1)
    groups = -(-width // GROUP)
    gmax = _group_max(scores, groups)
    hit = gmax >= threshold[:, None]
    if groups > k and np.count_nonzero(hit) > 2 * k * q:
        kth = np.partition(gmax, groups - k, axis=1)[:, groups - k]
        threshold = np.maximum(threshold, kth)
        np.greater_equal(gmax, threshold[:, None], out=hit)
    flat = np.flatnonzero(hit)
    if flat.size == 0:
        return
    rows, group = np.divmod(flat, groups)
    cols = group[:, None] + groups * np.arange(-(-width // groups))
    inside = cols < width  # the last columns of a ragged block
    cols = np.where(inside, cols, 0)
    vals = scores[rows[:, None], cols]
    r, c = np.nonzero((vals >= threshold[rows][:, None]) & inside)
    _merge_top_k(best, best_score, rows[r], ids[cols[r, c]], vals[r, c])


def fold_top_k_t(best: np.ndarray, best_score: np.ndarray, scores_t: np.ndarray,
                 ids: np.ndarray) -> None:
    """:func:`fold_top_k` for a block of scores laid out candidates x queries, in place.

    The same result as ``fold_top_k(best, best_score, scores_t.T, ids)``, faster: the group
    maxima are one contiguous ``np.maximum`` reduction over whole rows of queries (a product
    ``block @ queries.T`` writes this layout), about half the time of the strided groups over
    the other layout. Group ``j`` of a block of ``b`` rows holds rows ``j, j + g, ...`` with
    ``g = b / GROUP``; a block whose row count is not a multiple of :data:`GROUP` is folded
    in two parts.

    Parameters
    ----------
    best, best_score : numpy.ndarray
        ``q x k`` running best ids and scores (from :func:`empty_top_k`).
    scores_t : numpy.ndarray
        ``b x q`` scores (``-inf`` for excluded pairs), C-contiguous rows.
    ids : numpy.ndarray
        The ``b`` candidates' ids.

    Examples
    --------
    >>> best, score = empty_top_k(1, 2)
    >>> fold_top_k_t(best, score, np.array([[0.5], [0.9], [0.5]], "f4"), np.array([7, 8, 3]))
    >>> best.tolist(), score.tolist()
    ([[8, 3]], [[0.8999999761581421, 0.5]])
    """
    q, k = best.shape
    width = scores_t.shape[0]
    if k == 0 or width == 0 or q == 0:
        return
    whole = width - width % GROUP
    if whole < width:  # the ragged tail: few rows, so the plain fold on its transpose
        fold_top_k(best, best_score, scores_t[whole:].T, ids[whole:])
        if whole == 0:
            return
    groups = whole // GROUP
    # member i of group j is row j + i * groups: a (GROUP, groups, q) view, reduced over axis 0
    gmax = np.maximum.reduce(scores_t[:whole].reshape(GROUP, groups, q), axis=0)
    threshold = best_score.min(axis=1)
    hit = gmax >= threshold
    if groups > k and np.count_nonzero(hit) > 2 * k * q:
        # the k-th largest group maximum is a lower bound of the block's k-th best score
        kth = np.partition(gmax, groups - k, axis=0)[groups - k]
        threshold = np.maximum(threshold, kth)
        np.greater_equal(gmax, threshold, out=hit)
    group, rows = np.nonzero(hit)
    if group.size == 0:
        return
    cand = group[:, None] + groups * np.arange(GROUP)
    vals = scores_t[cand, rows[:, None]]
    r, c = np.nonzero(vals >= threshold[rows][:, None])
    _merge_top_k(best, best_score, rows[r], ids[cand[r, c]], vals[r, c])


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
