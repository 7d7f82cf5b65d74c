"""Corpus input: find the files, read lines or records, tokenise with Spark built-ins.

Every line of a text file and every JSON or Parquet record is one *context unit*: the
co-occurrence windows never cross from one to the next. Hive-style ``key=value/`` folders become
columns that ``corpus.where`` can filter on (Spark prunes the folders it does not need).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

from latentspark.config import CorpusConfig, TokenizeConfig
from latentspark.errors import ConfigError, InputError
from latentspark.fs import FileInfo, HadoopFS, glob_base, has_glob

logger = logging.getLogger(__name__)

COMPRESSION_SUFFIXES = (".gz", ".bz2", ".deflate", ".zst", ".lz4", ".snappy")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
# ICU4J ships with Spark 4; Normalizer.compose(text, compat=true) is NFKC, reachable from SQL
_NFKC = ("com.ibm.icu.text.Normalizer", "compose")


@dataclass(frozen=True)
class CorpusInput:
    """The resolved input of a run: what was matched and how it will be read."""

    path: str
    base_path: str
    format: str
    n_files: int
    n_bytes: int
    fingerprint: str
    #: the files read (after any ``where`` filter on partition folders)
    files: tuple[FileInfo, ...] = ()


def _strip_compression(name: str) -> str:
    for suffix in COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def detect_format(names: list[str]) -> str:
    """Pick ``text``, ``json`` or ``parquet`` from file names.

    Parameters
    ----------
    names : list of str
        File paths or names.

    Returns
    -------
    str
        The single format all files share.

    Raises
    ------
    InputError
        When the files mix formats.
    """
    kinds: dict[str, str] = {}
    for name in names:
        base = _strip_compression(name.rsplit("/", 1)[-1].lower())
        if base.endswith(PARQUET_SUFFIXES) or name.lower().endswith(PARQUET_SUFFIXES):
            kinds.setdefault("parquet", name)
        elif base.endswith(JSON_SUFFIXES):
            kinds.setdefault("json", name)
        else:
            kinds.setdefault("text", name)
    if len(kinds) > 1:
        examples = "; ".join(f"{k}: {v}" for k, v in sorted(kinds.items()))
        raise InputError(f"the corpus mixes input formats ({examples}); point corpus.path at "
                         "one format or set corpus.format")
    return next(iter(kinds), "text")


def resolve_input(spark, cfg: CorpusConfig) -> CorpusInput:
    """Find the corpus files and fingerprint them (names, sizes and modification times).

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : CorpusConfig

    Returns
    -------
    CorpusInput

    Raises
    ------
    ConfigError
        When no corpus path is configured.
    InputError
        When the path matches nothing or holds no data files.
    """
    if not cfg.path:
        raise ConfigError("config key corpus.path is empty: give the corpus with --corpus PATH "
                          "or --set corpus.path=PATH")
    fs = HadoopFS(spark)
    if has_glob(cfg.path):
        roots = fs.glob(cfg.path)
        base = fs.qualify(glob_base(cfg.path))
    else:
        roots = [fs.qualify(cfg.path)] if fs.exists(cfg.path) else []
        base = roots[0] if roots and fs.is_dir(roots[0]) else fs.qualify(glob_base(cfg.path))
    if not roots:
        raise InputError(f"corpus path {cfg.path} does not exist or matches no file")
    files = [f for root in roots for f in fs.list_files(root)]
    if not files:
        raise InputError(f"corpus path {cfg.path} holds no data files")
    fmt = cfg.format if cfg.format != "auto" else detect_format([f.path for f in files])
    if cfg.where:
        files = _files_passing_where(spark, files, base, fmt, cfg)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path}\t{f.size}\t{f.mtime}\n".encode())
    digest.update(json.dumps([fmt, cfg.text_field, cfg.where, cfg.bad_records]).encode())
    return CorpusInput(
        path=cfg.path, base_path=base, format=fmt, n_files=len(files),
        n_bytes=sum(f.size for f in files), fingerprint=digest.hexdigest(),
        files=tuple(files),
    )


def _partition_values(path: str, base: str) -> dict[str, str]:
    rel = path[len(base):].strip("/") if path.startswith(base) else path
    pairs = (part.split("=", 1) for part in rel.split("/")[:-1] if "=" in part)
    return {k: unquote(v) for k, v in pairs}


def _files_passing_where(spark, files: list[FileInfo], base: str, fmt: str,
                         cfg: CorpusConfig) -> list[FileInfo]:
    """The files whose partition values pass ``corpus.where``, so that the fingerprint and
    the counts in manifests cover exactly what is read.

    The filter is evaluated by Spark over a small table of partition values (one row per file,
    typed as Spark's partition discovery types them). A filter that also names data columns
    cannot be decided per file; then every file is kept, which is safe for fingerprints.
    """
    from pyspark.errors import AnalysisException, ParseException
    from pyspark.sql import functions as F

    reader = spark.read.option("basePath", base)
    if fmt == "json":  # a given data schema spares Spark a pass to infer one
        reader = reader.schema(f"`{cfg.text_field}` STRING")
    schema = reader.format(fmt).load(cfg.path).schema
    types = {f.name: f.dataType for f in schema.fields if f.name not in ("value", cfg.text_field)}
    values = [_partition_values(f.path, base) for f in files]
    names = [n for n in types if all(n in v for v in values)]
    if not names:
        return files
    table = spark.createDataFrame([(i, *(v[n] for n in names)) for i, v in enumerate(values)],
                                  ["_i", *names])
    typed = table.select("_i", *(F.col(n).cast(types[n]).alias(n) for n in names))
    try:
        keep = {r["_i"] for r in typed.where(cfg.where).select("_i").collect()}
    except (AnalysisException, ParseException):
        return files  # the filter names data columns too: read_corpus applies it per record
    return [f for i, f in enumerate(files) if i in keep]


def line_problems(col, max_bytes: int):
    """A Spark column naming what is wrong with a raw line, or null when nothing is.

    Bad lines: bytes that are not UTF-8 (binary data, Latin-1 or UTF-16 text), NUL bytes
    (binary data, or UTF-16 text that happens to be valid UTF-8), and lines longer than
    ``max_bytes`` (a file without newlines).
    """
    from pyspark.sql import functions as F

    return (F.when(~F.is_valid_utf8(col), F.lit("bytes that are not UTF-8"))
            .when(F.instr(col, "\u0000") > 0, F.lit("NUL bytes (binary data or UTF-16?)"))
            .when(F.octet_length(col) > max_bytes,
                  F.concat(F.lit("a line of "), F.octet_length(col).cast("string"),
                           F.lit(f" bytes, longer than corpus.max_line_bytes = {max_bytes} "
                                 "(no newlines?)"))))


def read_corpus(spark, cfg: CorpusConfig, source: CorpusInput | None = None,
                paths: list[str] | None = None):
    """Read the corpus as a DataFrame with a ``text`` column plus its partition columns.

    Bad lines (see :func:`line_problems`) and malformed JSON records make the job fail with
    the file named, or are dropped when ``corpus.bad_records = "skip"``.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : CorpusConfig
    source : CorpusInput, optional
        The result of :func:`resolve_input`, if already computed.
    paths : list of str, optional
        Read only these files (of ``source``), e.g. one partition's.

    Returns
    -------
    pyspark.sql.DataFrame

    Raises
    ------
    InputError
        When a Parquet input has no such text column.
    ConfigError
        When ``corpus.where`` does not parse or names an unknown column.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    source = source or resolve_input(spark, cfg)
    skip = cfg.bad_records == "skip"
    spark.conf.set("spark.sql.files.ignoreCorruptFiles", str(skip).lower())
    reader = spark.read.option("basePath", source.base_path)
    where = paths if paths is not None else cfg.path
    if source.format == "text":
        df = reader.text(where).withColumnRenamed("value", "text")
        # Spark keeps a line's raw bytes, so invalid UTF-8 is still visible here
        problem = line_problems(F.col("text"), cfg.max_line_bytes)
        bad = problem.isNotNull()
        what = problem
    elif source.format == "json":
        schema = T.StructType([
            T.StructField(cfg.text_field, T.StringType()),
            T.StructField("_corrupt_record", T.StringType()),
        ])
        df = (reader.schema(schema).option("mode", "PERMISSIVE")
              .option("columnNameOfCorruptRecord", "_corrupt_record").json(where))
        df = df.withColumnRenamed(cfg.text_field, "text") if cfg.text_field != "text" else df
        problem = line_problems(F.col("text"), cfg.max_line_bytes)
        bad = F.col("_corrupt_record").isNotNull() | problem.isNotNull()
        what = F.coalesce(problem, F.lit("a malformed JSON record"))
    else:
        df = reader.parquet(*([where] if isinstance(where, str) else where))
        if cfg.text_field not in df.columns:
            raise InputError(f"Parquet corpus {cfg.path} has no column {cfg.text_field!r} "
                             f"(columns: {', '.join(df.columns)}); set corpus.text_field")
        if dict(df.dtypes)[cfg.text_field] != "string":
            raise InputError(f"Parquet corpus {cfg.path}: column {cfg.text_field!r} is "
                             f"{dict(df.dtypes)[cfg.text_field]}, expected string")
        df = df.withColumnRenamed(cfg.text_field, "text") if cfg.text_field != "text" else df
        bad = F.octet_length("text") > cfg.max_line_bytes
        what = F.lit(f"a record longer than corpus.max_line_bytes = {cfg.max_line_bytes}")
    if cfg.where:
        df = _apply_where(df, cfg.where)
    if skip:
        df = df.where(~bad | bad.isNull())
    else:
        # fail inside the scan, naming the file, instead of counting garbage as words
        message = F.concat(
            F.lit("BAD_INPUT: "), what, F.lit(" in "), F.input_file_name(), F.lit(": "),
            F.substring(F.coalesce(F.col("_corrupt_record") if source.format == "json"
                                   else F.lit(None), F.col("text")), 1, 80),
        )
        df = df.withColumn("text", F.when(bad, F.raise_error(message).cast("string"))
                           .otherwise(F.col("text")))
    keep = [c for c in df.columns if c != "_corrupt_record"]
    return df.select(*keep).where(F.col("text").isNotNull())


def _apply_where(df, where: str):
    from pyspark.errors import AnalysisException, ParseException

    try:
        return df.where(where)
    except (AnalysisException, ParseException) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"config key corpus.where = {where!r} is not a valid filter over "
                          f"the columns {', '.join(df.columns)}: {first}") from None


