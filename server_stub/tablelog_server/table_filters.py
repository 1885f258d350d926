"""The filter language of a table's rows (the viewer's filter box and the API's ``q=``).

    score > 0.5 and label == "cat"        not (label in ["cat", "dog"]) or score >= 1e-3
    guess != truth                        caption contains "dog"        note == null
    `my col` <= 3                         "free text"    (a lone string: a text search)

- Operands: a column, bare (``score``) or in backticks (`` `my col` ``, for names
  with spaces or that are keywords); a number; a string in double or single quotes
  (``\\"`` and ``\\\\`` escape); ``null``/``none``, ``true``, ``false``, ``inf``,
  ``-inf``, ``nan``.
- Comparisons ``== = != < <= > >=``, ``in [v, ...]``, ``not in [...]``,
  ``contains`` (also ``~``: case-insensitive text containment), between a column
  and a value or two columns; combined with ``and``, ``or``, ``not`` and
  parentheses (``not`` binds tighter than ``and``, ``and`` than ``or``).
- Values compare as the cells are: numbers with numbers (exactly: an int is not
  made a float), strings with strings (in code-point order), booleans and null
  only by (in)equality. A number never equals a string or a boolean, NaN equals
  nothing, and an ordering between different kinds is false. A string compared by
  (in)equality with another kind of cell (a list, an image) compares the cell's text.
- Nothing is guessed: a bare word that is not a column is an error naming it (with
  the columns there are, and how to quote it as text), so is any text that does not
  parse (with where). Only a text with no operator or keyword at all, or one quoted
  string, is a text search across all cells, and `TableFilter` says which it is.

Pure functions, no I/O; the compiled filter is a frozen dataclass tree, hashable,
so the table reader can cache the rows it selects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tablelog_server.tables import cell_text

_CONSTANTS: dict[str, Any] = {"null": None, "none": None, "true": True, "false": False,
                              "inf": math.inf, "+inf": math.inf, "-inf": -math.inf,
                              "nan": math.nan}
KEYWORDS = frozenset({"and", "or", "not", "in", "contains", *_CONSTANTS})
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![\w.]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<column>`[^`]*`)
  | (?P<op>==|!=|<=|>=|=|<|>|~)
  | (?P<punct>[()\[\],])
  | (?P<sign>[+-](?=\d|\.\d))
  | (?P<word>[^\s()\[\],=!<>~"'`]+)
  | (?P<bad>.)
""", re.VERBOSE | re.DOTALL)


class FilterError(ValueError):
    """A filter that cannot be read: what is wrong, and where."""


# -- the tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    index: int

    def value(self, row: Sequence[Any]) -> Any:
        return row[self.index] if self.index < len(row) else None

    def describe(self) -> str:
        return self.name if re.fullmatch(r"[\w./-]+", self.name) and \
            self.name.lower() not in KEYWORDS else f"`{self.name}`"


@dataclass(frozen=True)
class Literal:
    constant: Any

    def value(self, row: Sequence[Any]) -> Any:
        return self.constant

    def describe(self) -> str:
        if self.constant is None:
            return "null"
        if isinstance(self.constant, bool):
            return "true" if self.constant else "false"
        if isinstance(self.constant, str):
            return '"' + self.constant.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return repr(self.constant)


