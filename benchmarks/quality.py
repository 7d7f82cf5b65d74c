"""Benchmark the quality of latentspark's embeddings against gensim's and Spark MLlib's Word2Vec.

One run of this script trains, one after the other (never concurrently), on the same
pre-tokenised corpus (one paragraph per line, tokens separated by spaces) and at the same
dimension:

1. each latentspark configuration given with ``--ours NAME="KEY=VALUE ..."``, as the whole
   pipeline from raw text (``python -m latentspark run``: vocabulary, co-occurrences,
   embeddings) in a fresh run root, on ``local[2]``;
2. gensim's skip-gram ``Word2Vec`` (window 5, 5 epochs, 2 workers), the corpus streamed from
   the gzip files, in a subprocess (``--worker gensim``);
3. Spark MLlib's ``Word2Vec`` on ``local[2]`` (window 5, one iteration, 2 partitions), in a
   subprocess (``--worker mllib``).

Each run is timed and the summed RSS of its whole process tree (the JVM and the Python workers
included) is sampled every 0.2 s. The vectors of every model are then scored the same way, with
gensim's ``KeyedVectors``: Google analogies (3CosAdd), WordSim-353 and SimLex-999. The results
go to ``quality.json`` and ``quality.md`` (and the tails of the logs to ``quality_logs/``) in
``--out-dir``. See ``benchmarks/README.md``.

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
    "ppmi_wals": f"factorize.method=ppmi_wals factorize.wals_iterations=2 {W2V_COUNTS}",
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
PEERS = ("gensim", "mllib")
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


def evaluate(words: Sequence[str], vectors: np.ndarray, eval_dir: Path) -> dict[str, Any]:
    """Score vectors on Google analogies, WordSim-353 and SimLex-999 with gensim.

    Parameters
    ----------
    words : sequence of str
        The vocabulary, most frequent first (``restrict_vocab`` keeps a prefix of it).
    vectors : numpy.ndarray
        One row per word.
    eval_dir : Path
        Folder with ``questions-words.txt``, ``wordsim353.tsv`` and ``simlex999.txt``.

    Returns
    -------
    dict
        ``google``: total, semantic and syntactic accuracy, answerable questions (both words
        pairs' four words in the vocabulary; the others are skipped, as gensim does) and
        per-section counts; ``wordsim353`` and ``simlex999``: Spearman and Pearson
        correlations and gensim's out-of-vocabulary percentage (OOV pairs are skipped);
        ``zero_vectors``: rows that are all zero (their cosine is undefined), and ``seconds``.
    """
    from gensim.models import KeyedVectors

    t0 = time.perf_counter()
    kv = KeyedVectors(vector_size=vectors.shape[1], dtype=np.float32)
    kv.add_vectors(list(words), vectors)
    zero = int(np.count_nonzero(~np.any(vectors != 0, axis=1)))
    with warnings.catch_warnings():
        # zero rows (words without co-occurrences) normalise to NaN and are never chosen
        warnings.simplefilter("ignore", RuntimeWarning)
        total, sections = kv.evaluate_word_analogies(
            str(eval_dir / ANALOGIES), restrict_vocab=RESTRICT_VOCAB
        )
        pairs = {
            name: kv.evaluate_word_pairs(str(eval_dir / fname), restrict_vocab=RESTRICT_VOCAB)
            for name, fname in PAIR_SETS.items()
        }
    per_section = [
        {"section": s["section"], "correct": len(s["correct"]), "incorrect": len(s["incorrect"])}
        for s in sections
        if s["section"] != "Total accuracy"
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
    }
    out: dict[str, Any] = {"google": google}
    for name, (pearson, spearman, oov) in pairs.items():
        out[name] = {
            "spearman": float(spearman[0]),
            "pearson": float(pearson[0]),
            "oov_percent": float(oov),
        }
    out["zero_vectors"] = zero
    out["restrict_vocab"] = RESTRICT_VOCAB
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


# ---------------------------------------------------------------------------------------------
# the peers, each in its own process (``--worker``)


def gensim_worker(files: Sequence[Path], dim: int, out: Path) -> dict[str, Any]:
    """Train gensim's skip-gram Word2Vec on the corpus and write its vectors.

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
        vector_size=dim, window=5, min_count=MIN_COUNT, sg=1, epochs=5, workers=2, seed=1
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
    }


