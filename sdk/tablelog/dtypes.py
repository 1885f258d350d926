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
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from tablelog.errors import WireError
from tablelog.media import Media


def is_missing(value: object) -> bool:
    """True for the values a table treats as None: None, NaN, NaT and pandas.NA."""
    if value is None:
        return True
    cls = type(value)
    if cls is float or isinstance(value, np.floating):
        return bool(value != value)
    if cls is np.datetime64:
        return bool(np.isnat(value))  # type: ignore[call-overload]
    # pandas' markers, recognised without importing pandas
    return cls.__name__ in ("NAType", "NaTType")


def _numpy_scalar_types(base: type) -> frozenset[type]:
    found: set[type] = set()
    stack = [base]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__subclasses__():
            found.add(cls)
    return frozenset(found)


_NONE_TYPES: frozenset[type] = frozenset({type(None)})
_INT_TYPES: frozenset[type] = frozenset({int}) | _numpy_scalar_types(np.integer)
_FLOAT_TYPES: frozenset[type] = frozenset({float}) | _numpy_scalar_types(np.floating)
_BOOL_TYPES: frozenset[type] = frozenset({bool, np.bool_})
_TIME_TYPES: frozenset[type] = frozenset({_dt.datetime, _dt.date})
_SEQUENCE_TYPES = (list, tuple, set, frozenset)


class DType:
    """A column type. Subclasses are immutable; compare them with ``==``."""

    wb_type: ClassVar[str] = "?"

    def assign(self, value: Any) -> DType | None:
        """The type after accepting `value`, or None if `value` does not fit."""
        raise NotImplementedError

    @property
    def fast_types(self) -> frozenset[type]:
        """Exact classes whose (non-missing) values this type accepts unchanged."""
        return frozenset()

    def fast_types_with_none(self) -> frozenset[type]:
        """Exact classes accepted unchanged when missing values are fine too."""
        return self.fast_types

    def params(self) -> dict[str, Any] | None:
        return None

    def to_plain(self) -> dict[str, Any]:
        """Plain, msgpack-able description: ``{"wb_type": ..., "params"?: {...}}``."""
        params = self.params()
        return {"wb_type": self.wb_type} if params is None else {
            "wb_type": self.wb_type, "params": params}

    def describe(self) -> str:
        """Short human wording for error messages."""
        return self.wb_type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DType) and self.to_plain() == other.to_plain()

    def __hash__(self) -> int:
        return hash(_plain_key(self.to_plain()))

    def __repr__(self) -> str:
        return f"<DType {self.describe()}>"


def _plain_key(plain: Any) -> str:
    return json.dumps(plain, sort_keys=True, default=repr)


class _Simple(DType):
    """A type with no parameters: one shared instance each."""

    _fast: ClassVar[frozenset[type]] = frozenset()

    @property
    def fast_types(self) -> frozenset[type]:
        return self._fast

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def assign(self, value: Any) -> DType | None:
        return self if self.accepts(value) else None


class UnknownType(_Simple):
    """No value seen yet: the first non-missing value decides the type."""

    wb_type = "unknown"

    def accepts(self, value: Any) -> bool:
        return False

    def assign(self, value: Any) -> DType | None:
        return None if is_missing(value) else type_of(value)

    def describe(self) -> str:
        return "any one type"


class NoneType(_Simple):
    """Only missing values (None, NaN, NaT, pandas.NA)."""

    wb_type = "none"
    _fast = _NONE_TYPES

    def accepts(self, value: Any) -> bool:
        return is_missing(value)

    def describe(self) -> str:
        return "None"


class AnyType(_Simple):
    """Any non-missing value (``allow_mixed_types=True``)."""

    wb_type = "any"
    _fast = frozenset({int, str, bool})

    def accepts(self, value: Any) -> bool:
        return not is_missing(value)

    def fast_types_with_none(self) -> frozenset[type]:
        return self._fast | _FLOAT_TYPES

    def describe(self) -> str:
        return "any value"


