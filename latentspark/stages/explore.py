"""The ``explore`` stage: concept directions, word arithmetic, pictures and an HTML report.

Output: ``<root>/explore/<version>/``: ``report.html``, ``report.json`` and PNG pictures, or a
local folder (``explore.out``). The analysis is in :mod:`latentspark.explore`. The report is
cheap next to the other stages and reads files the fingerprint does not follow (concept and
group lists), so it is rebuilt on every run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import asdict

from latentspark.artifacts import EXPLORE, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.errors import InputError

logger = logging.getLogger(__name__)


def run(spark, cfg: Config, force: bool = False) -> str:
    """Explore the embeddings and write the report; returns where it went.

    Reads the embeddings of ``index.embeddings`` (or the newest published under the run root),
    analyses the concepts, expressions, interpolations and groups the config asks for, and
    writes ``report.html``, ``report.json`` and the PNGs to ``explore.out`` (replaced
    atomically) or, when that is empty, publishes them as the stage ``explore`` under the run
    root.

    Parameters
    ----------
    spark : pyspark.sql.SparkSession
    cfg : Config
    force : bool
        Replace ``explore.out`` even when it is a non-empty folder (the published stage is
        rebuilt on every run anyway).

    Returns
    -------
    str
        The output folder.

    Raises
    ------
    InputError
        Missing or malformed concept, group or analogy files, a bad expression, missing
        embeddings at an explicit path; ``explore.out`` is not empty and ``force`` is not
        given.
    ArtifactError
        No published embeddings under the run root.
    """
    from latentspark import embeddings
    from latentspark.explore import (
        Space,
        explore,
        load_concepts,
        load_evaluation,
        load_groups,
        report_files,
        write_local,
    )
    from latentspark.index import resolve_embeddings

    ex = cfg.explore
    if ex.out and os.path.isdir(ex.out) and os.listdir(ex.out) and not force:
        # checked before any work: someone's folder is not ours to replace unasked
        raise InputError(f"explore: --out {ex.out} exists and is not empty; pass --force to "
                         "replace it")
    if ex.out and os.path.exists(ex.out) and not os.path.isdir(ex.out):
        raise InputError(f"explore: --out {ex.out} is a file, not a folder")
    root = RunRoot.from_config(spark, cfg)
    fs = root.fs
    emb = resolve_embeddings(spark, cfg)
    logger.info("explore: reading embeddings %s (%d words x %d)", emb.data_path,
                emb.vocab_size, emb.dim)
    words, _, vectors = embeddings.read(spark, emb.data_path, data_folder=True)
    space = Space(words.to_pylist(), vectors, cfg.evaluate.case_insensitive,
                  ex.restrict_vocab)
    result = explore(space, load_concepts(fs, cfg), load_groups(fs, cfg), ex,
                     load_evaluation(spark, fs, cfg),
                     {"path": emb.data_path, "version": emb.version})
    files = report_files(result)
    if ex.out:
        return write_local(ex.out, files)

    def build(st: Staging) -> None:
        with tempfile.TemporaryDirectory(prefix="latentspark-explore-") as tmp:
            for name, body in files.items():
                local = os.path.join(tmp, name)
                with open(local, "wb") as fh:
                    fh.write(body)
                fs.put(local, f"{st.path}/{name}")
        headline = {c["name"]: c["consistency"] for c in result.report["concepts"]}
        st.manifest.update({"config": {"explore": asdict(ex)},
                            "embeddings": emb.data_path, "embeddings_version": emb.version,
                            "evaluation": (result.report["evaluation"] or {}).get("path"),
                            "files": sorted(files), "consistency": headline})

    config_hash = hashlib.sha256(repr(asdict(ex)).encode()).hexdigest()
    return build_stage(root.store(EXPLORE), fingerprint=emb.fingerprint,
                       config_hash=config_hash, force=True, build=build).path
