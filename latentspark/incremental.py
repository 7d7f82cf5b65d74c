"""Incremental counting: word and co-occurrence counts kept per input partition.

A retraining job over a corpus that grows by one ``date=`` folder a day should count that
folder and nothing else. Each *part* (each folder that holds corpus files; with Hive-style
layouts, each partition) keeps its own published counts under the run root::

    <root>/parts/words/<part>/<version>/      word counts of the part's files
    <root>/parts/cooccur/<part>/<version>/    its co-occurrence counts, as exact sums

Each is fingerprinted by the part's files (names, sizes, modification times), so a part
whose files changed is counted again and a part that disappeared is dropped. New parts are
checked and counted ``pipeline.parallel_parts`` at a time (one Spark job each).

The published ``cooccur`` stage is the merge of every part's counts. Co-occurrence sums are
whole multiples of ``1 / weight_scale`` kept exactly (see
:func:`latentspark.cooccurrence.weight_scale`), so a merge equals, bit for bit, counting the
whole corpus in one job, and subtraction is exact too. The stage keeps its exact sums beside
the published ones (``cooccur/<version>/exact/``): the next merge starts from that running
total, adds the new or recounted parts and subtracts the versions of changed or removed parts
it held, one task per row block reading the block's files, with no shuffle. Its cost grows
with the change and the size of the matrix, not with the number of parts.

Vocabulary policy (``pipeline.vocabulary``):

* ``frozen``: the vocabulary is built at the first run and kept (until ``--from vocab``).
  Words that appear later are out of vocabulary; counts stay incremental.
* ``rebuild``: the vocabulary is rebuilt every run from the parts' word counts (which are
  incremental). Ids and subsampling depend on it, so when it changes every part's
  co-occurrences are counted again.

Before a new part is counted its files are checked (:func:`check_files`): empty, unreadable,
binary, not UTF-8, or with a line longer than ``corpus.max_line_bytes``. Bad files fail the
run with every one named (``pipeline.bad_files = "fail"``), or are left out and listed in the
manifests (``"skip"``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field, replace
from urllib.parse import unquote

from latentspark import schemas
from latentspark.artifacts import COOCCUR, VOCAB, Published, RunRoot, StageStore
from latentspark.config import Config
from latentspark.corpus import CorpusInput, audit_lines, read_corpus, resolve_input, tokenize
from latentspark.errors import InputError, spark_errors
from latentspark.fs import FileInfo, HadoopFS

logger = logging.getLogger(__name__)

PARTS = "parts"


@dataclass
class Part:
    """One folder of corpus files, counted on its own."""

    key: str
    files: list[FileInfo]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """A folder name for the part's counts (``date=2026-11-01+lang=en-1a2b3c4d``).

        The readable part alone could be shared (``a/b`` and a folder named ``a+b``; the
        top level and a folder named ``root``): the hash of the exact key keeps parts apart.
        """
        tag = hashlib.sha256(self.key.encode()).hexdigest()[:8]
        return f"{self.key.replace('/', '+') if self.key else 'root'}-{tag}"

    @property
    def good_files(self) -> list[str]:
        """The files that are counted (all but the skipped ones)."""
        return [f.path for f in self.files if f.path not in self.skipped]

    def fingerprint(self, source: CorpusInput) -> str:
        """SHA-256 of the part's files and of how they are read."""
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{f.path}\t{f.size}\t{f.mtime}\n".encode())
        digest.update(source.format.encode())
        return digest.hexdigest()


def split_parts(source: CorpusInput) -> list[Part]:
    """Group the corpus files by the folder that holds them, relative to the corpus root."""
    base = source.base_path.rstrip("/")
    parts: dict[str, list[FileInfo]] = {}
    for f in source.files:
        rel = f.path[len(base):].strip("/") if f.path.startswith(base) else f.path
        parts.setdefault(rel.rsplit("/", 1)[0] if "/" in rel else "", []).append(f)
    return [Part(key, files) for key, files in sorted(parts.items())]


