"""The vectors: unit word vectors, the evaluator's word look-up and nearest words.

Also the precision of every derived figure of the report (:data:`DECIMALS`, :func:`rounded`),
which starts here with the cosines of the nearest words.
"""

from __future__ import annotations

import numpy as np

from latentspark.vecmath import top_k, unit_rows

#: decimals of every derived figure, in report.json and report.html alike
DECIMALS = 3


def rounded(x: float | None) -> float | None:
    """``x`` as a float rounded to :data:`DECIMALS`, ``None`` kept.

    Examples
    --------
    >>> rounded(np.float32(0.12345)), rounded(None)
    (0.123, None)
    """
    return None if x is None else round(float(x), DECIMALS)


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
        return [(self.words[i], rounded(v)) for i, v in zip(ids[0], scores[0], strict=True)
                if i >= 0]
