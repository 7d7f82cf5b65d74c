"""Benchmark latentspark's co-occurrence stage against a single-process numpy counter.

One run of this script does, one after the other (never concurrently):

1. ``latentspark vocab --force`` in a subprocess (its time is recorded, not counted as
   co-occurrence counting);
2. ``latentspark cooccur --force`` in a subprocess, timed, with the peak of the summed RSS of
   that process and all its descendants (the JVM and the Python workers) sampled every 0.2 s;
3. the *peer*: an independent single-process numpy implementation of the same count (same
   tokenizer rule, same published vocabulary, symmetric window, harmonic ``1/d`` weights), run
   as ``python benchmarks/cooccur.py --peer-only ...`` in a subprocess measured the same way;
4. ``latentspark cooccur`` on an empty run root (unless ``--skip-single-read``): the vocabulary
   and the counts built in one process, the counting pass reusing the vocab stage's tokenised
   corpus, so the corpus is read once; its counts must equal step 2's;

then checks that both agree (corpus tokens, total weight, non-zeros) and writes
``cooccur.json`` and ``cooccur.md`` to ``--out``. See ``benchmarks/README.md``.

Run it alone on the machine: the figures are meaningless when other work shares the cores.
"""

from __future__ import annotations

import argparse
import bz2
import datetime as dt
import glob
import gzip
import io
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "corpus24m-raw"
DEFAULT_OUT = REPO / "benchmarks" / "results"

#: Python equivalent of latentspark's default Java pattern ``[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*``
#: (``[^\W_]`` is a letter or a digit)
TOKEN_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")

#: settings that change what is counted: the peer implements only their defaults
PEER_FIXED_KEYS = (
    "cooccur.window",
    "cooccur.weighting",
    "cooccur.dynamic_window",
    "cooccur.subsample",
    "tokenize.",
    "corpus.",
)
#: relative tolerance of the total-weight check (latentspark stores float32 weights)
WEIGHT_RTOL = 1e-5
_HIDDEN = ("_", ".")


# ---------------------------------------------------------------------------------------------
# measuring a subprocess


@dataclass
class MeasuredRun:
    """Outcome of a command run by :func:`run_measured`."""

    command: list[str]
    returncode: int
    wall_s: float
    peak_rss_bytes: int
    peak_breakdown: dict[str, int]
    samples: int
    log: str
    max_processes: int = 0
    shared_skipped: int = 0
    jvm_max_heap: str | None = None
    #: user + system CPU seconds of the process tree (for latentspark: the driver, the JVM
    #: and its Python workers), from the samples; less sensitive than wall time to other
    #: work sharing the cores
    cpu_s: float | None = None


class PeakRSSSampler:
    """Samples the summed RSS of a process and all its descendants in a thread.

    Parameters
    ----------
    pid : int
        The root process.
    interval : float
        Seconds between samples.
    trace : list, optional
        When given, every sample is appended to it as ``(time.time(), summed RSS, RSS of the
        root process, RSS of the java processes)``, so that a caller can attribute peaks to
        the phases of a run by the time stamps of its log (see ``benchmarks/scaling.py``).
    """

    def __init__(self, pid: int, interval: float, trace: list | None = None) -> None:
        import psutil

        self._psutil = psutil
        self.root = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.peak_breakdown: dict[str, int] = {}
        self.samples = 0
        self.max_processes = 0
        self.shared_skipped = 0
        self.jvm_max_heap: str | None = None
        #: CPU seconds of each process of the tree at its last sample
        self.cpu_by_pid: dict[int, float] = {}
        self.trace = trace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """Take one sample and update the peak.

        A child whose RSS equals its parent's to the byte is taken to share the parent's
        address space (a ``vfork``/``posix_spawn`` child before its ``exec``, as when the JVM
        starts the Python workers) and is not counted twice.
        """
        psutil = self._psutil
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        entries = []
        for p in procs:
            try:
                with p.oneshot():
                    entries.append((p.pid, p.ppid(), p.name(), p.memory_info().rss))
                    t = p.cpu_times()
                    # the process's own time (Spark's Python workers are reused, long-lived);
                    # a process that lived less than an interval is missed
                    self.cpu_by_pid[p.pid] = t.user + t.system
            except psutil.Error:
                continue
            if self.jvm_max_heap is None and entries[-1][2] == "java":
                self._inspect(p)
        rss_of = {pid: rss for pid, _, _, rss in entries}
        total = 0
        by_name: dict[str, int] = {}
        for _, ppid, name, rss in entries:
            if rss_of.get(ppid) == rss:
                self.shared_skipped += 1
                continue
            total += rss
            by_name[name] = by_name.get(name, 0) + rss
        self.samples += 1
        if self.trace is not None:
            root_rss = rss_of.get(self.root.pid, 0)
            self.trace.append((round(time.time(), 3), total, root_rss,
                               by_name.get("java", 0)))
        self.max_processes = max(self.max_processes, len(entries))
        if total > self.peak:
            self.peak = total
            self.peak_breakdown = by_name

    def _inspect(self, p: Any) -> None:
        """Note the heap limit of the Spark JVM (not of Spark's launcher JVM)."""
        try:
            cmdline = p.cmdline()
        except self._psutil.Error:
            return
        # spark-submit first runs org.apache.spark.launcher.Main (-Xmx128m) to build the
        # command of the real JVM, whose main class is SparkSubmit
        if (
            "org.apache.spark.deploy.SparkSubmit" in cmdline
            and "org.apache.spark.launcher.Main" not in cmdline
        ):
            xmx = [a for a in cmdline if a.startswith("-Xmx")]
            self.jvm_max_heap = xmx[-1][4:] if xmx else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


