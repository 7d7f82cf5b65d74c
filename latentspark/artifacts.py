"""Staged, atomically published stage outputs with manifests.

The stage contract, in one place: every stage of the pipeline (:data:`STAGES`) publishes
through :func:`build_stage`, which reuses the published version when it was made from the same
inputs and settings, and otherwise builds into a staging directory, records the provenance in
the manifest and publishes atomically. :class:`RunRoot` gives the store of each stage under
a run root.

Layout under a run root (any Hadoop filesystem URI)::

    <root>/_staging/<stage>-<version>/     written by a running stage; never read
    <root>/<stage>/<version>/              published: data files plus manifest.json

A stage writes everything into its staging directory, writes ``manifest.json`` last, and
then renames the directory into ``<root>/<stage>/``: one atomic rename on HDFS and local
filesystems. Readers take the newest version that has a manifest, so a failed or killed run
leaves the previous published output as it was; its staging leftovers are removed by the next
run. Versions are named by UTC time, so their names sort in publication order.
"""

from __future__ import annotations

import json
import logging
import platform
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from latentspark.errors import ArtifactError
from latentspark.fs import HadoopFS

logger = logging.getLogger(__name__)

#: the stages, in pipeline order; one name each for the store (``<root>/<name>/``), the
#: command (``latentspark <name>``), the job (``jobs/<name>.py``), the stage module
#: (``latentspark.stages.<name>``) and ``pipeline --from``/``--until``
VOCAB, COOCCUR, EMBEDDINGS, INDEX, EVAL = "vocab", "cooccur", "embeddings", "index", "eval"
NEIGHBOURS, DRIFT, EXPLORE = "neighbours", "drift", "explore"
STAGES = (VOCAB, COOCCUR, EMBEDDINGS, INDEX, EVAL, NEIGHBOURS, DRIFT, EXPLORE)

MANIFEST = "manifest.json"
STAGING = "_staging"
STAGING_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class Published:
    """A published version of a stage's output."""

    stage: str
    version: str
    path: str
    manifest: dict[str, Any]


