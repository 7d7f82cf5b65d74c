"""The ``eval`` stage: analogies, word similarity, neighbours and Annoy's recall.

Output: ``<root>/eval/<version>/``: ``data/analogies/`` (:data:`latentspark.schemas.ANALOGIES`),
``data/similarity/`` (:data:`latentspark.schemas.SIMILARITY`), ``data/neighbours/``
(:data:`latentspark.schemas.NEIGHBOURS`), ``summary.json`` and ``report.md``. The scoring is
in :mod:`latentspark.evaluation`.
"""

from __future__ import annotations

from latentspark.artifacts import EVAL, Published, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.stages.index import load_spec


def run(spark, cfg: Config, force: bool = False, index: Published | None = None) -> Published:
    """Evaluate the indexed embeddings and publish per-item results and a summary.

    Builds the index first when it is missing or stale.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    force : bool
        Re-evaluate even when the published evaluation matches the index, files and config.
    index : Published, optional
        The index version to evaluate (the pipeline's own); by default it is built or reused.

    Returns
    -------
    Published
        The published (or reused) evaluation; what it holds and what can go wrong are those
        of :func:`latentspark.evaluation.evaluate_into`.
    """
    root = RunRoot.from_config(spark, cfg)
    with root.lock():
        spec = load_spec(spark, cfg, index=index)
        store = root.store(EVAL)
        return _run(spark, cfg, force, spec, store)


def _run(spark, cfg: Config, force: bool, spec, store) -> Published:
    from latentspark.evaluation import evaluate_into, evaluation_fingerprint

    def build(st: Staging) -> None:
        st.manifest.update(evaluate_into(spark, spec, cfg, st, store.fs))

    return build_stage(store, fingerprint=evaluation_fingerprint(store.fs, spec, cfg.evaluate),
                       config_hash=cfg.section_hash("evaluate", "index"), force=force,
                       build=build)
