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
        from latentspark.where import check_columns, parse

        flt = parse(cfg.where)
        columns = sorted({k for f in files for k in _partition_values(f.path, base)})
        check_columns(flt, cfg.where, columns)
        files = _files_passing_where(spark, files, base, fmt, cfg, flt.sql)
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
                         cfg: CorpusConfig, sql: str) -> list[FileInfo]:
    """The files whose partition values pass ``corpus.where``, so that the fingerprint and
    the counts in manifests cover exactly what is read.

    The filter (``sql``, written back by :func:`latentspark.where.parse`, partition columns
    only) is evaluated by Spark over a small table of partition values: one row per file,
    typed as Spark's partition discovery types them.
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
        keep = {r["_i"] for r in typed.where(sql).select("_i").collect()}
    except (AnalysisException, ParseException) as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"config key corpus.where = {cfg.where!r} does not apply to the "
                          f"partition columns {', '.join(names)}: {first}") from None
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


#: Hadoop's ``LineRecordReader`` skips (without holding) lines longer than this setting
MAX_LINE_OPTION = "mapreduce.input.linerecordreader.line.maxlength"
#: bytes a file may hold outside its lines' text and newlines: a UTF-8 byte order mark
_SLACK = 3


def line_reader(spark, base_path: str, max_line_bytes: int):
    """A ``DataFrameReader`` for lines that never holds more than ``max_line_bytes`` of one.

    Lines are split on ``\n`` only (a ``\r`` stays in its line), so that every byte of an
    uncompressed file is either in a line or in its newline, and Hadoop's reader skips a
    longer line as it reads it (a file without newlines is never loaded whole);
    :func:`audit_lines` finds the skipped bytes again.
    """
    # + 2: the reader counts the newline, and a line of exactly max_line_bytes is allowed
    return (spark.read.option("basePath", base_path).option("lineSep", "\n")
            .option(MAX_LINE_OPTION, str(max_line_bytes + 2)))


def audit_lines(spark, cfg: CorpusConfig, source: CorpusInput, files: list[FileInfo],
                empty_is_bad: bool = False) -> dict[str, str]:
    """Find the bad lines of text or JSON-lines files, per file, in one Spark job.

    Counts the lines :func:`line_problems` flags and, for uncompressed files, the bytes that
    are in no line read: those of lines longer than ``corpus.max_line_bytes``, which the
    reader skipped without holding them.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : CorpusConfig
    source : CorpusInput
    files : list of FileInfo
        The files to check (of ``source``).
    empty_is_bad : bool
        Report empty files too (the incremental pipeline's file check does).

    Returns
    -------
    dict
        File path to what is wrong with it (``"3 of 120 lines bad, ..."``); only bad files.
    """
    from pyspark.sql import functions as F

    fs = HadoopFS(spark)
    bad: dict[str, str] = {f.path: "empty file (0 bytes)" for f in files
                           if f.size == 0 and empty_is_bad}
    files = [f for f in files if f.size > 0]
    if not files:
        return bad
    max_bytes = cfg.max_line_bytes
    # a corrupt file must not stop the check: it is found missing from the result instead (a
    # reader option, not the session's setting, so that parts can be checked concurrently)
    lines = (line_reader(spark, source.base_path, max_bytes)
             .option("ignoreCorruptFiles", "true").text([f.path for f in files]))
    stats = (lines.select(F.input_file_name().alias("file"),
                          F.octet_length("value").alias("n"),
                          line_problems(F.col("value"), max_bytes).alias("problem"))
             .groupBy("file")
             .agg(F.count(F.lit(1)).alias("lines"), F.sum("n").alias("bytes"),
                  F.count("problem").alias("bad"),
                  F.first("problem", ignorenulls=True).alias("problem"))
             .collect())  # one row per file
    seen = {unquote(fs.qualify(row["file"])): row for row in stats}
    for f in files:
        row = seen.get(unquote(fs.qualify(f.path)))
        plain = _strip_compression(f.path) == f.path
        read = (int(row["bytes"] or 0) + int(row["lines"])) if row is not None else 0
        unread = f.size - read if plain else 0
        whys = []
        if unread > _SLACK:
            whys.append(f"{unread} bytes in lines longer than corpus.max_line_bytes = "
                        f"{max_bytes}, skipped unread (no newlines?)")
        if row is None and not whys:
            whys.append("cannot read it (corrupt or truncated compressed data?) or no lines")
        elif row is not None and row["bad"]:
            whys.append(f"{row['bad']} of {row['lines']} lines bad, the first with "
                        f"{row['problem']}")
        if whys:
            bad[f.path] = "; ".join(whys)
    return bad


def check_lines(spark, cfg: CorpusConfig, source: CorpusInput) -> dict[str, str]:
    """Audit the corpus's lines (:func:`audit_lines`) before it is counted.

    With ``corpus.bad_records = "fail"`` any bad file stops the run, all of them named; with
    ``"skip"`` the files and their skipped lines are returned for the manifest.

    Raises
    ------
    InputError
        Bad lines or files with ``bad_records = "fail"``.
    """
    if source.format == "parquet":
        return {}
    bad = audit_lines(spark, cfg, source, list(source.files))
    if bad and cfg.bad_records == "fail":
        shown = sorted(bad.items())[:20]
        raise InputError(f"corpus {source.path}: bad input in {len(bad)} files:\n  "
                         + "\n  ".join(f"{p}: {why}" for p, why in shown)
                         + ("\n  ..." if len(bad) > len(shown) else "")
                         + "\nfix them, or set corpus.bad_records = \"skip\" to leave the bad "
                           "lines out (they are then listed in the manifest)")
    for path, why in sorted(bad.items()):
        logger.warning("corpus: skipping in %s: %s", path, why)
    return bad


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
    reader = (line_reader(spark, source.base_path, cfg.max_line_bytes)
              if source.format in ("text", "json") else
              spark.read.option("basePath", source.base_path))
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
        from latentspark.where import parse

        df = _apply_where(df, parse(cfg.where).sql, cfg.where)
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


def _apply_where(df, sql: str, where: str):
    from pyspark.errors import AnalysisException, ParseException

    try:
        return df.where(sql)
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

    return df.withColumn("tokens", token_column(F.col("text"), cfg))


def token_column(text, cfg: TokenizeConfig):
    """The ``array<string>`` tokens of a string column, as :func:`tokenize` computes them.

    Parameters
    ----------
    text : pyspark.sql.Column
    cfg : TokenizeConfig

    Returns
    -------
    pyspark.sql.Column
    """
    from pyspark.sql import functions as F

    if cfg.nfkc:
        nfkc = F.reflect(F.lit(_NFKC[0]), F.lit(_NFKC[1]), text, F.lit(True))
        # NFKC leaves ASCII as it is: a line of one byte per character (most lines) skips
        # the reflective call into the normaliser
        text = F.when(F.octet_length(text) == F.length(text), text).otherwise(nfkc)
    if cfg.lowercase:
        text = F.lower(text)
    if cfg.mode == "regex":
        _check_pattern(cfg.pattern)
        tokens = F.regexp_extract_all(text, F.lit(cfg.pattern), 0)
    else:
        # (?U): Java's UNICODE_CHARACTER_CLASS, so \s is every Unicode space (NBSP, thin
        # and ideographic spaces...), not ASCII's six, and none ends up inside a word
        tokens = F.array_remove(F.split(text, r"(?U)\s+"), "")
    return tokens


def _check_pattern(pattern: str) -> None:
    # Java and Python regex syntax differ; catch the plain mistakes before Spark runs
    try:
        re.compile(pattern.replace(r"\p{L}", "a").replace(r"\p{N}", "0"))
    except re.error as exc:
        raise ConfigError(f"config key tokenize.pattern = {pattern!r} is not a valid regular "
                          f"expression: {exc}") from None
