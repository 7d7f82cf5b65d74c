"""Stages end to end through the command line: publication, manifests, skips, failures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from latentspark.artifacts import StageStore
from latentspark.cli import main
from tests.reference import reference_cooccur, reference_vocab

LINES = [
    "the king and the queen rule the land",
    "a man and a woman walk in the park",
    "the king is a man and the queen is a woman",
    "paris is the capital of france",
    "berlin is the capital of germany",
] * 3


def write_corpus(root: Path) -> Path:
    for i, chunk in enumerate((LINES[:7], LINES[7:])):
        folder = root / f"date=2026-11-0{i + 1}"
        folder.mkdir(parents=True)
        with gzip.open(folder / "part-0.txt.gz", "wt") as fh:
            fh.writelines(line + "\n" for line in chunk)
    return root


def published(root: Path, stage: str) -> list[Path]:
    d = root / stage
    return sorted(p for p in d.iterdir() if (p / "manifest.json").exists()) if d.exists() else []


def run(*args: str) -> int:
    return main(list(args))


def test_pipeline_publishes_counts_equal_to_reference(spark, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    code = run("run", "--corpus", str(corpus), "--root", str(root), "--set", "vocab.min_count=2",
               "--set", "cooccur.window=3", "--set", "cooccur.blocks=3")
    assert code == 0
    [vocab_dir] = published(root, "vocab")
    [cooc_dir] = published(root, "cooccur")
    vocab_table = pq.read_table(vocab_dir / "data")
    assert [(f.name, f.type) for f in vocab_table.schema] == [
        ("id", pa.int32()), ("word", pa.string()), ("count", pa.int64())]
    vocab = vocab_table.to_pylist()
    tokens = [line.split() for line in LINES]
    assert [(r["id"], r["word"], r["count"]) for r in vocab] == reference_vocab(tokens, 2, 400_000)
    table = ds.dataset(cooc_dir / "data", format="parquet", partitioning="hive").to_table()
    assert table.schema.field("row").type == pa.int32()
    assert table.schema.field("weight").type == pa.float32()
    got = {(r["row"], r["col"]): r["weight"] for r in table.to_pylist()}
    assert all(r["block"] == r["row"] % 3 for r in table.to_pylist())
    want = reference_cooccur(tokens, {r["word"]: r["id"] for r in vocab}, 3)
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-6) for k, v in want.items())
    manifest = json.loads((cooc_dir / "manifest.json").read_text())
    assert manifest["stage"] == "cooccur"
    assert manifest["rows"] == len(want)
    assert manifest["config"]["cooccur"]["window"] == 3
    assert manifest["input"]["vocab_version"] == vocab_dir.name
    assert {"pyspark", "numpy", "pyarrow", "latentspark"} <= set(manifest["libraries"])
    assert manifest["timings"]["count_and_write"] > 0
    assert manifest["total_weight"] == pytest.approx(sum(want.values()), rel=1e-6)


def test_rerun_skips_and_changes_publish_new_versions(spark, tmp_path):
    # the counting stages (``cooccur`` builds the vocabulary first when it is missing or stale):
    # every stage skips and publishes by the same StageStore rules
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    base = ["--corpus", str(corpus), "--root", str(root), "--set", "vocab.min_count=1"]
    assert run("cooccur", *base) == 0
    first = published(root, "cooccur")
    assert run("cooccur", *base) == 0
    assert published(root, "cooccur") == first  # same inputs and config: skipped
    assert run("cooccur", *base, "--set", "cooccur.window=2") == 0
    second = published(root, "cooccur")
    assert len(second) == 2 and second[0] == first[0]
    assert published(root, "vocab") == published(root, "vocab")[:1]  # vocab unchanged
    # a new corpus file changes the fingerprint: both stages run again
    with gzip.open(corpus / "date=2026-11-01" / "part-1.txt.gz", "wt") as fh:
        fh.write("new words arrive\n")
    assert run("cooccur", *base, "--set", "cooccur.window=2") == 0
    assert len(published(root, "vocab")) == 2
    # keep_versions = 2: the oldest co-occurrence version was pruned
    third = published(root, "cooccur")
    assert len(third) == 2 and first[0] not in third


def test_where_filters_partitions(spark, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    # a Hadoop URI works wherever a path does
    assert run("vocab", "--corpus", corpus.as_uri(), "--root", root.as_uri(), "--where",
               "date = '2026-11-02'", "--set", "vocab.min_count=1") == 0
    [vocab_dir] = published(root, "vocab")
    manifest = json.loads((vocab_dir / "manifest.json").read_text())
    assert manifest["corpus_tokens"] == sum(len(line.split()) for line in LINES[7:])


def test_failure_before_publish_keeps_the_previous_version(spark, tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    base = ["--corpus", str(corpus), "--root", str(root), "--set", "vocab.min_count=1"]
    assert run("cooccur", *base) == 0
    before = published(root, "cooccur")
    before_files = sorted(p.name for p in (before[0] / "data").rglob("*.parquet"))

    def crash(self, st):
        raise RuntimeError("killed between writing and publishing")

    monkeypatch.setattr(StageStore, "_publish", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run("cooccur", *base, "--set", "cooccur.window=4")
    assert published(root, "cooccur") == before
    assert sorted(p.name for p in (before[0] / "data").rglob("*.parquet")) == before_files
    assert not list((root / "_staging").iterdir())  # the failed attempt's files are gone


def test_leftovers_of_a_killed_run_are_never_read(spark, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    base = ["--corpus", str(corpus), "--root", str(root), "--set", "vocab.min_count=1"]
    assert run("vocab", *base) == 0
    [good] = published(root, "vocab")
    # a run killed mid-publication: data written, no manifest yet
    half = root / "vocab" / "99991231T000000000000Z-dead00"
    (half / "data").mkdir(parents=True)
    (half / "data" / "part-0.parquet").write_bytes(b"PAR1 truncated")
    store = StageStore(spark, str(root), "vocab")
    assert store.current().version == good.name
    assert run("vocab", *base) == 0  # up to date: skipped, still the good version
    assert published(root, "vocab") == [good]


def test_inspect_prints_contexts_from_the_published_counts(spark, tmp_path, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    assert run("run", "--corpus", str(corpus), "--root", str(root), "--set",
               "vocab.min_count=1", "--set", "cooccur.window=2") == 0
    capsys.readouterr()
    assert run("inspect", "--root", str(root), "--word", "capital", "-k", "3") == 0
    out = capsys.readouterr().out
    # within 2 words of "capital": "the" (d=1, six times) and "of" (d=1, six times) lead
    heaviest = next(line for line in out.splitlines() if "heaviest" in line)
    assert heaviest.split(":", 1)[1].split(",")[0].split()[0] in {"the", "of"}
    assert "of 6" in heaviest and "the 6" in heaviest
    assert run("inspect", "--root", str(root), "--word", "zebra") == 3


def test_job_entry_points_run_their_stage(spark, tmp_path, run_job):
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    for stage in ("vocab", "cooccur"):
        assert run_job(stage, "--corpus", str(corpus), "--root", str(root),
                       "--set", "vocab.min_count=1") == 0
        assert len(published(root, stage)) == 1


@pytest.mark.slow
def test_a_killed_run_leaves_the_published_version_intact(spark, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    corpus = tmp_path / "corpus" / "date=2026-11-01"
    corpus.mkdir(parents=True)
    words = [f"w{i}" for i in range(300)]
    with gzip.open(corpus / "big.txt.gz", "wt") as fh:
        for i in range(60_000):
            fh.write(" ".join(words[(i * 7 + k * 13) % 300] for k in range(25)) + "\n")
    root = tmp_path / "run"
    base = ["--corpus", str(corpus.parent), "--root", str(root), "--set", "vocab.min_count=1"]
    assert run("cooccur", *base, "--set", "cooccur.window=2") == 0
    [good] = published(root, "cooccur")
    files = {p: p.stat().st_size for p in (good / "data").rglob("*.parquet")}
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.Popen([sys.executable, "-m", "latentspark", "cooccur", *base,
                             "--set", "cooccur.window=9", "--force", "-q"],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    staging = root / "_staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith("cooccur-") for p in staging.glob("*")):
            time.sleep(1.0)  # let it get into the counting
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert published(root, "cooccur") == [good]
    assert {p: p.stat().st_size for p in (good / "data").rglob("*.parquet")} == files
    assert StageStore(spark, str(root), "cooccur").current().version == good.name
    # a re-run completes and publishes next to the intact version
    assert run("cooccur", *base, "--set", "cooccur.window=9") == 0
    assert len(published(root, "cooccur")) == 2


def test_counts_from_the_kept_tokens_equal_counts_from_the_corpus(spark, tmp_path):
    """`cooccur` building the vocabulary counts the tokens the vocab stage kept (one read);
    a forced recount reads the corpus again; both publish the same bytes of counts."""
    corpus = write_corpus(tmp_path / "corpus")
    root = tmp_path / "run"
    base = ["--corpus", str(corpus), "--root", str(root), "--set", "vocab.min_count=1",
            "--set", "cooccur.window=4", "--set", "cooccur.blocks=2"]
    assert run("cooccur", *base) == 0
    assert run("cooccur", *base, "--force") == 0
    tables = []
    for version in published(root, "cooccur"):
        manifest = json.loads((version / "manifest.json").read_text())
        tables.append((manifest["reused_tokens"], manifest["rows"],
                       [pq.read_table(f).to_pylist()
                        for f in sorted((version / "data").glob("block=*/*.parquet"))]))
    assert [t[0] for t in tables] == [True, False]
    assert tables[0][1:] == tables[1][1:]


def test_kept_tokens_are_only_taken_for_their_corpus_and_settings(spark, tmp_path):
    from latentspark.config import load_config
    from latentspark.corpus import resolve_input
    from latentspark.stages import vocab

    corpus = write_corpus(tmp_path / "corpus")
    cfg = load_config(overrides=[f"corpus.path={json.dumps(str(corpus))}",
                                 f"run.root={json.dumps(str(tmp_path / 'run'))}"])
    source = resolve_input(spark, cfg.corpus)
    vocab.run(spark, cfg, source=source)
    assert vocab.take_tokens(cfg, source) is None  # built alone: nothing kept
    vocab.run(spark, cfg, source=source, force=True, keep_tokens=True)
    other = load_config(overrides=[f"corpus.path={json.dumps(str(corpus))}",
                                   "tokenize.lowercase=false"])
    assert vocab.take_tokens(other, source) is None  # other settings: released
    assert vocab.take_tokens(cfg, source) is None  # nothing kept any more
    vocab.run(spark, cfg, source=source, force=True, keep_tokens=True)
    kept = vocab.take_tokens(cfg, source)
    assert kept is not None and kept.count() == len(LINES)
    kept.unpersist()
    assert vocab.take_tokens(cfg, source) is None
