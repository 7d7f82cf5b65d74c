"""PySpark's Python daemon, started ready to work: a local session's ``spark.python.daemon.module``.

Spark starts one daemon per executor (``python -m pyspark.daemon``) and forks a worker from
it for each concurrent Python task. Two things make every new worker slow to start:

* the JVM puts ``$SPARK_HOME/python/lib/pyspark.zip`` (and py4j's zip) first on the workers'
  ``PYTHONPATH``. Python imports a zip's modules by compiling their source each time (it
  cannot cache bytecode in a zip), and, on Python 3.11, compiles each one twice, where the
  installed package's modules load from their cached bytecode; and every worker's first task
  re-reads the zip's directory once per imported sub-package.
* each forked worker imports numpy, numba and the counting kernels itself on its first task.

This module, run as the daemon, takes pyspark from the installed package when it is the same
version as the zip's, imports what the tasks need once, freezes the garbage collector's view
of it (the children share those pages instead of copying them), then runs PySpark's own
daemon. A new session's first Python job took 0.75x the time and 0.64x the Python CPU of
Spark's daemon (``benchmarks/task_overhead.py --daemon``,
``benchmarks/results/task_overhead_daemon.md``). pyarrow and the kernels' machine code are
left to each worker: loading either starts a thread, and the daemon must not have started
one when it forks. :func:`latentspark.session.local_conf` sets it for local sessions whose Python
workers can import latentspark; set ``spark.python.daemon.module`` to ``pyspark.daemon`` to
go back to Spark's own.
"""

from __future__ import annotations

import functools
import gc
import importlib.machinery
import os
import subprocess
import sys
import zipfile

#: what a worker's tasks import; the daemon imports them once and each fork inherits them
PRELOAD = ("numpy", "numba", "latentspark.pairkernels", "pyspark.worker")


def _zip_version(path: str) -> str | None:
    """The version string in ``pyspark/version.py`` inside pyspark's zip, or ``None``."""
    try:
        with zipfile.ZipFile(path) as z:
            text = z.read("pyspark/version.py").decode()
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    return _version_in(text)


def _version_in(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    return None


def installed_pyspark(path: list[str]) -> tuple[list[str], str | None]:
    """The entries of ``path`` that are Spark's zips when the same pyspark is installed
    elsewhere on ``path``, with that version; else no entries.

    Parameters
    ----------
    path : list of str
        A ``sys.path``.

    Returns
    -------
    zips : list of str
        The ``pyspark.zip`` and ``py4j-*-src.zip`` entries that may be dropped: empty unless
        pyspark and py4j are both importable from the other entries and that pyspark is the
        zip's version.
    version : str or None
        The version found in both.

    Examples
    --------
    >>> installed_pyspark(["/nowhere"])
    ([], None)
    """
    zips = [p for p in path if os.path.basename(p) == "pyspark.zip"
            or (os.path.basename(p).startswith("py4j-") and p.endswith("-src.zip"))]
    spark_zip = [p for p in zips if os.path.basename(p) == "pyspark.zip"]
    if not spark_zip:
        return [], None
    rest = [p for p in path if p not in zips]
    spec = importlib.machinery.PathFinder.find_spec("pyspark", rest)
    if spec is None or spec.origin is None or importlib.machinery.PathFinder.find_spec(
            "py4j", rest) is None:
        return [], None
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "version.py"),
                  encoding="utf-8") as f:
            version = _version_in(f.read())
    except OSError:
        return [], None
    if version is None or any(_zip_version(p) != version for p in spark_zip):
        return [], None
    return zips, version


@functools.lru_cache(maxsize=8)
def importable(python: str) -> bool:
    """Whether ``python`` (the workers' interpreter) can import this module, as the JVM runs
    it (``python -m``, in this working directory, with this environment).

    The JVM starts the daemon before any ``--py-files`` reach the workers, so a daemon module
    that is not installed where the workers' Python finds it would fail every Python task;
    a local session checks once (a fraction of a second) before it names this module.

    Examples
    --------
    >>> importable(sys.executable)
    True
    >>> importable("/nowhere/python")
    False
    """
    try:
        done = subprocess.run([python, "-c", f"import {__name__}"], capture_output=True,
                              timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def prepare(preload: tuple[str, ...] = PRELOAD) -> list[str]:
    """Drop Spark's zips from ``sys.path`` when the installed pyspark is the same, import
    ``preload`` (the kernels' module, not their machine code) and freeze the garbage
    collector's view of it; return the dropped entries.

    Nothing here may start a thread: the daemon forks its workers afterwards.
    """
    zips, _ = installed_pyspark(sys.path)
    for p in zips:
        sys.path.remove(p)
    for key in [k for k in sys.path_importer_cache if any(k.startswith(z) for z in zips)]:
        del sys.path_importer_cache[key]
    for name in preload:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return zips


if __name__ == "__main__":
    prepare()
    from pyspark.daemon import manager

    manager()