@dataclass
class Staging:
    """A stage output being written; see :meth:`StageStore.staging`."""

    stage: str
    version: str
    path: str
    manifest: dict[str, Any] = field(default_factory=dict)
    _t0: float = field(default_factory=time.monotonic)
    _marks: dict[str, float] = field(default_factory=dict)
    #: set when the block of :meth:`StageStore.staging` has published this version
    published: Published | None = None

    @property
    def data_path(self) -> str:
        """Where the stage writes its data files."""
        return f"{self.path}/data"

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Record the wall time of a step in the manifest's ``timings``."""
        from latentspark.progress import step as progress_step

        t0 = time.monotonic()
        try:
            with progress_step(f"{self.stage}: {step}"):  # names the step's progress lines
                yield
        finally:
            self._marks[step] = round(time.monotonic() - t0, 3)
            logger.info("%s: %s took %.1f s", self.stage, step, self._marks[step])

    def seconds(self, step: str) -> float:
        """The wall time of a step recorded by :meth:`timed`."""
        return self._marks[step]


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape the outputs."""
    import numpy
    import pyarrow
    import pyspark

    import latentspark

    return {
        "latentspark": latentspark.__version__,
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "numpy": numpy.__version__,
        "pyarrow": pyarrow.__version__,
    }


def new_version() -> str:
    """A version name that sorts by creation time and is unique across concurrent runs."""
    now = datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


class StageStore:
    """Published versions of one stage under a run root.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
        Session whose Hadoop configuration reaches the run root.
    root : str
        The run root (local path or Hadoop URI).
    stage : str
        Stage name, e.g. ``"vocab"`` or ``"cooccur"``.
    keep_versions : int
        Published versions kept; older ones are deleted after each publication.
    """

    def __init__(self, spark, root: str, stage: str, keep_versions: int = 2,
                 fs: HadoopFS | None = None) -> None:
        self.fs = fs or HadoopFS(spark)
        self.keep_versions = keep_versions
        self.root = self.fs.qualify(root.rstrip("/"))
        self.stage = stage
        self.dir = f"{self.root}/{stage}"

    def versions(self) -> list[str]:
        """Published versions, oldest first (only those with a manifest)."""
        return [v for v in self.fs.list_names(self.dir)
                if not v.startswith((".", "_")) and self.fs.exists(f"{self.dir}/{v}/{MANIFEST}")]

    def current(self) -> Published | None:
        """The newest published version, or ``None``."""
        versions = self.versions()
        if not versions:
            return None
        return self.load(versions[-1])

    def load(self, version: str) -> Published:
        """A published version by name."""
        path = f"{self.dir}/{version}"
        try:
            manifest = json.loads(self.fs.read_bytes(f"{path}/{MANIFEST}"))
        except Exception as exc:  # a missing or unreadable manifest is not a version
            raise ArtifactError(f"{path} has no readable {MANIFEST}: {exc}") from None
        return Published(self.stage, version, path, manifest)

    def matching(self, fingerprint: str, config_hash: str) -> Published | None:
        """The newest version if it was made from these inputs and settings, else ``None``."""
        cur = self.current()
        if cur is not None and cur.manifest.get("input_fingerprint") == fingerprint \
                and cur.manifest.get("config_hash") == config_hash:
            return cur
        return None

    def require(self) -> Published:
        """The newest published version; raise if the stage never published."""
        cur = self.current()
        if cur is None:
            raise ArtifactError(f"no published {self.stage} under {self.root}; run the "
                                f"{self.stage} stage first")
        return cur

    @contextmanager
    def staging(self) -> Iterator[Staging]:
        """Give a staging directory; publish it when the block succeeds, drop it if not.

        The caller writes data under ``staging.data_path`` and fills ``staging.manifest``.
        """
        self._clean_stale_staging()
        version = new_version()
        st = Staging(self.stage, version, f"{self.root}/{STAGING}/{self.stage}-{version}")
        self.fs.mkdirs(st.path)
        try:
            yield st
            st.published = self._publish(st)
        except BaseException:
            logger.warning("%s failed; removing %s, the published output is untouched",
                           self.stage, st.path)
            self.fs.delete(st.path)
            raise

    def _publish(self, st: Staging) -> Published:
        manifest = {
            "stage": self.stage,
            "version": st.version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **st.manifest,
            "libraries": library_versions(),
            "timings": {**st._marks, "total": round(time.monotonic() - st._t0, 3)},
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        # the manifest goes in last: a directory without one is never taken as published
        self.fs.write_atomic(f"{st.path}/{MANIFEST}", body, st.version)
        self.fs.mkdirs(self.dir)
        final = f"{self.dir}/{st.version}"
        self.fs.rename(st.path, final)
        logger.info("published %s version %s at %s", self.stage, st.version, final)
        self._prune()
        return Published(self.stage, st.version, final, manifest)

    def _prune(self) -> None:
        for old in self.versions()[:-self.keep_versions]:
            logger.info("removing old %s version %s", self.stage, old)
            self.fs.delete(f"{self.dir}/{old}")

    def _clean_stale_staging(self) -> None:
        """Remove leftovers of killed runs of this stage (old enough not to be live)."""
        base = f"{self.root}/{STAGING}"
        cutoff = datetime.now(UTC).timestamp() - STAGING_MAX_AGE_S
        for name in self.fs.list_names(base):
            if not name.startswith(f"{self.stage}-"):
                continue
            stamp = name[len(self.stage) + 1:].split("-")[0]
            try:
                created = datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(
                    tzinfo=UTC).timestamp()
            except ValueError:
                continue
            if created < cutoff:
                logger.info("removing stale staging directory %s", name)
                self.fs.delete(f"{base}/{name}")


class RunRoot:
    """The stores of every stage under one run root.

    Built from the same ``spark``, ``root`` and ``keep_versions`` as :class:`StageStore`
    (usually by :meth:`from_config`); every store shares one filesystem handle.

    The newest published vocabulary of a configuration's run root::

        RunRoot.from_config(spark, cfg).require(VOCAB)
    """

    def __init__(self, spark, root: str, keep_versions: int = 2) -> None:
        self.spark = spark
        self.fs = HadoopFS(spark)
        self.root = self.fs.qualify(root.rstrip("/"))
        self.keep_versions = keep_versions
        self._stores: dict[str, StageStore] = {}

    @classmethod
    def from_config(cls, spark, cfg) -> RunRoot:
        """The run root of ``cfg.run``."""
        return cls(spark, cfg.run.root, cfg.run.keep_versions)

    def store(self, stage: str) -> StageStore:
        """The store of one stage (``<root>/<stage>/``)."""
        if stage not in self._stores:
            self._stores[stage] = StageStore(self.spark, self.root, stage, self.keep_versions,
                                             fs=self.fs)
        return self._stores[stage]

    def require(self, stage: str) -> Published:
        """The newest published version of a stage; raise if it never published."""
        return self.store(stage).require()

    def load(self, stage: str, version: str) -> Published:
        """A published version of a stage by name."""
        return self.store(stage).load(version)


def build_stage(store: StageStore, *, fingerprint: str, config_hash: str, force: bool,
                build: Callable[[Staging], None]) -> Published:
    """The one skeleton every stage runs: reuse, or build, record and publish.

    Parameters
    ----------
    store : StageStore
        The stage's store.
    fingerprint : str
        What the output is made from (input files, upstream versions); recorded as
        ``input_fingerprint``.
    config_hash : str
        Hash of the settings that shape the output; recorded as ``config_hash``.
    force : bool
        Build even when the newest published version matches.
    build : callable
        ``build(staging)`` writes the data under ``staging.data_path`` (or ``staging.path``)
        and adds its fields to ``staging.manifest``; an exception publishes nothing.

    Returns
    -------
    Published
        The matching published version, or the version this call published (never another
        run's newer one).
    """
    if not force:
        cur = store.matching(fingerprint, config_hash)
        if cur is not None:
            logger.info("%s: version %s is up to date with its inputs and settings; skipping",
                        store.stage, cur.version)
            return cur
    with store.staging() as st:
        st.manifest.update({"config_hash": config_hash, "input_fingerprint": fingerprint})
        build(st)
    assert st.published is not None
    return st.published
