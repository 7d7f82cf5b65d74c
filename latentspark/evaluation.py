"""Evaluation of embeddings: analogies, word similarity, neighbours and Annoy's recall, on Spark.

The question and pair files are small (evaluation sets, not corpora): the driver parses them,
looks their words up among the first ``restrict_vocab`` words of the index's id-to-word table
(bounded by that setting) and hands Spark a table of word ids. Each task scores its Arrow
batches with the numpy kernels of :mod:`latentspark.search`, over the index files that its
Python worker has copied, verified and mapped once (:func:`latentspark.index.open_index`).

Vocabulary rules follow gensim's ``KeyedVectors.evaluate_word_analogies`` and
``evaluate_word_pairs``: only the first ``restrict_vocab`` words (by frequency) are known;
with ``case_insensitive`` words are compared upper-cased and a word with several case variants
takes the most frequent one's vector; a question or pair with an unknown word is out of
vocabulary, and ``evaluate.oov`` says whether it is skipped (gensim's default) or counted wrong
(similarity 0 for pairs: gensim's ``dummy4unknown``). Unlike gensim, a malformed line (not four
words, a question before any section header, a pair without a numeric score) is reported with
its file and line number and skipped, or rejected when ``evaluate.strict`` is set.

Sections whose name starts with ``gram`` are syntactic, the others semantic (in the Google
file: the first five sections are semantic).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from latentspark import schemas
from latentspark.config import Config
from latentspark.errors import ArtifactError, ConfigError, InputError, LatentSparkError
from latentspark.index import REFUSED, IndexSpec, open_index
from latentspark.workers import arrow_task

logger = logging.getLogger(__name__)

METHODS = {"both": ("3cosadd", "3cosmul"), "3cosadd": ("3cosadd",), "3cosmul": ("3cosmul",)}

#: Where exact neighbour search stops being faster than Annoy, in words x dimensions, as
#: measured by ``benchmarks/neighbours.py`` (results/neighbours.md) with Annoy at ``search_k``
#: 15,000 (recall@10 0.99): exact search costs time in proportion to the vocabulary per word,
#: Annoy about a constant, and they met at 2.3M words of GloVe's 50 dimensions (115M) and
#: 0.83M words of dimension 100 (83M); the smaller one, rounded down. With the cache-sized
#: tiles they meet later (2.5M x 50, 1.2M x 100): the bound is kept on the safe side.
EXACT_MAX_CELLS = 80_000_000

#: Above this many words x dimensions, ``auto`` exports neighbours with the inverted file
#: (``ivf``) instead of exact search: below it exact is both exact and about as fast, since
#: each worker first fits its clusters (benchmarks/neighbours.py, results/neighbours.md).
IVF_MIN_CELLS = 4_000_000

#: Above this, ``auto`` goes to Annoy: ivf scores a fixed share of the words per query, so
#: its cost per word still grows with the vocabulary, at about a fifth of exact's (the share
#: of scores it computes, :data:`IVF_PROBE_SHARE` plus the larger clusters being probed more
#: often): an estimate, five times exact's measured crossover with Annoy, not a measurement.
IVF_MAX_CELLS = 5 * EXACT_MAX_CELLS

#: ``evaluate.ivf_probes = 0``: this share of the clusters is probed (recall@10 about 0.99 on
#: GloVe 6B 50d and the corpus24m model, benchmarks/results/neighbours.md)
IVF_PROBE_SHARE = 0.15


def search_mode(cfg: Config, spec: IndexSpec, neighbours: bool = True) -> str:
    """The search mode ``evaluate.mode`` stands for, ``"exact"``, ``"annoy"`` or ``"ivf"``.

    ``auto`` is exact for analogies and pairs (``neighbours=False``: the mode whose answers
    equal gensim's; ``ivf`` too is exact there) and, for neighbour lists and the bulk export,
    exact while the index's words x dimensions are at most :data:`IVF_MIN_CELLS`, the
    inverted file (``ivf``) up to :data:`IVF_MAX_CELLS`, Annoy above.

    Examples
    --------
    >>> from latentspark.config import Config
    >>> small = IndexSpec("", "", dim=50, shards=2, vocab_size=20_000, files={})
    >>> glove = IndexSpec("", "", dim=50, shards=2, vocab_size=400_000, files={})
    >>> big = IndexSpec("", "", dim=300, shards=2, vocab_size=3_000_000, files={})
    >>> search_mode(Config(), small), search_mode(Config(), glove), search_mode(Config(), big)
    ('exact', 'ivf', 'annoy')
    >>> search_mode(Config(), glove, neighbours=False)
    'exact'
    """
    mode = cfg.evaluate.mode
    if not neighbours:
        return "exact" if mode in ("auto", "ivf") else mode
    if mode != "auto":
        return mode
    cells = spec.vocab_size * spec.dim
    return "exact" if cells <= IVF_MIN_CELLS else "ivf" if cells <= IVF_MAX_CELLS else "annoy"


def list_mode(cfg: Config, spec: IndexSpec, bulk: bool) -> str:
    """The mode of a neighbour search: :func:`search_mode`, except that ``auto`` searches a
    few listed words (``bulk=False``) exactly where it would pick ivf for the whole
    vocabulary: fitting the clusters would cost more than it saves."""
    mode = search_mode(cfg, spec)
    return "exact" if mode == "ivf" and cfg.evaluate.mode == "auto" and not bulk else mode


def ivf_plan(cfg: Config, words: int) -> tuple[int, int]:
    """Clusters and probes of ivf mode over ``words`` candidates, defaults resolved.

    ``evaluate.ivf_clusters = 0`` gives about the square root of the words (at least 1, at most
    the words); ``evaluate.ivf_probes = 0`` gives :data:`IVF_PROBE_SHARE` of the clusters;
    probes never exceed clusters.

    Examples
    --------
    >>> ivf_plan(Config(), 400_000)
    (632, 95)
    """
    e = cfg.evaluate
    clusters = e.ivf_clusters or int(round(words ** 0.5))
    clusters = max(1, min(clusters, words))
    probes = e.ivf_probes or int(np.ceil(IVF_PROBE_SHARE * clusters))
    return clusters, max(1, min(probes, clusters))


# ---------------------------------------------------------------------------------------------
# reading the evaluation sets


@dataclass(frozen=True)
class Problem:
    """A malformed line of an evaluation file."""

    file: str
    line: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}: {self.text!r}"


@dataclass
class Parsed:
    """Lines read from evaluation files: rows of fields, plus the malformed lines."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_analogies(text: str, name: str, into: Parsed | None = None) -> Parsed:
    """Read a ``questions-words.txt`` style file: ``: section`` headers, then ``a b c d`` lines.

    Parameters
    ----------
    text : str
        The file's content.
    name : str
        The file's name, for reports.
    into : Parsed, optional
        Append to these results (several files make one evaluation).

    Returns
    -------
    Parsed
        Rows with ``file, section, line, a, b, c, expected`` (line numbers start at 1).

    Examples
    --------
    >>> p = parse_analogies(": capitals\\nAthens Greece Oslo Norway\\nbad line\\n", "q.txt")
    >>> p.rows[0]["section"], p.rows[0]["expected"], str(p.problems[0])
    ('capitals', 'Norway', "q.txt:3: expected 4 words, found 2: 'bad line'")
    """
    out = into if into is not None else Parsed()
    section = None
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line[1:].strip()
            if not section:
                out.problems.append(Problem(name, no, "section header without a name", raw))
                section = None
            continue
        words = line.split()
        if section is None:
            out.problems.append(Problem(name, no, "question before any ': section' header",
                                        raw))
        elif len(words) != 4:
            out.problems.append(Problem(name, no, f"expected 4 words, found {len(words)}", raw))
        else:
            out.rows.append({"file": name, "section": section, "line": no,
                             "a": words[0], "b": words[1], "c": words[2], "expected": words[3]})
    return out


def parse_pairs(text: str, name: str, into: Parsed | None = None) -> Parsed:
    """Read a word-pair file: ``word1 word2 score`` per line, tab or space separated.

    Lines starting with ``#`` and blank lines are skipped. A line with tabs is split on tabs
    (so a word may contain a space), any other on runs of spaces.

    Returns
    -------
    Parsed
        Rows with ``file, line, word1, word2, gold``.

    Examples
    --------
    >>> p = parse_pairs("# w1 w2 score\\ntiger\\tcat\\t7.35\\nold new x\\n", "ws.tsv")
    >>> p.rows[0]["gold"], str(p.problems[0])
    (7.35, "ws.tsv:3: score 'x' is not a number: 'old new x'")
    """
    out = into if into is not None else Parsed()
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else line.split()
        if len(fields) != 3 or not fields[0] or not fields[1]:
            out.problems.append(Problem(name, no, f"expected 3 fields (word, word, score), "
                                                  f"found {len(fields)}", raw))
            continue
        try:
            gold = float(fields[2])
        except ValueError:
            out.problems.append(Problem(name, no, f"score {fields[2]!r} is not a number", raw))
            continue
        if not np.isfinite(gold):
            out.problems.append(Problem(name, no, f"score {fields[2]!r} is not finite", raw))
            continue
        out.rows.append({"file": name, "line": no, "word1": fields[0], "word2": fields[1],
                         "gold": gold})
    return out


# ---------------------------------------------------------------------------------------------
# words to ids, with gensim's restrict_vocab and case rules


class Lexicon:
    """Look words up among the first ``restrict`` words of the vocabulary.

    Parameters
    ----------
    words : list of str
        The vocabulary in id order (most frequent first).
    restrict : int
        Only the first ``restrict`` words are known.
    case_insensitive : bool
        Compare upper-cased words; the first (most frequent) variant's id represents them all.

    Examples
    --------
    >>> lex = Lexicon(["the", "King", "king", "queen"], restrict=3, case_insensitive=True)
    >>> lex.id("KING"), lex.variants("king"), lex.id("queen")
    (1, [1, 2], None)
    """

    def __init__(self, words: list[str], restrict: int, case_insensitive: bool) -> None:
        self.case_insensitive = case_insensitive
        self._ids: dict[str, list[int]] = {}
        for i, w in enumerate(words[:restrict]):
            self._ids.setdefault(self.key(w), []).append(i)

    def key(self, word: str) -> str:
        """The form under which ``word`` is compared."""
        return word.upper() if self.case_insensitive else word

    def id(self, word: str) -> int | None:
        """The id whose vector represents ``word``, or ``None`` if it is unknown."""
        ids = self._ids.get(self.key(word))
        return ids[0] if ids else None

    def variants(self, word: str) -> list[int]:
        """Ids of every known word that compares equal to ``word``."""
        return self._ids.get(self.key(word), [])


def question_table(parsed: Parsed, lex: Lexicon) -> pa.Table:
    """The questions with their word ids, excluded answers and accepted answers.

    ``exclude`` holds the ids that may not answer (the question words and their case variants,
    as gensim ignores them), ``accept`` the ids counted correct (the expected word's variants).
    """
    cols: dict[str, list] = {k: [] for k in (
        "qid", "file", "section", "line", "a", "b", "c", "expected", "answerable", "ia", "ib",
        "ic", "exclude", "accept")}
    for qid, r in enumerate(parsed.rows):
        ids = [lex.id(r[k]) for k in ("a", "b", "c", "expected")]
        ok = all(i is not None for i in ids)
        for k in ("file", "section", "line", "a", "b", "c", "expected"):
            cols[k].append(r[k])
        cols["qid"].append(qid)
        cols["answerable"].append(ok)
        cols["ia"].append(ids[0] if ok else -1)
        cols["ib"].append(ids[1] if ok else -1)
        cols["ic"].append(ids[2] if ok else -1)
        cols["exclude"].append(sorted({i for k in ("a", "b", "c") for i in lex.variants(r[k])})
                               if ok else [])
        cols["accept"].append(lex.variants(r["expected"]) if ok else [])
    types = {"qid": pa.int64(), "line": pa.int32(), "answerable": pa.bool_(), "ia": pa.int32(),
             "ib": pa.int32(), "ic": pa.int32(), "exclude": pa.list_(pa.int32()),
             "accept": pa.list_(pa.int32())}
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in cols.items()})


