"""Brute-force references for the evaluator: plain loops in float64, written from the
definitions (gensim's vocabulary rules; Levy and Goldberg's 3CosMul), not from the kernels."""

from __future__ import annotations

import numpy as np


def unit64(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def known_words(words: list[str], restrict: int) -> dict[str, int]:
    """Upper-cased word -> id of its most frequent variant among the first ``restrict``."""
    first: dict[str, int] = {}
    for i, w in enumerate(words[:restrict]):
        first.setdefault(w.upper(), i)
    return first


def reference_analogies(words, vectors, questions, restrict):
    """Per question: ``None`` if out of vocabulary, else (3CosAdd answer, 3CosMul answer,
    3CosMul score of that answer)."""
    unit = unit64(vectors)
    first = known_words(words, restrict)
    out = []
    for a, b, c, d in questions:
        if any(w.upper() not in first for w in (a, b, c, d)):
            out.append(None)
            continue
        ia, ib, ic = (first[w.upper()] for w in (a, b, c))
        banned = {a.upper(), b.upper(), c.upper()}
        query = unit[ib] - unit[ia] + unit[ic]
        query /= np.linalg.norm(query)
        best_add, best_mul = (None, -np.inf), (None, -np.inf)
        for i in range(restrict):
            if words[i].upper() in banned:
                continue
            add = float(unit[i] @ query)
            cos_a, cos_b, cos_c = (float(unit[i] @ unit[j]) for j in (ia, ib, ic))
            mul = ((cos_b + 1) / 2) * ((cos_c + 1) / 2) / ((cos_a + 1) / 2 + 0.001)
            if add > best_add[1]:
                best_add = (i, add)
            if mul > best_mul[1]:
                best_mul = (i, mul)
        out.append((words[best_add[0]], words[best_mul[0]], best_mul[1]))
    return out


def reference_neighbours(vectors, k):
    """Top-k ids and cosines of every word, itself excluded."""
    unit = unit64(vectors)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def reference_seed(words, vectors, question, restrict, k):
    """One analogy ``(a, b, c, d)`` in full: per method, the top ``k`` answers and the rank of
    ``d`` (1 + the candidates scoring above it), by a loop over every known word."""
    unit = unit64(vectors)
    first = known_words(words, restrict)
    a, b, c, d = question
    ia, ib, ic, ie = (first[w.upper()] for w in (a, b, c, d))
    banned = {a.upper(), b.upper(), c.upper()}
    query = unit[ib] - unit[ia] + unit[ic]
    query /= np.linalg.norm(query)
    scores: dict[str, list[tuple[float, int]]] = {"3cosadd": [], "3cosmul": []}
    for i in range(restrict):
        if words[i].upper() in banned:
            continue
        cos_a, cos_b, cos_c = (float(unit[i] @ unit[j]) for j in (ia, ib, ic))
        scores["3cosadd"].append((float(unit[i] @ query), i))
        scores["3cosmul"].append((((cos_b + 1) / 2) * ((cos_c + 1) / 2)
                                  / ((cos_a + 1) / 2 + 0.001), i))
    out = {}
    for method, pairs in scores.items():
        pairs.sort(key=lambda p: (-p[0], p[1]))
        mine = next(v for v, i in pairs if i == ie)
        out[method] = ([words[i] for _, i in pairs[:k]],
                       1 + sum(v > mine for v, i in pairs if i != ie))
    return out
