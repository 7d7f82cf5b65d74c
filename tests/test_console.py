"""A clean console: the CLI's stdout carries its results only, Spark's progress bars and WARN
lines are off unless --verbose, and long stages get one progress line on stderr."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa

from latentspark import progress
from latentspark.cli import build_parser, resolve_config
from latentspark.config import SparkConfig
from latentspark.session import QUIET_LOG4J2, _console_conf

REPO = Path(__file__).resolve().parents[1]


def test_cli_stdout_has_no_progress_bar_or_warn_lines(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # a word repeated in a window-less query: Spark warns about single-partition windows
    (corpus / "part-0.txt").write_text("the king and the queen went to paris\n" * 300)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    out = subprocess.run(
        [sys.executable, "-m", "latentspark", "vocab", "--corpus", str(corpus),
         "--root", str(tmp_path / "run"), "--set", "spark.master=\"local[1]\"",
         "--set", "spark.conf.spark.ui.enabled=false"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vocab: ")  # the result, nothing else
    for stream in (out.stdout, out.stderr):
        assert "[Stage" not in stream
        assert " WARN " not in stream
    assert "INFO latentspark.stages" in out.stderr  # our own log lines stay, on stderr


def test_verbose_brings_spark_console_back(monkeypatch):
    monkeypatch.setenv("LATENTSPARK_JVM_ARCHIVE", "0")  # its options: the next test's
    args = build_parser().parse_args(["vocab", "--verbose"])
    cfg = resolve_config(args, environ={})
    assert cfg.spark.verbose
    assert _console_conf(cfg.spark, _Conf()) == {"spark.ui.showConsoleProgress": "true"}
    quiet = _console_conf(SparkConfig(), _Conf())
    assert quiet["spark.ui.showConsoleProgress"] == "false"
    assert quiet["spark.driver.extraJavaOptions"].endswith(QUIET_LOG4J2)
    assert "rootLogger.level = error" in Path(QUIET_LOG4J2).read_text()
    # the user's own JVM options are never replaced
    own = SparkConfig(conf={"spark.driver.extraJavaOptions": "-Dx=1"})
    assert "spark.driver.extraJavaOptions" not in _console_conf(own, _Conf())


class _Conf:
    """A SparkConf stand-in with nothing set."""

    def contains(self, key: str) -> bool:
        return False


def test_a_stage_gets_a_progress_line_with_rows(spark, caplog, monkeypatch):
    monkeypatch.setattr(progress, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(progress, "MIN_SECONDS", 0.0)

    def slow(batches):
        for batch in batches:
            time.sleep(0.5)  # long enough for the watcher to see the stage running
            yield pa.RecordBatch.from_arrays([batch.column(0)], names=["id"])

    with caplog.at_level(logging.INFO, logger="latentspark.progress"):
        thread = progress.start(spark, interval=3600)
        assert thread is not None and progress.start(spark, interval=3600) is None
        with progress.step("test: slow"):
            assert spark.range(0, 1000, numPartitions=2).mapInArrow(slow, "id BIGINT") \
                .count() == 1000
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
                "done" in r.getMessage() for r in caplog.records):
            time.sleep(0.1)
    done = [r.getMessage() for r in caplog.records if "done" in r.getMessage()]
    assert done and done[0].startswith("test: slow | stage ")
    assert "2 tasks" in done[0] and "1.0k rows" in done[0]


def test_the_class_archive_joins_the_jvm_options_only_when_built_and_ours(tmp_path,
                                                                       monkeypatch):
    from latentspark import jvmcache

    monkeypatch.setenv("LATENTSPARK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(jvmcache.ENV_SWITCH, raising=False)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    path = jvmcache.archive_path()
    assert path is not None and path.parent == tmp_path and path.suffix == ".jsa"
    option = "spark.driver.extraJavaOptions"
    before = _console_conf(SparkConfig(), _Conf())[option].split(" ")  # none built yet
    assert not any("SharedArchiveFile" in o for o in before)
    path.write_bytes(b"")
    after = _console_conf(SparkConfig(), _Conf())[option].split(" ")
    assert after == before + [f"-XX:SharedArchiveFile={path}", *jvmcache.QUIET]
    # verbose: no log4j file, the archive still
    verbose = _console_conf(SparkConfig(verbose=True), _Conf())[option]
    assert verbose == f"-XX:SharedArchiveFile={path} " + " ".join(jvmcache.QUIET)
    # the user's own options, spark-submit's JVM, or the switch off: no archive
    for cfg, env in ((SparkConfig(conf={option: "-Dx=1"}), {}),
                     (SparkConfig(), {"PYSPARK_GATEWAY_PORT": "1"}),
                     (SparkConfig(), {jvmcache.ENV_SWITCH: "0"})):
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            assert "SharedArchiveFile" not in _console_conf(cfg, _Conf()).get(option, "")
