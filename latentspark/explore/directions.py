"""Concept directions: unit offsets of word pairs, their mean and principal directions,
consistency and explained share, bootstrap intervals, and the cosines between directions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentspark.explore.inputs import Concept
from latentspark.explore.space import Space, rounded

logger = logging.getLogger(__name__)


@dataclass
class DirectionStats:
    """A concept's directions and consistency, from the unit offsets of its pairs."""

    mean_direction: np.ndarray
    pc_direction: np.ndarray
    consistency: float
    pc_consistency: float
    explained: float


def unit_offsets(space: Space, pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]
                 ) -> tuple[np.ndarray, list[tuple[str, str]], list[tuple[str, str]]]:
    """Unit offsets ``x_b - x_a`` of the pairs whose words are both known.

    Returns
    -------
    offsets : numpy.ndarray
        ``n x dim`` unit rows, one per found pair.
    found : list of (str, str)
        Those pairs.
    missing : list of (str, str)
        Pairs with an unknown word, or whose two words share one vector (case variants).
    """
    rows, found, missing = [], [], []
    for a, b in pairs:
        ia, ib = space.id(a), space.id(b)
        off = None if ia is None or ib is None else space.unit[ib] - space.unit[ia]
        norm = 0.0 if off is None else float(np.linalg.norm(off))
        if norm > 0:
            rows.append(off / norm)
            found.append((a, b))
        else:
            missing.append((a, b))
    mat = np.array(rows, dtype=np.float64).reshape(len(rows), space.dim)
    return mat, found, missing


def direction_stats(offsets: np.ndarray) -> DirectionStats:
    """Mean and principal directions of unit offsets, and how well the offsets agree.

    Parameters
    ----------
    offsets : numpy.ndarray
        ``n x dim`` unit offsets, ``n >= 1``.

    Returns
    -------
    DirectionStats

    Examples
    --------
    >>> s = direction_stats(np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> round(s.consistency, 4), round(s.explained, 4)
    (0.7071, 0.5)
    """
    mean = offsets.mean(axis=0)
    length = float(np.linalg.norm(mean))
    mean_dir = mean / length if length > 0 else mean
    # both signs of every offset: the second moment, not the covariance, so that a shared
    # direction is not removed by centring
    values, vectors = np.linalg.eigh(offsets.T @ offsets / len(offsets))
    pc = vectors[:, -1]
    if pc @ mean < 0:
        pc = -pc
    return DirectionStats(mean_dir, pc, length, float((offsets @ pc).mean()),
                          float(values[-1] / max(values.sum(), 1e-300)))


def bootstrap_stats(offsets: np.ndarray, resamples: int, confidence: float, seed: int
                    ) -> dict[str, Any]:
    """Bootstrap intervals of consistency and explained share, resampling pairs (seeded).

    Parameters
    ----------
    offsets : numpy.ndarray
        ``n x dim`` unit offsets.
    resamples : int
        Bootstrap samples (``n`` pairs drawn with replacement each).
    confidence : float
        Coverage of the intervals, e.g. 0.95.
    seed : int
        Seed of the draws: the same inputs give the same intervals.

    Returns
    -------
    dict
        ``consistency`` and ``explained``: ``[low, high]`` percentile intervals shifted by the
        bootstrap's bias (:func:`shifted_interval`), the biases as ``consistency_bias`` and
        ``explained_bias``; ``stability``: the plain percentile interval of the cosine of the
        resampled mean directions to the full one.
    """
    n, dim = offsets.shape
    rng = np.random.default_rng(seed)
    point = direction_stats(offsets)
    full = point.mean_direction
    cons, expl, stab = [], [], []
    for start in range(0, resamples, 256):  # bounded memory: 256 x dim x dim at a time
        b = min(256, resamples - start)
        draws = rng.integers(0, n, size=(b, n))
        weights = np.zeros((b, n))
        np.add.at(weights, (np.repeat(np.arange(b), n), draws.ravel()), 1.0 / n)
        means = weights @ offsets
        lengths = np.linalg.norm(means, axis=1)
        cons.append(lengths)
        stab.append(means @ full / np.maximum(lengths, 1e-300))
        if n <= dim:  # the top eigenvalue of U^T W U equals that of W^1/2 U U^T W^1/2
            sq = np.sqrt(weights)
            gram = offsets @ offsets.T
            mats = sq[:, :, None] * gram[None] * sq[:, None, :]
        else:
            mats = _weighted_second_moments(offsets, weights)
        expl.append(np.linalg.eigvalsh(mats)[:, -1])
    out: dict[str, Any] = {}
    for key, reps, est in (("consistency", cons, point.consistency),
                           ("explained", expl, point.explained)):
        out[key], out[f"{key}_bias"] = shifted_interval(np.concatenate(reps), est, confidence)
    tail = 50 * (1 - confidence)
    out["stability"] = [rounded(v) for v in np.percentile(np.concatenate(stab), [tail, 100 - tail])]
    return out


