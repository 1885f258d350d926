"""Column types: inference from the first value, the fast sets, plain forms."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest

from tablelog import wire
from tablelog.data_types.dtypes import (
    ANY,
    BOOLEAN,
    NONE,
    NUMBER,
    OPTIONAL_UNKNOWN,
    STRING,
    TIMESTAMP,
    UNKNOWN,
    DictType,
    ListType,
    MediaType,
    NDArrayType,
    PythonObjectType,
    TableCellType,
    UnionType,
    check_column,
    dtype_from_plain,
    dtype_from_spec,
    is_missing,
    optional,
    type_of,
    union,
)
from tablelog.data_types.media import Image
from tablelog.data_types.table import Table
from tablelog.errors import WireError


@pytest.mark.parametrize("value", [None, float("nan"), np.float32("nan"), np.datetime64("NaT")])
def test_missing_values_count_as_none(value: object) -> None:
    assert is_missing(value)
    assert type_of(value) == NONE


@pytest.mark.parametrize("value", [0, 0.0, "", False, np.int8(0), [], {}])
def test_present_values_are_not_missing(value: object) -> None:
    assert not is_missing(value)


def test_pandas_missing_markers_count_as_none() -> None:
    assert is_missing(pd.NA)
    assert is_missing(pd.NaT)


@pytest.mark.parametrize(("value", "expected"), [
    (1, NUMBER), (1.5, NUMBER), (np.int64(3), NUMBER), (np.float16(2), NUMBER),
    (np.uint8(7), NUMBER), (decimal.Decimal("1.5"), NUMBER),
    (True, BOOLEAN), (np.bool_(False), BOOLEAN),
    ("a", STRING), (np.str_("a"), STRING),
    (dt.datetime(2024, 1, 1), TIMESTAMP), (dt.date(2024, 1, 1), TIMESTAMP),
    (np.datetime64("2024-01-01"), TIMESTAMP),
])
def test_type_of_scalars(value: object, expected: object) -> None:
    assert type_of(value) == expected


def test_bool_is_not_a_number() -> None:
    assert NUMBER.assign(True) is None
    assert NUMBER.assign(np.bool_(True)) is None
    assert BOOLEAN.assign(1) is None


def test_type_of_containers() -> None:
    assert type_of([1, 2]) == ListType(NUMBER)
    assert type_of((1, 2)) == ListType(NUMBER)
    assert type_of({"a": 1, "b": "x"}) == DictType({"a": NUMBER, "b": STRING})
    assert type_of(np.zeros((2, 3))) == NDArrayType((2, 3))
    assert type_of(Image(np.zeros((2, 2), np.uint8))) == MediaType("image")
    assert type_of(object()) == PythonObjectType("object")


def test_list_elements_must_agree_but_may_be_none() -> None:
    assert type_of([1, "a"]) == PythonObjectType("list")  # no single element type
    mixed_none = type_of([1, None])
    assert mixed_none == ListType(optional(NUMBER))
    refined = ListType().assign([])
    assert refined == ListType(UNKNOWN)
    assert refined is not None and refined.assign(["x"]) == ListType(STRING)


def test_dict_keys_fixed_by_first_value() -> None:
    dtype = type_of({"a": 1, "b": "x"})
    assert dtype.assign({"a": 2, "b": "y"}) is dtype
    assert dtype.assign({"a": 2, "b": "y", "c": 1}) is None  # extra key
    assert dtype.assign({"a": 2}) is None  # missing key whose type does not admit None
    with_none = type_of({"a": 1, "b": None})
    assert with_none.assign({"a": 1}) is not None  # b may be missing: it admits None
    assert with_none.assign({"a": 1, "b": "later"}) is not None


def test_ndarray_shape_fixed_and_same_shape_list_accepted() -> None:
    dtype = NDArrayType((3,))
    assert dtype.assign(np.ones(3)) is dtype
    assert dtype.assign([1, 2, 3]) is dtype
    assert dtype.assign(np.ones(4)) is None
    assert dtype.assign([[1, 2], [3]]) is None  # ragged
    assert NDArrayType().assign(np.ones((2, 2))) == NDArrayType((2, 2))


def test_unknown_fixes_on_first_value_and_optional_takes_none() -> None:
    assert UNKNOWN.assign(None) is None
    assert UNKNOWN.assign(3) == NUMBER
    assert OPTIONAL_UNKNOWN.assign(None) is OPTIONAL_UNKNOWN
    assert OPTIONAL_UNKNOWN.assign("x") == optional(STRING)
    assert optional(NUMBER).assign(float("nan")) is not None
    assert NUMBER.assign(float("nan")) is None


def test_any_takes_every_value_but_none() -> None:
    assert ANY.assign(1) is ANY and ANY.assign("a") is ANY and ANY.assign([1]) is ANY
    assert ANY.assign(None) is None
    assert optional(ANY).assign(None) is not None


def test_union_flattens_and_dedupes() -> None:
    u = union(NUMBER, union(STRING, NUMBER), NONE)
    assert isinstance(u, UnionType) and len(u.members) == 3
    assert union(NUMBER) is NUMBER
    assert u.describe() == "number or string or None"


def test_fast_sets() -> None:
    assert int in NUMBER.fast_types and float not in NUMBER.fast_types  # NaN needs a look
    assert float in optional(NUMBER).fast_types
    assert bool not in NUMBER.fast_types and bool in BOOLEAN.fast_types
    assert type(None) in optional(STRING).fast_types
    assert not OPTIONAL_UNKNOWN.fast_types - {type(None)}
    assert Image in MediaType("image").fast_types


@pytest.mark.parametrize(("spec", "expected"), [
    (None, UNKNOWN), (int, NUMBER), (float, NUMBER), (np.float32, NUMBER), (bool, BOOLEAN),
    (str, STRING), (dt.datetime, TIMESTAMP), (Image, MediaType("image")),
    (Table, TableCellType()), ([int], ListType(NUMBER)), ([int, str], union(NUMBER, STRING)),
    ({"a": int}, DictType({"a": NUMBER})), (np.ndarray, NDArrayType()), (NUMBER, NUMBER),
])
def test_dtype_from_spec(spec: object, expected: object) -> None:
    assert dtype_from_spec(spec) == expected


def test_any_other_value_is_a_constant() -> None:
    const = dtype_from_spec(5)
    assert const.assign(5) is const
    assert const.assign(6) is None


@pytest.mark.parametrize("dtype", [
    UNKNOWN, OPTIONAL_UNKNOWN, optional(ANY), NUMBER, optional(BOOLEAN), TIMESTAMP,
    ListType(optional(NUMBER)), DictType({"a": NUMBER, "b": ListType(STRING)}),
    NDArrayType((2, 3)), MediaType("image"), MediaType("audio"), TableCellType(["a", "b"]),
    PythonObjectType("Foo"), union(NUMBER, STRING, NONE), dtype_from_spec("const"),
])
def test_plain_form_round_trips_through_msgpack(dtype: object) -> None:
    assert not isinstance(dtype, type)
    plain = dtype.to_plain()  # type: ignore[attr-defined]
    assert dtype_from_plain(wire.unpackb(wire.packb(plain))) == dtype


def test_union_plain_form_is_wandb_like() -> None:
    assert optional(NUMBER).to_plain() == {"wb_type": "union", "params": {"allowed_types": [
        {"wb_type": "none"}, {"wb_type": "number"}]}}


@pytest.mark.parametrize("plain", [{}, {"wb_type": "nope"}, {"wb_type": "list"}, "number"])
def test_bad_plain_form_is_a_wire_error(plain: object) -> None:
    with pytest.raises(WireError):
        dtype_from_plain(plain)


def test_check_column_reports_first_failure_and_refines() -> None:
    dtype, failed = check_column(OPTIONAL_UNKNOWN, [None, 1, 2.5, None])
    assert failed is None and dtype == optional(NUMBER)
    dtype, failed = check_column(OPTIONAL_UNKNOWN, [None, 1, "x", 2])
    assert failed == 2 and dtype == optional(NUMBER)
    dtype, failed = check_column(UNKNOWN, [[1], [], [2, 3]])
    assert failed is None and dtype == ListType(NUMBER)
