"""The jobs on a real Spark standalone cluster (a master and two workers on 127.0.0.1, started
by ``scripts/cluster.sh``), submitted with ``spark-submit --py-files`` the zip that
``scripts/package.sh`` builds: same outputs as local mode, and the same outputs again when a
worker and its executor are killed in the middle of the co-occurrence stage and again in the
middle of the factorization of the same job.

They run by default (``-m "not cluster"`` leaves them out). The cluster runs in its own state
folder on free ports and is stopped at the end even when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from tests.conftest import TEST_JAVA_OPTIONS

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
# The job every test submits: the retraining pipeline, vocab -> cooccur -> embeddings -> index ->
# evaluation -> a model version (no evaluation sets for this made-up language: no gate).
JOB = REPO / "jobs" / "pipeline.py"
# The published stages compared between runs, with the columns their rows are sorted by.
STAGES = {"vocab": ["id"], "cooccur": ["row", "col"], "embeddings": ["id"]}
SETTINGS = ["--set", "gate.enabled=false", "--set", "index.n_trees=5",
            "--set", "evaluate.recall_sample=200",
            "--set", "vocab.min_count=2", "--set", "cooccur.window=3",
            "--set", "cooccur.blocks=8", "--set", "factorize.dim=8",
            "--set", "factorize.power_iters=0", "--set", "factorize.wals_iterations=1",
            "--set", "factorize.tasks=16",
            "--set", "spark.shuffle_partitions=4"]
# Small input splits: the co-occurrence stage becomes 16 tasks (two 94 kB files each), long
# enough to kill a worker in the middle of it. Every run splits the input the same way.
SPLITS = {"spark.sql.files.maxPartitionBytes": "200000", "spark.sql.files.openCostInBytes": "0"}
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
#: the tests' HotSpot options (see conftest) for every JVM of the cluster and the job
JAVA = " ".join(TEST_JAVA_OPTIONS)


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that were free a moment ago (bound together, then released)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def spark_bin(name: str) -> str:
    """A script of the pyspark wheel, e.g. ``spark-submit``."""
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the test session's latentspark settings (conftest sets some)
    or PYTHONPATH (the jobs must import latentspark from the zip), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LATENTSPARK") and k != "PYTHONPATH"}
    env.update(PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1",
               SPARK_DAEMON_JAVA_OPTS=JAVA, **extra)  # the master's and workers' JVMs
    return env


def free_port_pair() -> int:
    """A free port whose successor is free too (the two workers' web UIs)."""
    for _ in range(50):
        [port] = free_ports(1)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


@dataclass
class Cluster:
    """A standalone cluster started by ``scripts/cluster.sh`` in the background."""

    url: str
    state: Path
    env: dict[str, str]
    starting: subprocess.Popen | None = None

    def ready(self) -> Cluster:
        """Wait for ``cluster.sh start`` to finish (both workers registered); fail if it failed."""
        if self.starting is not None:
            out, err = self.starting.communicate(timeout=240)
            code, self.starting = self.starting.returncode, None
            assert code == 0, err
            assert out.strip() == self.url, out
        return self

    def script(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run ``scripts/cluster.sh COMMAND`` against this cluster."""
        return subprocess.run([str(REPO / "scripts" / "cluster.sh"), command], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def worker_pid(self, instance: int) -> int:
        """The worker JVM's pid, from spark-daemon.sh's pid file."""
        pid_file = self.state / "pids" / f"spark-latentspark-{WORKER_CLASS}-{instance}.pid"
        return int(pid_file.read_text())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    """Master and two workers (1 core, 2g each) on free ports; stopped at the end, always.

    It starts in the background (JVMs take a while): tests call ``ready()`` before using it,
    so the local reference run overlaps with the start-up.
    """
    state = tmp_path_factory.mktemp("cluster")
    master, master_ui = free_ports(2)
    env = clean_env(LATENTSPARK_CLUSTER_DIR=str(state), LATENTSPARK_MASTER_PORT=str(master),
                    LATENTSPARK_MASTER_UI_PORT=str(master_ui),
                    LATENTSPARK_WORKER_UI_PORT=str(free_port_pair()))
    c = Cluster(f"spark://127.0.0.1:{master}", state, env)
    c.starting = subprocess.Popen([str(REPO / "scripts" / "cluster.sh"), "start"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield c
    finally:
        if c.starting is not None:  # let a start that nobody waited for finish, then stop
            c.starting.communicate(timeout=240)
        stopped = c.script("stop")
        assert stopped.returncode == 0, stopped.stderr
    assert c.script("status").returncode != 0  # nothing left behind


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """``scripts/package.sh``'s zip of the package, built into a temporary folder."""
    dist = tmp_path_factory.mktemp("dist")
    out = subprocess.run([str(REPO / "scripts" / "package.sh"), "--dist", str(dist)],
                         env=clean_env(PYTHON=sys.executable), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    zip_path = Path(out.stdout.strip().splitlines()[-1])
    assert zip_path.parent == dist and re.fullmatch(r"latentspark-[\w.]+\.zip", zip_path.name)
    return zip_path


def write_corpus(folder: Path, files: int = 32, lines: int = 1200, seed: int = 7) -> Path:
    """Generated text (about 3 MB): 20,000 made-up words drawn with Zipf-like frequencies,
    lines of 4 to 24 words, spread over ``files`` files."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "der",
                 "an", "is", "or", "ul"]
    n_words = 20_000
    words = []
    for r in range(n_words):
        parts, x = [], r + 1
        while x:
            x, d = divmod(x, len(syllables))
            parts.append(syllables[d])
        words.append("".join(parts))
    p = 1.0 / (np.arange(n_words) + 2.7) ** 1.07
    p /= p.sum()
    folder.mkdir(parents=True)
    for f in range(files):
        lengths = rng.integers(4, 25, size=lines)
        ids = rng.choice(n_words, size=int(lengths.sum()), p=p)
        cuts = np.cumsum(lengths)[:-1]
        text = "\n".join(" ".join(words[i] for i in line) for line in np.split(ids, cuts))
        (folder / f"part-{f:03d}.txt").write_text(text.capitalize() + "\n")
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "text")


def submit(master: str, root: Path, corpus: Path, zip_path: Path, log: Path,
           ui_port: int | None = None, wait: bool = True,
           ) -> subprocess.Popen | subprocess.CompletedProcess:
    """spark-submit ``JOB`` with the test settings; its output goes to ``log``."""
    cmd = [spark_bin("spark-submit"), "--master", master, "--driver-memory", "1g",
           "--executor-memory", "1g", "--total-executor-cores", "2", "--py-files", str(zip_path),
           "--driver-java-options", JAVA, "--conf", f"spark.executor.extraJavaOptions={JAVA}",
           "--conf", f"spark.ui.port={ui_port}" if ui_port else "spark.ui.enabled=false"]
    for key, value in SPLITS.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += [str(JOB), "--corpus", str(corpus), "--root", str(root), *SETTINGS]
    fh = log.open("w")
    proc = subprocess.Popen(cmd, env=clean_env(), stdout=fh, stderr=subprocess.STDOUT,
                            cwd=log.parent)
    fh.close()
    if not wait:
        return proc
    code = proc.wait(timeout=300)
    return subprocess.CompletedProcess(cmd, code, log.read_text())


def outputs(root: Path) -> dict[str, pa.Table]:
    """Each published stage's rows under ``root``, sorted, and the checksums of the index
    files of the model version LATEST names: what two runs must agree on."""
    tables = {}
    for stage, keys in STAGES.items():
        [version] = [p for p in (root / stage).iterdir() if (p / "manifest.json").exists()]
        table = ds.dataset(version / "data", format="parquet", partitioning="hive").to_table()
        tables[stage] = table.sort_by([(k, "ascending") for k in keys])
    latest = root / "models" / (root / "models" / "LATEST").read_text().strip()
    files = json.loads((latest / "index" / "manifest.json").read_text())["files"]
    tables["index"] = pa.table({"file": sorted(files),
                                "sha256": [files[f]["sha256"] for f in sorted(files)]})
    return tables


def assert_same_outputs(got: dict[str, pa.Table], want: dict[str, pa.Table]) -> None:
    for stage, table in want.items():
        assert got[stage].schema == table.schema, stage
        assert got[stage].num_rows == table.num_rows > 0, stage
        assert got[stage].equals(table), f"{stage}: published rows differ"


@pytest.fixture(scope="module")
def local_run(spark, corpus, tmp_path_factory) -> dict[str, pa.Table]:
    """The job's outputs on local Spark: run in this process on the shared local[2] session
    (which spares a JVM start), with the same input splits as the submitted runs."""
    from latentspark.jobs import submit as run_job

    root = tmp_path_factory.mktemp("local") / "run"
    saved = {key: spark.conf.get(key) for key in SPLITS}
    for key, value in SPLITS.items():
        spark.conf.set(key, value)
    try:
        # what jobs/pipeline.py runs (it has no main() since the jobs moved into the package)
        assert run_job("pipeline", ["--corpus", str(corpus), "--root", str(root),
                                    *SETTINGS]) == 0
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)
    return outputs(root)


def running_jobs(ui_port: int) -> list[dict] | None:
    """The driver's running Spark jobs from its REST API, or None while it does not answer."""
    base = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    try:
        with urllib.request.urlopen(base, timeout=2) as r:
            [app] = json.load(r)
        with urllib.request.urlopen(f"{base}/{app['id']}/jobs?status=running", timeout=2) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


def executors_of(worker_pid: int) -> list[psutil.Process]:
    """The executor JVMs a worker launched (its children running CoarseGrainedExecutorBackend)."""
    found = []
    for child in psutil.Process(worker_pid).children(recursive=True):
        try:
            if "CoarseGrainedExecutorBackend" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def wait_mid_stage(proc, log: Path, ui_port: int, started: str, ended: str, what: str,
                   after: int = 0) -> dict:
    """Wait until the log shows ``started`` (its ``after + 1``-th time at least, and ``ended``
    no more than ``after`` times) and a Spark job has finished some tasks with more ahead:
    "in the middle" of that stage. Returns that job's status."""
    deadline = time.monotonic() + 240
    while True:
        assert proc.poll() is None, f"the job ended before the kill:\n{log.read_text()[-5000:]}"
        assert time.monotonic() < deadline, f"the {what} never got under way"
        time.sleep(0.1)
        text = log.read_text()
        if text.count(started) <= after:
            continue
        # a kill in a later stage would test something else: fail loudly instead
        assert text.count(ended) <= after, f"the {what} ended before a kill: make the input larger"
        for job in running_jobs(ui_port) or []:
            left = job["numTasks"] - job["numCompletedTasks"]
            if job["numCompletedTasks"] >= 2 and job["numActiveTasks"] and left >= 6:
                return job


def kill_worker(cluster) -> None:
    """SIGKILL worker 2 and its executors, then start it again while the job goes on (the
    master then gives it a new executor)."""
    worker = cluster.worker_pid(2)
    deadline = time.monotonic() + 60
    # a restarted worker gets its executor a few seconds after it registers
    while not (victims := executors_of(worker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert victims, "worker 2 has no executor of the job"
    os.kill(worker, signal.SIGKILL)  # the worker first, so it cannot relaunch one
    for executor in victims:
        executor.send_signal(signal.SIGKILL)
    restarted = cluster.script("start")
    assert restarted.returncode == 0, restarted.stderr


def test_cluster_job_with_two_worker_kills_publishes_the_local_rows(cluster, package, corpus,
                                                                  local_run, tmp_path):
    """The job submitted to the cluster, with the zip, while worker 2 and its executor die in
    the middle of the co-occurrence stage, come back, and die again in the middle of the
    factorization. The job succeeds and publishes exactly the local run's rows and index:
    lost shuffle output is recomputed, factor pieces written by the lost executor's tasks are
    rewritten by their retries, cached rows are recomputed. One cluster job for the three
    checks (cluster = local mode, a kill in each heavy stage): each cluster run costs minutes
    of the test suite."""
    [ui_port] = free_ports(1)
    log = tmp_path / "submit.log"
    proc = submit(cluster.ready().url, tmp_path / "run", corpus, package, log, ui_port=ui_port,
                  wait=False)
    try:
        at_kill = [wait_mid_stage(proc, log, ui_port, "counting co-occurrences",
                                  "cooccur: merging", "co-occurrence stage")]
        kill_worker(cluster)
        at_kill.append(wait_mid_stage(proc, log, ui_port, "tasks per pass",
                                      "published embeddings", "factorization"))
        kill_worker(cluster)
        code = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert code == 0, text[-5000:]
    lost = set(re.findall(r"Lost executor (\d+)", text))
    assert len(lost) >= 2, f"the driver noticed {len(lost)} of the 2 kills"
    for job in at_kill:
        assert job["numCompletedTasks"] < job["numTasks"]
    # the driver ran the zip's code (the session logs where latentspark came from)
    # on the cluster, not on the local Spark a session builder falls back to
    assert f"session on {cluster.url} " in text
    assert re.search(rf"latentspark \S+ from \S*{re.escape(package.name)}", text), text[-3000:]
    assert_same_outputs(outputs(tmp_path / "run"), local_run)


def test_executors_run_the_venv_python_and_the_zip(cluster, package, tmp_path):
    report = tmp_path / "probe.json"
    cmd = [spark_bin("spark-submit"), "--master", cluster.ready().url, "--executor-memory", "1g",
           "--conf", "spark.ui.enabled=false", "--py-files", str(package),
           str(REPO / "tests" / "cluster_probe.py"), str(report)]
    done = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-5000:]
    seen = json.loads(report.read_text())
    assert {s["python"] for s in seen} == {sys.executable}
    site = str(Path(np.__file__).parents[1])
    assert all(s["numpy"].startswith(site) and s["pyarrow"].startswith(site) for s in seen)
    # relative: Spark copies the --py-files into the executor's folder (its working directory)
    for s in seen:
        assert s["latentspark"] == f"./{package.name}/latentspark/__init__.py", s


def cluster_script(tmp_path: Path, command: str, **extra: str) -> subprocess.CompletedProcess:
    """``scripts/cluster.sh COMMAND`` with its state in ``tmp_path`` (no cluster needed)."""
    env = clean_env(LATENTSPARK_CLUSTER_DIR=str(tmp_path / "state"), **extra)
    return subprocess.run([str(REPO / "scripts" / "cluster.sh"), command], env=env,
                          capture_output=True, text=True, timeout=60)


def test_cluster_script_says_what_is_wrong_before_starting_anything(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cluster_script(tmp_path, "start", LATENTSPARK_MASTER_PORT=str(port))
    assert done.returncode == 1
    assert f"port {port} (master) on 127.0.0.1 is in use" in done.stderr
    assert "LATENTSPARK_MASTER_PORT" in done.stderr
    done = cluster_script(tmp_path, "start", JAVA_HOME=str(tmp_path / "no-java"))
    assert done.returncode == 1 and "Java not found" in done.stderr
    # nothing was started: stop has nothing to do and says so; status says it is down
    done = cluster_script(tmp_path, "stop")
    assert done.returncode == 0 and "nothing was running" in done.stderr
    [free] = free_ports(1)
    done = cluster_script(tmp_path, "status", LATENTSPARK_MASTER_UI_PORT=str(free))
    assert done.returncode == 1 and "master" in done.stdout and "not running" in done.stdout
