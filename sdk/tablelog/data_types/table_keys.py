"""Key columns of a `Table`: which column types are keys, how their cells are linked,
and what wandb refuses when a column becomes (or stops being) one.

A key column holds linked cells: `TableKey` (a str) for a primary key, or a
foreign key into another table's key column, and `TableIndex` (an int) for a
foreign index, a row number of another table. As in wandb, a column becomes a
key column three ways: `Table.set_pk`/`set_fk`, `Table.cast(col,
PrimaryKeyType() | ForeignKeyType(table, col) | ForeignIndexType(table))`, or by
taking a linked cell (a value of another table's key column, or of its
`get_index()`); from then on every cell added is linked too, and None is
refused (keys are never optional).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tablelog.data_types.dtype_core import PRIMARY_KEY, DType, PrimaryKeyType, UnionType
from tablelog.data_types.dtype_infer import ForeignIndexType, ForeignKeyType
from tablelog.data_types.table_cells import TableIndex, TableKey
from tablelog.errors import TableArgumentError, TableArgumentTypeError

KEY_TYPES = (PrimaryKeyType, ForeignKeyType, ForeignIndexType)


def key_type(dtype: DType) -> DType | None:
    """The key type a column type is or holds (as a union member), else None."""
    if isinstance(dtype, KEY_TYPES):
        return dtype
    if isinstance(dtype, UnionType):
        return next((m for m in dtype.members if isinstance(m, KEY_TYPES)), None)
    return None


def linked(value: Any, dtype: DType, table: Any, col_name: Any) -> Any:
    """`value` as a cell of key column `col_name` of `table`, whose type is `dtype`."""
    if isinstance(dtype, ForeignIndexType):
        if isinstance(value, TableIndex) and value._table is dtype.table:
            return value
        return TableIndex(value, dtype.table)
    target, column = ((dtype.table, dtype.col_name) if isinstance(dtype, ForeignKeyType)
                      else (table, col_name))
    if isinstance(value, TableKey) and value._table is target and value._col_name == column:
        return value
    return TableKey(value, target, column)


def check_new_key(dtype: DType, *, optional: bool, table: Any, column: Any,
                  current: DType | None, pk_column: Any) -> None:
    """Refuse, with wandb's messages, a column becoming a key of type `dtype`.

    `current` is the key type the column already has (None if it is no key
    column); `pk_column` names the table's primary key column, if it has one.
    """
    if optional:
        raise TableArgumentError("Primary keys, foreign keys, and foreign indexes cannot be "
                                 "optional.")
    # wandb refuses a foreign key into its own table (a foreign index into it is allowed)
    if isinstance(dtype, ForeignKeyType) and dtype.table is table:
        raise TableArgumentError("Cannot set a foreign table reference to same table.")
    if isinstance(dtype, PrimaryKeyType) and pk_column is not None and pk_column != column:
        raise TableArgumentError(f"Cannot have multiple primary keys - {pk_column} is already "
                                 f"set as the primary key (a table has only one).")
    if current is not None and current != dtype:
        raise unset_key_error(column, current)


def unset_key_error(column: Any, current: DType) -> TableArgumentTypeError:
    """The error for retyping a key column: wandb means to assert this, but its cast refuses
    the linked cells first, with a TypeError; ours is both."""
    what = "primary key" if isinstance(current, PrimaryKeyType) else "foreign key"
    return TableArgumentTypeError(f"Cannot unset {what} (column {column}): column {column!r} is "
                                  f"a key column; its type cannot change")


class KeyColumns:
    """The key-column half of `Table`: `set_pk`, `set_fk`, and making a column a key
    column when a linked cell arrives (`Table` holds the state; see its attributes)."""

    columns: list[Any]
    data: list[list[Any]]
    _types: list[DType]
    _fast: list[frozenset[type]]
    _keys: dict[int, DType]
    _pk: int | None

    if TYPE_CHECKING:  # provided by Table
        def _position(self, name: Any) -> int: ...
        def _set_type(self, j: int, dtype: DType) -> None: ...
        def _cast_checked(self, j: int, dtype: DType, optional_: bool) -> DType: ...
        def _changed(self, operation: str, *, structure: bool) -> None: ...

    def set_pk(self, col_name: Any) -> None:
        """Make a string column the table's primary key (no None; one per table)."""
        self._make_key(self._position(col_name), PRIMARY_KEY)
        self._changed("set_pk", structure=True)

    def set_fk(self, col_name: Any, table: Any, table_col: Any) -> None:
        """Make a string column a foreign key into `table`'s column `table_col`."""
        j = self._position(col_name)
        if j == self._pk:
            raise TableArgumentError(f"column {col_name!r} is the primary key; it cannot also "
                                     f"be a foreign key")
        self._make_key(j, ForeignKeyType(table, table_col))
        self._changed("set_fk", structure=True)

    def _make_key(self, j: int, dtype: DType, optional_: bool = False) -> None:
        """Make column `j` a key column of type `dtype`: every cell checked, then linked."""
        pk = None if self._pk is None else self.columns[self._pk]
        check_new_key(dtype, optional=optional_, table=self, column=self.columns[j],
                           current=self._keys.get(j), pk_column=pk)
        new = self._key_checked(j, dtype)
        self._set_type(j, new)
        self._link_column(j, new)

    def _key_checked(self, j: int, dtype: DType) -> DType:
        """Column `j`'s key type after checking its cells (None refused), or the error."""
        key = key_type(dtype)
        assert key is not None
        if j not in self._keys:  # a linked cell made it a key: what wandb refuses, refused
            pk = None if self._pk is None else self.columns[self._pk]
            check_new_key(key, optional=False, table=self, column=self.columns[j],
                               current=None, pk_column=pk)
        return self._cast_checked(j, key, False)

    def _link_column(self, j: int, key: DType) -> None:
        """Register column `j` as a key column of type `key` and link its cells."""
        self._keys[j] = key
        self._fast[j] = frozenset()  # new cells must be linked: no fast path
        if isinstance(key, PrimaryKeyType):
            self._pk = j
        name = self.columns[j]
        for row in self.data:
            row[j] = linked(row[j], key, self, name)

    def _link_new_key_columns(self, columns: list[int]) -> None:
        """Columns among `columns` whose type became a key type (bulk input of linked cells)."""
        for j in columns:
            if j not in self._keys and key_type(self._types[j]) is not None:
                new = self._key_checked(j, self._types[j])
                self._set_type(j, new)
                self._link_column(j, new)
