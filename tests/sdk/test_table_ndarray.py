"""Table typing of arrays, complex numbers and nested tables, as wandb types them.

- ndarray data of more than 2 dimensions is rows of array cells;
- an array goes into a list column of its shape, a nested list into an array column;
- numpy (and Python) complex numbers are numbers, a complex DataFrame column too,
  and they are logged and read back (wandb itself cannot log them: its JSON refuses);
- a Table cell must have the columns, and column types, of the column's first table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.data_types.dtypes import NDArrayType, NumberType


def test_ndarray_data_of_more_dimensions_is_rows_of_array_cells() -> None:
    rng = np.random.default_rng(0)
    table = wandb.Table(columns=["ndarray"], data=rng.integers(255, size=(4, 1, 8, 8, 3)))
    assert len(table.data) == 4 and table.data[0][0].shape == (8, 8, 3)
    table.add_data(rng.integers(255, size=(8, 8, 3)))
    table.add_data(rng.integers(255, size=(8, 8, 3)).tolist())  # a nested list of that shape
    for wrong in (rng.integers(255, size=(9, 8, 3)), rng.integers(255, size=(9, 8, 3)).tolist()):
        with pytest.raises(TypeError):
            table.add_data(wrong)
    assert len(table.data) == 6
    assert table._column_types["ndarray"].to_plain()["params"]["allowed_types"][0] == {
        "wb_type": "ndarray", "params": {"shape": [8, 8, 3]}}
    two_columns = wandb.Table(columns=["a", "b"], data=np.zeros((3, 2, 5)))
    assert [c.shape for c in two_columns.data[0]] == [(5,), (5,)]


def test_an_array_goes_into_a_list_column_and_cast_makes_an_array_column() -> None:
    table = wandb.Table(columns=[], data=[])
    table.add_column("odd", [[[i], [i]] for i in range(3)] + [np.arange(2).reshape(2, 1)])
    assert table._column_types["odd"].wb_type == "list"
    table.add_data(np.array([[7], [8]]))
    with pytest.raises(TypeError):
        table.add_data(np.array(["a", "b"]))  # a list of strings does not fit
    table.cast("odd", NDArrayType(shape=(2, 1)))
    table.add_data(np.zeros((2, 1)))
    table.add_data([[1], [2]])
    for wrong in (np.zeros((2, 2)), [[1, 2], [3, 4]]):
        with pytest.raises(TypeError):
            table.add_data(wrong)
    assert table._column_types["odd"] == NDArrayType((2, 1))


@pytest.mark.parametrize("number", [np.complex64(42), np.complex128(1 + 2j), np.csingle(3),
                                    np.clongdouble(4), 5 + 6j])
def test_complex_numbers_are_numbers(number: Any) -> None:
    table = wandb.Table(columns=["A"], dtype=[NumberType])  # a type class, as in wandb
    table.add_data(None)
    table.add_data(42)
    table.add_data(number)
    with pytest.raises(TypeError):
        table.add_data("42")
    inferred = wandb.Table(columns=["A"], data=[[number]])
    inferred.add_data(1.5)
    assert inferred._column_types["A"].to_plain()["params"]["allowed_types"] == [
        {"wb_type": "none"}, {"wb_type": "number"}]


def test_complex_arrays_fit_a_list_of_numbers_column() -> None:
    table = wandb.Table(columns=["A"], dtype=[[NumberType]])
    table.add_data(None)
    table.add_data([42])
    for dtype in (np.csingle, np.cdouble, np.clongdouble, np.int8, np.uint64, np.float16):
        table.add_data(np.array([42, 42], dtype=dtype))
    with pytest.raises(TypeError):
        table.add_data(np.array(["a"]))
    nested = wandb.Table(columns=["A"])
    nested.add_data([[[[1, 2, 3]]]])
    nested.add_data(np.array([[[[1, 2, 3]]]]))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, np.clongdouble])
def test_a_complex_dataframe_column(dtype: Any) -> None:
    table = wandb.Table(dataframe=pd.DataFrame([[42], [42]]).astype(dtype))
    table.add_data(42)
    table.add_data(1 + 1j)
    assert table.get_column(0)[0] == 42
    with pytest.raises(TypeError):
        table.add_data("x")


def test_complex_values_are_logged_and_read_back(queue_dir: Path) -> None:
    assert wire.unpackb(wire.packb([np.complex128(1 + 2j), 3 - 1j])) == [1 + 2j, 3 - 1j]
    assert wire.jsonable([1 + 2j, np.array([1j])]) == ["(1+2j)", ["1j"]]
    rows = [[np.complex128(1 + 2j), np.array([1j, 2])], [3, np.array([0, 1 + 1j])]]
    with wandb.init(project="p") as run:
        run.log({"c": wandb.Table(columns=["z", "arr"], data=rows)})
        got = run.use_artifact(f"run-{run.id}-c:latest").get("c")
    assert run.not_persisted == []
    assert got.get_column("z") == [1 + 2j, 3]
    assert np.array_equal(got.data[1][1], np.array([0, 1 + 1j]))


def test_nested_table_cells_must_have_compatible_column_types() -> None:
    table = wandb.Table(columns=["image", "table"], optional=False,
                        dtype=[wandb.Image, wandb.Table])
    with pytest.raises(TypeError):
        table.add_data(None, None)

    def image() -> Any:
        return wandb.Image(np.random.default_rng(1).random((10, 10)))

    table.add_data(image(), wandb.Table(data=[[1, True, None]]))
    with pytest.raises(TypeError):
        table.add_data("hello", wandb.Table(data=[[1, True, None]]))
    with pytest.raises(TypeError):  # a column of booleans then a string
        table.add_data(image(), wandb.Table(data=[[1, "True", None]]))
    with pytest.raises(TypeError):  # other columns
        table.add_data(image(), wandb.Table(columns=["x"], data=[[1]]))
    table.add_data(image(), wandb.Table(data=[[1, True, 1]]))  # the None column takes a type
    table.add_data(image(), wandb.Table(data=[[2, False, 3]]))
    with pytest.raises(TypeError):  # ... and keeps it
        table.add_data(image(), wandb.Table(data=[[2, False, "3"]]))
    assert len(table.data) == 3


def test_a_nested_table_type_reads_back_from_its_plain_form() -> None:
    from tablelog.data_types.dtypes import dtype_from_plain

    outer = wandb.Table(columns=["t"], data=[[wandb.Table(columns=["n"], data=[[1]])]])
    dtype = outer._types[0]
    again = dtype_from_plain(dtype.to_plain())
    assert again == dtype
    assert again.assign(wandb.Table(columns=["n"], data=[["a"]])) is None