# ---------------------------------------------------------------------------------------------
# the Spark jobs


ANALOGY_SCHEMA = schemas.ANALOGIES
NEIGHBOUR_SCHEMA = schemas.NEIGHBOURS


def _flat(lists: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """``(row, value)`` pairs of a list column."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    offsets = lists.offsets.to_numpy()
    rows = np.repeat(np.arange(len(lists)), np.diff(offsets))
    values = lists.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    return rows, values


def _answers(ix, ids: np.ndarray, scores: np.ndarray, ran: np.ndarray):
    """Words, scores and null masks of answer ids (null where not run or no answer)."""
    import pyarrow.compute as pc

    valid = ran & (ids >= 0)
    words = pc.if_else(pa.array(valid), ix.word(np.where(valid, ids, 0)),
                       pa.scalar(None, pa.string()))
    return words, pa.array(scores, pa.float32(), mask=~valid)


def _analogy_kernel(spec: IndexSpec, mode: str, methods: tuple[str, ...], restrict: int,
                    candidates: int, block_rows: int, chunk: int):
    from latentspark import search

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ix = open_index(spec, annoy=mode == "annoy")
        cosmul = "3cosmul" in methods
        for batch in batches:
            ok = batch.column("answerable").to_numpy(zero_copy_only=False)
            sel = np.flatnonzero(ok)
            a, b, c = (batch.column(k).to_numpy()[sel].astype(np.int64) for k in ("ia", "ib",
                                                                                  "ic"))
            ex_rows, ex_ids = _flat(batch.column("exclude").filter(pa.array(ok)))
            if mode == "exact":
                res = search.analogies_exact(ix, a, b, c, ex_rows, ex_ids, restrict, cosmul,
                                             block_rows, chunk)
            else:
                res = search.analogies_annoy(ix, a, b, c, ex_rows, ex_ids, restrict, cosmul,
                                             candidates)
            acc_rows, acc_ids = _flat(batch.column("accept"))
            n = batch.num_rows
            cols = {name: batch.column(name) for name in ANALOGY_SCHEMA.names[:9]}
            for method, best, score in (("3cosadd", res.add, res.add_score),
                                        ("3cosmul", res.mul, res.mul_score)):
                pred = np.full(n, -1, np.int64)
                val = np.full(n, -np.inf, np.float32)
                pred[sel], val[sel] = best, score
                ran = ok if method in methods else np.zeros(n, bool)
                correct = np.zeros(n, bool)
                hit = pred[acc_rows] == acc_ids
                correct[acc_rows[hit]] = True
                cols[f"answer_{method}"], cols[f"score_{method}"] = _answers(ix, pred, val, ran)
                cols[f"correct_{method}"] = pa.array(correct & ran, pa.bool_(),
                                                     mask=None if method in methods
                                                     else np.ones(n, bool))
            yield pa.RecordBatch.from_pydict(cols, schema=ANALOGY_SCHEMA)

    return run


def _pair_kernel(spec: IndexSpec):
    from latentspark import search

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ix = open_index(spec, annoy=False)
        for batch in batches:
            ia = batch.column("ia").to_numpy().astype(np.int64)
            ok = ia >= 0
            ib = batch.column("ib").to_numpy().astype(np.int64)
            sim = np.full(ia.size, np.nan, np.float32)
            sim[ok] = search.pair_similarity(ix, ia[ok], ib[ok])
            yield pa.RecordBatch.from_arrays(
                [batch.column("pid"), pa.array(sim, pa.float32(), mask=~ok)],
                names=["pid", "similarity"])

    return run


#: each Python worker's fitted clusters: ``(index cache key, shard or -1, clusters, seed)``;
#: one entry (the index, or the target shard of a sharded search) so the copy stays bounded
_CLUSTERS: dict[tuple[str, int, int, int], Any] = {}


def clusters_of(key: tuple[str, int, int, int], vectors, gids: np.ndarray):
    """This worker's clusters of ``vectors`` (fitted once per key, see :data:`_CLUSTERS`)."""
    from latentspark import search

    if key not in _CLUSTERS:
        _CLUSTERS.clear()
        t0 = time.perf_counter()
        _CLUSTERS[key] = search.build_clusters(vectors, gids, key[2], key[3])
        logger.info("ivf: %d clusters of %d words fitted in %.2f s", key[2], gids.size,
                    time.perf_counter() - t0)
    return _CLUSTERS[key]


def _neighbour_kernel(spec: IndexSpec, mode: str, k: int, candidates: int, block_rows: int,
                      chunk: int, recall: bool = False, ivf: tuple[int, int, int] = (1, 1, 1)):
    """Neighbour lists (``word, rank, neighbour, similarity`` rows) or, with ``recall``, one
    ``id, recall`` row per word comparing Annoy with exact search. ``ivf``: clusters, probes
    and seed of ivf mode."""
    from latentspark import search

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        ix = open_index(spec, annoy=recall or mode == "annoy")
        if mode == "ivf":
            everything = np.arange(spec.vocab_size, dtype=np.int64)
            cl = clusters_of((spec.cache_key(), -1, ivf[0], ivf[2]), ix.unit(everything),
                             everything)
        for batch in batches:
            ids = batch.column("id").to_numpy().astype(np.int64)
            if recall:
                exact, _ = search.neighbours_exact(ix, ids, k, block_rows, chunk)
                approx, _ = search.neighbours_annoy(ix, ids, k, candidates)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(ids), pa.array(search.recall_at_k(exact, approx))],
                    names=["id", "recall"])
                continue
            if mode == "exact":
                nbr, sim = search.neighbours_exact(ix, ids, k, block_rows, chunk)
            elif mode == "ivf":
                nbr, sim = search.neighbours_ivf(cl, ix.unit(ids), ids, k, ivf[1], chunk)
            else:
                nbr, sim = search.neighbours_annoy(ix, ids, k, candidates)
            valid = (nbr >= 0).reshape(-1)
            word = np.repeat(ids, k)[valid]
            rank = np.tile(np.arange(1, k + 1, dtype=np.int32), ids.size)[valid]
            yield pa.RecordBatch.from_arrays(
                [ix.word(word), pa.array(rank), ix.word(nbr.reshape(-1)[valid]),
                 pa.array(sim.reshape(-1)[valid], pa.float32())], schema=NEIGHBOUR_SCHEMA)

    return run


