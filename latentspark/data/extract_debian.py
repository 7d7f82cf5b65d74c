"""Extractors of the Debian packages of the full tier, with the file formats they need.

dictd databases (GCIDE, FOLDOC, the Devil's Dictionary), WordNet glosses, the Jargon File,
fortunes, Jane Austen out of an R lazy-load database, the King James Bible out of a SWORD
zText module and the Python documentation out of its GNU Info manual.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

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
    index = require_file(base / f"{name}.index", name)
    dictionary = require_file(base / f"{name}.dict.dz", name)
    for headword, entry in dictd_entries(index, dictionary):
        for block in blocks(entry):
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
    text = TAG.sub("", text).replace("__", "")  # __word__ marks emphasis
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
        path = require_file(base / f"data.{pos}", "wordnet-base")
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
    path = require_file(root / "usr/share/doc/jargon-text/jargon.txt.gz", "jargon-text")
    text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
    for block in blocks(text):
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
        yield from re.split(r"^%$", read_text(path), flags=re.MULTILINE)


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
    path = find_one(root, "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb", "r-cran-janeaustenr")
    books = list(read_r_character_vectors(path.read_bytes()))
    if not books:
        raise DataFetchError("r-cran-janeaustenr: no character vectors in data/Rdata.rdb")
    for lines in books:
        yield from blocks("\n".join(lines))


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
                text = normalize_space(strip_html(part, sep=""))  # <w> tags sit inside words
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
    bzv = find_one(root, "usr/share/sword/modules/texts/ztext/*/ot.bzv", "sword-text-kjv")
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
        for block in blocks(body):
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
    path = find_one(root, "usr/share/info/python3*.info.gz", "python3-doc")
    yield from info_paragraphs(gzip.decompress(path.read_bytes()).decode("utf-8", "replace"))
