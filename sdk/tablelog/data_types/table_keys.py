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

from typing import Any

from tablelog.data_types.dtype_core import DType, PrimaryKeyType, UnionType
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
