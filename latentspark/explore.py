"""See the latent space: concept directions, word arithmetic, neighbourhoods, pictures.

The embeddings are vocabulary-sized (at most ``vocab.max_size`` rows), so this stage reads them
to the driver once (:func:`latentspark.embeddings.read`) and does everything else in numpy on
unit vectors, i.e. in the cosine geometry the evaluator uses:

**Concepts.** A concept is a set of word pairs ``(a, b)``, e.g. ``king queen``, ``man woman``
for gender. Its pairs come from the package's curated sets (``latentspark/concepts/*.txt``),
from user files in the same format (``: name`` header, then ``a b`` lines) and from the
sections of the analogy files (a question ``a b c d`` gives the pairs ``(a, b)`` and
``(c, d)``; each section keeps its distinct pairs). For the unit offsets
``u_i = (x_b - x_a) / |x_b - x_a|`` of the pairs found in the vocabulary:

* the *mean direction* is the normalised mean of the ``u_i``; its *consistency* is the mean
  cosine of the ``u_i`` to it (which equals the length of their mean: 1 when every pair points
  the same way, about ``1 / sqrt(n)`` for ``n`` random offsets);
* the *principal direction* is the first principal component of the offsets taken with both
  signs (``+u_i`` and ``-u_i``, as Bolukbasi et al. 2016 do with centred pairs), i.e. the top
  eigenvector of ``mean(u_i u_i^T)``, signed to agree with the mean; *explained* is the share
  of the offsets' variance along it (its eigenvalue, as the trace is 1);
* bootstrap intervals of both (percentile intervals shifted by the bootstrap's estimate of
  the statistic's bias, see :func:`shifted_interval`),
  and of the cosine of the resampled mean directions to the full one (*stability*), from
  resampling the pairs (seeded); *chance* is ``1 / sqrt(n)``, the consistency that ``n``
  random offsets would show.

Concepts are compared by the cosine between their mean directions (independence).

**Arithmetic** ``king - man + woman`` sums coefficient times unit vector and reports the
nearest words, the input words excluded. **Interpolation** reports the nearest words at evenly
spaced points of the chord from one word's unit vector to another's (the endpoints included,
nothing excluded). **Neighbourhoods**: the mean cosine within each word group and between
every two groups.

Everything goes into ``report.json``, and the same numbers into one self-contained
``report.html`` (PNG pictures embedded as ``data:`` URIs; no external resources), written
atomically to ``explore.out`` or published as the stage ``explore`` under the run root.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import numpy as np

from latentspark.config import Config, ExploreConfig
from latentspark.errors import ConfigError, InputError
from latentspark.vecmath import top_k, unit_rows

logger = logging.getLogger(__name__)

#: picture resolution: 100 dpi keeps every PNG well under 150 KB
DPI = 100
#: decimals of every derived figure, in report.json and report.html alike
DECIMALS = 3


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), DECIMALS)


# ---------------------------------------------------------------------------------------------
# word sets: concepts (pairs) and groups


@dataclass(frozen=True)
class Concept:
    """A named set of word pairs ``(a, b)`` whose offsets ``b - a`` share a meaning."""

    name: str
    source: str
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Group:
    """A named set of words expected to be near one another."""

    name: str
    source: str
    words: tuple[str, ...]


def _sections(text: str, source: str, what: str) -> list[tuple[str, list[list[str]]]]:
    """Split ``: name`` sections of whitespace-separated lines (``#`` starts a comment)."""
    out: list[tuple[str, list[list[str]]]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            name = line[1:].strip()
            if not name:
                raise InputError(f"{source}:{no}: {what} header without a name")
            out.append((name, []))
        elif not out:
            raise InputError(f"{source}:{no}: {what} line before any ': name' header: {raw!r}")
        else:
            out[-1][1].append(line.split())
    return out


def parse_concepts(text: str, source: str) -> list[Concept]:
    """Read a concept file: ``: name`` headers, then one ``a b`` pair per line.

    Parameters
    ----------
    text : str
        The file's content.
    source : str
        Its name, for messages and reports.

    Returns
    -------
    list of Concept
        In file order; repeated pairs are kept once.

    Raises
    ------
    InputError
        A line that is not two words, or a pair before any header.

    Examples
    --------
    >>> [c.pairs for c in parse_concepts(": gender\\nking queen\\nman woman\\n", "g.txt")]
    [(('king', 'queen'), ('man', 'woman'))]
    """
    out = []
    for name, lines in _sections(text, source, "concept"):
        for ln in lines:
            if len(ln) != 2:
                raise InputError(f"{source}: concept {name!r}: expected 'a b', found "
                                 f"{' '.join(ln)!r}")
        out.append(Concept(name, source, tuple(dict.fromkeys((a, b) for a, b in lines))))
    return out


def parse_groups(text: str, source: str) -> list[Group]:
    """Read a word-group file: ``: name`` headers, then the group's words (any per line).

    Examples
    --------
    >>> parse_groups(": colours\\nred blue\\ngreen\\n", "g.txt")[0].words
    ('red', 'blue', 'green')
    """
    return [Group(name, source, tuple(dict.fromkeys(w for ln in lines for w in ln)))
            for name, lines in _sections(text, source, "group")]


def concepts_from_analogies(rows: list[dict[str, Any]]) -> list[Concept]:
    """One concept per analogy section: the distinct pairs ``(a, b)`` and ``(c, expected)``.

    Parameters
    ----------
    rows : list of dict
        Parsed questions (:func:`latentspark.evaluation.parse_analogies`), with ``file``,
        ``section``, ``a``, ``b``, ``c``, ``expected``.

    Returns
    -------
    list of Concept
        In the order the sections appear.

    Examples
    --------
    >>> rows = [{"file": "q", "section": "capital", "a": "Athens", "b": "Greece", "c": "Oslo",
    ...          "expected": "Norway"}, {"file": "q", "section": "capital", "a": "Oslo",
    ...          "b": "Norway", "c": "Athens", "expected": "Greece"}]
    >>> concepts_from_analogies(rows)[0].pairs
    (('Athens', 'Greece'), ('Oslo', 'Norway'))
    """
    pairs: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
    for r in rows:
        seen = pairs.setdefault((r["file"], r["section"]), {})
        seen[(r["a"], r["b"])] = None
        seen[(r["c"], r["expected"])] = None
    return [Concept(section, file, tuple(p)) for (file, section), p in pairs.items()]


def _packaged(folder: str) -> list[tuple[str, str]]:
    """``(name, text)`` of the package's ``folder/*.txt`` files, sorted by name."""
    base = resources.files("latentspark") / folder
    return [(f"latentspark/{folder}/{p.name}", p.read_text(encoding="utf-8"))
            for p in sorted(base.iterdir(), key=lambda p: p.name) if p.name.endswith(".txt")]


def builtin_concepts() -> list[Concept]:
    """The curated concepts shipped in ``latentspark/concepts/``.

    Examples
    --------
    >>> [c.name for c in builtin_concepts()]
    ['capital', 'comparative', 'gender', 'past_tense', 'plural']
    """
    return [c for name, text in _packaged("concepts") for c in parse_concepts(text, name)]


def builtin_groups() -> list[Group]:
    """The curated word groups shipped in ``latentspark/groups/``."""
    return [g for name, text in _packaged("groups") for g in parse_groups(text, name)]


def _unique_names(items: list) -> list:
    """Rename later duplicates ``name (2)``, ``name (3)``: names key the report."""
    seen: dict[str, int] = {}
    out = []
    for it in items:
        n = seen[it.name] = seen.get(it.name, 0) + 1
        out.append(it if n == 1 else replace(it, name=f"{it.name} ({n})"))
    return out


# ---------------------------------------------------------------------------------------------
# expressions


_NUMBER = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def parse_expression(text: str) -> list[tuple[float, str]]:
    """Parse word arithmetic: words joined by ``+`` and ``-``, with optional coefficients.

    An operator starts a token (``king - man``, ``king -man``); inside a token a hyphen is part
    of the word (``x-ray``). A number followed by a word is its coefficient (``0.5 king``,
    ``2 * cats``, ``2*cats``); a number followed by an operator or the end is a word.

    Parameters
    ----------
    text : str
        The expression.

    Returns
    -------
    list of (float, str)
        ``(coefficient, word)`` terms.

    Raises
    ------
    InputError
        An empty expression, two operators or two words in a row, a dangling ``*``.

    Examples
    --------
    >>> parse_expression("king - man + woman")
    [(1.0, 'king'), (-1.0, 'man'), (1.0, 'woman')]
    >>> parse_expression("-0.5 * x-ray +2*cats - 3")
    [(-0.5, 'x-ray'), (2.0, 'cats'), (-1.0, '3')]
    """
    tokens: list[str] = []
    for piece in text.replace("*", " * ").split():
        while len(piece) > 1 and piece[0] in "+-":
            tokens.append(piece[0])
            piece = piece[1:]
        tokens.append(piece)
    terms: list[tuple[float, str]] = []
    i = 0

    def bad(why: str) -> InputError:
        return InputError(f"expression {text!r}: {why}; expected words joined by + and -, "
                          "e.g. 'king - man + woman' or '0.5 king + 0.5 queen'")

    while i < len(tokens):
        sign = 1.0
        if tokens[i] in "+-":
            sign = -1.0 if tokens[i] == "-" else 1.0
            i += 1
        elif terms:
            raise bad(f"{tokens[i - 1]!r} and {tokens[i]!r} without an operator between them")
        coef = 1.0
        if (i + 1 < len(tokens) and _NUMBER.match(tokens[i])
                and tokens[i + 1] not in ("+", "-")):
            coef = float(tokens[i])
            i += 1
            if tokens[i] == "*":
                i += 1
        if i >= len(tokens) or tokens[i] in ("+", "-", "*"):
            raise bad("a word is missing")
        terms.append((sign * coef, tokens[i]))
        i += 1
    if not terms:
        raise bad("no words")
    return terms


def _split_list(value: str | list[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    return [p.strip() for p in items if p.strip()]


def parse_between(value: str | list[str]) -> list[tuple[str, str]]:
    """Parse ``explore.between``: ``a b`` pairs (a list, or one comma-separated string).

    Examples
    --------
    >>> parse_between(["king queen", " good bad"])
    [('king', 'queen'), ('good', 'bad')]
    >>> parse_between("king queen, good bad")
    [('king', 'queen'), ('good', 'bad')]
    """
    out = []
    for item in _split_list(value):
        words = item.split()
        if len(words) != 2:
            raise ConfigError(f"config key explore.between: {item!r} is not two words 'a b'")
        out.append((words[0], words[1]))
    return out


# ---------------------------------------------------------------------------------------------
# the vectors


class Space:
    """Unit word vectors with the evaluator's word look-up rules.

    Parameters
    ----------
    words : list of str
        The vocabulary in id order (most frequent first).
    vectors : numpy.ndarray
        ``V x dim`` vectors, row ``i`` for word ``i``.
    case_insensitive : bool
        Look words up upper-cased, the most frequent variant representing them all
        (``evaluate.case_insensitive``).
    restrict : int
        Nearest words are taken among the first ``restrict`` words only.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, case_insensitive: bool = True,
                 restrict: int = 30_000) -> None:
        from latentspark.evaluation import Lexicon

        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words, {len(vectors)} vectors")
        self.words = list(words)
        self.unit = unit_rows(vectors)
        self.lexicon = Lexicon(self.words, len(self.words), case_insensitive)
        self.restrict = min(restrict, len(self.words))

    @property
    def dim(self) -> int:
        """Dimension of the vectors."""
        return int(self.unit.shape[1])

    def id(self, word: str) -> int | None:
        """The id representing ``word``, or ``None`` when it is unknown or its vector is 0."""
        i = self.lexicon.id(word)
        return i if i is not None and self.unit[i].any() else None

    def nearest(self, query: np.ndarray, k: int, exclude: set[int] | None = None
                ) -> list[tuple[str, float]]:
        """The ``k`` candidates of highest cosine to ``query`` (any length), best first."""
        norm = float(np.linalg.norm(query))
        if norm == 0:
            return []
        skip = np.array([sorted(exclude or ())], dtype=np.int64).reshape(1, -1)
        ids, scores = top_k(self.unit[:self.restrict], (query / norm)[None, :], k, exclude=skip)
        return [(self.words[i], _r(v)) for i, v in zip(ids[0], scores[0], strict=True)
                if i >= 0]


# ---------------------------------------------------------------------------------------------
# concept directions


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
    out["stability"] = [_r(v) for v in np.percentile(np.concatenate(stab), [tail, 100 - tail])]
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
    return [_r(lo), _r(hi)], _r(bias)


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
        "chance": _r(1 / np.sqrt(len(found))) if found else None}
    if len(found) < 2:
        logger.warning("concept %s: %d of %d pairs in the vocabulary; need 2", concept.name,
                       len(found), len(concept.pairs))
        return entry, None
    stats = direction_stats(offsets)
    entry.update(consistency=_r(stats.consistency), pc_consistency=_r(stats.pc_consistency),
                 explained=_r(stats.explained))
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


# ---------------------------------------------------------------------------------------------
# arithmetic, interpolation, neighbourhoods


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
        out["points"].append({"t": _r(t), "nearest": [[w, s] for w, s in
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
            "matrix": [[_r(v) for v in row] for row in mat],
            "within": _r(np.diag(mat).mean()) if n else None,
            "between": _r(mat[off].mean()) if n > 1 else None}


# ---------------------------------------------------------------------------------------------
# pictures (matplotlib's Agg canvas: no display, no pyplot state)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    from PIL import Image

    raw = io.BytesIO()
    fig.savefig(raw, format="png", dpi=DPI)
    raw.seek(0)
    # a 256-colour palette: charts have few colours, and it keeps every PNG well under
    # 150 KB; saved by PIL without a timestamp, so the same report gives the same bytes
    with Image.open(raw) as im:
        small = im.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
    out = io.BytesIO()
    small.save(out, format="png", optimize=True)
    return out.getvalue()


def _label(ax, x: float, y: float, text: str, color: str = "black") -> None:
    ax.annotate(text, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=8,
                color=color, bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                   "alpha": 0.6})


_COLOURS = ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange", "tab:brown")


def plot_map(space: Space, sets: list[tuple[str, list[tuple[str, str]]]], words: list[str]
             ) -> bytes:
    """PCA map (2-D) of the words of some pairs and some loose words, arrows ``a -> b``.

    Parameters
    ----------
    sets : list of (name, pairs)
        Pairs drawn as arrows, one colour per set.
    words : list of str
        More words, drawn as points.
    """
    ids = list(dict.fromkeys(i for _, pairs in sets for p in pairs for i in map(space.id, p)
                             if i is not None))
    ids += [i for i in dict.fromkeys(map(space.id, words)) if i is not None and i not in ids]
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot()
    if len(ids) >= 3:
        x = space.unit[ids].astype(np.float64)
        x -= x.mean(axis=0)
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        xy = dict(zip(ids, x @ vt[:2].T, strict=True))
        share = (s[:2] ** 2).sum() / (s ** 2).sum()
        for c, (name, pairs) in enumerate(sets):
            colour = _COLOURS[c % len(_COLOURS)]
            for k, (a, b) in enumerate(pairs):
                pa_, pb = xy[space.id(a)], xy[space.id(b)]
                ax.annotate("", pb, pa_, arrowprops={"arrowstyle": "->", "color": colour,
                                                     "alpha": 0.7})
                ax.plot(*np.array([pa_, pb]).T, "o", color=colour, ms=3,
                        label=name if k == 0 else None)
                _label(ax, *pa_, a, colour)
                _label(ax, *pb, b, colour)
        for w in words:
            i = space.id(w)
            if i is not None:
                ax.plot(*xy[i], "o", color="gray", ms=3)
                _label(ax, *xy[i], w, "dimgray")
        ax.set_title(f"PCA of {len(ids)} words ({share:.0%} of their variance)", fontsize=10)
        ax.legend(fontsize=8, loc="best")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_projection(space: Space, x_name: str, x_dir: np.ndarray, y_name: str,
                    y_dir: np.ndarray, sets: list[tuple[str, list[tuple[str, str]]]]) -> bytes:
    """Pairs projected onto two concept directions (cosines of the unit word vectors)."""
    fig = _figure(7.5, 6.5)
    ax = fig.add_subplot()
    for c, (name, pairs) in enumerate(sets):
        colour = _COLOURS[c % len(_COLOURS)]
        for k, (a, b) in enumerate(pairs):
            pa_, pb = (np.array([space.unit[space.id(w)] @ x_dir, space.unit[space.id(w)] @ y_dir])
                       for w in (a, b))
            ax.annotate("", pb, pa_, arrowprops={"arrowstyle": "->", "color": colour,
                                                 "alpha": 0.7})
            ax.plot(*np.array([pa_, pb]).T, "o", color=colour, ms=3,
                    label=f"{name} pairs" if k == 0 else None)
            _label(ax, *pa_, a, colour)
            _label(ax, *pb, b, colour)
    cos = float(x_dir @ y_dir / (np.linalg.norm(x_dir) * np.linalg.norm(y_dir)))
    ax.set_xlabel(f"cosine to the {x_name} direction")
    ax.set_ylabel(f"cosine to the {y_name} direction")
    ax.set_title(f"{x_name} vs {y_name} (cosine of the directions {cos:.3f})", fontsize=10)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_consistency(entries: list[dict[str, Any]]) -> bytes:
    """Consistency and explained share per concept, with their bootstrap intervals."""
    rows = [e for e in entries if e["consistency"] is not None]
    fig = _figure(9, 0.8 + 0.28 * max(len(rows), 1))
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))
    for ax, key, title in ((axes[0], "consistency", "consistency (mean cosine to the mean "
                            "direction)"), (axes[1], "explained", "variance share of the "
                                            "first component")):
        val = np.array([e[key] for e in rows])
        err = None
        if rows and all(e["intervals"] for e in rows):
            lo = np.array([e["intervals"][key][0] for e in rows])
            hi = np.array([e["intervals"][key][1] for e in rows])
            err = np.vstack([np.maximum(val - lo, 0), np.maximum(hi - val, 0)])
        ax.barh(y, val, xerr=err, color="tab:blue", alpha=0.75, capsize=2)
        if key == "consistency":
            ax.plot([e["chance"] for e in rows], y, "|", color="black", ms=10,
                    label="chance (1/\u221an)")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [e["name"] for e in rows], fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return _png(fig)


def plot_matrix(names: list[str], matrix: list[list[float]], title: str) -> bytes:
    """A labelled heat map of a symmetric cosine matrix."""
    n = len(names)
    size = 2.5 + 0.35 * n
    fig = _figure(size + 1, size)
    ax = fig.add_subplot()
    mat = np.array(matrix, dtype=float).reshape(n, n)
    im = ax.imshow(mat, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(mat[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def plot_accuracy(summary: dict[str, Any]) -> bytes | None:
    """Analogy accuracy by section from an evaluation ``summary.json``, or ``None``."""
    an = summary.get("analogies")
    if not an:
        return None
    methods = summary.get("methods", ["3cosadd"])
    rows = an["sections"] + [an["semantic"], an["syntactic"], an["total"]]
    fig = _figure(8, 1 + 0.3 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    height = 0.8 / len(methods)
    for m, method in enumerate(methods):
        acc = [r[method]["accuracy"] for r in rows]
        bars = ax.barh(y + m * height, acc, height, label=method, color=_COLOURS[m])
        for bar, a in zip(bars, acc, strict=True):
            ax.text(bar.get_width() + 0.005, bar.get_y() + bar.get_height() / 2, f"{a:.1%}",
                    va="center", fontsize=7)
    ax.set_yticks(y + height * (len(methods) - 1) / 2, [r["name"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("accuracy (answerable questions)" if summary.get("oov") == "skip"
                  else "accuracy (all questions)")
    ax.set_title(f"Analogy accuracy by section (index {summary.get('index')})", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


# ---------------------------------------------------------------------------------------------
# the whole exploration


@dataclass
class Exploration:
    """What :func:`explore` computes: the report's numbers and its pictures (PNG bytes)."""

    report: dict[str, Any]
    figures: dict[str, bytes] = field(default_factory=dict)


def _pairs_for_plot(space: Space, concept: Concept, limit: int) -> list[tuple[str, str]]:
    _, found, _ = unit_offsets(space, concept.pairs)
    return found[:limit]


def explore(space: Space, concepts: list[Concept], groups: list[Group], ex: ExploreConfig,
            evaluation: dict[str, Any] | None = None, meta: dict[str, Any] | None = None
            ) -> Exploration:
    """Compute every number and picture of the report.

    Parameters
    ----------
    space : Space
        The embeddings.
    concepts, groups : list
        Concepts and word groups to analyse.
    ex : ExploreConfig
        Expressions, interpolations, bootstrap and picture settings.
    evaluation : dict, optional
        ``{"path": ..., "summary": <an evaluator summary.json>}`` for the accuracy chart.
    meta : dict, optional
        Recorded as the report's ``embeddings`` entry (path, version, ...).

    Returns
    -------
    Exploration
    """
    concepts, groups = _unique_names(concepts), _unique_names(groups)
    report: dict[str, Any] = {
        "embeddings": {**(meta or {}), "words": len(space.words), "dim": space.dim},
        "settings": {"bootstrap": ex.bootstrap, "confidence": ex.confidence, "seed": ex.seed,
                     "k": ex.k, "steps": ex.steps, "restrict_vocab": space.restrict}}
    figures: dict[str, bytes] = {}
    logger.info("explore: %d concepts, %d groups over %d words x %d", len(concepts),
                len(groups), len(space.words), space.dim)
    entries, stats = [], {}
    for c in concepts:
        entry, st = analyse_concept(space, c, ex.bootstrap, ex.confidence, ex.seed)
        entries.append(entry)
        if st is not None:
            stats[c.name] = st
    report["concepts"] = entries
    names = list(stats)
    matrix = cosine_matrix(np.array([stats[n].mean_direction for n in names])) if names else []
    report["independence"] = {"names": names,
                              "cosine": [[_r(v) for v in row] for row in matrix]}
    logger.info("explore: arithmetic and interpolation")
    report["expressions"] = [evaluate_expression(space, e, ex.k)
                             for e in _split_list(ex.expressions)]
    report["between"] = [interpolate(space, a, b, ex.steps, ex.k)
                         for a, b in parse_between(ex.between)]
    report["groups"] = group_similarity(space, groups)
    report["evaluation"] = None
    if evaluation is not None:
        s = evaluation["summary"]
        report["evaluation"] = {"path": evaluation["path"], "index": s.get("index"),
                                "methods": s.get("methods"),
                                "analogies": s.get("analogies"),
                                "similarity": s.get("similarity")}
    logger.info("explore: pictures")
    if stats:
        figures["consistency.png"] = plot_consistency(entries)
        figures["independence.png"] = plot_matrix(names, report["independence"]["cosine"],
                                                  "cosine between concept directions")
    by_name = {c.name: c for c in concepts}
    map_sets = [(n, _pairs_for_plot(space, by_name[n], ex.max_pairs))
                for n in _split_list(ex.map_concepts) if n in by_name]
    extra = _split_list(ex.words)
    if map_sets or extra:
        figures["map.png"] = plot_map(space, map_sets, extra)
    proj = _split_list(ex.projection)
    if len(proj) == 2 and all(n in stats for n in proj):
        figures["projection.png"] = plot_projection(
            space, proj[0], stats[proj[0]].mean_direction, proj[1],
            stats[proj[1]].mean_direction,
            [(n, _pairs_for_plot(space, by_name[n], ex.max_pairs)) for n in proj])
        report["projection"] = {"x": proj[0], "y": proj[1], "cosine": _r(
            stats[proj[0]].mean_direction @ stats[proj[1]].mean_direction)}
    elif proj:
        logger.warning("explore.projection = %r: needs two analysed concepts; known: %s",
                       ex.projection, ", ".join(names))
    if report["groups"]["names"]:
        figures["groups.png"] = plot_matrix(report["groups"]["names"],
                                            report["groups"]["matrix"],
                                            "mean cosine within (diagonal) and between groups")
    if evaluation is not None:
        png = plot_accuracy(evaluation["summary"])
        if png is not None:
            figures["accuracy.png"] = png
    report["figures"] = sorted(figures)
    return Exploration(report, figures)


# ---------------------------------------------------------------------------------------------
# the HTML report


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.{DECIMALS}f}"


def _ci(entry: dict[str, Any], key: str) -> str:
    iv = entry.get("intervals")
    return "" if not iv else f"[{_f(iv[key][0])}, {_f(iv[key][1])}]"


def _bias(entry: dict[str, Any], key: str) -> str:
    iv = entry.get("intervals")
    return "" if not iv else f"{iv[key + '_bias']:+.{DECIMALS}f}"


def _table(table_id: str, head: list[str], rows: list[list[str]],
           row_keys: list[str] | None = None) -> str:
    """An HTML table; cells are given already escaped."""
    out = [f'<table id="{table_id}"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for k, row in enumerate(rows):
        key = f' data-key="{html.escape(row_keys[k])}"' if row_keys else ""
        out.append(f"<tr{key}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _img(figures: dict[str, bytes], name: str, alt: str) -> str:
    if name not in figures:
        return ""
    data = base64.b64encode(figures[name]).decode("ascii")
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">' \
           f"<figcaption>{html.escape(alt)}</figcaption></figure>"


def _nearest(lst: list[list]) -> str:
    return ", ".join(f"{html.escape(w)}&nbsp;{_f(s)}" for w, s in lst)


_CSS = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
td:first-child,th:first-child{text-align:left}
th{background:#eee}figure{margin:1em 0}img{max-width:100%}
figcaption{font-size:12px;color:#555}.note{font-size:13px;color:#444}"""


def render_html(report: dict[str, Any], figures: dict[str, bytes]) -> str:
    """One self-contained HTML page with the report's tables and embedded pictures.

    Every number is printed from ``report`` with :data:`DECIMALS` decimals, i.e. exactly as
    ``report.json`` holds it; pictures are ``data:image/png;base64`` URIs.
    """
    e = html.escape
    emb = report["embeddings"]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>latentspark: the latent space</title>", f"<style>{_CSS}</style>",
             "</head><body>", "<h1>The latent space</h1>",
             f'<p class="note">Embeddings {e(str(emb.get("version") or emb.get("path")))}: '
             f'{emb["words"]:,} words, dimension {emb["dim"]}. Nearest words among the first '
             f'{report["settings"]["restrict_vocab"]:,}; cosines of unit vectors.</p>']
    ev = report.get("evaluation")
    if ev and ev.get("analogies"):
        an, methods = ev["analogies"], ev["methods"]
        rows = [[e(s["name"]), f"{s['questions']:,}", f"{s['answerable']:,}"]
                + [f"{s[m]['accuracy']:.2%}" for m in methods]
                for s in an["sections"] + [an["semantic"], an["syntactic"], an["total"]]]
        parts += ["<h2>Evaluation</h2>",
                  f'<p class="note">From {e(ev["path"])} (index {e(str(ev["index"]))}).</p>',
                  _table("evaluation", ["section", "questions", "answerable", *methods], rows),
                  _img(figures, "accuracy.png", "analogy accuracy by section")]
        if ev.get("similarity"):
            parts.append(_table("similarity", ["file", "pairs", "OOV", "Pearson", "Spearman"], [
                [e(s["file"]), f"{s['pairs']:,}", f"{s['oov_ratio']:.1f}%",
                 _f(s.get("pearson")), _f(s.get("spearman"))] for s in ev["similarity"]]))
    st = report["settings"]
    parts += ["<h2>Concept directions</h2>",
              '<p class="note">For the unit offsets of each concept\'s pairs: consistency is '
              "the mean cosine to their mean direction, PC consistency the mean cosine to "
              "their first principal component, explained the share of their variance along "
              f"it; chance is 1/&radic;found, the consistency of random offsets. Intervals: "
              f"{st['confidence']:.0%} bootstrap percentile intervals from "
              f"{st['bootstrap']:,} resamples of the pairs (seed {st['seed']}), shifted by the "
              "bootstrap's bias estimate (bias: how far resampling inflates the statistic); "
              "stability: interval of the cosine of resampled mean directions to the full "
              "one.</p>"]
    concepts = report["concepts"]
    parts.append(_table("concepts", ["concept", "source", "pairs", "found", "missing",
                                     "consistency", "interval", "bias", "chance",
                                     "PC consistency", "explained", "interval", "bias",
                                     "stability"],
                        [[e(c["name"]), e(os.path.basename(c["source"])), str(c["pairs"]),
                          str(c["found"]), str(c["missing"]), _f(c["consistency"]),
                          _ci(c, "consistency"), _bias(c, "consistency"), _f(c["chance"]),
                          _f(c["pc_consistency"]), _f(c["explained"]), _ci(c, "explained"),
                          _bias(c, "explained"), _ci(c, "stability")] for c in concepts],
                        [c["name"] for c in concepts]))
    parts.append(_img(figures, "consistency.png", "consistency and explained share per "
                      "concept, with bootstrap intervals"))
    ind = report["independence"]
    if ind["names"]:
        parts += ["<h2>Independence</h2>", '<p class="note">Cosine between the concepts\' mean '
                  "directions.</p>",
                  _table("independence", ["", *map(e, ind["names"])],
                         [[e(n), *map(_f, row)] for n, row in zip(ind["names"], ind["cosine"],
                                                                  strict=True)],
                         ind["names"]),
                  _img(figures, "independence.png", "cosine between concept directions")]
    if "projection" in report:
        p = report["projection"]
        parts += [f"<h2>{e(p['x'])} vs {e(p['y'])}</h2>",
                  _img(figures, "projection.png", f"pairs projected onto the {p['x']} and "
                       f"{p['y']} directions (cosine {_f(p['cosine'])})")]
    parts += ["<h2>Map</h2>", _img(figures, "map.png", "PCA map of chosen words, arrows from "
                                   "a to b for concept pairs")]
    parts += ["<h2>Arithmetic</h2>",
              _table("expressions", ["expression", "nearest (input words excluded)"],
                     [[e(x["expression"]), _nearest(x["nearest"]) or
                       f"unknown: {e(', '.join(x['missing']))}"] for x in report["expressions"]],
                     [x["expression"] for x in report["expressions"]])]
    parts.append("<h2>Interpolation</h2>")
    for b in report["between"]:
        if b["missing"]:
            parts.append(f"<p>{e(b['a'])} → {e(b['b'])}: unknown "
                         f"{e(', '.join(b['missing']))}</p>")
            continue
        parts.append(f"<h3>{e(b['a'])} → {e(b['b'])}</h3>")
        parts.append(_table(f"between-{e(b['a'])}-{e(b['b'])}", ["t", "nearest"],
                            [[_f(p["t"]), _nearest(p["nearest"])] for p in b["points"]]))
    g = report["groups"]
    parts += ["<h2>Neighbourhoods</h2>",
              f'<p class="note">Mean cosine within groups {_f(g["within"])}, between groups '
              f'{_f(g["between"])}.</p>']
    if g["names"]:
        parts.append(_table("groups", ["", *map(e, g["names"])],
                            [[e(n), *map(_f, row)] for n, row in zip(g["names"], g["matrix"],
                                                                     strict=True)], g["names"]))
        parts.append(_img(figures, "groups.png", "mean cosine within and between word groups"))
    missing = [f"{e(x['name'])}: {e(', '.join(x['missing']))}" for x in g["groups"]
               if x["missing"]]
    if missing:
        parts.append('<p class="note">Words not in the vocabulary: ' + "; ".join(missing)
                     + "</p>")
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# writing


def report_files(result: Exploration) -> dict[str, bytes]:
    """The files of a report: ``report.html``, ``report.json`` and the PNGs."""
    files = dict(result.figures)
    files["report.json"] = json.dumps(result.report, indent=2, ensure_ascii=False).encode()
    files["report.html"] = render_html(result.report, result.figures).encode()
    return files


def write_local(out: str, files: dict[str, bytes]) -> str:
    """Write files into a sibling staging folder, then rename it onto ``out``.

    A reader never sees a half-written report: ``out`` is either the old folder or the new
    one (the old one is moved aside for the instant between the two renames, then deleted).

    Returns
    -------
    str
        The absolute output folder.
    """
    out = os.path.abspath(out)
    parent, name = os.path.split(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{name}.staging-", dir=parent)
    try:
        for fname, body in files.items():
            with open(os.path.join(staging, fname), "wb") as fh:
                fh.write(body)
        old = None
        if os.path.exists(out):
            old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=parent)
            os.rename(out, os.path.join(old, name))
        os.rename(staging, out)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("explore: wrote %d files to %s", len(files), out)
    return out


# ---------------------------------------------------------------------------------------------
# the stage


def _read_text(fs, path: str, key: str) -> str:
    if not fs.exists(path):
        raise InputError(f"{key} file {path} does not exist")
    try:
        return fs.read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{key} file {path} is not UTF-8: {exc}") from None


def load_concepts(fs, cfg: Config) -> list[Concept]:
    """Built-in, analogy-section and user concepts, as the config asks."""
    from latentspark.evaluation import Parsed, parse_analogies

    ex = cfg.explore
    out = builtin_concepts() if ex.builtin else []
    if ex.analogy_sections:
        parsed = Parsed()
        for path in _split_list(cfg.evaluate.analogies):
            parse_analogies(_read_text(fs, path, "evaluate.analogies"), path, parsed)
        for p in parsed.problems:
            logger.warning("malformed analogy line skipped: %s", p)
        out += concepts_from_analogies(parsed.rows)
    for path in _split_list(ex.concepts):
        out += parse_concepts(_read_text(fs, path, "explore.concepts"), path)
    return out


def load_groups(fs, cfg: Config) -> list[Group]:
    """Built-in and user word groups."""
    out = builtin_groups() if cfg.explore.builtin else []
    for path in _split_list(cfg.explore.groups):
        out += parse_groups(_read_text(fs, path, "explore.groups"), path)
    return out


def load_evaluation(spark, fs, cfg: Config) -> dict[str, Any] | None:
    """The evaluation summary to chart: ``explore.evaluation``, else the newest, else None."""
    from latentspark.artifacts import EVAL, RunRoot

    path = cfg.explore.evaluation.rstrip("/")
    if not path:
        pub = RunRoot.from_config(spark, cfg).store(EVAL).current()
        if pub is None:
            logger.info("explore: no published evaluation under %s; no accuracy chart",
                        cfg.run.root)
            return None
        path = pub.path
    summary = f"{path}/summary.json"
    if not fs.exists(summary):
        raise InputError(f"explore.evaluation = {path!r}: no summary.json there")
    return {"path": path, "summary": json.loads(fs.read_bytes(summary))}
