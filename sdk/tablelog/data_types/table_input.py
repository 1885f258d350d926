"""Building a table's columns and rows from constructor input: pure functions.

Input is checked in bulk, column by column: a column whose values all have
classes in its type's fast set costs one set comparison (see
`tablelog.data_types.dtypes.check_column`). Errors name the earliest bad row, as adding
the rows one by one would. A numeric 2-D ndarray or a DataFrame column is
converted with one ``tolist()``, which gives plain Python values (wandb keeps
numpy scalars; they compare equal). pandas is imported only when a DataFrame
is actually given.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from tablelog.data_types.dtypes import (
    ANY,
    DType,
    check_column,
    dtype_from_spec,
    is_missing,
    optional,
)
from tablelog.data_types.table_cells import (
    NUMERIC_KINDS,
    cell_type_error,
    row_length_error,
    short_repr,
)
from tablelog.errors import (
    TableArgumentError,
    TableArgumentTypeError,
    TableRowError,
    TableTypeError,
)

Rows = list[list[Any]]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many row lists at once.

    Each new list is a tracked container, so 200k rows set off dozens of
    collections that find nothing (rows hold plain values) and triple the
    build time. Paused only around the bulk copy, and only if it was enabled.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def is_dataframe(value: object) -> bool:
    """A pandas DataFrame, recognised without importing pandas."""
    cls = type(value)
    return cls.__name__ == "DataFrame" and cls.__module__.split(".")[0] == "pandas"


# ---------------------------------------------------------------------------
# columns


def check_column_names(columns: Any) -> list[Any]:
    """The column names as a list: strings or ints, each once."""
    if not isinstance(columns, list | tuple):
        raise TableArgumentTypeError(f"columns argument expects a `list` object, "
                                     f"got {type(columns).__name__}{_data_hint(columns)}")
    for name in columns:
        if isinstance(name, bool) or not isinstance(name, str | int):
            hint = (" (rows passed as the first argument? use Table(data=...))"
                    if isinstance(name, list | tuple) else "")
            raise TableArgumentTypeError(f"columns argument expects list of strings or ints, "
                                         f"got {short_repr(name)}{hint}")
    seen: set[Any] = set()
    for name in columns:
        if name in seen:
            raise TableArgumentError(f"duplicate column name {name!r}: column names must be "
                                     f"unique")
        seen.add(name)
    return list(columns)


def _data_hint(columns: Any) -> str:
    """A hint for rows, an ndarray or a DataFrame passed where the columns go."""
    if isinstance(columns, np.ndarray) or is_dataframe(columns):
        return " (data passed as the first argument? use Table(data=...))"
    return ""


def _per_column(value: Any, n: int, what: str) -> list[Any]:
    if not isinstance(value, list):
        return [value] * n
    if len(value) != n:
        raise TableRowError(f"{what} as a list needs one entry per column ({n}), "
                            f"got {len(value)}")
    return value


def column_types(n: int, dtype: Any, optional_: bool | Sequence[bool],
                 allow_mixed_types: bool) -> list[DType]:
    """The starting type of each of `n` columns from the constructor's arguments."""
    specs = [ANY] * n if allow_mixed_types else _per_column(dtype, n, "dtype")
    optionals = _per_column(optional_, n, "optional")
    types = []
    for spec, opt in zip(specs, optionals, strict=True):
        base = dtype_from_spec(spec)
        types.append(optional(base) if opt else base)
    return types


# ---------------------------------------------------------------------------
# rows


def checked_columns(columns: Sequence[Any], types: Sequence[DType],
                    values: Sequence[Sequence[Any]], start_row: int = 0) -> list[DType]:
    """Check whole columns of values; the types they leave, or the earliest row's error."""
    new_types: list[DType] = []
    first_failure: tuple[int, int, DType] | None = None
    for j, column in enumerate(values):
        dtype, failed = check_column(types[j], column)
        new_types.append(dtype)
        if failed is not None and (first_failure is None or failed < first_failure[0]):
            first_failure = (failed, j, dtype)
    if first_failure is not None:
        i, j, dtype = first_failure
        raise cell_type_error(columns[j], dtype, values[j][i], start_row + i)
    return new_types


def rows_from_columns(columns: Sequence[Any], types: Sequence[DType],
                      values: list[list[Any]]) -> tuple[Rows, list[DType]]:
    """Rows from one list of cells per column, checked; and the resulting types."""
    new_types = checked_columns(columns, types, values)
    with gc_paused():
        rows = [list(r) for r in zip(*values, strict=True)]
    return rows, new_types


