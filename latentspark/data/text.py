"""Text helpers shared by the extractors: corpus lines, paragraphs, markup, package files.

Every extractor yields raw paragraphs; :func:`to_lines` turns them into corpus lines
(whitespace collapsed, at most :data:`MAX_LINE_CHARS` characters, long paragraphs split at
sentence ends). The other helpers read a package's files, split their text into paragraphs
or strip tags, and name the package when an expected file is missing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from latentspark.errors import DataFetchError

MAX_LINE_CHARS = 2000

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
TAG = re.compile(r"<[^<>]*>")
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


def blocks(text: str) -> list[str]:
    """Split text into blank-line separated blocks (lines of a block stay joined by \\n).

    Parameters
    ----------
    text : str
        Any text; ``\\r\\n`` line ends are accepted.

    Returns
    -------
    list of str
        The non-blank blocks, in order.
    """
    return [b for b in _BLANK_LINE.split(text.replace("\r\n", "\n")) if b.strip()]


def strip_html(text: str, sep: str = " ") -> str:
    """Replace HTML/XML tags by ``sep`` and decode entities.

    Parameters
    ----------
    text : str
        Text with tags and entities.
    sep : str
        What each tag becomes (``""`` for tags that sit inside words).

    Returns
    -------
    str
        Plain text.
    """
    return html.unescape(TAG.sub(sep, text))


def read_text(path: Path) -> str:
    """Read a text file as UTF-8, falling back to Latin-1 for old Gutenberg files.

    Parameters
    ----------
    path : Path
        File to read.

    Returns
    -------
    str
        Its text (without a UTF-8 byte order mark).
    """
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` or raise a DataFetchError saying the package lacks it.

    Parameters
    ----------
    path : Path
        A file expected in an unpacked package.
    what : str
        The package, for the message.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DataFetchError
        When ``path`` does not exist.
    """
    if not path.exists():
        raise DataFetchError(f"{what}: expected {path.name} in the package, but it is missing")
    return path


def find_one(root: Path, pattern: str, what: str) -> Path:
    """The single file under ``root`` matching a glob pattern.

    Parameters
    ----------
    root : Path
        Unpacked package.
    pattern : str
        Glob pattern relative to ``root``.
    what : str
        The package, for the message.

    Returns
    -------
    Path
        The matching file (the first in sorted order should several match).

    Raises
    ------
    DataFetchError
        When no file matches.
    """
    found = sorted(root.glob(pattern))
    if not found:
        raise DataFetchError(f"{what}: no file matching {pattern!r} in the unpacked package")
    return found[0]
