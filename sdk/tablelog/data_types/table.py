"""`Table`: rows and typed columns, with the API of ``wandb.Table``.

A Table is a value: it does no I/O and knows nothing about runs. Each column
has a `DType` (see `tablelog.data_types.dtypes`), fixed by the column's first non-None
value unless `dtype` declares it. Appending a row checks every cell against a
per-column set of exact classes first (``type(v) in fast``), so plain rows
cost a few set lookups; only unusual values go through the general check.
Bulk constructors check column by column.

Where wandb checks an argument with a bare ``assert``, the error is a
`TableArgumentError` / `TableArgumentTypeError` (`tablelog.errors`): a
ValueError / TypeError with a message, and an AssertionError as wandb's is.
Key columns (`set_pk`, `set_fk`, linked cells) are `table_keys.KeyColumns`.

Where wandb differs, on purpose: duplicate column names are rejected; a row
limit is never enforced here (the run layer enforces `Table.MAX_ARTIFACT_ROWS`
when logging, and never truncates).

Hooks for the run layer (private, stable):

- ``_structure_version``: bumped by every change that can alter existing rows
  or columns (add_column, add_computed_columns, cast, set_pk, set_fk); not by
  appends, whose count is ``len(table.data)``.
- ``_mutation_hook``: called with the operation's name after each successful
  change (add_data, add_row, add_column, add_computed_columns, cast, set_pk, set_fk).
- ``_column_types_plain()`` and ``Table._from_wire(...)``: the column types as
  plain data, and a fast rebuild (no per-cell checks) from what was stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from tablelog.data_types import table_cells as cells
from tablelog.data_types import table_input as build
from tablelog.data_types import table_keys as keys
from tablelog.data_types.dtypes import (
    OPTIONAL_UNKNOWN,
    PRIMARY_KEY,
    UNKNOWN,
    DType,
    ForeignIndexType,
    ForeignKeyType,
    PrimaryKeyType,
    check_column,
    dtype_from_plain,
    dtype_from_spec,
)
from tablelog.data_types.dtypes import optional as optional_type
from tablelog.data_types.media import Media
from tablelog.data_types.table_cells import TableIndex, TableKey
from tablelog.errors import (
    IncrementalTableError,
    TableArgumentError,
    TableArgumentTypeError,
    TableRowError,
    WireError,
)

LOG_MODES = ("IMMUTABLE", "MUTABLE", "INCREMENTAL")
_set_contains = frozenset.__contains__
DEFAULT_COLUMNS = ("Input", "Output", "Expected")
# The general row check may widen column types: one thread at a time (for every table,
# so that a Table stays a plain picklable value; the fast path takes no lock).
_ROWS_LOCK = threading.Lock()


# wandb's names (wandb.sdk.data_types.table), for code that inspects cells and key types
_TableIndex = TableIndex
_TableKey = TableKey
_PrimaryKeyType = PrimaryKeyType
_ForeignKeyType = ForeignKeyType
_ForeignIndexType = ForeignIndexType


class Table(keys.KeyColumns):
    """A table of rows with typed columns, as ``wandb.Table``.

    Build it from `data` (a list of rows, a 2-D ndarray or a DataFrame),
    `rows` (older name for `data`) or `dataframe` (columns come from the
    frame); `columns` defaults to Input, Output, Expected. `dtype` is one type
    for every column or a list with one per column; `optional` (default True)
    lets columns hold None; `allow_mixed_types` lets a column hold values of
    different types. `log_mode` is IMMUTABLE, MUTABLE or INCREMENTAL.
    """

    MAX_ROWS: ClassVar[int] = 10_000
    MAX_ARTIFACT_ROWS: ClassVar[int] = 200_000
    _MAX_EMBEDDING_DIMENSIONS: ClassVar[int] = 150
    _log_type: ClassVar[str] = "table"

    log_mode: str
    columns: list[Any]
    data: list[list[Any]]  # rows; a plain list, as in wandb
    _types: list[DType]  # one per column
    _fast: list[frozenset[type]]  # per column: classes accepted with no further check
    _positions: dict[Any, int]  # column name -> index
    _keys: dict[int, DType]  # key column -> its key type (primary, foreign key or index)
    _pk: int | None
    _structure_version: int
    _mutation_hook: Callable[[str], None] | None

    def __init__(self, columns: Sequence[Any] | None = None, data: Any = None,
                 rows: Any = None, dataframe: Any = None, dtype: Any = None,
                 optional: bool | Sequence[bool] = True, allow_mixed_types: bool = False,
                 log_mode: str | None = "IMMUTABLE") -> None:
        self._init_state(log_mode)
        if dataframe is None and data is not None and build.is_dataframe(data):
            dataframe, data = data, None
        values = None
        if dataframe is not None:
            columns, values = build.frame_columns(dataframe)
        elif columns is None:
            columns = list(DEFAULT_COLUMNS)
        self._add_column_names(build.check_column_names(columns))
        types = build.column_types(len(self.columns), dtype, optional, allow_mixed_types)
        if values is not None:
            self.data, types = build.rows_from_columns(self.columns, types, values)
        else:
            self.data, types = build.rows_from_data(self.columns, types,
                                                    rows if data is None else data)
        self._types, self._fast = types, [t.fast_types for t in types]
        self._link_new_key_columns(list(range(len(types))))

    # -- setup ------------------------------------------------------------------

    def _init_state(self, log_mode: str | None) -> None:
        if log_mode not in LOG_MODES:
            raise TableArgumentError(f"Invalid log_mode: {log_mode}. Must be one of "
                                     f"{list(LOG_MODES)}")
        self.log_mode = log_mode
        self.columns = []
        self.data = []
        self._types = []
        self._fast = []
        self._positions = {}
        self._keys = {}
        self._pk = None
        self._structure_version = 0
        self._mutation_hook = None

    def _add_column_names(self, names: list[Any]) -> None:
        for name in names:
            self._positions[name] = len(self.columns)
            self.columns.append(name)

    def _set_type(self, j: int, dtype: DType) -> None:
        self._types[j] = dtype
        # key columns skip the fast path: their cells get wrapped as TableKey
        self._fast[j] = frozenset() if j in self._keys else dtype.fast_types

    def _position(self, name: Any) -> int:
        j = self._positions.get(name)
        if j is None:
            raise TableArgumentError(f"no column named {name!r}; columns are "
                                f"{cells.column_list(self.columns, 20)}")
        return j

    def _changed(self, operation: str, *, structure: bool) -> None:
        if structure:
            self._structure_version += 1
        hook = self._mutation_hook
        if hook is not None:
            hook(operation)

    # -- adding rows ------------------------------------------------------------

    def add_data(self, *data: Any) -> None:
        """Append one row: one value per column, in column order."""
        self._append_row(data, "add_data")

    def add_row(self, *row: Any) -> None:
        """Deprecated alias of `add_data`."""
        self._append_row(row, "add_row")

    def _append_row(self, values: tuple[Any, ...], operation: str) -> None:
        fast = self._fast
        # the hot path: every cell's exact class is one its column takes as is
        if len(values) == len(fast) and all(map(_set_contains, fast, map(type, values))):
            self.data.append(list(values))
        else:
            with _ROWS_LOCK:  # read-modify-write of the column types
                self.data.append(self._checked_row(values))
        hook = self._mutation_hook
        if hook is not None:
            hook(operation)

    def _checked_row(self, values: tuple[Any, ...]) -> list[Any]:
        """The general check of one row; types change only if the whole row fits."""
        if len(values) != len(self._fast):
            raise cells.row_length_error(self.columns, len(values), len(self.data))
        row = list(values)
        new_types = list(self._types)
        for j, value in enumerate(row):
            if type(value) in self._fast[j]:
                continue
            new = new_types[j].assign(value)
            if new is None:
                raise cells.cell_type_error(self.columns[j], new_types[j], value, len(self.data))
            new_types[j] = new
        # a linked cell (another table's key or index) makes its column a key column,
        # checked against the rows already there before anything changes
        new_keys = [j for j, dtype in enumerate(new_types)
                    if j not in self._keys and keys.key_type(dtype) is not None]
        for j in new_keys:
            new_types[j] = self._key_checked(j, new_types[j])
        for j, dtype in enumerate(new_types):
            if dtype is not self._types[j]:
                self._set_type(j, dtype)
        for j in new_keys:
            self._link_column(j, new_types[j])
        for j, dtype in self._keys.items():
            row[j] = keys.linked(row[j], dtype, self, self.columns[j])
        return row

    # -- adding and retyping columns --------------------------------------------

    def _check_not_incremental(self, operation: str) -> None:
        if self.log_mode == "INCREMENTAL":
            raise IncrementalTableError(
                f"Operation '{operation}' is not supported for tables with "
                f"log_mode='INCREMENTAL'. Use a different log mode like 'MUTABLE' or 'IMMUTABLE'.")

    def add_column(self, name: str, data: Any, optional: bool = False) -> None:
        """Add a column of `data` (a list or ndarray, one value per row).

        On a table with no columns yet, `data` makes the rows. A failure leaves
        the table unchanged.
        """
        self._check_not_incremental("add_column")
        self._add_columns({name: build.column_values(data, name)}, optional)
        self._changed("add_column", structure=True)

    def add_computed_columns(self, fn: Callable[[int, dict[Any, Any]], dict[str, Any]]) -> None:
        """Add the columns `fn(index, row_as_dict)` returns for every row (a dict each)."""
        self._check_not_incremental("add_computed_columns")
        results = [fn(i, dict(zip(self.columns, row, strict=True)))
                   for i, row in enumerate(self.data)]
        if not results:
            return
        for i, result in enumerate(results):
            if not isinstance(result, dict):
                raise TableArgumentTypeError(f"add_computed_columns: fn must return a dict, got "
                                     f"{type(result).__name__} for row {i}")
            if result.keys() != results[0].keys():
                raise TableRowError(f"add_computed_columns: fn returned keys {list(result)} for "
                                    f"row {i} but {list(results[0])} for row 0")
        self._add_columns({k: [r[k] for r in results] for k in results[0]}, False)
        self._changed("add_computed_columns", structure=True)

    def _add_columns(self, new: dict[Any, list[Any]], optional_: bool) -> None:
        """Validate every new column first, then add them all (nothing changes on error)."""
        types: list[DType] = []
        for name, values in new.items():
            if not isinstance(name, str):
                raise TableArgumentTypeError(f"column names added later must be strings, "
                                             f"got {name!r}")
            if name in self._positions:
                raise TableArgumentError(f"duplicate column name {name!r}: the table "
                                         f"already has it")
            if self.columns and len(values) != len(self.data):
                raise TableArgumentError(f"Expected length {len(self.data)}, found "
                                         f"{len(values)}: column {name!r} needs "
                                         f"{len(self.data)} values (one per row)")
            start = OPTIONAL_UNKNOWN if optional_ else UNKNOWN
            dtype, failed = check_column(start, values)
            if failed is not None:
                raise cells.cast_error(name, dtype, values[failed], failed)
            key = keys.key_type(dtype)
            if key is not None:  # cells of another table's key column: linked to it
                dtype, failed = check_column(key, values)
                if failed is not None:
                    raise cells.cast_error(name, dtype, values[failed], failed)
            types.append(dtype)
        if not self.columns:
            self.data = [[] for _ in next(iter(new.values()), [])]
        first = len(self.columns)
        for (name, values), dtype in zip(new.items(), types, strict=True):
            for row, value in zip(self.data, values, strict=True):
                row.append(value)
            self._add_column_names([name])
            self._types.append(dtype)
            self._fast.append(dtype.fast_types)
        self._link_new_key_columns(list(range(first, len(self.columns))))

    def cast(self, col_name: Any, dtype: Any, optional: bool = False) -> DType:
        """Set a column's type, checking every existing cell; returns the new type.

        Note wandb's default: ``optional=False``, so existing None cells fail.
        """
        j = self._position(col_name)
        target = dtype_from_spec(dtype)
        if isinstance(target, keys.KEY_TYPES):  # as set_pk / set_fk (wandb's cast does both)
            self._make_key(j, target, optional_=optional)
            self._changed("cast", structure=True)
            return target
        if j in self._keys:
            raise keys.unset_key_error(col_name, self._keys[j])
        new = self._cast_checked(j, target, optional)
        self._set_type(j, new)
        self._changed("cast", structure=True)
        return new

    def _cast_checked(self, j: int, dtype: DType, optional_: bool) -> DType:
        target = optional_type(dtype) if optional_ else dtype
        values = [row[j] for row in self.data]
        new, failed = check_column(target, values)
        if failed is not None:
            raise cells.cast_error(self.columns[j], new, values[failed], failed)
        return new

    # -- reading ------------------------------------------------------------------

    def get_column(self, name: Any, convert_to: str | None = None) -> Any:
        """The column's cells as a list, or with ``convert_to="numpy"`` as an ndarray
        (media cells become their data arrays: an Image column stacks to (N, H, W, C))."""
        if convert_to not in (None, "numpy"):
            raise TableArgumentError(f"convert_to must be None or 'numpy', got "
                                     f"{convert_to!r}")
        j = self._position(name)
        values = [row[j] for row in self.data]
        if convert_to is None:
            return values
        return np.array([v.to_data_array() if isinstance(v, Media) else v for v in values])

    def get_index(self) -> list[TableIndex]:
        """Row indexes 0..n-1, linked to this table (cells made from them link back)."""
        return [TableIndex(i, self) for i in range(len(self.data))]

    def index_ref(self, index: int) -> TableIndex:
        """One linked row index."""
        if not 0 <= index < len(self.data):
            raise TableArgumentError(f"row index {index} out of range (table has "
                                f"{len(self.data)} rows)")
        return TableIndex(index, self)

    def iterrows(self) -> Iterator[tuple[TableIndex, list[Any]]]:
        """Yield ``(index, row)`` for every row."""
        for i, row in enumerate(self.data):
            yield TableIndex(i, self), row

    def to_json(self, run_or_artifact: Any = None) -> dict[str, Any]:
        """The table in wandb's table JSON (what `Artifact.download` writes as
        ``<name>.table.json``): columns, data, ncols, nrows; timestamps as ms since the
        epoch, media as cells whose ``path`` is where the download puts their file.
        `run_or_artifact` is accepted, as in wandb; nothing is added to it."""
        from tablelog import wire
        from tablelog.artifacts.download import json_value, media_json

        def media(value: Any) -> dict[str, Any]:
            data, meta = value._encode()
            return media_json(value._kind, wire.sha256_hex(data), len(data), meta)

        rows = [json_value(list(row), media) for row in self.data]
        return {"_type": "table", "columns": list(self.columns), "data": rows,
                "ncols": len(self.columns), "nrows": len(rows), "log_mode": self.log_mode}

    def get_dataframe(self) -> Any:
        """The table as a pandas DataFrame (pandas is imported here, on demand)."""
        import pandas as pd

        return pd.DataFrame.from_records(self.data, columns=self.columns)

    @property
    def _column_types(self) -> cells.ColumnTypes:
        """Column name -> its current type (also as wandb's ``.params["type_map"]``)."""
        return cells.ColumnTypes(zip(self.columns, self._types, strict=True))

    def _to_table_json(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "data": self.data}

    # -- run-layer hooks ------------------------------------------------------------

    def _column_types_plain(self) -> list[Any]:
        """One plain (msgpack-able) type description per column, optional-ness included."""
        return [t.to_plain() for t in self._types]

    @classmethod
    def _from_wire(cls, columns: Sequence[Any], column_types_plain: Sequence[Any],
                   rows: Sequence[Sequence[Any]], log_mode: str = "IMMUTABLE") -> Table:
        """Rebuild a stored table without checking its cells (they were checked when logged)."""
        if len(columns) != len(column_types_plain):
            raise WireError(f"table has {len(columns)} columns but "
                            f"{len(column_types_plain)} column types")
        types = [dtype_from_plain(plain) for plain in column_types_plain]
        return cls._from_typed_rows(columns, types, rows, log_mode)

    @classmethod
    def _from_typed_rows(cls, columns: Sequence[Any], types: Sequence[DType],
                         rows: Sequence[Sequence[Any]], log_mode: str = "IMMUTABLE") -> Table:
        """A table with these columns, types and rows, trusted as they are (no cell checks)."""
        table = cls.__new__(cls)
        table._init_state(log_mode)
        table._add_column_names(list(columns))
        for j, dtype in enumerate(types):
            table._types.append(dtype)
            table._fast.append(frozenset())
            if dtype == PRIMARY_KEY:
                table._pk, table._keys[j] = j, dtype
            table._set_type(j, dtype)
        table.data = [r if type(r) is list else list(r) for r in rows]
        for j, key in table._keys.items():
            table._link_column(j, key)
        return table

    # -- comparing --------------------------------------------------------------------

    def _difference(self, other: Table) -> str | None:
        if list(self.columns) != list(other.columns):
            return f"columns differ: {self.columns} != {other.columns}"
        if len(self.data) != len(other.data):
            return f"row counts differ: {len(self.data)} != {len(other.data)}"
        for name, a, b in zip(self.columns, self._types, other._types, strict=True):
            if a != b:
                return f"column {name!r} types differ: {a.describe()} != {b.describe()}"
        return cells.rows_difference(self.columns, self.data, other.data)

    def _eq_debug(self, other: object, should_assert: bool = False) -> bool:
        """Equality that can say why not: with `should_assert`, raise AssertionError
        naming the first difference (a test helper, as in wandb)."""
        reason = ("not a Table" if not isinstance(other, Table) else self._difference(other))
        if reason is not None and should_assert:
            raise AssertionError(reason)
        return reason is None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self is other or self._difference(other) is None

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"<Table {len(self.columns)} columns ({cells.column_list(self.columns)}), "
                f"{len(self.data)} rows, log_mode={self.log_mode}>")
