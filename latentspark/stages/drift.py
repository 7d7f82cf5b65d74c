"""The ``drift`` stage: how far each word moved between two embeddings versions.

Output: ``<root>/drift/<version>/``: ``words/`` (:data:`latentspark.schemas.DRIFT_WORDS`),
``summary.json`` and ``summary.md``; or a folder of the caller's choice. The comparison
(Procrustes alignment, per-word drift, neighbour overlap) is in :mod:`latentspark.drift`.
"""

from __future__ import annotations

import hashlib
import json

from latentspark.artifacts import DRIFT, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.errors import InputError


def run(spark, cfg: Config, old: str, new: str, *, out: str | None = None,
        force: bool = False, **options) -> str:
    """Compare two embeddings versions; returns the folder that holds the report.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
        Its run root receives the published report when ``out`` is not given.
    old, new : str
        The two embeddings: published versions, model versions or Parquet folders.
    out : str, optional
        Write the report to this folder instead of publishing it (an existing, non-empty
        folder is replaced only with ``force``).
    force : bool
        Replace ``out``, or republish even when a report of the same inputs is published.
    **options
        ``k``, ``sample``, ``seed``, ``top`` of :func:`latentspark.drift.compute_drift`.

    Raises
    ------
    InputError
        ``out`` exists and is not empty, without ``force``.
    """
    from latentspark.drift import compute_drift

    root = RunRoot.from_config(spark, cfg)
    fs = root.fs
    if out:
        if fs.exists(out) and fs.list_names(out):
            if not force:
                raise InputError(f"drift: --out {out} exists and is not empty; pass "
                                 "--force to replace it")
            fs.delete(out)
        compute_drift(spark, old, new, out, **options)
        return out

    def build(st: Staging) -> None:
        with st.timed("drift"):
            summary = compute_drift(spark, old, new, st.path, **options)
        st.manifest.update({
            "config": options,
            "input_fingerprint": f"{summary['old']['fingerprint']}|"
                                 f"{summary['new']['fingerprint']}",
            "inputs": {"old": summary["old"], "new": summary["new"]},
            "summary": {key: summary[key] for key in (
                "shared", "only_old", "only_new", "dim", "procrustes", "drift", "overlap")},
        })

    # the inputs' fingerprints are known only once they are read: a report is always made
    config_hash = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()
    return build_stage(root.store(DRIFT), fingerprint=f"{old}|{new}", config_hash=config_hash,
                       force=True, build=build).path
