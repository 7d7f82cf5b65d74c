"""Brute-force references the tests compare Spark's results against."""

from __future__ import annotations

from collections import Counter, defaultdict


def reference_vocab(lines: list[list[str]], min_count: int, max_size: int) -> list[tuple]:
    """(id, word, count) by count descending then word, as the vocabulary stage defines."""
    counts = Counter(w for line in lines for w in line)
    kept = sorted(((w, c) for w, c in counts.items() if c >= min_count),
                  key=lambda wc: (-wc[1], wc[0]))[:max_size]
    return [(i, w, c) for i, (w, c) in enumerate(kept)]


def reference_cooccur(lines: list[list[str]], ids: dict[str, int], window: int,
                      weighting: str = "harmonic", dynamic: bool = False
                      ) -> dict[tuple[int, int], float]:
    """X[a, b] over every pair of in-vocabulary tokens at most ``window`` apart in one line.

    Out-of-vocabulary tokens are removed before windowing. Each pair adds its weight to both
    X[a, b] and X[b, a].
    """
    out: dict[tuple[int, int], float] = defaultdict(float)
    for line in lines:
        seq = [ids[w] for w in line if w in ids]
        for p in range(len(seq)):
            for q in range(p + 1, min(p + window, len(seq) - 1) + 1):
                d = q - p
                w = 1.0 / d if weighting == "harmonic" else 1.0
                if dynamic:
                    w *= (window - d + 1) / window
                out[seq[p], seq[q]] += w
                out[seq[q], seq[p]] += w
    return dict(out)