def mllib_worker(corpus: str, dim: int, out: Path, driver_memory: str) -> dict[str, Any]:
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
            seed=1,
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
    if args.worker == "gensim":
        files = corpus_files(args.corpus, "")
        if not files:
            raise SystemExit(f"no corpus file under {args.corpus}")
        result = gensim_worker(files, args.dim, out)
    else:
        result = mllib_worker(args.corpus, args.dim, out, args.driver_memory)
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
) -> dict[str, Any]:
    """Run one latentspark configuration end to end, measure it and score its vectors."""
    root = work / name
    cmd = latentspark_command(corpus, root, args.dim, overrides)
    run = run_measured(cmd, work / f"{name}.log", args.sample_interval)
    rec: dict[str, Any] = {
        "name": name,
        "kind": "latentspark",
        "overrides": list(overrides),
        **_measured(run),
        "log": keep_log_tail(run, logs / f"{name}.log"),
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
    rec["eval"] = evaluate(words, vectors, Path(args.eval_dir))
    return rec


def run_peer(
    kind: str, corpus: str, work: Path, args: argparse.Namespace, logs: Path, driver_memory: str
) -> dict[str, Any]:
    """Train one peer in a subprocess (``--worker``), measure it and score its vectors."""
    out = work / kind
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
        str(args.dim),
        "--driver-memory",
        driver_memory,
    ]
    run = run_measured(cmd, work / f"{kind}.log", args.sample_interval)
    rec: dict[str, Any] = {
        "name": kind,
        "kind": kind,
        **_measured(run),
        "log": keep_log_tail(run, logs / f"{kind}.log"),
    }
    if run.returncode != 0:
        return rec
    rec.update(json.loads((out / "result.json").read_text(encoding="utf-8")))
    words, vectors = read_vectors(out / "vectors.parquet")
    rec["eval"] = evaluate(words, vectors, Path(args.eval_dir))
    return rec


# ---------------------------------------------------------------------------------------------
# comparison and report


