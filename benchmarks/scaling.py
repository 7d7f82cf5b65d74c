"""Scaling curve: the whole pipeline at several corpus sizes, time and peak memory per stage.

For each size (``--sizes``, millions of tokens) the script builds a corpus out of whole files
of ``--corpus`` (a folder of text files, such as ``corpus24m-tokens``'s 8 gzip parts of about
3M tokens each), with no data copied: ``<scratch>/corpora/<label>/copy=<k>/<file>`` are
symbolic links to the original files. A size is made of the files in name order, as many as
bring the token count closest to the target; a size larger than the corpus takes the whole
corpus once per ``copy=<k>`` folder (Hive-style partition folders: latentspark reads them as
one corpus with a ``copy`` column), so 48M on a 24M corpus is the corpus twice. Every size
has the same layout, ``copy=0/`` at least, so all are read the same way.

Each size then runs, as one measured subprocess::

    python -m latentspark pipeline --until index --config conf/embeddings.toml \\
        --set pipeline.incremental=false --set tokenize.mode=whitespace ...

that is vocabulary -> co-occurrences -> embeddings -> Annoy index in one Spark application
(the default local settings: local[*], the driver memory latentspark picks). The summed RSS
of the process tree (driver, JVM, Python workers) is sampled every ``--sample-interval``
seconds by :class:`cooccur.PeakRSSSampler`; the pipeline's ``stage i/n`` log lines cut the
run into stages (everything before the first is ``startup``: interpreter, JVM, session),
giving each stage a wall time and a peak RSS. The manifests' step timings are kept too.

Time per token and a least-squares fit of ``log(cost) = a + b log(tokens)`` give the exponent
``b`` of each stage's time and of the whole run's; ``b <= 1`` is "no faster than linear".

Results: ``scaling.json``, ``scaling.md`` and ``scaling.png`` in ``--out-dir``. Run it alone
on the machine (``flock /tmp/latentspark-bench.lock ...`` on a shared one); the load average
at the start and end of each size is recorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the sibling benchmark's measuring helpers: one implementation of "peak RSS of a tree"
from cooccur import (  # noqa: E402
    git_state,
    machine_info,
    read_manifest,
    run_measured,
    shell_join,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "corpus24m-tokens"
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_SIZES = (6, 12, 24, 48)
#: what every size runs: conf/embeddings.toml, pre-tokenised text, dimension 100
BASE_SETTINGS = (
    "pipeline.incremental=false",
    "tokenize.mode=whitespace",
    "vocab.min_count=5",
    "factorize.dim=100",
)
STAGES = ("startup", "vocab", "cooccur", "embeddings", "index")
_STAGE_MARK = "pipeline: stage "
_TEXT_SUFFIXES = (".txt", ".txt.gz", ".gz", ".text")


# ---------------------------------------------------------------------------------------------
# corpora


def count_tokens(path: Path) -> int:
    """Whitespace-separated tokens of a text file, ``.gz`` or plain."""
    opener = gzip.open if path.name.endswith(".gz") else open
    n = 0
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            n += len(line.split())
    return n


def file_tokens(corpus: Path, cache: Path | None = None) -> list[tuple[str, int]]:
    """The corpus's data files in name order with their token counts.

    Parameters
    ----------
    corpus : Path
        A folder of text files (hidden files and ``_``-prefixed ones are skipped).
    cache : Path, optional
        A JSON file that keeps the counts between runs, keyed by path, size and mtime.

    Returns
    -------
    list of (str, int)
        File name and tokens.
    """
    files = sorted(p for p in corpus.iterdir()
                   if p.is_file() and not p.name.startswith((".", "_"))
                   and p.name.endswith(_TEXT_SUFFIXES))
    if not files:
        raise SystemExit(f"no text files in {corpus}")
    known: dict[str, int] = {}
    if cache is not None and cache.is_file():
        known = json.loads(cache.read_text(encoding="utf-8"))
    out = []
    for f in files:
        st = f.stat()
        key = f"{f.resolve()}\t{st.st_size}\t{int(st.st_mtime)}"
        if key not in known:
            known[key] = count_tokens(f)
        out.append((f.name, known[key]))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1), encoding="utf-8")
    return out


def plan_subset(files: Sequence[tuple[str, int]], target: int) -> list[tuple[int, str]]:
    """The whole files that make a corpus of about ``target`` tokens.

    Files are taken in order, copy after copy of the corpus, as long as adding the next one
    brings the total closer to ``target``; at least one file is taken.

    Parameters
    ----------
    files : sequence of (str, int)
        File names and token counts, in the order to take them.
    target : int
        Tokens wanted.

    Returns
    -------
    list of (int, str)
        ``(copy, name)`` for each file taken.

    Examples
    --------
    >>> parts = [("a", 3), ("b", 3), ("c", 3)]
    >>> plan_subset(parts, 6)
    [(0, 'a'), (0, 'b')]
    >>> plan_subset(parts, 18)[-1], len(plan_subset(parts, 18))
    ((1, 'c'), 6)
    """
    if not files or sum(n for _, n in files) <= 0:
        raise ValueError("no tokens to take")
    chosen: list[tuple[int, str]] = []
    total = 0
    copy = 0
    while True:
        for name, n in files:
            if chosen and abs(total + n - target) >= abs(total - target):
                return chosen
            chosen.append((copy, name))
            total += n
        copy += 1


def build_subset(corpus: Path, plan: Sequence[tuple[int, str]], dest: Path) -> Path:
    """Lay out a planned subset as ``dest/copy=<k>/<name>`` symbolic links to ``corpus``.

    An existing ``dest`` is replaced. Returns ``dest``.
    """
    if dest.exists():
        shutil.rmtree(dest)
    for copy, name in plan:
        folder = dest / f"copy={copy}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to((corpus / name).resolve())
    return dest


def size_label(millions: float) -> str:
    """``6`` -> ``"6M"``, ``0.5`` -> ``"0.5M"``."""
    return f"{millions:g}M"


# ---------------------------------------------------------------------------------------------
# a run cut into stages


def parse_stage_marks(log_text: str) -> list[tuple[float, str]]:
    """The ``pipeline: stage i/n NAME`` lines of a log as ``(epoch seconds, NAME)``.

    The log lines start with Python logging's ``asctime`` (local time, milliseconds).

    Examples
    --------
    >>> line = ("2026-12-01 20:00:01,250 INFO latentspark.pipeline: pipeline: stage 2/4 "
    ...         "cooccur (30 s so far)")
    >>> [name for _, name in parse_stage_marks(line)]
    ['cooccur']
    """
    marks = []
    for line in log_text.splitlines():
        at = line.find(_STAGE_MARK)
        if at < 0 or len(line) < 23:
            continue
        try:
            stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
        except ValueError:
            continue
        words = line[at + len(_STAGE_MARK):].split()
        if len(words) >= 2:
            marks.append((stamp.timestamp(), words[1]))
    return marks


def stage_figures(trace: Sequence[tuple[float, int, int, int]],
                  marks: Sequence[tuple[float, str]], start: float, end: float
                  ) -> dict[str, dict[str, Any]]:
    """Wall time and peak RSS of each stage, from RSS samples and stage start times.

    Parameters
    ----------
    trace : sequence of (time, total RSS, root RSS, JVM RSS)
        Samples (see :class:`cooccur.PeakRSSSampler`).
    marks : sequence of (time, stage)
        When each stage started; before the first is ``startup``.
    start, end : float
        When the process started and ended (same clock as the samples).

    Returns
    -------
    dict
        Per stage: ``seconds``, ``peak_rss_bytes`` and, at that peak, ``jvm_bytes``,
        ``driver_python_bytes`` and ``python_workers_bytes``.

    Examples
    --------
    >>> tr = [(0.5, 10, 1, 5), (1.5, 30, 1, 20), (2.5, 20, 1, 15)]
    >>> f = stage_figures(tr, [(1.0, "vocab")], 0.0, 3.0)
    >>> f["startup"]["peak_rss_bytes"], f["vocab"]["peak_rss_bytes"], f["vocab"]["seconds"]
    (10, 30, 2.0)
    """
    bounds = [("startup", start), *((name, t) for t, name in marks), ("", end)]
    out: dict[str, dict[str, Any]] = {}
    for (name, t0), (_, t1) in zip(bounds, bounds[1:], strict=False):
        inside = [s for s in trace if t0 <= s[0] < t1]
        peak = max(inside, key=lambda s: s[1]) if inside else None
        out[name] = {
            "seconds": round(t1 - t0, 2),
            "peak_rss_bytes": peak[1] if peak else None,
            "jvm_bytes": peak[3] if peak else None,
            "driver_python_bytes": peak[2] if peak else None,
            "python_workers_bytes": peak[1] - peak[2] - peak[3] if peak else None,
        }
    return out


def fit_exponent(tokens: Sequence[float], cost: Sequence[float]) -> float | None:
    """Exponent ``b`` of the least-squares fit ``log(cost) = a + b log(tokens)``.

    ``None`` with fewer than two distinct sizes or a non-positive cost.

    Examples
    --------
    >>> round(fit_exponent([1, 2, 4], [3, 6, 12]), 6)
    1.0
    >>> round(fit_exponent([1, 4], [1, 2]), 6)
    0.5
    """
    pts = [(float(t), float(c)) for t, c in zip(tokens, cost, strict=True)
           if t and c is not None and c > 0]
    if len({t for t, _ in pts}) < 2:
        return None
    x = np.log([t for t, _ in pts])
    y = np.log([c for _, c in pts])
    return float(np.polyfit(x, y, 1)[0])


# ---------------------------------------------------------------------------------------------
# running


def pipeline_command(corpus: Path, root: Path, config: Path, overrides: Sequence[str]
                     ) -> list[str]:
    """The measured command: the pipeline up to the index, INFO logs (for the stage lines)."""
    cmd = [sys.executable, "-m", "latentspark", "pipeline", "--until", "index",
           "--config", str(config), "--corpus", str(corpus), "--root", str(root)]
    for item in (*BASE_SETTINGS, *overrides):
        cmd += ["--set", item]
    return cmd


def run_size(label: str, corpus: Path, work: Path, args: argparse.Namespace,
             env: dict[str, str]) -> dict[str, Any]:
    """Run and measure the pipeline on one corpus; the run root is removed afterwards."""
    root = work / f"root-{label}"
    if root.exists():
        shutil.rmtree(root)
    log = work / f"pipeline-{label}.log"
    cmd = pipeline_command(corpus, root, Path(args.config), args.overrides)
    trace: list[tuple[float, int, int, int]] = []
    load0 = os.getloadavg()
    start = time.time()
    run = run_measured(cmd, log, args.sample_interval, trace=trace, env=env)
    end = time.time()
    rec: dict[str, Any] = {
        "label": label,
        "command": shell_join(cmd),
        "returncode": run.returncode,
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "peak_rss_bytes": run.peak_rss_bytes,
        "peak_breakdown": run.peak_breakdown,
        "jvm_max_heap": run.jvm_max_heap,
        "samples": run.samples,
        "load_average_at_start": [round(x, 2) for x in load0],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "log": str(log),
    }
    if run.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        return rec
    text = log.read_text(encoding="utf-8", errors="replace")
    rec["stages"] = stage_figures(trace, parse_stage_marks(text), start, end)
    manifests = {s: read_manifest(root, s) for s in ("vocab", "cooccur", "embeddings", "index")}
    rec.update({
        "tokens": manifests["vocab"].get("corpus_tokens"),
        "vocab_size": manifests["embeddings"].get("vocab_size"),
        "nonzeros": manifests["cooccur"].get("rows"),
        "step_timings": {s: m.get("timings", {}) for s, m in manifests.items()},
        "plan": manifests["embeddings"].get("memory_plan"),
    })
    if not args.keep_roots:
        shutil.rmtree(root, ignore_errors=True)
    return rec


def run_gensim(corpus: Path, work: Path, args: argparse.Namespace,
               env: dict[str, str]) -> dict[str, Any]:
    """gensim's skip-gram at dimension 100 (``quality.py --worker gensim``), measured."""
    out = work / "gensim"
    cmd = [sys.executable, str(Path(__file__).resolve().parent / "quality.py"), "--worker",
           "gensim", "--worker-out", str(out), "--corpus", str(corpus), "--dim", "100"]
    load0 = os.getloadavg()
    run = run_measured(cmd, work / "gensim.log", args.sample_interval, env=env)
    rec: dict[str, Any] = {"command": shell_join(cmd), "returncode": run.returncode,
                           "wall_s": run.wall_s, "cpu_s": run.cpu_s,
                           "peak_rss_bytes": run.peak_rss_bytes,
                           "load_average_at_start": [round(x, 2) for x in load0],
                           "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    if run.returncode == 0:
        rec.update(json.loads((out / "result.json").read_text(encoding="utf-8")))
    return rec


# ---------------------------------------------------------------------------------------------
# report


def summarise(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Time per token and fitted exponents, whole run and per stage."""
    ok = sorted((r for r in runs if r.get("returncode") == 0 and r.get("tokens")),
                key=lambda r: r["tokens"])
    tokens = [r["tokens"] for r in ok]
    out: dict[str, Any] = {
        "time_exponent": fit_exponent(tokens, [r["wall_s"] for r in ok]),
        "peak_rss_exponent": fit_exponent(tokens, [r["peak_rss_bytes"] for r in ok]),
        "stage_time_exponent": {}, "stage_rss_exponent": {},
        "us_per_token": {r["label"]: round(1e6 * r["wall_s"] / r["tokens"], 3) for r in ok},
    }
    for s in STAGES:
        out["stage_time_exponent"][s] = fit_exponent(
            tokens, [r["stages"].get(s, {}).get("seconds") for r in ok])
        out["stage_rss_exponent"][s] = fit_exponent(
            tokens, [r["stages"].get(s, {}).get("peak_rss_bytes") for r in ok])
    return out


def _gib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**30:.2f}"


def _b(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def render_markdown(result: dict[str, Any]) -> str:
    """The report: one row per size, per-stage columns, exponents, settings and command."""
    runs = sorted((r for r in result["runs"] if r.get("returncode") == 0),
                  key=lambda r: r.get("tokens") or 0)
    summ = result["summary"]
    m = result["machine"]
    lines = [
        f"# Scaling curve ({result['date'][:10]})",
        "",
        f"The whole pipeline (vocab -> cooccur -> embeddings -> index, "
        f"`conf/embeddings.toml`, dimension 100, min count 5, pre-tokenised text) on subsets "
        f"and a doubling of `{result['corpus']}`; {m['nproc']} cores, "
        f"{m['total_ram_bytes'] / 2**30:.2f} GiB RAM; default local settings "
        f"(local[*], the driver memory latentspark plans). Each size is one measured "
        f"`latentspark pipeline` process; stage times are cut at the pipeline's "
        f"`stage i/n` log lines, peak RSS is summed over the driver, the JVM and the Python "
        f"workers (sampled every {result['sample_interval']} s).",
        "",
        "| size | files | tokens | vocabulary | non-zeros | total time | us/token | peak RSS "
        "(GiB) | " + " | ".join(f"{s} s" for s in STAGES) + " | "
        + " | ".join(f"{s} GiB" for s in STAGES[1:]) + " | JVM heap | load avg start/end |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        + " | ".join("---:" for _ in STAGES) + " | "
        + " | ".join("---:" for _ in STAGES[1:]) + " | ---: | --- |",
    ]
    for r in runs:
        st = r["stages"]
        lines.append(
            f"| {r['label']} | {r['files']} | {r['tokens']:,} | {r['vocab_size']:,} | "
            f"{r['nonzeros']:,} | {r['wall_s']:.1f} s | {summ['us_per_token'][r['label']]:.2f} | "
            f"{_gib(r['peak_rss_bytes'])} | "
            + " | ".join(f"{st.get(s, {}).get('seconds', 0):.1f}" for s in STAGES) + " | "
            + " | ".join(_gib(st.get(s, {}).get("peak_rss_bytes")) for s in STAGES[1:])
            + f" | {r.get('jvm_max_heap') or 'n/a'} | "
            f"{r['load_average_at_start'][0]:.2f} / {r['load_average_at_end'][0]:.2f} |")
    lines += [
        "",
        "Fitted exponent `b` of `cost ~ tokens^b` (least squares on logs; `b <= 1`: no "
        "faster than linear):",
        "",
        "| | total | " + " | ".join(STAGES) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in STAGES) + " |",
        f"| time | {_b(summ['time_exponent'])} | "
        + " | ".join(_b(summ["stage_time_exponent"][s]) for s in STAGES) + " |",
        f"| peak RSS | {_b(summ['peak_rss_exponent'])} | "
        + " | ".join(_b(summ["stage_rss_exponent"][s]) for s in STAGES) + " |",
        "",
        f"Linear or better in time: **{'yes' if (summ['time_exponent'] or 9) <= 1.0 else 'no'}**"
        f" (whole run, b = {_b(summ['time_exponent'])}).",
        "",
    ]
    peak_at = [(r["label"], max(STAGES[1:], key=lambda s, r=r: r["stages"].get(s, {})
                                .get("peak_rss_bytes") or 0)) for r in runs]
    lines += [
        "Stage holding each run's peak: "
        + ", ".join(f"{lab}: {s}" for lab, s in peak_at) + ".",
        "",
    ]
    g = result.get("gensim")
    if g and g.get("returncode") == 0:
        ref = next((r for r in runs if r["label"] == g.get("label")), None)
        lines += [
            f"gensim skip-gram (dimension 100, window 5, 5 epochs, 2 workers; "
            f"`quality.py --worker gensim`) on the {g['label']} corpus: {g['wall_s']:.1f} s "
            f"wall, {_gib(g['peak_rss_bytes'])} GiB peak RSS"
            + (f"; latentspark / gensim: time {ref['wall_s'] / g['wall_s']:.2f}x, peak RSS "
               f"{ref['peak_rss_bytes'] / g['peak_rss_bytes']:.2f}x" if ref else "")
            + f" (load average {g['load_average_at_start'][0]:.2f} at its start).",
            "",
        ]
    lines += [
        "*Corpora*: whole files of the corpus in name order (each part is a shuffled sample "
        "of all sources), as many as come closest to the target; sizes above the corpus "
        "repeat it in `copy=<k>/` partition folders (symbolic links, no copy), so the "
        "largest size has the vocabulary and co-occurrence pattern of the 24M corpus with "
        "every count doubled: its counting stage does twice the work, while its "
        "factorization and index see about the same matrix and vocabulary.",
        "*Stage times* include Spark's job scheduling and the writes; `startup` is the "
        "interpreter, imports, JVM and session start. Step timings from the manifests are in "
        "`scaling.json`.",
        "",
        f"Made with (commit {(result.get('git') or {}).get('commit') or 'n/a'}, under "
        "`flock /tmp/latentspark-bench.lock`):",
        "",
        "```",
        result["command"],
        "```",
        "",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Time and peak RSS per stage against tokens, log-log, with a linear guide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted((r for r in result["runs"] if r.get("returncode") == 0),
                  key=lambda r: r.get("tokens") or 0)
    tokens = np.array([r["tokens"] for r in runs], dtype=float)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    for s in STAGES:
        ax_t.plot(tokens, [r["stages"].get(s, {}).get("seconds") or np.nan for r in runs],
                  "o-", label=s)
        if s != "startup":
            ax_m.plot(tokens, [(r["stages"].get(s, {}).get("peak_rss_bytes") or np.nan) / 2**30
                               for r in runs], "o-", label=s)
    ax_t.plot(tokens, [r["wall_s"] for r in runs], "k-s", label="total")
    if len(tokens):
        ax_t.plot(tokens, runs[0]["wall_s"] * tokens / tokens[0], "k:", label="linear")
    ax_m.plot(tokens, [r["peak_rss_bytes"] / 2**30 for r in runs], "k-s", label="whole run")
    for ax, title, unit in ((ax_t, "wall time per stage", "seconds"),
                            (ax_m, "peak RSS per stage (process tree)", "GiB")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("corpus tokens")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"latentspark pipeline scaling, dimension 100 "
                 f"(time exponent {_b(result['summary']['time_exponent'])})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        description="Run the whole latentspark pipeline at several corpus sizes and report "
        "time and peak memory per stage (results/scaling.md, .json, .png).")
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS),
                   help="folder of pre-tokenised text files to take subsets of "
                   "(default: %(default)s)")
    p.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                   help="comma-separated corpus sizes in millions of tokens "
                   "(default: %(default)s)")
    p.add_argument("--config", default=str(REPO / "conf" / "embeddings.toml"),
                   help="latentspark config file (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="extra latentspark setting for every run "
                   "(repeatable), e.g. spark.conf.spark.driver.memory=7g for a comparison")
    p.add_argument("--scratch", required=True,
                   help="folder for the corpora (symbolic links), run roots and logs")
    p.add_argument("--out-dir", default=str(DEFAULT_OUT),
                   help="where scaling.json/.md/.png go (default: %(default)s)")
    p.add_argument("--name", default="scaling", help="file name stem of the outputs "
                   "(default: %(default)s)")
    p.add_argument("--gensim", default="",
                   help="also run gensim's skip-gram (dimension 100) on this size, e.g. 24")
    p.add_argument("--sample-interval", type=float, default=0.2,
                   help="seconds between RSS samples (default: %(default)s)")
    p.add_argument("--commit", default="",
                   help="the commit of the code measured, when this checkout is a copy "
                   "outside git (e.g. made with git archive)")
    p.add_argument("--keep-roots", action="store_true", help="keep each size's run root")
    p.add_argument("--dry-run", action="store_true",
                   help="build the corpora and print the commands, run nothing")
    return p


def parse_sizes(text: str) -> list[float]:
    """``"6,12"`` -> ``[6.0, 12.0]``; sizes must be positive."""
    sizes = [float(x) for x in text.split(",") if x.strip()]
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"bad --sizes {text!r}")
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Build the corpora, run every size, write the report; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        parser.error(str(exc))
    corpus = Path(args.corpus).resolve()
    scratch = Path(args.scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    parts = file_tokens(corpus, scratch / "file_tokens.json")
    corpora = {}
    for s in sizes:
        label = size_label(s)
        plan = plan_subset(parts, int(s * 1e6))
        corpora[label] = (build_subset(corpus, plan, scratch / "corpora" / label), plan)
        print(f"{label}: {len(plan)} files, "
              f"{sum(dict(parts)[n] for _, n in plan):,} tokens -> {corpora[label][0]}")
    env = {**os.environ,
           # the subprocesses and Spark's Python workers import this checkout's latentspark
           "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get(
               "PYTHONPATH")])]),
           "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
           "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1")}
    if args.dry_run:
        for label, (path, _) in corpora.items():
            print(shell_join(pipeline_command(path, scratch / f"root-{label}",
                                              Path(args.config), args.overrides)))
        return 0
    result: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": shell_join([sys.executable, "benchmarks/scaling.py", *argv]),
        "corpus": str(corpus),
        "sample_interval": args.sample_interval,
        "settings": [*BASE_SETTINGS, *args.overrides],
        "machine": machine_info(),
        "git": git_state() if not args.commit else {"commit": args.commit,
                                                     "dirty_files": []},
        "runs": [],
    }
    for label, (path, plan) in corpora.items():
        print(f"running {label} ...", flush=True)
        rec = run_size(label, path, scratch, args, env)
        rec["files"] = len(plan)
        result["runs"].append(rec)
        if rec["returncode"] == 0:
            print(f"  {rec['wall_s']:.1f} s, peak {_gib(rec['peak_rss_bytes'])} GiB, "
                  + ", ".join(f"{s} {v['seconds']:.0f} s / {_gib(v['peak_rss_bytes'])} GiB"
                              for s, v in rec["stages"].items()), flush=True)
        else:
            print(f"  FAILED with exit code {rec['returncode']}; see {rec['log']}")
    if args.gensim:
        label = size_label(parse_sizes(args.gensim)[0])
        if label not in corpora:
            parser.error(f"--gensim {args.gensim}: not one of --sizes")
        print(f"running gensim skip-gram on {label} ...", flush=True)
        result["gensim"] = {"label": label, **run_gensim(corpora[label][0], scratch, args,
                                                         env)}
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["summary"] = summarise(result["runs"])
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n",
                                          encoding="utf-8")
    (out / f"{args.name}.md").write_text(render_markdown(result), encoding="utf-8")
    if any(r.get("returncode") == 0 for r in result["runs"]):
        plot(result, out / f"{args.name}.png")
    print(render_markdown(result))
    failed = [r["label"] for r in result["runs"] if r.get("returncode") != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
