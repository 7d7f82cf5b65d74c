"""A generated corpus with a planted analogy structure, for pipeline tests.

Each of ``roles`` roles comes in a male and a female form (``r3m``, ``r3f``). A sentence
about one of them holds its role's context words, its gender's context words and random
fillers, so a good model places ``r_i g`` near ``role_i + gender_g``: ``r1m - r1f + r2f ~ r2m``
for every pair of roles. Shuffling every token across the corpus destroys that structure
while keeping the vocabulary and the counts: the degraded model a quality gate must block.
"""

from __future__ import annotations

import random
from pathlib import Path

GENDERS = {"m": ["he", "him", "his"], "f": ["she", "her", "hers"]}


def sentences(n: int, roles: int = 8, seed: int = 0, fillers: int = 30) -> list[list[str]]:
    """``n`` sentences about random role-gender words."""
    rng = random.Random(seed)
    filler = [f"w{i}" for i in range(fillers)]
    out = []
    for _ in range(n):
        role, gender = rng.randrange(roles), rng.choice("mf")
        ctx = [f"c{role}x{j}" for j in range(3)]
        words = [f"r{role}{gender}", rng.choice(ctx), rng.choice(ctx),
                 rng.choice(GENDERS[gender]), rng.choice(GENDERS[gender]),
                 rng.choice(filler), rng.choice(filler)]
        rng.shuffle(words)
        out.append(words)
    return out


def shuffled(lines: list[list[str]], seed: int = 0) -> list[list[str]]:
    """The same tokens, shuffled across the whole corpus, in lines of the same lengths."""
    tokens = [t for line in lines for t in line]
    random.Random(seed).shuffle(tokens)
    out, at = [], 0
    for line in lines:
        out.append(tokens[at:at + len(line)])
        at += len(line)
    return out


def analogies(roles: int = 8) -> str:
    """Questions ``r_i m : r_i f :: r_j m : r_j f`` in ``questions-words.txt`` format."""
    rows = [": gender"]
    for i in range(roles):
        for j in range(roles):
            if i != j:
                rows.append(f"r{i}m r{i}f r{j}m r{j}f")
    return "\n".join(rows) + "\n"


def write_lines(path: Path, lines: list[list[str]]) -> Path:
    """Write one sentence per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(line) + "\n" for line in lines))
    return path
