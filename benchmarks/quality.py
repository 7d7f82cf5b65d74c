"""Benchmark the quality of latentspark's embeddings against gensim's and Spark MLlib's Word2Vec.

One run of this script trains, one after the other (never concurrently), on the same
pre-tokenised corpus (one paragraph per line, tokens separated by spaces) and at the same
dimension (or at each of ``--dims``):

1. each latentspark configuration given with ``--ours NAME="KEY=VALUE ..."``, as the whole
   pipeline from raw text (``python -m latentspark run``: vocabulary, co-occurrences,
   embeddings) in a fresh run root, on ``local[2]``;
2. gensim's skip-gram ``Word2Vec`` (window 5, 5 epochs, 2 workers), the corpus streamed from
   the gzip files, in a subprocess (``--worker gensim``), and the same with ``sg=0``, CBOW
   (``--worker cbow``);
3. Spark MLlib's ``Word2Vec`` on ``local[2]`` (window 5, one iteration, 2 partitions), in a
   subprocess (``--worker mllib``).

Each run is timed and the summed RSS of its whole process tree (the JVM and the Python workers
included) is sampled every 0.2 s. The vectors of every model are then scored the same way
(:func:`evaluate`): Google analogies by 3CosAdd (gensim's ``KeyedVectors``) and 3CosMul
(Levy and Goldberg 2014, numpy), WordSim-353, its similarity and relatedness subsets (Agirre
et al. 2009), SimLex-999, and the expected word's rank in a few seed analogies. Every
latentspark configuration is compared with both gensim models of its dimension on every
column (issue 11's target). The results go to ``quality.json`` and ``quality.md`` (and the
tails of the logs to ``quality_logs/``) in ``--out-dir``. See ``benchmarks/README.md``.

Run it alone on the machine: the figures are meaningless when other work shares the cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# the sibling benchmark's measuring and reporting helpers: one implementation of "peak RSS of
# a process tree" for every benchmark of the project
from cooccur import (
    MeasuredRun,
    corpus_files,
    git_state,
    machine_info,
    open_text,
    read_manifest,
    run_measured,
    shell_join,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "corpus24m-tokens"
DEFAULT_EVAL = REPO.parent / "shared" / "data" / "eval"
DEFAULT_OUT = REPO / "benchmarks" / "results"

#: the configurations measured when no ``--ours`` is given
#: (the two PPMI ones count word2vec's way: window 5, dynamic, frequent words subsampled)
W2V_COUNTS = ("cooccur.window=5 cooccur.weighting=uniform cooccur.dynamic_window=true "
              "cooccur.subsample=1e-4")
DEFAULT_OURS = {
    # as conf/embeddings.toml: two WALS iterations, long rows by 10 conjugate-gradient steps
    "ppmi_wals": f"factorize.method=ppmi_wals factorize.wals_iterations=2 factorize.cg_steps=10 "
                 f"{W2V_COUNTS}",
    "ppmi_svd": f"factorize.method=ppmi_svd {W2V_COUNTS}",
    "glove": "factorize.method=glove cooccur.window=10 factorize.x_max=10 factorize.l2=1 "
             "factorize.iterations=4",
}
#: the settings every latentspark run gets, so that all tools see the same words
MIN_COUNT = 5
MASTER = "local[2]"
#: keys an ``--ours`` configuration may not change: they would make the comparison unfair
FIXED_KEYS = (
    "tokenize.",
    "corpus.",
    "vocab.min_count",
    "factorize.dim",
    "run.root",
    "spark.master",
)
#: ``gensim`` is gensim's skip-gram, ``cbow`` the same model with ``sg=0``
PEERS = ("gensim", "cbow", "mllib")
#: the first five sections of questions-words.txt are the semantic ones (Mikolov et al. 2013)
SEMANTIC_SECTIONS = (
    "capital-common-countries",
    "capital-world",
    "currency",
    "city-in-state",
    "family",
)
RESTRICT_VOCAB = 300_000
PAIR_SETS = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
ANALOGIES = "questions-words.txt"
#: 3CosMul's epsilon (Levy and Goldberg 2014), as latentspark's evaluator uses it
EPS_3COSMUL = 1e-3
#: the analogies whose expected word's rank the report shows (``b - a + c = d``)
SEED_ANALOGIES = (
    "king - man + woman = queen",
    "paris - france + germany = berlin",
    "walked - walk + run = ran",
)
#: Agirre et al. (2009)'s similarity subset of WordSim-353 (see the file's header); their
#: relatedness subset is derived from it and wordsim353.tsv
WS353_SPLIT = Path(__file__).resolve().parent / "data" / "wordsim353_agirre_similarity.tsv"
LOG_TAIL_LINES = 80
LOG_LINE_CHARS = 400
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

logger = logging.getLogger("quality")


# ---------------------------------------------------------------------------------------------
# the corpus


class LineSentences:
    """The corpus as gensim wants it: one list of tokens per line, restartable.

    The files are decompressed and split afresh on every pass (gensim makes one pass to build
    its vocabulary and one per epoch), so nothing of the corpus's size is held in memory.

    Parameters
    ----------
    files : sequence of Path
        Text files, ``.gz`` or plain, one context unit per line.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "c.txt"
    >>> _ = p.write_text("a b  c\\n\\nd e\\n")
    >>> list(LineSentences([p]))
    [['a', 'b', 'c'], ['d', 'e']]
    """

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = list(files)

    def __iter__(self) -> Iterator[list[str]]:
        for path in self.files:
            with open_text(path) as fh:
                for line in fh:
                    tokens = line.split()
                    if tokens:
                        yield tokens


def write_slice(files: Sequence[Path], lines: int, dest: Path) -> dict[str, int]:
    """Copy the first lines of a corpus into one gzip file, for quick runs.

    Parameters
    ----------
    files : sequence of Path
        The corpus files, in order.
    lines : int
        How many lines to copy.
    dest : Path
        The ``.gz`` file to write.

    Returns
    -------
    dict
        ``lines`` and ``tokens`` written.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    written = tokens = 0
    # level 1: the slice is scratch, read once by each tool
    with gzip.open(dest, "wt", encoding="utf-8", compresslevel=1) as out:
        for path in files:
            with open_text(path) as fh:
                for line in fh:
                    if written >= lines:
                        return {"lines": written, "tokens": tokens}
                    out.write(line if line.endswith("\n") else line + "\n")
                    written += 1
                    tokens += len(line.split())
    return {"lines": written, "tokens": tokens}


# ---------------------------------------------------------------------------------------------
# vectors on disk: the peers write what latentspark publishes (word, count, vector)