def run_measured(command: Sequence[str], log_path: Path, interval: float,
                 trace: list | None = None, env: dict[str, str] | None = None) -> MeasuredRun:
    """Run a command to completion, timing it and sampling its tree's peak RSS.

    Parameters
    ----------
    command : sequence of str
        The command and its arguments.
    log_path : Path
        Where its standard output and error go.
    interval : float
        Seconds between RSS samples.
    trace : list, optional
        Receives every sample (see :class:`PeakRSSSampler`).
    env : dict, optional
        The command's environment (default: this process's).

    Returns
    -------
    MeasuredRun
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            list(command), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO,
            env=env,
        )
        with PeakRSSSampler(proc.pid, interval, trace) as sampler:
            returncode = proc.wait()
        wall = time.perf_counter() - t0
    # each process's CPU at its last sample: up to one interval short per process
    cpu = sum(sampler.cpu_by_pid.values())
    return MeasuredRun(
        command=list(command),
        returncode=returncode,
        wall_s=round(wall, 3),
        peak_rss_bytes=sampler.peak,
        peak_breakdown=sampler.peak_breakdown,
        samples=sampler.samples,
        log=str(log_path),
        max_processes=sampler.max_processes,
        shared_skipped=sampler.shared_skipped,
        jvm_max_heap=sampler.jvm_max_heap,
        cpu_s=round(cpu, 3),
    )


def shell_join(args: Sequence[str]) -> str:
    """Quote a command line for a POSIX shell, readably.

    Examples
    --------
    >>> print(shell_join(["cooccur.py", "--where", "source = 'austen'"]))
    cooccur.py --where "source = 'austen'"
    """
    out = []
    for a in args:
        quoted = shlex.quote(a)
        if quoted != a and "'" in a and not re.search(r'[$`"\\!]', a):
            quoted = f'"{a}"'
        out.append(quoted)
    return " ".join(out)


def _require_success(run: MeasuredRun, what: str) -> None:
    if run.returncode != 0:
        tail = Path(run.log).read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
        print("\n".join(tail), file=sys.stderr)
        raise SystemExit(f"{what} failed with exit code {run.returncode}; see {run.log}")


# ---------------------------------------------------------------------------------------------
# latentspark's published artifacts


def read_manifest(root: Path, stage: str, version: str | None = None) -> dict[str, Any]:
    """Read a published manifest of a stage under a local run root.

    Parameters
    ----------
    root : Path
        The run root.
    stage : str
        ``"vocab"`` or ``"cooccur"``.
    version : str, optional
        The version; by default the newest one that has a manifest.

    Returns
    -------
    dict
        The manifest, plus ``"_path"``: the version's directory.
    """
    stage_dir = root / stage
    if version is None:
        versions = sorted(
            p.name
            for p in stage_dir.iterdir()
            if not p.name.startswith(_HIDDEN) and (p / "manifest.json").is_file()
        )
        if not versions:
            raise SystemExit(f"no published {stage} under {root}")
        version = versions[-1]
    path = stage_dir / version
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    manifest["_path"] = str(path)
    return manifest


def latentspark_command() -> list[str]:
    """The ``latentspark`` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "latentspark"
    return [str(script)] if script.exists() else [sys.executable, "-m", "latentspark"]


# ---------------------------------------------------------------------------------------------
# the peer: corpus files, tokens and a numpy counter, independent of latentspark


def _partition_value(raw: str) -> Any:
    value = unquote(raw)
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


_WHERE_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|"
    r"(?P<op><=|>=|<>|!=|==|=|<|>|\(|\)|,)|(?P<name>[A-Za-z_]\w*|`[^`]+`))"
)


def where_predicate(expr: str) -> Callable[[dict[str, Any]], bool]:
    """Compile a simple Spark SQL filter over partition columns into a Python predicate.

    Supports string and number literals, ``= == != <> < <= > >=``, ``IN (...)``, ``AND``,
    ``OR``, ``NOT`` and parentheses: what a ``corpus.where`` over Hive-style folders uses.

    Parameters
    ----------
    expr : str
        The filter, e.g. ``"source = 'austen'"``; empty means no filter.

    Returns
    -------
    callable
        ``f(columns) -> bool`` where ``columns`` maps lower-cased column names to values.

    Raises
    ------
    ValueError
        When the expression uses anything else.

    Examples
    --------
    >>> where_predicate("source IN ('austen', 'brown')")({"source": "brown"})
    True
    """
    if not expr.strip():
        return lambda columns: True
    out: list[str] = []
    parens: list[bool] = []  # for each open parenthesis: is it the list of an IN?
    pos = 0
    while pos < len(expr):
        m = _WHERE_TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            if expr[pos:].strip():
                raise ValueError(f"cannot evaluate --where {expr!r} near {expr[pos:]!r}")
            break
        pos = m.end()
        if m.group("str") is not None:
            out.append(repr(m.group("str")[1:-1].replace("''", "'")))
        elif m.group("num") is not None:
            out.append(m.group("num"))
        elif m.group("op") is not None:
            op = m.group("op")
            if op == "(":
                parens.append(bool(out) and out[-1] == "in")
                out.append("(")
            elif op == ")":
                out.append(",)" if parens and parens.pop() else ")")
            else:
                out.append({"=": "==", "<>": "!="}.get(op, op))
        else:
            name = m.group("name").strip("`")
            if name.lower() in ("and", "or", "not", "in"):
                out.append(name.lower())
            elif name.lower() in ("true", "false"):
                out.append(name.capitalize())
            else:
                out.append(f"_c[{name.lower()!r}]")
    code = compile(" ".join(out), "<where>", "eval")

    def predicate(columns: dict[str, Any]) -> bool:
        try:
            return bool(eval(code, {"__builtins__": {}}, {"_c": columns}))
        except KeyError as exc:
            raise ValueError(f"--where {expr!r}: no partition column {exc}") from None

    return predicate