@contextmanager
def index_errors() -> Iterator[None]:
    """Turn a loader refusal inside a Spark task into the :class:`ArtifactError` it was."""
    try:
        yield
    except LatentSparkError:
        raise
    except Exception as exc:
        found = re.search(rf"{REFUSED}: ([^\n]*)", str(exc))
        if found:
            raise ArtifactError(f"{REFUSED}: {found.group(1).strip()}") from None
        raise


def _partitions(spark, cfg: Config, rows: int, per_task: int) -> int:
    wanted = cfg.evaluate.partitions or spark.sparkContext.defaultParallelism
    return int(max(1, min(wanted, -(-rows // per_task))))


def _read_files(fs, paths: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        if not fs.exists(path):
            raise InputError(f"evaluate.{what} file {path} does not exist")
        try:
            # utf-8-sig: a BOM would glue itself to the first header and lose that section
            out.append((path, fs.read_bytes(path).decode("utf-8-sig")))
        except UnicodeDecodeError as exc:
            raise InputError(f"evaluate.{what} file {path} is not UTF-8: {exc}") from None
    return out


def _report_problems(problems: list[Problem], strict: bool) -> None:
    for p in problems:
        logger.warning("malformed line skipped: %s", p)
    if problems and strict:
        shown = "\n  ".join(str(p) for p in problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise InputError(f"{len(problems)} malformed evaluation line(s) (evaluate.strict is "
                         f"set):\n  {shown}{more}")


def index_words(spark, spec: IndexSpec, limit: int) -> list[str]:
    """The first ``limit`` words of the index's id-to-word table, in id order.

    ``limit`` is ``evaluate.restrict_vocab`` (a setting), so the driver's lexicon never grows
    with the vocabulary.
    """
    table = (spark.read.parquet(f"{spec.path}/data/words.parquet").where(f"id < {int(limit)}")
             .orderBy("id").toArrow())
    return table.column("word").to_pylist()


def lookup_words(spark, spec: IndexSpec, words: list[str],
                 case_insensitive: bool) -> dict[str, int | None]:
    """The ids of a few words, by a filter over the id-to-word table on the executors.

    A word with several case variants takes the lowest id (the most frequent variant), as
    :class:`Lexicon` does.
    """
    from pyspark.sql import functions as F

    def key(w: str) -> str:
        return w.upper() if case_insensitive else w

    col = F.upper("word") if case_insensitive else F.col("word")
    found = {r["k"]: int(r["id"]) for r in (
        spark.read.parquet(f"{spec.path}/data/words.parquet")
        .where(col.isin(sorted({key(w) for w in words})))
        .groupBy(col.alias("k")).agg(F.min("id").alias("id")).collect())}
    return {w: found.get(key(w)) for w in words}


def evaluate_analogies(spark, spec: IndexSpec, cfg: Config, parsed: Parsed, lex: Lexicon):
    """Score the analogy questions on the executors.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per question, with the columns of :data:`ANALOGY_SCHEMA`.
    """
    e = cfg.evaluate
    table = question_table(parsed, lex)
    df = spark.createDataFrame(table.to_pandas()) if table.num_rows else None
    if df is None:
        return spark.createDataFrame([], schemas.ddl(ANALOGY_SCHEMA))
    df = df.repartition(_partitions(spark, cfg, table.num_rows, 1000))
    kernel = _analogy_kernel(spec, search_mode(cfg, spec, False), METHODS[e.methods],
                             e.restrict_vocab, e.candidates, e.block_rows, e.query_chunk)
    return df.mapInArrow(arrow_task(kernel), schemas.ddl(ANALOGY_SCHEMA))


def analogy_summary(results, methods: tuple[str, ...], oov: str) -> dict[str, Any]:
    """Accuracy per section, semantic, syntactic and total, for each method.

    ``oov = "skip"`` divides by the answerable questions (gensim's default); ``"wrong"`` by all
    questions (gensim's ``dummy4unknown``).
    """
    from pyspark.sql import functions as F

    aggs = [F.count(F.lit(1)).alias("questions"),
            F.sum(F.col("answerable").cast("int")).alias("answerable"),
            F.min("line").alias("first_line")]
    aggs += [F.sum(F.col(f"correct_{m}").cast("int")).alias(m) for m in methods]
    rows = [r.asDict() for r in results.groupBy("file", "section").agg(*aggs).collect()]
    rows.sort(key=lambda r: (r["file"], r["first_line"]))

    def score(group: list[dict[str, Any]], name: str) -> dict[str, Any]:
        q = sum(r["questions"] for r in group)
        ans = sum(r["answerable"] or 0 for r in group)
        denom = ans if oov == "skip" else q
        out = {"name": name, "questions": q, "answerable": ans, "oov": q - ans,
               "scored": denom}
        for m in methods:
            correct = sum(r[m] or 0 for r in group)
            out[m] = {"correct": correct, "accuracy": correct / denom if denom else 0.0}
        return out

    sections = [score([r], r["section"]) | {"file": r["file"],
                                            "kind": _section_kind(r["section"])} for r in rows]
    return {
        "sections": sections,
        "semantic": score([r for r in rows if _section_kind(r["section"]) == "semantic"],
                          "semantic"),
        "syntactic": score([r for r in rows if _section_kind(r["section"]) == "syntactic"],
                           "syntactic"),
        "total": score(rows, "total"),
    }


def _section_kind(section: str) -> str:
    return "syntactic" if section.lower().startswith("gram") else "semantic"


SEED_RE = re.compile(r"^\s*(\S+)\s+-\s+(\S+)\s+\+\s+(\S+)\s*=\s*(\S+)\s*$")
#: answers shown per seed analogy and method
SEED_TOP = 5


def parse_seed(text: str) -> tuple[str, str, str, str]:
    """``"king - man + woman = queen"`` as questions-words order ``(man, king, woman, queen)``.

    Examples
    --------
    >>> parse_seed("paris - france + germany = berlin")
    ('france', 'paris', 'germany', 'berlin')
    """
    m = SEED_RE.match(text)
    if not m:
        raise ConfigError(f"evaluate.seed_analogies: {text!r} is not of the form "
                          "'b - a + c = d' (e.g. 'king - man + woman = queen')")
    b, a, c, d = m.groups()
    return a, b, c, d


def seed_analogies(spark, spec: IndexSpec, cfg: Config, lex: Lexicon) -> list[dict[str, Any]]:
    """Each seed analogy's top answers and the expected word's rank, by both methods.

    One small Spark task over the index (:func:`latentspark.search.analogy_ranks`); what comes
    back is ``len(seed_analogies) x 2 x SEED_TOP`` words, whatever the vocabulary.
    """
    e = cfg.evaluate
    seeds = [(text, parse_seed(text)) for text in e.seed_analogies]
    out: list[dict[str, Any]] = []
    rows = []
    for text, words in seeds:
        ids = [lex.id(w) for w in words]
        entry = {"question": text.strip(), "expected": words[3],
                 "unknown": [w for w, i in zip(words, ids, strict=True) if i is None]}
        out.append(entry)
        if not entry["unknown"]:
            exclude = sorted({v for w in words[:3] for v in lex.variants(w)})
            rows.append((len(out) - 1, *ids, exclude))
    if not rows:
        return out
    df = spark.createDataFrame(rows, "qid INT, ia BIGINT, ib BIGINT, ic BIGINT, ie BIGINT, "
                                     "exclude ARRAY<BIGINT>").coalesce(1)
    restrict = min(e.restrict_vocab, spec.vocab_size)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from latentspark import search

        ix = open_index(spec, annoy=False)
        for batch in batches:
            a, b, c, d = (batch.column(k).to_numpy().astype(np.int64)
                          for k in ("ia", "ib", "ic", "ie"))
            ex_rows, ex_ids = _flat(batch.column("exclude"))
            res = search.analogy_ranks(ix, a, b, c, d, ex_rows, ex_ids, restrict, SEED_TOP,
                                       e.block_rows)
            for method, (ids, scores, rank) in res.items():
                valid = ids >= 0
                yield pa.RecordBatch.from_pydict({
                    "qid": batch.column("qid"), "method": [method] * batch.num_rows,
                    "rank": pa.array(rank, pa.int64()),
                    "answers": [ix.word(i[v]).to_pylist() for i, v in zip(ids, valid,
                                                                           strict=True)],
                    "scores": [s[v].astype(float).tolist() for s, v in zip(scores, valid,
                                                                            strict=True)]})

    ddl = "qid INT, method STRING, rank BIGINT, answers ARRAY<STRING>, scores ARRAY<DOUBLE>"
    for r in df.mapInArrow(arrow_task(run), ddl).collect():  # bounded: seeds x methods x SEED_TOP
        out[r["qid"]][r["method"]] = {
            "rank": r["rank"] or None,
            "answers": [[w, round(v, 4)] for w, v in zip(r["answers"], r["scores"],
                                                          strict=True)]}
    return out


def evaluate_pairs(spark, spec: IndexSpec, cfg: Config, parsed: Parsed, lex: Lexicon):
    """Cosine similarity of every in-vocabulary pair, on the executors.

    Returns
    -------
    pyspark.sql.DataFrame
        ``file, line, word1, word2, gold, in_vocab, similarity`` (similarity null when out of
        vocabulary).
    """
    rows = parsed.rows
    ia = [lex.id(r["word1"]) for r in rows]
    ib = [lex.id(r["word2"]) for r in rows]
    ok = [x is not None and y is not None for x, y in zip(ia, ib, strict=True)]
    table = pa.table({
        "pid": pa.array(range(len(rows)), pa.int64()),
        "file": [r["file"] for r in rows], "line": pa.array([r["line"] for r in rows],
                                                            pa.int32()),
        "word1": [r["word1"] for r in rows], "word2": [r["word2"] for r in rows],
        "gold": pa.array([r["gold"] for r in rows], pa.float64()),
        "in_vocab": pa.array(ok, pa.bool_()),
        "ia": pa.array([x if g else -1 for x, g in zip(ia, ok, strict=True)], pa.int32()),
        "ib": pa.array([y if g else -1 for y, g in zip(ib, ok, strict=True)], pa.int32()),
    })
    df = spark.createDataFrame(table.to_pandas())
    ids = df.select("pid", "ia", "ib").repartition(_partitions(spark, cfg, len(rows), 1000))
    sims = ids.mapInArrow(arrow_task(_pair_kernel(spec)), "pid BIGINT, similarity FLOAT")
    return df.drop("ia", "ib").join(sims, "pid").orderBy("pid").drop("pid")


def pair_summary(table: pa.Table, oov: str, files: list[str] | None = None
                 ) -> list[dict[str, Any]]:
    """Pearson and Spearman correlations per pairs file, and the out-of-vocabulary ratio
    (as gensim: OOV pairs over all pairs, or with ``oov = "wrong"`` over the scored pairs, which
    then include the OOV pairs at similarity 0)."""
    import pandas as pd

    frame = table.to_pandas()
    out = []
    groups = dict(list(frame.groupby("file", sort=False)))
    for name in [f for f in files or [] if f in groups] + [f for f in groups
                                                           if f not in (files or [])]:
        group = groups[name]
        n_oov = int((~group["in_vocab"]).sum())
        if oov == "wrong":
            gold, model = group["gold"], group["similarity"].fillna(0.0)
        else:
            kept = group[group["in_vocab"]]
            gold, model = kept["gold"], kept["similarity"]
        entry = {"file": name, "pairs": len(group), "scored": len(gold), "oov": n_oov,
                 "oov_ratio": 100.0 * n_oov / (len(gold) if oov == "wrong" else len(group))
                 if len(group) else 0.0}
        if len(gold) >= 2:
            g, m = gold.to_numpy(np.float64), model.to_numpy(np.float64)
            entry["pearson"] = float(np.corrcoef(g, m)[0, 1])
            rg = pd.Series(g).rank(method="average").to_numpy()
            rm = pd.Series(m).rank(method="average").to_numpy()
            entry["spearman"] = float(np.corrcoef(rg, rm)[0, 1])
        else:
            entry["pearson"] = entry["spearman"] = None
        out.append(entry)
    return out


def neighbours_of(spark, spec: IndexSpec, cfg: Config, ids: list[int] | None):
    """Top-k neighbour lists, as ``word, rank, neighbour, similarity`` rows.

    While the index fits ``evaluate.worker_vectors_mb``, each task maps the whole index and
    searches it; above, :func:`sharded_neighbours` keeps every worker to two shards.

    Parameters
    ----------
    ids : list of int, optional
        Word ids; ``None`` means every word (the bulk export).
    """
    e = cfg.evaluate
    mode = list_mode(cfg, spec, bulk=ids is None)
    if _index_bytes(spec, mode) > e.worker_vectors_mb * 2**20:
        return sharded_neighbours(spark, spec, cfg, ids, mode)
    if ids is None:
        parts = e.partitions or 4 * spark.sparkContext.defaultParallelism
        df = spark.range(0, spec.vocab_size, numPartitions=parts)
    else:
        df = spark.createDataFrame(pa.table({"id": pa.array(ids, pa.int64())}).to_pandas())
        df = df.repartition(_partitions(spark, cfg, len(ids), 500))
    kernel = _neighbour_kernel(spec, mode, e.k, e.candidates, e.block_rows, e.query_chunk,
                               ivf=(*ivf_plan(cfg, spec.vocab_size), e.seed))
    return df.mapInArrow(arrow_task(kernel), schemas.ddl(NEIGHBOUR_SCHEMA))


def _index_bytes(spec: IndexSpec, mode: str) -> int:
    """Bytes of index files a worker maps to search in ``mode``."""
    kinds = ("vectors", "annoy") if mode == "annoy" else ("vectors",)
    return sum(int(f["size"]) for f in spec.files.values() if f.get("kind") in kinds)


#: ``(target shard, query shard, first local row, end local row, query ids)``: one search task
PIECE_DDL = "shard INT, qshard INT, lo BIGINT, hi BIGINT, ids ARRAY<BIGINT>"
CANDIDATE_DDL = "id BIGINT, neighbour BIGINT, similarity FLOAT"


def sharded_neighbours(spark, spec: IndexSpec, cfg: Config, ids: list[int] | None,
                       mode: str):
    """Neighbour lists for indexes too big for one worker: per-shard candidates, merged by Spark.

    Each task takes one target shard and a range of one query shard's words, so its Python
    worker maps those two shards only (:func:`latentspark.index.open_shard`, which unmaps and
    deletes shards beyond ``evaluate.worker_vectors_mb``), and emits each query's top ``k``
    within the target shard. A window over ``id`` keeps the ``k`` best of the ``shards x k``
    candidates, by similarity then lower id, which is exactly the whole index's top ``k``
    (exact mode). Tasks: ``shards^2`` at least, more while there are fewer than the
    partitions setting (or 4 per core). The words are named by joins with the index's
    id-to-word table, never on the driver.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    e = cfg.evaluate
    n = spec.shards
    if ids is None:
        items = -(-spec.vocab_size // n)  # the largest shard's words
        wanted = e.partitions or 4 * spark.sparkContext.defaultParallelism
        ranges = max(1, min(items, -(-wanted // (n * n))))
        rows = -(-items // ranges)
        groups = n * n * ranges
        # piece g: target shard g div (n r), query shard (g div r) mod n, row range g mod r;
        # shard s holds the ids s, s + n, ...: ceil((V - s) / n) words
        pieces = spark.range(0, groups, numPartitions=groups).selectExpr(
            f"CAST(id DIV {n * ranges} AS INT) AS shard",
            f"CAST((id DIV {ranges}) % {n} AS INT) AS qshard",
            f"(id % {ranges}) * {rows} AS lo",
            f"LEAST((id % {ranges} + 1) * {rows}, "
            f"({spec.vocab_size} - (id DIV {ranges}) % {n} + {n - 1}) DIV {n}) AS hi",
            "CAST(NULL AS ARRAY<BIGINT>) AS ids")
    else:
        by_shard: dict[int, list[int]] = {}
        for i in sorted(set(ids)):
            by_shard.setdefault(i % n, []).append(i)
        listed = [(t, q, 0, 0, group) for t in range(n) for q, group in sorted(by_shard.items())]
        pieces = spark.createDataFrame(listed, PIECE_DDL).repartition(
            _partitions(spark, cfg, len(listed), 1))
    # ivf: each target shard gets its share of the clusters, probed in the same proportion
    clusters, probes = ivf_plan(cfg, spec.vocab_size)
    per_shard = max(1, -(-clusters // n))
    ivf = (per_shard, max(1, min(per_shard, round(per_shard * probes / clusters))), e.seed)
    kernel = _shard_kernel(spec, mode, e.k, e.candidates, e.block_rows, e.query_chunk,
                           e.worker_vectors_mb * 2**20, ivf)
    best = Window.partitionBy("id").orderBy(F.col("similarity").desc(), F.col("neighbour"))
    top = (pieces.mapInArrow(arrow_task(kernel), CANDIDATE_DDL)
           .withColumn("rank", F.row_number().over(best)).where(F.col("rank") <= e.k))
    words = spark.read.parquet(f"{spec.path}/data/words.parquet").select(
        F.col("id").cast("long").alias("wid"), "word")
    named = (top.join(words, top["id"] == words["wid"])
             .select("word", "rank", "neighbour", "similarity"))
    return (named.join(words.select(F.col("wid").alias("nid"),
                                    F.col("word").alias("neighbour_word")),
                       named["neighbour"] == F.col("nid"))
            .select("word", F.col("rank").cast("int").alias("rank"),
                    F.col("neighbour_word").alias("neighbour"), "similarity"))


def _shard_kernel(spec: IndexSpec, mode: str, k: int, candidates: int, block_rows: int,
                  chunk: int, budget: int, ivf: tuple[int, int, int] = (1, 1, 1)):
    """Candidate ``id, neighbour, similarity`` rows of each piece of :data:`PIECE_DDL`."""
    from latentspark import search
    from latentspark.index import open_shard

    n = spec.shards

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for piece in batch.to_pylist():
                qs = piece["qshard"]
                if piece["ids"] is None:
                    local = np.arange(piece["lo"], piece["hi"], dtype=np.int64)
                else:
                    local = np.asarray(piece["ids"], np.int64) // n
                if local.size == 0:
                    continue
                query = np.asarray(open_shard(spec, qs, False, budget).vectors[local])
                target = open_shard(spec, piece["shard"], mode == "annoy", budget)
                ids = local * n + qs
                if mode == "ivf":
                    t = piece["shard"]
                    rows = np.arange(target.vectors.shape[0], dtype=np.int64)
                    cl = clusters_of((spec.cache_key(), t, ivf[0], ivf[2]), target.vectors,
                                     rows * n + t)
                    nbr, sim = search.neighbours_ivf(cl, query, ids, k, ivf[1], chunk)
                else:
                    nbr, sim = search.neighbours_in_shard(
                        query, ids, target, piece["shard"], n, k, mode, candidates,
                        spec.search_k, block_rows, chunk)
                valid = (nbr >= 0).reshape(-1)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(np.repeat(ids, k)[valid]), pa.array(nbr.reshape(-1)[valid]),
                     pa.array(sim.reshape(-1)[valid], pa.float32())],
                    names=["id", "neighbour", "similarity"])

    return run


def annoy_recall(spark, spec: IndexSpec, cfg: Config) -> dict[str, Any]:
    """Annoy's recall@k against exact search on a seeded sample of words."""
    from pyspark.sql import functions as F

    e = cfg.evaluate
    n = min(e.recall_sample, spec.vocab_size)
    sample = np.sort(np.random.default_rng(e.seed).choice(spec.vocab_size, n, replace=False))
    df = spark.createDataFrame(pa.table({"id": pa.array(sample, pa.int64())}).to_pandas())
    df = df.repartition(_partitions(spark, cfg, n, 250))
    kernel = _neighbour_kernel(spec, e.mode, e.k, e.candidates, e.block_rows, e.query_chunk,
                               recall=True)
    row = df.mapInArrow(arrow_task(kernel), "id BIGINT, recall DOUBLE").agg(
        F.avg("recall").alias("mean"), F.min("recall").alias("min")).first()
    return {"k": e.k, "sample": n, "candidates_per_shard": e.candidates,
            "search_k": spec.search_k, "recall": float(row["mean"]),
            "min_recall": float(row["min"])}


def _fingerprint(fs, paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        if fs.exists(path):
            [info] = fs.list_files(path)
            out.append(f"{info.path}:{info.size}:{info.mtime}")
    return out


def evaluation_fingerprint(fs, spec: IndexSpec, e) -> str:
    """What an evaluation is made from: the index version and every evaluation file."""
    return hashlib.sha256(json.dumps(
        [spec.version] + _fingerprint(fs, e.analogies) + _fingerprint(fs, e.similarity)).encode()
    ).hexdigest()


def evaluate_into(spark, spec: IndexSpec, cfg: Config, st, fs) -> dict[str, Any]:
    """Evaluate the indexed embeddings into a staging directory.

    Writes ``data/analogies/`` (one row per question), ``data/similarity/`` (one row per
    pair), ``data/neighbours/`` (for ``evaluate.words``), ``summary.json`` and ``report.md``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    spec : IndexSpec
        The verified index.
    cfg : Config
    st : Staging
        Where the results go.
    fs : HadoopFS

    Returns
    -------
    dict
        The manifest fields (settings, index version, summary).

    Raises
    ------
    InputError
        Missing or undecodable evaluation files; malformed lines in strict mode.
    ArtifactError
        A missing, truncated, corrupted or mismatched index.
    """
    e = cfg.evaluate
    methods = METHODS[e.methods]
    with index_errors():
        with st.timed("prepare"):
            analogies, pairs = Parsed(), Parsed()
            for path, text in _read_files(fs, e.analogies, "analogies"):
                parse_analogies(text, path, analogies)
            for path, text in _read_files(fs, e.similarity, "similarity"):
                parse_pairs(text, path, pairs)
            _report_problems(analogies.problems + pairs.problems, e.strict)
            lex = Lexicon(index_words(spark, spec, e.restrict_vocab), e.restrict_vocab,
                          e.case_insensitive)
        summary: dict[str, Any] = {
            "index": spec.version, "mode": search_mode(cfg, spec, False),
            "neighbour_mode": list_mode(cfg, spec, bulk=False), "methods": list(methods),
            "restrict_vocab": e.restrict_vocab, "oov": e.oov,
            "case_insensitive": e.case_insensitive,
            "malformed_lines": [asdict(p) for p in analogies.problems + pairs.problems]}
        if analogies.rows:
            with st.timed("analogies"):
                results = evaluate_analogies(spark, spec, cfg, analogies, lex)
                results.write.parquet(f"{st.data_path}/analogies")
                saved = spark.read.parquet(f"{st.data_path}/analogies")
                summary["analogies"] = analogy_summary(saved, methods, e.oov)
        if pairs.rows:
            with st.timed("similarity"):
                sims = evaluate_pairs(spark, spec, cfg, pairs, lex)
                sims.write.parquet(f"{st.data_path}/similarity")
                table = spark.read.parquet(f"{st.data_path}/similarity").orderBy(
                    "file", "line").toArrow()  # evaluation-set sized
                summary["similarity"] = pair_summary(
                    table, e.oov, list(dict.fromkeys(r["file"] for r in pairs.rows)))
        asked = e.words
        if asked:
            known = {w: lex.id(w) for w in asked}
            summary["neighbours_unknown"] = [w for w, i in known.items() if i is None]
            ids = [i for i in known.values() if i is not None]
            if ids:
                with st.timed("neighbours"):
                    nb = neighbours_of(spark, spec, cfg, ids)
                    nb.write.parquet(f"{st.data_path}/neighbours")
                    summary["neighbours"] = _neighbour_lists(
                        spark.read.parquet(f"{st.data_path}/neighbours").toArrow())
        if e.seed_analogies:
            with st.timed("seed_analogies"):
                summary["seed_analogies"] = seed_analogies(spark, spec, cfg, lex)
        if e.recall_sample:
            with st.timed("recall"):
                summary["annoy_recall"] = annoy_recall(spark, spec, cfg)
        report = render_report(summary)
        fs.write_bytes(f"{st.path}/summary.json",
                       json.dumps(summary, indent=2, ensure_ascii=False).encode())
        fs.write_bytes(f"{st.path}/report.md", report.encode())
    return {"config": {"evaluate": asdict(e)}, "index_version": spec.version,
            "summary": {k: v for k, v in summary.items() if k != "malformed_lines"},
            "malformed_lines": len(summary["malformed_lines"])}


def _neighbour_lists(table: pa.Table) -> dict[str, list[list]]:
    out: dict[str, list[list]] = {}
    for r in sorted(table.to_pylist(), key=lambda r: (r["word"], r["rank"])):
        out.setdefault(r["word"], []).append([r["neighbour"], round(r["similarity"], 4)])
    return out


def _seed_line(seed: dict[str, Any]) -> str:
    """One seed analogy of the report, e.g. ``- king - man + woman = queen: 3CosAdd rank 1
    (queen 0.71, ...)``."""
    if seed["unknown"]:
        return f"- {seed['question']}: not in the vocabulary: {', '.join(seed['unknown'])}"
    parts = []
    for method, name in (("3cosadd", "3CosAdd"), ("3cosmul", "3CosMul")):
        r = seed[method]
        rank = f"rank {r['rank']:,}" if r["rank"] else "the expected word is a question word"
        answers = ", ".join(f"{w} {v:.3f}" for w, v in r["answers"])
        parts.append(f"{name} {rank} ({answers})")
    return f"- {seed['question']}: " + "; ".join(parts)


def render_report(summary: dict[str, Any]) -> str:
    """The evaluation summary as Markdown."""
    methods = summary["methods"]
    lines = [f"# Evaluation of index {summary['index']}", "",
             f"Mode `{summary['mode']}`, restrict_vocab {summary['restrict_vocab']:,}, "
             f"out-of-vocabulary: {summary['oov']}, case-insensitive: "
             f"{summary['case_insensitive']}.", ""]
    if "analogies" in summary:
        an = summary["analogies"]
        lines += ["## Analogies", "",
                  "| section | questions | answerable | " + " | ".join(methods) + " |",
                  "| --- | ---: | ---: | " + " | ".join("---:" for _ in methods) + " |"]
        for s in an["sections"] + [an["semantic"], an["syntactic"], an["total"]]:
            name = s["name"] if s in an["sections"] else f"**{s['name']}**"
            lines.append(f"| {name} | {s['questions']:,} | {s['answerable']:,} | " + " | ".join(
                f"{s[m]['accuracy']:.2%} ({s[m]['correct']:,})" for m in methods) + " |")
        lines.append("")
    if "similarity" in summary:
        lines += ["## Word similarity", "", "| file | pairs | OOV | Pearson | Spearman |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for s in summary["similarity"]:
            pearson, spearman = (f"{v:.4f}" if v is not None else "n/a"
                                 for v in (s["pearson"], s["spearman"]))
            lines.append(f"| {s['file']} | {s['pairs']:,} | {s['oov_ratio']:.1f}% | "
                         f"{pearson} | {spearman} |")
        lines.append("")
    if summary.get("seed_analogies"):
        lines += ["## Seed analogies", "",
                  "Top answers (question words excluded) and the rank of the expected word.",
                  ""]
        lines += [_seed_line(s) for s in summary["seed_analogies"]]
        lines.append("")
    if summary.get("neighbours"):
        lines += ["## Neighbours", ""]
        lines += [f"- **{w}**: " + ", ".join(f"{n} {s:.3f}" for n, s in lst)
                  for w, lst in summary["neighbours"].items()]
        lines.append("")
    if "annoy_recall" in summary:
        r = summary["annoy_recall"]
        lines += ["## Annoy recall", "",
                  f"recall@{r['k']} against exact search on {r['sample']:,} sampled words: "
                  f"**{r['recall']:.4f}** (worst word {r['min_recall']:.2f}; "
                  f"{r['candidates_per_shard']} candidates per shard, search_k "
                  f"{r['search_k']}).", ""]
    if summary["malformed_lines"]:
        lines += ["## Malformed lines (skipped)", ""]
        lines += [f"- {p['file']}:{p['line']}: {p['reason']}" for p in
                  summary["malformed_lines"][:50]]
        lines.append("")
    return "\n".join(lines)
