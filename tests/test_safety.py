"""Issue 17: one writer per run root, LATEST that is never missing, publication without
directory renames (object stores), authenticated index manifests, and the bad inputs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from latentspark.artifacts import MANIFEST, StageStore
from latentspark.cli import is_infrastructure, main
from latentspark.config import load_config
from latentspark.errors import ArtifactError, ConfigError, InputError, LockedError
from latentspark.fs import HadoopFS
from latentspark.lock import LOCK_DIR, hold, holder
from latentspark.models import LATEST, ModelStore, latest_version, pointers
from tests import synthetic

ROOT = Path(__file__).resolve().parents[1]


def qualified(path: Path) -> str:
    return path.resolve().as_uri().replace("file:///", "file:/")


def write_lease(root: Path, generation: int, **fields) -> Path:
    body = {"owner": "someone", "token": "t", "host": "elsewhere", "pid": 1,
            "command": "pipeline", "acquired_at": "then", "expires": time.time() + 600,
            "expires_at": "later", **fields}
    path = root / LOCK_DIR / f"lease-{generation:012d}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    return path


# ---------------------------------------------------------------------------------------------
# the lease


def test_a_live_lease_refuses_with_exit_75_and_publishes_nothing(spark, tmp_path, capsys):
    root = tmp_path / "run"
    write_lease(root, 1)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("some words here\n")
    code = main(["vocab", "--corpus", str(tmp_path / "c"), "--root", str(root),
                 "--set", "vocab.min_count=1"])
    err = capsys.readouterr().err
    assert code == LockedError.exit_code == 75
    assert "locked by someone" in err and "elsewhere" in err and "pipeline" in err
    assert not (root / "vocab").exists() and not (root / "_staging").exists()


def test_expired_and_dead_leases_are_broken_by_the_next_generation(spark, tmp_path):
    fs = HadoopFS(spark)
    root = tmp_path / "run"
    write_lease(root, 1, expires=time.time() - 1)  # expired
    with hold(fs, qualified(root)) as lease:
        assert lease.generation == 2
        body = json.loads((root / LOCK_DIR / "lease-000000000002").read_text())
        assert body["pid"] == os.getpid() and body["host"] == socket.gethostname()
        # re-entrant, and it covers the folders under the root
        with hold(fs, qualified(root / "parts" / "words")) as inner:
            assert inner is lease
        # another process on this host finds it held
        assert holder(fs, qualified(root))[1]["token"] == lease.token
    # released: expired at once, the older generation cleared
    assert holder(fs, qualified(root)) == (2, None)
    assert sorted(p.name for p in (root / LOCK_DIR).iterdir()
                  if not p.name.startswith(".")) == ["lease-000000000002"]
    # a lease of this host whose process is gone is broken too
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lease(root, 3, host=socket.gethostname(), pid=dead.pid)
    with hold(fs, qualified(root)) as lease:
        assert lease.generation == 4


def test_a_long_run_keeps_its_lease_alive(spark, tmp_path):
    fs = HadoopFS(spark)
    root = tmp_path / "run"
    with hold(fs, qualified(root), ttl=1.0) as lease:
        first = json.loads(Path(lease.path.removeprefix("file:")).read_text())["expires"]
        time.sleep(2.5)  # longer than the ttl: only the renewals keep it held
        body = holder(fs, qualified(root))[1]
        assert body is not None and body["token"] == lease.token
        assert body["expires"] > first + 1


def test_a_run_that_lost_its_lease_publishes_nothing(spark, tmp_path):
    fs = HadoopFS(spark)
    store = StageStore(spark, str(tmp_path / "run"), "vocab", fs=fs)
    with pytest.raises(LockedError, match="broken by generation"), store.staging() as st:
        fs.write_bytes(f"{st.data_path}/part-0", b"x")
        # someone broke the lease while this run stalled
        write_lease(tmp_path / "run", 99)
    assert store.versions() == []


SCRIPT_PIPELINE = """
import sys
from latentspark.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_concurrent_pipelines_on_one_root(tmp_path):
    """The second exits 75 (or, with lock_wait, runs after the first); the model LATEST names
    has the vectors of its own config."""
    corpus = tmp_path / "corpus"
    synthetic.write_lines(corpus / "date=2026-11-01" / "part-0.txt",
                          synthetic.sentences(1500, seed=1))
    questions = tmp_path / "questions.txt"
    questions.write_text(synthetic.analogies())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LATENTSPARK__FACTORIZE__DIM", None)
    procs = []
    for dim in (6, 8):
        args = [sys.executable, "-c", SCRIPT_PIPELINE, "pipeline", "-q", "--corpus", str(corpus),
                "--root", str(tmp_path / "run"), "--analogies", str(questions),
                "--master", "local[1]", "--set", "vocab.min_count=2",
                "--set", "index.shards=2", "--set", "index.n_trees=4",
                "--set", "evaluate.recall_sample=0", "--set", "gate.enabled=false",
                "--set", "pipeline.drift=false", "--set", f"factorize.dim={dim}",
                "--set", "factorize.oversample=4", "--set", "factorize.tasks=1",
                "--set", "spark.shuffle_partitions=2"]
        procs.append(subprocess.Popen(args, env=env, cwd=tmp_path, stderr=subprocess.PIPE,
                                      text=True))
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 75], [0, 0]), results
    if codes == [0, 75]:
        # refused by the live lease, or (both starting at once) beaten to its creation
        assert any("is locked by" in err or "another run took the lease" in err
                   for code, err in results if code == 75), results
    models = tmp_path / "run" / "models"
    version = models / (models / LATEST).read_text().strip()
    manifest = json.loads((version / "manifest.json").read_text())
    import pyarrow.parquet as pq

    vectors = pq.read_table(version / "embeddings" / "data").column("vector")
    dim = manifest["config"]["factorize"]["dim"]
    assert len(vectors[0]) == dim == manifest["dim"]
    emb = json.loads((version / "embeddings" / "manifest.json").read_text())
    assert emb["config"]["factorize"]["dim"] == dim


