"""A tiny deterministic corpus and evaluation folder for the benchmark scripts' tests, and
the import of a script as a module.

The text is generated from templates over a few word families (royalty, capitals, verb
tenses), so that the analogies and word pairs of the evaluation sets are all in its
vocabulary; nothing is downloaded.
"""

from __future__ import annotations

import importlib
import random
import sys
from pathlib import Path
from types import ModuleType

#: the benchmark scripts' folder
BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

PAIRS = [("king", "queen"), ("man", "woman"), ("prince", "princess"), ("father", "mother"),
         ("boy", "girl"), ("brother", "sister")]
CAPITALS = [("paris", "france"), ("berlin", "germany"), ("rome", "italy"),
            ("madrid", "spain"), ("london", "england"), ("vienna", "austria")]
VERBS = [("walk", "walked"), ("run", "ran"), ("talk", "talked"), ("jump", "jumped"),
         ("swim", "swam"), ("play", "played")]
PLACES = ["park", "river", "market", "castle", "forest", "garden"]
ADJ = ["old", "young", "happy", "quiet", "brave", "kind"]


def corpus_lines(n: int = 600, seed: int = 7) -> list[str]:
    """``n`` lines of template text, the same for a given seed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 3
        adj = rng.choice(ADJ)
        place = rng.choice(PLACES)
        if kind == 0:
            m, f = rng.choice(PAIRS)
            who, pron = (m, "he") if rng.random() < 0.5 else (f, "she")
            out.append(f"the {adj} {who} said that {pron} would visit the {place} "
                       f"and {pron} was a {adj} {who}")
        elif kind == 1:
            city, country = rng.choice(CAPITALS)
            out.append(f"{city} is the capital of {country} and the {place} of {city} "
                       f"is {adj} in {country}")
        else:
            present, past = rng.choice(VERBS)
            out.append(f"yesterday we {past} to the {place} and today we {present} to the "
                       f"{adj} {place} as we {past} before")
    return out


def write_corpus(folder: Path, n: int = 600) -> Path:
    """Write the corpus as two plain text files under ``folder``; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = corpus_lines(n)
    half = len(lines) // 2
    (folder / "part-00000.txt").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    (folder / "part-00001.txt").write_text("\n".join(lines[half:]) + "\n", encoding="utf-8")
    return folder


def write_eval(folder: Path) -> Path:
    """Analogies, WordSim-353-like and SimLex-999-like pairs and a similarity split file."""
    folder.mkdir(parents=True, exist_ok=True)
    q = [": capital-common-countries"]
    q += [f"{a} {b} {c} {d}" for a, b in CAPITALS for c, d in CAPITALS if a != c]
    q += [": family"]
    q += [f"{a} {b} {c} {d}" for a, b in PAIRS for c, d in PAIRS if a != c]
    q += [": gram7-past-tense"]
    q += [f"{a} {b} {c} {d}" for a, b in VERBS for c, d in VERBS if a != c]
    (folder / "questions-words.txt").write_text("\n".join(q) + "\n", encoding="utf-8")
    pairs = [("king", "queen", 8.5), ("man", "woman", 8.3), ("paris", "france", 7.0),
             ("walk", "run", 6.0), ("walked", "ran", 5.5), ("park", "garden", 6.5),
             ("castle", "king", 5.0), ("river", "happy", 1.0), ("berlin", "talk", 0.5),
             ("market", "queen", 1.5), ("brave", "kind", 4.0), ("old", "young", 3.0)]
    head = "# header one\n# Word 1\tWord 2\tHuman (mean)\n"
    body = "".join(f"{a}\t{b}\t{s:.2f}\n" for a, b, s in pairs)
    (folder / "wordsim353.tsv").write_text(head + body, encoding="utf-8")
    (folder / "simlex999.txt").write_text(head + body, encoding="utf-8")
    split = ["# test split", "king\tqueen\tsimilar", "man\twoman\tsimilar",
             "walk\trun\tsimilar", "old\tyoung\tsimilar", "river\thappy\tunrelated",
             "berlin\ttalk\tunrelated", "market\tqueen\tunrelated"]
    (folder / "wordsim353_agirre_similarity.tsv").write_text("\n".join(split) + "\n",
                                                             encoding="utf-8")
    return folder


def bench_module(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module; the folder is on the path only while it imports,
    so that the script's own imports of its siblings (``quality``, ``cooccur``) resolve."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))