def _get(rec: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(rec, dict) or key not in rec:
            return None
        rec = rec[key]
    return rec


def compare(runs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ratios and differences against gensim, and whether the issue's targets are met.

    Parameters
    ----------
    runs : sequence of dict
        The run records.

    Returns
    -------
    ratios : dict
        Per run other than gensim: time and memory ratios (run / gensim) and accuracy
        differences (run - gensim).
    targets : dict
        Per latentspark run: Google total >= gensim's, SimLex-999 >= gensim's, pipeline wall
        time <= gensim's build_vocab + train time (and, stricter, <= its train time alone);
        ``met``: some configuration meets all three.
    """
    gensim = next((r for r in runs if r["kind"] == "gensim" and "eval" in r), None)
    if gensim is None:
        return {}, {"met": None, "reason": "gensim was skipped or failed"}
    metrics = {
        "google_total": ("eval", "google", "total"),
        "google_semantic": ("eval", "google", "semantic"),
        "google_syntactic": ("eval", "google", "syntactic"),
        "wordsim353": ("eval", "wordsim353", "spearman"),
        "simlex999": ("eval", "simlex999", "spearman"),
    }

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    def diff(a: float | None, b: float | None) -> float | None:
        return round(a - b, 4) if a is not None and b is not None else None

    ratios: dict[str, Any] = {}
    targets: dict[str, Any] = {"per_config": {}}
    for r in runs:
        if r is gensim or "eval" not in r:
            continue
        ratios[r["name"]] = {
            "time": ratio(r.get("time_s"), gensim["time_s"]),
            "time_vs_train_only": ratio(r.get("time_s"), gensim["train_s"]),
            "wall": ratio(r["wall_s"], gensim["wall_s"]),
            "peak_rss": ratio(r["peak_rss_bytes"], gensim["peak_rss_bytes"]),
            **{f"delta_{m}": diff(_get(r, *p), _get(gensim, *p)) for m, p in metrics.items()},
        }
        if r["kind"] == "latentspark":
            t = {
                "google_total": _get(r, *metrics["google_total"])
                >= _get(gensim, *metrics["google_total"]),
                "simlex999": _get(r, *metrics["simlex999"]) >= _get(gensim, *metrics["simlex999"]),
                "time": r["time_s"] <= gensim["time_s"],
                "time_vs_train_only": r["time_s"] <= gensim["train_s"],
            }
            t["all"] = t["google_total"] and t["simlex999"] and t["time"]
            targets["per_config"][r["name"]] = t
    ours = [r for r in runs if r["kind"] == "latentspark" and "eval" in r]
    if ours:
        best = max(ours, key=lambda r: r["eval"]["google"]["total"])
        targets["best_by_google"] = best["name"]
        targets["best_by_simlex999"] = max(ours, key=lambda r: r["eval"]["simlex999"]["spearman"])[
            "name"
        ]
        targets["met"] = any(t["all"] for t in targets["per_config"].values())
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
    if r["kind"] == "latentspark":
        return f"latentspark `{r['name']}`"
    return {"gensim": "gensim skip-gram", "mllib": "Spark MLlib Word2Vec"}[r["kind"]]


def _timed(r: dict[str, Any]) -> str:
    if r["kind"] == "latentspark":
        return "whole `latentspark run` (wall)"
    if r["kind"] == "gensim":
        return f"build_vocab {_s(r.get('vocab_s'))} + train {_s(r.get('train_s'))}"
    return "read text -> fit -> getVectors"


def render_markdown(result: dict[str, Any]) -> str:
    """A Markdown report: the table, ratios against gensim, the targets and the command.

    Parameters
    ----------
    result : dict
        As written to ``quality.json``.

    Returns
    -------
    str
    """
    p, m = result["params"], result["machine"]
    lines = [
        f"# Embedding quality benchmark ({result['date'][:10]})",
        "",
        f"Corpus `{p['corpus']}`"
        + (f" (first {p['lines']:,} lines)" if p["lines"] else "")
        + f", dimension {p['dim']}, min count {MIN_COUNT}; {m['nproc']} cores, "
        f"{_gib(m['total_ram_bytes'])} RAM, load average at start "
        f"{m['load_average_at_start'][0]}; Python {m['python']}, "
        + ", ".join(
            f"{k} {v}"
            for k, v in m["versions"].items()
            if k in ("gensim", "pyspark", "numpy", "latentspark")
        )
        + ".",
        "",
        "| model | time | timed | wall | peak RSS | vocabulary | Google total | semantic "
        "| syntactic | answerable | WordSim-353 | SimLex-999 |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["runs"]:
        if "eval" not in r:
            lines.append(
                f"| {_label(r)} | failed (exit {r['returncode']}) | | "
                f"{_s(r['wall_s'])} | {_gib(r['peak_rss_bytes'])} | | | | | | | |"
            )
            continue
        g = r["eval"]["google"]
        lines.append(
            f"| {_label(r)} | {_s(r['time_s'])} | {_timed(r)} | {_s(r['wall_s'])} "
            f"| {_gib(r['peak_rss_bytes'])} | {r['vocab_size']:,} | {_f(g['total'])} "
            f"| {_f(g['semantic'])} | {_f(g['syntactic'])} | {g['answerable']:,} "
            f"| {_f(r['eval']['wordsim353']['spearman'])} "
            f"| {_f(r['eval']['simlex999']['spearman'])} |"
        )
    if result["ratios"]:
        lines += [
            "",
            "Against gensim (ratios: model / gensim; differences: model - gensim):",
            "",
            "| model | time | time vs gensim train only | wall | peak RSS | Google total "
            "| semantic | syntactic | WordSim-353 | SimLex-999 |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        by_name = {r["name"]: r for r in result["runs"]}
        for name, q in result["ratios"].items():
            lines.append(
                f"| {_label(by_name[name])} | {_x(q['time'])} | {_x(q['time_vs_train_only'])} "
                f"| {_x(q['wall'])} | {_x(q['peak_rss'])} | {_d(q['delta_google_total'])} "
                f"| {_d(q['delta_google_semantic'])} | {_d(q['delta_google_syntactic'])} "
                f"| {_d(q['delta_wordsim353'])} | {_d(q['delta_simlex999'])} |"
            )
    t = result["targets"]
    if t.get("per_config"):
        yes = {True: "yes", False: "no", None: "n/a"}
        lines += [
            "",
            "Targets of issue 3 (each against gensim skip-gram):",
            "",
            "| configuration | Google total >= | SimLex-999 >= | time <= gensim vocab + train "
            "| time <= gensim train only | all three |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, c in t["per_config"].items():
            lines.append(
                f"| `{name}` | {yes[c['google_total']]} | {yes[c['simlex999']]} "
                f"| {yes[c['time']]} | {yes[c['time_vs_train_only']]} "
                f"| {yes[c['all']]} |"
            )
        lines += [
            "",
            f"Targets met by some configuration: **{yes[t['met']]}** (best on Google: "
            f"`{t.get('best_by_google')}`, on SimLex-999: "
            f"`{t.get('best_by_simlex999')}`).",
        ]
    lines += ["", "Configurations:", ""]
    for r in result["runs"]:
        if r["kind"] == "latentspark":
            lines.append(f"- `{r['name']}`: `{' '.join(r['overrides']) or '(defaults)'}`")
    lines += [
        "",
        "*Peers*: gensim `Word2Vec(vector_size=DIM, window=5, min_count=5, sg=1, epochs=5, "
        "workers=2, seed=1)` (skip-gram, negative sampling 5, subsampling 1e-3: its "
        "defaults), sentences = the lines streamed from the gzip files. Spark MLlib "
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
        f"{p['sample_interval']} s. *Google*: 3CosAdd over questions whose four words are in "
        f"the vocabulary (the first {RESTRICT_VOCAB:,} words), as gensim's "
        "`evaluate_word_analogies` counts; semantic = the first five sections. WordSim-353 "
        "and SimLex-999: Spearman, pairs with unknown words skipped.",
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
        "--ours",
        action="append",
        type=parse_config,
        default=[],
        metavar='NAME="KEY=VALUE ..."',
        help="a latentspark configuration: a name and --set overrides, e.g. "
        'glove="factorize.method=glove cooccur.window=10 factorize.x_max=10" '
        "(repeatable); default: " + "; ".join(f'{k}="{v}"' for k, v in DEFAULT_OURS.items()),
    )
    p.add_argument("--skip", default="", help="comma-separated peers not to run: gensim, mllib")
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
    internal = p.add_argument_group("internal (used by the benchmark to run a peer)")
    internal.add_argument("--worker", choices=PEERS, help="train this peer in this process")
    internal.add_argument("--worker-out", help="the worker's output folder")
    internal.add_argument(
        "--driver-memory", default="1g", help="spark.driver.memory of the MLlib worker"
    )
    return p


def bench_main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run every model, score them, compare them with gensim and write the report."""
    from latentspark.session import local_driver_memory_gb

    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    ours = args.ours or [parse_config(f"{k}={v}") for k, v in DEFAULT_OURS.items()]
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
    driver_memory = f"{local_driver_memory_gb()}g"

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
            "min_count": MIN_COUNT,
            "master": MASTER,
            "ours": {name: o for name, o in ours},
            "skip": sorted(skip),
            "eval_dir": args.eval_dir,
            "restrict_vocab": RESTRICT_VOCAB,
            "sample_interval": args.sample_interval,
            "mllib_driver_memory": driver_memory,
            "scratch": str(work),
        },
        "machine": info,
        "git": git_state(),
        "runs": [],
    }
    runs: list[dict[str, Any]] = result["runs"]
    steps = len(ours) + len([k for k in PEERS if k not in skip])
    step = 0
    try:
        if args.lines:
            files = corpus_files(args.corpus, "")
            sliced = work / "corpus" / "part-00000.txt.gz"
            result["params"]["slice"] = write_slice(files, args.lines, sliced)
            corpus = str(sliced.parent)
            print(f"corpus slice: {result['params']['slice']} -> {corpus}", flush=True)
        for name, overrides in ours:
            step += 1
            print(f"[{step}/{steps}] latentspark {name}: {' '.join(overrides)} ...", flush=True)
            runs.append(run_ours(name, overrides, corpus, work, args, logs))
            _progress(runs[-1])
        for kind in PEERS:
            if kind in skip:
                continue
            step += 1
            print(f"[{step}/{steps}] {kind} ...", flush=True)
            runs.append(run_peer(kind, corpus, work, args, logs, driver_memory))
            _progress(runs[-1])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")

    result["ratios"], result["targets"] = compare(runs)
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
        f"of {g['answerable']:,}, WordSim-353 {_f(r['eval']['wordsim353']['spearman'])}, "
        f"SimLex-999 {_f(r['eval']['simlex999']['spearman'])}",
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
