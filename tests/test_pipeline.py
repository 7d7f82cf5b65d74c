"""The retraining pipeline: incremental counts, model versions, the gate, bad partitions and a
killed driver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from latentspark.artifacts import StageStore
from latentspark.config import load_config
from latentspark.errors import GateError, InputError
from latentspark.models import LATEST, ModelStore
from tests import synthetic

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [
    # one power iteration, as conftest gives the jobs started as subprocesses (the in-process
    # runs read no environment): the default 3 add 8 Spark passes to every factorization; and
    # one task per block and pass (the default 3 x parallelism cuts these 80 words in 6)
    "vocab.min_count=2", "cooccur.window=3", "cooccur.blocks=2", "factorize.dim=12",
    "factorize.oversample=8", "factorize.power_iters=1", "factorize.tasks=2", "index.n_trees=5",
    "index.shards=2", "evaluate.recall_sample=0", "evaluate.methods=\"3cosadd\"",
    "gate.min_score=0.5", "gate.max_drop=0.3",
    "spark.shuffle_partitions=4",
]


def make_cfg(tmp_path: Path, corpus: Path, *extra: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    questions = tmp_path / "questions.txt"
    questions.write_text(synthetic.analogies())
    return load_config(None, [*SETTINGS, f"corpus.path={json.dumps(str(corpus))}",
                              f"run.root={json.dumps(str(tmp_path / 'run'))}",
                              f"evaluate.analogies={json.dumps(str(questions))}", *extra])


def add_day(corpus: Path, day: int, n: int = 1500, lines=None) -> Path:
    lines = lines if lines is not None else synthetic.sentences(n, seed=day)
    return synthetic.write_lines(corpus / f"date=2026-11-0{day}" / "part-0.txt", lines)


def cooccur_table(spark, cfg):
    pub = StageStore(spark, cfg.run.root, "cooccur").require()
    data = pq.read_table(f"{pub.path.removeprefix('file:')}/data", columns=["row", "col",
                                                                            "weight"])
    return pub, data.sort_by([("row", "ascending"), ("col", "ascending")])


def test_incremental_counts_equal_a_full_recount(spark, tmp_path):
    from latentspark.incremental import run_cooccur_incremental
    from latentspark.pipeline import run_pipeline

    corpus = tmp_path / "corpus"
    cfg = make_cfg(tmp_path, corpus, "factorize.warm_start=true")
    versions = []
    for day in (1, 2):  # a fresh run, then an incremental one that also warm-starts
        add_day(corpus, day)
        pub = run_pipeline(spark, cfg)
        versions.append(pub.version)
        cooc, _ = cooccur_table(spark, cfg)
        # only the new partition was counted
        assert cooc.manifest["counted_now"] == [f"date=2026-11-0{day}"]
        assert ModelStore(spark, cfg).latest_name() == pub.version
        emb = json.loads(Path(pub.path.removeprefix("file:"), "embeddings",
                              "manifest.json").read_text())
        if day == 1:
            assert emb["warm_start"] is None and pub.manifest["drift"] is None
        else:  # warm-started from the previous version, with a drift report against it
            assert versions[-2] in emb["warm_start"]
            drift = json.loads(Path(pub.path.removeprefix("file:"), "drift",
                                    "summary.json").read_text())
            assert drift["shared"] == emb["vocab_size"] and drift["only_new"] == 0
            assert pub.manifest["drift"]["shared"] == drift["shared"]
    assert len(set(versions)) == 2
    merged_pub, merged = cooccur_table(spark, cfg)
    full_pub = run_cooccur_incremental(spark, cfg, full=True)
    assert full_pub.manifest["mode"] == "full"
    _, full = cooccur_table(spark, cfg)
    assert merged.num_rows == full.num_rows > 0
    for col in ("row", "col", "weight"):
        np.testing.assert_array_equal(merged.column(col).to_numpy(), full.column(col).to_numpy())
    # and both equal the brute-force reference against the frozen (day 1) vocabulary
    from tests.reference import reference_cooccur

    vocab = StageStore(spark, cfg.run.root, "vocab").require()
    ids = {r["word"]: r["id"] for r in pq.read_table(
        f"{vocab.path.removeprefix('file:')}/data").to_pylist()}
    lines = [line.split() for day in (1, 2) for line in
             (corpus / f"date=2026-11-0{day}" / "part-0.txt").read_text().splitlines()]
    ref = reference_cooccur(lines, ids, 3)
    keys = zip(merged.column("row").to_pylist(), merged.column("col").to_pylist(), strict=True)
    got = dict(zip(keys, merged.column("weight").to_pylist(), strict=True))
    assert got.keys() == ref.keys()
    assert all(abs(got[k] - v) <= 1e-6 * v for k, v in ref.items())


def test_changed_and_removed_partitions_are_recounted_and_dropped(spark, tmp_path):
    from latentspark.incremental import Part, run_cooccur_incremental

    corpus = tmp_path / "corpus"
    cfg = make_cfg(tmp_path, corpus)
    add_day(corpus, 1, 400)
    add_day(corpus, 2, 400)
    assert sorted(run_cooccur_incremental(spark, cfg).manifest["counted_now"]) == [
        "date=2026-11-01", "date=2026-11-02"]
    add_day(corpus, 2, 500)  # the same file, rewritten with more lines
    changed = run_cooccur_incremental(spark, cfg)
    assert changed.manifest["counted_now"] == ["date=2026-11-02"]
    # the running total is reused: plus the recount, minus the version it replaces
    assert changed.manifest["merge"].startswith("the previous total")
    assert "+ 1 new or recounted partitions - 1 old ones" in changed.manifest["merge"]
    for f in (corpus / "date=2026-11-01").iterdir():
        f.unlink()
    (corpus / "date=2026-11-01").rmdir()
    removed = run_cooccur_incremental(spark, cfg)
    assert removed.manifest["counted_now"] == [] and list(removed.manifest["parts"]) == [
        "date=2026-11-02"]
    assert "+ 0 new or recounted partitions - 1 old ones" in removed.manifest["merge"]
    assert sorted(p.name for p in (tmp_path / "run/parts/cooccur").iterdir()
                  if not p.name.startswith("_")) == [Part("date=2026-11-02", []).slug]
    _, merged = cooccur_table(spark, cfg)
    run_cooccur_incremental(spark, cfg, full=True)
    _, full = cooccur_table(spark, cfg)
    assert merged.equals(full)


def test_rebuilt_vocabulary_equals_a_fresh_run(spark, tmp_path):
    from latentspark.incremental import run_cooccur_incremental

    corpus = tmp_path / "corpus"
    cfg = make_cfg(tmp_path, corpus, "pipeline.vocabulary=\"rebuild\"",
                   "cooccur.subsample=0.01")
    add_day(corpus, 1, 600)
    run_cooccur_incremental(spark, cfg)
    add_day(corpus, 2, 900)
    second = run_cooccur_incremental(spark, cfg)
    # the vocabulary changed, so both partitions were counted again against it
    assert sorted(second.manifest["counted_now"]) == ["date=2026-11-01", "date=2026-11-02"]
    fresh = make_cfg(tmp_path / "fresh", corpus, "pipeline.incremental=false",
                     "cooccur.subsample=0.01")
    from latentspark.stages.cooccur import run as run_cooccur

    run_cooccur(spark, fresh)
    _, a = cooccur_table(spark, cfg)
    _, b = cooccur_table(spark, fresh)
    assert a.equals(b)
    va = StageStore(spark, cfg.run.root, "vocab").require()
    vb = StageStore(spark, fresh.run.root, "vocab").require()
    assert pq.read_table(f"{va.path.removeprefix('file:')}/data").sort_by("id").to_pylist() == \
        pq.read_table(f"{vb.path.removeprefix('file:')}/data").sort_by("id").to_pylist()


def test_gate_blocks_a_degraded_model(spark, tmp_path):
    from latentspark.pipeline import run_pipeline

    good = tmp_path / "good"
    lines = synthetic.sentences(3000, seed=1)
    add_day(good, 1, lines=lines)
    cfg = make_cfg(tmp_path, good, "pipeline.drift=false")
    first = run_pipeline(spark, cfg)
    assert first.manifest["gate"]["passed"]
    assert first.manifest["scores"]["analogies"] > 0.8
    bad = tmp_path / "shuffled"
    add_day(bad, 1, lines=synthetic.shuffled(lines))
    cfg_bad = make_cfg(tmp_path, bad, "pipeline.drift=false", "pipeline.vocabulary=\"rebuild\"")
    with pytest.raises(GateError, match="failed the quality gate") as err:
        run_pipeline(spark, cfg_bad)
    assert err.value.exit_code == 6
    models = ModelStore(spark, cfg)
    assert models.latest_name() == first.version
    rejected = [v for v in models.versions() if v != first.version]
    assert len(rejected) == 1
    manifest = models.store.load(rejected[0]).manifest
    assert not manifest["gate"]["passed"] and manifest["scores"]["analogies"] < 0.2
    # a re-run judges the same stages the same way, without another version
    with pytest.raises(GateError):
        run_pipeline(spark, cfg_bad)
    assert len(models.versions()) == 2
    # readers resolve LATEST to the good version
    from latentspark.index import resolve_embeddings

    reader = load_config(None, [f"index.embeddings={json.dumps(str(tmp_path / 'run/models'))}"])
    assert first.version in resolve_embeddings(spark, reader).data_path
    from latentspark.cli import main

    out = tmp_path / "latest.txt"
    assert main(["export", "--embeddings", str(tmp_path / "run/models"), "--format", "word2vec",
                 "--out", str(out)]) == 0
    header, *rows = out.read_text().splitlines()
    assert header == f"{first.manifest['vocab_size']} {first.manifest['dim']}"


BAD_FILES = {
    "binary": lambda p: p.write_bytes(bytes(np.random.default_rng(0).integers(
        0, 256, 20_000, dtype=np.uint8))),
    "empty": lambda p: p.write_bytes(b""),
    "long-line": lambda p: p.write_bytes(b"word " * (10 * 2**20)),  # 50 MB, no newline
    "latin-1": lambda p: p.write_bytes("caf\xe9 na\xefve r\xe9sum\xe9\n".encode("latin-1") * 50),
    "utf-16": lambda p: p.write_bytes("he said she said\n".encode("utf-16") * 50),
}


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory):
    """A run root whose LATEST passed the gate, shared by the bad-input tests."""
    from latentspark.pipeline import run_pipeline

    tmp = tmp_path_factory.mktemp("bad-input")
    corpus = tmp / "corpus"
    add_day(corpus, 1)
    cfg = make_cfg(tmp, corpus, "pipeline.drift=false")
    return tmp, corpus, run_pipeline(spark, cfg)


def _tree_digest(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in sorted(path.rglob("*"))}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_in_a_new_partition_fails_naming_it(spark, published, kind):
    from latentspark.pipeline import run_pipeline

    tmp, corpus, first = published
    day = corpus / "date=2026-11-05"
    day.mkdir(exist_ok=True)
    for old in day.iterdir():
        old.unlink()
    synthetic.write_lines(day / "good.txt", synthetic.sentences(200, seed=5))
    BAD_FILES[kind](day / f"bad-{kind}.txt")
    model = Path(first.path.removeprefix("file:"))
    before = _tree_digest(model)
    cfg = make_cfg(tmp, corpus, "pipeline.drift=false")
    try:
        with pytest.raises(InputError, match=f"bad-{kind}.txt") as err:
            run_pipeline(spark, cfg)
        assert err.value.exit_code == 3
        assert ModelStore(spark, cfg).latest_name() == first.version
        assert _tree_digest(model) == before
    finally:
        for f in day.iterdir():
            f.unlink()
        day.rmdir()


def test_bad_files_skipped_when_configured(spark, tmp_path):
    from latentspark.pipeline import run_pipeline

    corpus = tmp_path / "corpus"
    add_day(corpus, 1)
    day = corpus / "date=2026-11-02"
    synthetic.write_lines(day / "good.txt", synthetic.sentences(300, seed=2))
    for kind, write in BAD_FILES.items():
        if kind != "long-line":  # one 50 MB file is enough for the test above
            write(day / f"bad-{kind}.txt")
    cfg = make_cfg(tmp_path, corpus, "pipeline.drift=false", "pipeline.bad_files=\"skip\"")
    pub = run_pipeline(spark, cfg)
    skipped = pub.manifest["corpus"]["skipped_files"]
    assert sorted(Path(p).name for p in skipped) == sorted(
        f"bad-{k}.txt" for k in BAD_FILES if k != "long-line")
    assert any("not UTF-8" in why for why in skipped.values())
    assert any("empty file" in why for why in skipped.values())
    assert ModelStore(spark, cfg).latest_name() == pub.version


@pytest.mark.slow
def test_driver_killed_mid_run_leaves_latest_and_resumes(spark, tmp_path):
    from latentspark.pipeline import run_pipeline

    corpus = tmp_path / "corpus"
    add_day(corpus, 1)
    cfg = make_cfg(tmp_path, corpus, "pipeline.drift=false")
    first = run_pipeline(spark, cfg)
    add_day(corpus, 2)
    questions = tmp_path / "questions.txt"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1",
           "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "latentspark", "pipeline", "--master", "local[2]",
            "--corpus", str(corpus), "--root", str(tmp_path / "run"),
            "--analogies", str(questions), "--set", "pipeline.drift=false"]
    for s in SETTINGS:
        args += ["--set", s]
    log = tmp_path / "killed.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        deadline = time.monotonic() + 300
        # kill the driver (Python and its JVM) once the embeddings are being made
        while "stage 3/6 embeddings" not in log.read_text():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    models = ModelStore(spark, cfg)
    assert models.latest_name() == first.version
    assert models.versions() == [first.version]
    from latentspark.index import resolve_embeddings

    reader = load_config(None, [f"index.embeddings={json.dumps(str(tmp_path / 'run/models'))}"])
    assert first.version in resolve_embeddings(spark, reader).data_path
    cooc_before = StageStore(spark, cfg.run.root, "cooccur").require()
    assert cooc_before.manifest["counted_now"] == ["date=2026-11-02"]
    second = run_pipeline(spark, cfg)
    # resumed: the counts published before the kill were reused, not recounted
    assert second.manifest["stages"]["cooccur"] == cooc_before.version
    assert models.latest_name() == second.version != first.version
    assert (Path(models.root.removeprefix("file:")) / LATEST).read_text().strip() == \
        second.version


def test_warm_start_vectors_follow_the_words(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from latentspark import embeddings
    from latentspark.blocks import Factor, Layout
    from latentspark.factorize import to_numpy
    from latentspark.fs import HadoopFS
    from latentspark.stages.embeddings import warm_start_vectors

    old = np.arange(12, dtype=np.float32).reshape(4, 3)
    table = embeddings.to_table(pa.array(["a", "b", "c", "d"]), np.array([9, 8, 7, 6]), old)
    embeddings.write(HadoopFS(spark), str(tmp_path / "old" / "data"), table)
    (tmp_path / "vocab").mkdir()
    pq.write_table(pa.table({"id": pa.array([0, 1, 2], pa.int32()), "word": ["c", "new", "a"],
                             "count": pa.array([5, 4, 3], pa.int64())}),
                   tmp_path / "vocab" / "part-0.parquet")
    init = Factor(str(tmp_path / "init"), Layout(3, blocks=2, splits=1), 3)
    shared = warm_start_vectors(spark, str(tmp_path / "vocab"), str(tmp_path / "old"), 3, init)
    assert shared == 2
    np.testing.assert_array_equal(to_numpy(init), [old[2], [0, 0, 0], old[0]])


def test_exit_codes_tell_a_scheduler_what_happened(monkeypatch, capsys):
    from py4j.protocol import Py4JNetworkError

    from latentspark import cli, pipeline

    def failing(exc):
        def run(*args, **kwargs):
            raise exc
        return run

    # the command's own code runs; only the session and the pipeline itself are stand-ins
    monkeypatch.setattr(cli, "_session", lambda args: (cli.resolve_config(args), None))
    cases = [(GateError("gate"), 6), (InputError("bad file x.txt"), 3),
             (Py4JNetworkError("Answer from Java side is empty"), 7),
             (ConnectionRefusedError("master down"), 7)]
    for exc, code in cases:
        monkeypatch.setattr(pipeline, "run_pipeline", failing(exc))
        assert cli.main(["pipeline", "--corpus", "x"]) == code
    assert "retry" in capsys.readouterr().err
    # a Python error raised by our own code is a bug, not an infrastructure failure
    monkeypatch.setattr(pipeline, "run_pipeline", failing(KeyError("oops")))
    with pytest.raises(KeyError):
        cli.main(["pipeline", "--corpus", "x"])


def test_old_model_versions_are_pruned_but_never_latest(spark, tmp_path):
    cfg = load_config(None, [f"run.root={json.dumps(str(tmp_path))}", "pipeline.keep_models=2"])
    models = ModelStore(spark, cfg)
    names = [f"2026110{i}T000000000000Z-00000{i}" for i in range(1, 5)]
    for name in names:
        (tmp_path / "models" / name).mkdir(parents=True)
        (tmp_path / "models" / name / "manifest.json").write_text("{}")
    (tmp_path / "models" / "_staging").mkdir()  # a killed run's leftovers are not versions
    models.point_latest(names[0])
    models.prune()
    assert models.versions() == [names[0], *names[2:]]
    assert models.latest_name() == names[0]
    models.point_latest(names[3])
    models.prune()
    assert models.versions() == names[2:]
