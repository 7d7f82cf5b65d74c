"""The ``cooccur`` stage: count windowed co-occurrences against the published vocabulary.

Output: ``<root>/cooccur/<version>/data/block=k/*.parquet`` with
:data:`latentspark.schemas.COOCCUR`, block ``k`` holding the rows ``r % blocks == k`` sorted
by ``(row, col)``. The scheduled pipeline builds the same stage by merging per-partition
counts (:mod:`latentspark.incremental`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

from latentspark import schemas
from latentspark.artifacts import COOCCUR, Published, RunRoot, Staging, build_stage
from latentspark.config import Config
from latentspark.corpus import read_corpus, resolve_input, tokenize
from latentspark.errors import InputError, spark_errors
from latentspark.stages import corpus_provenance
from latentspark.stages import vocab as vocab_stage

logger = logging.getLogger(__name__)

#: the settings that shape the counts
SECTIONS = ("corpus", "tokenize", "vocab", "cooccur")
#: what a ``cooccur`` manifest says of its layout
LAYOUT = ("data/block=k/ holds rows r with r % blocks == k, sorted by (row, col); the matrix "
          "is symmetric and both (i, j) and (j, i) are stored")


def files_into_blocks(fs, path: str, blocks: int) -> None:
    """Move ``part-0000k-*`` (partition k holds block k) into Hive-style ``block=k/`` folders,
    which any Parquet reader discovers as a ``block`` column."""
    for name in fs.list_names(path):
        m = re.match(r"part-(\d+)-", name)
        if m:
            block = int(m.group(1))
            if block >= blocks:
                raise RuntimeError(f"unexpected output file {name} for {blocks} blocks")
            fs.mkdirs(f"{path}/block={block}")
            fs.rename(f"{path}/{name}", f"{path}/block={block}/{name}")


def run(spark, cfg: Config, force: bool = False, vocab: Published | None = None) -> Published:
    """Count co-occurrences against the published vocabulary and publish them.

    Builds (or reuses) the vocabulary first unless ``vocab`` (the version the caller's vocab
    stage published) is given; ``force`` recounts even when the published counts match the
    corpus, the vocabulary and the settings.

    Returns
    -------
    Published
        Parquet ``row int, col int, weight float`` under ``path + "/data/block=k/"``.
    """
    source = resolve_input(spark, cfg.corpus)
    root = RunRoot.from_config(spark, cfg)
    with root.lock():
        vocab = vocab or vocab_stage.run(spark, cfg, force=False, source=source,
                                             keep_tokens=True)
        return _run(spark, cfg, force, source, vocab, root.store(COOCCUR))


def _run(spark, cfg: Config, force: bool, source, vocab: Published, store) -> Published:
    from latentspark.cooccurrence import resolve_blocks, write_cooccurrences
    from latentspark.vocabulary import load_vocabulary

    def build(st: Staging) -> None:
        words, counts = load_vocabulary(spark, vocab)
        # blocks = 0 follows the corpus and the cluster: the resolved count is the layout the
        # manifest records
        c = replace(cfg.cooccur, blocks=resolve_blocks(
            spark, cfg.cooccur, tokens=vocab.manifest.get("corpus_tokens")))
        logger.info("cooccur: window %d (%s%s%s) over %d vocabulary words, %d row blocks",
                    c.window, c.weighting, ", dynamic" if c.dynamic_window else "",
                    f", subsample {c.subsample:g}" if c.subsample else "", len(words), c.blocks)
        # the vocabulary was just built from this corpus: count the tokens it kept
        kept = vocab_stage.take_tokens(cfg, source)
        if kept is not None:
            logger.info("cooccur: counting the corpus lines the vocab stage kept")
        try:
            with spark_errors(f"corpus {source.path}"):
                lines = tokenize(kept if kept is not None else
                                 read_corpus(spark, cfg.corpus, source), cfg.tokenize)
                with st.timed("count_and_write"):
                    # each reduce task writes its block=k/ folder itself
                    nnz, total = write_cooccurrences(spark, lines, words, counts, c,
                                                     st.data_path, tokenizer=cfg.tokenize)
        finally:
            if kept is not None:
                kept.unpersist()
        if not nnz:
            raise InputError(f"corpus {source.path} has no line with two vocabulary words; "
                             "no co-occurrence to count")
        seconds = st.seconds("count_and_write")
        st.manifest.update({
            **corpus_provenance(cfg, source, vocab_version=vocab.version),
            "vocab_size": len(words),
            "rows": int(nnz),
            "total_weight": float(total),
            "blocks": c.blocks,
            "layout": LAYOUT,
            "schema": schemas.describe(schemas.COOCCUR),
            "corpus_tokens": vocab.manifest.get("corpus_tokens"),
            # True: counted from the lines the vocab stage kept, not read again
            "reused_tokens": kept is not None,
            "tokens_per_second": round(vocab.manifest.get("corpus_tokens", 0) / seconds)
            if seconds else None,
        })
        logger.info("cooccur: %d non-zeros, total weight %.4g", nnz, total)

    return build_stage(store, fingerprint=f"{source.fingerprint}:{vocab.version}",
                       config_hash=cfg.section_hash(*SECTIONS), force=force, build=build)
