"""Versioned models: each retraining publishes a self-contained version; ``LATEST`` points at
the newest one that passed the quality gate.

Layout under the model root (``pipeline.model_root``, by default ``<run.root>/models``)::

    <model_root>/<version>/manifest.json    gate result, scores, provenance, drift summary
    <model_root>/<version>/embeddings/      the embeddings stage's published version (copied)
    <model_root>/<version>/index/           the Annoy index shards and their manifest
    <model_root>/<version>/evaluation/      summary.json, report.md, per-question Parquet
    <model_root>/<version>/drift/           drift against the previous LATEST (if any)
    <model_root>/LATEST-<stamp>             pointers: each names a version that passed, one line
    <model_root>/LATEST                     a copy of the newest pointer, for people and scripts

A version is written in staging and published with its manifest, like any stage; then, only
if the gate passed, a new pointer file ``LATEST-<stamp>`` (a name never used before) is
written whole and the plain ``LATEST`` is replaced. Readers (:func:`latest_version`) take
the newest pointer that names a complete version and fall back to the one before it with a
warning, so ``LATEST`` is never missing or half-read, on local disks, HDFS or object stores
alike (``docs/filesystems.md``). They resolve ``LATEST`` (or take a version by name) through
:func:`resolve`, so they never see a version that is half-written or that failed the gate.
Versions are copies, not links to the working stages, so pruning the run root never breaks a
model.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from latentspark.artifacts import MANIFEST, Published, StageStore, new_version
from latentspark.config import Config
from latentspark.errors import ArtifactError, GateError
from latentspark.fs import HadoopFS

logger = logging.getLogger(__name__)

LATEST = "LATEST"
#: pointer files ``LATEST-<stamp>``; the stamps sort in the order they were written
POINTER = re.compile(r"LATEST-(\d{8}T\d{6}\d+Z-[0-9a-f]+)$")
#: pointers kept besides the newest: what readers fall back to
KEEP_POINTERS = 3


def _versions_store(fs: HadoopFS, root: str) -> StageStore:
    parent, name = root.rstrip("/").rsplit("/", 1)
    # versions are pruned by ModelStore, never LATEST's, so the store itself keeps them all
    return StageStore(None, parent, name, keep_versions=10**9, fs=fs)


def pointers(fs: HadoopFS, root: str) -> list[str]:
    """The pointer files of a model root, newest first (``LATEST-<stamp>`` names)."""
    return sorted((n for n in fs.list_names(root) if POINTER.match(n)), reverse=True)


def first_usable(root: str, names: list[str], version_of: Callable[[str], str],
                 problem_of: Callable[[str], str | None]) -> tuple[str | None, list[str]]:
    """The version named by the first usable pointer of ``names`` (newest first).

    The one rule for every reader of a model root, whatever its filesystem client.

    Parameters
    ----------
    root : str
        The model root, for messages.
    names : list of str
        Pointer file names, newest first.
    version_of : callable
        Reads the version a pointer names.
    problem_of : callable
        What is wrong with a version, or ``None`` when it is usable.

    Returns
    -------
    version : str or None
        ``None`` when no pointer is usable.
    problems : list of str
        Why each newer pointer was passed over.
    """
    problems: list[str] = []
    for name in names:
        try:
            version = version_of(name)
            problem = problem_of(version)
        except Exception as exc:  # unreadable pointer or manifest: try the previous one
            problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:
            if problem is None:
                if problems:
                    logger.warning("model root %s: using %s -> %s; newer pointers are "
                                   "unusable: %s", root, name, version, "; ".join(problems))
                return version, problems
        problems.append(f"{name}: {problem}")
    return None, problems


def latest_version(fs: HadoopFS, root: str) -> str | None:
    """The version ``LATEST`` names: the newest pointer naming a complete version.

    A pointer that cannot be read, or that names a version whose manifest is unreadable or
    whose data files are incomplete, is skipped with a warning (the previous pointer is
    used). The plain ``LATEST`` file is read only when there is no pointer file (roots
    written before pointers existed).

    Parameters
    ----------
    fs : HadoopFS
    root : str
        The model root.

    Returns
    -------
    str or None
        ``None`` before the first version passed the gate.

    Raises
    ------
    ArtifactError
        Pointers exist but none names a complete version.
    """
    root = root.rstrip("/")
    store = _versions_store(fs, root)
    names = pointers(fs, root) or ([LATEST] if fs.exists(f"{root}/{LATEST}") else [])
    version, problems = first_usable(
        root, names, lambda name: fs.read_bytes(f"{root}/{name}").decode().strip(),
        lambda version: store.complete(store.load(version)))
    if version is not None:
        return version
    if problems:
        raise ArtifactError(f"model root {root}: no LATEST pointer names a complete version: "
                            + "; ".join(problems))
    return None


def model_root(cfg: Config) -> str:
    """Where the model versions live."""
    return (cfg.pipeline.model_root or f"{cfg.run.root.rstrip('/')}/models").rstrip("/")


def resolve(fs: HadoopFS, path: str) -> str | None:
    """The embeddings of a model root's ``LATEST`` or of a model version, else ``None``.

    Parameters
    ----------
    fs : HadoopFS
    path : str
        A model root (holding ``LATEST``), ``<model_root>/LATEST``, or a model version.

    Raises
    ------
    ArtifactError
        ``LATEST`` names a version that is not there.
    """
    path = path.rstrip("/")
    if path.endswith(f"/{LATEST}"):
        path = path[: -len(LATEST) - 1]
    version = latest_version(fs, path)
    if version is not None:
        path = f"{path}/{version}"
    if fs.exists(f"{path}/embeddings/{MANIFEST}") and fs.exists(f"{path}/{MANIFEST}"):
        return f"{path}/embeddings"
    return None


@dataclass
class GateResult:
    """The gate's verdict on a new version."""

    passed: bool
    metric: str
    score: float | None
    previous: float | None
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        """For the manifest."""
        return {"passed": self.passed, "metric": self.metric, "score": self.score,
                "previous_score": self.previous, "reasons": self.reasons}


