"""Where the co-occurrence stage spends its time, step by step, on local Spark.

Runs the stage's query cut off after each step and writes each prefix to Spark's ``noop``
sink, so every line is the cumulative time up to and including that step::

    .venv/bin/python benchmarks/cooccur_breakdown.py [--corpus PATH] [--where EXPR]

It builds (or reuses) the vocabulary under ``--root`` first. Run it alone on the machine;
results go to ``benchmarks/results/cooccur_breakdown.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cpu() -> tuple[float, float]:
    """CPU seconds so far of this process's descendants: the JVM, and the Python workers."""
    import psutil

    jvm = py = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            t = p.cpu_times()
            name = p.name()
        except psutil.Error:
            continue
        if name == "java":
            jvm += t.user + t.system
        else:
            py += t.user + t.system + t.children_user + t.children_system
    return jvm, py


def _timed(df) -> tuple[float, float, float]:
    """Wall seconds of writing ``df`` to the noop sink, and the JVM's and the Python
    workers' CPU seconds meanwhile."""
    j0, p0 = _cpu()
    t0 = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    wall = time.perf_counter() - t0
    j1, p1 = _cpu()
    return wall, j1 - j0, p1 - p0


def _timed_call(fn) -> tuple[float, float, float]:
    j0, p0 = _cpu()
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    j1, p1 = _cpu()
    return wall, j1 - j0, p1 - p0


