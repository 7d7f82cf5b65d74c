"""The built wheel alone gives a working ``latentspark``: its configs, jobs entry and data."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The wheel built from the checkout, unpacked into a folder that shadows the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp / "dist"), str(REPO)], check=True,
                   cwd=tmp)
    [wheel] = (tmp / "dist").glob("latentspark-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(tmp / "site"), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(tmp / "site")}
    return wheel, env


def run(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_wheel_holds_configs_license_and_word_lists(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("latentspark/conf/default.toml", "latentspark/conf/embeddings.toml",
                 "latentspark/conf/cluster.toml", "latentspark/conf/log4j2-quiet.properties",
                 "latentspark/jobs.py",
                 "latentspark/stages/embeddings.py", "latentspark/schemas.py"):
        assert name in names
    assert any(n.endswith("/licenses/LICENSE") for n in names)
    assert any(n.startswith("latentspark/concepts/") for n in names)


def test_installed_package_runs_outside_the_checkout(installed, tmp_path):
    _, env = installed
    where = run(env, tmp_path, "-c", "import latentspark; print(latentspark.__file__)")
    assert str(REPO) not in where and "site" in where
    assert "latentspark 0.1.0" in run(env, tmp_path, "-m", "latentspark", "--version")
    # the packaged settings by name, from any folder
    conf = run(env, tmp_path, "-m", "latentspark", "config", "--config", "embeddings")
    assert "window = 5" in conf and "dynamic_window = true" in conf
    # the spark-submit entry file is inside the installed package
    jobfile = run(env, tmp_path, "-m", "latentspark", "jobfile").strip()
    assert jobfile.endswith("latentspark/jobs.py") and str(REPO) not in jobfile
    assert "cooccur" in run(env, tmp_path, jobfile, "cooccur", "--help")
