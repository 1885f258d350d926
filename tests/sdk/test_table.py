"""Table: construction, typing, errors, mutators and the hooks the run layer uses.

The behaviours listed in section 6 of the wandb behaviour reference are noted
as (ref N). Classes (ref 9) and partitioned tables are not built, so not tested.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import string
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tablelog as wandb
from tablelog import errors, wire
from tablelog.data_types.dtypes import NUMBER as NUMBER_T
from tablelog.data_types.dtypes import NDArrayType, optional
from tablelog.data_types.table import Table


def make(columns: list[Any], rows: list[list[Any]], **kwargs: Any) -> Table:
    return wandb.Table(columns=columns, data=rows, **kwargs)


# ---------------------------------------------------------------------------
# construction (ref 1, 2)


def test_default_columns_and_table_json() -> None:
    table = wandb.Table()
    assert table.columns == ["Input", "Output", "Expected"]
    assert table.data == []
    assert set(table._to_table_json()) == {"columns", "data"}


def test_every_constructor_gives_the_same_data() -> None:
    rows = [[1, 2.5, 3], [4, 5.5, 6]]
    cols = ["a", "b", "c"]
    by_list = wandb.Table(columns=cols, data=rows)
    by_rows = wandb.Table(columns=cols, rows=rows)
    by_array = wandb.Table(columns=cols, data=np.array(rows))
    by_frame = wandb.Table(dataframe=pd.DataFrame(rows, columns=cols))
    by_frame_as_data = wandb.Table(data=pd.DataFrame(rows, columns=cols))
    for other in (by_rows, by_array, by_frame, by_frame_as_data):
        assert other.data == by_list.data
        assert other.columns == cols


def test_rows_are_copied_from_the_input() -> None:
    rows = [[1, "a"]]
    table = make(["n", "s"], rows)
    rows[0][0] = 99
    assert table.data == [[1, "a"]]


def test_dataframe_wins_and_takes_its_columns() -> None:
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    table = wandb.Table(columns=["ignored"], data=[[0]], dataframe=frame)
    assert table.columns == ["x", "y"]
    assert table.data == [[1, "a"], [2, "b"]]


def test_rows_passed_as_columns_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"list of strings or ints.*data="):
        wandb.Table([[1, 2], [3, 4]])  # type: ignore[list-item]


@pytest.mark.parametrize("bad", ["abc", {"a": 1}, 5])
def test_columns_must_be_a_list(bad: Any) -> None:
    with pytest.raises(errors.TableTypeError, match="columns argument"):
        wandb.Table(columns=bad)
    assert wandb.Table(columns=("a", "b")).columns == ["a", "b"]  # a tuple is fine here


def test_list_as_dataframe_is_an_error() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        wandb.Table(dataframe=[[1, 2]])


def test_tuple_data_is_an_error() -> None:
    with pytest.raises(errors.TableTypeError, match="list of rows"):
        wandb.Table(columns=["a"], data=((1,),))


def test_ndarray_must_be_two_dimensional() -> None:
    with pytest.raises(errors.TableRowError, match="2-D"):
        wandb.Table(columns=["a"], data=np.arange(3))


def test_object_ndarray_goes_row_by_row() -> None:
    table = wandb.Table(columns=["a", "b"], data=np.array([[1, "x"], [2, "y"]], dtype=object))
    assert table.data == [[1, "x"], [2, "y"]]


def test_duplicate_column_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate column name 'a'"):
        wandb.Table(columns=["a", "b", "a"])


@pytest.mark.parametrize("mode", ["immutable", "APPEND", None, 3])
def test_invalid_log_mode(mode: Any) -> None:  # (ref 20)
    with pytest.raises(errors.TableRowError, match="Invalid log_mode"):
        wandb.Table(columns=["a"], log_mode=mode)


@pytest.mark.parametrize("mode", ["IMMUTABLE", "MUTABLE", "INCREMENTAL"])
def test_valid_log_modes(mode: str) -> None:
    assert wandb.Table(columns=["a"], log_mode=mode).log_mode == mode


def test_max_artifact_rows_is_a_settable_class_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Table.MAX_ARTIFACT_ROWS == 200_000
    monkeypatch.setattr(Table, "MAX_ARTIFACT_ROWS", 5)
    table = make(["a"], [[i] for i in range(10)])  # never truncated, never refused here
    assert table.data == [[i] for i in range(10)] and wandb.Table.MAX_ARTIFACT_ROWS == 5


# ---------------------------------------------------------------------------
# rows and iteration (ref 3)


def test_iterrows_and_add_row() -> None:
    table = wandb.Table(columns=["a", "b"])
    assert list(table.iterrows()) == []
    table.add_data(1, "x")
    table.add_row(2, "y")
    assert table.data == [[1, "x"], [2, "y"]]
    assert [(int(i), row) for i, row in table.iterrows()] == [(0, [1, "x"]), (1, [2, "y"])]


def test_row_length_error_names_columns_and_row() -> None:
    table = wandb.Table(columns=["id", "image", "guess", "truth", *[f"s{i}" for i in range(10)]])
    with pytest.raises(ValueError, match=r"Table expects 14 columns \(id, image, guess, truth, "
                                         r"s0, s1, …\), got 4 values in row 0"):
        table.add_data(1, 2, 3, 4)
    with pytest.raises(errors.TableRowError) as info:
        table.add_data()
    assert isinstance(info.value, errors.TablelogError)


def test_row_length_error_in_bulk_names_the_row() -> None:
    with pytest.raises(errors.TableRowError, match="got 1 values in row 2"):
        make(["a", "b"], [[1, 2], [3, 4], [5]])


def test_bulk_reports_the_earliest_bad_row() -> None:
    # row 1 has a type error in column b, row 3 one in column a: row 1 is reported
    with pytest.raises(errors.TableTypeError, match=r"'b'.*row 1"):
        make(["a", "b"], [[1, "x"], [2, 3], [4, "y"], ["z", "w"]])
    # a type error before a short row wins, as appending row by row would
    with pytest.raises(errors.TableTypeError, match="row 1"):
        make(["a"], [[1], ["x"], []])


# ---------------------------------------------------------------------------
# typing (ref 5, 6, 7, 8, 10, 11, 12, 13)


def test_first_value_fixes_the_type() -> None:  # (ref 5)
    table = wandb.Table(columns=["a"])
    table.add_data(None)
    table.add_data(1)
    with pytest.raises(TypeError) as info:
        table.add_data("a")
    message = str(info.value)
    assert "'a'" in message and "number" in message and "str" in message and "row 2" in message
    assert isinstance(info.value, errors.TableTypeError)
    assert table.data == [[None], [1]]


def test_optional_false_rejects_none() -> None:  # (ref 5)
    table = wandb.Table(columns=["a"], optional=False)
    with pytest.raises(TypeError, match="does not accept None"):
        table.add_data(None)
    with pytest.raises(TypeError, match="does not accept None"):
        table.add_data(float("nan"))  # NaN counts as None
    table.add_data(1.5)


def test_nan_in_optional_number_column() -> None:
    table = make(["a"], [[1.0], [float("nan")], [None]])
    assert table.data[0] == [1.0] and math.isnan(table.data[1][0]) and table.data[2] == [None]
    assert table._column_types == {"a": optional(NUMBER_T)}


def test_bool_is_not_a_number_in_tables() -> None:
    table = make(["a"], [[1]])
    with pytest.raises(TypeError, match="boolean"):
        table.add_data(True)


def test_allow_mixed_types() -> None:  # (ref 6)
    table = wandb.Table(columns=["a"], allow_mixed_types=True)
    table.add_data(1)
    table.add_data("a")
    table.add_data(None)
    strict = wandb.Table(columns=["a"], allow_mixed_types=True, optional=False)
    strict.add_data([1])
    with pytest.raises(TypeError):
        strict.add_data(None)


def test_dtype_and_optional_per_column() -> None:  # (ref 7)
    table = wandb.Table(columns=["a", "b"], dtype=[int, str], optional=[False, True])
    table.add_data(1, None)
    table.add_data(2, "x")
    with pytest.raises(TypeError, match="'a'"):
        table.add_data(None, "y")
    with pytest.raises(TypeError, match="'b'"):
        table.add_data(3, 4)
    one_for_all = wandb.Table(columns=["a", "b"], dtype=int)
    with pytest.raises(TypeError):
        one_for_all.add_data(1, "x")
    union_column = wandb.Table(columns=["a"], dtype=[[int, str]])
    union_column.add_data(1)
    union_column.add_data("x")


def test_per_column_lists_must_match_the_columns() -> None:
    with pytest.raises(errors.TableRowError, match="dtype as a list"):
        wandb.Table(columns=["a"], dtype=[int, str])
    with pytest.raises(errors.TableRowError, match="optional as a list"):
        wandb.Table(columns=["a", "b"], optional=[True])


def test_nested_cells_with_images() -> None:  # (ref 8)
    image = wandb.Image(np.zeros((2, 2), np.uint8))
    table = wandb.Table(columns=["d", "l"])
    table.add_data({"img": image, "n": 1}, [image, image])
    table.add_data({"img": image, "n": 2}, [image])
    with pytest.raises(TypeError):
        table.add_data({"img": image}, [image])  # key n missing
    with pytest.raises(TypeError):
        table.add_data({"img": "not an image", "n": 3}, [image])
    with pytest.raises(TypeError):
        table.add_data({"img": image, "n": 3}, ["x"])


def test_media_and_table_dtypes_reject_none_and_strings() -> None:  # (ref 10)
    inner = wandb.Table(columns=["x"], data=[[1]])
    table = wandb.Table(columns=["img", "tab"], dtype=[wandb.Image, wandb.Table], optional=False)
    table.add_data(wandb.Image(np.zeros((2, 2), np.uint8)), inner)
    with pytest.raises(TypeError):
        table.add_data(None, inner)
    with pytest.raises(TypeError):
        table.add_data("image.png", inner)
    with pytest.raises(TypeError, match="Table with columns"):
        table.add_data(wandb.Image(np.zeros((2, 2), np.uint8)),
                       wandb.Table(columns=["other"]))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                   np.uint32, np.uint64, np.float16, np.float32, np.float64])
def test_numpy_scalars_and_arrays_of_every_numeric_dtype(dtype: Any) -> None:  # (ref 11)
    table = wandb.Table(columns=["s", "a"])
    table.add_data(dtype(1), np.ones(3, dtype=dtype))
    table.add_data(dtype(2), np.zeros(3, dtype=dtype))
    assert [[s, np.asarray(a).tolist()] for s, a in table.data] == [[1, [1, 1, 1]],
                                                                     [2, [0, 0, 0]]]
    by_array = wandb.Table(columns=["a", "b"], data=np.ones((2, 2), dtype=dtype))
    assert by_array.data == [[1, 1], [1, 1]]


def test_numpy_bools() -> None:
    table = wandb.Table(columns=["b"])
    table.add_data(np.bool_(True))
    table.add_data(False)
    with pytest.raises(TypeError):
        table.add_data(1)
    assert table.data == [[True], [False]]


def test_pandas_nullable_dtypes() -> None:  # (ref 11, 12)
    frame = pd.DataFrame({
        "i": pd.array([1, None, 3], dtype="Int64"),
        "f": pd.array([1.5, None, 2.5], dtype="Float64"),
        "b": pd.array([True, None, False], dtype="boolean"),
        "s": pd.array(["a", None, "c"], dtype="string"),
        "o": ["a", float("nan"), "c"],  # NaN in a string column
        "t": pd.to_datetime(["2024-01-01", None, "2024-01-03"]),
    })
    table = wandb.Table(dataframe=frame)
    assert table.data[1][:4] == [None, None, None, None]
    assert table.data[0][0] == 1 and table.data[0][3] == "a"
    assert table.data[0][5] == dt.datetime(2024, 1, 1) and table.data[1][5] is None
    wire.packb(table.data)  # every cell can travel


def test_ndarray_column_shape() -> None:  # (ref 13)
    table = wandb.Table(columns=["a"])
    table.add_data(np.zeros(3))
    table.add_data([1, 2, 3])
    with pytest.raises(TypeError, match=r"shape \(3,\)"):
        table.add_data(np.zeros(4))
    lists = make(["a"], [[[1, 2]], [[3, 4]]])
    lists.cast("a", NDArrayType((2,)))
    with pytest.raises(TypeError, match="cannot be cast"):
        lists.cast("a", NDArrayType((3,)))


def test_timestamps() -> None:
    table = wandb.Table(columns=["t"])
    table.add_data(dt.datetime(2024, 1, 1, 12))
    table.add_data(dt.date(2024, 1, 2))
    table.add_data(np.datetime64("2024-01-03"))
    with pytest.raises(TypeError):
        table.add_data("2024-01-04")


# ---------------------------------------------------------------------------
# equality (ref 4)


def test_equality_needs_columns_rows_types_and_cells() -> None:
    base = make(["a", "b"], [[1, "x"], [2, "y"]])
    assert base == make(["a", "b"], [[1, "x"], [2, "y"]])
    assert base._eq_debug(make(["a", "b"], [[1, "x"], [2, "y"]]), True)
    different = {
        "columns": make(["a", "c"], [[1, "x"], [2, "y"]]),
        "row count": make(["a", "b"], [[1, "x"]]),
        "types": make(["a", "b"], [[1, "x"], [2, "y"]], dtype=[int, None], optional=False),
        "cell": make(["a", "b"], [[1, "x"], [2, "z"]]),
    }
    for reason, other in different.items():
        assert base != other, reason
        assert not base._eq_debug(other)
        with pytest.raises(AssertionError):
            base._eq_debug(other, should_assert=True)
    assert base != "not a table"


def test_equality_is_numpy_and_nan_aware() -> None:
    rows = [[np.arange(3), float("nan"), {"k": [np.ones(2)]}]]
    assert make(["a", "b", "c"], rows) == make(["a", "b", "c"], [
        [np.arange(3), float("nan"), {"k": [np.ones(2)]}]])
    assert make(["a", "b", "c"], rows) != make(["a", "b", "c"], [
        [np.arange(3) + 1, float("nan"), {"k": [np.ones(2)]}]])


# ---------------------------------------------------------------------------
# add_column, add_computed_columns, cast (ref 14)


def test_add_column_on_an_empty_table() -> None:
    table = wandb.Table(columns=[])
    table.add_column("a", [1, 2, 3])
    assert table.columns == ["a"] and table.data == [[1], [2], [3]]
    table.add_column("b", np.array([4, 5, 6]))
    assert table.data == [[1, 4], [2, 5], [3, 6]]
    table.add_column("c", np.zeros((3, 2)))
    assert table._column_types["c"] == NDArrayType((2,))


def test_add_column_errors_leave_the_table_unchanged() -> None:
    table = make(["a"], [[1], [2]])
    before = (list(table.columns), [list(r) for r in table.data], table._structure_version)
    cases: list[tuple[type[Exception], str, Any, Any]] = [
        (errors.TableRowError, "needs 2 values", "b", [1]),
        (errors.TableRowError, "duplicate column name 'a'", "a", [1, 2]),
        (errors.TableTypeError, "must be strings", 5, [1, 2]),
        (errors.TableTypeError, "list or numpy array", "b", (1, 2)),
        (errors.TableTypeError, "cannot be cast", "b", [1, "x"]),
        (errors.TableTypeError, "not optional", "b", [1, None]),
    ]
    for exc, message, name, data in cases:
        with pytest.raises(exc, match=message):
            table.add_column(name, data)
        assert (table.columns, table.data, table._structure_version) == before


def test_add_column_optional() -> None:
    table = make(["a"], [[1], [2]])
    table.add_column("b", [None, "x"], optional=True)
    assert table.data == [[1, None], [2, "x"]]


def test_add_computed_columns() -> None:
    table = make(["a"], [[1], [2]])
    table.add_computed_columns(lambda i, row: {"double": row["a"] * 2, "index": i})
    assert table.columns == ["a", "double", "index"]
    assert table.data == [[1, 2, 0], [2, 4, 1]]
    with pytest.raises(errors.TableTypeError, match="must return a dict"):
        table.add_computed_columns(lambda i, row: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(errors.TableRowError, match="keys"):
        table.add_computed_columns(lambda i, row: {"x": 1} if i == 0 else {"y": 2})
    with pytest.raises(errors.TableTypeError, match="cannot be cast"):
        table.add_computed_columns(lambda i, row: {"ok": 1, "bad": "x" if i else 1})
    assert table.columns == ["a", "double", "index"]  # nothing of a failed call stays


def test_cast() -> None:
    table = make(["a"], [[1], [None]])
    with pytest.raises(TypeError, match="Existing data None"):
        table.cast("a", int)  # wandb's default: optional=False
    table.cast("a", int, optional=True)
    with pytest.raises(TypeError, match="Existing data 1, of type number cannot be cast to"):
        table.cast("a", str, optional=True)
    with pytest.raises(errors.TableRowError, match="no column named 'zz'"):
        table.cast("zz", int)


@pytest.mark.parametrize("operation", ["add_column", "add_computed_columns"])
def test_incremental_tables_reject_new_columns(operation: str) -> None:
    table = make(["a"], [[1]], log_mode="INCREMENTAL")
    with pytest.raises(errors.IncrementalTableError,
                       match=f"Operation '{operation}' is not supported for tables with "
                             "log_mode='INCREMENTAL'"):
        if operation == "add_column":
            table.add_column("b", [1])
        else:
            table.add_computed_columns(lambda i, row: {"b": 1})
    table.add_data(2)  # appending is what INCREMENTAL is for
    assert table.columns == ["a"]


# ---------------------------------------------------------------------------
# reading (ref 15, 16)


def test_get_column() -> None:
    table = make(["a", "b"], [[1, "x"], [2, "y"]])
    assert table.get_column("a") == [1, 2]
    assert np.array_equal(table.get_column("a", convert_to="numpy"), np.array([1, 2]))
    with pytest.raises(errors.TableRowError, match="no column named"):
        table.get_column("zz")
    with pytest.raises(errors.TableRowError, match="convert_to"):
        table.get_column("a", convert_to="pandas")


def test_get_column_of_images_stacks_pixels() -> None:
    pixels = [np.full((4, 5, 3), i * 10, np.uint8) for i in range(3)]
    table = wandb.Table(columns=["img"], data=[[wandb.Image(p)] for p in pixels])
    stacked = table.get_column("img", convert_to="numpy")
    assert stacked.shape == (3, 4, 5, 3)
    assert np.array_equal(stacked, np.stack(pixels))


def test_get_index_and_foreign_index() -> None:
    source = make(["a"], [["x"], ["y"], ["z"]])
    index = source.get_index()
    assert index == [0, 1, 2]
    assert all(i._table is source for i in index)
    assert source.index_ref(1) == 1
    with pytest.raises(errors.TableRowError):
        source.index_ref(3)
    linked = wandb.Table(columns=["ref"])
    linked.add_data(index[2])
    assert linked._column_types_plain()[0] == {"wb_type": "foreignIndex"}


def test_get_dataframe() -> None:
    frame = make(["a", "b"], [[1, "x"]]).get_dataframe()
    assert list(frame.columns) == ["a", "b"] and frame.iloc[0].tolist() == [1, "x"]


# ---------------------------------------------------------------------------
# keys (ref 16, 17)


def test_set_pk_and_foreign_keys() -> None:
    people = make(["name", "age"], [["ann", 30], ["bob", 40]])
    with pytest.raises(TypeError, match="cannot be cast to primary key"):
        people.set_pk("age")
    assert people._structure_version == 0 and people.get_column("age") == [30, 40]
    with_none = make(["name"], [["ann"], [None]])
    with pytest.raises(TypeError, match="Existing data None"):
        with_none.set_pk("name")  # keys are never None
    people.set_pk("name")
    assert people._column_types_plain()[0] == {"wb_type": "primaryKey"}
    with pytest.raises(ValueError, match="only one"):
        people.set_pk("age")
    with pytest.raises(TypeError, match="key column"):  # wandb: TypeError too
        people.cast("name", str)
    with pytest.raises(TypeError):
        people.add_data(None, 50)  # keys are never None
    people.add_data("cy", 50)
    key = people.get_column("name")[2]
    assert key == "cy" and key._table is people  # type: ignore[attr-defined]
    visits = wandb.Table(columns=["who"])
    visits.add_data(people.get_column("name")[0])
    # as in wandb, a key cell makes the column a (never optional) foreign key
    assert visits._column_types_plain()[0] == {
        "wb_type": "foreignKey", "params": {"col_name": "name"}}


def test_set_fk() -> None:
    people = make(["name"], [["ann"]])
    orders = make(["who", "n"], [["ann", 1]])
    with pytest.raises(TypeError):
        orders.set_fk("n", people, "name")
    with pytest.raises(errors.TableRowError, match="no column named"):
        orders.set_fk("who", people, "missing")
    orders.set_fk("who", people, "name")
    assert orders.get_column("who")[0]._table is people  # type: ignore[attr-defined]
    with pytest.raises(TypeError):  # a key column cannot change its key type (wandb: TypeError)
        orders.set_pk("who")


# ---------------------------------------------------------------------------
# run-layer hooks


def test_structure_version_and_mutation_hook() -> None:
    calls: list[str] = []
    table = make(["a"], [[1]])
    table._mutation_hook = calls.append
    assert table._structure_version == 0
    table.add_data(2)
    table.add_row(3)
    assert table._structure_version == 0 and len(table.data) == 3
    table.add_column("b", ["x", "y", "z"])
    table.add_computed_columns(lambda i, row: {"c": i})
    table.cast("a", float)
    table.set_pk("b")
    other = make(["k"], [["x"]])
    table.add_column("d", ["x", "x", "x"])
    table.set_fk("d", other, "k")
    assert table._structure_version == 6
    assert calls == ["add_data", "add_row", "add_column", "add_computed_columns", "cast",
                     "set_pk", "add_column", "set_fk"]
    with pytest.raises(TypeError):
        table.add_data("bad", "x", 1, "x")
    assert len(calls) == 8  # failed changes do not call the hook


def test_from_wire_round_trip_is_equal() -> None:
    image = wandb.Image(np.arange(12, dtype=np.uint8).reshape(2, 2, 3), caption="c")
    rows = [
        [1, 0.5, "x", True, dt.datetime(2024, 5, 6, 7, 8, 9, 123000), np.arange(3.0),
         {"k": [1, 2]}, image, None],
        [2, float("nan"), None, False, dt.date(2024, 1, 1), np.zeros(3), {"k": []}, None, None],
    ]
    table = make(["i", "f", "s", "b", "t", "arr", "d", "img", "empty"], rows)
    blobs: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def to_ref(value: Any) -> wire.MediaRef:
        data, meta = value._encode()
        blobs[value.sha256] = (data, meta)
        return wire.MediaRef(value._kind, value.sha256, len(data), meta)

    stored_types = wire.unpackb(wire.packb(table._column_types_plain()))
    stored_rows = wire.decode_rows(wire.encode_rows(table.data, resolve=to_ref))
    from tablelog.data_types.media import media_from_encoded
    for row in stored_rows:
        for j, cell in enumerate(row):
            if isinstance(cell, wire.MediaRef):
                row[j] = media_from_encoded(cell.kind, *blobs[cell.sha256])
    assert isinstance(stored_rows[0][4], dt.datetime) and stored_rows[0][4].tzinfo is not None
    back = Table._from_wire(table.columns, stored_types, stored_rows, "MUTABLE")
    assert back == table and table == back
    assert back._eq_debug(table, should_assert=True)
    assert back.log_mode == "MUTABLE"
    back.add_data(3, 1.0, "y", True, dt.datetime(2025, 1, 1), np.ones(3), {"k": [3]}, None, None)
    with pytest.raises(TypeError):
        back.add_data(4, "no", "y", True, None, None, None, None, None)


def test_from_wire_loads_any_union_types() -> None:  # (ref 19)
    plain = {"wb_type": "union", "params": {"allowed_types": [{"wb_type": "any"},
                                                              {"wb_type": "none"}]}}
    table = Table._from_wire(["a"], [plain], [[1], ["x"], [None]])
    assert table.data == [[1], ["x"], [None]]
    table.add_data([1, 2])
    assert table == make(["a"], [[1], ["x"], [None], [[1, 2]]], allow_mixed_types=True)


def test_from_wire_checks_the_shape_of_its_input() -> None:
    with pytest.raises(errors.WireError):
        Table._from_wire(["a", "b"], [{"wb_type": "number"}], [])


def test_timestamps_travel_as_utc_milliseconds() -> None:  # (ref 18)
    table = make(["t"], [[dt.datetime(2024, 1, 1, 12, 30)], [dt.date(2024, 1, 2)],
                         [np.datetime64("2024-01-03T04:05:06.789")]])
    stored = wire.decode_rows(wire.encode_rows(table.data))
    assert stored == [[dt.datetime(2024, 1, 1, 12, 30, tzinfo=dt.UTC)],
                      [dt.datetime(2024, 1, 2, tzinfo=dt.UTC)],
                      [dt.datetime(2024, 1, 3, 4, 5, 6, 789000, tzinfo=dt.UTC)]]
    assert Table._from_wire(table.columns, table._column_types_plain(), stored) == table


def test_timestamps_compare_by_instant() -> None:
    naive = make(["t"], [[dt.datetime(2024, 1, 1, 12, 0, 0, 500)]])
    aware = make(["t"], [[dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)]])
    assert naive == aware  # naive counts as UTC; compared at millisecond precision
    assert naive != make(["t"], [[dt.datetime(2024, 1, 1, 13)]])


def test_column_types_include_optionalness() -> None:
    table = make(["a", "b"], [[1, 2]], optional=[True, False])
    assert table._column_types == {"a": optional(NUMBER_T), "b": NUMBER_T}


# ---------------------------------------------------------------------------
# many rows: the bulk path and the row-by-row path agree


def test_200k_rows_from_a_list_equal_the_same_rows_appended() -> None:
    # How fast they build is bench/bench_table.py's to measure, not a unit test's.
    rnd = random.Random(0)
    rows = [[i, rnd.random(), "".join(rnd.choices(string.ascii_letters, k=10)), i % 2 == 0,
             rnd.random()] for i in range(200_000)]
    table = make(["i", "f", "s", "b", "g"], rows)
    appended = wandb.Table(columns=["i", "f", "s", "b", "g"])
    for row in rows:
        appended.add_data(*row)
    assert table == appended and len(table.data) == 200_000
    assert table.data[123_456] == rows[123_456]