def score(summary: dict[str, Any], metric: str) -> float | None:
    """The gate's metric from an evaluation ``summary.json``: 3CosAdd total accuracy (3CosMul
    when only that was run), or the mean Spearman over the word-pair files."""
    if metric == "analogies":
        total = (summary.get("analogies") or {}).get("total")
        if not total or not total.get("scored"):
            return None
        for method in ("3cosadd", "3cosmul"):
            if method in total:
                return float(total[method]["accuracy"])
        return None
    values = [s["spearman"] for s in summary.get("similarity") or []
              if s.get("spearman") is not None]
    return sum(values) / len(values) if values else None


def judge(cfg: Config, new: float | None, previous: float | None) -> GateResult:
    """Apply ``[gate]``: a minimum score, and a maximum drop against the LATEST version."""
    g = cfg.gate
    reasons = []
    if not g.enabled:
        return GateResult(True, g.metric, new, previous, ["gate.enabled = false"])
    if new is None:
        reasons.append(f"no {g.metric} score: give evaluation files (evaluate.analogies / "
                       "evaluate.similarity) that the model's vocabulary can answer")
    else:
        if new < g.min_score:
            reasons.append(f"{g.metric} score {new:.4f} is below gate.min_score = "
                           f"{g.min_score:g}")
        if previous is not None and previous - new > g.max_drop:
            reasons.append(f"{g.metric} score {new:.4f} dropped {previous - new:.4f} from the "
                           f"LATEST version's {previous:.4f}, more than gate.max_drop = "
                           f"{g.max_drop:g}")
    return GateResult(not reasons, g.metric, new, previous, reasons)


