"""The base of column types: `DType`, the scalar types, unions, and missing values.

See `tablelog.data_types.dtypes` for how column types work; this module holds the types
that need nothing but themselves. Structured types and inference live in
`tablelog.data_types.dtype_infer`.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np


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
INT_CLASSES: frozenset[type] = frozenset({int}) | _numpy_scalar_types(np.integer)
FLOAT_CLASSES: frozenset[type] = frozenset({float}) | _numpy_scalar_types(np.floating)
# complex numbers are numbers, as in wandb (numpy's; Python's too, which a DataFrame gives)
COMPLEX_CLASSES: frozenset[type] = frozenset({complex}) | _numpy_scalar_types(np.complexfloating)
_PLAIN_NUMBERS: frozenset[type] = INT_CLASSES | FLOAT_CLASSES | COMPLEX_CLASSES
BOOL_CLASSES: frozenset[type] = frozenset({bool, np.bool_})
_TIME_TYPES: frozenset[type] = frozenset({_dt.datetime, _dt.date})
SEQUENCE_CLASSES = (list, tuple, set, frozenset)


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


class SimpleType(DType):
    """A type with no parameters: one shared instance each."""

    _fast: ClassVar[frozenset[type]] = frozenset()

    @property
    def fast_types(self) -> frozenset[type]:
        return self._fast

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def assign(self, value: Any) -> DType | None:
        return self if self.accepts(value) else None


class NoneType(SimpleType):
    """Only missing values (None, NaN, NaT, pandas.NA)."""

    wb_type = "none"
    _fast = _NONE_TYPES

    def accepts(self, value: Any) -> bool:
        return is_missing(value)

    def describe(self) -> str:
        return "None"


class AnyType(SimpleType):
    """Any non-missing value (``allow_mixed_types=True``)."""

    wb_type = "any"
    _fast = frozenset({int, str, bool})

    def accepts(self, value: Any) -> bool:
        return not is_missing(value)

    def fast_types_with_none(self) -> frozenset[type]:
        return self._fast | FLOAT_CLASSES

    def describe(self) -> str:
        return "any value"


class NumberType(SimpleType):
    """int, float, complex, Decimal and numpy numbers; not bool, not NaN."""

    wb_type = "number"
    _fast = INT_CLASSES

    def accepts(self, value: Any) -> bool:
        return (isinstance(value, int | float | complex | decimal.Decimal | np.number)
                and not isinstance(value, bool) and not is_missing(value))

    def fast_types_with_none(self) -> frozenset[type]:
        return INT_CLASSES | FLOAT_CLASSES

    def assign(self, value: Any) -> DType | None:
        if type(value) in _PLAIN_NUMBERS:
            return None if is_missing(value) else self
        if getattr(value, "_table", None) is not None:
            return _linked_cell_type(value)  # another table's row index: a foreign index
        return self if self.accepts(value) else None


class BooleanType(SimpleType):
    """bool and numpy.bool_ (a bool is not a number here)."""

    wb_type = "boolean"
    _fast = BOOL_CLASSES

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)


class StringType(SimpleType):
    """str (numpy.str_ included)."""

    wb_type = "string"
    _fast = frozenset({str})

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def assign(self, value: Any) -> DType | None:
        if type(value) is not str and getattr(value, "_table", None) is not None:
            return _linked_cell_type(value)  # another table's key: a foreign key column
        return self if isinstance(value, str) else None


class TimestampType(SimpleType):
    """datetime, date and numpy.datetime64 (pandas.Timestamp is a datetime)."""

    wb_type = "timestamp"
    _fast = _TIME_TYPES

    def accepts(self, value: Any) -> bool:
        return isinstance(value, _dt.date | np.datetime64) and not is_missing(value)


class PrimaryKeyType(SimpleType):
    """A string column marked as the table's primary key (`Table.set_pk`)."""

    wb_type = "primaryKey"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def describe(self) -> str:
        return "primary key (string)"


def _linked_cell_type(value: Any) -> DType:
    """The key type of a cell linked to a table (`TableKey`, `TableIndex`)."""
    from tablelog.data_types.dtype_infer import type_of  # the structured types live there

    return type_of(value)


class UnionType(DType):
    """One of several types; ``Union[T, None]`` is how a column is made optional."""

    wb_type = "union"

    def __init__(self, members: Iterable[DType]) -> None:
        # Unknown goes last so that a value fits a known member before it fixes a new one.
        self.members = tuple(sorted(members, key=lambda t: t.wb_type == "unknown"))

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


NONE = NoneType()
ANY = AnyType()
NUMBER = NumberType()
BOOLEAN = BooleanType()
STRING = StringType()
TIMESTAMP = TimestampType()
PRIMARY_KEY = PrimaryKeyType()

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