Operand = Column | Literal


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(a: Any, b: Any) -> bool:
    """Equality of two cells (or a cell and a value), as the module docstring says."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) or _number(b):
        return _number(a) and _number(b) and a == b  # NaN == NaN is False
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return cell_text(a) == cell_text(b)
    return False


def ordered(op: str, a: Any, b: Any) -> bool:
    if _number(a) and _number(b):
        if (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
            return False
    elif not (isinstance(a, str) and isinstance(b, str)):
        return False
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str  # == != < <= > >= contains
    right: Operand

    def __call__(self, row: Sequence[Any]) -> bool:
        a, b = self.left.value(row), self.right.value(row)
        if self.op == "==":
            return equal(a, b)
        if self.op == "!=":
            return not equal(a, b)
        if self.op == "contains":
            return a is not None and b is not None and \
                cell_text(b).lower() in cell_text(a).lower()
        return ordered(self.op, a, b)

    def describe(self) -> str:
        return f"{self.left.describe()} {self.op} {self.right.describe()}"


@dataclass(frozen=True)
class In:
    left: Operand
    values: tuple[Literal, ...]
    negated: bool = False

    def __call__(self, row: Sequence[Any]) -> bool:
        a = self.left.value(row)
        return any(equal(a, v.constant) for v in self.values) != self.negated

    def describe(self) -> str:
        inside = ", ".join(v.describe() for v in self.values)
        return f"{self.left.describe()} {'not in' if self.negated else 'in'} [{inside}]"


@dataclass(frozen=True)
class Not:
    inner: Node

    def __call__(self, row: Sequence[Any]) -> bool:
        return not self.inner(row)

    def describe(self) -> str:
        return f"not ({self.inner.describe()})"


@dataclass(frozen=True)
class Junction:
    op: str  # and | or
    parts: tuple[Node, ...]

    def __call__(self, row: Sequence[Any]) -> bool:
        if self.op == "and":
            return all(p(row) for p in self.parts)
        return any(p(row) for p in self.parts)

    def describe(self) -> str:
        return f" {self.op} ".join(
            f"({p.describe()})" if isinstance(p, Junction) else p.describe() for p in self.parts)


Node = Compare | In | Not | Junction


def rebind(node: Node, place: Mapping[str, Operand]) -> Node:
    """`node` with each column operand replaced by `place[name]`: the filter of a view
    over several tables (`tablelog_server.table_views`) read against one of them, where
    a column is another index, a constant (the table's run) or missing (null)."""
    def operand(o: Operand) -> Operand:
        return place[o.name] if isinstance(o, Column) else o

    if isinstance(node, Compare):
        return Compare(operand(node.left), node.op, operand(node.right))
    if isinstance(node, In):
        return In(operand(node.left), node.values, node.negated)
    if isinstance(node, Not):
        return Not(rebind(node.inner, place))
    return Junction(node.op, tuple(rebind(p, place) for p in node.parts))


@dataclass(frozen=True)
class TableFilter:
    """What the filter text asked for: an expression (`where`), a text search, or nothing."""

    where: Node | None = None
    text: str | None = None

    @property
    def active(self) -> bool:
        return self.where is not None or bool(self.text)

    def matches(self, row: list[Any]) -> bool:
        """Whether `row` is kept (for tables filtered in memory, e.g. joins)."""
        if self.where is not None:
            return self.where(row)
        if self.text:
            needle = self.text.lower()
            return any(needle in cell_text(c).lower() for c in row)
        return True


# -- reading it -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # number string column op punct word end
    text: str
    at: int  # character offset, for messages


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    sign = ""
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "bad"
        if kind == "space":
            continue
        if kind == "bad":
            raise FilterError(f"unexpected {m.group()!r} at character {m.start() + 1}")
        if kind == "sign":
            sign = m.group()
            continue
        out.append(_Token(kind, sign + m.group() if kind == "number" else m.group(),
                          m.start() - len(sign)))
        sign = ""
    out.append(_Token("end", "", len(text)))
    return out


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Parser:
    def __init__(self, text: str, columns: Sequence[Any]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.names = [str(c) for c in columns]

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def word(self, *words: str) -> bool:
        t = self.peek()
        return t.kind == "word" and t.text.lower() in words

    def take(self) -> _Token:
        t = self.tokens[self.pos]
        self.pos += 1
        return t

    def fail(self, what: str, token: _Token | None = None) -> FilterError:
        t = token or self.peek()
        found = "the end" if t.kind == "end" else repr(t.text)
        return FilterError(f"expected {what} at character {t.at + 1}, found {found}")

    def expression(self) -> Node:
        node = self.disjunction()
        if self.peek().kind != "end":
            raise self.fail("'and', 'or' or the end")
        return node

    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.word("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Junction("or", tuple(parts))

    def conjunction(self) -> Node:
        parts = [self.negation()]
        while self.word("and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))

    def negation(self) -> Node:
        if self.word("not"):
            self.take()
            return Not(self.negation())
        if self.peek().text == "(":
            self.take()
            node = self.disjunction()
            if self.peek().text != ")":
                raise self.fail("')'")
            self.take()
            return node
        return self.comparison()

    def comparison(self) -> Node:
        left = self.operand()
        t = self.peek()
        if t.kind == "op":
            self.take()
            op = {"=": "==", "~": "contains"}.get(t.text, t.text)
            return Compare(left, op, self.operand())
        if self.word("contains"):
            self.take()
            return Compare(left, "contains", self.operand())
        negated = False
        if self.word("not"):
            self.take()
            negated = True
            if not self.word("in"):
                raise self.fail("'in' after 'not'")
        if self.word("in"):
            self.take()
            return In(left, self.values(), negated)
        raise self.fail("a comparison (== != < <= > >= in contains)")

    def values(self) -> tuple[Literal, ...]:
        if self.peek().text != "[":
            raise self.fail("'[' to start the list of values")
        self.take()
        out: list[Literal] = []
        while True:
            t = self.peek()
            value = self.operand()
            if not isinstance(value, Literal):
                raise self.fail("a value (a number, a quoted string, null, true, false)", t)
            out.append(value)
            if self.peek().text == ",":
                self.take()
                continue
            if self.peek().text == "]":
                self.take()
                return tuple(out)
            raise self.fail("',' or ']'")

    def operand(self) -> Operand:
        t = self.take()
        if t.kind == "number":
            number = float(t.text)
            as_int = re.fullmatch(r"[+-]?\d+", t.text) is not None
            return Literal(int(t.text) if as_int else number)
        if t.kind == "string":
            return Literal(_unquote(t.text))
        if t.kind == "column":
            return self.column(t.text[1:-1], t)
        if t.kind == "word":
            if t.text.lower() in _CONSTANTS:
                return Literal(_CONSTANTS[t.text.lower()])
            if t.text.lower() in KEYWORDS:
                raise self.fail("a column or a value", t)
            return self.column(t.text, t)
        raise self.fail("a column or a value", t)

    def column(self, name: str, t: _Token) -> Column:
        if name in self.names:
            return Column(name, self.names.index(name))
        shown = ", ".join(self.names[:20]) + (", ..." if len(self.names) > 20 else "")
        raise FilterError(f"unknown column {name!r} at character {t.at + 1} (the columns: "
                          f"{shown}); to compare with the text, quote it: \"{name}\"")


def _plain_text(tokens: list[_Token]) -> bool:
    """Text with no operator, keyword, bracket or column quote: a text search."""
    return all(t.kind in ("word", "number", "end") and t.text.lower() not in KEYWORDS
               for t in tokens)


def parse_filter(text: str | None, columns: Sequence[Any]) -> TableFilter:
    """The filter `text` means for a table with `columns` (see the module docstring);
    raises FilterError for one that cannot be read."""
    text = (text or "").strip()
    if not text:
        return TableFilter()
    parser = _Parser(text, columns)
    tokens = parser.tokens
    if _plain_text(tokens):
        return TableFilter(text=text)
    if len(tokens) == 2 and tokens[0].kind == "string":  # one quoted string
        return TableFilter(text=_unquote(tokens[0].text))
    return TableFilter(where=parser.expression())
