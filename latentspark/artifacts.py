"""Staged, atomically published stage outputs with manifests.

The stage contract, in one place: every stage of the pipeline (:data:`STAGES`) publishes
through :func:`build_stage`, which reuses the published version when it was made from the same
inputs and settings, and otherwise builds into a staging directory, records the provenance in
the manifest and publishes atomically. :class:`RunRoot` gives the store of each stage under
a run root.

Layout under a run root (any Hadoop filesystem URI)::

    <root>/_lock/lease-<n>                 the lease of the run that publishes (latentspark.lock)
    <root>/_staging/<stage>-<version>/     written by a running stage; never read
    <root>/<stage>/<version>/              published: data files plus manifest.json

Only the holder of the run root's lease publishes (:func:`latentspark.lock.hold`, taken by
:meth:`StageStore.staging`). A stage writes everything into its staging directory, writes
``manifest.json`` last (listing every data file with its size), and then renames the directory
into ``<root>/<stage>/``: one atomic rename on HDFS and local filesystems. On object stores,
where a directory rename is a copy per object, the stage writes straight into the final
version folder instead and the manifest, written last, is what publishes it. Readers take the
newest version whose manifest is readable and whose data files are all there with the sizes
it lists, falling back to the previous one with a warning, so a failed or killed run leaves
the previous published output as it was; the next run (under the lease, so never a live one's)
removes its leftovers. Versions are named by UTC time, so their names sort in creation order.
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

from latentspark.errors import ArtifactError, InfrastructureError
from latentspark.fs import HadoopFS
from latentspark.lock import hold

logger = logging.getLogger(__name__)

#: the stages, in pipeline order; one name each for the store (``<root>/<name>/``), the
#: command (``latentspark <name>``), the job (``jobs/<name>.py``), the stage module
#: (``latentspark.stages.<name>``) and ``pipeline --from``/``--until``
VOCAB, COOCCUR, EMBEDDINGS, INDEX, EVAL = "vocab", "cooccur", "embeddings", "index", "eval"
NEIGHBOURS, DRIFT, EXPLORE = "neighbours", "drift", "explore"
STAGES = (VOCAB, COOCCUR, EMBEDDINGS, INDEX, EVAL, NEIGHBOURS, DRIFT, EXPLORE)

MANIFEST = "manifest.json"
STAGING = "_staging"
#: manifest key listing every data file of a version (path relative to it) and its size
DATA_FILES = "data_files"
#: staging folders of this process's running stages: never stale
_LIVE: set[str] = set()


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
    fs : HadoopFS, optional
        A filesystem handle to share.
    lock_root : str, optional
        Whose lease guards publication (default ``root``); :class:`RunRoot` gives the run root.
    lock_ttl, lock_wait : float
        The lease's lifetime and how long to wait for another run's (``run.lock_*``).
    """

    def __init__(self, spark, root: str, stage: str, keep_versions: int = 2,
                 fs: HadoopFS | None = None, lock_root: str | None = None,
                 lock_ttl: float = 600.0, lock_wait: float = 0.0) -> None:
        self.fs = fs or HadoopFS(spark)
        self.keep_versions = keep_versions
        self.root = self.fs.qualify(root.rstrip("/"))
        self.stage = stage
        self.dir = f"{self.root}/{stage}"
        self.lock_root = self.fs.qualify(lock_root.rstrip("/")) if lock_root else self.root
        self.lock_ttl, self.lock_wait = lock_ttl, lock_wait

    def lock(self):
        """Hold the lease that guards this store (re-entrant; see :func:`latentspark.lock.hold`)."""
        return hold(self.fs, self.lock_root, ttl=self.lock_ttl, wait=self.lock_wait)

    def versions(self) -> list[str]:
        """Versions with a manifest, oldest first (see :meth:`complete` for the full check)."""
        return [v for v in self.fs.list_names(self.dir)
                if not v.startswith((".", "_")) and self.fs.exists(f"{self.dir}/{v}/{MANIFEST}")]

    def complete(self, pub: Published) -> str | None:
        """What is missing from a version, or ``None`` when every data file its manifest
        lists is there with the listed size (manifests older than the list pass)."""
        listed = pub.manifest.get(DATA_FILES)
        if listed is None:
            return None
        found = {f.path[len(pub.path) + 1:]: f.size for f in self.fs.list_files(pub.path)
                 if f.path.startswith(pub.path + "/")}
        for rel, size in sorted(listed.items()):
            if rel not in found:
                return f"data file {rel} is missing"
            if found[rel] != size:
                return f"data file {rel} has {found[rel]} bytes, the manifest says {size}"
        return None

    def current(self) -> Published | None:
        """The newest complete version, or ``None``.

        A newest version whose manifest cannot be read or whose data files do not match it
        is skipped with a warning, and the previous one is used: one damaged version does
        not stop every reader.
        """
        for version in reversed(self.versions()):
            try:
                pub = self.load(version)
            except ArtifactError as exc:
                logger.warning("%s; falling back to the previous version", exc)
                continue
            problem = self.complete(pub)
            if problem is None:
                return pub
            logger.warning("%s version %s is incomplete (%s); falling back to the previous "
                           "version", self.stage, version, problem)
        return None

    def load(self, version: str) -> Published:
        """A published version by name.

        Raises
        ------
        ArtifactError
            The manifest is missing or is not JSON (a broken version).
        InfrastructureError
            The manifest could not be read for another reason (I/O; retry).
        """
        path = f"{self.dir}/{version}"
        try:
            body = self.fs.read_bytes(f"{path}/{MANIFEST}")
        except Exception as exc:
            if "FileNotFound" in str(exc) or not self.fs.exists(f"{path}/{MANIFEST}"):
                raise ArtifactError(f"{path} has no {MANIFEST}") from None
            if "ChecksumException" in str(exc):
                raise ArtifactError(f"{path}/{MANIFEST} fails its checksum") from None
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise InfrastructureError(f"cannot read {path}/{MANIFEST}: {first[:300]}") from None
        try:
            manifest = json.loads(body)
        except ValueError as exc:  # JSON or UTF-8: the file is damaged
            raise ArtifactError(f"{path}/{MANIFEST} is not valid JSON: {exc}") from None
        if not isinstance(manifest, dict):
            raise ArtifactError(f"{path}/{MANIFEST} is not a JSON object")
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

    @property
    def direct(self) -> bool:
        """Whether versions are written in place (object stores) rather than renamed."""
        return not self.fs.renames_atomically(self.root)

    @contextmanager
    def staging(self) -> Iterator[Staging]:
        """Give a staging directory; publish it when the block succeeds, drop it if not.

        The caller writes data under ``staging.data_path`` and fills ``staging.manifest``.
        The whole block holds the lease of the store's run root.
        """
        with self.lock() as lease:
            self._clean_stale_staging()
            version = new_version()
            path = (f"{self.dir}/{version}" if self.direct
                    else f"{self.root}/{STAGING}/{self.stage}-{version}")
            st = Staging(self.stage, version, path)
            _LIVE.add(st.path)
            self.fs.mkdirs(st.path)
            try:
                yield st
                lease.check()  # a run that lost its lease publishes nothing
                st.published = self._publish(st)
            except BaseException:
                logger.warning("%s failed; removing %s, the published output is untouched",
                               self.stage, st.path)
                self.fs.delete(st.path)
                # a rename that failed half-way (a copy per object) leaves part of the version
                self.fs.delete(f"{self.dir}/{st.version}")
                raise
            finally:
                _LIVE.discard(st.path)
            try:
                self._prune()
            except Exception as exc:  # the version is published; the next run prunes
                logger.warning("%s: could not remove old versions: %s", self.stage, exc)

    def _publish(self, st: Staging) -> Published:
        manifest = {
            "stage": self.stage,
            "version": st.version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **st.manifest,
            "libraries": library_versions(),
            "timings": {**st._marks, "total": round(time.monotonic() - st._t0, 3)},
            DATA_FILES: {f.path[len(st.path) + 1:]: f.size
                         for f in self.fs.list_files(st.path)
                         if f.path.startswith(st.path + "/")},
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        # the manifest goes in last: a directory without one is never taken as published
        self.fs.write_atomic(f"{st.path}/{MANIFEST}", body, st.version)
        final = f"{self.dir}/{st.version}"
        if not self.direct:
            self.fs.mkdirs(self.dir)
            self.fs.rename(st.path, final)
        logger.info("published %s version %s at %s", self.stage, st.version, final)
        return Published(self.stage, st.version, final, manifest)

    def _prune(self) -> None:
        for old in self.versions()[:-self.keep_versions]:
            logger.info("removing old %s version %s", self.stage, old)
            self.fs.delete(f"{self.dir}/{old}")

    def _clean_stale_staging(self) -> None:
        """Remove leftovers of killed runs of this stage.

        Called under the lease: only the lease holder writes staging, so every staging folder
        of this stage that this process is not writing belongs to a run that is gone (and on
        object stores, every version folder without a manifest).
        """
        base = f"{self.root}/{STAGING}"
        for name in self.fs.list_names(base):
            path = f"{base}/{name}"
            if name.startswith(f"{self.stage}-") and path not in _LIVE:
                logger.info("removing stale staging directory %s", name)
                self.fs.delete(path)
        if self.direct:
            for name in self.fs.list_names(self.dir):
                path = f"{self.dir}/{name}"
                if not name.startswith((".", "_")) and path not in _LIVE and \
                        not self.fs.exists(f"{path}/{MANIFEST}"):
                    logger.info("removing unfinished version %s", path)
                    self.fs.delete(path)


class RunRoot:
    """The stores of every stage under one run root.

    Built from the same ``spark``, ``root`` and ``keep_versions`` as :class:`StageStore`
    (usually by :meth:`from_config`); every store shares one filesystem handle.

    The newest published vocabulary of a configuration's run root::

        RunRoot.from_config(spark, cfg).require(VOCAB)
    """

    def __init__(self, spark, root: str, keep_versions: int = 2, lock_ttl: float = 600.0,
                 lock_wait: float = 0.0) -> None:
        self.spark = spark
        self.fs = HadoopFS(spark)
        self.root = self.fs.qualify(root.rstrip("/"))
        self.keep_versions = keep_versions
        self.lock_ttl, self.lock_wait = lock_ttl, lock_wait
        self._stores: dict[str, StageStore] = {}

    @classmethod
    def from_config(cls, spark, cfg) -> RunRoot:
        """The run root of ``cfg.run``."""
        return cls(spark, cfg.run.root, cfg.run.keep_versions, cfg.run.lock_ttl,
                   cfg.run.lock_wait)

    def lock(self, command: str | None = None):
        """Hold the run root's lease for a block (re-entrant).

        Raises
        ------
        LockedError
            Another live run holds it (exit code 75).
        """
        return hold(self.fs, self.root, ttl=self.lock_ttl, wait=self.lock_wait,
                    command=command)

    def store(self, stage: str) -> StageStore:
        """The store of one stage (``<root>/<stage>/``)."""
        if stage not in self._stores:
            self._stores[stage] = StageStore(self.spark, self.root, stage, self.keep_versions,
                                             fs=self.fs, lock_ttl=self.lock_ttl,
                                             lock_wait=self.lock_wait)
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
    with store.lock():
        if not force:
            cur = store.matching(fingerprint, config_hash)
            if cur is not None:
                logger.info("%s: version %s is up to date with its inputs and settings; "
                            "skipping", store.stage, cur.version)
                return cur
        with store.staging() as st:
            st.manifest.update({"config_hash": config_hash, "input_fingerprint": fingerprint})
            build(st)
    assert st.published is not None
    return st.published