# ---------------------------------------------------------------------------------------------
# LATEST


def model_cfg(tmp_path: Path):
    return load_config(None, [f"run.root={json.dumps(str(tmp_path / 'run'))}"])


def fake_version(store: StageStore, fs: HadoopFS, payload: bytes = b"vectors") -> str:
    with store.staging() as st:
        fs.write_bytes(f"{st.path}/embeddings/data/part-0", payload)
        fs.write_bytes(f"{st.path}/embeddings/{MANIFEST}", b"{}")
        st.manifest["gate"] = {"passed": True}
    return st.version


def test_latest_pointers_fall_back_to_the_newest_complete_version(spark, tmp_path, caplog):
    models = ModelStore(spark, model_cfg(tmp_path))
    fs = models.fs
    a, b = fake_version(models.store, fs), fake_version(models.store, fs)
    models.point_latest(a)
    models.point_latest(b)
    assert models.latest_name() == b and len(pointers(fs, models.root)) == 2
    root = Path(models.root.removeprefix("file:"))
    assert (root / LATEST).read_text() == f"{b}\n"
    # b loses a data file: readers fall back to a, with a warning
    (root / b / "embeddings" / "data" / "part-0").write_bytes(b"short")
    assert latest_version(fs, models.root) == a
    assert "unusable" in caplog.text and "part-0" in caplog.text
    # a damaged manifest is skipped the same way
    (root / b / "embeddings" / "data" / "part-0").write_bytes(b"vectors")
    (root / b / MANIFEST).write_text("{not json")
    assert latest_version(fs, models.root) == a
    # no usable pointer at all: a broken artifact, named
    (root / a / MANIFEST).unlink()
    with pytest.raises(ArtifactError, match="no LATEST pointer names a complete version"):
        latest_version(fs, models.root)


SCRIPT_FLIP = """
import sys
from pyspark.sql import SparkSession
from latentspark.config import load_config
from latentspark.models import ModelStore
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
models = ModelStore(spark, load_config(None, [f"run.root={sys.argv[1]!r}".replace("'", '"')]))
a, b = sys.argv[2:4]
print("ready", flush=True)
i = 0
while True:
    models.point_latest(a if i % 2 else b)
    i += 1
"""


