"""The table page's filter box: a simple expression, or else a text match.

    score > 0.5          label == cat         label != "a b"
    "my col" <= 3        caption ~ dog        (~: contains, any case)

An expression is ``COLUMN OP VALUE``: COLUMN is a column name, bare or quoted
('…', "…" or `…`); OP one of ``== = != > >= < <= ~``; VALUE a number, a quoted
string, ``true``/``false``/``null``/``none``, or else the rest of the text as a
string. Anything that does not parse as an expression over a column of the
table is a plain case-insensitive text match across all cells (the API's
``q``). Pure functions, no I/O.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tablelog_server.tables import cell_text

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "=": operator.eq, "!=": operator.ne, ">": operator.gt,
    ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_EXPRESSION = re.compile(
    r"""^\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|`(?P<bq>[^`]*)`|(?P<bare>[^\s=!<>~]+))"""
    r"""\s*(?P<op>==|!=|>=|<=|=|>|<|~)\s*(?P<value>.*?)\s*$""", re.DOTALL)
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None, "none": None}


@dataclass(frozen=True)
class ColumnFilter:
    """Keeps rows whose cell in column `index` satisfies `op value`. Frozen (hashable),
    so the table reader can cache the row order it selects."""

    column: str
    index: int
    op: str
    value: str | float | bool | None

    def __call__(self, row: list[Any]) -> bool:
        cell = row[self.index] if self.index < len(row) else None
        if self.op == "~":
            return str(self.value).lower() in cell_text(cell).lower()
        if self.value is None or isinstance(self.value, bool):
            same = cell is self.value or (isinstance(cell, bool) and cell == self.value)
            if self.op in ("==", "="):
                return same
            return not same if self.op == "!=" else False
        compare = _COMPARE[self.op]
        if isinstance(self.value, float):
            if isinstance(cell, bool) or not isinstance(cell, int | float):
                return self.op == "!="
            if isinstance(cell, float) and math.isnan(cell):
                return self.op == "!="
            # No float(cell): an int past 1e308 has none, and ints and floats compare
            # exactly as they are.
            return compare(cell, self.value)
        if isinstance(cell, str):
            return compare(cell, self.value)
        # A string compared with a non-string cell: only (in)equality of its text.
        if self.op in ("==", "=", "!="):
            return compare(cell_text(cell), self.value)
        return False

    def describe(self) -> str:
        """The filter as the page states it."""
        return f"{self.column} {self.op} {self.value!r}"


@dataclass(frozen=True)
class TableFilter:
    """What the filter box asked for: a column expression, a text match, or nothing."""

    where: ColumnFilter | None = None
    text: str | None = None

    @property
    def active(self) -> bool:
        """Whether any row may be left out."""
        return self.where is not None or bool(self.text)

    def matches(self, row: list[Any]) -> bool:
        """Whether `row` is kept (for tables filtered in memory, e.g. joins)."""
        if self.where is not None:
            return self.where(row)
        if self.text:
            needle = self.text.lower()
            return any(needle in cell_text(c).lower() for c in row)
        return True


def _value(text: str) -> str | float | bool | None:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if _NUMBER.match(text):
        return float(text)
    if text.lower() in _CONSTANTS:
        constant: bool | None = _CONSTANTS[text.lower()]
        return constant
    return text


def parse_filter(text: str | None, columns: Sequence[Any]) -> TableFilter:
    """The filter `text` means for a table with `columns` (see the module docstring)."""
    text = (text or "").strip()
    if not text:
        return TableFilter()
    match = _EXPRESSION.match(text)
    if match is not None:
        name = next(g for g in (match["dq"], match["sq"], match["bq"], match["bare"])
                    if g is not None)
        names = [str(c) for c in columns]
        if name in names and match["value"] != "":
            value = _value(match["value"])
            op = match["op"]
            if op in (">", ">=", "<", "<=") and (value is None or isinstance(value, bool)):
                return TableFilter(text=text)
            return TableFilter(where=ColumnFilter(name, names.index(name), op, value))
    return TableFilter(text=text)
