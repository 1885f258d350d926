"""Table errors where wandb asserts: also AssertionErrors, with the words wandb programs match.

wandb 0.31 checks many Table arguments with a bare ``assert``; programs (and
wandb's own tests) catch them as AssertionError. tablelog raises its own error
classes, which are AssertionErrors too, besides the ValueError/TypeError they
always were.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tablelog as wandb
from tablelog import errors


def rows() -> list[list[Any]]:
    return [["a", 1, True], ["b", 2, False]]


def test_the_argument_errors_are_assertion_errors_and_tablelog_errors() -> None:
    assert issubclass(errors.TableArgumentError, AssertionError)
    assert issubclass(errors.TableArgumentError, ValueError)
    assert issubclass(errors.TableArgumentTypeError, AssertionError)
    assert issubclass(errors.TableArgumentTypeError, TypeError)
    for cls in (errors.TableArgumentError, errors.TableArgumentTypeError):
        assert issubclass(cls, errors.TableError) and issubclass(cls, errors.TablelogError)


@pytest.mark.parametrize(("make", "match"), [
    # rows, an ndarray or a DataFrame given where the columns go
    (lambda: wandb.Table(rows()), "columns argument expects list of strings or ints"),
    (lambda: wandb.Table(np.array(rows())), "columns argument expects a `list` object"),
    (lambda: wandb.Table(pd.DataFrame(rows())), "columns argument expects a `list` object"),
    (lambda: wandb.Table(dataframe=rows()), "dataframe argument expects a "
                                            "`pandas.core.frame.DataFrame` object"),
    (lambda: wandb.Table(dataframe=np.array(rows())), "dataframe argument expects"),
    (lambda: wandb.Table(columns=["a"], data="not rows"), "data argument expects a `list`"),
    (lambda: wandb.Table(columns=["a", 1.5]), "columns argument expects list of strings"),
])
def test_bad_constructor_arguments_are_assertion_and_type_errors(
        make: Callable[[], Any], match: str) -> None:
    with pytest.raises(AssertionError, match=match) as info:
        make()
    assert isinstance(info.value, TypeError)


def test_invalid_log_mode_uses_wandbs_words() -> None:
    with pytest.raises(AssertionError, match=r"Invalid log_mode: INVALID_MODE\. Must be one of "
                                             r"\['IMMUTABLE', 'MUTABLE', 'INCREMENTAL'\]"):
        wandb.Table(log_mode="INVALID_MODE")
    with pytest.raises(ValueError):
        wandb.Table(log_mode=None)


def test_add_column_of_the_wrong_length_unknown_name_or_duplicate() -> None:
    table = wandb.Table(columns=[], data=[])
    table.add_column("number", [1, 2, 3])
    with pytest.raises(AssertionError, match="Expected length 3, found 1") as info:
        table.add_column("strings", ["a"])
    assert isinstance(info.value, ValueError)
    with pytest.raises(AssertionError):
        table.add_column("number", [4, 5, 6])  # the name is taken
    with pytest.raises(AssertionError):
        table.add_column(7, [4, 5, 6])  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        table.add_column("t", (4, 5, 6))  # neither a list nor an ndarray
    assert table.columns == ["number"] and table.data == [[1], [2], [3]]
    # a failure of the values' types is a TypeError, as in wandb (not an assertion)
    with pytest.raises(TypeError) as type_info:
        table.add_column("mixed", [1, "a", 2])
    assert not isinstance(type_info.value, AssertionError)


def test_unknown_columns_and_bad_arguments_of_the_readers() -> None:
    table = wandb.Table(columns=["a"], data=[[1], [2]])
    for call in (lambda: table.get_column("zz"), lambda: table.cast("zz", int),
                 lambda: table.set_pk("zz"), lambda: table.get_column("a", convert_to="pd"),
                 lambda: table.index_ref(2)):
        with pytest.raises(AssertionError):
            call()
    with pytest.raises(AssertionError):
        table.add_computed_columns(lambda i, row: [i])  # type: ignore[arg-type,return-value]


def test_row_and_type_errors_stay_what_wandb_raises() -> None:
    """wandb raises ValueError for a row of the wrong length and TypeError for a cell of the
    wrong type (not assertions): a program's `except ValueError` keeps catching them."""
    table = wandb.Table(columns=["a", "b"])
    with pytest.raises(ValueError, match="expects 2 columns") as length:
        table.add_data(1)
    assert not isinstance(length.value, AssertionError)
    table.add_data(1, "x")
    with pytest.raises(TypeError, match="Data row contained incompatible types") as cell:
        table.add_data("y", "x")
    assert not isinstance(cell.value, AssertionError)
    with pytest.raises(TypeError, match="Existing data x, of type"):
        table.cast("b", int)
    assert table.data == [[1, "x"]]


def test_an_incremental_table_logged_to_a_second_run_is_an_assertion_error(
        queue_dir: Path) -> None:
    table = wandb.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with wandb.init(project="p") as run:
        run.log({"t": table})
    table.add_data(2)
    refused = "An incremental Table can only be logged to one Run"
    with (wandb.init(project="p", reinit="create_new") as second,
          pytest.raises(AssertionError, match=refused) as info):
        second.log({"t": table})
    assert isinstance(info.value, errors.IncrementalTableError)