def _normal(fs: HadoopFS, path: str) -> str:
    return unquote(fs.qualify(path))


def check_files(spark, cfg: Config, source: CorpusInput, part: Part) -> dict[str, str]:
    """Find the part's bad files, each with the reason, in one Spark job over its lines
    (:func:`latentspark.corpus.audit_lines`; Parquet files are checked for readability).

    Returns
    -------
    dict
        File path to what is wrong with it; empty when every file is good.
    """
    from pyspark.sql import functions as F

    if source.format != "parquet":  # JSON lines are lines too: the same checks apply
        return audit_lines(spark, cfg.corpus, source, part.files, empty_is_bad=True)
    fs = HadoopFS(spark)
    bad: dict[str, str] = {f.path: "empty file (0 bytes)" for f in part.files if f.size == 0}
    paths = [f.path for f in part.files if f.size > 0]
    if not paths:
        return bad
    # a corrupt file must not stop the check: it is found missing from the result instead
    reader = spark.read.option("basePath", source.base_path).option("ignoreCorruptFiles", "true")
    stats = (reader.parquet(*paths).select(F.input_file_name().alias("file"))
             .groupBy("file").count().collect())  # one row per file of one part
    seen = {_normal(fs, row["file"]) for row in stats}
    for path in paths:
        if _normal(fs, path) not in seen:
            bad[path] = "unreadable (corrupt or truncated?) or no rows"
    return bad


def part_hash(cfg: Config, *sections: str) -> str:
    """Hash of the settings that shape a part's counts: not ``corpus.path`` nor
    ``corpus.where``, which choose the parts but do not change how one is counted."""
    payload = cfg.to_dict()
    chosen = {name: payload[name] for name in sections}
    if "corpus" in chosen:
        chosen["corpus"] = {k: v for k, v in chosen["corpus"].items()
                            if k not in ("path", "where")}
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()


def _part_stores(spark, cfg: Config, kind: str, part: Part) -> StageStore:
    # two versions of a part's counts: the merge subtracts the one the running total holds
    return StageStore(spark, f"{cfg.run.root.rstrip('/')}/{PARTS}/{kind}", part.slug,
                      keep_versions=2 if kind == "cooccur" else 1, lock_root=cfg.run.root,
                      lock_ttl=cfg.run.lock_ttl, lock_wait=cfg.run.lock_wait)


def _stale_parts(spark, cfg: Config, kind: str, live: set[str]) -> list[str]:
    fs = HadoopFS(spark)
    base = f"{cfg.run.root.rstrip('/')}/{PARTS}/{kind}"
    return [n for n in fs.list_names(base) if not n.startswith(("_", ".")) and n not in live]


def _count_words(spark, cfg: Config, source: CorpusInput, part: Part, fp: str,
                 config_hash: str) -> Published:
    """Word counts of one part (with its file check), published under ``parts/words``."""
    from pyspark.sql import functions as F

    from latentspark.vocabulary import word_counts

    store = _part_stores(spark, cfg, "words", part)
    cur = store.current()
    if cur and cur.manifest.get("input_fingerprint") == fp and \
            cur.manifest.get("config_hash") == config_hash:
        part.skipped = dict(cur.manifest.get("skipped_files", {}))
        return cur
    logger.info("part %s: new or changed; checking %d files", part.key or "(root)",
                len(part.files))
    part.skipped = check_files(spark, cfg, source, part)
    if part.skipped and cfg.pipeline.bad_files == "fail":
        raise InputError("bad input in partition " + (part.key or source.path) + ":\n  "
                         + "\n  ".join(f"{p}: {why}" for p, why in part.skipped.items())
                         + "\nfix or remove these files, or set pipeline.bad_files = \"skip\"")
    for path, why in part.skipped.items():
        logger.warning("part %s: skipping %s: %s", part.key or "(root)", path, why)
    with store.staging() as st, spark_errors(f"partition {part.key or source.path}"):
        if part.good_files:
            counts = word_counts(tokenize(read_corpus(spark, cfg.corpus, source,
                                                      part.good_files), cfg.tokenize))
            counts.write.parquet(st.data_path)
            tokens = spark.read.parquet(st.data_path).agg(F.sum("count")).first()[0] or 0
        else:
            tokens = 0
        st.manifest.update({"part": part.key, "input_fingerprint": fp,
                            "config_hash": config_hash, "files": len(part.files),
                            "bytes": sum(f.size for f in part.files),
                            "skipped_files": part.skipped, "tokens": int(tokens),
                            "schema": schemas.describe(schemas.WORD_COUNTS)})
    return st.published  # this run's version, not whatever is newest


