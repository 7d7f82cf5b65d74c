"""``corpus.where``: a filter over partition columns, parsed here rather than handed to Spark.

Spark SQL would accept any expression, including ``reflect``/``java_method`` calls and
subqueries that read other files. The filter is therefore parsed by a small recursive-descent
parser that knows only what a partition filter needs, and the SQL that reaches Spark is
written back from the parsed tree (identifiers quoted, literals re-escaped)::

    expr     := or
    or       := and ("OR" and)*
    and      := not ("AND" not)*
    not      := "NOT" not | "(" expr ")" | test
    test     := operand (op operand | ["NOT"] "IN" "(" literal ("," literal)* ")")
    operand  := column | literal
    op       := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal  := 'string' | "string" | number | TRUE | FALSE

Columns are bare or back-quoted names; :func:`check_columns` restricts them to the corpus's
partition columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from latentspark.errors import ConfigError

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|''|\\.)*'|"(?:[^"\\]|""|\\.)*")
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<quoted>`[^`]+`)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|<>|!=|==|=|<|>)
  | (?P<punct>[(),])
""", re.VERBOSE)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "TRUE", "FALSE"}
_OPS = {"==": "=", "<>": "!="}


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind and text."""

    kind: str
    text: str
    at: int


def tokens(text: str) -> list[Token]:
    """Split a filter into tokens; anything outside the grammar is refused.

    Raises
    ------
    ConfigError
        At the first character that starts no token.
    """
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise _error(text, f"unexpected {text[pos:pos + 12]!r} at character {pos + 1}")
        kind = m.lastgroup
        if kind != "space":
            word = m.group()
            if kind == "name" and word.upper() in _KEYWORDS:
                kind, word = "keyword", word.upper()
            out.append(Token(kind, word, pos))
        pos = m.end()
    return out


def _error(text: str, why: str) -> ConfigError:
    return ConfigError(f"config key corpus.where = {text!r}: {why}; allowed are partition "
                       "columns, string and number literals, comparisons (= != < <= > >=, "
                       "IN (...)), AND, OR, NOT and parentheses")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokens(text)
        self.i = 0
        self.columns: list[str] = []

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, text: str | None = None) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != kind or (text is not None and tok.text != text):
            where = f"{tok.text!r} at character {tok.at + 1}" if tok else "the end"
            raise _error(self.text, f"expected {text or kind}, found {where}")
        self.i += 1
        return tok

    def accept(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return True
        return False

    def parse(self) -> str:
        if not self.toks:
            raise _error(self.text, "empty filter")
        sql = self.or_()
        if self.peek() is not None:
            tok = self.peek()
            raise _error(self.text, f"unexpected {tok.text!r} at character {tok.at + 1}")
        return sql

    def or_(self) -> str:
        parts = [self.and_()]
        while self.accept("keyword", "OR"):
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_(self) -> str:
        parts = [self.not_()]
        while self.accept("keyword", "AND"):
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_(self) -> str:
        if self.accept("keyword", "NOT"):
            return f"(NOT {self.not_()})"
        if self.accept("punct", "("):
            inner = self.or_()
            self.take("punct", ")")
            return inner
        return self.test()

    def operand(self) -> str:
        tok = self.peek()
        if tok is not None and tok.kind in ("name", "quoted"):
            self.i += 1
            name = tok.text.strip("`")
            self.columns.append(name)
            return f"`{name}`"
        return self.literal()

    def literal(self) -> str:
        tok = self.peek()
        if tok is None:
            raise _error(self.text, "expected a column or a literal, found the end")
        self.i += 1
        if tok.kind == "number":
            return tok.text
        if tok.kind == "string":
            quote = tok.text[0]
            body = tok.text[1:-1].replace(quote * 2, quote)
            body = re.sub(r"\\(.)", r"\1", body)
            return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if tok.kind == "keyword" and tok.text in ("TRUE", "FALSE"):
            return tok.text
        raise _error(self.text, f"expected a column or a literal, found {tok.text!r} at "
                                f"character {tok.at + 1}")

    def test(self) -> str:
        left = self.operand()
        negate = self.accept("keyword", "NOT")
        if self.accept("keyword", "IN"):
            self.take("punct", "(")
            items = [self.literal()]
            while self.accept("punct", ","):
                items.append(self.literal())
            self.take("punct", ")")
            return f"({left} {'NOT IN' if negate else 'IN'} ({', '.join(items)}))"
        if negate:
            raise _error(self.text, "NOT here must be followed by IN")
        op = self.take("op").text
        right = self.operand()
        return f"({left} {_OPS.get(op, op)} {right})"


@dataclass(frozen=True)
class Filter:
    """A parsed ``corpus.where``: the SQL written back and the columns it names."""

    sql: str
    columns: tuple[str, ...]


def parse(text: str) -> Filter:
    """Parse a ``corpus.where`` filter.

    Parameters
    ----------
    text : str
        The filter as configured.

    Returns
    -------
    Filter
        The SQL to hand Spark and the column names used.

    Raises
    ------
    ConfigError
        Anything outside the grammar of this module (exit code 2).

    Examples
    --------
    >>> parse("date >= '2026-11-01' and lang in ('en', 'de')").sql
    "((`date` >= '2026-11-01') AND (`lang` IN ('en', 'de')))"
    """
    p = _Parser(text)
    sql = p.parse()
    return Filter(sql, tuple(dict.fromkeys(p.columns)))


def check_columns(flt: Filter, text: str, partition_columns: list[str]) -> None:
    """Refuse a filter that names anything but the corpus's partition columns.

    Raises
    ------
    ConfigError
        Naming the unknown columns and the partition columns there are.
    """
    unknown = [c for c in flt.columns if c not in partition_columns]
    if unknown:
        have = ", ".join(partition_columns) or "none: the corpus has no key=value folders"
        raise ConfigError(f"config key corpus.where = {text!r} names {', '.join(unknown)}: "
                          f"not a partition column (partition columns: {have})")