def corpus_files(path: str, where: str = "") -> list[Path]:
    """The data files of a corpus that a ``where`` filter over Hive folders keeps.

    Hidden names (starting with ``_`` or ``.``) are skipped, as Spark does.

    Parameters
    ----------
    path : str
        A file, a directory or a glob; ``key=value`` folders below it (below the part before
        the first wildcard, for a glob) are partition columns.
    where : str
        Filter over the partition columns, see :func:`where_predicate`.

    Returns
    -------
    list of Path
        Sorted file paths.
    """
    keep = where_predicate(where)
    if glob.has_magic(path):
        roots = [Path(p) for p in sorted(glob.glob(path))]
        base = Path(re.split(r"[*?\[]", path, maxsplit=1)[0])
        base = base if str(base).endswith("/") or base.is_dir() else base.parent
    else:
        roots = [Path(path)]
        base = roots[0] if roots[0].is_dir() else roots[0].parent
    files: list[Path] = []
    for root in roots:
        found = [root] if root.is_file() else sorted(f for f in root.rglob("*") if f.is_file())
        for f in found:
            rel = f.relative_to(base) if f.is_relative_to(base) else Path(f.name)
            if any(part.startswith(_HIDDEN) for part in rel.parts):
                continue
            columns = {
                k.lower(): _partition_value(v)
                for k, eq, v in (part.partition("=") for part in rel.parts[:-1])
                if eq
            }
            if keep(columns):
                files.append(f)
    return files


def open_text(path: Path) -> TextIO:
    """Open a corpus file as UTF-8 text, decompressing ``.gz`` and ``.bz2``.

    Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, as with Hadoop's line reader.
    """
    if path.suffix == ".gz":
        raw: Any = gzip.open(path, "rb")
    elif path.suffix == ".bz2":
        raw = bz2.open(path, "rb")
    else:
        raw = open(path, "rb")
    return io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding="utf-8", newline=None)


def tokenize_line(text: str) -> list[str]:
    """Tokens of one line: NFKC, lower-case, then runs of letters/digits with inner apostrophes.

    Examples
    --------
    >>> tokenize_line("Don't ﬁnd Ｆｕｌｌ 'quotes'")
    ["don't", 'find', 'full', 'quotes']
    """
    return TOKEN_RE.findall(unicodedata.normalize("NFKC", text).lower())


