"""The ``index`` stage: sharded Annoy indexes over the unit vectors of the embeddings.

Output: ``<root>/index/<version>/data/``: ``shard-NNNNN.ann``, ``vectors-NNNNN.f32`` and
``words.parquet`` (:data:`latentspark.schemas.INDEX_WORDS`); see :mod:`latentspark.index`.
"""

from __future__ import annotations

from latentspark.artifacts import INDEX, Published, RunRoot, Staging, build_stage
from latentspark.config import Config


def run(spark, cfg: Config, force: bool = False,
        embeddings: Published | None = None) -> Published:
    """Build and publish the Annoy index shards, unless an up-to-date index is published.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
        Uses ``[index]`` (``index.embeddings``: what to index; default the newest
        published embeddings) and ``run.root``.
    force : bool
        Rebuild even when the published index matches the embeddings and config.
    embeddings : Published, optional
        The embeddings version to index (the pipeline's own), instead of ``index.embeddings``.

    Returns
    -------
    Published
        The published (or reused) index version.

    Raises
    ------
    InputError, ArtifactError
        On missing or malformed embeddings.
    """
    from latentspark.index import resolve_embeddings

    root = RunRoot.from_config(spark, cfg)
    with root.lock():
        emb = resolve_embeddings(spark, cfg, embeddings)
        return _run(spark, cfg, force, emb, root.store(INDEX))


def _run(spark, cfg: Config, force: bool, emb, store) -> Published:
    from latentspark.index import build_index, index_config_hash

    def build(st: Staging) -> None:
        st.manifest["config"] = {"index": cfg.to_dict()["index"]}
        st.manifest.update(build_index(spark, emb, cfg.index, st, store.fs))

    return build_stage(store, fingerprint=emb.fingerprint,
                       config_hash=index_config_hash(cfg.index), force=force, build=build)


def load_spec(spark, cfg: Config, force: bool = False, index: Published | None = None):
    """Build (or reuse) the index and return its spec, with the file sizes checked.

    ``index`` is a published index version to use as it is (the pipeline's own).

    Returns
    -------
    latentspark.index.IndexSpec
    """
    from latentspark.index import IndexSpec, check_sizes
    from latentspark.remote import options_from_spark

    pub = index or run(spark, cfg, force=force)
    spec = IndexSpec.from_published(pub, cfg.index, options_from_spark(spark))
    check_sizes(RunRoot.from_config(spark, cfg).fs, spec)
    return spec
