"""What the counting job's hand-off to Python and its local shuffle cost, on local Spark.

Two measurements, one after the other, on the corpus's lines::

    .venv/bin/python benchmarks/cooccur_handoff.py [--corpus PATH] [--out DIR]

1. *Hand-off*: each form in which the counting job could hand lines to its Python tasks,
   written through a ``mapInArrow`` that only counts rows to Spark's ``noop`` sink, at several
   Arrow batch sizes (``spark.sql.execution.arrow.maxRecordsPerBatch``): the raw lines; the
   old form (ASCII lines as text, the other lines as an ``array<string>`` column that is null
   on ASCII lines); the current form (one string column, the other lines' tokens joined by
   spaces, and an ``ascii`` flag).
2. *Repeated counts*: ``write_cooccurrences`` three times in one session, in a fresh process
   with the local shuffle uncompressed (latentspark's local default) and in one with
   ``spark.shuffle.compress = true``: each count's time, the JVM's and the Python workers'
   CPU, and the shuffle bytes written (from the event log). The first count in a JVM pays its
   warm-up.

Writes ``cooccur_handoff.json`` and ``cooccur_handoff.md`` to ``--out``. Run it alone on the
machine (it builds the vocabulary under ``--root`` first, or reuses it).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "data" / "corpus24m-raw"
BATCHES = (2_000, 10_000, 30_000)
sys.path.insert(0, str(REPO / "benchmarks"))

from cooccur_breakdown import _cpu  # noqa: E402  (a sibling script, not a package)


def _session(corpus: str, root: str, extra: list[str]):
    from latentspark.config import load_config
    from latentspark.session import get_session

    cfg = load_config(overrides=[f"corpus.path={json.dumps(corpus)}",
                                 f"run.root={json.dumps(root)}", *extra])
    return cfg, get_session(cfg.spark)


def _noop(df) -> float:
    t0 = time.monotonic()
    df.write.format("noop").mode("overwrite").save()
    return round(time.monotonic() - t0, 2)


def _rows_seen(batches):
    import pyarrow as pa

    yield pa.RecordBatch.from_pydict({"n": [sum(b.num_rows for b in batches)]})


def handoff(corpus: str, root: str) -> list[dict]:
    """Seconds of each hand-off form at each batch size (one session)."""
    from pyspark.sql import functions as F

    from latentspark.corpus import read_corpus, resolve_input, token_column

    cfg, spark = _session(corpus, root, [])
    lines = read_corpus(spark, cfg.corpus, resolve_input(spark, cfg.corpus))
    text = F.col("text")
    ascii_line = F.octet_length(text) == F.length(text)
    tokens = token_column(text, cfg.tokenize)
    forms = {
        "raw lines": lines.select("text"),
        "old: text + array<string> tokens": lines.select(
            F.when(ascii_line, text).alias("text"), F.when(~ascii_line, tokens).alias("tokens")),
        "current: one string column + ascii flag": lines.select(
            F.when(ascii_line, text).otherwise(F.concat_ws(" ", tokens)).alias("text"),
            ascii_line.alias("ascii")),
    }
    _noop(lines)  # warms the JVM's reading path
    _noop(forms["raw lines"].mapInArrow(_rows_seen, "n long"))  # and the Python workers
    out = []
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    for batch in BATCHES:
        spark.conf.set(key, str(batch))
        for name, df in forms.items():
            seconds = _noop(df.mapInArrow(_rows_seen, "n long"))
            out.append({"form": name, "batch": batch, "seconds": seconds})
            print(f"  {name}, {batch} rows a batch: {seconds} s", flush=True)
    spark.conf.unset(key)
    spark.stop()
    return out


def repeated(corpus: str, root: str, compress: bool, repeats: int) -> list[dict]:
    """Count ``repeats`` times in this process's session (run in a fresh process)."""
    from latentspark.cooccurrence import resolve_blocks, write_cooccurrences
    from latentspark.corpus import read_corpus, resolve_input, tokenize
    from latentspark.stages.vocab import run as run_vocab
    from latentspark.vocabulary import load_vocabulary

    events = tempfile.mkdtemp(prefix="handoff-events-")
    conf = {"spark.eventLog.enabled": "true", "spark.eventLog.compress": "false",
            "spark.eventLog.dir": f"file://{events}",
            "spark.shuffle.compress": str(compress).lower()}
    cfg, spark = _session(corpus, root, [f"spark.conf.{k}={json.dumps(v)}"
                                         for k, v in conf.items()])
    vocab = run_vocab(spark, cfg)
    words, counts = load_vocabulary(spark, vocab)
    tokens = tokenize(read_corpus(spark, cfg.corpus, resolve_input(spark, cfg.corpus)),
                      cfg.tokenize)
    c = replace(cfg.cooccur, blocks=resolve_blocks(
        spark, cfg.cooccur, tokens=vocab.manifest.get("corpus_tokens")))
    _noop(tokens)  # the JVM's reading path, as the vocab stage would have warmed it
    out = []
    for i in range(repeats):
        dest = tempfile.mkdtemp(prefix="handoff-counts-")
        (j0, p0), t0 = _cpu(), time.monotonic()
        nnz, _ = write_cooccurrences(spark, tokens, words, counts, c, f"file://{dest}/out",
                                     tokenizer=cfg.tokenize)
        seconds = time.monotonic() - t0
        j1, p1 = _cpu()
        out.append({"count": i + 1, "seconds": round(seconds, 2), "jvm_cpu_s": round(j1 - j0, 1),
                    "python_cpu_s": round(p1 - p0, 1), "nnz": nnz})
        print(f"  compress={compress}: count {i + 1} {seconds:.1f} s", flush=True)
        subprocess.run(["rm", "-rf", dest], check=True)
    spark.stop()
    written = 0
    for f in glob.glob(f"{events}/**/*", recursive=True):
        if os.path.isfile(f):
            for line in open(f, encoding="utf-8"):
                e = json.loads(line)
                if e.get("Event") == "SparkListenerTaskEnd":
                    m = (e.get("Task Metrics") or {}).get("Shuffle Write Metrics") or {}
                    written += m.get("Shuffle Bytes Written", 0)
    subprocess.run(["rm", "-rf", events], check=True)
    for r in out:  # every count writes the same shuffle
        r["shuffle_mb"] = round(written / len(out) / 1e6, 1)
    return out


