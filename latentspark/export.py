"""Exports of an embeddings table to the formats other tools read.

===================  ==========================================================================
format               layout
===================  ==========================================================================
``word2vec``         header ``V dim``, then one line per word: ``word v1 ... vdim`` (text)
``fasttext``         the same bytes: fastText's ``.vec`` files are word2vec text with a header
``word2vec-binary``  header ``V dim\\n``, then per word: the UTF-8 word, a space, ``dim``
                     little-endian float32 and a newline (the C tool's ``-binary 1`` output)
``glove``            one line per word, ``word v1 ... vdim``, no header
``projector``        a folder for the TensorBoard Embedding Projector: ``vectors.tsv`` (one
                     line of ``dim`` tab-separated values per word) and ``metadata.tsv`` (the
                     words, one per line, no header: the projector's one-column layout)
``npy``              a folder: ``vectors.npy`` (``V x dim`` float32, ``numpy.load``) and
                     ``vocab.txt`` (the words, one per line: line ``i`` is row ``i``)
===================  ==========================================================================

Words come out in id order (count descending), as the vocabulary numbered them. Text formats
print every value with a fixed number of decimals (``precision``, 6 as the C tools do);
the binary format is exact. ``normalize`` writes unit vectors (a zero vector stays zero);
``limit`` keeps the first ``N`` words by id.

**Words with whitespace are refused.** Every reader of these formats splits on whitespace
(gensim on the space, Python loaders on anything :meth:`str.isspace` accepts, the C tools on
space, tab and newline), so such a word cannot round-trip. Replacing it silently could
collide with another word, so the export stops with an :class:`~latentspark.errors.InputError`
naming the word and its id. The vocabulary's tokenizers never produce one; a table made
elsewhere may. Empty words are refused for the same reason.

**Streaming.** The Parquet files (``part-00000...``, in id order) are read one record batch
at a time; memory holds one batch, not the table. Files on a non-local Hadoop filesystem are
first copied into a temporary folder next to the destination. The output is written to a
hidden temporary sibling of the destination and renamed onto it at the end, so a failed or
killed export never leaves a partial file under the destination's name (a killed one may
leave a ``.NAME.*.part`` file behind). The folder formats write each of their two files that
way and rename both only once both are complete.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from latentspark.errors import ArtifactError, ConfigError, InputError

logger = logging.getLogger(__name__)

FORMATS = ("word2vec", "word2vec-binary", "glove", "fasttext", "projector", "npy")
#: the formats written as a folder: (file of the vectors, file of the words)
FOLDER_FORMATS = {"projector": ("vectors.tsv", "metadata.tsv"), "npy": ("vectors.npy",
                                                                        "vocab.txt")}
MAX_PRECISION = 9
BATCH_ROWS = 8192

# Exactly the characters for which str.isspace() is true: RE2's \s is ASCII only and \p{Z}
# lacks the control characters (tab, newline, \x1c-\x1f, \x85). A test checks the equality.
WHITESPACE_RE = r"[\t\n\x0b\x0c\r\x1c-\x1f\x85\p{Z}]"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    path: str
    format: str
    words: int
    dim: int
    bytes: int
    seconds: float


@dataclass(frozen=True)
class _Part:
    """One local Parquet file of the table, with the name to report in errors."""

    local: str
    name: str
    rows: int


def export_embeddings(source: str, out: str, fmt: str, *, fs=None, normalize: bool = False,
                      limit: int | None = None, precision: int = 6,
                      batch_rows: int = BATCH_ROWS) -> ExportResult:
    """Write an embeddings table to ``out`` in a standard format.

    Parameters
    ----------
    source : str
        A published embeddings version (the folder holding ``data/``) or its ``data`` folder.
        Without ``fs`` it must be a local path; with ``fs`` any Hadoop URI.
    out : str
        Local destination file (a folder for ``projector`` and ``npy``); replaced atomically.
        Missing parent folders are created.
    fmt : {"word2vec", "word2vec-binary", "glove", "fasttext", "projector", "npy"}
        Output format (see the module docstring).
    fs : latentspark.fs.HadoopFS, optional
        Filesystem used to list and fetch ``source``.
    normalize : bool
        Write unit vectors (zero vectors stay zero).
    limit : int, optional
        Export only the first ``limit`` words by id.
    precision : int
        Decimals printed per value in the text formats (0 to 9).
    batch_rows : int
        Rows per Arrow record batch read and written at a time.

    Returns
    -------
    ExportResult

    Raises
    ------
    ConfigError
        Unknown format, or ``limit``/``precision`` out of range.
    ArtifactError
        No data files at ``source``, ids that are not ``0, 1, 2, ...`` across the files,
        vectors of unequal length, null or non-finite values (the message names the file).
    InputError
        A word with whitespace in it, or an empty word (the message names the word and id).

    Examples
    --------
    >>> import tempfile, numpy as np, pyarrow.parquet as pq
    >>> from latentspark.embeddings import to_table
    >>> d = tempfile.mkdtemp()
    >>> os.mkdir(f"{d}/data")
    >>> pq.write_table(to_table(["a", "b"], np.array([2, 1]), np.eye(2, dtype="f4")),
    ...                f"{d}/data/part-00000.parquet")
    >>> r = export_embeddings(d, f"{d}/vectors.txt", "word2vec", precision=1)
    >>> print(open(f"{d}/vectors.txt").read(), end="")
    2 2
    a 1.0 0.0
    b 0.0 1.0
    >>> import shutil; shutil.rmtree(d)
    """
    _check_options(fmt, limit, precision, batch_rows)
    t0 = time.monotonic()
    dest = os.path.abspath(out)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    data = _data_path(source)
    with tempfile.TemporaryDirectory(prefix=".latentspark-export-",
                                     dir=os.path.dirname(dest)) as scratch:
        parts = _local_parts(data, fs, scratch, limit)
        total = sum(p.rows for p in parts)
        n = total if limit is None else min(limit, total)
        declared = _schema_dim(parts)
        batches = _batches(parts, n, batch_rows)
        first = next(batches, None)
        # the header needs the dimension: from the schema, else from the first batch
        dim = declared if declared is not None else (first[1].shape[1] if first else 0)
        with contextlib.ExitStack() as files:
            if fmt in FOLDER_FORMATS:
                os.makedirs(dest, exist_ok=True)
                fh, words_fh = (files.enter_context(_atomic_output(os.path.join(dest, name)))
                                for name in FOLDER_FORMATS[fmt])
            else:
                fh, words_fh = files.enter_context(_atomic_output(dest)), None
            if fmt == "npy":
                np.lib.format.write_array_header_1_0(
                    fh, {"descr": "<f4", "fortran_order": False, "shape": (n, dim)})
            elif fmt in ("word2vec", "word2vec-binary", "fasttext"):
                fh.write(f"{n} {dim}\n".encode())
            written = 0
            for words, vectors in itertools.chain([first] if first else [], batches):
                if normalize:
                    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                    np.divide(vectors, norms, out=vectors, where=norms > 0)
                if fmt == "word2vec-binary":
                    fh.write(_binary_lines(words, vectors))
                elif fmt == "npy":
                    fh.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
                elif fmt == "projector":
                    fh.write(_text_lines(None, vectors, precision, "\t"))
                else:
                    fh.write(_text_lines(words, vectors, precision))
                if words_fh is not None:
                    words_fh.write(("\n".join(words.to_pylist()) + "\n").encode("utf-8"))
                written += len(words)
            if written != n:  # footers promised more rows than the files held
                raise ArtifactError(f"embeddings {source}: {written} rows read, the Parquet "
                                    f"footers say {n}")
            size = fh.tell() + (words_fh.tell() if words_fh is not None else 0)
    result = ExportResult(dest, fmt, n, dim, size, round(time.monotonic() - t0, 3))
    logger.info("exported %d words x %d (%s) to %s: %.1f MB in %.1f s", result.words,
                result.dim, fmt, dest, size / 1e6, result.seconds)
    return result


def _check_options(fmt: str, limit: int | None, precision: int, batch_rows: int) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    if limit is not None and limit < 1:
        raise ConfigError(f"export limit {limit} must be a positive number of words")
    if not 0 <= precision <= MAX_PRECISION:
        raise ConfigError(f"export precision {precision} must be between 0 and "
                          f"{MAX_PRECISION} decimals")
    if batch_rows < 1:
        raise ConfigError(f"export batch_rows {batch_rows} must be positive")


def _data_path(source: str) -> str:
    source = source.rstrip("/")
    return source if source.endswith("/data") or source == "data" else f"{source}/data"


def _local_path(qualified: str) -> str | None:
    """The local path of a qualified ``file:`` URI, ``None`` for other filesystems."""
    if not qualified.startswith("file:"):
        return None
    path = qualified[len("file:"):]
    return path[2:] if path.startswith("//") else path


def _local_parts(data: str, fs, scratch: str, limit: int | None) -> list[_Part]:
    """The table's Parquet files as local files, in name (= id) order.

    Remote files are copied one by one, and only as many as ``limit`` rows need.
    """
    if fs is None:
        if not os.path.isdir(data):
            raise ArtifactError(f"no embeddings data folder at {data}")
        names = sorted(f for f in os.listdir(data) if f.endswith(".parquet")
                       and not f.startswith(("_", ".")))
        files = [(os.path.join(data, f), os.path.join(data, f)) for f in names]
    else:
        if not fs.is_dir(data):
            raise ArtifactError(f"no embeddings data folder at {data}")
        files = [(f.path, _local_path(f.path)) for f in fs.list_files(data)
                 if f.path.endswith(".parquet")]
    if not files:
        raise ArtifactError(f"no Parquet files under {data}")
    parts, rows = [], 0
    for k, (name, local) in enumerate(files):
        if limit is not None and rows >= limit:
            break
        if local is None:
            local = os.path.join(scratch, f"{k:05d}.parquet")
            fs.get(name, local)
        try:
            n = pq.ParquetFile(local).metadata.num_rows
        except (OSError, pa.ArrowException) as exc:
            raise ArtifactError(f"embeddings file {name} is not readable Parquet: {exc}") \
                from None
        parts.append(_Part(local, name, n))
        rows += n
    return parts


def _schema_dim(parts: list[_Part]) -> int | None:
    """The fixed vector dimension the files declare, or ``None`` for variable lists."""
    dims = set()
    for part in parts:
        schema = pq.ParquetFile(part.local).schema_arrow
        missing = {"id", "word", "vector"} - set(schema.names)
        if missing:
            raise ArtifactError(f"embeddings file {part.name} lacks the column(s) "
                                f"{', '.join(sorted(missing))}; it has {schema.names}")
        vtype = schema.field("vector").type
        if isinstance(vtype, pa.FixedSizeListType):
            dims.add(vtype.list_size)
        elif not (pa.types.is_list(vtype) or pa.types.is_large_list(vtype)):
            raise ArtifactError(f"embeddings file {part.name}: vector is {vtype}, expected "
                                "a list of floats")
        else:  # e.g. rewritten by Spark: checked batch by batch
            dims.add(None)
    if len(dims - {None}) > 1:
        raise ArtifactError(f"embeddings files declare different dimensions {sorted(dims)}")
    return next(iter(dims - {None}), None)


def _batches(parts: list[_Part], n: int, batch_rows: int
             ) -> Iterator[tuple[pa.StringArray, np.ndarray]]:
    """Words and float32 vectors of ids ``0..n-1``, batch by batch, checked on the way."""
    expected, dim = 0, None
    for part in parts:
        for batch in pq.ParquetFile(part.local).iter_batches(
                batch_size=batch_rows, columns=["id", "word", "vector"]):
            if expected >= n:
                return
            batch = batch.slice(0, n - expected)
            ids = batch.column("id").to_numpy(zero_copy_only=False)
            if ids.size and not np.array_equal(ids, np.arange(expected, expected + ids.size)):
                bad = int(np.flatnonzero(ids != np.arange(expected, expected + ids.size))[0])
                raise ArtifactError(
                    f"embeddings file {part.name}: ids are not contiguous, expected id "
                    f"{expected + bad} but found {ids[bad]} (the files must hold ids "
                    "0, 1, 2, ... in name order)")
            words = batch.column("word")
            vec = batch.column("vector")
            if words.null_count or vec.null_count:
                raise ArtifactError(f"embeddings file {part.name}: null words or vectors")
            flat = vec.flatten()
            if flat.null_count:
                raise ArtifactError(f"embeddings file {part.name}: null vector values")
            if dim is None:
                dim = len(flat) // max(len(vec), 1)
            if len(flat) != dim * len(vec) or not _equal_lengths(vec, dim):
                raise ArtifactError(f"embeddings file {part.name}: vectors are not all of "
                                    f"dimension {dim}")
            vectors = flat.to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
            _check_words(words, expected, part.name)
            _check_finite(words, vectors, expected, part.name)
            expected += len(ids)
            yield words, vectors


def _equal_lengths(vec: pa.Array, dim: int) -> bool:
    if isinstance(vec.type, pa.FixedSizeListType):
        return vec.type.list_size == dim
    return bool(pc.all(pc.equal(pc.list_value_length(vec), dim)).as_py() in (True, None))


def _check_words(words: pa.StringArray, first_id: int, name: str) -> None:
    bad = pc.or_(pc.match_substring_regex(words, WHITESPACE_RE),
                 pc.equal(pc.utf8_length(words), 0))
    if pc.any(bad).as_py():
        k = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        word = words[k].as_py()
        raise InputError(f"word {word!r} (id {first_id + k}, in {name}) "
                         + ("is empty" if not word else "contains whitespace")
                         + "; the word2vec, GloVe and TSV formats separate words by "
                         "whitespace and cannot represent it")


def _check_finite(words: pa.StringArray, vectors: np.ndarray, first_id: int,
                  name: str) -> None:
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        raise ArtifactError(f"embeddings file {name}: the vector of {words[k].as_py()!r} "
                            f"(id {first_id + k}) has non-finite values")


def _text_lines(words: pa.StringArray | None, vectors: np.ndarray, precision: int,
                sep: str = " ") -> bytes:
    """One line per row: the word (unless ``words`` is None), then the values after ``sep``."""
    # one %-format per row: fixed decimals like the C tools' "%lf", ~20 us for 100 values
    value = f"%.{precision}f"
    if words is None:
        row = sep.join([value] * vectors.shape[1]) + "\n"
        return "".join([row % tuple(v) for v in vectors.tolist()]).encode("utf-8")
    row = "%s" + f"{sep}{value}" * vectors.shape[1] + "\n"
    return "".join([row % (w, *v) for w, v in zip(words.to_pylist(), vectors.tolist(),
                                                  strict=True)]).encode("utf-8")


def _binary_lines(words: pa.StringArray, vectors: np.ndarray) -> bytes:
    # gensim and the C tool read the word up to the space, then exactly 4*dim bytes; the
    # trailing newline is skipped as the next word's first character
    raw = np.ascontiguousarray(vectors, dtype="<f4")
    return b"".join([w.encode("utf-8") + b" " + v.tobytes() + b"\n"
                     for w, v in zip(words.to_pylist(), raw, strict=True)])


@contextmanager
def _atomic_output(dest: str) -> Iterator[BinaryIO]:
    """A file object on a hidden sibling of ``dest``, renamed onto it if the block succeeds."""
    folder, name = os.path.split(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private; give it the mode a plain open() would
        mode = os.stat(dest).st_mode & 0o777 if os.path.exists(dest) else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
