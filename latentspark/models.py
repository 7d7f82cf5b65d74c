"""Versioned models: each retraining publishes a self-contained version; ``LATEST`` points at
the newest one that passed the quality gate.

Layout under the model root (``pipeline.model_root``, by default ``<run.root>/models``)::

    <model_root>/<version>/manifest.json    gate result, scores, provenance, drift summary
    <model_root>/<version>/embeddings/      the embeddings stage's published version (copied)
    <model_root>/<version>/index/           the Annoy index shards and their manifest
    <model_root>/<version>/evaluation/      summary.json, report.md, per-question Parquet
    <model_root>/<version>/drift/           drift against the previous LATEST (if any)
    <model_root>/LATEST                     the name of the current version, one line

A version is written in staging and renamed into place with its manifest, like any stage;
``LATEST`` is then replaced in one atomic rename, and only if the gate passed. Readers
resolve ``LATEST`` (or take a version by name) through :func:`resolve`, so they never see a
version that is half-written or that failed the gate. Versions are copies, not links to the
working stages, so pruning the run root never breaks a model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from latentspark.artifacts import MANIFEST, Published, StageStore
from latentspark.config import Config
from latentspark.errors import ArtifactError, GateError
from latentspark.fs import HadoopFS

logger = logging.getLogger(__name__)

LATEST = "LATEST"


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
    if fs.exists(f"{path}/{LATEST}"):
        version = fs.read_bytes(f"{path}/{LATEST}").decode().strip()
        if not fs.exists(f"{path}/{version}/{MANIFEST}"):
            raise ArtifactError(f"{path}/{LATEST} names version {version!r}, which has no "
                                f"{MANIFEST}")
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
        root = self.fs.qualify(model_root(cfg))
        parent, name = root.rsplit("/", 1)
        # versions are pruned here, never LATEST's, so the store itself keeps them all
        self.store = StageStore(spark, parent, name, keep_versions=10**9)
        self.root = root
        self.keep = cfg.pipeline.keep_models

    def latest_name(self) -> str | None:
        """The version ``LATEST`` names, or ``None`` before the first passing version."""
        path = f"{self.root}/{LATEST}"
        if not self.fs.exists(path):
            return None
        return self.fs.read_bytes(path).decode().strip() or None

    def latest(self) -> Published | None:
        """The version ``LATEST`` points at."""
        name = self.latest_name()
        return self.store.load(name) if name else None

    def versions(self) -> list[str]:
        """All published versions (passed or not), oldest first."""
        return self.store.versions()

    def find(self, fingerprint: str) -> Published | None:
        """The newest version made from exactly these stage versions, if any."""
        for name in reversed(self.versions()):
            pub = self.store.load(name)
            if pub.manifest.get("input_fingerprint") == fingerprint:
                return pub
        return None

    def point_latest(self, version: str) -> None:
        """Move ``LATEST`` to ``version`` in one atomic rename."""
        self.fs.replace_atomic(f"{self.root}/{LATEST}", f"{version}\n".encode(), version)
        logger.info("LATEST -> %s", version)

    def prune(self) -> None:
        """Keep the newest ``keep_models`` versions, and LATEST's whatever its age."""
        latest = self.latest_name()
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


def gate_failure(pub: Published) -> GateError:
    """The error a run ends with when its version failed the gate."""
    gate = pub.manifest.get("gate", {})
    return GateError(f"model version {pub.version} failed the quality gate: "
                     + "; ".join(gate.get("reasons", [])) + "; LATEST is unchanged")