def tokenize(df, cfg: TokenizeConfig):
    """Add a ``tokens`` array column computed with Spark built-ins.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Has a string column ``text``.
    cfg : TokenizeConfig

    Returns
    -------
    pyspark.sql.DataFrame
        ``df`` with ``tokens: array<string>`` (empty tokens removed).

    Examples
    --------
    With the defaults, ``"Don't ﬁnd Ｆｕｌｌ 'quotes'"`` gives
    ``["don't", "find", "full", "quotes"]``.
    """
    from pyspark.sql import functions as F

    text = F.col("text")
    if cfg.nfkc:
        text = F.reflect(F.lit(_NFKC[0]), F.lit(_NFKC[1]), text, F.lit(True))
    if cfg.lowercase:
        text = F.lower(text)
    if cfg.mode == "regex":
        _check_pattern(cfg.pattern)
        tokens = F.regexp_extract_all(text, F.lit(cfg.pattern), 0)
    else:
        tokens = F.array_remove(F.split(text, r"\s+"), "")
    return df.withColumn("tokens", tokens)


def _check_pattern(pattern: str) -> None:
    # Java and Python regex syntax differ; catch the plain mistakes before Spark runs
    try:
        re.compile(pattern.replace(r"\p{L}", "a").replace(r"\p{N}", "0"))
    except re.error as exc:
        raise ConfigError(f"config key tokenize.pattern = {pattern!r} is not a valid regular "
                          f"expression: {exc}") from None
