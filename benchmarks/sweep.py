"""Sweep the levers of latentspark's PPMI factorization and score every configuration.

A grid is a base configuration (a TOML file, ``conf/embeddings.toml`` by default, plus
``--base`` overrides) and configurations that differ from it (``--config NAME="KEY=VALUE ..."``
or ``--vary KEY=V1,V2,...``: one configuration per value, one lever at a time). The script

1. groups the configurations by their counting settings (``tokenize``, ``vocab``, ``cooccur``)
   and counts once per group: ``python -m latentspark cooccur`` (the vocabulary and the
   co-occurrences) into a run root of the group;
2. factorizes every configuration from its group's counts: ``python -m latentspark
   embeddings --force`` with the configuration's ``--set`` overrides, in the same run root
   (the published counts are reused: the manifests record which counts each one read);
3. scores each one's vectors right after with ``quality.evaluate()`` (Google analogies by
   3CosAdd and 3CosMul, WordSim-353 and its similarity/relatedness split, SimLex-999, the seed
   analogies' ranks), optionally next to gensim's skip-gram and CBOW at the same dimension
   (``--peers``);
4. writes ``NAME.json`` and ``NAME.md`` (``--name``, default ``sweep``) in ``--out-dir``: one
   row per configuration with the settings that differ from the base, every score, the times,
   the command that made it, and a summary derived from the rows: which lever moved each
   score most against the base row (SimLex-999 and the syntactic analogies first).

Every subprocess is timed and its peak RSS sampled as in ``quality.py``. See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from cooccur import corpus_files, git_state, machine_info, read_manifest, run_measured, shell_join
from quality import (
    COLUMNS,
    DEFAULT_CORPUS,
    DEFAULT_EVAL,
    DEFAULT_OUT,
    MASTER,
    MIN_COUNT,
    SCORES_NOTE,
    SEED_ANALOGIES,
    _d,
    _f,
    _get,
    _gib,
    _label,
    _measured,
    _s,
    evaluate,
    keep_log_tail,
    read_vectors,
    run_peer,
    write_slice,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BASE = REPO / "conf" / "embeddings.toml"
#: the sections whose settings decide the counts: configurations equal on them share counts
COUNT_SECTIONS = ("corpus", "tokenize", "vocab", "cooccur")
#: the sections compared to list what a configuration changes (run, spark: how, not what)
SETTING_SECTIONS = ("corpus", "tokenize", "vocab", "cooccur", "factorize")
#: keys the sweep sets itself: the same for every configuration of a run
FIXED_KEYS = ("tokenize.mode", "vocab.min_count", "run.root", "spark.master", "corpus.path")

#: built-in grids, as ``--vary`` items (one configuration per value, besides the base)
GRIDS: dict[str, tuple[str, ...]] = {
    # the small grid of issue 11: counting (window) and factorization levers, one at a time
    "small": (
        "cooccur.window=2,10",
        "factorize.cds=1.0",
        "factorize.eig=0.0,1.0",
        "factorize.add_contexts=false",
        "factorize.negatives=1,15",
    ),
    # every lever of the issue
    "full": (
        "cooccur.window=2,3,10",
        "cooccur.weighting=harmonic",
        "cooccur.dynamic_window=false",
        "cooccur.subsample=0,1e-5,1e-3",
        "factorize.cds=0.5,1.0",
        "factorize.eig=0.0,0.25,1.0",
        "factorize.add_contexts=false",
        "factorize.negatives=1,2,10,15",
        "factorize.wals_iterations=0,4,8",
        "factorize.ridge=0,0.01,0.1",
        "factorize.remove_top=1,2,3",
        "factorize.negative_pmi=true",
        "factorize.observed_power=0.5,0.75",
    ),
    # a smoke test: one factorization lever and one counting lever
    "tiny": ("factorize.eig=0.0", "cooccur.window=2"),
}
TINY_DIM = 8


# ---------------------------------------------------------------------------------------------
# the grid


class Setting:
    """One configuration of the sweep: a name and ``--set`` overrides relative to the base."""

    def __init__(self, name: str, overrides: Sequence[str]) -> None:
        self.name = name
        self.overrides = list(overrides)

    def __repr__(self) -> str:
        return f"Setting({self.name!r}, {self.overrides!r})"


def _check_item(item: str, where: str) -> str:
    key = item.partition("=")[0]
    if "=" not in item or "." not in key:
        raise argparse.ArgumentTypeError(f"{where}: {item!r} is not section.key=value")
    if key in FIXED_KEYS or key == "factorize.dim" and where.startswith("--base"):
        raise argparse.ArgumentTypeError(f"{where}: {key} is set by the sweep itself")
    return item


def parse_config(text: str) -> Setting:
    """Parse ``--config NAME="KEY=VALUE ..."``.

    Examples
    --------
    >>> parse_config("eig0=factorize.eig=0 factorize.cds=1")
    Setting('eig0', ['factorize.eig=0', 'factorize.cds=1'])
    """
    name, eq, rest = text.partition("=")
    if not eq or not name or not name.replace("-", "_").replace(".", "_").isidentifier():
        raise argparse.ArgumentTypeError(
            f'--config {text!r}: expected NAME="section.key=value ..." (NAME: letters, digits, '
            "-, _)"
        )
    return Setting(name, [_check_item(i, f"--config {name}") for i in shlex.split(rest)])


def parse_vary(text: str) -> list[Setting]:
    """Parse ``--vary KEY=V1,V2,...`` into one configuration per value.

    Examples
    --------
    >>> parse_vary("factorize.eig=0,1")
    [Setting('eig=0', ['factorize.eig=0']), Setting('eig=1', ['factorize.eig=1'])]
    """
    key, eq, values = text.partition("=")
    if not eq or "." not in key or not values:
        raise argparse.ArgumentTypeError(f"--vary {text!r}: expected section.key=V1,V2,...")
    short = key.partition(".")[2]
    return [
        Setting(f"{short}={v}", [_check_item(f"{key}={v}", "--vary")])
        for v in values.split(",")
        if v.strip()
    ]


def resolve(base_config: str, overrides: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The resolved settings (every key) of a configuration, by latentspark's own loader.

    Raises
    ------
    latentspark.errors.ConfigError
        An unknown key or a bad value: the sweep stops before any work.
    """
    from latentspark.config import load_config

    return load_config(base_config, overrides).to_dict()


