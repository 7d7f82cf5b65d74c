"""The ``index`` stage: sharded Annoy indexes over the unit vectors of the embeddings.

Output: ``<root>/index/<version>/data/``: ``shard-NNNNN.ann``, ``vectors-NNNNN.f32`` and
``words.parquet`` (:data:`latentspark.schemas.INDEX_WORDS`); see :mod:`latentspark.index`.
"""

from __future__ import annotations

from latentspark.artifacts import INDEX, Published, RunRoot, Staging, build_stage
from latentspark.config import Config


def run(spark, cfg: Config, force: bool = False) -> Published:
    """Build and publish the Annoy index shards, unless an up-to-date index is published.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
        Uses ``[index]`` (``index.embeddings``: what to index; default the newest
        published embeddings) and ``run.root``.
    force : bool
        Rebuild even when the published index matches the embeddings and config.

    Returns
    -------
    Published
        The published (or reused) index version.

    Raises
    ------
    InputError, ArtifactError
        On missing or malformed embeddings.
    """
    from latentspark.index import build_index, index_config_hash, resolve_embeddings

    emb = resolve_embeddings(spark, cfg)
    store = RunRoot.from_config(spark, cfg).store(INDEX)

    def build(st: Staging) -> None:
        st.manifest["config"] = {"index": cfg.to_dict()["index"]}
        st.manifest.update(build_index(spark, emb, cfg.index, st, store.fs))

    return build_stage(store, fingerprint=emb.fingerprint,
                       config_hash=index_config_hash(cfg.index), force=force, build=build)


def load_spec(spark, cfg: Config, force: bool = False):
    """Build (or reuse) the index and return its spec, with the file sizes checked.

    Returns
    -------
    latentspark.index.IndexSpec
    """
    from latentspark.index import IndexSpec, check_sizes

    pub = run(spark, cfg, force=force)
    spec = IndexSpec.from_published(pub, cfg.index)
    check_sizes(RunRoot.from_config(spark, cfg).fs, spec)
    return spec
