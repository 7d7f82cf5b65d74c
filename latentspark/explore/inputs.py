"""The exploration's inputs: concepts, word groups, expressions and ``between`` pairs.

Parses the concept and word-group files (``: name`` headers, then words), the curated sets
shipped as package data in ``latentspark/concepts/`` and ``latentspark/groups/`` (found with
:mod:`importlib.resources`, listed in ``pyproject.toml``'s package-data), the sections of the
analogy files, word-arithmetic expressions and ``explore.between``; and reads those files, and
the evaluation summary to chart, from the run's filesystem as the config asks.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from latentspark.config import Config
from latentspark.errors import ConfigError, InputError

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# word sets: concepts (pairs) and groups


@dataclass(frozen=True)
class Concept:
    """A named set of word pairs ``(a, b)`` whose offsets ``b - a`` share a meaning."""

    name: str
    source: str
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Group:
    """A named set of words expected to be near one another."""

    name: str
    source: str
    words: tuple[str, ...]


def _sections(text: str, source: str, what: str) -> list[tuple[str, list[list[str]]]]:
    """Split ``: name`` sections of whitespace-separated lines (``#`` starts a comment)."""
    out: list[tuple[str, list[list[str]]]] = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith(":"):
            name = line[1:].strip()
            if not name:
                raise InputError(f"{source}:{no}: {what} header without a name")
            out.append((name, []))
        elif not out:
            raise InputError(f"{source}:{no}: {what} line before any ': name' header: {raw!r}")
        else:
            out[-1][1].append(line.split())
    return out


def parse_concepts(text: str, source: str) -> list[Concept]:
    """Read a concept file: ``: name`` headers, then one ``a b`` pair per line.

    Parameters
    ----------
    text : str
        The file's content.
    source : str
        Its name, for messages and reports.

    Returns
    -------
    list of Concept
        In file order; repeated pairs are kept once.

    Raises
    ------
    InputError
        A line that is not two words, or a pair before any header.

    Examples
    --------
    >>> [c.pairs for c in parse_concepts(": gender\\nking queen\\nman woman\\n", "g.txt")]
    [(('king', 'queen'), ('man', 'woman'))]
    """
    out = []
    for name, lines in _sections(text, source, "concept"):
        for ln in lines:
            if len(ln) != 2:
                raise InputError(f"{source}: concept {name!r}: expected 'a b', found "
                                 f"{' '.join(ln)!r}")
        out.append(Concept(name, source, tuple(dict.fromkeys((a, b) for a, b in lines))))
    return out


def parse_groups(text: str, source: str) -> list[Group]:
    """Read a word-group file: ``: name`` headers, then the group's words (any per line).

    Examples
    --------
    >>> parse_groups(": colours\\nred blue\\ngreen\\n", "g.txt")[0].words
    ('red', 'blue', 'green')
    """
    return [Group(name, source, tuple(dict.fromkeys(w for ln in lines for w in ln)))
            for name, lines in _sections(text, source, "group")]


def concepts_from_analogies(rows: list[dict[str, Any]]) -> list[Concept]:
    """One concept per analogy section: the distinct pairs ``(a, b)`` and ``(c, expected)``.

    Parameters
    ----------
    rows : list of dict
        Parsed questions (:func:`latentspark.evaluation.parse_analogies`), with ``file``,
        ``section``, ``a``, ``b``, ``c``, ``expected``.

    Returns
    -------
    list of Concept
        In the order the sections appear.

    Examples
    --------
    >>> rows = [{"file": "q", "section": "capital", "a": "Athens", "b": "Greece", "c": "Oslo",
    ...          "expected": "Norway"}, {"file": "q", "section": "capital", "a": "Oslo",
    ...          "b": "Norway", "c": "Athens", "expected": "Greece"}]
    >>> concepts_from_analogies(rows)[0].pairs
    (('Athens', 'Greece'), ('Oslo', 'Norway'))
    """
    pairs: dict[tuple[str, str], dict[tuple[str, str], None]] = {}
    for r in rows:
        seen = pairs.setdefault((r["file"], r["section"]), {})
        seen[(r["a"], r["b"])] = None
        seen[(r["c"], r["expected"])] = None
    return [Concept(section, file, tuple(p)) for (file, section), p in pairs.items()]


def _packaged(folder: str) -> list[tuple[str, str]]:
    """``(name, text)`` of the package's ``folder/*.txt`` files, sorted by name."""
    base = resources.files("latentspark") / folder
    return [(f"latentspark/{folder}/{p.name}", p.read_text(encoding="utf-8"))
            for p in sorted(base.iterdir(), key=lambda p: p.name) if p.name.endswith(".txt")]


def builtin_concepts() -> list[Concept]:
    """The curated concepts shipped in ``latentspark/concepts/``.

    Examples
    --------
    >>> [c.name for c in builtin_concepts()]
    ['capital', 'comparative', 'gender', 'past_tense', 'plural']
    """
    return [c for name, text in _packaged("concepts") for c in parse_concepts(text, name)]


def builtin_groups() -> list[Group]:
    """The curated word groups shipped in ``latentspark/groups/``."""
    return [g for name, text in _packaged("groups") for g in parse_groups(text, name)]


def unique_names(items: list) -> list:
    """Rename later duplicates ``name (2)``, ``name (3)``: names key the report.

    Parameters
    ----------
    items : list of Concept or Group
        Anything with a ``name``, in order.

    Returns
    -------
    list
        The same items, the second and later of a name renamed.

    Examples
    --------
    >>> [g.name for g in unique_names([Group("a", "x", ()), Group("a", "y", ())])]
    ['a', 'a (2)']
    """
    seen: dict[str, int] = {}
    out = []
    for it in items:
        n = seen[it.name] = seen.get(it.name, 0) + 1
        out.append(it if n == 1 else replace(it, name=f"{it.name} ({n})"))
    return out


# ---------------------------------------------------------------------------------------------
# expressions


_NUMBER = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def parse_expression(text: str) -> list[tuple[float, str]]:
    """Parse word arithmetic: words joined by ``+`` and ``-``, with optional coefficients.

    An operator starts a token (``king - man``, ``king -man``); inside a token a hyphen is part
    of the word (``x-ray``). A number followed by a word is its coefficient (``0.5 king``,
    ``2 * cats``, ``2*cats``); a number followed by an operator or the end is a word.

    Parameters
    ----------
    text : str
        The expression.

    Returns
    -------
    list of (float, str)
        ``(coefficient, word)`` terms.

    Raises
    ------
    InputError
        An empty expression, two operators or two words in a row, a dangling ``*``.

    Examples
    --------
    >>> parse_expression("king - man + woman")
    [(1.0, 'king'), (-1.0, 'man'), (1.0, 'woman')]
    >>> parse_expression("-0.5 * x-ray +2*cats - 3")
    [(-0.5, 'x-ray'), (2.0, 'cats'), (-1.0, '3')]
    """
    tokens: list[str] = []
    for piece in text.replace("*", " * ").split():
        while len(piece) > 1 and piece[0] in "+-":
            tokens.append(piece[0])
            piece = piece[1:]
        tokens.append(piece)
    terms: list[tuple[float, str]] = []
    i = 0

    def bad(why: str) -> InputError:
        return InputError(f"expression {text!r}: {why}; expected words joined by + and -, "
                          "e.g. 'king - man + woman' or '0.5 king + 0.5 queen'")

    while i < len(tokens):
        sign = 1.0
        if tokens[i] in "+-":
            sign = -1.0 if tokens[i] == "-" else 1.0
            i += 1
        elif terms:
            raise bad(f"{tokens[i - 1]!r} and {tokens[i]!r} without an operator between them")
        coef = 1.0
        if (i + 1 < len(tokens) and _NUMBER.match(tokens[i])
                and tokens[i + 1] not in ("+", "-")):
            coef = float(tokens[i])
            i += 1
            if tokens[i] == "*":
                i += 1
        if i >= len(tokens) or tokens[i] in ("+", "-", "*"):
            raise bad("a word is missing")
        terms.append((sign * coef, tokens[i]))
        i += 1
    if not terms:
        raise bad("no words")
    return terms


def split_list(value: str | list[str]) -> list[str]:
    """The items of a list setting: a list, or one comma-separated string; blanks dropped.

    Examples
    --------
    >>> split_list("a.txt, b.txt,"), split_list([" king - man ", ""])
    (['a.txt', 'b.txt'], ['king - man'])
    """
    items = value.split(",") if isinstance(value, str) else value
    return [p.strip() for p in items if p.strip()]


def parse_between(value: str | list[str]) -> list[tuple[str, str]]:
    """Parse ``explore.between``: ``a b`` pairs (a list, or one comma-separated string).

    Examples
    --------
    >>> parse_between(["king queen", " good bad"])
    [('king', 'queen'), ('good', 'bad')]
    >>> parse_between("king queen, good bad")
    [('king', 'queen'), ('good', 'bad')]
    """
    out = []
    for item in split_list(value):
        words = item.split()
        if len(words) != 2:
            raise ConfigError(f"config key explore.between: {item!r} is not two words 'a b'")
        out.append((words[0], words[1]))
    return out


# ---------------------------------------------------------------------------------------------
# reading the files the config names


def _read_text(fs, path: str, key: str) -> str:
    if not fs.exists(path):
        raise InputError(f"{key} file {path} does not exist")
    try:
        return fs.read_bytes(path).decode("utf-8-sig")  # a BOM is no header text
    except UnicodeDecodeError as exc:
        raise InputError(f"{key} file {path} is not UTF-8: {exc}") from None


def load_concepts(fs, cfg: Config) -> list[Concept]:
    """Built-in, analogy-section and user concepts, as the config asks."""
    from latentspark.evaluation import Parsed, parse_analogies

    ex = cfg.explore
    out = builtin_concepts() if ex.builtin else []
    if ex.analogy_sections:
        parsed = Parsed()
        for path in split_list(cfg.evaluate.analogies):
            parse_analogies(_read_text(fs, path, "evaluate.analogies"), path, parsed)
        for p in parsed.problems:
            logger.warning("malformed analogy line skipped: %s", p)
        out += concepts_from_analogies(parsed.rows)
    for path in split_list(ex.concepts):
        out += parse_concepts(_read_text(fs, path, "explore.concepts"), path)
    return out


def load_groups(fs, cfg: Config) -> list[Group]:
    """Built-in and user word groups."""
    out = builtin_groups() if cfg.explore.builtin else []
    for path in split_list(cfg.explore.groups):
        out += parse_groups(_read_text(fs, path, "explore.groups"), path)
    return out


def load_evaluation(spark, fs, cfg: Config) -> dict[str, Any] | None:
    """The evaluation summary to chart: ``explore.evaluation``, else the newest, else None."""
    from latentspark.artifacts import EVAL, RunRoot

    path = cfg.explore.evaluation.rstrip("/")
    if not path:
        pub = RunRoot.from_config(spark, cfg).store(EVAL).current()
        if pub is None:
            logger.info("explore: no published evaluation under %s; no accuracy chart",
                        cfg.run.root)
            return None
        path = pub.path
    summary = f"{path}/summary.json"
    if not fs.exists(summary):
        raise InputError(f"explore.evaluation = {path!r}: no summary.json there")
    return {"path": path, "summary": json.loads(fs.read_bytes(summary))}