def differences(
    settings: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """``{"section.key": value}`` of the settings that differ from the base."""
    return {
        f"{section}.{key}": value
        for section in SETTING_SECTIONS
        for key, value in settings.get(section, {}).items()
        if base.get(section, {}).get(key) != value
    }


def count_key(settings: dict[str, dict[str, Any]]) -> str:
    """What decides a configuration's counts, as a string: equal keys share counts."""
    return json.dumps({s: settings.get(s, {}) for s in COUNT_SECTIONS}, sort_keys=True)


def build_grid(args: argparse.Namespace) -> list[Setting]:
    """The base and the configurations of this run, duplicates (same resolved settings) and
    configurations equal to the base dropped."""
    items: list[Setting] = [Setting("base", [])]
    grid = args.grid
    if grid is None and not args.config and not args.vary:
        grid = "tiny" if args.tiny else "small"
    if grid:
        for v in GRIDS[grid]:
            items += parse_vary(v)
    for group in args.vary:
        items += group
    items += args.config
    return items


# ---------------------------------------------------------------------------------------------
# running


def latentspark_command(
    stage: str,
    args: argparse.Namespace,
    corpus: str,
    root: Path,
    overrides: Sequence[str],
) -> list[str]:
    """The ``latentspark STAGE`` command of one configuration in a run root."""
    cmd = [
        sys.executable, "-m", "latentspark", stage,
        "--config", str(args.base_config),
        "--corpus", corpus,
        "--root", str(root),
        "-q",
        "--set", "tokenize.mode=whitespace",
        "--set", f"vocab.min_count={args.min_count}",
        "--set", f"spark.master={args.master}",
        "--set", f"factorize.dim={args.dim}",
    ]
    for item in [*args.base, *overrides]:
        cmd += ["--set", item]
    if stage == "embeddings":
        cmd.append("--force")
    return cmd


def run_count(
    args: argparse.Namespace, corpus: str, root: Path, overrides: Sequence[str], work: Path,
    logs: Path, tag: str,
) -> dict[str, Any]:
    """Count the vocabulary and the co-occurrences of one counting configuration."""
    cmd = latentspark_command("cooccur", args, corpus, root, overrides)
    run = run_measured(cmd, work / f"{tag}.log", args.sample_interval)
    rec: dict[str, Any] = {**_measured(run), "log": keep_log_tail(run, logs / f"{tag}.log")}
    if run.returncode == 0:
        cooc = read_manifest(root, "cooccur")
        rec.update(
            {
                "cooccur_version": Path(cooc["_path"]).name,
                "nonzeros": cooc.get("rows"),
                "stage_timings": cooc.get("timings", {}),
            }
        )
    return rec


def run_factorize(
    args: argparse.Namespace, corpus: str, root: Path, setting: Setting, work: Path,
    logs: Path, tag: str,
) -> dict[str, Any]:
    """Factorize one configuration from its group's counts and score its vectors."""
    cmd = latentspark_command("embeddings", args, corpus, root, setting.overrides)
    run = run_measured(cmd, work / f"{tag}.log", args.sample_interval)
    rec: dict[str, Any] = {**_measured(run), "log": keep_log_tail(run, logs / f"{tag}.log")}
    if run.returncode != 0:
        return rec
    emb = read_manifest(root, "embeddings")
    rec.update(
        {
            "embeddings_version": Path(emb["_path"]).name,
            "cooccur_version": emb.get("input", {}).get("cooccur_version"),
            "vocab_size": emb.get("vocab_size"),
            "rows": emb.get("rows"),
            "dropped_words": emb.get("dropped_words"),
            "stage_timings": emb.get("timings", {}),
            "history": emb.get("history"),
        }
    )
    words, vectors = read_vectors(Path(emb["_path"]) / "data", order_by="id")
    rec["eval"] = evaluate(words, vectors, Path(args.eval_dir),
                           gensim_analogies=not args.fast_eval)
    return rec


# ---------------------------------------------------------------------------------------------
# summary and report


def _lever(differs: dict[str, Any]) -> str:
    return ", ".join(sorted(differs)) or "(base)"


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Differences against the base row, per score column, and which lever moved each most.

    Returns
    -------
    dict
        ``base``: the base row's name; ``deltas``: per row name, per column, row - base;
        ``largest``: per column, the row whose score moved most (either way) from the base
        and the one that gained most, with their settings; ``levers``: per lever (the set of
        keys a row changes), per column, the smallest and largest difference.
    """
    scored = [r for r in rows if "eval" in r]
    base = next((r for r in scored if r["name"] == "base"), None)
    if base is None:
        return {"base": None}
    out: dict[str, Any] = {"base": base["name"], "deltas": {}, "largest": {}, "levers": {}}
    for r in scored:
        if r is base:
            continue
        out["deltas"][r["name"]] = {
            col: (None if _get(r, *path) is None or _get(base, *path) is None
                  else round(_get(r, *path) - _get(base, *path), 4))
            for col, _, path in COLUMNS
        }
    for col, _, _ in COLUMNS:
        moved = [(name, d[col]) for name, d in out["deltas"].items()
                 if d[col] is not None and math.isfinite(d[col])]
        if not moved:
            continue
        by_name = {r["name"]: r for r in scored}
        name, delta = max(moved, key=lambda x: abs(x[1]))
        gain_name, gain = max(moved, key=lambda x: x[1])
        out["largest"][col] = {
            "name": name, "delta": delta, "differs": by_name[name]["differs"],
            "gain_name": gain_name, "gain": gain, "gain_differs": by_name[gain_name]["differs"],
        }
        for n, d in moved:
            lever = _lever(by_name[n]["differs"])
            lo, hi = out["levers"].setdefault(lever, {}).get(col, (d, d))
            out["levers"][lever][col] = (min(lo, d), max(hi, d))
    return out


def _settings(differs: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={_value(v)}`" for k, v in sorted(differs.items())) or "(base)"


def _value(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _seeds(ev: dict[str, Any]) -> str:
    out = []
    for method in ("3cosadd", "3cosmul"):
        ranks = [
            "-" if e.get(method, {}).get("rank") is None else str(e[method]["rank"])
            for e in ev.get("seed_analogies") or []
        ]
        out.append(",".join(ranks))
    return " / ".join(out)


def _range(r: tuple[float, float] | None) -> str:
    if not r:
        return ""
    lo, hi = r
    return _d(lo) if lo == hi else f"{_d(lo)} .. {_d(hi)}"


def _score_cells(r: dict[str, Any]) -> str:
    """A scored row's last cells: peak RSS, every column, the seed analogies."""
    scores = " | ".join(_f(_get(r, *path)) for _, _, path in COLUMNS)
    return f"{_gib(r['peak_rss_bytes'])} | {scores} | {_seeds(r['eval'])} |"


def render_markdown(result: dict[str, Any]) -> str:
    """The report: the table, the levers' effects, the summary, the settings, the command."""
    p, m = result["params"], result["machine"]
    heads = " | ".join(h for _, h, _ in COLUMNS)
    lines = [
        f"# Sweep of the factorization's levers ({result['date'][:10]})",
        "",
        f"Corpus `{p['corpus']}`" + (f" (first {p['lines']:,} lines)" if p["lines"] else "")
        + f", dimension {p['dim']}, min count {p['min_count']}, {p['master']}; base: "
        f"`{p['base_config']}`" + (f" with `{' '.join(p['base'])}`" if p["base"] else "")
        + f". {m['nproc']} cores, load average at start {m['load_average_at_start'][0]}"
        f" (a machine shared with other work: times are indicative); "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()
                    if k in ("gensim", "pyspark", "numpy", "latentspark"))
        + ".",
        "",
        *([] if result.get("complete", True) else [
            f"**Partial**: {sum('eval' in r for r in result['rows'])} of "
            f"{len(result['rows'])} configurations finished when this was written "
            f"({result.get('seconds', 0):,.0f} s into the run); the others are listed as not "
            "run.", ""]),
        f"| configuration | differs from the base | counts | count time | factorize time "
        f"| peak RSS | {heads} | seed ranks 3CosAdd / 3CosMul |",
        "| --- | --- | --- | ---: | ---: | ---: |" + " ---: |" * len(COLUMNS) + " --- |",
    ]
    for r in result["rows"]:
        counted = r.get("count_s")
        count_cell = f"#{r['count_group']}" + (" (counted)" if counted is not None else "")
        if "eval" not in r:
            state = ("not run" if "returncode" not in r
                     else f"failed (exit {r.get('returncode')})")
            lines.append(
                f"| `{r['name']}` | {_settings(r['differs'])} | {count_cell} "
                f"| {_s(counted)} | {state} | |"
                + " |" * len(COLUMNS) + " |"
            )
            continue
        lines.append(
            f"| `{r['name']}` | {_settings(r['differs'])} | {count_cell} | {_s(counted)} "
            f"| {_s(r['wall_s'])} | {_score_cells(r)}"
        )
    for r in result.get("peers", []):
        if "eval" not in r:
            lines.append(f"| {_label(r)} | (peer) | | | failed | |" + " |" * len(COLUMNS) + " |")
            continue
        lines.append(
            f"| {_label(r)} | (peer, same dimension) | | | {_s(r.get('time_s'))} "
            f"| {_score_cells(r)}"
        )
    s = result["summary"]
    if s.get("levers"):
        lines += [
            "",
            "Effect of each lever: the change of each score against the base row (smallest .. "
            "largest over the lever's values):",
            "",
            f"| lever | {heads} |",
            "| --- |" + " ---: |" * len(COLUMNS),
        ]
        for lever, cols in s["levers"].items():
            lines.append(
                f"| `{lever}` | " + " | ".join(_range(cols.get(c)) for c, _, _ in COLUMNS) + " |"
            )
    if s.get("largest"):
        lines += ["", "Summary (derived from the rows above):", ""]
        heading = {c: h for c, h, _ in COLUMNS}
        for col in ("simlex999", "google_syntactic", *[c for c, _, _ in COLUMNS
                                                       if c not in ("simlex999",
                                                                    "google_syntactic")]):
            big = s["largest"].get(col)
            if not big:
                continue
            if big["delta"] == 0:
                lines.append(f"- {heading[col]}: no configuration changed it.")
                continue
            lines.append(
                f"- {heading[col]}: moved most by {_settings(big['differs'])} "
                f"({_d(big['delta'])} against the base); largest gain "
                + (f"{_d(big['gain'])} by {_settings(big['gain_differs'])}."
                   if big["gain"] > 0 else "none: no configuration improved on the base.")
            )
    if result.get("peers_beaten") is not None:
        lines += [
            "",
            "Configurations at least as good as every peer above on every score column: "
            + (", ".join(f"`{n}`" for n in result["peers_beaten"]) or "none") + ".",
        ]
    lines += [
        "",
        "*Counts*: configurations with the same counting settings share one count (`#N`; "
        "`counted` marks the row whose run counted them; the others reused them, as the "
        "manifests' `cooccur_version` shows in the JSON). *Count time*: the wall time of "
        "`latentspark cooccur` (vocabulary and co-occurrences, JVM start-up included). "
        "*Factorize time*: the wall time of `latentspark embeddings --force` from those "
        "counts (JVM start-up and the Parquet write included). *Seed ranks*: the expected "
        "word's rank in each seed analogy, in order: "
        + "; ".join(f"`{a}`" for a in p["seeds"]) + ". " + SCORES_NOTE,
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of this script."""
    p = argparse.ArgumentParser(
        description="Sweep latentspark's counting and factorization settings: count once per "
        "counting configuration, factorize every configuration from those counts, score each "
        "(Google 3CosAdd/3CosMul, WordSim-353 and its split, SimLex-999, seed analogies) and "
        "report which lever moved which score."
    )
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS),
                   help="pre-tokenised corpus (folder, file or glob); default: %(default)s")
    p.add_argument("--lines", type=int, default=0,
                   help="use only the first N lines of the corpus; default: all")
    p.add_argument("--dim", type=int, default=None,
                   help=f"dimension of every configuration; default: 100 ({TINY_DIM} with "
                   "--tiny); a configuration may still set factorize.dim itself")
    p.add_argument("--min-count", type=int, default=MIN_COUNT,
                   help="vocab.min_count of every configuration; default: %(default)s")
    p.add_argument("--base-config", default=str(DEFAULT_BASE),
                   help="TOML file of the base configuration; default: %(default)s")
    p.add_argument("--base", default="", metavar='"KEY=VALUE ..."',
                   help="overrides applied to every configuration, the base included")
    p.add_argument("--config", action="append", type=parse_config, default=[],
                   metavar='NAME="KEY=VALUE ..."',
                   help="a configuration: overrides of the base (repeatable)")
    p.add_argument("--vary", action="append", type=parse_vary, default=[],
                   metavar="KEY=V1,V2,...",
                   help="one configuration per value of one setting, the others at the base "
                   "(repeatable)")
    p.add_argument("--grid", choices=sorted(GRIDS),
                   help="a built-in grid (used when no --config or --vary is given: small; "
                   "with --tiny: tiny): "
                   + "; ".join(f"{k}: {' '.join(v)}" for k, v in GRIDS.items()))
    p.add_argument("--tiny", action="store_true",
                   help=f"smoke test: the tiny grid and dimension {TINY_DIM} unless given")
    p.add_argument("--peers", default="",
                   help="comma-separated gensim peers trained at the same dimension as "
                   "reference rows: gensim (skip-gram), cbow; default: none")
    p.add_argument("--fast-eval", action="store_true",
                   help="take 3CosAdd from quality.py's numpy scoring instead of gensim's "
                   "evaluate_word_analogies (the same answers, much faster)")
    p.add_argument("--master", default=MASTER, help="Spark master; default: %(default)s")
    p.add_argument("--eval-dir", default=str(DEFAULT_EVAL),
                   help="folder with questions-words.txt, wordsim353.tsv, simlex999.txt; "
                   "default: %(default)s")
    p.add_argument("--out-dir", default=str(DEFAULT_OUT),
                   help="folder for NAME.json, NAME.md and NAME_logs/; default: %(default)s")
    p.add_argument("--name", default="sweep", help="file name stem; default: %(default)s")
    p.add_argument("--scratch", default=None,
                   help="folder in which the temporary run roots are made; default: the "
                   "system's temporary folder")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--sample-interval", type=float, default=0.2,
                   help="seconds between RSS samples; default: %(default)s")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sweep; returns 0, or 1 when a configuration failed (the others are reported)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.dim is None:
        args.dim = TINY_DIM if args.tiny else 100
    if args.dim < 1 or args.lines < 0 or args.min_count < 1:
        parser.error("--dim and --min-count must be at least 1, --lines not negative")
    try:
        args.base = [_check_item(i, "--base") for i in shlex.split(args.base)]
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    peers = [k.strip() for k in args.peers.split(",") if k.strip()]
    if set(peers) - {"gensim", "cbow"}:
        parser.error(f"--peers: unknown {sorted(set(peers) - {'gensim', 'cbow'})}")

    from latentspark.errors import ConfigError

    grid = build_grid(args)
    fixed = [f"factorize.dim={args.dim}", f"vocab.min_count={args.min_count}", *args.base]
    try:
        base_settings = resolve(args.base_config, fixed)
        resolved = [resolve(args.base_config, [*fixed, *g.overrides]) for g in grid]
    except ConfigError as exc:
        parser.error(str(exc))
    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    groups: dict[str, int] = {}
    for g, settings in zip(grid, resolved, strict=True):
        ident = json.dumps({s: settings[s] for s in SETTING_SECTIONS}, sort_keys=True)
        if ident in seen:
            print(f"{g.name}: same settings as {seen[ident]}, left out", flush=True)
            continue
        seen[ident] = g.name
        rows.append({
            "name": g.name,
            "overrides": g.overrides,
            "differs": differences(settings, base_settings),
            "count_group": groups.setdefault(count_key(settings), len(groups) + 1),
        })
    return run_sweep(args, argv, grid, rows, peers)


def write_report(result: dict[str, Any], out: Path, name: str, done: bool) -> str:
    """Summarize the rows and write ``NAME.json`` and ``NAME.md``; returns the Markdown.

    Before the end (``done`` False) the report says how many rows are finished.
    """
    rows = result["rows"]
    result["complete"] = done
    result["summary"] = summarize(rows)
    scored_peers = [p for p in result["peers"] if "eval" in p]
    if scored_peers:
        result["peers_beaten"] = [
            r["name"] for r in rows if "eval" in r and all(
                _get(r, *path) is not None and _get(r, *path) >= _get(p, *path)
                for p in scored_peers for _, _, path in COLUMNS if _get(p, *path) is not None)
        ]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n",
                                      encoding="utf-8")
    markdown = render_markdown(result)
    (out / f"{name}.md").write_text(markdown, encoding="utf-8")
    return markdown


def run_sweep(args: argparse.Namespace, argv: Sequence[str], grid: Sequence[Setting],
              rows: list[dict[str, Any]], peers: Sequence[str]) -> int:
    """Count, factorize and score every row; write the report."""
    from latentspark.session import local_driver_memory

    by_name = {g.name: g for g in grid}
    out = Path(args.out_dir)
    logs = out / f"{args.name}_logs"
    info = machine_info()
    info["versions"]["gensim"] = metadata.version("gensim")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if args.scratch:
        Path(args.scratch).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-sweep-", dir=args.scratch))
    corpus = args.corpus
    result: dict[str, Any] = {
        "benchmark": "sweep",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": shell_join([sys.executable, sys.argv[0], *argv]),
        "cwd": os.getcwd(),
        "params": {
            "corpus": args.corpus, "lines": args.lines, "dim": args.dim,
            "min_count": args.min_count, "master": args.master,
            "base_config": str(args.base_config), "base": args.base,
            "grid": [{"name": g.name, "overrides": g.overrides} for g in grid],
            "peers": list(peers), "fast_eval": args.fast_eval, "eval_dir": args.eval_dir,
            "seeds": list(SEED_ANALOGIES), "scratch": str(work),
        },
        "machine": info,
        "git": git_state(),
        "rows": rows,
        "peers": [],
    }
    t_start = time.perf_counter()
    try:
        if args.lines:
            sliced = work / "corpus" / "part-00000.txt.gz"
            result["params"]["slice"] = write_slice(corpus_files(args.corpus, ""), args.lines,
                                                    sliced)
            corpus = str(sliced.parent)
        counted: dict[int, dict[str, Any]] = {}
        order = sorted(range(len(rows)), key=lambda i: (rows[i]["count_group"], i))
        for step, i in enumerate(order, 1):
            r = rows[i]
            g = by_name[r["name"]]
            root = work / f"counts-{r['count_group']}"
            if r["count_group"] not in counted:
                print(f"[{step}/{len(rows)}] counting #{r['count_group']} for {r['name']} "
                      f"({_settings(r['differs'])}) ...", flush=True)
                c = run_count(args, corpus, root, g.overrides, work, logs,
                              f"count-{r['count_group']}")
                counted[r["count_group"]] = c
                r["count"] = c
                r["count_s"] = c["wall_s"]
                if c["returncode"] != 0:
                    r["returncode"] = c["returncode"]
                    print(f"      counting FAILED (exit {c['returncode']}); see {c['log']}",
                          flush=True)
                    continue
            elif counted[r["count_group"]]["returncode"] != 0:
                r["returncode"] = counted[r["count_group"]]["returncode"]
                continue
            print(f"[{step}/{len(rows)}] factorizing {r['name']} ...", flush=True)
            r.update(run_factorize(args, corpus, root, g, work, logs, f"factorize-{r['name']}"))
            if "eval" in r:
                print(f"      {_s(r['wall_s'])}; " + ", ".join(
                    f"{h} {_f(_get(r, *path))}" for _, h, path in COLUMNS), flush=True)
            else:
                print(f"      FAILED (exit {r['returncode']}); see {r['log']}", flush=True)
            # the report so far, so that a stopped sweep still leaves its finished rows
            result["seconds"] = round(time.perf_counter() - t_start, 1)
            write_report(result, out, args.name, done=False)
        if peers:
            driver_memory = local_driver_memory()
            for kind in peers:
                print(f"peer {kind} ...", flush=True)
                result["peers"].append(run_peer(kind, corpus, work, args, logs, driver_memory))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    markdown = write_report(result, out, args.name, done=True)
    print()
    print(markdown)
    print(f"wrote {out / (args.name + '.json')} and {out / (args.name + '.md')}")
    failed = [r for r in rows if "eval" not in r] + [p for p in result["peers"]
                                                     if "eval" not in p]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