def load_vocab(data_dir: Path) -> dict[str, int]:
    """Read a published vocabulary (Parquet ``id, word, count``) into ``word -> id``.

    Raises
    ------
    ValueError
        When the ids are not ``0 .. n-1``.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(data_dir, columns=["id", "word"])
    ids = table.column("id").to_numpy()
    words = table.column("word").to_pylist()
    if ids.size and not np.array_equal(np.sort(ids), np.arange(ids.size)):
        raise ValueError(f"vocabulary {data_dir} does not have ids 0..{ids.size - 1}")
    return dict(zip(words, ids.tolist(), strict=True))


def reduce_sorted_runs(
    keys: list[np.ndarray], weights: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Sum the weights of equal keys over several runs of sorted unique keys.

    The runs are concatenated and stably sorted (numpy's timsort merges sorted runs in
    near-linear time), then equal keys are reduced with ``np.add.reduceat``. The input lists
    are emptied so that their arrays can be freed early.

    Parameters
    ----------
    keys, weights : list of numpy.ndarray
        Runs of ``int64`` keys (each sorted, unique) and their ``float64`` weights.

    Returns
    -------
    tuple of numpy.ndarray
        Sorted unique keys and their summed weights.
    """
    if not keys:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    k = np.concatenate(keys)
    keys.clear()
    order = np.argsort(k, kind="stable")
    k = k[order]
    w = np.concatenate(weights)[order]
    weights.clear()
    del order
    if k.size == 0:
        return k, w
    first = np.empty(k.size, dtype=bool)
    first[0] = True
    np.not_equal(k[1:], k[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    return k[starts], np.add.reduceat(w, starts)


def count_window(
    ids: np.ndarray, line: np.ndarray, window: int, vocab_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic window counts of a chunk of lines, as canonical pairs ``lo <= hi``.

    Parameters
    ----------
    ids : numpy.ndarray
        ``int64`` token ids of the chunk, lines one after the other, out-of-vocabulary tokens
        already removed.
    line : numpy.ndarray
        The line index of each token; pairs never cross lines.
    window : int
        Largest distance counted; a pair at distance ``d`` weighs ``1/d``.
    vocab_size : int
        Number of ids (keys are ``lo * vocab_size + hi``).

    Returns
    -------
    tuple of numpy.ndarray
        Sorted unique keys and their summed weights.

    Examples
    --------
    >>> k, w = count_window(np.array([0, 1, 0]), np.array([0, 0, 0]), 2, 2)
    >>> k.tolist(), w.tolist()
    ([0, 1], [0.5, 2.0])
    """
    run_keys: list[np.ndarray] = []
    run_weights: list[np.ndarray] = []
    for d in range(1, window + 1):
        if ids.size <= d:
            break
        same = line[:-d] == line[d:]
        a = ids[:-d][same]
        b = ids[d:][same]
        key = np.minimum(a, b) * vocab_size + np.maximum(a, b)
        del a, b, same
        key.sort()
        if key.size == 0:
            continue
        first = np.empty(key.size, dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        run_keys.append(key[starts])
        run_weights.append(np.diff(np.append(starts, key.size)) / d)
    return reduce_sorted_runs(run_keys, run_weights)


def _line_ids(
    files: Sequence[Path], vocab: dict[str, int], stats: dict[str, int]
) -> Iterator[list[int]]:
    """In-vocabulary ids of each line of the files (tokens counted into ``stats``)."""
    get = vocab.get
    for path in files:
        with open_text(path) as fh:
            for text in fh:
                tokens = tokenize_line(text)
                stats["lines"] += 1
                stats["tokens"] += len(tokens)
                ids = [i for i in map(get, tokens) if i is not None]
                stats["vocab_tokens"] += len(ids)
                yield ids


class RunningTotal:
    """Canonical pair counts merged chunk by chunk: sorted unique keys and their weights.

    Parameters
    ----------
    window : int
        Symmetric window; a pair at distance ``d`` weighs ``1/d``.
    vocab_size : int
        Number of ids.
    """

    def __init__(self, window: int, vocab_size: int) -> None:
        self.window = window
        self.vocab_size = vocab_size
        self.keys = np.empty(0, np.int64)
        self.weights = np.empty(0, np.float64)
        self.chunks = 0
        self.window_s = 0.0
        self.merge_s = 0.0

    def add(self, ids: list[int], lengths: list[int]) -> None:
        """Count one chunk of lines and merge it into the total.

        Parameters
        ----------
        ids : list of int
            In-vocabulary ids of the chunk's lines, one line after the other.
        lengths : list of int
            Number of ids of each line.
        """
        t0 = time.perf_counter()
        flat = np.array(ids, dtype=np.int64)
        line = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        k, w = count_window(flat, line, self.window, self.vocab_size)
        del flat, line
        t1 = time.perf_counter()
        runs_k, runs_w = [self.keys, k], [self.weights, w]
        del k, w
        self.keys = self.weights = None  # type: ignore[assignment]  # the merge owns them
        self.keys, self.weights = reduce_sorted_runs(runs_k, runs_w)
        self.window_s += t1 - t0
        self.merge_s += time.perf_counter() - t1
        self.chunks += 1

    def summary(self) -> dict[str, Any]:
        """Figures of the symmetric matrix: each canonical pair counts in both directions."""
        lo, hi = np.divmod(self.keys, self.vocab_size)
        diagonal = int(np.count_nonzero(lo == hi))
        return {
            "canonical_pairs": int(self.keys.size),
            "nnz": 2 * int(self.keys.size) - diagonal,
            "nonzero_rows": int(np.unique(np.concatenate((lo, hi))).size),
            # X[a, b] and X[b, a] both get w; a diagonal X[a, a] gets 2w
            "total_weight": 2.0 * float(self.weights.sum(dtype=np.float64)),
        }


def run_peer(
    files: Sequence[Path], vocab_dir: Path, window: int, chunk_tokens: int
) -> dict[str, Any]:
    """Count the corpus's co-occurrences in this process with numpy.

    Parameters
    ----------
    files : sequence of Path
        Corpus text files (``.gz``, ``.bz2`` or plain), one context unit per line.
    vocab_dir : Path
        The published vocabulary's ``data`` folder.
    window : int
        Symmetric window; harmonic weights.
    chunk_tokens : int
        In-vocabulary tokens counted per chunk before merging into the running total.

    Returns
    -------
    dict
        Token and line counts; ``total_weight`` (sum over both directions, so each pair at
        distance ``d`` adds ``2/d``), ``nnz`` (non-zeros of the symmetric matrix),
        ``nonzero_rows``; and the seconds spent loading the vocabulary, reading and tokenizing
        (including the id look-up), counting windows and merging chunks.
    """
    t_start = time.perf_counter()
    vocab = load_vocab(vocab_dir)
    load_s = time.perf_counter() - t_start
    stats = {"lines": 0, "tokens": 0, "vocab_tokens": 0}
    total = RunningTotal(window, len(vocab))
    ids: list[int] = []
    lengths: list[int] = []
    t_read = time.perf_counter()
    for line_ids in _line_ids(files, vocab, stats):
        if len(line_ids) >= 2:
            ids.extend(line_ids)
            lengths.append(len(line_ids))
            if len(ids) >= chunk_tokens:
                total.add(ids, lengths)
                ids, lengths = [], []
    if ids:
        total.add(ids, lengths)
    del ids, lengths
    count_s = total.window_s + total.merge_s
    read_s = time.perf_counter() - t_read - count_s
    return {
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "vocab_size": len(vocab),
        **stats,
        "chunks": total.chunks,
        "chunk_tokens": chunk_tokens,
        **total.summary(),
        "seconds": {
            "load_vocab": round(load_s, 3),
            "read_tokenize": round(read_s, 3),
            "count_windows": round(total.window_s, 3),
            "merge": round(total.merge_s, 3),
            "count": round(count_s, 3),
            "read_tokenize_count": round(read_s + count_s, 3),
            "total": round(time.perf_counter() - t_start, 3),
        },
    }


# ---------------------------------------------------------------------------------------------
# report


def machine_info() -> dict[str, Any]:
    """Cores, memory, CPU model, load and library versions of this machine."""
    import psutil

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java_version = (java.stderr or java.stdout).splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        java_version = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "total_ram_bytes": psutil.virtual_memory().total,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "java": java_version,
        "versions": {
            d: version(d) for d in ("latentspark", "pyspark", "numpy", "pyarrow", "psutil")
        },
    }


def git_state() -> dict[str, Any]:
    """Commit of the repository and whether its work tree has changes."""

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty_files": status.splitlines() if status else [],
    }


def _gib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f} GiB"


def _secs(s: float | None) -> str:
    return "n/a" if s is None else f"{s:.1f} s"


def _rate(tokens: int | None, seconds: float | None) -> str:
    return "n/a" if not tokens or not seconds else f"{tokens / seconds:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}x"


def render_markdown(result: dict[str, Any]) -> str:
    """A Markdown summary of a benchmark result: table, ratios, check and command.

    Parameters
    ----------
    result : dict
        As written to ``cooccur.json``.

    Returns
    -------
    str
    """
    ls = result["latentspark"]["cooccur"]
    peer = result.get("peer")
    lines = [
        f"# Co-occurrence counting benchmark ({result['date'][:10]})",
        "",
        f"Corpus `{result['params']['corpus']}`"
        + (f" where `{result['params']['where']}`" if result["params"]["where"] else "")
        + f", window {result['params']['window']} (harmonic), "
        f"{result['machine']['nproc']} cores, {_gib(result['machine']['total_ram_bytes'])} RAM.",
        "",
        "| tool | tokens | wall time | counting time | of which numpy counting "
        "| tokens/s | peak RSS | non-zeros |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| latentspark (local Spark) | {ls['corpus_tokens']:,} | {_secs(ls['wall_s'])} "
        f"| {_secs(ls['stage_s'])} | n/a | {_rate(ls['corpus_tokens'], ls['stage_s'])} "
        f"| {_gib(ls['peak_rss_bytes'])} | {ls['nnz']:,} |",
    ]
    if peer:
        s = peer["seconds"]
        lines.append(
            f"| numpy peer (1 process) | {peer['tokens']:,} | {_secs(peer['wall_s'])} "
            f"| {_secs(s['read_tokenize_count'])} | {_secs(s['count'])} "
            f"| {_rate(peer['tokens'], s['read_tokenize_count'])} "
            f"| {_gib(peer['peak_rss_bytes'])} | {peer['nnz']:,} |"
        )
    single = result["latentspark"].get("single_read")
    if single:
        lines.append(
            f"| latentspark, vocab + counting in one process (one read) "
            f"| {single['corpus_tokens']:,} | {_secs(single['wall_s'])} "
            f"| {_secs(single['vocab_and_count_s'])} | n/a "
            f"| {_rate(single['corpus_tokens'], single['vocab_and_count_s'])} "
            f"| {_gib(single['peak_rss_bytes'])} | {single['nnz']:,} |"
        )
    vocab = result["latentspark"]["vocab"]
    lines += [
        "",
        f"latentspark's vocabulary stage (not included above): {_secs(vocab['wall_s'])} wall, "
        f"{_secs(vocab['timings'].get('total'))} in the stage, peak RSS "
        f"{_gib(vocab['peak_rss_bytes'])}.",
        "",
        "*Counting time*: latentspark's `timings.count_and_write` (reading, tokenizing, "
        "counting, the shuffle and writing Parquet); the peer's reading, tokenizing and "
        "counting (no output written), with its numpy part (windows and merges) in the next "
        "column. *Wall time*: the whole command, JVM or interpreter start-up included. "
        "*Peak RSS*: summed over the process and its descendants, sampled every "
        f"{result['params']['sample_interval']} s.",
    ]
    if single:
        lines += [
            "",
            "*One read*: `latentspark cooccur` on an empty run root, so that it builds the "
            "vocabulary and then counts the corpus lines the vocab stage kept persisted "
            f"(lines reused: {single['reused_tokens']}); its counting time is the vocab "
            f"stage ({_secs(single['vocab_stage_s'])}) plus `count_and_write` "
            f"({_secs(single['stage_s'])}, {_rate(single['corpus_tokens'], single['stage_s'])} "
            "tokens/s counting alone). The two-process path above takes "
            f"{_secs((vocab['timings'].get('total') or 0) + ls['stage_s'])} for the same "
            f"(vocab stage + counting). Counts: **{result['check_single_read']['status']}** "
            "with the run above (non-zeros and total weight equal).",
        ]
    cpus = [("latentspark vocab", vocab), ("latentspark cooccur", ls)]
    if peer:
        cpus.append(("numpy peer", peer))
    if single:
        cpus.append(("latentspark vocab + cooccur, one read", single))
    if all(x.get("cpu_s") for _, x in cpus):
        lines += [
            "",
            "CPU time of each whole command (user + system of every process of its tree "
            f"at its last sample, every {result['params']['sample_interval']} s; start-up "
            "included): "
            + "; ".join(f"{name} {_secs(x['cpu_s'])}" for name, x in cpus) + ".",
        ]
    stages = [st for st in ls.get("spark_stages", []) if st["end_s"] - st["start_s"] >= 0.5]
    if stages:
        lines += [
            "",
            "Spark stages of `latentspark cooccur` that took 0.5 s or more (from its event "
            "log; times from its first task; *task time*: executor run time summed over the "
            "stage's tasks, which the 2 cores share):",
            "",
            "| stage | tasks | from | to | task time | longest task |",
            "| ---: | ---: | ---: | ---: | ---: | ---: |",
            *(f"| {st['stage']} | {st['tasks']} | {st['start_s']:.1f} s | {st['end_s']:.1f} s "
              f"| {st['task_run_s']:.1f} s | {st['longest_task_s']:.1f} s |" for st in stages),
        ]
    m = result["machine"]
    lines += [
        "",
        f"Load average (1, 5, 15 min) at the start: {m['load_average_at_start']}, at the end: "
        f"{[round(x, 2) for x in m.get('load_average_at_end', [])]}; other agents share "
        "the machine, so compare ratios from one run only.",
    ]
    if result.get("peer_failure"):
        failure = result["peer_failure"]
        lines += [
            "",
            f"The numpy peer **failed** (exit code {failure['returncode']}, after "
            f"{_secs(failure['wall_s'])}, peak RSS {_gib(failure['peak_rss_bytes'])}); "
            f"see `{failure['log']}`.",
        ]
    if peer:
        r = result["ratios"]
        c = result["check"]
        lines += [
            "",
            "| latentspark / peer | ratio |",
            "| --- | ---: |",
            f"| counting time | {r['counting_time']} |",
            f"| peer's counting time / latentspark's (speed-up) | {r['speedup']} |",
            f"| wall time | {r['wall_time']} |",
            f"| peak RSS | {r['peak_rss']} |",
            "",
            f"Check: **{c['status']}** (total weight latentspark "
            f"{c['total_weight']['latentspark']:.9g} vs peer {c['total_weight']['peer']:.9g}; "
            f"non-zeros {c['nnz']['latentspark']:,} vs "
            f"{c['nnz']['peer']:,}; corpus tokens {c['corpus_tokens']['latentspark']:,} vs "
            f"{c['corpus_tokens']['peer']:,}).",
        ]
    lines += ["", "Made with:", "", "```", result["command"], "```", ""]
    return "\n".join(lines)


def compare(ls: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Compare latentspark's manifest figures with the peer's.

    Returns
    -------
    dict
        Each figure from both sides and whether it agrees, and ``status``: ``MATCH`` or
        ``MISMATCH``.
    """

    def item(a: float, b: float, exact: bool) -> dict[str, Any]:
        ok = a == b if exact else bool(np.isclose(a, b, rtol=WEIGHT_RTOL, atol=0.0))
        return {"latentspark": a, "peer": b, "agree": ok}

    out = {
        "corpus_tokens": item(ls["corpus_tokens"], peer["tokens"], True),
        "vocab_tokens": item(ls["vocab_tokens"], peer["vocab_tokens"], True),
        "total_weight": item(ls["total_weight"], peer["total_weight"], False),
        "nnz": item(ls["nnz"], peer["nnz"], True),
        "weight_rtol": WEIGHT_RTOL,
    }
    agree = all(v["agree"] for v in out.values() if isinstance(v, dict))
    out["status"] = "MATCH" if agree else "MISMATCH"
    return out


# ---------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of this script."""
    p = argparse.ArgumentParser(
        description="Benchmark latentspark's co-occurrence stage (local Spark) against a "
        "single-process numpy counter of the same window, in one sequential run. Run it "
        "alone on the machine."
    )
    p.add_argument(
        "--corpus",
        default=str(DEFAULT_CORPUS),
        help="corpus path (directory of Hive-style key=value/ folders of text "
        "files, a file or a glob); default: %(default)s",
    )
    p.add_argument(
        "--window",
        type=int,
        default=10,
        help="symmetric window (harmonic 1/d weights); default: %(default)s",
    )
    p.add_argument(
        "--where",
        default="",
        help="filter over the partition columns, passed to latentspark's --where "
        "and applied by the peer to the folder names, e.g. \"source = 'austen'\" "
        "for a quick run; default: the whole corpus",
    )
    p.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="folder for cooccur.json, cooccur.md and the logs; default: %(default)s",
    )
    p.add_argument(
        "--skip-peer",
        action="store_true",
        help="measure latentspark only, without the numpy peer and the check",
    )
    p.add_argument(
        "--skip-single-read",
        action="store_true",
        help="skip step 4, `latentspark cooccur` building the vocabulary and the counts in "
        "one process (one read of the corpus)",
    )
    p.add_argument(
        "--root",
        default=None,
        help="latentspark run root; default: a new temporary folder, removed at "
        "the end unless --keep-root",
    )
    p.add_argument(
        "--keep-root",
        action="store_true",
        help="keep the temporary run root (vocabulary and co-occurrence outputs)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra latentspark setting for both stages, e.g. "
        "cooccur.dense_words=1024 or spark.conf.spark.driver.memory=4g "
        "(repeatable); settings that change what is counted are refused",
    )
    p.add_argument(
        "--sample-interval",
        type=float,
        default=0.2,
        help="seconds between RSS samples; default: %(default)s",
    )
    p.add_argument(
        "--peer-chunk-tokens",
        type=int,
        default=2_000_000,
        help="in-vocabulary tokens the peer counts per chunk before merging into "
        "its running total; default: %(default)s",
    )
    internal = p.add_argument_group("internal (used by the benchmark to run the peer)")
    internal.add_argument(
        "--peer-only",
        action="store_true",
        help="only run the numpy peer in this process (needs --vocab-dir and --peer-result)",
    )
    internal.add_argument(
        "--vocab-dir",
        default=None,
        help="the published vocabulary's data folder (with --peer-only)",
    )
    internal.add_argument(
        "--peer-result",
        default=None,
        help="JSON file the peer writes its figures to (with --peer-only)",
    )
    return p


def _check_overrides(parser: argparse.ArgumentParser, overrides: Sequence[str]) -> None:
    for item in overrides:
        key = item.partition("=")[0].strip()
        if "=" not in item or "." not in key:
            parser.error(f"--set {item!r}: expected section.key=value")
        if key.startswith(PEER_FIXED_KEYS):
            parser.error(
                f"--set {item!r}: {key} changes what is counted; the peer implements "
                "only the defaults (use --window for the window)"
            )


def peer_main(args: argparse.Namespace) -> int:
    """The ``--peer-only`` mode: count with numpy and write the figures as JSON."""
    files = corpus_files(args.corpus, args.where)
    if not files:
        raise SystemExit(f"no corpus file under {args.corpus} where {args.where!r}")
    result = run_peer(files, Path(args.vocab_dir), args.window, args.peer_chunk_tokens)
    Path(args.peer_result).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def spark_stages(event_dir: Path) -> list[dict[str, Any]]:
    """Per Spark stage of a run's event log: tasks, when its first task started and its
    last ended (seconds from the run's first task), summed and longest task run time.

    Parameters
    ----------
    event_dir : Path
        The ``spark.eventLog.dir`` of the run (uncompressed event log).

    Returns
    -------
    list of dict
        One per stage that ran tasks, in stage order.
    """
    tasks: dict[int, list[tuple[int, int, int]]] = {}
    for path in sorted(p for p in event_dir.rglob("*") if p.is_file()):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                event = json.loads(line)
                info = event["Task Info"]
                run_ms = (event.get("Task Metrics") or {}).get("Executor Run Time", 0)
                tasks.setdefault(event["Stage ID"], []).append(
                    (info["Launch Time"], info["Finish Time"], run_ms))
    if not tasks:
        return []
    t0 = min(t[0] for ts in tasks.values() for t in ts)
    return [{"stage": stage, "tasks": len(ts),
             "start_s": round((min(t[0] for t in ts) - t0) / 1e3, 2),
             "end_s": round((max(t[1] for t in ts) - t0) / 1e3, 2),
             "task_run_s": round(sum(t[2] for t in ts) / 1e3, 2),
             "longest_task_s": round(max(t[2] for t in ts) / 1e3, 2)}
            for stage, ts in sorted(tasks.items())]


def _stage_figures(run: MeasuredRun, manifest: dict[str, Any]) -> dict[str, Any]:
    figures = asdict(run)
    figures.update({"version": manifest["version"], "timings": manifest.get("timings", {})})
    return figures


def _single_read(args: argparse.Namespace, cli: list[str], root: Path, out: Path
                 ) -> dict[str, Any]:
    """``latentspark cooccur`` on an empty run root: the vocabulary and the counts built in
    one process, the counting pass reusing the lines the vocab stage kept (one read)."""
    print("[4/4] latentspark cooccur on an empty root (vocab + counts, one read) ...",
          flush=True)
    single_root = root / "single-read"
    command = [*cli, "cooccur", "--corpus", args.corpus, "--root", str(single_root),
               "--set", f"cooccur.window={args.window}"]
    if args.where:
        command += ["--where", args.where]
    for item in args.overrides:
        command += ["--set", item]
    load = list(os.getloadavg())
    run = run_measured(command, out / "cooccur-single-read.log", args.sample_interval)
    _require_success(run, "latentspark cooccur (single read)")
    cm = read_manifest(single_root, "cooccur")
    vm = read_manifest(single_root, "vocab", cm["input"]["vocab_version"])
    vocab_s = vm["timings"].get("total")
    count_s = cm["timings"]["count_and_write"]
    both = vocab_s + count_s if vocab_s is not None else None
    print(f"      {run.wall_s:.1f} s wall, vocab stage {vocab_s:.1f} s + counting "
          f"{count_s:.1f} s (tokens reused: {cm.get('reused_tokens')})", flush=True)
    shutil.rmtree(single_root, ignore_errors=True)
    return {
        **_stage_figures(run, cm),
        "load_average_at_start": load,
        "vocab_timings": vm.get("timings", {}),
        "vocab_stage_s": vocab_s,
        "stage_s": count_s,
        "vocab_and_count_s": both,
        "reused_tokens": cm.get("reused_tokens"),
        "corpus_tokens": cm["corpus_tokens"],
        "tokens_per_s": round(cm["corpus_tokens"] / count_s) if count_s else None,
        "vocab_and_count_tokens_per_s": round(cm["corpus_tokens"] / both) if both else None,
        "nnz": cm["rows"],
        "total_weight": cm["total_weight"],
    }


def bench_main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run the whole benchmark: vocabulary, latentspark counting, the peer, the report."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info()
    if info["load_average_at_start"][0] > 0.5:
        print(
            f"warning: load average {info['load_average_at_start']}: the benchmark must "
            "run alone on the machine, its figures will be off",
            file=sys.stderr,
        )
    temp_root = args.root is None
    root = Path(tempfile.mkdtemp(prefix="bench-cooccur-")) if temp_root else Path(args.root)
    common = ["--corpus", args.corpus, "--root", str(root), "--force"]
    if args.where:
        common += ["--where", args.where]
    for item in args.overrides:
        common += ["--set", item]
    cli = latentspark_command()
    try:
        print(f"[1/4] latentspark vocab (run root {root}) ...", flush=True)
        vocab_run = run_measured(
            [*cli, "vocab", *common], out / "cooccur-vocab.log", args.sample_interval
        )
        _require_success(vocab_run, "latentspark vocab")
        vocab_manifest = read_manifest(root, "vocab")
        print(
            f"      {vocab_run.wall_s:.1f} s wall; {vocab_manifest['rows']:,} words, "
            f"{vocab_manifest['corpus_tokens']:,} tokens",
            flush=True,
        )

        print(f"[2/4] latentspark cooccur, window {args.window} ...", flush=True)
        # Spark's event log of the counting run: tasks and time per stage
        event_dir = Path(tempfile.mkdtemp(prefix="cooccur-events-"))
        cooc_run = run_measured(
            [*cli, "cooccur", *common, "--set", f"cooccur.window={args.window}",
             "--set", "spark.conf.spark.eventLog.enabled=true",
             "--set", "spark.conf.spark.eventLog.compress=false",
             "--set", f"spark.conf.spark.eventLog.dir=file://{event_dir}"],
            out / "cooccur-latentspark.log",
            args.sample_interval,
        )
        stages = spark_stages(event_dir)
        shutil.rmtree(event_dir, ignore_errors=True)
        _require_success(cooc_run, "latentspark cooccur")
        cm = read_manifest(root, "cooccur")
        used_vocab = cm["input"]["vocab_version"]
        stage_s = cm["timings"]["count_and_write"]
        print(
            f"      {cooc_run.wall_s:.1f} s wall, {stage_s:.1f} s counting, peak RSS "
            f"{_gib(cooc_run.peak_rss_bytes)}",
            flush=True,
        )
        ls = {
            **_stage_figures(cooc_run, cm),
            "stage_s": stage_s,
            "corpus_tokens": cm["corpus_tokens"],
            "vocab_tokens": vocab_manifest["vocab_tokens"],
            "tokens_per_s": round(cm["corpus_tokens"] / stage_s) if stage_s else None,
            "nnz": cm["rows"],
            "total_weight": cm["total_weight"],
            "vocab_size": cm["vocab_size"],
            "vocab_version": used_vocab,
            "vocab_rebuilt_by_cooccur": used_vocab != vocab_manifest["version"],
            "config": cm.get("config", {}),
            "spark_stages": stages,
        }
        if ls["vocab_rebuilt_by_cooccur"]:
            print(
                "warning: `latentspark cooccur --force` rebuilt the vocabulary; its wall "
                "time includes a vocabulary stage",
                file=sys.stderr,
            )
            vocab_manifest = read_manifest(root, "vocab", used_vocab)
            ls["vocab_tokens"] = vocab_manifest["vocab_tokens"]
        result: dict[str, Any] = {
            "benchmark": "cooccur",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": shell_join([sys.executable, sys.argv[0], *argv]),
            "cwd": os.getcwd(),
            "params": {
                "corpus": args.corpus,
                "where": args.where,
                "window": args.window,
                "weighting": "harmonic",
                "overrides": args.overrides,
                "sample_interval": args.sample_interval,
                "peer_chunk_tokens": args.peer_chunk_tokens,
                "run_root": str(root),
            },
            "machine": info,
            "git": git_state(),
            "latentspark": {
                "vocab": {
                    **_stage_figures(vocab_run, vocab_manifest),
                    "rows": vocab_manifest["rows"],
                    "corpus_tokens": vocab_manifest["corpus_tokens"],
                    "vocab_tokens": vocab_manifest["vocab_tokens"],
                    "input": vocab_manifest.get("input"),
                },
                "cooccur": ls,
            },
        }

        if not args.skip_peer:
            print("[3/4] numpy peer ...", flush=True)
            peer_json = out / "cooccur-peer-result.json"
            peer_cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--peer-only",
                "--corpus",
                args.corpus,
                "--where",
                args.where,
                "--window",
                str(args.window),
                "--peer-chunk-tokens",
                str(args.peer_chunk_tokens),
                "--vocab-dir",
                str(Path(vocab_manifest["_path"]) / "data"),
                "--peer-result",
                str(peer_json),
            ]
            peer_run = run_measured(peer_cmd, out / "cooccur-peer.log", args.sample_interval)
            if peer_run.returncode != 0:
                tail = Path(peer_run.log).read_text(encoding="utf-8", errors="replace")
                print("\n".join(tail.splitlines()[-25:]), file=sys.stderr)
                print(
                    f"the numpy peer failed with exit code {peer_run.returncode}; see "
                    f"{peer_run.log}",
                    file=sys.stderr,
                )
                result["peer_failure"] = asdict(peer_run)
                result["check"] = {"status": "PEER FAILED"}
            else:
                peer = {
                    **json.loads(peer_json.read_text(encoding="utf-8")),
                    **{k: v for k, v in asdict(peer_run).items() if k != "jvm_max_heap"},
                }
                peer_json.unlink()
                s = peer["seconds"]
                peer["tokens_per_s"] = (
                    round(peer["tokens"] / s["read_tokenize_count"])
                    if s["read_tokenize_count"]
                    else None
                )
                print(
                    f"      {peer_run.wall_s:.1f} s wall, {s['read_tokenize_count']:.1f} s "
                    f"(read+tokenize {s['read_tokenize']:.1f} s, count {s['count']:.1f} s), "
                    f"peak RSS {_gib(peer_run.peak_rss_bytes)}",
                    flush=True,
                )
                result["peer"] = peer
                result["check"] = check = compare(ls, peer)
                result["ratios"] = {
                    "counting_time": _ratio(ls["stage_s"], s["read_tokenize_count"]),
                    "speedup": _ratio(s["read_tokenize_count"], ls["stage_s"]),
                    "counting_time_vs_peer_numpy_only": _ratio(ls["stage_s"], s["count"]),
                    "wall_time": _ratio(ls["wall_s"], peer["wall_s"]),
                    "peak_rss": _ratio(ls["peak_rss_bytes"], peer["peak_rss_bytes"]),
                }
                for name in (
                    "corpus_tokens",
                    "vocab_tokens",
                    "total_weight",
                    "nnz",
                ):
                    c = check[name]
                    print(
                        f"      {name:>13}: latentspark {c['latentspark']!r:>22}  "
                        f"peer {c['peer']!r:>22}  {'ok' if c['agree'] else 'DIFFERENT'}"
                    )
                print(
                    f"{check['status']}: latentspark and the numpy peer "
                    f"{'agree' if check['status'] == 'MATCH' else 'DISAGREE'}",
                    flush=True,
                )
        if not args.skip_single_read:
            result["latentspark"]["single_read"] = single = _single_read(args, cli, root, out)
            result["check_single_read"] = {
                "nnz": [ls["nnz"], single["nnz"]],
                "total_weight": [ls["total_weight"], single["total_weight"]],
                "status": "MATCH" if (ls["nnz"], ls["total_weight"]) == (
                    single["nnz"], single["total_weight"]) else "MISMATCH",
            }
        result["machine"]["load_average_at_end"] = list(os.getloadavg())
    finally:
        if temp_root and not args.keep_root:
            shutil.rmtree(root, ignore_errors=True)

    (out / "cooccur.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    markdown = render_markdown(result)
    (out / "cooccur.md").write_text(markdown, encoding="utf-8")
    print()
    print(markdown)
    print(f"wrote {out / 'cooccur.json'} and {out / 'cooccur.md'}")
    return 0 if args.skip_peer or result["check"]["status"] == "MATCH" else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``--peer-only``, just the peer); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.window < 1:
        parser.error("--window must be at least 1")
    if args.peer_only:
        if not args.vocab_dir or not args.peer_result:
            parser.error("--peer-only needs --vocab-dir and --peer-result")
        return peer_main(args)
    _check_overrides(parser, args.overrides)
    return bench_main(args, argv)


if __name__ == "__main__":
    sys.exit(main())
