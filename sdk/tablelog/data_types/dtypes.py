"""Column types of a `Table`: what a column accepts, fixed by its first value.

Every column holds one `DType`. A DType answers the question "may this value
go into the column?" two ways:

- ``fast_types``: a frozenset of exact classes whose values it always accepts
  unchanged. `Table.add_data` checks ``type(v) in fast`` per cell and nothing
  else, so rows of plain ints, floats, strs and bools cost one set lookup per cell.
- ``assign(value)``: the general check, for everything the fast set does not
  cover. It returns the column's type after accepting the value: the same
  object, or a refined one (``Unknown`` becomes ``Number`` on the first number,
  ``list of unknown`` becomes ``list of string`` ...), or None when the value
  does not fit.

Types are immutable values compared by their plain form (`to_plain`), which is
also what travels on the wire (``{"wb_type": ...}`` as in wandb) and what
`dtype_from_plain` reads back.

Missing values: None, float NaN, NaT and pandas' NA all count as None, so a
column accepts them only if its type admits None (``optional=True``, the
default for tables, makes a column ``Union[T, None]``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
from typing import Any

import numpy as np

from tablelog.data_types.dtype_core import (
    ANY,
    BOOLEAN,
    NONE,
    NUMBER,
    PRIMARY_KEY,
    SEQUENCE_CLASSES,
    STRING,
    TIMESTAMP,
    AnyType,
    BooleanType,
    DType,
    NoneType,
    NumberType,
    PrimaryKeyType,
    StringType,
    TimestampType,
    UnionType,
    admits_none,
    is_missing,
    optional,
    union,
)
from tablelog.data_types.dtype_infer import (
    OPTIONAL_UNKNOWN,
    UNKNOWN,
    ConstType,
    DictType,
    ForeignIndexType,
    ForeignKeyType,
    ImageType,
    ListType,
    MediaType,
    NDArrayType,
    PythonObjectType,
    TableCellType,
    UnknownType,
    check_column,
    media_type,
    type_of,
)
from tablelog.data_types.media import Media
from tablelog.errors import TableArgumentTypeError, WireError

__all__ = [
    "ANY", "BOOLEAN", "NONE", "NUMBER", "OPTIONAL_UNKNOWN", "PRIMARY_KEY", "STRING",
    "TIMESTAMP", "UNKNOWN", "AnyType", "BooleanType", "ConstType", "DType", "DictType",
    "ForeignIndexType", "ForeignKeyType", "ListType", "MediaType", "NDArrayType", "NoneType",
    "NumberType", "PrimaryKeyType", "PythonObjectType", "StringType", "TableCellType",
    "TimestampType", "UnionType", "UnknownType", "admits_none", "check_column",
    "dtype_from_plain", "dtype_from_spec", "is_missing", "optional", "type_of", "union",
]

_PY_TYPES: dict[Any, DType] = {
    int: NUMBER, float: NUMBER, decimal.Decimal: NUMBER, bool: BOOLEAN, np.bool_: BOOLEAN,
    str: STRING, _dt.datetime: TIMESTAMP, _dt.date: TIMESTAMP, np.datetime64: TIMESTAMP,
    type(None): NONE, object: ANY,
}


def dtype_from_spec(spec: Any) -> DType:
    """Turn a `dtype` argument into a DType.

    Accepted: None (unknown: inferred), a DType, a Python or numpy type
    (``int``, ``str``, ``np.float32``, ``np.ndarray``, ``list``, ``dict`` ...),
    a media class (``Image``), ``Table``, ``[t]`` (a list of t),
    ``[t1, t2, ...]`` (a union), ``{key: t}`` (a dict with those keys); any
    other value means that constant.
    """
    if spec is None:
        return UNKNOWN
    if isinstance(spec, DType):
        return spec
    if isinstance(spec, type):
        return _dtype_from_class(spec)
    if isinstance(spec, list):
        if len(spec) == 1:
            return ListType(dtype_from_spec(spec[0]))
        return union(*(dtype_from_spec(s) for s in spec)) if spec else ListType()
    if isinstance(spec, dict):
        return DictType({k: dtype_from_spec(v) for k, v in spec.items()})
    return ConstType(spec)


def _dtype_from_class(cls: type) -> DType:
    known = _PY_TYPES.get(cls)
    if known is not None:
        return known
    if issubclass(cls, DType):  # a type class, as wandb takes `dtype=[NumberType]`
        try:
            return cls()
        except TypeError as exc:
            raise TableArgumentTypeError(f"dtype {cls.__name__} needs arguments; pass an "
                                         f"instance") from exc
    if issubclass(cls, bool | np.bool_):
        return BOOLEAN
    if issubclass(cls, np.number | int | float | complex):
        return NUMBER
    if issubclass(cls, Media):
        return media_type(cls._kind)
    if issubclass(cls, np.ndarray):
        return NDArrayType()
    if issubclass(cls, SEQUENCE_CLASSES):
        return ListType()
    if issubclass(cls, dict):
        return DictType({})
    if getattr(cls, "_log_type", None) == "table":
        return TableCellType()
    return PythonObjectType(cls.__name__)


_BY_NAME: dict[str, DType] = {t.wb_type: t for t in (
    UNKNOWN, NONE, ANY, NUMBER, BOOLEAN, STRING, TIMESTAMP, PRIMARY_KEY)}


def dtype_from_plain(plain: Any) -> DType:
    """Rebuild a DType from `DType.to_plain()` output (links to other tables are not kept)."""
    try:
        name = plain["wb_type"]
        params = plain.get("params") or {}
        simple = _BY_NAME.get(name)
        if simple is not None:
            return simple
        if name == "image-file":
            return ImageType.from_params(params)
        if name.endswith("-file") and name[:-5] in Media.registry():
            return MediaType(name[:-5])
        if name == "union":
            return union(*(dtype_from_plain(p) for p in params["allowed_types"]))
        if name == "list":
            return ListType(dtype_from_plain(params["element_type"]))
        if name == "typedDict":
            return DictType({k: dtype_from_plain(v) for k, v in params["type_map"].items()})
        if name == "ndarray":
            return NDArrayType(params.get("shape"))
        if name == "table":
            column_types = params.get("column_types")
            return TableCellType(params.get("columns"), None if column_types is None else
                                 [dtype_from_plain(p) for p in column_types])
        if name == "foreignKey":
            return ForeignKeyType(None, params.get("col_name"))
        if name == "foreignIndex":
            return ForeignIndexType(None)
        if name == "pythonObject":
            return PythonObjectType(str(params["class_name"]))
        if name == "const":
            return ConstType(params["val"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise WireError(f"malformed column type {plain!r}: {exc}") from exc
    raise WireError(f"unknown column type {plain!r}")
