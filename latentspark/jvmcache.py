"""A class archive of the driver JVM, so that every later local session starts sooner.

A fresh local Spark JVM spends seconds loading, parsing and verifying the same ten thousand
classes before its first job ends; on the 2-core machine this is much of a small command's
time. Java 17's class-data sharing keeps them in a file instead: a JVM started with
``-XX:ArchiveClassesAtExit=FILE`` writes the classes it loaded when it exits, and one started
with ``-XX:SharedArchiveFile=FILE`` maps them in. ``python -m latentspark.jvmcache`` (run by
``scripts/setup.sh``) writes that file after a small pipeline on a made-up corpus, so it holds
what the stages load; :func:`java_options` hands it to the sessions latentspark starts.

The file belongs to one Java build and one Spark: its name carries a digest of both, so a
new Java or Spark looks for a new file and starts without one until it is built. A JVM that
cannot use an archive (another build, another class path, a damaged file) ignores it and runs
as without; its warnings about that are turned off.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

#: set to 0 to start JVMs without the archive
ENV_SWITCH = "LATENTSPARK_JVM_ARCHIVE"
#: the JVM's complaints about an archive it cannot use, off: it then runs as without one
QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")


def cache_dir() -> Path:
    """``$LATENTSPARK_CACHE_DIR``, else ``$XDG_CACHE_HOME/latentspark`` (``~/.cache``)."""
    own = os.environ.get("LATENTSPARK_CACHE_DIR")
    if own:
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "latentspark"


def java_binary() -> str | None:
    """The ``java`` Spark's launcher runs: ``$JAVA_HOME/bin/java``, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    found = os.path.join(home, "bin", "java") if home else shutil.which("java")
    return os.path.realpath(found) if found and os.path.exists(found) else None


def archive_path() -> Path | None:
    """Where the archive of this Java and this Spark lives (or would), ``None`` without Java.

    The name's digest covers the Java binary (path, size, time) and pyspark's version and
    jars: an archive of another build is never looked for.
    """
    java = java_binary()
    if java is None:
        return None
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    st = os.stat(java)
    key = [java, str(st.st_size), str(int(st.st_mtime)), pyspark.__version__,
           *sorted(p.name for p in jars.glob("*.jar"))]
    digest = hashlib.sha256("\n".join(key).encode()).hexdigest()[:16]
    return cache_dir() / f"spark-{pyspark.__version__}-{digest}.jsa"


def java_options() -> list[str]:
    """The driver JVM options that use the archive; ``[]`` when none is built (or
    ``LATENTSPARK_JVM_ARCHIVE=0``)."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return []
    path = archive_path()
    if path is None or not path.is_file() or " " in str(path):
        return []  # Spark splits the JVM options on spaces
    return [f"-XX:SharedArchiveFile={path}", *QUIET]


_CORPUS = ["the king and the queen walked to the castle",
           "a man and a woman run in the park",
           "paris is the capital of france and berlin of germany",
           "the cat sat on the mat while the dog ran"]


def build(force: bool = False) -> Path | None:
    """Write the archive for this Java and Spark (unless it exists), and return its path.

    Runs the ``run`` command (vocabulary, counts, a 2-dimension factorization) on a few
    made-up lines in a temporary folder, in a local session started with
    ``-XX:ArchiveClassesAtExit``, then waits for that JVM to exit and write the file. The file
    is written under a temporary name and renamed: a build that dies leaves no half archive.
    """
    final = archive_path()
    if final is None:
        logger.warning("jvmcache: no java found; nothing to archive")
        return None
    if final.is_file() and not force:
        return final
    if " " in str(final):
        logger.warning("jvmcache: %s has a space, which Spark's JVM options cannot carry", final)
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from latentspark import cli
    from latentspark.session import QUIET_LOG4J2

    with tempfile.TemporaryDirectory(prefix="latentspark-jvmcache-") as tmp:
        partial = final.with_name(f"{final.name}.{os.getpid()}.tmp")
        text = Path(tmp, "corpus", "part=a")
        text.mkdir(parents=True)
        (text / "lines.txt").write_text("\n".join(_CORPUS * 5) + "\n", encoding="utf-8")
        options = [f"-XX:ArchiveClassesAtExit={partial}", *QUIET]
        if " " not in QUIET_LOG4J2:
            options.append(f"-Dlog4j2.configurationFile=file:{QUIET_LOG4J2}")
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        spark = (SparkSession.builder.master("local[2]").appName("latentspark-jvmcache")
                 .config("spark.driver.extraJavaOptions", " ".join(options))
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        jvm = SparkContext._gateway.proc
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # the versions it published
                code = cli.main(["run", "--corpus", str(text.parent), "--root",
                                 str(Path(tmp, "root")), "-q", "--set", "vocab.min_count=1",
                                 "--set", "factorize.dim=2", "--set",
                                 "factorize.power_iters=0"])
        finally:
            spark.stop()
            # the JVM writes the archive as it exits, which it does when its stdin closes
            jvm.stdin.close()
            jvm.wait(timeout=600)
        if code != 0 or jvm.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            logger.warning("jvmcache: the archive run failed (exit %s, JVM %s)", code,
                           jvm.returncode)
            return None
        os.replace(partial, final)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m latentspark.jvmcache [--force]``: build the archive, print its path."""
    p = argparse.ArgumentParser(prog="python -m latentspark.jvmcache", description=__doc__.split(
        "\n")[0])
    p.add_argument("--force", action="store_true", help="build it again even if it exists")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    path = build(force=args.force)
    if path is None:
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