class NumberType(_Simple):
    """int, float, Decimal and numpy numbers; not bool, not NaN."""

    wb_type = "number"
    _fast = _INT_TYPES

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int | float | decimal.Decimal | np.integer | np.floating)
                and not isinstance(value, bool) and not is_missing(value))

    def fast_types_with_none(self) -> frozenset[type]:
        return _INT_TYPES | _FLOAT_TYPES


class BooleanType(_Simple):
    """bool and numpy.bool_ (a bool is not a number here)."""

    wb_type = "boolean"
    _fast = _BOOL_TYPES

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)


class StringType(_Simple):
    """str (numpy.str_ included)."""

    wb_type = "string"
    _fast = frozenset({str})

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class TimestampType(_Simple):
    """datetime, date and numpy.datetime64 (pandas.Timestamp is a datetime)."""

    wb_type = "timestamp"
    _fast = _TIME_TYPES

    def accepts(self, value: Any) -> bool:
        return isinstance(value, _dt.date | np.datetime64) and not is_missing(value)


class PrimaryKeyType(_Simple):
    """A string column marked as the table's primary key (`Table.set_pk`)."""

    wb_type = "primaryKey"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return "primary key (string)"


class ForeignKeyType(DType):
    """A string column pointing at another table's key column (`Table.set_fk`)."""

    wb_type = "foreignKey"

    def __init__(self, table: Any = None, col_name: str | None = None) -> None:
        self.table = table  # not part of equality: a link, not a type
        self.col_name = col_name

    def assign(self, value: Any) -> DType | None:
        return self if isinstance(value, str) else None

    def params(self) -> dict[str, Any]:
        return {"col_name": self.col_name}

    def describe(self) -> str:
        return f"foreign key to column {self.col_name!r} (string)"


class ForeignIndexType(DType):
    """An int column of row indexes into another table (values of `Table.get_index`)."""

    wb_type = "foreignIndex"

    def __init__(self, table: Any = None) -> None:
        self.table = table

    def assign(self, value: Any) -> DType | None:
        ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
        return self if ok else None

    def describe(self) -> str:
        return "row index (int)"


class MediaType(DType):
    """Media values of one kind: image, audio, video or html."""

    wb_type = "media"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def assign(self, value: Any) -> DType | None:
        return self if isinstance(value, Media) and value._kind == self.kind else None

    @property
    def fast_types(self) -> frozenset[type]:
        cls = Media.registry().get(self.kind)
        return frozenset() if cls is None else frozenset({cls})

    def to_plain(self) -> dict[str, Any]:
        return {"wb_type": f"{self.kind}-file"}

    def describe(self) -> str:
        return self.kind.capitalize()


class PythonObjectType(DType):
    """Any other object, matched by its class name."""

    wb_type = "pythonObject"

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def assign(self, value: Any) -> DType | None:
        return self if type(value).__name__ == self.class_name else None

    def params(self) -> dict[str, Any]:
        return {"class_name": self.class_name}

    def describe(self) -> str:
        return f"object of class {self.class_name}"


class ConstType(DType):
    """Exactly one value (a `dtype` given as a plain value)."""

    wb_type = "const"

    def __init__(self, value: Any) -> None:
        self.value = value

    def assign(self, value: Any) -> DType | None:
        try:
            return self if bool(value == self.value) else None
        except (ValueError, TypeError):
            return None

    def params(self) -> dict[str, Any]:
        return {"val": self.value if isinstance(self.value, int | float | str | bool)
                else repr(self.value)}

    def describe(self) -> str:
        return f"the constant {self.value!r}"


class TableCellType(DType):
    """A Table as a cell value; once seen, later tables must have the same columns."""

    wb_type = "table"

    def __init__(self, columns: Sequence[Any] | None = None) -> None:
        self.columns = None if columns is None else list(columns)

    def assign(self, value: Any) -> DType | None:
        if getattr(type(value), "_log_type", None) != "table":
            return None
        if self.columns is None:
            return TableCellType(value.columns)
        return self if list(value.columns) == self.columns else None

    def params(self) -> dict[str, Any] | None:
        return None if self.columns is None else {"columns": self.columns}

    def describe(self) -> str:
        return "Table" if self.columns is None else f"Table with columns {self.columns}"