def _build_vocab(spark, cfg: Config, words: dict[str, Published], fingerprint: str,
                 config_hash: str) -> Published:
    """The vocabulary of the merged word counts of all parts, published as the vocab stage."""
    from pyspark.sql import functions as F

    from latentspark.vocabulary import select_vocabulary

    store = RunRoot.from_config(spark, cfg).store(VOCAB)
    paths = [f"{p.path}/data" for p in words.values() if p.manifest.get("tokens")]
    if not paths:
        raise InputError(f"corpus {cfg.corpus.path} has no tokens in any partition")
    with store.staging() as st:
        counts = (spark.read.parquet(*paths).groupBy("word")
                  .agg(F.sum("count").alias("count")))
        totals = counts.agg(F.count(F.lit(1)).alias("distinct"),
                            F.sum("count").alias("tokens")).first()
        select_vocabulary(counts, cfg.vocab.min_count, cfg.vocab.max_size) \
            .coalesce(1).write.parquet(st.data_path)
        kept = spark.read.parquet(st.data_path).agg(
            F.count(F.lit(1)).alias("words"), F.sum("count").alias("tokens")).first()
        if not kept["words"]:
            raise InputError(f"no word of corpus {cfg.corpus.path} occurs "
                             f"{cfg.vocab.min_count} times or more; lower vocab.min_count")
        st.manifest.update({
            "config": cfg.to_dict(), "config_hash": config_hash,
            "input_fingerprint": fingerprint, "policy": cfg.pipeline.vocabulary,
            "input": {"path": cfg.corpus.path, "parts": {k: p.version for k, p in words.items()}},
            "rows": int(kept["words"]), "corpus_tokens": int(totals["tokens"]),
            "distinct_words": int(totals["distinct"]), "vocab_tokens": int(kept["tokens"]),
            "coverage": round(int(kept["tokens"]) / int(totals["tokens"]), 6),
            "schema": schemas.describe(schemas.VOCAB),
        })
    logger.info("vocab: %d words kept of %d distinct (policy %s)", kept["words"],
                totals["distinct"], cfg.pipeline.vocabulary)
    return st.published  # this run's version, not whatever is newest


def _count_part(spark, cfg: Config, source: CorpusInput, part: Part, fp: str,
                vocab_words, vocab_counts, config_hash: str) -> Published:
    """Exact co-occurrence counts of one part, published under ``parts/cooccur``."""
    from latentspark.cooccurrence import count_cooccurrences
    from latentspark.stages.cooccur import files_into_blocks

    store = _part_stores(spark, cfg, "cooccur", part)
    with store.staging() as st, spark_errors(f"partition {part.key or source.path}"):
        if part.good_files:
            tokens = tokenize(read_corpus(spark, cfg.corpus, source, part.good_files),
                              cfg.tokenize)
            with st.timed("count"):
                count_cooccurrences(spark, tokens, vocab_words, vocab_counts, cfg.cooccur,
                                    exact=True, tokenizer=cfg.tokenize
                                    ).write.parquet(st.data_path)
            files_into_blocks(store.fs, st.data_path, cfg.cooccur.blocks)
        else:
            empty = schemas.ddl(schemas.COOCCUR_EXACT)
            spark.createDataFrame([], empty).write.parquet(st.data_path)
        st.manifest.update({"part": part.key, "input_fingerprint": fp,
                            "config_hash": config_hash, "skipped_files": part.skipped,
                            "schema": schemas.describe(schemas.COOCCUR_EXACT)
                            + " (weights times weight_scale)"})
    return st.published  # this run's version, not whatever is newest