def breakdown(
    corpus: str, where: str, root: str, window: int
) -> tuple[list[tuple[str, float]], int]:
    """Cumulative seconds of each prefix of the co-occurrence query.

    Parameters
    ----------
    corpus, where, root : str
        Corpus path, partition filter and run root.
    window : int
        Co-occurrence window.

    Returns
    -------
    list of (str, tuple)
        Step description and its cumulative wall, JVM CPU and Python-worker CPU seconds.
    tuple of int
        Partial-row records the tasks hand to Spark's shuffle, and the entries they hold.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyspark.sql import functions as F

    from latentspark.config import load_config
    from latentspark.cooccurrence import (
        PARTIAL_ROWS_DDL,
        count_cooccurrences,
        make_text_counter,
        payload_arrays,
        write_cooccurrences,
    )
    from latentspark.corpus import read_corpus, resolve_input, token_column, tokenize
    from latentspark.session import get_session
    from latentspark.stages.vocab import run as run_vocab
    from latentspark.vocabulary import load_vocabulary
    from latentspark.wordtable import WordTable, ascii_tokens, string_buffers

    cfg = load_config(
        overrides=[
            f"corpus.path={json.dumps(corpus)}",
            f"corpus.where={json.dumps(where)}",
            f"run.root={json.dumps(root)}",
            f"cooccur.window={window}",
        ]
    )
    spark = get_session(cfg.spark)
    words, counts = load_vocabulary(spark, run_vocab(spark, cfg))
    source = resolve_input(spark, cfg.corpus)
    lines = read_corpus(spark, cfg.corpus, source)
    tokens = tokenize(lines, cfg.tokenize)
    # what the counting job hands to Python (text_fast_path): ASCII lines as text, the
    # others tokenised by the JVM, their tokens joined by spaces
    text = F.col("text")
    ascii_line = F.octet_length(text) == F.length(text)
    inputs = lines.select(
        F.when(ascii_line, text).otherwise(
            F.concat_ws(" ", token_column(text, cfg.tokenize))).alias("text"),
        ascii_line.alias("ascii"))
    table = WordTable.from_arrow(words)
    table_bc = spark.sparkContext.broadcast(table)
    kernel = make_text_counter(table_bc, cfg.cooccur, cfg.tokenize.lowercase)

    def one_row(records: int, entries: int) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays(
            [pa.array([records], pa.int64()), pa.array([entries], pa.int64())],
            names=["records", "entries"],
        )

    def receive_only(batches):
        yield one_row(0, sum(b.num_rows for b in batches))

    def ids_only(batches):
        n = 0
        for b in batches:
            is_ascii = b.column("ascii")
            t = b.column("text").filter(is_ascii)
            buf, starts, lengths, _ = ascii_tokens(*string_buffers(t))
            n += int((table.lookup(buf, starts, lengths) >= 0).sum())
            split = pc.split_pattern(b.column("text").filter(pc.invert(is_ascii)), " ")
            n += int((table.lookup_arrow(pc.list_flatten(split)) >= 0).sum())
        yield one_row(0, n)

    def count_only(batches):
        records = entries = 0
        for b in kernel(batches):
            records += b.num_rows
            entries += int(payload_arrays(b)[1].sum())
        yield one_row(records, entries)

    counts_ddl = "records BIGINT, entries BIGINT"
    counted = inputs.mapInArrow(count_only, counts_ddl)
    steps = [
        ("read lines (gunzip, UTF-8 check)", lines),
        ("+ JVM tokenizes the lines that are not ASCII", inputs),
        ("+ hand lines to Python (Arrow)", inputs.mapInArrow(receive_only, counts_ddl)),
        ("+ split ASCII lines, look tokens up (numpy)", inputs.mapInArrow(ids_only, counts_ddl)),
        ("+ count pairs in numpy", counted),
        ("+ hand partial rows back to the JVM", inputs.mapInArrow(kernel, PARTIAL_ROWS_DDL)),
    ]
    # a first pass warms the JVM (class loading, JIT) so that the first step is not charged
    _timed(lines)
    out = [(name, _timed(df)) for name, df in steps]
    full = count_cooccurrences(spark, tokens, words, counts, cfg.cooccur,
                               tokenizer=cfg.tokenize)
    out.append(("+ shuffle by block, sort by row, sum in numpy", _timed(full)))
    dest = f"{root}/breakdown-output-{time.time_ns()}"
    out.append(("+ write block=k/ Parquet with pyarrow (the whole stage)", _timed_call(
        lambda: write_cooccurrences(spark, tokens, words, counts, cfg.cooccur, dest,
                                    tokenizer=cfg.tokenize))))
    shuffled = counted.agg(F.sum("records"), F.sum("entries")).first()
    return out, (int(shuffled[0]), int(shuffled[1]))


def main(argv: list[str] | None = None) -> int:
    """Run the breakdown and write the Markdown report."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--corpus",
        default=str(REPO.parent / "shared/data/corpus24m-raw"),
        help="corpus path (default: ../shared/data/corpus24m-raw)",
    )
    p.add_argument("--where", default="", help="filter over partition columns")
    p.add_argument("--root", default="/tmp/latentspark-breakdown", help="run root to use")
    p.add_argument("--window", type=int, default=10, help="window (default 10)")
    p.add_argument("--out", default=str(REPO / "benchmarks/results"), help="report folder")
    args = p.parse_args(argv)
    load_start = [round(x, 2) for x in os.getloadavg()]
    rows, emitted = breakdown(args.corpus, args.where, args.root, args.window)
    load_end = [round(x, 2) for x in os.getloadavg()]
    cmd = "python benchmarks/cooccur_breakdown.py " + " ".join(argv or sys.argv[1:])
    lines = [
        f"# Co-occurrence stage, step by step ({date.today().isoformat()})",
        "",
        f"Corpus `{args.corpus}`{f' where {args.where}' if args.where else ''}, window "
        f"{args.window}, local Spark. Each line is the time of the query cut off after that "
        "step (cumulative), written to Spark's `noop` sink.",
        "",
        "| step | cumulative s | step s | JVM CPU s | Python CPU s | step JVM CPU s | "
        "step Python CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    prev = (0.0, 0.0, 0.0)
    for name, (wall, jvm, py) in rows:
        lines.append(f"| {name} | {wall:.1f} | {wall - prev[0]:.1f} | {jvm:.1f} | {py:.1f} | "
                     f"{jvm - prev[1]:.1f} | {py - prev[2]:.1f} |")
        prev = (wall, jvm, py)
    lines += [
        "",
        f"The tasks hand Spark {emitted[0]:,} partial-row records holding {emitted[1]:,} "
        "entries to shuffle and sum.",
        "",
        f"Load average (1, 5, 15 min) at the start: {load_start}, at the end: {load_end}. "
        "Other work on the machine makes single steps meaningless (a step can even come out "
        "negative): compare only runs made at a low load. *JVM CPU*: user + system seconds of "
        "the Spark JVM (all its threads: reading, decompressing, Arrow conversions, the "
        "shuffle); *Python CPU*: of the Python workers (the numpy kernels), both measured "
        "around each step. With 2 cores, a step's wall time is at least half its CPU.",
        "",
        "Made with:",
        "",
        "```",
        cmd.strip(),
        "```",
        "",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cooccur_breakdown.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