class ListType(DType):
    """A list, tuple or set whose elements all fit one element type (None elements too)."""

    wb_type = "list"

    def __init__(self, element: DType | None = None) -> None:
        self.element = element if element is not None else UNKNOWN

    def assign(self, value: Any) -> DType | None:
        if not isinstance(value, _SEQUENCE_TYPES):
            return None
        element = self.element
        for item in value:
            new = element.assign(item)
            if new is None:
                if not is_missing(item):
                    return None
                new = optional(element)
            element = new
        return self if element is self.element else ListType(element)

    def params(self) -> dict[str, Any]:
        return {"element_type": self.element.to_plain()}

    def describe(self) -> str:
        return f"list of {self.element.describe()}"


class DictType(DType):
    """A dict whose key set is fixed by the first value; each key has its own type.

    A later dict may leave out a key only if that key's type admits None; a key
    whose first value was None may take any one type afterwards.
    """

    wb_type = "typedDict"

    def __init__(self, fields: Mapping[Any, DType]) -> None:
        self.fields = dict(fields)

    @classmethod
    def of(cls, value: Mapping[Any, Any]) -> DictType:
        return cls({k: OPTIONAL_UNKNOWN if is_missing(v) else type_of(v)
                    for k, v in value.items()})

    def assign(self, value: Any) -> DType | None:
        if not isinstance(value, dict):
            return None
        if not self.fields and value:  # declared as plain `dict`: the first value decides
            return DictType.of(value)
        fields = self.fields
        changed: dict[Any, DType] = {}
        for key, field_type in fields.items():
            item = value.get(key)  # a missing key counts as None
            new = field_type.assign(item)
            if new is None:
                return None
            if new is not field_type:
                changed[key] = new
        if any(key not in fields for key in value):
            return None
        return DictType({**fields, **changed}) if changed else self

    def params(self) -> dict[str, Any]:
        return {"type_map": {k: t.to_plain() for k, t in self.fields.items()}}

    def describe(self) -> str:
        inner = ", ".join(f"{k!r}: {t.describe()}" for k, t in self.fields.items())
        return "{" + inner + "}"


class NDArrayType(DType):
    """A numpy array of one fixed shape (a nested list of that shape is accepted)."""

    wb_type = "ndarray"

    def __init__(self, shape: Sequence[int] | None = None) -> None:
        self.shape = None if shape is None else tuple(int(n) for n in shape)

    def assign(self, value: Any) -> DType | None:
        if isinstance(value, np.ndarray):
            shape: tuple[int, ...] = value.shape
        elif isinstance(value, list | tuple):
            try:
                shape = np.shape(value)
            except ValueError:  # ragged
                return None
        else:
            return None
        if self.shape is None:
            return NDArrayType(shape)
        return self if shape == self.shape else None

    def params(self) -> dict[str, Any]:
        return {"shape": None if self.shape is None else list(self.shape)}

    def describe(self) -> str:
        return "ndarray" if self.shape is None else f"ndarray of shape {self.shape}"


class UnionType(DType):
    """One of several types; ``Union[T, None]`` is how a column is made optional."""

    wb_type = "union"

    def __init__(self, members: Iterable[DType]) -> None:
        # Unknown goes last so that a value fits a known member before it fixes a new one.
        self.members = tuple(sorted(members, key=lambda t: isinstance(t, UnknownType)))

    def assign(self, value: Any) -> DType | None:
        for i, member in enumerate(self.members):
            new = member.assign(value)
            if new is not None:
                if new is member:
                    return self
                return union(*self.members[:i], new, *self.members[i + 1:])
        return None

    @property
    def fast_types(self) -> frozenset[type]:
        if any(isinstance(m, NoneType) for m in self.members):
            return frozenset().union(*(m.fast_types_with_none() for m in self.members))
        return frozenset().union(*(m.fast_types for m in self.members))

    def params(self) -> dict[str, Any]:
        plains = sorted((m.to_plain() for m in self.members), key=_plain_key)
        return {"allowed_types": plains}

    def describe(self) -> str:
        words = [m.describe() for m in self.members if not isinstance(m, NoneType)]
        if len(words) < len(self.members):
            words.append("None")
        return " or ".join(words)