def _merge_plan(spark, cfg: Config, prev: Published | None, counts: dict[str, Published],
                vocab_version: str, count_hash: str) -> tuple[dict, str]:
    """Which exact count files each block adds and subtracts.

    When the published total was merged from parts against the same vocabulary and settings,
    the new total is that total, plus the parts that are new or were recounted, minus the
    versions of changed or removed parts it holds: the work grows with the change, not with
    the history. Otherwise every part is added up from scratch.
    """
    fs = HadoopFS(spark)
    blocks = cfg.cooccur.blocks
    base = f"{cfg.run.root.rstrip('/')}/{PARTS}/cooccur"

    def files(path: str) -> dict[int, list[str]]:
        # one recursive listing per path, not two calls per block: blocks follow the cluster
        # (thousands), and a merge lists every part
        out: dict[int, list[str]] = {k: [] for k in range(blocks)}
        for f in fs.list_files(path) if fs.exists(path) else []:
            m = re.search(r"/block=(\d+)/[^/]+\.parquet$", f.path)
            if m and int(m.group(1)) < blocks:
                out[int(m.group(1))].append(f.path)
        return out

    held = (prev.manifest.get("parts") or {}) if prev else {}
    usable = (prev is not None and prev.manifest.get("mode") == "incremental"
              and prev.manifest.get("config_hash") == count_hash
              and prev.manifest.get("input", {}).get("vocab_version") == vocab_version
              and fs.exists(f"{prev.path}/exact"))
    now = {k: p.version for k, p in counts.items()}
    before = {k: v.get("counts_version") for k, v in held.items()}
    gone = {k: v for k, v in before.items() if now.get(k) != v}
    # the versions to subtract must still be there (two are kept per part)
    usable = usable and all(v and fs.exists(f"{base}/{Part(k, []).slug}/{v}")
                            for k, v in gone.items())
    add: list[dict[int, list[str]]] = []
    sub: list[dict[int, list[str]]] = []
    if usable:
        add.append(files(f"{prev.path}/exact"))
        add += [files(f"{counts[k].path}/data") for k in now if before.get(k) != now[k]]
        sub += [files(f"{base}/{Part(k, []).slug}/{v}/data") for k, v in gone.items()]
        how = (f"the previous total {prev.version} + {len(add) - 1} new or recounted "
               f"partitions - {len(sub)} old ones")
    else:
        add += [files(f"{p.path}/data") for p in counts.values()]
        how = f"all {len(add)} partitions"
    plan = {k: ([f for a in add for f in a[k]], [f for s in sub for f in s[k]])
            for k in range(blocks)}
    return plan, how


