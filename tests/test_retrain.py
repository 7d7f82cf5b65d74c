"""scripts/retrain.sh: one run at a time, the cluster checked first, the job's exit code kept."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

import pytest

from tests.test_cluster import clean_env, free_ports

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
RETRAIN = str(REPO / "scripts" / "retrain.sh")


def retrain_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(LATENTSPARK_LOCK=str(tmp_path / "retrain.lock"),
                     LATENTSPARK_DIST=str(tmp_path / "dist"),
                     LATENTSPARK_CLUSTER_DIR=str(tmp_path / "cluster"), **extra)


def test_a_second_run_does_not_start_while_one_holds_the_lock(tmp_path):
    env = retrain_env(tmp_path)
    with open(tmp_path / "retrain.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = subprocess.run([RETRAIN], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 75, done.stderr
    assert "another retrain holds" in done.stderr
    assert not (tmp_path / "dist").exists()  # it did nothing


def test_a_cluster_that_is_down_is_an_infrastructure_failure(tmp_path):
    [port] = free_ports(1)
    env = retrain_env(tmp_path, LATENTSPARK_MASTER_PORT=str(port),
                      LATENTSPARK_MASTER_UI_PORT=str(port))
    done = subprocess.run([RETRAIN], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 7, done.stderr
    assert "cluster" in done.stderr and "is down" in done.stderr


def test_the_job_exit_code_passes_through(tmp_path):
    # a bad setting: the job stops with 2 before any Spark work, and so does retrain.sh
    env = retrain_env(tmp_path, LATENTSPARK_MASTER="local[1]",
                      LATENTSPARK_JOB=str(REPO / "jobs" / "embeddings.py"),
                      LATENTSPARK_DRIVER_MEMORY="1g")
    done = subprocess.run([RETRAIN, "--corpus", str(tmp_path), "--root", str(tmp_path / "run"),
                           "--set", "vocab.min_count=0"], env=env, capture_output=True,
                          text=True, timeout=180, cwd=os.fspath(tmp_path))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "vocab.min_count" in done.stderr
    assert "exit 2 (bad configuration)" in done.stderr
    assert list((tmp_path / "dist").glob("latentspark-*.zip"))