UNKNOWN = UnknownType()
NONE = NoneType()
ANY = AnyType()
NUMBER = NumberType()
BOOLEAN = BooleanType()
STRING = StringType()
TIMESTAMP = TimestampType()
PRIMARY_KEY = PrimaryKeyType()
OPTIONAL_UNKNOWN = UnionType([UNKNOWN, NONE])


def union(*types: DType) -> DType:
    """The union of `types`, flattened and without repeats; one type stays itself."""
    flat: dict[str, DType] = {}
    for t in types:
        for m in t.members if isinstance(t, UnionType) else (t,):
            flat.setdefault(_plain_key(m.to_plain()), m)
    members = list(flat.values())
    return members[0] if len(members) == 1 else UnionType(members)


def optional(dtype: DType) -> DType:
    """`dtype` or None."""
    return union(dtype, NONE)


def admits_none(dtype: DType) -> bool:
    """Whether a column of this type accepts missing values."""
    return dtype.assign(None) is not None


_EXACT: dict[type, DType] = {
    **{cls: NUMBER for cls in _INT_TYPES | _FLOAT_TYPES},
    **{cls: BOOLEAN for cls in _BOOL_TYPES},
    str: STRING, _dt.datetime: TIMESTAMP, _dt.date: TIMESTAMP, np.datetime64: TIMESTAMP,
}


def type_of(value: Any) -> DType:
    """The type a column takes when `value` is its first non-missing value."""
    if is_missing(value):
        return NONE
    exact = _EXACT.get(type(value))
    if exact is not None:
        return exact
    table = getattr(value, "_table", None)
    if table is not None:  # cells taken from another table link to it
        if isinstance(value, str):
            return ForeignKeyType(table, getattr(value, "_col_name", None))
        if isinstance(value, int):
            return ForeignIndexType(table)
    for simple in (BOOLEAN, NUMBER, STRING, TIMESTAMP):
        if simple.accepts(value):
            return simple
    if isinstance(value, Media):
        return MediaType(value._kind)
    if isinstance(value, np.ndarray):
        return NDArrayType(value.shape)
    if isinstance(value, _SEQUENCE_TYPES):
        return ListType().assign(value) or PythonObjectType(type(value).__name__)
    if isinstance(value, dict):
        return DictType.of(value)
    if getattr(type(value), "_log_type", None) == "table":
        return TableCellType(value.columns)
    return PythonObjectType(type(value).__name__)


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
    if issubclass(cls, bool | np.bool_):
        return BOOLEAN
    if issubclass(cls, np.integer | np.floating | int | float):
        return NUMBER
    if issubclass(cls, Media):
        return MediaType(cls._kind)
    if issubclass(cls, np.ndarray):
        return NDArrayType()
    if issubclass(cls, _SEQUENCE_TYPES):
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
            return TableCellType(params.get("columns"))
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


def check_column(dtype: DType, values: Sequence[Any]) -> tuple[DType, int | None]:
    """Check `values` in order against a column of type `dtype`.

    Returns the column's resulting type and the index of the first value that
    does not fit (None if all fit). When every value's class is in the type's
    fast set this is one set comparison; otherwise values outside the fast set
    go through `assign` one by one, and after each refinement (e.g. Unknown ->
    Number) the set comparison is tried again.
    """
    kinds = set(map(type, values))
    fast = dtype.fast_types
    if kinds <= fast:
        return dtype, None
    for i, value in enumerate(values):
        if type(value) in fast:
            continue
        new = dtype.assign(value)
        if new is None:
            return dtype, i
        if new is not dtype:
            dtype, fast = new, new.fast_types
            if kinds <= fast:  # every class seen is now fine as is
                return dtype, None
    return dtype, None
