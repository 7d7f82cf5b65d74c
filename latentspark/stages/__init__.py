"""The pipeline's stages, one module each, named as the stage is everywhere.

=================  ====================  ===========================  =========================
stage (store)      command               job                          module
=================  ====================  ===========================  =========================
``vocab``          ``latentspark vocab``        ``jobs/vocab.py``        :mod:`.vocab`
``cooccur``        ``latentspark cooccur``      ``jobs/cooccur.py``      :mod:`.cooccur`
``embeddings``     ``latentspark embeddings``   ``jobs/embeddings.py``   :mod:`.embeddings`
``index``          ``latentspark index``        ``jobs/index.py``        :mod:`.index`
``eval``           ``latentspark eval``         ``jobs/eval.py``         :mod:`.eval`
``neighbours``     ``latentspark neighbours``   ``jobs/neighbours.py``   :mod:`.neighbours`
``drift``          ``latentspark drift``        ``jobs/drift.py``        :mod:`.drift`
``explore``        ``latentspark explore``      ``jobs/explore.py``      :mod:`.explore`
=================  ====================  ===========================  =========================

Every module has ``run(spark, cfg, force=False, ...) -> Published``: it resolves its inputs,
computes their fingerprint and the hash of the settings it uses, and hands the building to
:func:`latentspark.artifacts.build_stage`, which skips an up-to-date stage or builds in
staging and publishes atomically with a manifest. The numeric work lives in the library
modules (:mod:`latentspark.vocabulary`, :mod:`latentspark.cooccurrence`,
:mod:`latentspark.factorize`, :mod:`latentspark.index`, :mod:`latentspark.evaluation`,
:mod:`latentspark.drift`, :mod:`latentspark.explore`); the stage modules only wire them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from latentspark.artifacts import STAGES


def runner(stage: str) -> Callable:
    """The ``run`` function of a stage, by name (one of :data:`~latentspark.artifacts.STAGES`).

    >>> runner("vocab").__module__
    'latentspark.stages.vocab'
    """
    if stage not in STAGES:
        from latentspark.errors import ConfigError

        raise ConfigError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return importlib.import_module(f"latentspark.stages.{stage}").run


def corpus_provenance(cfg, source, **upstream: str) -> dict:
    """The manifest fields that say which corpus (and upstream versions) a stage read.

    Parameters
    ----------
    cfg : Config
        The whole configuration, recorded as it was.
    source : CorpusInput
        The resolved corpus.
    **upstream : str
        Versions of the stages it was made from, e.g. ``vocab_version``.
    """
    return {
        "config": cfg.to_dict(),
        "input": {"path": source.path, "format": source.format, "files": source.n_files,
                  "bytes": source.n_bytes, **upstream},
    }
