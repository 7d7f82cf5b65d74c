"""The ``neighbours`` stage: the top ``evaluate.k`` neighbours of every word, as Parquet.

Output: ``<root>/neighbours/<version>/data/*.parquet`` with
:data:`latentspark.schemas.NEIGHBOURS`. Exact, Annoy or inverted-file search
(``evaluate.mode``; ``auto`` picks exact below the measured crossover, ``ivf`` above) in Spark
tasks over the index files (:func:`latentspark.evaluation.neighbours_of`).
"""

from __future__ import annotations

import hashlib

from latentspark import schemas
from latentspark.artifacts import NEIGHBOURS, Published, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.stages.index import load_spec


def run(spark, cfg: Config, force: bool = False) -> Published:
    """Export the top ``evaluate.k`` neighbours of every word.

    Returns
    -------
    Published
        Parquet ``word, rank, neighbour, similarity`` under ``data/``.
    """
    from latentspark.evaluation import index_errors, ivf_plan, neighbours_of, search_mode

    e = cfg.evaluate
    spec = load_spec(spark, cfg)
    mode = search_mode(cfg, spec)  # what "auto" resolves to is what counts
    key = f"{mode}:{e.k}:{e.candidates}:{cfg.index.search_k}"
    ivf = None
    if mode == "ivf":
        clusters, probes = ivf_plan(cfg, spec.vocab_size)
        ivf = {"clusters": clusters, "probes": probes, "seed": e.seed}
        key += f":{clusters}:{probes}:{e.seed}"
    config_hash = hashlib.sha256(key.encode()).hexdigest()

    def build(st: Staging) -> None:
        with index_errors(), st.timed("export"):
            neighbours_of(spark, spec, cfg, None).write.parquet(st.data_path)
        if ivf:
            st.manifest["ivf"] = ivf
        st.manifest.update({"index_version": spec.version, "mode": mode, "k": e.k,
                            "words": spec.vocab_size,
                            "schema": schemas.describe(schemas.NEIGHBOURS)})

    return build_stage(RunRoot.from_config(spark, cfg).store(NEIGHBOURS),
                       fingerprint=spec.version, config_hash=config_hash, force=force,
                       build=build)
