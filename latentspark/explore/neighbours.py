"""Questions answered by nearest words and mean cosines: word arithmetic, interpolation
between two words, and the similarity within and between word groups.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from latentspark.explore.inputs import Group, parse_expression
from latentspark.explore.space import Space, rounded

logger = logging.getLogger(__name__)


def evaluate_expression(space: Space, text: str, k: int) -> dict[str, Any]:
    """Nearest words to a word-arithmetic expression, its own words excluded.

    Returns
    -------
    dict
        ``expression``, ``terms`` (``[coefficient, word]``), ``missing`` (unknown words) and
        ``nearest`` (``[word, cosine]``, best first; empty when a word is missing).
    """
    terms = parse_expression(text)
    missing = [w for _, w in terms if space.id(w) is None]
    out: dict[str, Any] = {"expression": text, "terms": [[c, w] for c, w in terms],
                           "missing": missing, "nearest": []}
    if not missing:
        query = sum(c * space.unit[space.id(w)].astype(np.float64) for c, w in terms)
        exclude = {i for _, w in terms for i in space.lexicon.variants(w)}
        out["nearest"] = [[w, s] for w, s in space.nearest(np.asarray(query), k, exclude)]
    return out


def interpolate(space: Space, a: str, b: str, steps: int, k: int) -> dict[str, Any]:
    """Nearest words at ``steps`` evenly spaced points from ``a`` to ``b`` (both included).

    Returns
    -------
    dict
        ``a``, ``b``, ``missing`` and ``points``: ``{"t": t, "nearest": [[word, cosine]]}``.
    """
    ia, ib = space.id(a), space.id(b)
    out: dict[str, Any] = {"a": a, "b": b, "missing": [w for w, i in ((a, ia), (b, ib))
                                                       if i is None], "points": []}
    if ia is None or ib is None:
        return out
    for t in np.linspace(0.0, 1.0, steps):
        point = (1 - t) * space.unit[ia].astype(np.float64) + t * space.unit[ib]
        out["points"].append({"t": rounded(t), "nearest": [[w, s] for w, s in
                                                      space.nearest(point, k)]})
    return out


def group_similarity(space: Space, groups: list[Group]) -> dict[str, Any]:
    """Mean cosine within each group and between every two groups.

    Within a group the mean runs over its distinct pairs of found words; between two groups
    over every cross pair. Groups with fewer than two found words are left out.

    Returns
    -------
    dict
        ``groups`` (name, found, missing words), ``names``, ``matrix`` (diagonal: within),
        ``within`` and ``between`` (the means of the diagonal and of the off-diagonal).
    """
    info, vecs = [], []
    for g in groups:
        ids = list(dict.fromkeys(i for i in (space.id(w) for w in g.words) if i is not None))
        missing = [w for w in g.words if space.id(w) is None]
        info.append({"name": g.name, "source": g.source, "words": len(g.words),
                     "found": len(ids), "missing": missing})
        if len(ids) >= 2:
            vecs.append((g.name, space.unit[ids].astype(np.float64)))
        else:
            logger.warning("group %s: %d words in the vocabulary; need 2", g.name, len(ids))
    n = len(vecs)
    mat = np.zeros((n, n))
    for i, (_, x) in enumerate(vecs):
        for j, (_, y) in enumerate(vecs):
            sims = x @ y.T
            if i == j:
                m = len(x)
                mat[i, j] = (sims.sum() - np.trace(sims)) / (m * (m - 1))
            else:
                mat[i, j] = sims.mean()
    off = ~np.eye(n, dtype=bool)
    return {"groups": info, "names": [name for name, _ in vecs],
            "matrix": [[rounded(v) for v in row] for row in mat],
            "within": rounded(np.diag(mat).mean()) if n else None,
            "between": rounded(mat[off].mean()) if n > 1 else None}