@pytest.mark.slow
def test_kill_9_while_latest_moves_never_leaves_it_missing(spark, tmp_path):
    models = ModelStore(spark, model_cfg(tmp_path))
    fs = models.fs
    a, b = fake_version(models.store, fs), fake_version(models.store, fs)
    models.point_latest(a)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    root = Path(models.root.removeprefix("file:"))
    rng = np.random.default_rng(17)
    for _ in range(2):
        # the second writer finds the lease of the first, killed: it breaks it
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT_FLIP, str(tmp_path / "run"), a,
                                 b], env=env, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 2 + float(rng.uniform(0, 2))
        seen = set()
        while time.monotonic() < deadline:  # readers meanwhile always find a version
            seen.add(latest_version(fs, models.root))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert seen == {a, b}  # LATEST moved under the readers' eyes, and was always there
        assert latest_version(fs, models.root) in {a, b}
        assert (root / LATEST).read_text().strip() in {a, b}
    # a killed writer's leftovers go at the next move, under the lease
    models.point_latest(a)
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    assert len(pointers(fs, models.root)) <= 4


# ---------------------------------------------------------------------------------------------
# object stores: no directory rename


class ObjectStoreFS(HadoopFS):
    """A local filesystem that behaves like S3A: a rename is copy-then-delete, object by
    object in name order (``manifest.json`` can land before the data), and can fail half-way
    (``fail_after`` objects copied)."""

    def __init__(self, spark, fail_after: int | None = None) -> None:
        super().__init__(spark)
        self.fail_after = fail_after
        self.renamed: list[str] = []

    def renames_atomically(self, path: str) -> bool:
        return self.atomic

    atomic = False

    def rename(self, src: str, dst: str) -> None:
        self.renamed.append(src)
        files = self.list_files(src) if self.is_dir(src) else []
        for n, f in enumerate(sorted(files, key=lambda f: (not f.path.endswith(MANIFEST),
                                                           f.path))):
            if self.fail_after is not None and n >= self.fail_after:
                raise OSError(f"connection lost copying {f.path}")
            self.copy(f.path, dst + f.path[len(src):])
        self.delete(src)


def test_object_store_publication_writes_in_place_with_the_manifest_last(spark, tmp_path):
    fs = ObjectStoreFS(spark)
    store = StageStore(spark, str(tmp_path / "run"), "vocab", fs=fs)
    with store.staging() as st:
        assert st.path == f"{store.dir}/{st.version}"  # the final folder, no staging
        fs.write_bytes(f"{st.data_path}/part-0", b"abc")
        fs.write_bytes(f"{st.data_path}/part-1", b"defg")
        assert store.versions() == []  # no manifest yet: not a version
    assert fs.renamed == []
    pub = store.current()
    assert pub.version == st.version
    assert pub.manifest["data_files"] == {"data/part-0": 3, "data/part-1": 4}
    # a failed build leaves nothing behind
    with pytest.raises(RuntimeError), store.staging() as st2:
        fs.write_bytes(f"{st2.data_path}/part-0", b"xyz")
        raise RuntimeError("task failed")
    assert not Path(st2.path.removeprefix("file:")).exists()
    assert store.current().version == st.version


def test_a_rename_that_fails_half_way_is_never_read(spark, tmp_path, caplog):
    fs = ObjectStoreFS(spark)
    fs.atomic = True  # the rename-based publication, on a store that copies
    store = StageStore(spark, str(tmp_path / "run"), "vocab", fs=fs)
    with store.staging() as st:
        fs.write_bytes(f"{st.data_path}/part-0", b"old")
    good = st.version
    fs.fail_after = 2  # the manifest and one data file land, then the copy fails
    with pytest.raises(OSError, match="connection lost"), store.staging() as st:
        for i in range(3):
            fs.write_bytes(f"{st.data_path}/part-{i}", b"new")
    half = Path(store.dir.removeprefix("file:")) / st.version
    assert not half.exists()  # the failed run removed its half-copied version
    assert store.current().version == good
    # a run killed in the middle of that copy cannot clean up: what S3A then leaves is a
    # manifest without all its data, and readers pass over it
    fs.delete = lambda path: None
    with pytest.raises(OSError, match="connection lost"), store.staging() as st:
        for i in range(3):
            fs.write_bytes(f"{st.data_path}/part-{i}", b"new")
    assert (half.parent / st.version / MANIFEST).exists()
    assert store.current().version == good
    assert "incomplete" in caplog.text and "data/part-" in caplog.text