def write_vectors(
    path: Path, words: Sequence[str], counts: np.ndarray, vectors: np.ndarray
) -> None:
    """Write a model's vectors as Parquet, in the given (frequency) order.

    Parameters
    ----------
    path : Path
        The Parquet file.
    words : sequence of str
        The words, most frequent first.
    counts : numpy.ndarray
        Their corpus counts.
    vectors : numpy.ndarray
        ``len(words) x dim`` matrix.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    v = np.ascontiguousarray(vectors, dtype=np.float32)
    table = pa.table(
        {
            "word": pa.array(list(words), pa.string()),
            "count": pa.array(np.asarray(counts, dtype=np.int64)),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), v.shape[1]),
        }
    )
    pq.write_table(table, path)


def read_vectors(path: Path, order_by: str | None = None) -> tuple[list[str], np.ndarray]:
    """Read ``word`` and ``vector`` columns of a Parquet file or folder with pyarrow.

    Parameters
    ----------
    path : Path
        A Parquet file or a folder of Parquet files.
    order_by : str, optional
        Sort ascending by this column (latentspark's ``id``: frequency order); by default the
        rows stay in file order.

    Returns
    -------
    words : list of str
    vectors : numpy.ndarray
        ``len(words) x dim`` float32 matrix.

    Raises
    ------
    ValueError
        When a word occurs twice.
    """
    import pyarrow.dataset as ds

    columns = ["word", "vector", *([order_by] if order_by else [])]
    table = ds.dataset(str(path), format="parquet").to_table(columns=columns)
    if order_by:
        table = table.sort_by(order_by)
    words = table.column("word").to_pylist()
    vec = table.column("vector").combine_chunks()
    flat = vec.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    dim = flat.size // max(len(words), 1)
    if len(set(words)) != len(words):
        raise ValueError(f"{path}: {len(words) - len(set(words))} duplicate words")
    return words, flat.reshape(len(words), dim)


# ---------------------------------------------------------------------------------------------
# evaluation: identical for every model


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero.

    Examples
    --------
    >>> unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    v = np.asarray(vectors)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


def read_analogies(path: Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The sections of a ``questions-words.txt`` file: ``[(name, [(a, b, c, d), ...]), ...]``.

    Words are lower-cased (gensim's ``case_insensitive`` matching on a lower-cased vocabulary).
    """
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
                continue
            parts = line.lower().split()
            if len(parts) == 4 and sections:
                sections[-1][1].append((parts[0], parts[1], parts[2], parts[3]))
    return sections


def word_ids(words: Sequence[str], restrict: int = RESTRICT_VOCAB) -> dict[str, int]:
    """Lower-cased word -> id among the first ``restrict`` words (the most frequent variant)."""
    ids: dict[str, int] = {}
    for i, w in enumerate(words[:restrict]):
        ids.setdefault(w.lower(), i)
    return ids


def answer_analogies(
    unit: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    restrict: int = RESTRICT_VOCAB,
    max_cells: int = 20_000_000,
) -> tuple[np.ndarray, np.ndarray]:
    """The 3CosAdd and 3CosMul answers of ``a : b :: c : ?`` over the first ``restrict`` words.

    3CosAdd ranks ``d`` by ``cos(d, b - a + c)`` (with unit vectors; ``cos(d, b) - cos(d, a) +
    cos(d, c)`` ranks the same); 3CosMul (Levy and Goldberg 2014) by
    ``cos'(d, b) cos'(d, c) / (cos'(d, a) + eps)`` with ``cos' = (cos + 1) / 2`` and
    ``eps = 0.001``, as latentspark's evaluator. The question words and words without a vector
    never answer; ties go to the more frequent word.

    Parameters
    ----------
    unit : numpy.ndarray
        Unit-length rows (zero rows for words without a vector), most frequent first.
    a, b, c : numpy.ndarray
        Word ids of the questions.
    restrict : int
        Only the first ``restrict`` words are candidates.
    max_cells : int
        Questions x candidates scored at once (memory: a few times 4 bytes each).

    Returns
    -------
    add, mul : numpy.ndarray
        The answer's id per question, ``-1`` when a question word has no vector.
    """
    cand = np.asarray(unit[:restrict], dtype=np.float32)
    valid = np.any(cand != 0, axis=1)
    q = len(a)
    add_best = np.full(q, -1, np.int64)
    mul_best = np.full(q, -1, np.int64)
    chunk = max(1, max_cells // max(1, cand.shape[0]))
    for q0 in range(0, q, chunk):
        sl = slice(q0, min(q, q0 + chunk))
        qa, qb, qc = a[sl], b[sl], c[sl]
        rows = np.arange(len(qa))
        sa = unit[qa].astype(np.float32) @ cand.T
        sb = unit[qb].astype(np.float32) @ cand.T
        sc = unit[qc].astype(np.float32) @ cand.T
        add = sb - sa + sc
        # twice 3CosMul: (sb + 1)(sc + 1) / (2 (sa + 1 + 2 eps)), the same ranking
        sb += 1.0
        sc += 1.0
        sb *= sc
        sa += 1.0 + 2 * EPS_3COSMUL
        mul = np.divide(sb, sa, out=sb)
        for scores, best in ((add, add_best), (mul, mul_best)):
            scores[:, ~valid] = -np.inf
            for ids in (qa, qb, qc):
                inside = ids < cand.shape[0]
                scores[rows[inside], ids[inside]] = -np.inf
            best[sl] = np.argmax(scores, axis=1)
        # a question word without a vector: no answer (gensim's NaN query answers nothing)
        asked = np.any(unit[qa] != 0, axis=1) & np.any(unit[qb] != 0, axis=1)
        asked &= np.any(unit[qc] != 0, axis=1)
        add_best[sl] = np.where(asked, add_best[sl], -1)
        mul_best[sl] = np.where(asked, mul_best[sl], -1)
    return add_best, mul_best


def analogy_accuracy(
    words: Sequence[str], unit: np.ndarray, path: Path, restrict: int = RESTRICT_VOCAB
) -> dict[str, Any]:
    """Google analogies by both methods, with :func:`answer_analogies`.

    A question is answerable when its four words are among the first ``restrict`` words (as
    gensim's ``evaluate_word_analogies`` counts); the others are skipped.

    Returns
    -------
    dict
        ``3cosadd`` and ``3cosmul``: ``total``, ``semantic``, ``syntactic`` accuracy and
        ``correct``; ``answerable`` and per-section counts.
    """
    ids = word_ids(words, restrict)
    sections = read_analogies(path)
    quads, names = [], []
    for name, questions in sections:
        for q in questions:
            if all(w in ids for w in q):
                quads.append([ids[w] for w in q])
                names.append(name)
    arr = np.array(quads, dtype=np.int64).reshape(-1, 4)
    add, mul = answer_analogies(unit, arr[:, 0], arr[:, 1], arr[:, 2], restrict)
    names_a = np.array(names, dtype=object)
    semantic = np.isin(names_a, SEMANTIC_SECTIONS) if len(names) else np.zeros(0, bool)
    out: dict[str, Any] = {"answerable": len(quads), "sections": []}
    for method, answers in (("3cosadd", add), ("3cosmul", mul)):
        right = answers == arr[:, 3]

        def acc(mask: np.ndarray, right: np.ndarray = right) -> float | None:
            return float(right[mask].mean()) if mask.any() else None

        out[method] = {
            "total": acc(np.ones(len(right), bool)),
            "semantic": acc(semantic),
            "syntactic": acc(~semantic),
            "correct": int(right.sum()),
        }
    for name, _ in sections:
        sel = names_a == name
        out["sections"].append(
            {
                "section": name,
                "answerable": int(sel.sum()),
                "3cosadd_correct": int((add[sel] == arr[sel, 3]).sum()),
                "3cosmul_correct": int((mul[sel] == arr[sel, 3]).sum()),
            }
        )
    return out


def parse_seed(text: str) -> tuple[str, str, str, str]:
    """``"b - a + c = d"`` -> ``(a, b, c, d)`` (``a : b :: c : d``), lower-cased.

    Examples
    --------
    >>> parse_seed("king - man + woman = queen")
    ('man', 'king', 'woman', 'queen')
    """
    m = re.fullmatch(r"\s*(\S+)\s*-\s*(\S+)\s*\+\s*(\S+)\s*=\s*(\S+)\s*", text)
    if not m:
        raise ValueError(f"seed analogy {text!r} is not 'b - a + c = d'")
    b, a, c, d = (w.lower() for w in m.groups())
    return a, b, c, d


def seed_analogy_ranks(
    words: Sequence[str],
    vectors: np.ndarray,
    seeds: Sequence[str] = SEED_ANALOGIES,
    restrict: int = RESTRICT_VOCAB,
    top: int = 3,
) -> list[dict[str, Any]]:
    """The expected word's rank in a few analogies, by 3CosAdd and 3CosMul.

    Every one of the first ``restrict`` words is scored in float64, the question words
    excluded; the rank is one more than the number of candidates scoring strictly above the
    expected word (1 = found), as ``latentspark.search.analogy_ranks`` counts, and ``0`` when
    the expected word is one of the question words.

    Parameters
    ----------
    words : sequence of str
        The vocabulary, most frequent first.
    vectors : numpy.ndarray
        One row per word.
    seeds : sequence of str
        Analogies ``"b - a + c = d"``.
    restrict : int
        Candidates: the first ``restrict`` words.
    top : int
        How many best answers to list.

    Returns
    -------
    list of dict
        Per analogy: ``analogy``, ``expected``, ``missing`` (words not among the candidates:
        then no rank) and per method ``{"rank": int | None, "top": [words]}``.
    """
    ids = word_ids(words, restrict)
    n = min(restrict, len(words))
    unit = unit_rows(np.asarray(vectors[:n], dtype=np.float64))
    valid = np.any(unit != 0, axis=1)
    out = []
    for text in seeds:
        a, b, c, d = parse_seed(text)
        rec: dict[str, Any] = {"analogy": text, "expected": d}
        missing = [w for w in (a, b, c, d) if w not in ids or not valid[ids[w]]]
        rec["missing"] = missing
        if missing:
            rec["3cosadd"] = rec["3cosmul"] = {"rank": None, "top": []}
            out.append(rec)
            continue
        ia, ib, ic, id_ = ids[a], ids[b], ids[c], ids[d]
        sa, sb, sc = unit @ unit[ia], unit @ unit[ib], unit @ unit[ic]
        scores = {
            "3cosadd": sb - sa + sc,
            "3cosmul": (sb + 1) / 2 * (sc + 1) / 2 / ((sa + 1) / 2 + EPS_3COSMUL),
        }
        for method, s in scores.items():
            s = np.where(valid, s, -np.inf)
            s[[ia, ib, ic]] = -np.inf
            order = np.argsort(-s, kind="stable")[:top]
            excluded = id_ in (ia, ib, ic)
            rank = 0 if excluded else int(np.count_nonzero(s > s[id_])) + 1
            rec[method] = {"rank": rank, "top": [words[i] for i in order]}
        out.append(rec)
    return out


def ws353_split(eval_dir: Path, split: Path = WS353_SPLIT) -> dict[str, list[str]] | None:
    """WordSim-353's lines divided as Agirre et al. (2009): ``similarity`` and ``relatedness``.

    ``similarity``: the pairs of the split file (similar and unrelated pairs; a pair rated
    twice, once, the first rating); ``relatedness``: the unrelated pairs plus every pair of
    ``wordsim353.tsv`` that is not in the split file. Pairs match case-insensitively, in
    either order; the scores are ``wordsim353.tsv``'s. On WordSim-353 this gives Agirre et
    al.'s 203 and 252 pairs.

    Returns
    -------
    dict or None
        The lines of ``wordsim353.tsv`` (comments dropped) of each non-empty subset; None
        when either file is missing. A file of the split's name in ``eval_dir`` replaces
        ``split``.
    """
    ws = eval_dir / PAIR_SETS["wordsim353"]
    if (eval_dir / split.name).is_file():
        split = eval_dir / split.name  # an evaluation folder may bring its own
    if not ws.is_file() or not split.is_file():
        return None
    group: dict[frozenset[str], str] = {}
    for line in split.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if line.startswith("#") or len(parts) != 3:
            continue
        group[frozenset((parts[0].lower(), parts[1].lower()))] = parts[2]
    out: dict[str, list[str]] = {"similarity": [], "relatedness": []}
    listed: set[frozenset[str]] = set()
    for line in ws.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if line.startswith("#") or len(parts) < 3:
            continue
        pair = frozenset((parts[0].lower(), parts[1].lower()))
        g = group.get(pair)
        if g in ("similar", "unrelated") and pair not in listed:
            # WordSim-353 rates money-cash twice; Agirre's list has it once (the first)
            listed.add(pair)
            out["similarity"].append(line)
        if g in (None, "unrelated"):
            out["relatedness"].append(line)
    return {k: v for k, v in out.items() if v}


def _pair_scores(kv: Any, path: Path) -> tuple[tuple, tuple, float]:
    """gensim's ``evaluate_word_pairs``; no pair in the vocabulary gives ``None`` scores."""
    try:
        return kv.evaluate_word_pairs(str(path), restrict_vocab=RESTRICT_VOCAB)
    except ValueError:  # gensim: "No valid similarity judgements found"
        return (None,), (None,), 100.0


def evaluate(
    words: Sequence[str],
    vectors: np.ndarray,
    eval_dir: Path,
    seeds: Sequence[str] = SEED_ANALOGIES,
    gensim_analogies: bool = True,
) -> dict[str, Any]:
    """Score vectors on Google analogies, WordSim-353 (and its split) and SimLex-999.

    Parameters
    ----------
    words : sequence of str
        The vocabulary, most frequent first (``restrict_vocab`` keeps a prefix of it).
    vectors : numpy.ndarray
        One row per word.
    eval_dir : Path
        Folder with ``questions-words.txt``, ``wordsim353.tsv`` and ``simlex999.txt``.
    seeds : sequence of str
        Analogies ``"b - a + c = d"`` whose expected word's rank is reported.
    gensim_analogies : bool
        Take the 3CosAdd figures from gensim's ``evaluate_word_analogies`` (the default, as
        every earlier run of this benchmark); False takes them from this module's own blocked
        numpy scoring (:func:`answer_analogies`, which agrees with gensim and computes 3CosMul
        in the same products) and saves gensim's one-question-at-a-time pass.

    Returns
    -------
    dict
        ``google``: 3CosAdd total, semantic and syntactic accuracy, answerable questions (all
        four words in the vocabulary; the others are skipped, as gensim does), per-section
        counts, ``cosadd_numpy`` (this module's 3CosAdd, a cross-check of gensim's) and
        ``cosmul`` (3CosMul's total, semantic, syntactic); ``wordsim353``, ``simlex999``,
        ``wordsim353_similarity`` and ``wordsim353_relatedness`` (Agirre et al.'s split):
        Spearman and Pearson correlations and gensim's out-of-vocabulary percentage (OOV pairs
        are skipped); ``seed_analogies`` (:func:`seed_analogy_ranks`); ``zero_vectors``: rows
        that are all zero (their cosine is undefined), and ``seconds``.
    """
    from gensim.models import KeyedVectors

    t0 = time.perf_counter()
    kv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    kv.add_vectors(list(words), vectors)
    zero = int(np.count_nonzero(~np.any(vectors != 0, axis=1)))
    ours = analogy_accuracy(words, unit_rows(np.asarray(vectors, np.float32)),
                            eval_dir / ANALOGIES)
    with warnings.catch_warnings():
        # zero rows (words without co-occurrences) normalise to NaN and are never chosen
        warnings.simplefilter("ignore", RuntimeWarning)
        if gensim_analogies:
            total, sections = kv.evaluate_word_analogies(
                str(eval_dir / ANALOGIES), restrict_vocab=RESTRICT_VOCAB
            )
        pair_files = {name: eval_dir / fname for name, fname in PAIR_SETS.items()}
        split = ws353_split(eval_dir)
        tmp = Path(tempfile.mkdtemp(prefix="ws353-split-"))
        try:
            if split:
                for part, lines in split.items():
                    f = tmp / f"wordsim353_{part}.tsv"
                    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
                    pair_files[f"wordsim353_{part}"] = f
            pairs = {name: (_pair_scores(kv, f),
                            sum(1 for ln in f.read_text(encoding="utf-8").splitlines()
                                if ln.strip() and not ln.startswith("#")))
                     for name, f in pair_files.items()}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if gensim_analogies:
        per_section = [
            {"section": s["section"], "correct": len(s["correct"]),
             "incorrect": len(s["incorrect"])}
            for s in sections
            if s["section"] != "Total accuracy"
        ]
    else:
        total = ours["3cosadd"]["total"] or 0.0
        per_section = [
            {"section": s["section"], "correct": s["3cosadd_correct"],
             "incorrect": s["answerable"] - s["3cosadd_correct"]}
            for s in ours["sections"]
            if s["answerable"]
        ]

    def accuracy(rows: Iterable[dict[str, Any]]) -> tuple[float | None, int]:
        rows = list(rows)
        right = sum(r["correct"] for r in rows)
        asked = right + sum(r["incorrect"] for r in rows)
        return (right / asked if asked else None), asked

    semantic, n_sem = accuracy(r for r in per_section if r["section"] in SEMANTIC_SECTIONS)
    syntactic, n_syn = accuracy(r for r in per_section if r["section"] not in SEMANTIC_SECTIONS)
    _, answerable = accuracy(per_section)
    google = {
        "total": float(total),
        "semantic": semantic,
        "syntactic": syntactic,
        "answerable": answerable,
        "answerable_semantic": n_sem,
        "answerable_syntactic": n_syn,
        "correct": sum(r["correct"] for r in per_section),
        "sections": per_section,
        "source_3cosadd": "gensim" if gensim_analogies else "numpy",
        "cosadd_numpy": {**ours["3cosadd"], "answerable": ours["answerable"]},
        "cosmul": {**ours["3cosmul"], "answerable": ours["answerable"]},
        "cosmul_sections": [
            {"section": s["section"], "correct": s["3cosmul_correct"],
             "answerable": s["answerable"]}
            for s in ours["sections"]
        ],
    }
    out: dict[str, Any] = {"google": google}
    for name, ((pearson, spearman, oov), n_pairs) in pairs.items():
        out[name] = {
            "spearman": None if spearman[0] is None else float(spearman[0]),
            "pearson": None if pearson[0] is None else float(pearson[0]),
            "oov_percent": float(oov),
            "pairs": n_pairs,
        }
    out["seed_analogies"] = seed_analogy_ranks(words, vectors, seeds)
    out["zero_vectors"] = zero
    out["restrict_vocab"] = RESTRICT_VOCAB
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


# ---------------------------------------------------------------------------------------------
# the peers, each in its own process (``--worker``)


def gensim_worker(files: Sequence[Path], dim: int, out: Path, sg: int = 1,
                  seed: int = 1) -> dict[str, Any]:
    """Train gensim's Word2Vec (skip-gram, or CBOW) on the corpus and write its vectors.

    The model is built as ``Word2Vec(sentences=...)`` builds it, in its two steps so that each
    is timed: ``build_vocab`` (one pass) then ``train`` (5 epochs). The corpus is streamed
    from the gzip files on every pass.

    Parameters
    ----------
    files : sequence of Path
        The corpus files.
    dim : int
        Vector size.
    out : Path
        Folder for ``vectors.parquet``.
    sg : int
        1: skip-gram; 0: CBOW (every other setting the same, gensim's defaults for the rest:
        the mean of the context vectors, 5 negative samples, subsampling 1e-3).
    seed : int
        gensim's ``seed`` (its initial vectors; with 2 workers the thread schedule varies a run
        too).

    Returns
    -------
    dict
        ``vocab_s``, ``train_s``, ``time_s`` (their sum), vocabulary size and corpus figures.
    """
    import gensim
    from gensim.models import Word2Vec

    sentences = LineSentences(files)
    t0 = time.perf_counter()
    model = Word2Vec(
        vector_size=dim, window=5, min_count=MIN_COUNT, sg=sg, epochs=5, workers=2, seed=seed
    )
    model.build_vocab(sentences)
    t1 = time.perf_counter()
    model.train(
        sentences,
        total_examples=model.corpus_count,
        total_words=model.corpus_total_words,
        epochs=model.epochs,
    )
    t2 = time.perf_counter()
    wv = model.wv
    # gensim sorts its vocabulary by descending count (sorted_vocab=1)
    write_vectors(out / "vectors.parquet", wv.index_to_key, wv.expandos["count"], wv.vectors)
    return {
        "vocab_s": round(t1 - t0, 3),
        "train_s": round(t2 - t1, 3),
        "time_s": round(t2 - t0, 3),
        "vocab_size": len(wv.index_to_key),
        "corpus_lines": model.corpus_count,
        "corpus_tokens": model.corpus_total_words,
        "gensim": gensim.__version__,
        "fast_version": gensim.models.word2vec.FAST_VERSION,
        "sg": sg,
        "seed": seed,
    }


def mllib_worker(corpus: str, dim: int, out: Path, driver_memory: str,
                 seed: int = 1) -> dict[str, Any]:
    """Train Spark MLlib's Word2Vec on ``local[2]`` and write its vectors with word counts.

    Timed (``time_s``): from ``spark.read.text`` to the vectors in the driver
    (``model.getVectors()`` as Arrow); the JVM start and the session are not included. MLlib
    keeps no word counts, so a Spark word count of the same tokens (``count_s``, not included in
    ``time_s``) orders the vectors by descending count, ties by word.

    Parameters
    ----------
    corpus : str
        Corpus path (file, folder or glob) for ``spark.read.text``.
    dim : int
        Vector size.
    out : Path
        Folder for ``vectors.parquet``.
    seed : int
        MLlib's ``seed``.
    driver_memory : str
        ``spark.driver.memory``; latentspark's local default, so both have the same heap.

    Returns
    -------
    dict
        ``time_s``, ``count_s``, ``session_s``, vocabulary size and Spark's version.
    """
    import pyarrow as pa
    from pyspark.ml.feature import Word2Vec
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    t_start = time.perf_counter()
    spark = (
        SparkSession.builder.appName("quality-mllib")
        .master(MASTER)
        .config("spark.driver.memory", driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    session_s = time.perf_counter() - t_start
    try:
        t0 = time.perf_counter()
        # the same split as gensim's str.split and latentspark's whitespace mode
        tokens = (
            spark.read.text(corpus)
            .select(F.array_remove(F.split(F.trim("value"), r"\s+"), "").alias("tokens"))
            .where(F.size("tokens") > 0)
        )
        w2v = Word2Vec(
            vectorSize=dim,
            windowSize=5,
            minCount=MIN_COUNT,
            maxIter=1,
            numPartitions=2,
            seed=seed,
            inputCol="tokens",
            outputCol="embedding",
        )
        model = w2v.fit(tokens)
        vec = (
            model.getVectors()
            .select("word", vector_to_array("vector", "float32").alias("vector"))
            .toArrow()
        )
        time_s = time.perf_counter() - t0

        t1 = time.perf_counter()
        counts = (
            tokens.select(F.explode("tokens").alias("word"))
            .groupBy("word")
            .count()
            .where(F.col("count") >= MIN_COUNT)
            .toArrow()
        )
        count_s = time.perf_counter() - t1
    finally:
        spark.stop()
    count_of = dict(
        zip(counts.column("word").to_pylist(), counts.column("count").to_pylist(), strict=True)
    )
    words = vec.column("word").to_pylist()
    missing = [w for w in words if w not in count_of]
    if missing:
        raise ValueError(f"{len(missing)} MLlib words have no count, e.g. {missing[:5]}")
    word_counts = np.array([count_of[w] for w in words], dtype=np.int64)
    lists = pa.chunked_array(vec.column("vector")).combine_chunks()
    vectors = lists.flatten().to_numpy(zero_copy_only=False).reshape(len(words), dim)
    order = sorted(range(len(words)), key=lambda i: (-word_counts[i], words[i]))
    write_vectors(
        out / "vectors.parquet", [words[i] for i in order], word_counts[order], vectors[order]
    )
    return {
        "time_s": round(time_s, 3),
        "count_s": round(count_s, 3),
        "session_s": round(session_s, 3),
        "vocab_size": len(words),
        "count_vocab_size": counts.num_rows,
        "driver_memory": driver_memory,
    }


def worker_main(args: argparse.Namespace) -> int:
    """The ``--worker`` mode: train one peer in this process and write ``result.json``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    out = Path(args.worker_out)
    out.mkdir(parents=True, exist_ok=True)
    if args.worker in ("gensim", "cbow"):
        files = corpus_files(args.corpus, "")
        if not files:
            raise SystemExit(f"no corpus file under {args.corpus}")
        result = gensim_worker(files, args.dim, out, sg=0 if args.worker == "cbow" else 1,
                               seed=args.seed)
    else:
        result = mllib_worker(args.corpus, args.dim, out, args.driver_memory, seed=args.seed)
    (out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    logger.info("%s: %s", args.worker, result)
    return 0


# ---------------------------------------------------------------------------------------------
# running and measuring


def latentspark_command(corpus: str, root: Path, dim: int, overrides: Sequence[str]) -> list[str]:
    """The ``latentspark run`` command of one configuration (the whole pipeline)."""
    cmd = [
        sys.executable,
        "-m",
        "latentspark",
        "run",
        "--corpus",
        corpus,
        "--root",
        str(root),
        "-q",
        "--set",
        "tokenize.mode=whitespace",
        "--set",
        f"vocab.min_count={MIN_COUNT}",
        "--set",
        f"factorize.dim={dim}",
        "--set",
        f"spark.master={MASTER}",
    ]
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def keep_log_tail(run: MeasuredRun, dest: Path) -> str:
    """Copy the last lines of a run's log to ``dest`` (long lines cut), return its path."""
    text = Path(run.log).read_text(encoding="utf-8", errors="replace").splitlines()
    tail = [
        ln if len(ln) <= LOG_LINE_CHARS else ln[:LOG_LINE_CHARS] + " [...]"
        for ln in text[-LOG_TAIL_LINES:]
    ]
    dest.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# last {len(tail)} of {len(text)} lines; exit code {run.returncode}\n"
        f"# {shell_join(run.command)}\n"
    )
    dest.write_text(header + "\n".join(tail) + "\n", encoding="utf-8")
    return str(dest.relative_to(REPO)) if dest.is_relative_to(REPO) else str(dest)


def _tag(name: str, dim: int | None, repeat: int | None) -> str:
    """A run's folder and log name: ``NAME``, ``-dDIM`` and ``-rREPEAT`` when given."""
    return name + ("" if dim is None else f"-d{dim}") + ("" if repeat is None else f"-r{repeat}")


def _measured(run: MeasuredRun) -> dict[str, Any]:
    fields = asdict(run)
    fields.pop("log")
    return fields


def run_ours(
    name: str,
    overrides: Sequence[str],
    corpus: str,
    work: Path,
    args: argparse.Namespace,
    logs: Path,
    dim: int | None = None,
    repeat: int | None = None,
) -> dict[str, Any]:
    """Run one latentspark configuration end to end, measure it and score its vectors.

    ``dim`` (default ``args.dim``), when given, also names the run's folder and log
    (``NAME-dDIM``), so that one run can hold several dimensions. ``repeat`` (``--repeats``)
    seeds the subsampling and the factorization with it and adds ``-rREPEAT`` to the names.
    """
    tag = _tag(name, dim, repeat)
    dim = args.dim if dim is None else dim
    root = work / tag
    seeds = [] if repeat is None else [f"factorize.seed={repeat}", f"cooccur.seed={repeat}"]
    cmd = latentspark_command(corpus, root, dim, [*overrides, *seeds])
    run = run_measured(cmd, work / f"{tag}.log", args.sample_interval)
    rec: dict[str, Any] = {
        "name": name,
        "kind": "latentspark",
        "dim": dim,
        "overrides": list(overrides),
        **({} if repeat is None else {"repeat": repeat}),
        **_measured(run),
        "log": keep_log_tail(run, logs / f"{tag}.log"),
        # the whole command: interpreter and JVM start-up, the three stages, the writes
        "time_s": run.wall_s,
    }
    if run.returncode != 0:
        return rec
    manifests = {stage: read_manifest(root, stage) for stage in ("vocab", "cooccur", "embeddings")}
    emb = manifests["embeddings"]
    rec.update(
        {
            "vocab_size": emb["vocab_size"],
            "corpus_tokens": manifests["vocab"].get("corpus_tokens"),
            "method": emb.get("method"),
            "parameters": emb.get("parameters"),
            "cooccur": {
                k: manifests["cooccur"]["config"]["cooccur"].get(k)
                for k in ("window", "weighting", "dynamic_window", "subsample")
            },
            "nonzeros": manifests["cooccur"].get("rows"),
            "stage_timings": {stage: m.get("timings", {}) for stage, m in manifests.items()},
            "words_without_cooccurrences": emb.get("dropped_words",
                                                  emb.get("words_without_cooccurrences")),
        }
    )
    words, vectors = read_vectors(Path(emb["_path"]) / "data", order_by="id")
    rec["eval"] = evaluate(words, vectors, Path(args.eval_dir),
                           gensim_analogies=not getattr(args, "fast_eval", False))
    return rec


def run_peer(
    kind: str,
    corpus: str,
    work: Path,
    args: argparse.Namespace,
    logs: Path,
    driver_memory: str,
    dim: int | None = None,
    repeat: int | None = None,
) -> dict[str, Any]:
    """Train one peer in a subprocess (``--worker``), measure it and score its vectors.

    ``dim`` (default ``args.dim``), when given, also names the peer's folder and log;
    ``repeat`` is its seed and adds ``-rREPEAT`` to them.
    """
    tag = _tag(kind, dim, repeat)
    dim = args.dim if dim is None else dim
    out = work / tag
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--worker-out",
        str(out),
        "--corpus",
        corpus,
        "--dim",
        str(dim),
        "--driver-memory",
        driver_memory,
        "--seed",
        str(repeat or 1),
    ]
    run = run_measured(cmd, work / f"{tag}.log", args.sample_interval)
    rec: dict[str, Any] = {
        "name": kind,
        "kind": kind,
        "dim": dim,
        **({} if repeat is None else {"repeat": repeat}),
        **_measured(run),
        "log": keep_log_tail(run, logs / f"{tag}.log"),
    }
    if run.returncode != 0:
        return rec
    rec.update(json.loads((out / "result.json").read_text(encoding="utf-8")))
    words, vectors = read_vectors(out / "vectors.parquet")
    rec["eval"] = evaluate(words, vectors, Path(args.eval_dir),
                           gensim_analogies=not getattr(args, "fast_eval", False))
    return rec


# ---------------------------------------------------------------------------------------------
# comparison and report


def _get(rec: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            return None
        rec = rec[key]
    return rec


#: the score columns of every table: key, heading, where the figure is in a run record
COLUMNS = (
    ("google_total", "Google total", ("eval", "google", "total")),
    ("google_semantic", "semantic", ("eval", "google", "semantic")),
    ("google_syntactic", "syntactic", ("eval", "google", "syntactic")),
    ("google_3cosmul", "3CosMul", ("eval", "google", "cosmul", "total")),
    ("wordsim353", "WordSim-353", ("eval", "wordsim353", "spearman")),
    ("wordsim353_similarity", "WS-353 sim", ("eval", "wordsim353_similarity", "spearman")),
    ("wordsim353_relatedness", "WS-353 rel", ("eval", "wordsim353_relatedness", "spearman")),
    ("simlex999", "SimLex-999", ("eval", "simlex999", "spearman")),
)


def mean_records(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per model and dimension over its repeats (``--repeats``).

    Parameters
    ----------
    runs : sequence of dict
        Run records, ``repeat`` set on each.

    Returns
    -------
    list of dict
        Records shaped as a run's, in first-seen order: the mean of every score column
        (:data:`COLUMNS`), of the times and of the peak RSS; ``spread``: each column's ``[min,
        max]``; ``repeats``: the seeds. A model with a failed repeat keeps no ``eval``, so it
        is reported as failed rather than averaged over fewer runs.
    """
    groups: dict[tuple[str, str, Any], list[dict[str, Any]]] = {}
    for r in runs:
        groups.setdefault((r["kind"], r["name"], r.get("dim")), []).append(r)
    out = []
    for rs in groups.values():
        rec = {k: v for k, v in rs[0].items() if k not in ("eval", "repeat", "log")}
        rec["repeats"] = [r.get("repeat") for r in rs]
        rec["returncode"] = next((r["returncode"] for r in rs if r["returncode"]), 0)
        for key in ("time_s", "train_s", "vocab_s", "wall_s", "peak_rss_bytes"):
            vals = [r.get(key) for r in rs]
            rec[key] = None if None in vals else float(np.mean(vals))
        if all("eval" in r for r in rs):
            ev: dict[str, Any] = {"google": {"answerable": rs[0]["eval"]["google"]["answerable"]}}
            rec["spread"] = {}
            for m, _, path in COLUMNS:
                vals = [_get(r, *path) for r in rs]
                if None in vals:
                    continue
                node = ev
                for key in path[1:-1]:
                    node = node.setdefault(key, {})
                node[path[-1]] = float(np.mean(vals))
                rec["spread"][m] = [min(vals), max(vals)]
            rec["eval"] = ev
        out.append(rec)
    return out


def run_key(r: dict[str, Any], multi_dim: bool) -> str:
    """A run's name in ``ratios`` and ``targets``: ``NAME``, or ``NAME@DIM`` with several
    dimensions in one run."""
    return f"{r['name']}@{r.get('dim')}" if multi_dim else r["name"]


def compare(runs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Differences against gensim's skip-gram and CBOW, and whether issue 11's targets are met.

    Every run is compared with the peers of its own dimension.

    Parameters
    ----------
    runs : sequence of dict
        The run records.

    Returns
    -------
    ratios : dict
        Per run other than gensim skip-gram: time and memory ratios (run / skip-gram) and
        score differences (``delta_COLUMN``: run - skip-gram; ``delta_cbow_COLUMN``: run -
        CBOW).
    targets : dict
        Per latentspark run, per column: at least as good as every gensim peer of its
        dimension (skip-gram and CBOW when run), ``all``: every column at once, and ``time``:
        whole pipeline no longer than skip-gram's build_vocab + train; ``met``: some
        configuration meets every column at every dimension it was run at, per dimension in
        ``met_by_dim``.
    """
    dims = sorted({r.get("dim") for r in runs}, key=lambda d: (d is None, d))
    multi = len(dims) > 1

    def peer(kind: str, dim: Any) -> dict[str, Any] | None:
        return next(
            (r for r in runs if r["kind"] == kind and r.get("dim") == dim and "eval" in r), None
        )

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    def diff(a: float | None, b: float | None) -> float | None:
        return round(a - b, 4) if a is not None and b is not None else None

    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {"per_config": {}, "met_by_dim": {}}
    for dim in dims:
        sg, cbow = peer("gensim", dim), peer("cbow", dim)
        gensims = [p for p in (sg, cbow) if p is not None]
        met = None
        for r in runs:
            if r.get("dim") != dim or r is sg or "eval" not in r:
                continue
            q: dict[str, Any] = {}
            if sg is not None:
                q.update(
                    {
                        "time": ratio(r.get("time_s"), sg["time_s"]),
                        "time_vs_train_only": ratio(r.get("time_s"), sg["train_s"]),
                        "wall": ratio(r["wall_s"], sg["wall_s"]),
                        "peak_rss": ratio(r["peak_rss_bytes"], sg["peak_rss_bytes"]),
                        **{f"delta_{m}": diff(_get(r, *p), _get(sg, *p)) for m, _, p in COLUMNS},
                    }
                )
            if cbow is not None and r is not cbow:
                q.update(
                    {f"delta_cbow_{m}": diff(_get(r, *p), _get(cbow, *p)) for m, _, p in COLUMNS}
                )
            ratios[run_key(r, multi)] = q
            if r["kind"] != "latentspark" or not gensims:
                continue
            t: dict[str, Any] = {}
            for m, _, p in COLUMNS:
                ours, theirs = _get(r, *p), [_get(g, *p) for g in gensims]
                t[m] = (
                    None
                    if ours is None or any(x is None for x in theirs)
                    else bool(ours >= max(theirs))
                )
            t["all"] = all(t[m] for m, _, _ in COLUMNS)
            t["time"] = bool(r["time_s"] <= sg["time_s"]) if sg is not None else None
            t["peers"] = [g["kind"] for g in gensims]
            targets["per_config"][run_key(r, multi)] = t
            met = bool(met) or t["all"]
        targets["met_by_dim"][str(dim)] = met
    ours = [r for r in runs if r["kind"] == "latentspark" and "eval" in r]
    if ours and targets["per_config"]:
        targets["best_by_google"] = run_key(
            max(ours, key=lambda r: r["eval"]["google"]["total"]), multi)
        targets["best_by_simlex999"] = run_key(
            max(ours, key=lambda r: r["eval"]["simlex999"]["spearman"]), multi)
        names = {r["name"] for r in ours}
        # one configuration that wins every column at every dimension it ran at
        targets["met"] = any(
            all(t["all"] for k, t in targets["per_config"].items()
                if k == name or k.startswith(f"{name}@"))
            for name in names
        )
    else:
        targets["met"] = None
    return ratios, targets


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _d(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.3f}"


def _x(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def _s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f} s"


def _gib(n: float | None) -> str:
    return "n/a" if not n else f"{n / 2**30:.2f} GiB"


def _label(r: dict[str, Any]) -> str:
    seed = f" (seed {r['repeat']})" if r.get("repeat") is not None else ""
    if r["kind"] == "latentspark":
        return f"latentspark `{r['name']}`{seed}"
    return {"gensim": "gensim skip-gram", "cbow": "gensim CBOW",
            "mllib": "Spark MLlib Word2Vec"}[r["kind"]] + seed


def _spread_cell(r: dict[str, Any], column: str, path: tuple[str, ...]) -> str:
    lo, hi = r.get("spread", {}).get(column, (None, None))
    return f"{_f(_get(r, *path))} ({_f(lo)}-{_f(hi)})"


def _timed(r: dict[str, Any]) -> str:
    if r["kind"] == "latentspark":
        return "whole `latentspark run` (wall)"
    if r["kind"] in ("gensim", "cbow"):
        return f"build_vocab {_s(r.get('vocab_s'))} + train {_s(r.get('train_s'))}"
    return "read text -> fit -> getVectors"


def score_cells(r: dict[str, Any]) -> list[str]:
    """A run's score columns (:data:`COLUMNS`) formatted for a table."""
    return [_f(_get(r, *path)) for _, _, path in COLUMNS]


def seed_cell(entry: dict[str, Any], method: str) -> str:
    """``rank (top answer)`` of one seed analogy by one method, for a table."""
    m = entry.get(method) or {}
    if entry.get("missing"):
        return "n/a (" + ", ".join(entry["missing"]) + " unknown)"
    top = m.get("top") or []
    return f"{m.get('rank')} ({top[0] if top else '-'})"


def seed_table(rows: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown lines: the seed analogies' ranks of each labelled evaluation."""
    lines = [
        "| model | analogy | 3CosAdd rank (top answer) | 3CosMul rank (top answer) |",
        "| --- | --- | ---: | ---: |",
    ]
    for label, ev in rows:
        for entry in ev.get("seed_analogies") or []:
            lines.append(
                f"| {label} | `{entry['analogy']}` | {seed_cell(entry, '3cosadd')} "
                f"| {seed_cell(entry, '3cosmul')} |"
            )
    return lines


SCORES_NOTE = (
    "*Google*: 3CosAdd over questions whose four words are in the vocabulary (the first "
    f"{RESTRICT_VOCAB:,} words), as gensim's `evaluate_word_analogies` counts; semantic = the "
    "first five sections. *3CosMul*: Levy and Goldberg (2014), cosines shifted to [0, 1], "
    "eps 0.001, the question words excluded, the same questions and candidates, scored by "
    "the benchmark's own numpy code (whose 3CosAdd agrees with gensim's). WordSim-353 and "
    "SimLex-999: Spearman, pairs with unknown words skipped. *WS-353 sim / rel*: the "
    "similarity (203 pairs) and relatedness (252 pairs) subsets of WordSim-353 of Agirre et "
    "al. (2009), from `benchmarks/data/wordsim353_agirre_similarity.tsv` (their similarity "
    "list; relatedness = its unrelated pairs plus the WordSim-353 pairs it does not list), "
    "scored with WordSim-353's own scores. *Seed analogies*: the expected word's rank among "
    "the first 300,000 words, question words excluded (1 = the answer)."
)


def render_markdown(result: dict[str, Any]) -> str:
    """A Markdown report: the table, differences against gensim, the targets, the seed
    analogies and the command.

    Parameters
    ----------
    result : dict
        As written to ``quality.json``.

    Returns
    -------
    str
    """
    p, m = result["params"], result["machine"]
    dims = p.get("dims") or [p["dim"]]
    multi = len(dims) > 1
    heads = " | ".join(h for _, h, _ in COLUMNS)
    lines = [
        f"# Embedding quality benchmark ({result['date'][:10]})",
        "",
        f"Corpus `{p['corpus']}`"
        + (f" (first {p['lines']:,} lines)" if p["lines"] else "")
        + f", dimension {', '.join(map(str, dims))}, min count {MIN_COUNT}; {m['nproc']} "
        f"cores, {_gib(m['total_ram_bytes'])} RAM, load average at start "
        f"{m['load_average_at_start'][0]}; Python {m['python']}, "
        + ", ".join(
            f"{k} {v}"
            for k, v in m["versions"].items()
            if k in ("gensim", "pyspark", "numpy", "latentspark")
        )
        + ".",
        "",
        f"| model | dim | time | timed | wall | peak RSS | vocabulary | answerable | {heads} |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(COLUMNS),
    ]
    for r in result["runs"]:
        if "eval" not in r:
            lines.append(
                f"| {_label(r)} | {r.get('dim', p['dim'])} | failed (exit {r['returncode']}) | "
                f"| {_s(r['wall_s'])} | {_gib(r['peak_rss_bytes'])} | | |" + " |" * len(COLUMNS)
            )
            continue
        g = r["eval"]["google"]
        lines.append(
            f"| {_label(r)} | {r.get('dim', p['dim'])} | {_s(r['time_s'])} | {_timed(r)} "
            f"| {_s(r['wall_s'])} | {_gib(r['peak_rss_bytes'])} | {r['vocab_size']:,} "
            f"| {g['answerable']:,} | " + " | ".join(score_cells(r)) + " |"
        )
    means = result.get("means")
    if means:
        lines += [
            "",
            f"Means over {p['repeats']} repeats, seeds 1 to {p['repeats']} (each score: the "
            "mean, then the lowest and highest of the repeats); the comparisons and targets "
            "below are on these means:",
            "",
            f"| model | dim | time | peak RSS | {heads} |",
            "| --- | ---: | ---: | ---: |" + " ---: |" * len(COLUMNS),
        ]
        for r in means:
            cells = (["failed"] * len(COLUMNS) if "eval" not in r else
                     [_spread_cell(r, c, path) for c, _, path in COLUMNS])
            lines.append(f"| {_label(r)} | {r.get('dim')} | {_s(r.get('time_s'))} | "
                         f"{_gib(r.get('peak_rss_bytes'))} | " + " | ".join(cells) + " |")
    by_key = {run_key(r, multi): r for r in (means or result["runs"])}
    if result["ratios"]:
        lines += [
            "",
            "Against gensim at the same dimension (ratios: model / skip-gram; score "
            "differences: model - skip-gram / model - CBOW):",
            "",
            f"| model | dim | time | time vs skip-gram train only | peak RSS | {heads} |",
            "| --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(COLUMNS),
        ]
        for key, q in result["ratios"].items():
            r = by_key[key]
            cells = [
                f"{_d(q.get(f'delta_{c}'))} / {_d(q.get(f'delta_cbow_{c}'))}"
                for c, _, _ in COLUMNS
            ]
            lines.append(
                f"| {_label(r)} | {r.get('dim')} | {_x(q.get('time'))} "
                f"| {_x(q.get('time_vs_train_only'))} | {_x(q.get('peak_rss'))} | "
                + " | ".join(cells) + " |"
            )
    t = result["targets"]
    if t.get("per_config"):
        yes = {True: "yes", False: "no", None: "n/a"}
        lines += [
            "",
            "Targets of issue 11: at least as good as every gensim peer of the same dimension "
            "(skip-gram and CBOW when both ran) on every column at once:",
            "",
            f"| configuration | dim | peers | {heads} | every column | time <= skip-gram |",
            "| --- | ---: | --- |" + " --- |" * (len(COLUMNS) + 2),
        ]
        for key, c in t["per_config"].items():
            lines.append(
                f"| `{by_key[key]['name']}` | {by_key[key].get('dim')} "
                f"| {', '.join(c['peers'])} | "
                + " | ".join(yes[c[col]] for col, _, _ in COLUMNS)
                + f" | **{yes[c['all']]}** | {yes[c['time']]} |"
            )
        lines += [
            "",
            f"Met by one configuration at every dimension: **{yes[t['met']]}** (best on "
            f"Google: `{t.get('best_by_google')}`, on SimLex-999: "
            f"`{t.get('best_by_simlex999')}`).",
        ]
    seeds = [
        (f"{_label(r)}" + (f" ({r.get('dim')})" if multi else ""), r["eval"])
        for r in result["runs"]
        if "eval" in r
    ]
    if any(ev.get("seed_analogies") for _, ev in seeds):
        lines += ["", "Seed analogies:", "", *seed_table(seeds)]
    lines += ["", "Configurations:", ""]
    for r in result["runs"]:
        if (r["kind"] == "latentspark" and (not multi or r.get("dim") == dims[0])
                and r.get("repeat") in (None, 1)):
            lines.append(f"- `{r['name']}`: `{' '.join(r['overrides']) or '(defaults)'}`")
    lines += [
        "",
        "*Peers*: gensim `Word2Vec(vector_size=DIM, window=5, min_count=5, sg=1, epochs=5, "
        "workers=2, seed=1)` (skip-gram, negative sampling 5, subsampling 1e-3: its "
        "defaults) and the same with `sg=0` (CBOW, the mean of the context vectors), "
        "sentences = the lines streamed from the gzip files. Spark MLlib "
        "`Word2Vec(vectorSize=DIM, windowSize=5, minCount=5, maxIter=1, numPartitions=2, "
        "seed=1)` on local[2] (skip-gram with hierarchical softmax, no subsampling; lines "
        "over 1,000 tokens are cut into pieces by its `maxSentenceLength`): `numPartitions=2` "
        "so that both cores train (each partition trains its own copy of the vectors on its "
        "share of the text and the copies are merged after each iteration; MLlib advises few "
        "partitions for accuracy, and 2 is the fewest that uses both cores, as gensim's 2 "
        "workers do); `maxIter=1`, MLlib's default, because each iteration is another full "
        "pass at MLlib's pace (5, as gensim's epochs, would take about 5 times as long). "
        "Its driver heap "
        f"({p['mllib_driver_memory']}) is the one latentspark takes on local Spark.",
        "",
        "*Time*: latentspark, the wall time of the whole `python -m latentspark run` subprocess "
        "(interpreter and JVM start-up, vocabulary, co-occurrences, factorization, Parquet "
        "written); gensim, `build_vocab` plus `train` measured in its process (the corpus "
        "streamed from the gzip files on each of its 6 passes; interpreter start-up and "
        "imports excluded); MLlib, from `spark.read.text` to the vectors in the driver, "
        "measured in its process (JVM start-up and session excluded; the word count that "
        "orders its vectors excluded). *Wall*: each subprocess from start to exit, writing "
        "the vectors included. *Peak RSS*: summed over the subprocess and all its descendants "
        "(JVM, Python workers), sampled every "
        f"{p['sample_interval']} s. " + SCORES_NOTE
        + ("" if not means else
           f" *Repeats*: every model ran {p['repeats']} times, with seeds 1 to "
           f"{p['repeats']}: gensim's and MLlib's `seed`, latentspark's `factorize.seed` "
           "(the random start) and `cooccur.seed` (the subsampling draws)."),
        "",
        "Made with:",
        "",
        "```",
        result["command"],
        "```",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# command line


def parse_config(text: str) -> tuple[str, list[str]]:
    """Parse ``NAME=KEY=VALUE KEY=VALUE ...`` (the value of ``--ours``).

    Examples
    --------
    >>> parse_config("svd=factorize.method=ppmi_svd cooccur.window=5")
    ('svd', ['factorize.method=ppmi_svd', 'cooccur.window=5'])
    """
    name, eq, settings = text.partition("=")
    if not eq or not _NAME_RE.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f'--ours {text!r}: expected NAME="section.key=value ..." with NAME made of '
            "letters, digits, - and _"
        )
    if name in PEERS:
        raise argparse.ArgumentTypeError(f"--ours {text!r}: {name} is the name of a peer")
    overrides = shlex.split(settings)
    for item in overrides:
        key = item.partition("=")[0]
        if "=" not in item or "." not in key:
            raise argparse.ArgumentTypeError(f"--ours {name}: {item!r} is not section.key=value")
        if key.startswith(FIXED_KEYS):
            raise argparse.ArgumentTypeError(
                f"--ours {name}: {key} is fixed by the benchmark (the same for every tool)"
            )
    return name, overrides


def parse_dims(text: str) -> list[int]:
    """Parse ``--dims``: positive integers separated by commas, in the given order.

    Examples
    --------
    >>> parse_dims("100,300")
    [100, 300]
    """
    try:
        dims = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--dims {text!r}: expected N,N,...") from None
    if not dims or min(dims) < 1 or len(set(dims)) != len(dims):
        raise argparse.ArgumentTypeError(f"--dims {text!r}: distinct positive integers")
    return dims


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of this script."""
    p = argparse.ArgumentParser(
        description="Compare latentspark's embeddings with gensim's skip-gram and Spark "
        "MLlib's Word2Vec trained on the same text at the same dimension: time, peak memory, "
        "Google analogies, WordSim-353, SimLex-999. Run it alone on the machine."
    )
    p.add_argument(
        "--corpus",
        default=str(DEFAULT_CORPUS),
        help="pre-tokenised corpus (one paragraph per line, tokens separated by "
        "spaces; a folder, file or glob); default: %(default)s",
    )
    p.add_argument(
        "--dim",
        type=int,
        default=100,
        help="vector dimension for every model; default: %(default)s",
    )
    p.add_argument(
        "--dims",
        type=parse_dims,
        default=None,
        metavar="N,N,...",
        help="several dimensions in one run, e.g. 100,300: every model (latentspark "
        "configurations and peers) at each, compared with the peers of its own dimension; "
        "replaces --dim",
    )
    p.add_argument(
        "--ours",
        action="append",
        type=parse_config,
        default=[],
        metavar='NAME="KEY=VALUE ..."',
        help="a latentspark configuration: a name and --set overrides, e.g. "
        'glove="factorize.method=glove cooccur.window=10 factorize.x_max=10" '
        "(repeatable); default: " + "; ".join(f'{k}="{v}"' for k, v in DEFAULT_OURS.items()),
    )
    p.add_argument(
        "--skip",
        default="",
        help="comma-separated peers not to run: gensim (skip-gram), cbow, mllib",
    )
    p.add_argument(
        "--lines",
        type=int,
        default=0,
        help="use only the first N lines of the corpus (copied to a scratch gzip "
        "file), for quick checks; default: all",
    )
    p.add_argument(
        "--eval-dir",
        default=str(DEFAULT_EVAL),
        help="folder with questions-words.txt, wordsim353.tsv, simlex999.txt; default: %(default)s",
    )
    p.add_argument(
        "--out-dir",
        default=str(DEFAULT_OUT),
        help="folder for quality.json, quality.md and quality_logs/; default: %(default)s",
    )
    p.add_argument(
        "--scratch",
        default=None,
        help="folder in which the run's temporary folder (corpus slice, run roots, "
        "vectors, full logs) is made; default: the system's temporary folder",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder (it is removed at the end by default)",
    )
    p.add_argument(
        "--sample-interval",
        type=float,
        default=0.2,
        help="seconds between RSS samples; default: %(default)s",
    )
    p.add_argument(
        "--fast-eval",
        action="store_true",
        help="take 3CosAdd from this script's numpy scoring instead of gensim's "
        "evaluate_word_analogies (the same answers, much faster)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=1,
        metavar="N",
        help="run every model N times, with seeds 1..N (latentspark: factorize.seed and "
        "cooccur.seed; the peers: their own seed), and compare the means over the repeats, "
        "each column's range reported beside it; default: %(default)s",
    )
    internal = p.add_argument_group("internal (used by the benchmark to run a peer)")
    internal.add_argument("--worker", choices=PEERS, help="train this peer in this process")
    internal.add_argument("--seed", type=int, default=1, help="the peer's seed")
    internal.add_argument("--worker-out", help="the worker's output folder")
    internal.add_argument(
        "--driver-memory", default="1g", help="spark.driver.memory of the MLlib worker"
    )
    return p


def bench_main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run every model, score them, compare them with gensim and write the report."""
    from latentspark.session import local_driver_memory

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    ours = args.ours or [parse_config(f"{k}={v}") for k, v in DEFAULT_OURS.items()]
    dims = args.dims or [args.dim]
    multi = len(dims) > 1
    args.dim = dims[0]  # a single --dims N is --dim N
    out = Path(args.out_dir)
    logs = out / "quality_logs"
    info = machine_info()
    info["versions"]["gensim"] = metadata.version("gensim")
    if info["load_average_at_start"][0] > 0.5:
        print(
            f"warning: load average {info['load_average_at_start']}: the benchmark must "
            "run alone on the machine, its figures will be off",
            file=sys.stderr,
        )
    # every child (and Spark's Python workers) must import this checkout's latentspark
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # MLlib gets the heap latentspark gives itself on local Spark
    driver_memory = local_driver_memory()

    if args.scratch:
        Path(args.scratch).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-quality-", dir=args.scratch))
    corpus = args.corpus
    result: dict[str, Any] = {
        "benchmark": "quality",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shell_join([sys.executable, sys.argv[0], *argv]),
        "cwd": os.getcwd(),
        "params": {
            "corpus": args.corpus,
            "lines": args.lines,
            "dim": args.dim,
            "dims": dims,
            "min_count": MIN_COUNT,
            "master": MASTER,
            "ours": {name: o for name, o in ours},
            "skip": sorted(skip),
            "eval_dir": args.eval_dir,
            "restrict_vocab": RESTRICT_VOCAB,
            "sample_interval": args.sample_interval,
            "repeats": args.repeats,
            "mllib_driver_memory": driver_memory,
            "scratch": str(work),
        },
        "machine": info,
        "git": git_state(),
        "runs": [],
    }
    runs: list[dict[str, Any]] = result["runs"]
    steps = (len(ours) + len([k for k in PEERS if k not in skip])) * len(dims) * args.repeats
    # with one repeat the names and the seeds stay as they were (seed 1, no -r suffix)
    repeats = [None] if args.repeats == 1 else list(range(1, args.repeats + 1))
    step = 0
    try:
        if args.lines:
            files = corpus_files(args.corpus, "")
            sliced = work / "corpus" / "part-00000.txt.gz"
            result["params"]["slice"] = write_slice(files, args.lines, sliced)
            corpus = str(sliced.parent)
            print(f"corpus slice: {result['params']['slice']} -> {corpus}", flush=True)
        for dim in dims:
            # one dimension: the run's folders keep their names (NAME, not NAME-dDIM)
            at = dim if multi else None
            for name, overrides in ours:
                for r in repeats:
                    step += 1
                    print(f"[{step}/{steps}] latentspark {name}, dimension {dim}"
                          f"{'' if r is None else f', seed {r}'}: {' '.join(overrides)} ...",
                          flush=True)
                    runs.append(run_ours(name, overrides, corpus, work, args, logs, dim=at,
                                         repeat=r))
                    runs[-1]["dim"] = dim
                    _progress(runs[-1])
            for kind in PEERS:
                if kind in skip:
                    continue
                for r in repeats:
                    step += 1
                    print(f"[{step}/{steps}] {kind}, dimension {dim}"
                          f"{'' if r is None else f', seed {r}'} ...", flush=True)
                    runs.append(run_peer(kind, corpus, work, args, logs, driver_memory, dim=at,
                                         repeat=r))
                    runs[-1]["dim"] = dim
                    _progress(runs[-1])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")

    if args.repeats > 1:
        result["means"] = mean_records(runs)
    result["ratios"], result["targets"] = compare(result.get("means") or runs)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = render_markdown(result)
    (out / "quality.md").write_text(markdown, encoding="utf-8")
    print()
    print(markdown)
    print(f"wrote {out / 'quality.json'} and {out / 'quality.md'}")
    return 0 if all(r["returncode"] == 0 for r in runs) else 1


def _progress(r: dict[str, Any]) -> None:
    if r["returncode"] != 0:
        print(
            f"      FAILED with exit code {r['returncode']} after {_s(r['wall_s'])}; "
            f"see {r['log']}",
            flush=True,
        )
        return
    g = r["eval"]["google"]
    print(
        f"      {_s(r['time_s'])} ({_s(r['wall_s'])} wall), peak RSS "
        f"{_gib(r['peak_rss_bytes'])}, {r['vocab_size']:,} words; Google {_f(g['total'])} "
        f"of {g['answerable']:,}, 3CosMul {_f(g['cosmul']['total'])}, WordSim-353 "
        f"{_f(r['eval']['wordsim353']['spearman'])}, SimLex-999 "
        f"{_f(r['eval']['simlex999']['spearman'])}",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--worker``, one peer); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dim < 1:
        parser.error("--dim must be at least 1")
    if args.lines < 0:
        parser.error("--lines must not be negative")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.worker:
        if not args.worker_out:
            parser.error("--worker needs --worker-out")
        return worker_main(args)
    unknown = {s.strip() for s in args.skip.split(",") if s.strip()} - set(PEERS)
    if unknown:
        parser.error(f"--skip: unknown peer(s) {sorted(unknown)}; allowed: {', '.join(PEERS)}")
    names = [name for name, _ in args.ours]
    if len(set(names)) != len(names):
        parser.error(f"--ours: configuration names must differ, got {names}")
    return bench_main(args, argv)


if __name__ == "__main__":
    sys.exit(main())
