"""`JoinedTable`: two tables and the key that joins them, as ``wandb.JoinedTable``.

Like wandb, a JoinedTable only records what to join; the artifact layer
stores it and resolves tables given as entry names (it replaces ``_table1``
and ``_table2``). Beyond wandb, `to_table` performs the join locally.
"""

from __future__ import annotations

from typing import Any

from tablelog import wire
from tablelog.data_types.dtypes import (
    NUMBER,
    STRING,
    DType,
    ForeignIndexType,
    ForeignKeyType,
    PrimaryKeyType,
    is_missing,
    optional,
    union,
)
from tablelog.data_types.table import Table
from tablelog.errors import TableRowError, TableTypeError

JOIN_HOWS = ("inner", "left", "outer")


def _check_table(value: Any, which: str) -> Table | str:
    if isinstance(value, Table | str):
        return value
    if hasattr(value, "_artifact") and isinstance(getattr(value, "path", None), str):
        # an artifact entry (`artifact.get_entry(name)`), as wandb takes: the table it
        # stores once logged or read back, else the entry's name in its artifact
        art = value._artifact
        if art is not None and art._manifest is not None:
            table = value.get()
            if isinstance(table, Table):
                return table
            raise TableTypeError(f"JoinedTable {which}: entry {value.path!r} is not a table")
        return str(value.path)
    raise TableTypeError(f"JoinedTable {which} must be a Table or the entry name of a table, "
                         f"got {type(value).__name__}")


def _unlinked(dtype: DType) -> DType:
    """A key column's type as a plain one: joined rows are no longer keys."""
    if isinstance(dtype, PrimaryKeyType | ForeignKeyType):
        return STRING
    if isinstance(dtype, ForeignIndexType):
        return NUMBER
    return dtype


class JoinedTable:
    """Two tables (Table objects or entry names) joined on `join_key`.

    `join_key` is one column name present in both tables, or a list
    ``[left_key, right_key]``.
    """

    _log_type = "joined-table"

    def __init__(self, table1: Table | str, table2: Table | str,
                 join_key: str | list[str]) -> None:
        self._table1 = _check_table(table1, "table1")
        self._table2 = _check_table(table2, "table2")
        if isinstance(join_key, str):
            self._join_key: str | list[str] = join_key
        elif (isinstance(join_key, list | tuple) and len(join_key) == 2
              and all(isinstance(k, str) for k in join_key)):
            self._join_key = list(join_key)
        else:
            raise TableRowError(f"join_key must be a column name or a list of two column "
                                f"names [left_key, right_key], got {join_key!r}")

    @property
    def _key_pair(self) -> tuple[str, str]:
        key = self._join_key
        return (key, key) if isinstance(key, str) else (key[0], key[1])

    def to_table(self, how: str = "inner") -> Table:
        """Join the two tables into a new Table, in O(n + m) with a hash of table2's keys.

        `how`: "inner" (matching rows only), "left" (every row of table1) or
        "outer" (every row of both). The key comes first, named after table1's
        key column, then table1's other columns, then table2's. A non-key
        column name found in both tables becomes ``name_1`` and ``name_2``.
        Rows of table1 keep their order, each followed by its matches in
        table2's order; outer joins then add table2's unmatched rows. Missing
        keys (None, NaN) match nothing. Cells with no partner are None.
        """
        if how not in JOIN_HOWS:
            raise TableRowError(f"how must be one of {', '.join(JOIN_HOWS)}, got {how!r}")
        left, right = self._table1, self._table2
        if not isinstance(left, Table) or not isinstance(right, Table):
            name = left if isinstance(left, str) else right
            raise TableTypeError(f"table {name!r} is an entry name; get the table from its "
                                 f"artifact before joining")
        left_key, right_key = self._key_pair
        for table, key, which in ((left, left_key, "table1"), (right, right_key, "table2")):
            if key not in table._positions:
                raise TableRowError(f"join key {key!r} is not a column of {which} (columns: "
                                    f"{', '.join(map(str, table.columns))})")
        lk, rk = left._positions[left_key], right._positions[right_key]
        left_rest = [j for j in range(len(left.columns)) if j != lk]
        right_rest = [j for j in range(len(right.columns)) if j != rk]

        matches: dict[Any, list[int]] = {}
        for i, row in enumerate(right.data):
            key = row[rk]
            if not is_missing(key):
                matches.setdefault(self._hashable(key, right_key), []).append(i)
        rows: list[list[Any]] = []
        no_right = [None] * len(right_rest)
        matched_right: set[int] = set()
        for row in left.data:
            key = row[lk]
            found = [] if is_missing(key) else matches.get(self._hashable(key, left_key), [])
            base = [key, *(row[j] for j in left_rest)]
            for i in found:
                rows.append(base + [right.data[i][j] for j in right_rest])
            matched_right.update(found)
            if not found and how != "inner":
                rows.append(base + no_right)
        if how == "outer":
            no_left = [None] * len(left_rest)
            rows.extend([r[rk], *no_left, *(r[j] for j in right_rest)]
                        for i, r in enumerate(right.data) if i not in matched_right)

        key_type = _unlinked(left._types[lk])
        if how == "outer":
            key_type = union(key_type, _unlinked(right._types[rk]))
        left_types = [_unlinked(left._types[j]) for j in left_rest]
        right_types = [_unlinked(right._types[j]) for j in right_rest]
        if how == "outer":
            left_types = [optional(t) for t in left_types]
        if how != "inner":
            right_types = [optional(t) for t in right_types]
        columns = wire.joined_column_names(left_key, [left.columns[j] for j in left_rest],
                                       [right.columns[j] for j in right_rest])
        return Table._from_typed_rows(columns, [key_type, *left_types, *right_types], rows)

    @staticmethod
    def _hashable(key: Any, column: str) -> Any:
        try:
            hash(key)
        except TypeError:
            raise TableTypeError(f"join key column {column!r} holds an unhashable value "
                                 f"of type {type(key).__name__}") from None
        return key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JoinedTable):
            return NotImplemented
        return (self._join_key == other._join_key and self._table1 == other._table1
                and self._table2 == other._table2)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        def name(t: Table | str) -> str:
            return repr(t) if isinstance(t, str) else f"<Table {len(t.data)} rows>"

        return f"<JoinedTable {name(self._table1)} ⋈ {name(self._table2)} on {self._join_key!r}>"