# ---------------------------------------------------------------------------------------------
# inputs


def run_cli(capsys, corpus: Path, root: Path, *extra: str, command: str = "run",
            ) -> tuple[int, str]:
    """``latentspark COMMAND`` in this process; ``vocab`` where only the vocabulary is checked
    (the corpus is read and checked the same way, without the later stages' Spark jobs)."""
    code = main([command, "--corpus", str(corpus), "--root", str(root),
                 "--set", "vocab.min_count=1", *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("where", [
    "reflect('java.lang.System', 'exit', 1) = 1",
    "java_method('java.lang.Runtime', 'getRuntime') IS NULL",
    "date IN (SELECT value FROM text.`/etc/passwd`)",
    "date >= '2026' OR 1 = 1; DROP TABLE x",
    "text = 'a'",  # a data column, not a partition column
    "date >= current_date()",
])
def test_where_allows_only_partition_filters(spark, tmp_path, capsys, where):
    corpus = tmp_path / "c"
    synthetic.write_lines(corpus / "date=2026-11-01" / "a.txt", [["some", "words", "here"]])
    code, err = run_cli(capsys, corpus, tmp_path / "run", "--where", where)
    assert code == ConfigError.exit_code and "corpus.where" in err
    assert not (tmp_path / "run" / "vocab").exists()


def test_where_over_partition_columns_still_filters(spark, tmp_path, capsys):
    import pyarrow.parquet as pq

    corpus = tmp_path / "c"
    synthetic.write_lines(corpus / "date=2026-11-01" / "lang=en" / "a.txt", [["old", "words"]])
    synthetic.write_lines(corpus / "date=2026-11-02" / "lang=en" / "a.txt", [["new", "words"]])
    synthetic.write_lines(corpus / "date=2026-11-02" / "lang=de" / "a.txt", [["neue", "w"]])
    code, _ = run_cli(capsys, corpus, tmp_path / "run", "--where",
                      "date >= '2026-11-02' and not (lang in ('de'))", command="vocab")
    assert code == 0
    [version] = (tmp_path / "run" / "vocab").iterdir()
    assert set(pq.read_table(version / "data").column("word").to_pylist()) == {"new", "words"}


@pytest.mark.parametrize("item", ["gate.min_score=nan", "gate.max_drop=inf",
                                  "factorize.x_max=-inf", "explore.confidence=nan"])
def test_nan_and_infinity_are_refused(item):
    with pytest.raises(ConfigError, match="finite"):
        load_config(None, [item])


@pytest.mark.parametrize("name", ["text` STRING, `x", "a b", "", "x.y", "1abc"])
def test_text_field_must_be_a_column_name(name):
    with pytest.raises(ConfigError, match="corpus.text_field"):
        load_config(None, [f"corpus.text_field={json.dumps(name)}"])
    assert load_config(None, ["corpus.text_field=\"body_text\""]).corpus.text_field == \
        "body_text"


def test_whitespace_mode_splits_on_unicode_spaces(spark):
    from latentspark.config import TokenizeConfig
    from latentspark.corpus import tokenize

    text = "alpha\u00a0beta\u2009gamma\u3000delta\u2028eps  zeta\tEta"
    df = spark.createDataFrame([(text,)], "text STRING")
    cfg = TokenizeConfig(mode="whitespace", nfkc=False, lowercase=True)
    [row] = tokenize(df, cfg).collect()
    assert row["tokens"] == ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"]


def test_a_file_without_newlines_is_bounded_and_reported(spark, tmp_path, capsys):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.txt").write_text("fine words here\nmore fine words\n")
    (corpus / "blob.txt").write_bytes(b"word " * 3000)  # 15 kB, no newline
    (corpus / "mixed.txt").write_bytes(b"short line\n" + b"x" * 5000 + b"\nlast line\n")
    limit = ["--set", "corpus.max_line_bytes=2048"]
    code, err = run_cli(capsys, corpus, tmp_path / "run", *limit)
    assert code == InputError.exit_code
    assert "blob.txt" in err and "mixed.txt" in err and "good.txt" not in err
    assert "corpus.max_line_bytes = 2048" in err
    code, err = run_cli(capsys, corpus, tmp_path / "run", *limit,
                        "--set", "corpus.bad_records=\"skip\"", command="vocab")
    assert code == 0, err
    [version] = (tmp_path / "run" / "vocab").iterdir()
    manifest = json.loads((version / MANIFEST).read_text())
    skipped = {Path(k).name: v for k, v in manifest["skipped_files"].items()}
    assert sorted(skipped) == ["blob.txt", "mixed.txt"]
    assert skipped["mixed.txt"].startswith("5001 bytes in lines longer")
    import pyarrow.parquet as pq

    words = set(pq.read_table(version / "data").column("word").to_pylist())
    assert words == {"fine", "words", "here", "more", "short", "line", "last"}


def test_evaluation_files_with_a_bom_keep_their_first_section(spark, tmp_path):
    from latentspark.evaluation import _read_files, parse_analogies

    fs = HadoopFS(spark)
    body = ": capital\na b c d\n: family\ne f g h\n"
    plain, bom = tmp_path / "plain.txt", tmp_path / "bom.txt"
    plain.write_text(body)
    bom.write_bytes(b"\xef\xbb\xbf" + body.encode())
    [(_, with_bom)], [(_, without)] = (_read_files(fs, [str(p)], "analogies")
                                       for p in (bom, plain))
    parsed = parse_analogies(with_bom, "q.txt")
    assert parsed.rows == parse_analogies(without, "q.txt").rows
    assert not parsed.problems and parsed.rows[0]["section"] == "capital"


def test_explore_out_refuses_a_non_empty_folder_without_force(spark, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    args = ["explore", "-q", "--root", str(tmp_path / "run"), "--embeddings",
            str(tmp_path / "none"), "--out", str(out)]
    assert main(args) == InputError.exit_code
    assert (out / "precious.txt").read_text() == "keep me"


def test_concept_names_with_dollars_are_drawn_literally():
    from latentspark.explore.plots import plot_consistency

    entries = [{"name": name, "consistency": 0.5, "explained": 0.4, "intervals": None,
                "chance": 0.1} for name in ("$x^{", "cost $ and $", "plain")]
    png = plot_consistency(entries)
    assert png.startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------------
# index files and model manifests


def test_model_version_refuses_a_swapped_index_manifest(spark, tmp_path):
    from latentspark.models import component

    models = ModelStore(spark, model_cfg(tmp_path))
    fs = models.fs
    with models.store.staging() as st:
        for name in ("embeddings", "index", "evaluation"):
            fs.write_bytes(f"{st.path}/{name}/{MANIFEST}", json.dumps({"n": name}).encode())
        import hashlib

        st.manifest["manifests_sha256"] = {
            name: hashlib.sha256(json.dumps({"n": name}).encode()).hexdigest()
            for name in ("embeddings", "index", "evaluation")}
    pub = models.store.load(st.version)
    assert component(fs, pub, "index").manifest == {"n": "index"}
    index_manifest = Path(pub.path.removeprefix("file:")) / "index" / MANIFEST
    index_manifest.write_text(json.dumps({"n": "index", "files": {"swapped": 1}}))
    (index_manifest.parent / f".{MANIFEST}.crc").unlink()  # as a careful forger would
    with pytest.raises(ArtifactError, match="manifest was replaced"):
        component(fs, pub, "index")


def test_index_copies_live_in_a_private_folder_removed_at_exit(tmp_path):
    script = (
        "import os, sys\n"
        "from latentspark.index import _private_dir\n"
        "d = _private_dir(sys.argv[1])\n"
        "print(d, oct(os.stat(d).st_mode & 0o777), flush=True)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stale = tmp_path / "latentspark-index-999999999-abc"  # a process that is gone
    stale.mkdir()
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith(str(tmp_path / "latentspark-index-")) and out[1] == "0o700"
    assert not Path(out[0]).exists()  # removed at exit
    assert not stale.exists()


# ---------------------------------------------------------------------------------------------
# exit codes and count stores


def test_io_failures_inside_tasks_are_infrastructure_not_bugs():
    class PythonException(Exception):  # the name pyspark gives a task's Python error
        pass

    assert is_infrastructure(PythonException("OSError: [Errno 28] No space left on device"))
    assert is_infrastructure(PythonException(
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/x'"))
    assert not is_infrastructure(PythonException("ValueError: a bug"))


def test_transient_manifest_read_errors_are_infrastructure(spark, tmp_path):
    from latentspark.errors import InfrastructureError

    class FlakyFS(HadoopFS):
        def read_bytes(self, path: str) -> bytes:
            raise RuntimeError("java.io.IOException: Connection reset by peer")

    fs = HadoopFS(spark)
    store = StageStore(spark, str(tmp_path / "run"), "vocab", fs=fs)
    with store.staging() as st:
        fs.write_bytes(f"{st.data_path}/part-0", b"x")
    flaky = StageStore(spark, str(tmp_path / "run"), "vocab", fs=FlakyFS(spark))
    with pytest.raises(InfrastructureError) as err:
        flaky.load(st.version)
    assert err.value.exit_code == 7


def test_part_stores_of_different_folders_never_share_a_name():
    from latentspark.incremental import Part

    slugs = {Part(key, []).slug for key in ("a/b", "a+b", "", "root", "date=1/lang=en")}
    assert len(slugs) == 5


def test_workers_get_the_drivers_s3a_settings(spark):
    from latentspark.remote import options_from_spark, resolve, s3_arguments

    conf = spark.sparkContext._jsc.hadoopConfiguration()
    keys = {"fs.s3a.access.key": "AKIDEXAMPLE", "fs.s3a.secret.key": "secret",
            "fs.s3a.endpoint": "http://127.0.0.1:9", "fs.s3a.path.style.access": "true",
            "fs.s3a.endpoint.region": "eu-west-1"}
    try:
        for key, value in keys.items():
            conf.set(key, value)
        options = options_from_spark(spark)
    finally:
        for key in keys:
            conf.unset(key)
    assert options.items() >= keys.items()  # and Hadoop's defaults (ssl.enabled)
    assert s3_arguments(keys) == {
        "access_key": "AKIDEXAMPLE", "secret_key": "secret", "endpoint_override": "127.0.0.1:9",
        "scheme": "http", "force_virtual_addressing": False, "region": "eu-west-1"}
    fs, path = resolve("s3a://bucket/run/index/data/shard-00000.ann", options)
    assert type(fs).__name__ == "S3FileSystem" and path == "bucket/run/index/data/shard-00000.ann"
    assert fs.region == "eu-west-1"


def test_index_copies_reach_an_s3_server_with_the_drivers_settings(tmp_path):
    """Against moto's S3 server (a dev dependency, on 127.0.0.1): the worker-side copy and
    check of an index file go through the ``fs.s3a.*`` settings the driver passed, endpoint
    and keys included."""
    import hashlib

    import moto.server as moto_server

    from latentspark.index import IndexSpec, _cached_copy
    from latentspark.remote import s3_arguments, upload

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        options = {"fs.s3a.access.key": "testing", "fs.s3a.secret.key": "testing",
                   "fs.s3a.endpoint": f"http://{host}:{port}",
                   "fs.s3a.path.style.access": "true", "fs.s3a.endpoint.region": "us-east-1"}
        from pyarrow import fs as pafs

        pafs.S3FileSystem(**{**s3_arguments(options), "allow_bucket_creation": True}) \
            .create_dir("bucket")
        body = np.arange(64, dtype=np.float32).tobytes()
        (tmp_path / "v.f32").write_bytes(body)
        base = "s3a://bucket/run/index/20261201T000000000000Z-abcdef"
        upload(str(tmp_path / "v.f32"), f"{base}/data/vectors-00000.f32", options)
        entry = {"kind": "vectors", "items": 8, "size": len(body),
                 "sha256": hashlib.sha256(body).hexdigest()}
        spec = IndexSpec(base, "v", 8, 1, 8, {"data/vectors-00000.f32": entry},
                         cache_dir=str(tmp_path / "cache"), remote_options=options)
        local = _cached_copy(spec, "data/vectors-00000.f32")
        assert Path(local).read_bytes() == body
        assert str(tmp_path / "cache" / "latentspark-index-") in local
        # the copy is checked after it lands: altered bytes are refused
        upload(str(tmp_path / "v.f32"), f"{base}/data/vectors-00000.f32", options)
        tampered = IndexSpec(base, "w", 8, 1, 8, {"data/vectors-00000.f32": {
            **entry, "sha256": "0" * 64}}, cache_dir=str(tmp_path / "cache"),
            remote_options=options)
        with pytest.raises(ArtifactError, match="corrupted"):
            _cached_copy(tampered, "data/vectors-00000.f32")
    finally:
        server.stop()


def test_where_is_written_back_from_its_parse():
    from latentspark.where import parse

    assert parse('date >= "2026-11-01"').sql == "(`date` >= '2026-11-01')"
    assert parse("lang = 'it''s' OR NOT n IN (1, 2.5)").sql == \
        "((`lang` = 'it\\'s') OR (NOT (`n` IN (1, 2.5))))"
    assert parse("`my col` != 'x'").columns == ("my col",)
    for bad in ("a = `x``y`", "a between 1 and 2", "a like 'x%'", "a = (select 1)", "a",
                "a = 1 and", "-- a = 1"):
        with pytest.raises(ConfigError, match="corpus.where"):
            parse(bad)


def test_the_api_follows_the_newest_valid_pointer(tmp_path):
    from latentspark.api import locate

    root = tmp_path / "models"
    for version in ("20261101T000000000000Z-aaaaaa", "20261102T000000000000Z-bbbbbb"):
        (root / version / "embeddings" / "data").mkdir(parents=True)
        (root / version / "embeddings" / MANIFEST).write_text("{}")
        (root / version / MANIFEST).write_text(json.dumps({"version": version}))
    (root / "LATEST-20261101T000000000000Z-000001").write_text("20261101T000000000000Z-aaaaaa\n")
    (root / "LATEST-20261102T000000000000Z-000002").write_text("20261102T000000000000Z-bbbbbb\n")
    (root / LATEST).write_text("20261101T000000000000Z-aaaaaa\n")  # a move killed half-way
    assert locate(str(root)).path.endswith("bbbbbb")
    (root / "LATEST-20261103T000000000000Z-000003").write_text("20261103T000000000000Z-gone\n")
    assert locate(str(root)).path.endswith("bbbbbb")


def test_the_api_refuses_an_index_manifest_the_model_did_not_record(tmp_path):
    import hashlib

    from latentspark.api import _open_index

    index = tmp_path / "index"
    index.mkdir()
    (index / MANIFEST).write_text(json.dumps({"files": {"data/shard-00000.ann": {}}}))
    recorded = hashlib.sha256(b'{"files": {}}').hexdigest()
    with pytest.raises(ArtifactError, match="not the one the model version recorded"):
        _open_index(str(index), ["a"], 2, -1, "", recorded)


def test_a_run_publishes_when_no_latest_pointer_is_usable(spark, tmp_path, caplog):
    models = ModelStore(spark, model_cfg(tmp_path))
    version = fake_version(models.store, models.fs)
    models.point_latest(version)
    root = Path(models.root.removeprefix("file:"))
    (root / version / MANIFEST).write_text("{damaged")
    with pytest.raises(ArtifactError):
        models.latest_name()  # readers: a broken artifact, exit 5
    assert models.previous() is None  # a publishing run: as if first, with a warning
    assert "publishing as if there were no LATEST" in caplog.text