class ModelStore:
    """The versions under a model root and its ``LATEST`` pointer.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    """

    def __init__(self, spark, cfg: Config) -> None:
        self.fs = HadoopFS(spark)
        self.root = self.fs.qualify(model_root(cfg))
        self.store = _versions_store(self.fs, self.root)
        self.store.lock_ttl, self.store.lock_wait = cfg.run.lock_ttl, cfg.run.lock_wait
        self.keep = cfg.pipeline.keep_models

    def latest_name(self) -> str | None:
        """The version ``LATEST`` names (see :func:`latest_version`), or ``None`` before the
        first passing version."""
        return latest_version(self.fs, self.root)

    def latest(self) -> Published | None:
        """The version ``LATEST`` points at."""
        name = self.latest_name()
        return self.store.load(name) if name else None

    def previous(self) -> Published | None:
        """LATEST's version for a run about to publish: ``None``, with a warning, when no
        pointer names a usable version (the run then publishes as if it were the first,
        rather than failing every night until someone repairs the root)."""
        try:
            return self.latest()
        except ArtifactError as exc:
            logger.warning("%s; publishing as if there were no LATEST", exc)
            return None

    def versions(self) -> list[str]:
        """All published versions (passed or not), oldest first."""
        return self.store.versions()

    def find(self, fingerprint: str) -> Published | None:
        """The newest version made from exactly these stage versions, if any."""
        for name in reversed(self.versions()):
            try:
                pub = self.store.load(name)
            except ArtifactError as exc:  # a damaged version is no match; the rest may be
                logger.warning("%s", exc)
                continue
            if pub.manifest.get("input_fingerprint") == fingerprint and \
                    self.store.complete(pub) is None:
                return pub
        return None

    def point_latest(self, version: str) -> None:
        """Move ``LATEST`` to ``version``: a new pointer file, then the plain copy.

        Holds the model root's lease. The pointer has a name never used before and appears
        whole (one rename, or one object write), so a reader finds the new pointer or only
        the old ones, never none; older pointers beyond :data:`KEEP_POINTERS` and temporary
        files of killed runs are removed afterwards.
        """
        body = f"{version}\n".encode()
        with self.store.lock():
            stamp = new_version()
            self.fs.write_atomic(f"{self.root}/{LATEST}-{stamp}", body, "pointer")
            self.fs.replace_atomic(f"{self.root}/{LATEST}", body, stamp)
            for name in pointers(self.fs, self.root)[KEEP_POINTERS + 1:]:
                self.fs.delete(f"{self.root}/{name}")
            for name in self.fs.list_names(self.root):
                if name.startswith(LATEST) and name.endswith(".tmp"):
                    self.fs.delete(f"{self.root}/{name}")  # a killed run's, under the lease
        logger.info("LATEST -> %s", version)

    def prune(self) -> None:
        """Keep the newest ``keep_models`` versions, and LATEST's whatever its age.

        Older pointers may then name removed versions: readers pass over those.
        """
        try:
            latest = self.latest_name()
        except ArtifactError as exc:  # no usable LATEST: remove nothing a reader may need
            logger.warning("not pruning model versions: %s", exc)
            return
        names = self.versions()
        for name in names[:-self.keep]:
            if name != latest:
                logger.info("removing old model version %s", name)
                self.fs.delete(f"{self.root}/{name}")

    def require_latest(self) -> Published:
        """LATEST's version; raise when there is none."""
        pub = self.latest()
        if pub is None:
            raise ArtifactError(f"no model version passed the gate under {self.root} yet")
        return pub


def component(fs: HadoopFS, pub: Published, name: str) -> Published:
    """A model version's copy of ``embeddings``, ``index`` or ``evaluation``, authenticated.

    Its manifest must hash to the SHA-256 the model version recorded when it copied it, so
    a manifest rewritten to match swapped or altered data files is refused (the data files
    themselves are checked against the manifest where they are read).

    Raises
    ------
    ArtifactError
        The manifest is missing, unreadable, or not the one the version recorded.
    """
    import hashlib
    import json

    path = f"{pub.path}/{name}"
    try:
        body = fs.read_bytes(f"{path}/{MANIFEST}")
    except Exception as exc:
        raise ArtifactError(f"model version {pub.version}: {path}/{MANIFEST} cannot be "
                            f"read: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    expected = (pub.manifest.get("manifests_sha256") or {}).get(name)
    digest = hashlib.sha256(body).hexdigest()
    if expected is None:
        logger.warning("model version %s records no digest of its %s manifest (made before "
                       "they were recorded); it is not authenticated", pub.version, name)
    elif digest != expected:
        raise ArtifactError(f"model version {pub.version}: {path}/{MANIFEST} has SHA-256 "
                            f"{digest[:16]}..., the version recorded {expected[:16]}...: "
                            "the manifest was replaced; refusing it")
    return Published(name, pub.version, path, json.loads(body))


def index_spec(fs: HadoopFS, pub: Published, ic=None, remote_options=None):
    """The verified :class:`latentspark.index.IndexSpec` of a model version's index.

    Parameters
    ----------
    fs : HadoopFS
    pub : Published
        The model version (e.g. :meth:`ModelStore.require_latest`).
    ic : IndexConfig, optional
        Reader settings (``search_k``, ``cache_dir``).
    remote_options : dict, optional
        ``fs.s3a.*`` settings for the workers (:func:`latentspark.remote.options_from_spark`).

    Raises
    ------
    ArtifactError
        The index manifest is not the one the version recorded (:func:`component`), or a
        file it lists is missing or resized.
    """
    from latentspark.index import IndexSpec, check_sizes

    spec = IndexSpec.from_published(component(fs, pub, "index"), ic, remote_options)
    check_sizes(fs, spec)
    return spec


def gate_failure(pub: Published) -> GateError:
    """The error a run ends with when its version failed the gate."""
    gate = pub.manifest.get("gate", {})
    return GateError(f"model version {pub.version} failed the quality gate: "
                     + "; ".join(gate.get("reasons", [])) + "; LATEST is unchanged")