def render(result: dict) -> str:
    """The Markdown report."""
    lines = [f"# The counting job's hand-off to Python and its local shuffle ({result['date']})",
             "", f"Corpus `{result['corpus']}`, local Spark, {os.cpu_count()} cores; load "
             f"average at the start {result['load_start']}, at the end {result['load_end']}.",
             "", "## Hand-off: lines to a Python task that only counts them (`noop` sink)", "",
             "| form | " + " | ".join(f"{b:,} rows a batch" for b in BATCHES) + " |",
             "| --- |" + " ---: |" * len(BATCHES)]
    for form in dict.fromkeys(r["form"] for r in result["handoff"]):
        cells = [f"{r['seconds']:.1f} s" for b in BATCHES for r in result["handoff"]
                 if r["form"] == form and r["batch"] == b]
        lines.append(f"| {form} | " + " | ".join(cells) + " |")
    lines += ["", "## Repeated counts in one session (`write_cooccurrences`, window 10)", "",
              "| shuffle | count | time | JVM CPU | Python CPU | shuffle written |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for label, rows in result["repeated"].items():
        for r in rows:
            lines.append(f"| {label} | {r['count']} | {r['seconds']:.1f} s | "
                         f"{r['jvm_cpu_s']:.1f} s | {r['python_cpu_s']:.1f} s | "
                         f"{r['shuffle_mb']:.0f} MB |")
    lines += ["", "Made with:", "", "```", result["command"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both measurements (or one ``--repeated-only`` child) and write the report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="corpus path")
    p.add_argument("--root", default="/tmp/latentspark-handoff", help="run root (vocabulary)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results"), help="report folder")
    p.add_argument("--repeats", type=int, default=3, help="counts per session (default 3)")
    p.add_argument("--repeated-only", choices=["compressed", "uncompressed"],
                   help=argparse.SUPPRESS)  # the child process of one session
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    if args.repeated_only:
        rows = repeated(args.corpus, args.root, args.repeated_only == "compressed", args.repeats)
        print("RESULT " + json.dumps(rows))
        return 0
    load_start = [round(x, 2) for x in os.getloadavg()]
    print("hand-off forms ...", flush=True)
    result = {"date": date.today().isoformat(), "corpus": args.corpus,
              "command": " ".join(["python", "benchmarks/cooccur_handoff.py",
                                   *(argv if argv is not None else sys.argv[1:])]),
              "handoff": handoff(args.corpus, args.root), "repeated": {}}
    for label in ("uncompressed", "compressed"):
        print(f"repeated counts, {label} shuffle ...", flush=True)
        done = subprocess.run([sys.executable, __file__, "--corpus", args.corpus, "--root",
                               args.root, "--repeats", str(args.repeats), "--repeated-only",
                               label], capture_output=True, text=True, check=True)
        [line] = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        result["repeated"][label] = json.loads(line.removeprefix("RESULT "))
    result["load_start"], result["load_end"] = load_start, [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cooccur_handoff.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "cooccur_handoff.md").write_text(render(result))
    print(f"wrote {out}/cooccur_handoff.json and cooccur_handoff.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