def _weighted_second_moments(offsets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``U^T diag(w_b) U`` for every row ``w_b`` of ``weights``."""
    n, dim = offsets.shape
    if n * dim * dim <= 20_000_000:  # one product with the outer products u u^T (<= 160 MB)
        outer = (offsets[:, :, None] * offsets[:, None, :]).reshape(n, dim * dim)
        return (weights @ outer).reshape(len(weights), dim, dim)
    return np.stack([(offsets.T * w) @ offsets for w in weights])


def shifted_interval(samples: np.ndarray, estimate: float, confidence: float
                     ) -> tuple[list[float], float]:
    """Bootstrap percentile interval shifted by the bootstrap's bias estimate.

    Resampling pairs with replacement repeats some of them, which inflates both the length of
    the offsets' mean and the share of their first component: with few pairs every replicate
    can lie above the estimate, and a plain (or Efron's bias-corrected) percentile interval
    then lies beside it. Subtracting the bias ``mean(replicates) - estimate`` from both ends
    keeps the spread the bootstrap measured and centres it where the estimate is; the bias is
    returned too, so a report can show how much the statistic leans.

    Parameters
    ----------
    samples : numpy.ndarray
        The bootstrap replicates.
    estimate : float
        The statistic on the full sample.
    confidence : float
        Coverage, e.g. 0.95.

    Returns
    -------
    interval : list of float
        ``[low, high]``, rounded to :data:`DECIMALS`.
    bias : float
        ``mean(samples) - estimate``, rounded.

    Examples
    --------
    Replicates centred on the estimate give the plain percentile interval:

    >>> x = np.random.default_rng(0).normal(0.0, 1.0, 10_000)
    >>> plain = [round(float(v), 3) for v in np.percentile(x, [2.5, 97.5])]
    >>> shifted_interval(x, float(x.mean()), 0.95) == (plain, 0.0)
    True
    """
    tail = 50 * (1 - confidence)
    bias = float(samples.mean()) - estimate
    lo, hi = np.percentile(samples, [tail, 100 - tail]) - bias
    return [rounded(lo), rounded(hi)], rounded(bias)


def analyse_concept(space: Space, concept: Concept, resamples: int = 1000,
                    confidence: float = 0.95, seed: int = 1
                    ) -> tuple[dict[str, Any], DirectionStats | None]:
    """Directions, consistency and bootstrap intervals of one concept.

    Returns
    -------
    entry : dict
        The report's entry: name, source, counts of pairs, the statistics (``None`` with
        fewer than two pairs found) and their intervals.
    stats : DirectionStats or None
    """
    offsets, found, missing = unit_offsets(space, concept.pairs)
    entry: dict[str, Any] = {
        "name": concept.name, "source": concept.source, "pairs": len(concept.pairs),
        "found": len(found), "missing": len(missing),
        "missing_pairs": [f"{a} {b}" for a, b in missing[:20]],
        "consistency": None, "pc_consistency": None, "explained": None, "intervals": None,
        # what n random unit offsets would give (root mean square of the mean's length)
        "chance": rounded(1 / np.sqrt(len(found))) if found else None}
    if len(found) < 2:
        logger.warning("concept %s: %d of %d pairs in the vocabulary; need 2", concept.name,
                       len(found), len(concept.pairs))
        return entry, None
    stats = direction_stats(offsets)
    entry.update(consistency=rounded(stats.consistency),
                 pc_consistency=rounded(stats.pc_consistency), explained=rounded(stats.explained))
    if resamples:
        entry["intervals"] = bootstrap_stats(offsets, resamples, confidence, seed)
    logger.info("concept %s: %d/%d pairs, consistency %.3f, explained %.3f", concept.name,
                len(found), len(concept.pairs), stats.consistency, stats.explained)
    return entry, stats


def cosine_matrix(directions: np.ndarray) -> np.ndarray:
    """Cosines between the rows of ``directions`` (unit rows give their dot products).

    Examples
    --------
    >>> cosine_matrix(np.array([[1.0, 0.0], [1.0, 1.0]])).round(3).tolist()
    [[1.0, 0.707], [0.707, 1.0]]
    """
    norms = np.linalg.norm(directions, axis=1, keepdims=True)
    unit = directions / np.maximum(norms, 1e-300)
    return np.clip(unit @ unit.T, -1.0, 1.0)