def _each_part(cfg: Config, parts: list[Part], work) -> dict[str, Published]:
    """``work(part)`` for every part, ``pipeline.parallel_parts`` Spark jobs at a time.

    A small part's jobs leave most executors idle; running several at once fills them. All
    parts are attempted; bad input in several is reported together.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, cfg.pipeline.parallel_parts)) as pool:
        futures = {p.key: pool.submit(work, p) for p in parts}
    errors = [f.exception() for f in futures.values() if f.exception() is not None]
    inputs = [e for e in errors if isinstance(e, InputError)]
    if inputs and len(inputs) == len(errors):
        raise InputError("\n".join(str(e) for e in inputs))
    if errors:
        raise errors[0]
    return {k: f.result() for k, f in futures.items()}


def run_cooccur_incremental(spark, cfg: Config, force_vocab: bool = False,
                            force_counts: bool = False, full: bool = False) -> Published:
    """Count what is new, merge, and publish the ``vocab`` and ``cooccur`` stages.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    force_vocab : bool
        Rebuild the vocabulary (and so recount every part), even a frozen one.
    force_counts : bool
        Recount every part.
    full : bool
        Count the whole corpus in one job instead of merging the parts' counts (the parts'
        word counts and file checks are still used); for checking, or after a change of
        counting code.

    Returns
    -------
    Published
        The ``cooccur`` stage, in the same layout as :func:`latentspark.stages.cooccur.run`.

    Raises
    ------
    InputError
        Bad files with ``pipeline.bad_files = "fail"`` (all named), or no data at all.
    """
    # the whole merge under the run root's lease: the parts, vocabulary and counts it
    # reads are the ones it publishes, never another run's
    with RunRoot.from_config(spark, cfg).lock():
        return _run_incremental(spark, cfg, force_vocab, force_counts, full)


def _run_incremental(spark, cfg: Config, force_vocab: bool, force_counts: bool,
                     full: bool) -> Published:
    from pyspark.sql import functions as F

    from latentspark.cooccurrence import count_cooccurrences, merge_blocks, resolve_blocks
    from latentspark.stages.cooccur import LAYOUT, files_into_blocks
    from latentspark.vocabulary import load_vocabulary

    # one block layout per root: blocks = 0 resolves to the count the published total has, so
    # the per-part counts stay mergeable; the resolved count is in every hash below, so parts
    # counted with another layout are counted again. A root's first layout follows the cluster,
    # not its first day's tokens: the root keeps it while the corpus grows
    prev = RunRoot.from_config(spark, cfg).store(COOCCUR).current()
    recorded = prev.manifest.get("blocks") if prev and not force_counts else None
    cfg = replace(cfg, cooccur=replace(cfg.cooccur, blocks=resolve_blocks(spark, cfg.cooccur,
                                                                          recorded)))
    source = resolve_input(spark, cfg.corpus)
    parts = split_parts(source)
    fs = HadoopFS(spark)
    logger.info("incremental: %d files in %d partitions under %s", source.n_files, len(parts),
                source.path)
    read_hash = part_hash(cfg, "corpus", "tokenize")
    prints = {p.key: p.fingerprint(source) for p in parts}
    words = _each_part(cfg, parts, lambda p: _count_words(spark, cfg, source, p, prints[p.key],
                                                           read_hash))

    # the vocabulary, by the policy
    vocab_hash = part_hash(cfg, "corpus", "tokenize", "vocab")
    vocab_print = hashlib.sha256(json.dumps(sorted(
        (k, p.version) for k, p in words.items())).encode()).hexdigest()
    root = RunRoot.from_config(spark, cfg)
    vstore = root.store(VOCAB)
    vocab = vstore.current()
    keep = vocab is not None and not force_vocab and \
        vocab.manifest.get("config_hash") == vocab_hash and (
            cfg.pipeline.vocabulary == "frozen"
            or vocab.manifest.get("input_fingerprint") == vocab_print)
    if keep:
        logger.info("vocab: keeping version %s (policy %s)", vocab.version,
                    cfg.pipeline.vocabulary)
    else:
        vocab = _build_vocab(spark, cfg, words, vocab_print, vocab_hash)
    vocab_words, vocab_counts = load_vocabulary(spark, vocab)

    # each part's co-occurrences, against this vocabulary
    count_hash = part_hash(cfg, "corpus", "tokenize", "vocab", "cooccur")
    counted: list[str] = []
    part_counts: dict[str, Published] = {}
    if not full:
        def count(p: Part) -> Published:
            fp = f"{prints[p.key]}:{vocab.version}"
            store = _part_stores(spark, cfg, "cooccur", p)
            cur = store.current()
            if cur and not force_counts and cur.manifest.get("input_fingerprint") == fp and \
                    cur.manifest.get("config_hash") == count_hash:
                return cur
            logger.info("part %s: counting co-occurrences (%d files)", p.key or "(root)",
                        len(p.good_files))
            counted.append(p.key)
            return _count_part(spark, cfg, source, p, fp, vocab_words, vocab_counts,
                               count_hash)

        part_counts = _each_part(cfg, parts, count)
        counted.sort()
        logger.info("incremental: counted %d of %d partitions: %s", len(counted), len(parts),
                    ", ".join(k or "(root)" for k in counted) or "none")

    # the merge, published as the cooccur stage
    fingerprint = hashlib.sha256(json.dumps(
        ["full" if full else "merge", vocab.version, sorted(prints.items()),
         sorted((k, p.version) for k, p in part_counts.items()),
         sorted((p.key, sorted(p.skipped)) for p in parts)]).encode()).hexdigest()
    cstore = root.store(COOCCUR)
    cur = cstore.current()
    if cur and cur.manifest.get("input_fingerprint") == fingerprint and \
            cur.manifest.get("config_hash") == count_hash:
        logger.info("cooccur: version %s is up to date; skipping", cur.version)
        return cur
    plan, how = ({}, "") if full else _merge_plan(spark, cfg, cur, part_counts,
                                                  vocab.version, count_hash)
    with cstore.staging() as st, spark_errors(f"corpus {source.path}"):
        if full:
            with st.timed("count_and_write"):
                good = [path for p in parts for path in p.good_files]
                tokens = tokenize(read_corpus(spark, cfg.corpus, source, good), cfg.tokenize)
                count_cooccurrences(spark, tokens, vocab_words, vocab_counts,
                                    cfg.cooccur, tokenizer=cfg.tokenize
                                    ).write.parquet(st.data_path)
            files_into_blocks(cstore.fs, st.data_path, cfg.cooccur.blocks)
            stats = spark.read.parquet(st.data_path).agg(
                F.count(F.lit(1)).alias("nnz"), F.sum("weight").alias("total")).first()
            nnz, total = int(stats["nnz"]), float(stats["total"] or 0.0)
        else:
            logger.info("cooccur: merging %s", how)
            with st.timed("merge_and_write"):
                nnz, total = merge_blocks(spark, plan, len(vocab_words), cfg.cooccur,
                                          f"{st.path}/exact", st.data_path)
        if not nnz:
            raise InputError(f"corpus {source.path} has no line with two vocabulary words; "
                             "no co-occurrence to count")
        skipped = {path: why for p in parts for path, why in p.skipped.items()}
        st.manifest.update({
            "config": cfg.to_dict(), "config_hash": count_hash,
            "input_fingerprint": fingerprint,
            "input": {"path": source.path, "format": source.format, "files": source.n_files,
                      "bytes": source.n_bytes, "vocab_version": vocab.version},
            "mode": "full" if full else "incremental",
            "parts": {p.key: {"fingerprint": prints[p.key], "files": len(p.files),
                              "counts_version": part_counts[p.key].version
                              if p.key in part_counts else None}
                      for p in parts},
            "counted_now": counted,
            "skipped_files": skipped,
            "vocab_size": len(vocab_words),
            "rows": nnz,
            "total_weight": total,
            "merge": None if full else how,
            "blocks": cfg.cooccur.blocks,
            "layout": LAYOUT,
            "schema": schemas.describe(schemas.COOCCUR),
            "corpus_tokens": vocab.manifest.get("corpus_tokens"),
        })
    # parts that are gone: their counts no longer belong to the corpus (with a where filter a
    # missing part may only be filtered out, so its counts are kept for later runs)
    live = {p.slug for p in parts}
    for kind in (("words", "cooccur") if not cfg.corpus.where else ()):
        for name in _stale_parts(spark, cfg, kind, live):
            logger.info("part %s is no longer in the corpus; removing its %s counts", name, kind)
            fs.delete(f"{cfg.run.root.rstrip('/')}/{PARTS}/{kind}/{name}")
    logger.info("cooccur: %d non-zeros, total weight %.4g", nnz, total)
    return st.published  # this run's version, not whatever is newest