def rows_from_rows(columns: Sequence[Any], types: Sequence[DType],
                   rows: Sequence[Any]) -> tuple[Rows, list[DType]]:
    """Copies of `rows` as lists, checked; and the resulting types."""
    n = len(columns)
    with gc_paused():
        try:
            copied = [list(r) for r in rows]
        except TypeError as exc:
            raise TableTypeError(f"each row must be a list of values: {exc}") from None
        bad = None
        if set(map(len, copied)) - {n}:
            bad = next(i for i, r in enumerate(copied) if len(r) != n)
        valid = copied if bad is None else copied[:bad]
        by_column = [list(map(itemgetter(j), valid)) for j in range(n)]
    new_types = checked_columns(columns, types, by_column)
    if bad is not None:
        raise row_length_error(columns, len(copied[bad]), bad)
    return copied, new_types


def rows_from_data(columns: Sequence[Any], types: Sequence[DType],
                   data: Any) -> tuple[Rows, list[DType]]:
    """Rows from the constructor's `data`: None, a list of rows or an ndarray.

    An ndarray of more than 2 dimensions is rows of cells that are arrays, as in
    wandb: shape (rows, columns, *cell_shape).
    """
    if data is None:
        return [], list(types)
    if isinstance(data, list):
        return rows_from_rows(columns, types, data)
    if isinstance(data, np.ndarray):
        if data.ndim < 2:
            raise TableRowError(f"Table data as an ndarray must be at least 2-D (rows, "
                                f"columns, then each cell's dimensions), got shape "
                                f"{data.shape}")
        if data.ndim > 2:
            return rows_from_rows(columns, types, [list(row) for row in data])
        by_column = ndarray_columns(data)
        if by_column is not None and data.shape[1] == len(columns):
            return rows_from_columns(columns, types, by_column)
        return rows_from_rows(columns, types, list(data))
    raise TableArgumentTypeError(f"data argument expects a `list` object: a list of rows, "
                                 f"a 2-D numpy array or a pandas DataFrame, got "
                                 f"{type(data).__name__}")


# ---------------------------------------------------------------------------
# conversions


def _missing_to_none(values: list[Any]) -> list[Any]:
    # pandas.NA / NaT cannot travel on the wire; NaN floats stay (they already count as None)
    return [None if is_missing(v) and type(v) is not float else v for v in values]


def _column_label(label: Any) -> Any:
    """A DataFrame label as a column name: str and int kept, anything else as str."""
    if isinstance(label, np.integer):
        return label.item()
    if isinstance(label, str) or (isinstance(label, int) and not isinstance(label, bool)):
        return label
    return str(label)


def frame_columns(frame: Any) -> tuple[list[Any], list[list[Any]]]:
    """A DataFrame's column labels and one list of cells per column."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is optional
        raise TableTypeError("a DataFrame was given but pandas cannot be imported") from exc
    if not isinstance(frame, pd.DataFrame):
        raise TableArgumentTypeError(f"dataframe argument expects a "
                                     f"`pandas.core.frame.DataFrame` object, got "
                                     f"{type(frame).__name__}")
    labels = [_column_label(c) for c in frame.columns]
    values: list[list[Any]] = []
    for j in range(frame.shape[1]):
        series = frame.iloc[:, j]
        kind = getattr(series.dtype, "kind", "O")
        if isinstance(series.dtype, np.dtype) and kind in NUMERIC_KINDS:
            values.append(series.to_numpy().tolist())
        elif kind == "M":  # datetimes: tolist() gives Timestamps; keep stdlib datetimes
            values.append([None if v is pd.NaT else v.to_pydatetime() for v in series.tolist()])
        elif series.isna().any():
            values.append(_missing_to_none(series.tolist()))
        else:
            values.append(series.tolist())
    return labels, values


def ndarray_columns(array: np.ndarray[Any, Any]) -> list[list[Any]] | None:
    """Per-column cells of a numeric 2-D array (None for other dtypes: go row by row)."""
    if array.dtype.kind not in NUMERIC_KINDS:
        return None
    return [array[:, j].tolist() for j in range(array.shape[1])]


def column_values(data: Any, name: Any) -> list[Any]:
    """The cells of a column given to `add_column`: a list or an ndarray."""
    if isinstance(data, list):
        return list(data)
    if isinstance(data, np.ndarray):
        if data.ndim == 1 and data.dtype.kind in NUMERIC_KINDS:
            return data.tolist()  # type: ignore[no-any-return]
        return list(data)
    raise TableArgumentTypeError(f"add_column({name!r}, data) needs data as a list or numpy "
                                 f"array, got {type(data).__name__}")
