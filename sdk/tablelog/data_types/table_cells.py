"""Cells of a `Table` apart from any table: linked key and index values,
comparing cells, and the wording of cell errors.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

import numpy as np

from tablelog.data_types.dtypes import DType, admits_none, is_missing, type_of
from tablelog.errors import TableArgumentError, TableRowError, TableTypeError
from tablelog.wire import _timestamp_ms as timestamp_ms  # the precision tables are stored with

NUMERIC_KINDS = "biuf"  # numpy dtype kinds that convert to plain numbers


class TableIndex(int):
    """A row index that remembers its table (values of `Table.get_index`).

    Put into another table, it makes that column a foreign index into this one.
    """

    _table: Any

    def __new__(cls, index: int, table: Any = None) -> TableIndex:
        obj = super().__new__(cls, index)
        obj._table = table
        return obj

    def set_table(self, table: Any) -> None:
        """Link this index to `table` (wandb's name)."""
        self._table = table

    def get_row(self) -> dict[Any, Any]:
        """The row this index points at, as column name -> cell ({} if unlinked), as wandb."""
        if self._table is None:
            return {}
        return dict(zip(self._table.columns, self._table.data[self], strict=True))


class TableKey(str):
    """A key cell that remembers the table and column it belongs to (see `Table.set_pk`).

    Put into another table, it makes that column a foreign key into this one.
    """

    _table: Any
    _col_name: Any

    def __new__(cls, value: str, table: Any = None, col_name: Any = None) -> TableKey:
        obj = super().__new__(cls, value)
        obj._table, obj._col_name = table, col_name
        return obj

    def set_table(self, table: Any, col_name: Any) -> None:
        """Link this key to column `col_name` of `table` (wandb's name)."""
        if col_name not in table.columns:
            raise TableArgumentError(f"the table has no column named {col_name!r}")
        self._table, self._col_name = table, col_name


class ColumnTypes(dict[Any, DType]):
    """Column name -> type: a copy, readable as a dict or as wandb's typed dict is
    inspected (``table._column_types.params["type_map"][name]``)."""

    @property
    def params(self) -> dict[str, dict[Any, DType]]:
        return {"type_map": dict(self)}


def short_repr(value: Any, limit: int = 60, *, quote: bool = True) -> str:
    """repr(value) (str(value) without `quote`), cut to `limit` characters for messages."""
    text = repr(value) if quote else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def column_list(columns: Sequence[Any], limit: int = 6) -> str:
    """'a, b, c, …' naming the first `limit` columns."""
    names = [str(c) for c in columns[:limit]]
    return ", ".join(names + (["…"] if len(columns) > limit else []))


def row_length_error(columns: Sequence[Any], found: int, row: int) -> TableRowError:
    """The error for a row with the wrong number of cells."""
    return TableRowError(f"Table expects {len(columns)} columns ({column_list(columns)}), "
                         f"got {found} values in row {row}")


def cell_type_error(column: Any, dtype: DType, value: Any, row: int) -> TableTypeError:
    """The error for a cell that does not fit its column's type (wandb's first words)."""
    if is_missing(value):
        return TableTypeError(f"Data row contained incompatible types: "
                              f"Column {column!r} does not accept None (it is not optional; "
                              f"expects {dtype.describe()}), got {short_repr(value)} in row {row}")
    return TableTypeError(f"Data row contained incompatible types: "
                          f"Column {column!r} expects {dtype.describe()}, got "
                          f"{short_repr(value)} of type {type(value).__name__} "
                          f"({type_of(value).describe()}) in row {row}")


def cast_error(column: Any, dtype: DType, value: Any, row: int) -> TableTypeError:
    """The error for an existing cell that a new column type rejects (wandb's wording first)."""
    found = "None" if is_missing(value) else type_of(value).describe()
    extra = "" if not is_missing(value) or admits_none(dtype) else " (not optional)"
    return TableTypeError(f"Existing data {short_repr(value, quote=False)}, of type {found} "
                          f"cannot be cast to {dtype.describe()}{extra}: column {column!r}, "
                          f"row {row}")


# ---------------------------------------------------------------------------
# comparing cells


def _as_utc_ms(value: Any) -> int | None:
    """A timestamp as stored on the wire (ms since the epoch, naive as UTC); None if not one."""
    if isinstance(value, _dt.date | np.datetime64):
        return timestamp_ms(value)
    return None


def cells_equal(a: Any, b: Any) -> bool:
    """Cell equality as tables compare it: numpy-aware, None == NaN, media by ``==``,
    timestamps by instant at millisecond precision (naive counts as UTC)."""
    if a is b:
        return True
    if is_missing(a) or is_missing(b):
        return is_missing(a) and is_missing(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            left, right = np.asarray(a), np.asarray(b)
            if left.shape != right.shape:
                return False
            if left.dtype.kind in NUMERIC_KINDS and right.dtype.kind in NUMERIC_KINDS:
                return bool(np.array_equal(left, right, equal_nan=True))
            return all(cells_equal(x, y) for x, y in zip(left.ravel().tolist(),
                                                         right.ravel().tolist(), strict=True))
        except (ValueError, TypeError):
            return False
    ta, tb = _as_utc_ms(a), _as_utc_ms(b)
    if ta is not None or tb is not None:
        return ta == tb
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(cells_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(cells_equal(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def rows_difference(columns: Sequence[Any], rows_a: Sequence[Sequence[Any]],
                    rows_b: Sequence[Sequence[Any]]) -> str | None:
    """The first cell that differs between two equally long lists of rows, or None."""
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=True)):
        try:
            if ra == rb:  # plain rows: one C-level comparison
                continue
        except (ValueError, TypeError):  # arrays in cells
            pass
        if len(ra) != len(rb):
            return f"row {i} has {len(ra)} cells in one table and {len(rb)} in the other"
        for name, a, b in zip(columns, ra, rb, strict=True):
            if not cells_equal(a, b):
                return f"row {i}, column {name!r}: {short_repr(a)} != {short_repr(b)}"
    return None
