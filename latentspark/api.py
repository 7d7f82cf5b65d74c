"""The single-machine Python API: load published embeddings and query them like gensim.

::

    import latentspark

    kv = latentspark.load("runs/demo/models")          # a model root: its LATEST version
    kv.most_similar(positive=["king", "woman"], negative=["man"], topn=5)
    kv.similarity("paris", "france"), kv.doesnt_match(["paris", "rome", "war"])
    kv["king"]                                          # the stored vector (float32)

:func:`load` takes a model root (``LATEST`` is resolved), a model version, a published
``embeddings`` version or bare embeddings Parquet (a folder or one file), as a local path or
any URI pyarrow's filesystems open (``hdfs://``, ``s3://``, ``s3a://``, ``file://``). It needs
no SparkSession: pyarrow reads the Parquet, and the model's Annoy index (``<version>/index``)
is copied, verified against its manifest and mapped by the loader the evaluator uses
(:func:`latentspark.index.open_index`).

**Same answers as the evaluator.** ``most_similar`` with ``positive=[b, c], negative=[a]``
scores candidates exactly as :mod:`latentspark.evaluation` scores the question
``a : b :: c : ?``: unit vectors, the query ``b - a + c`` summed in that order, 3CosAdd or
3CosMul (Levy and Goldberg, epsilon 0.001), the question words excluded, only the first
``restrict_vocab`` words as candidates. In annoy mode the candidates are the ones each shard's
Annoy index proposes for the 3CosAdd query, re-scored exactly, as in the evaluator. Unlike the
evaluator (and like gensim's ``most_similar``) words are matched case-sensitively.

**Memory.** The vocabulary, the ``V x dim`` float32 vectors and their unit rows are held in
this process (about ``8 V dim`` bytes; 160 MB for 400,000 words of dimension 50). For corpora
whose vocabulary does not fit one machine, use the Spark transformer
:class:`latentspark.ml.EmbeddingModel`, which joins instead.

Unknown words raise :class:`~latentspark.errors.UnknownWordError` (a ``KeyError``) naming the
word; nothing silently returns a zero vector.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from latentspark.artifacts import MANIFEST
from latentspark.errors import ArtifactError, ConfigError, InputError, UnknownWordError
from latentspark.index import LoadedIndex
from latentspark.models import LATEST
from latentspark.vecmath import empty_top_k, fold_top_k, sorted_top_k, unit_rows

logger = logging.getLogger(__name__)

MODES = ("auto", "exact", "annoy")
METHODS = ("3cosadd", "3cosmul")


# ---------------------------------------------------------------------------------------------
# files through pyarrow's filesystems


def _filesystem(uri: str):
    """The pyarrow filesystem and path of a local path or URI."""
    from latentspark.remote import resolve

    if not urlparse(uri).scheme:
        uri = os.path.abspath(uri)
    return resolve(uri)


def _info(uri: str):
    fs, path = _filesystem(uri)
    return fs.get_file_info(path)


def _exists(uri: str) -> bool:
    from pyarrow import fs as pafs

    return _info(uri).type != pafs.FileType.NotFound


def _is_dir(uri: str) -> bool:
    from pyarrow import fs as pafs

    return _info(uri).type == pafs.FileType.Directory


def _read_text(uri: str) -> str:
    fs, path = _filesystem(uri)
    with fs.open_input_stream(path) as fh:
        return fh.read().decode("utf-8")


def _read_json(uri: str) -> dict[str, Any]:
    try:
        return json.loads(_read_text(uri))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{uri} is not valid JSON: {exc}") from None


def _join(uri: str, name: str) -> str:
    return f"{uri.rstrip('/')}/{name}"


# ---------------------------------------------------------------------------------------------
# locating what a path holds


@dataclasses.dataclass(frozen=True)
class Located:
    """What :func:`locate` found behind a path.

    Attributes
    ----------
    kind : str
        ``"model"`` (a model version, possibly through its root's ``LATEST``),
        ``"embeddings"`` (a published embeddings version) or ``"parquet"`` (bare Parquet).
    path : str
        The model version, the embeddings version or the Parquet folder or file.
    data : str
        The Parquet folder or file of the embeddings table.
    index : str or None
        The model version's published index, if it has one.
    manifest : dict
        The model version's manifest, else the embeddings version's, else empty.
    """

    kind: str
    path: str
    data: str
    index: str | None
    manifest: dict[str, Any]


def locate(path: str) -> Located:
    """Resolve a model root, model version, embeddings version or bare Parquet.

    Parameters
    ----------
    path : str
        Local path or URI.

    Returns
    -------
    Located

    Raises
    ------
    InputError
        Nothing at ``path``.
    ArtifactError
        ``LATEST`` names a version without a manifest.
    """
    uri = path.rstrip("/") or path
    if not _exists(uri):
        raise InputError(f"load: {path}: no such file or folder")
    if uri.endswith(f"/{LATEST}"):
        uri = uri[: -len(LATEST) - 1]
    if _exists(_join(uri, LATEST)):
        version = _latest_pointer(uri) or _read_text(_join(uri, LATEST)).strip()
        uri = _join(uri, version)
        if not version or not _exists(_join(uri, MANIFEST)):
            raise ArtifactError(f"{_join(path.rstrip('/'), LATEST)} names version "
                                f"{version!r}, which has no {MANIFEST}")
    if _exists(_join(uri, f"embeddings/{MANIFEST}")) and _exists(_join(uri, MANIFEST)):
        emb = _join(uri, "embeddings")
        index = _join(uri, "index")
        return Located("model", uri, _join(emb, "data"),
                       index if _exists(_join(index, MANIFEST)) else None,
                       _read_json(_join(uri, MANIFEST)))
    if _is_dir(_join(uri, "data")):
        manifest = _read_json(_join(uri, MANIFEST)) if _exists(_join(uri, MANIFEST)) else {}
        return Located("embeddings" if manifest else "parquet", uri, _join(uri, "data"), None,
                       manifest)
    return Located("parquet", uri, uri, None, {})


def _latest_pointer(root: str) -> str | None:
    """The version the newest ``LATEST-<stamp>`` pointer of a model root names, among those
    whose version has a manifest (the rule of :func:`latentspark.models.first_usable`)."""
    from pyarrow import fs as pafs

    from latentspark.models import POINTER, first_usable

    fs, path = _filesystem(root)
    names = sorted((i.base_name for i in fs.get_file_info(pafs.FileSelector(path))
                    if POINTER.match(i.base_name)), reverse=True)
    version, _ = first_usable(
        root, names, lambda name: _read_text(_join(root, name)).strip(),
        lambda v: None if v and _exists(_join(_join(root, v), MANIFEST)) else f"names {v!r}, "
        f"which has no {MANIFEST}")
    return version


def read_table(data: str) -> pa.Table:
    """The embeddings table under ``data`` (a folder of Parquet files, or one), in id order.

    Raises
    ------
    InputError
        No Parquet files, or a missing ``id``, ``word`` or ``vector`` column.
    ArtifactError
        Ids that are not ``0..V-1``, null words or vectors, vectors of unequal length.
    """
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs

    fs, root = _filesystem(data)
    if fs.get_file_info(root).type == pafs.FileType.Directory:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=False))
        files = sorted(i.path for i in infos if i.type == pafs.FileType.File
                       and i.base_name.endswith(".parquet")
                       and not i.base_name.startswith(("_", ".")))
    else:
        files = [root]
    if not files:
        raise InputError(f"load: {data}: no Parquet files")
    tables = []
    for f in files:
        try:
            schema = pq.read_schema(f, filesystem=fs)
        except (OSError, pa.ArrowException) as exc:
            raise ArtifactError(f"embeddings file {f} is not readable Parquet: {exc}") from None
        missing = {"id", "word", "vector"} - set(schema.names)
        if missing:
            raise InputError(f"embeddings file {f} lacks the column(s) "
                             f"{', '.join(sorted(missing))}; it has {schema.names}")
        cols = ["id", "word", "vector"] + (["count"] if "count" in schema.names else [])
        tables.append(pq.read_table(f, filesystem=fs, columns=cols))
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowInvalid as exc:
        raise ArtifactError(f"embeddings {data}: files of different schemas: {exc}") from None
    table = table.sort_by("id")
    ids = table.column("id").to_numpy()
    if ids.size == 0:
        raise InputError(f"load: {data}: the embeddings table is empty")
    if not np.array_equal(ids, np.arange(ids.size)):
        raise ArtifactError(f"embeddings {data}: ids are not 0..{ids.size - 1} without gaps "
                            "or repeats")
    if table.column("word").null_count or table.column("vector").null_count:
        raise ArtifactError(f"embeddings {data}: null words or vectors")
    return table


def _matrix(vectors: pa.ChunkedArray, where: str) -> np.ndarray:
    vec = vectors.combine_chunks()
    flat = vec.flatten()
    if flat.null_count:
        raise ArtifactError(f"embeddings {where}: null vector values")
    dim = len(flat) // len(vec)
    lengths = pc.list_value_length(vec)
    if len(flat) != dim * len(vec) or pc.any(pc.not_equal(lengths, dim)).as_py():
        raise ArtifactError(f"embeddings {where}: vectors are not all of one dimension")
    out = flat.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(vec), dim)
    if not np.isfinite(out).all():
        bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise ArtifactError(f"embeddings {where}: the vector of id {bad} has non-finite values")
    return out


# ---------------------------------------------------------------------------------------------
# the object users hold


class Embeddings:
    """Word vectors with gensim ``KeyedVectors``-style queries; made by :func:`load`.

    Parameters
    ----------
    words : sequence of str
        The vocabulary in id order (most frequent first).
    vectors : numpy.ndarray
        ``V x dim`` float32, row ``i`` for word ``i``.
    counts : numpy.ndarray, optional
        Corpus counts.
    manifest : dict, optional
        The manifest of what was loaded.
    index : LoadedIndex, optional
        A verified, mapped Annoy index over the same words; enables ``mode="annoy"``.
    mode : {"auto", "exact", "annoy"}
        Search mode of :meth:`most_similar`; ``auto`` uses the index when there is one.
    candidates : int
        Annoy mode: neighbours taken from each shard before the exact re-scoring (the
        evaluator's ``evaluate.candidates``).
    source : str
        Where the embeddings came from, for messages.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray,
                 counts: np.ndarray | None = None, manifest: dict[str, Any] | None = None,
                 index: LoadedIndex | None = None, mode: str = "auto", candidates: int = 100,
                 source: str = "the embeddings") -> None:
        if mode not in MODES:
            raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
        if mode == "annoy" and index is None:
            raise ConfigError(f"mode 'annoy' needs an Annoy index; {source} has none (load a "
                              "model version, or use mode 'exact')")
        if candidates < 1:
            raise ConfigError(f"candidates {candidates} must be positive")
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._vectors.setflags(write=False)
        if len(words) != self._vectors.shape[0]:
            raise ValueError(f"{len(words)} words, {self._vectors.shape[0]} vectors")
        self._words = list(words)
        self._ids = {w: i for i, w in enumerate(self._words)}
        if len(self._ids) != len(self._words):
            raise ArtifactError(f"{source}: the vocabulary repeats a word")
        # the unit rows are computed as the index stage computes its vectors-*.f32 files, so
        # the scores equal the evaluator's
        self._unit = unit_rows(self._vectors)
        self._unit.setflags(write=False)
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.manifest: dict[str, Any] = dict(manifest or {})
        self.index = index
        self.mode = "annoy" if mode == "auto" and index is not None else (
            "exact" if mode == "auto" else mode)
        self.candidates = candidates
        self.source = source

    # -- container protocol ---------------------------------------------------------------

    @property
    def words(self) -> list[str]:
        """The vocabulary in id order (gensim's ``index_to_key``)."""
        return list(self._words)

    index_to_key = words

    @property
    def key_to_index(self) -> dict[str, int]:
        """Word to id."""
        return dict(self._ids)

    @property
    def dim(self) -> int:
        """Vector dimension (gensim's ``vector_size``)."""
        return int(self._vectors.shape[1])

    vector_size = dim

    @property
    def vectors(self) -> np.ndarray:
        """The ``V x dim`` matrix (read-only view)."""
        return self._vectors

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def __iter__(self):
        return iter(self._words)

    def __getitem__(self, words: str | Iterable[str]) -> np.ndarray:
        """The vector of a word, or a ``len(words) x dim`` matrix of several."""
        if isinstance(words, str):
            return self.vector(words)
        rows = [self.vector(w) for w in words]
        return np.stack(rows) if rows else np.empty((0, self.dim), np.float32)

    def __repr__(self) -> str:
        return (f"Embeddings({len(self):,} words x {self.dim}, mode {self.mode!r}, "
                f"from {self.source})")

    def id(self, word: str) -> int:
        """The id of ``word`` (its rank by frequency, from 0).

        Raises
        ------
        UnknownWordError
            ``word`` is not in the vocabulary.
        """
        try:
            return self._ids[word]
        except KeyError:
            raise UnknownWordError(word, f"the vocabulary of {self.source}") from None

    get_index = id

    def vector(self, word: str, norm: bool = False) -> np.ndarray:
        """The stored vector of ``word`` (a copy), or its unit-length version with ``norm``.

        Raises
        ------
        UnknownWordError
            ``word`` is not in the vocabulary.
        """
        i = self.id(word)
        return (self._unit if norm else self._vectors)[i].copy()

    get_vector = vector

    # -- queries ---------------------------------------------------------------------------

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self._unit[self.id(a)] @ self._unit[self.id(b)])

    def n_similarity(self, ws1: Sequence[str], ws2: Sequence[str]) -> float:
        """Cosine similarity of the means of two word sets' unit vectors (as gensim).

        Raises
        ------
        ValueError
            One of the sets is empty.
        """
        if not len(ws1) or not len(ws2):
            raise ValueError("n_similarity: both word lists must be non-empty")
        m1 = unit_rows(self._unit[[self.id(w) for w in ws1]].mean(axis=0, keepdims=True))
        m2 = unit_rows(self._unit[[self.id(w) for w in ws2]].mean(axis=0, keepdims=True))
        return float(m1[0] @ m2[0])

    def doesnt_match(self, words: Sequence[str]) -> str:
        """The word furthest from the mean of the words' unit vectors (as gensim).

        Unlike gensim, an unknown word is an error rather than silently left out.
        """
        if not len(words):
            raise ValueError("doesnt_match: give at least one word")
        unit = self._unit[[self.id(w) for w in words]]
        mean = unit_rows(unit.mean(axis=0, keepdims=True))[0]
        return words[int(np.argmin(unit @ mean))]

    def most_similar(self, positive: str | Sequence[Any] | None = None,
                     negative: str | Sequence[Any] | None = None, topn: int = 10,
                     method: str = "3cosadd", restrict_vocab: int | None = None
                     ) -> list[tuple[str, float]]:
        """The words most similar to ``positive`` and least to ``negative``.

        Parameters
        ----------
        positive, negative : str or sequence of (str or numpy.ndarray)
            Words (or vectors, taken at unit length) that count towards / against. The analogy
            ``a : b :: c : ?`` is ``positive=[b, c], negative=[a]``.
        topn : int
            How many words to return.
        method : {"3cosadd", "3cosmul"}
            3CosAdd: cosine with the sum of the unit vectors (positives added, negatives
            subtracted). 3CosMul: the product of ``(1 + cos) / 2`` over the positives over that
            over the negatives plus 0.001 (Levy and Goldberg, 2014; gensim's
            ``most_similar_cosmul`` with the evaluator's epsilon).
        restrict_vocab : int, optional
            Only the first ``restrict_vocab`` words (most frequent) are candidates.

        Returns
        -------
        list of (str, float)
            Most similar first; ties by id. The given words never appear.

        Raises
        ------
        UnknownWordError
            A word is not in the vocabulary.
        ValueError
            No words given, an unknown method or a non-positive ``topn``.
        """
        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        if topn < 1:
            raise ValueError(f"topn {topn} must be positive")
        pos, neg = _as_list(positive), _as_list(negative)
        if not pos and not neg:
            raise ValueError("most_similar: give at least one positive or negative word")
        restrict = len(self) if restrict_vocab is None else min(restrict_vocab, len(self))
        pos_v, pos_ids = self._terms(pos)
        neg_v, neg_ids = self._terms(neg)
        excluded = np.array(sorted(set(pos_ids + neg_ids)), dtype=np.int64)
        # summed as the evaluator sums b - a + c: first positive, negatives, other positives
        terms = ([pos_v[0]] if pos_v else []) + [-v for v in neg_v] + pos_v[1:]
        query = terms[0].copy()
        for t in terms[1:]:
            query += t
        query = unit_rows(query[None, :])[0]
        if self.mode == "annoy":
            cand = self._annoy_candidates(query, topn + excluded.size)
            cand = cand[(cand < restrict) & ~np.isin(cand, excluded)]
        else:
            cand = None
        unit = self._unit[:restrict] if cand is None else self._unit[cand]
        if method == "3cosadd":
            scores = unit @ query
        else:
            scores = np.ones(unit.shape[0], np.float32)
            for v in pos_v:
                scores *= (unit @ v + 1) / 2
            denom = np.ones(unit.shape[0], np.float32)
            for v in neg_v:
                denom *= (unit @ v + 1) / 2
            scores /= denom + np.float32(1e-3) if neg_v else np.float32(1 + 1e-3)
        ids = np.arange(restrict, dtype=np.int64) if cand is None else cand
        if cand is None and excluded.size:
            scores[excluded[excluded < restrict]] = -np.inf
        return self._top(ids, scores, topn)

    def similar_by_word(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` nearest words of ``word`` by cosine (itself excluded)."""
        return self.most_similar(positive=[word], topn=topn)

    def similar_by_vector(self, vector: np.ndarray, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` nearest words of a raw vector by cosine."""
        return self.most_similar(positive=[np.asarray(vector, np.float32)], topn=topn)

    def evaluate_word_analogies(self, analogies: str, restrict_vocab: int = 300_000,
                                case_insensitive: bool = True, dummy4unknown: bool = False,
                                method: str = "3cosadd"
                                ) -> tuple[float, list[dict[str, Any]]]:
        """Score a ``questions-words.txt`` file as gensim's method of that name does.

        The questions are read, looked up and answered by the evaluator's own code
        (:mod:`latentspark.evaluation` and the :mod:`latentspark.search` kernels, in this
        object's mode), so the answers are those of ``latentspark evaluate`` with
        ``evaluate.restrict_vocab``, ``evaluate.case_insensitive`` and ``evaluate.oov``
        (``dummy4unknown`` is ``oov = "wrong"``).

        Parameters
        ----------
        analogies : str
            Path or URI of the file.
        restrict_vocab : int
            Only the first N words are known and candidates.
        case_insensitive : bool
            Compare words upper-cased (a word's most frequent variant stands for it).
        dummy4unknown : bool
            Count out-of-vocabulary questions as wrong instead of skipping them.
        method : {"3cosadd", "3cosmul"}

        Returns
        -------
        score : float
            Correct over scored questions.
        sections : list of dict
            Per section ``{"section", "correct", "incorrect"}`` with ``(a, b, c, expected)``
            tuples, then a ``"Total accuracy"`` entry, as gensim returns them.
        """
        from latentspark import search
        from latentspark.evaluation import Lexicon, _flat, parse_analogies, question_table

        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        parsed = parse_analogies(_read_text(analogies), analogies)
        for problem in parsed.problems:
            logger.warning("malformed line skipped: %s", problem)
        restrict = min(restrict_vocab, len(self))
        table = question_table(parsed, Lexicon(self._words, restrict, case_insensitive))
        ok = table.column("answerable").to_numpy(zero_copy_only=False).astype(bool)
        keep = pa.array(ok)
        a, b, c = (table.column(k).filter(keep).to_numpy().astype(np.int64)
                   for k in ("ia", "ib", "ic"))
        ex_rows, ex_ids = _flat(table.column("exclude").filter(keep))
        cosmul = method == "3cosmul"
        if self.mode == "annoy":
            res = search.analogies_annoy(self.index, a, b, c, ex_rows, ex_ids, restrict,
                                         cosmul, self.candidates)
        else:
            res = search.analogies_exact(self._as_index(), a, b, c, ex_rows, ex_ids, restrict,
                                         cosmul)
        answer = res.mul if cosmul else res.add
        acc_rows, acc_ids = _flat(table.column("accept").filter(keep))
        right = np.zeros(a.size, bool)
        right[acc_rows[answer[acc_rows] == acc_ids]] = True
        verdict = np.zeros(len(ok), bool)
        verdict[np.flatnonzero(ok)] = right
        sections: dict[str, dict[str, Any]] = {}
        for k, row in enumerate(parsed.rows):
            entry = sections.setdefault(row["section"], {"section": row["section"],
                                                         "correct": [], "incorrect": []})
            if ok[k] or dummy4unknown:
                question = (row["a"], row["b"], row["c"], row["expected"])
                entry["correct" if verdict[k] else "incorrect"].append(question)
        out = list(sections.values())
        total = {"section": "Total accuracy",
                 "correct": [q for s in out for q in s["correct"]],
                 "incorrect": [q for s in out for q in s["incorrect"]]}
        scored = len(total["correct"]) + len(total["incorrect"])
        return (len(total["correct"]) / scored if scored else 0.0), out + [total]

    def _as_index(self) -> LoadedIndex:
        """The unit rows as a one-shard index, for the evaluator's exact kernels."""
        from latentspark.index import IndexSpec, Shard

        spec = IndexSpec("", "", self.dim, 1, len(self), {})
        return LoadedIndex(spec, [Shard(self._unit)], pa.array(self._words, pa.string()))

    def to_gensim(self):
        """A ``gensim.models.KeyedVectors`` holding the same words, vectors and counts.

        Raises
        ------
        ImportError
            gensim is not installed (``pip install 'latentspark[gensim]'``).
        """
        try:
            from gensim.models import KeyedVectors
        except ImportError as exc:
            raise ImportError("to_gensim needs gensim: pip install 'latentspark[gensim]'") \
                from exc
        kv = KeyedVectors(vector_size=self.dim, count=0, dtype=np.float32)
        kv.add_vectors(self._words, self._vectors)
        if self.counts is not None:
            # add_vectors(extras=...) fails in gensim 4.3 (it iterates the dict as pairs)
            kv.allocate_vecattrs(["count"], [np.int64])
            kv.expandos["count"][:] = self.counts
        return kv

    # -- internals -------------------------------------------------------------------------

    def _terms(self, items: list[Any]) -> tuple[list[np.ndarray], list[int]]:
        vecs, ids = [], []
        for item in items:
            if isinstance(item, str):
                i = self.id(item)
                vecs.append(self._unit[i].copy())
                ids.append(i)
            else:
                v = np.asarray(item, dtype=np.float32).reshape(1, -1)
                if v.size != self.dim:
                    raise ValueError(f"a vector of size {v.size} given, the embeddings have "
                                     f"dimension {self.dim}")
                vecs.append(unit_rows(v)[0])
        return vecs, ids

    def _annoy_candidates(self, query: np.ndarray, need: int) -> np.ndarray:
        from latentspark.search import _annoy_candidates

        return np.unique(_annoy_candidates(self.index, query, max(self.candidates, need)))

    def _top(self, ids: np.ndarray, scores: np.ndarray, topn: int) -> list[tuple[str, float]]:
        best, best_score = empty_top_k(1, min(topn, scores.size))
        fold_top_k(best, best_score, scores[None, :], ids)
        best, best_score = sorted_top_k(best, best_score)
        return [(self._words[int(i)], float(v)) for i, v in zip(best[0], best_score[0],
                                                                strict=True) if i >= 0]


def _as_list(items: str | Sequence[Any] | None) -> list[Any]:
    if items is None:
        return []
    if isinstance(items, str | np.ndarray):
        return [items]
    return list(items)


def load(path: str, mode: str = "auto", candidates: int = 100, search_k: int = -1,
         cache_dir: str = "") -> Embeddings:
    """Load embeddings for single-machine queries; no SparkSession needed.

    Parameters
    ----------
    path : str
        A model root (its ``LATEST`` version is taken), a model version, a published
        ``embeddings`` version, or bare embeddings Parquet (a folder or one file); a local path
        or any URI pyarrow opens (``hdfs://``, ``s3://``, ``s3a://``, ``file://``).
    mode : {"auto", "exact", "annoy"}
        ``auto`` answers :meth:`Embeddings.most_similar` with the model's Annoy index when it
        has one (candidates re-scored exactly), by exact search otherwise.
    candidates : int
        Annoy mode: neighbours taken from each shard (the evaluator's ``evaluate.candidates``).
    search_k : int
        Annoy's ``search_k`` (``index.search_k``; -1: Annoy's default).
    cache_dir : str
        Local folder for the verified copies of the index files (default: the temporary
        folder).

    Returns
    -------
    Embeddings

    Raises
    ------
    InputError
        Nothing at ``path``, no Parquet, missing columns.
    ArtifactError
        A broken table or index (the message names the file), or an index over other words.
    ConfigError
        ``mode="annoy"`` where there is no index; an unknown mode.

    Examples
    --------
    >>> import tempfile, numpy as np, pyarrow.parquet as pq
    >>> from latentspark.embeddings import to_table
    >>> d = tempfile.mkdtemp()
    >>> pq.write_table(to_table(["a", "b", "c"], np.array([3, 2, 1]),
    ...                         np.array([[1, 0], [1, 1], [0, 1]], "f4")), f"{d}/e.parquet")
    >>> kv = load(d)
    >>> len(kv), kv.dim, "b" in kv, kv.most_similar("a", topn=1)[0][0]
    (3, 2, True, 'b')
    >>> import shutil; shutil.rmtree(d)
    """
    if mode not in MODES:
        raise ConfigError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    where = locate(path)
    table = read_table(where.data)
    vectors = _matrix(table.column("vector"), where.data)
    words = table.column("word").to_pylist()
    counts = table.column("count").to_numpy() if "count" in table.column_names else None
    index = None
    if where.index is not None and mode != "exact":
        index = _open_index(where.index, words, vectors.shape[1], search_k, cache_dir,
                            (where.manifest.get("manifests_sha256") or {}).get("index"))
    logger.info("loaded %d words x %d from %s (%s%s)", len(words), vectors.shape[1],
                where.path, where.kind, ", with its Annoy index" if index else "")
    return Embeddings(words, vectors, counts, where.manifest, index, mode, candidates,
                      where.path)


def _open_index(uri: str, words: list[str], dim: int, search_k: int, cache_dir: str,
                sha256: str | None = None) -> LoadedIndex:
    """Open a model version's index with the evaluator's verified loader; check its words
    and, when the model version recorded it, its manifest's SHA-256 (a manifest rewritten
    to match swapped shards is refused)."""
    import hashlib

    from latentspark.artifacts import Published
    from latentspark.index import IndexSpec, open_index

    fs, path = _filesystem(_join(uri, MANIFEST))
    with fs.open_input_stream(path) as fh:
        body = fh.read()
    if sha256 is not None and hashlib.sha256(body).hexdigest() != sha256:
        raise ArtifactError(f"index {uri}: its {MANIFEST} is not the one the model version "
                            "recorded (manifests_sha256): replaced; refusing it")
    try:
        manifest = json.loads(body)
    except ValueError as exc:
        raise ArtifactError(f"{_join(uri, MANIFEST)} is not valid JSON: {exc}") from None
    pub = Published("index", str(manifest.get("version", "")), uri, manifest)
    spec = dataclasses.replace(IndexSpec.from_published(pub), search_k=search_k,
                               cache_dir=cache_dir)
    if spec.dim != dim or spec.vocab_size != len(words):
        raise ArtifactError(f"index {uri}: {spec.vocab_size} words x {spec.dim}, the "
                            f"embeddings have {len(words)} x {dim}")
    ix = open_index(spec, annoy=True)
    if ix.words.to_pylist() != words:
        raise ArtifactError(f"index {uri}: its words.parquet does not list the embeddings' "
                            "words in id order")
    return ix
