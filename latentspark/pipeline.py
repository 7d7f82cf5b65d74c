"""The retraining pipeline: vocabulary -> co-occurrences -> embeddings -> index -> evaluation
-> publish, resumable, for schedulers.

Every stage publishes atomically with a manifest and skips itself when its published output
matches its inputs and config, so a run that failed or was killed resumes from the last
published stage when it is started again; ``start`` redoes a named stage and everything
after it. The last stage publishes a model version (:mod:`latentspark.models`) and moves
``LATEST`` to it only if the quality gate passes.

Exit codes (:func:`latentspark.cli.main`): 0 published (or already up to date), 2 bad
configuration, 3 bad input, 5 missing or broken artifact, 6 quality gate failed (the version
is kept for inspection, ``LATEST`` unchanged), 7 infrastructure failure (Spark, cluster or
filesystem; retry), 1 anything else (a bug).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time

from latentspark.artifacts import (
    COOCCUR,
    EMBEDDINGS,
    EVAL,
    INDEX,
    MANIFEST,
    VOCAB,
    Published,
    RunRoot,
)
from latentspark.config import Config
from latentspark.errors import ConfigError
from latentspark.models import ModelStore, gate_failure, judge, score

logger = logging.getLogger(__name__)

#: the pipeline's steps: the first five stages of :data:`latentspark.artifacts.STAGES`, then
#: the model version
STAGES = (VOCAB, COOCCUR, EMBEDDINGS, INDEX, EVAL, "publish")


def publish_model(spark, cfg: Config, stages: dict[str, Published],
                  force: bool = False) -> Published:
    """Copy the run's embeddings, index and evaluation into a new model version, judge it,
    and move ``LATEST`` to it if it passes.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    stages : dict
        The published ``vocab``, ``cooccur``, ``embeddings``, ``index`` and ``eval`` versions.
    force : bool
        Publish a new version even if one was made from the same stage versions.

    Returns
    -------
    Published
        The version ``LATEST`` now points at.

    Raises
    ------
    GateError
        The version failed the gate (it is published, but ``LATEST`` does not move).
    """
    models = ModelStore(spark, cfg)
    with models.store.lock():
        return _publish_model(spark, cfg, stages, force, models)


def _publish_model(spark, cfg: Config, stages: dict[str, Published], force: bool,
                   models: ModelStore) -> Published:
    fs = models.fs
    fingerprint = hashlib.sha256(json.dumps(
        [stages[s].version for s in STAGES[:-1]]
        + [cfg.section_hash("gate", "pipeline")]).encode()).hexdigest()
    existing = None if force else models.find(fingerprint)
    if existing is not None:
        if not existing.manifest["gate"]["passed"]:
            raise gate_failure(existing)
        current = models.previous()
        if current is None or current.version != existing.version:
            # a run killed between publishing its version and moving LATEST
            models.point_latest(existing.version)
        logger.info("publish: model version %s is up to date", existing.version)
        return existing
    latest = models.previous()
    summary = json.loads(fs.read_bytes(f"{stages['eval'].path}/summary.json"))
    scores = {m: score(summary, m) for m in ("analogies", "similarity")}
    previous = (latest.manifest.get("scores") or {}).get(cfg.gate.metric) if latest else None
    verdict = judge(cfg, scores[cfg.gate.metric], previous)
    with models.store.staging() as st:
        with st.timed("copy"):
            for name, stage in (("embeddings", "embeddings"), ("index", "index"),
                                ("evaluation", "eval")):
                fs.copy(stages[stage].path, f"{st.path}/{name}")
        # the copies' manifests, authenticated: an index manifest rewritten to match swapped
        # shards no longer matches this digest (see models.index_spec)
        manifests = {name: hashlib.sha256(fs.read_bytes(f"{st.path}/{name}/{MANIFEST}"))
                     .hexdigest() for name in ("embeddings", "index", "evaluation")}
        drift = None
        if cfg.pipeline.drift and latest is not None:
            from latentspark.drift import compute_drift

            with st.timed("drift"):
                drift = compute_drift(spark, f"{latest.path}/embeddings",
                                      f"{st.path}/embeddings", f"{st.path}/drift",
                                      sample=cfg.pipeline.drift_sample)
        cooc = stages["cooccur"].manifest
        st.manifest.update({
            "input_fingerprint": fingerprint,
            "manifests_sha256": manifests,
            "config": cfg.to_dict(),
            "stages": {s: stages[s].version for s in STAGES[:-1]},
            "previous_latest": latest.version if latest else None,
            "gate": verdict.as_dict(),
            "scores": scores,
            "vocab_size": stages["embeddings"].manifest.get("vocab_size"),
            "dim": stages["embeddings"].manifest.get("dim"),
            "corpus": {"path": cooc.get("input", {}).get("path"),
                       "parts": sorted(cooc.get("parts", {})),
                       "counted_now": cooc.get("counted_now"),
                       "skipped_files": cooc.get("skipped_files", {})},
            "drift": {k: v for k, v in (drift or {}).items()
                      if not isinstance(v, list | dict)} or None,
        })
    pub = models.store.load(st.version)
    if not verdict.passed:
        logger.warning("publish: version %s FAILED the gate: %s", pub.version,
                       "; ".join(verdict.reasons))
        models.prune()
        raise gate_failure(pub)
    if verdict.score is None:  # the gate is off and nothing could be scored
        logger.info("publish: version %s published without a %s score (%s)", pub.version,
                    verdict.metric, "; ".join(verdict.reasons))
    else:
        logger.info("publish: version %s passed the gate (%s %.4f%s)", pub.version,
                    verdict.metric, verdict.score,
                    f", LATEST had {previous:.4f}" if previous is not None else "")
    models.point_latest(pub.version)
    models.prune()
    return pub


def run_pipeline(spark, cfg: Config, start: str | None = None,
                 full: bool = False, until: str | None = None) -> Published | None:
    """Run every stage, reusing those that are up to date, and publish a model version.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    start : str, optional
        Redo this stage (one of :data:`STAGES`) and all after it, even if up to date.
    full : bool
        Count the whole corpus in one job instead of merging per-partition counts.
    until : str, optional
        Stop after this stage (one of :data:`STAGES`); no model version is published unless
        it is ``publish``.

    Returns
    -------
    Published or None
        The model version ``LATEST`` points at after the run, or ``None`` when ``until``
        stopped the run before ``publish``.
    """
    for name, value in (("--from", start), ("--until", until)):
        if value is not None and value not in STAGES:
            raise ConfigError(f"{name}: unknown stage {value!r}; stages are "
                              f"{', '.join(STAGES)}")
    if cfg.index.embeddings:
        raise ConfigError("index.embeddings must be empty in the pipeline, which indexes the "
                          "embeddings it has just made")
    forced = set(STAGES[STAGES.index(start):]) if start else set()
    last = STAGES.index(until) if until else len(STAGES) - 1
    t0 = time.monotonic()

    def step(name: str) -> bool:
        if STAGES.index(name) > last:
            return False
        logger.info("pipeline: stage %d/%d %s%s (%.0f s so far)", STAGES.index(name) + 1,
                    last + 1, name, " (forced)" if name in forced else "",
                    time.monotonic() - t0)
        return True

    # one run per root: the lease is held from the first stage to LATEST, and every stage
    # is handed the version the one before it published (never "the newest")
    with RunRoot.from_config(spark, cfg).lock("pipeline"):
        return _run_steps(spark, cfg, step, forced, until, full, t0)


def _run_steps(spark, cfg: Config, step, forced: set[str], until: str | None, full: bool,
               t0: float) -> Published | None:
    from latentspark.incremental import run_cooccur_incremental
    from latentspark.stages import cooccur, embeddings, index, vocab
    from latentspark.stages import eval as evaluation

    done: dict[str, Published] = {}
    step(VOCAB)
    if cfg.pipeline.incremental and until != VOCAB:
        if step(COOCCUR):
            done[COOCCUR] = run_cooccur_incremental(
                spark, cfg, force_vocab=VOCAB in forced, force_counts=COOCCUR in forced,
                full=full)
            done[VOCAB] = RunRoot.from_config(spark, cfg).load(
                VOCAB, done[COOCCUR].manifest["input"]["vocab_version"])
    else:
        done[VOCAB] = vocab.run(spark, cfg, force=VOCAB in forced,
                                keep_tokens=until != VOCAB)
        if step(COOCCUR):
            done[COOCCUR] = cooccur.run(spark, cfg, force=COOCCUR in forced, vocab=done[VOCAB])
    if step(EMBEDDINGS):
        latest = ModelStore(spark, cfg).previous()
        warm = f"{latest.path}/embeddings" if cfg.factorize.warm_start and latest else None
        done[EMBEDDINGS] = embeddings.run(spark, cfg, force=EMBEDDINGS in forced,
                                          cooc=done[COOCCUR], warm_from=warm)
    if step(INDEX):
        done[INDEX] = index.run(spark, cfg, force=INDEX in forced,
                                embeddings=done[EMBEDDINGS])
    if step(EVAL):
        done[EVAL] = evaluation.run(spark, cfg, force=EVAL in forced, index=done[INDEX])
    if not step("publish"):
        logger.info("pipeline: stopped after %s in %.0f s", until, time.monotonic() - t0)
        return None
    pub = publish_model(spark, cfg, done, force="publish" in forced)
    logger.info("pipeline: done in %.0f s; LATEST is %s", time.monotonic() - t0, pub.version)
    return pub
