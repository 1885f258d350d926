"""JoinedTable: what it records (as wandb) and the local join `to_table`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tablelog as wandb
from tablelog import errors
from tablelog.data_types.dtypes import NUMBER, STRING, optional
from tablelog.data_types.table import Table


def left() -> Table:
    return wandb.Table(columns=["id", "score", "name"],
                       data=[[1, 0.5, "a"], [2, 0.7, "b"], [3, 0.1, "c"], [None, 0.0, "n"]])


def right() -> Table:
    return wandb.Table(columns=["id", "score", "label"],
                       data=[[2, 5, "B"], [3, 6, "C"], [3, 7, "C2"], [4, 8, "D"]])


def test_records_tables_and_key() -> None:
    t1, t2 = left(), right()
    joined = wandb.JoinedTable(t1, t2, "id")
    assert joined._table1 is t1 and joined._table2 is t2 and joined._join_key == "id"
    by_name = wandb.JoinedTable("t1.table.json", "t2", ["id", "other_id"])
    assert by_name._table1 == "t1.table.json" and by_name._join_key == ["id", "other_id"]
    assert wandb.JoinedTable(t1, t2, ("a", "b"))._join_key == ["a", "b"]


@pytest.mark.parametrize("key", [["a"], ["a", "b", "c"], 3, None, ["a", 1]])
def test_join_key_must_be_a_name_or_a_pair(key: Any) -> None:
    with pytest.raises(ValueError, match="join_key"):
        wandb.JoinedTable(left(), right(), key)


def test_tables_must_be_tables_or_names() -> None:
    with pytest.raises(errors.TableTypeError, match="table2"):
        wandb.JoinedTable(left(), [[1]], "id")  # type: ignore[arg-type]


def test_equality() -> None:
    assert wandb.JoinedTable(left(), right(), "id") == wandb.JoinedTable(left(), right(), "id")
    assert wandb.JoinedTable(left(), right(), "id") != wandb.JoinedTable(left(), right(),
                                                                        ["id", "id"])
    assert wandb.JoinedTable(left(), right(), "id") != wandb.JoinedTable(right(), left(), "id")
    assert wandb.JoinedTable("a", "b", "id") == wandb.JoinedTable("a", "b", "id")


def test_inner_join() -> None:
    table = wandb.JoinedTable(left(), right(), "id").to_table()
    assert table.columns == ["id", "score_1", "name", "score_2", "label"]
    assert table.data == [[2, 0.7, "b", 5, "B"], [3, 0.1, "c", 6, "C"], [3, 0.1, "c", 7, "C2"]]


def test_left_join_keeps_every_left_row_and_missing_keys_match_nothing() -> None:
    table = wandb.JoinedTable(left(), right(), "id").to_table(how="left")
    assert table.data == [
        [1, 0.5, "a", None, None], [2, 0.7, "b", 5, "B"], [3, 0.1, "c", 6, "C"],
        [3, 0.1, "c", 7, "C2"], [None, 0.0, "n", None, None]]
    assert table._column_types["label"] == optional(STRING)


def test_outer_join_adds_unmatched_right_rows() -> None:
    table = wandb.JoinedTable(left(), right(), "id").to_table(how="outer")
    assert table.data[-1] == [4, None, None, 8, "D"]
    assert len(table.data) == 6
    assert table._column_types["name"] == optional(STRING)
    table.add_data(9, None, None, None, None)  # a Table like any other


def test_different_key_names() -> None:
    t2 = wandb.Table(columns=["ref", "id"], data=[[1, "x"], [2, "y"]])
    table = wandb.JoinedTable(left(), t2, ["id", "ref"]).to_table()
    assert table.columns == ["id", "score", "name", "id_2"]  # table2's own "id" is renamed
    assert table.data == [[1, 0.5, "a", "x"], [2, 0.7, "b", "y"]]


def test_missing_key_column_names_it() -> None:
    with pytest.raises(errors.TableRowError, match="join key 'nope' is not a column of table1"):
        wandb.JoinedTable(left(), right(), ["nope", "id"]).to_table()
    with pytest.raises(errors.TableRowError, match="'label2' is not a column of table2"):
        wandb.JoinedTable(left(), right(), ["id", "label2"]).to_table()


def test_to_table_needs_resolved_tables_and_a_known_how() -> None:
    with pytest.raises(errors.TableTypeError, match="entry name"):
        wandb.JoinedTable("t1", right(), "id").to_table()
    with pytest.raises(errors.TableRowError, match="how"):
        wandb.JoinedTable(left(), right(), "id").to_table(how="cross")


def test_unhashable_keys_are_reported() -> None:
    t1 = wandb.Table(columns=["k"], data=[[[1, 2]]])
    with pytest.raises(errors.TableTypeError, match="unhashable"):
        wandb.JoinedTable(t1, t1, "k").to_table()


def test_key_columns_become_plain_columns() -> None:
    t1 = wandb.Table(columns=["k", "v"], data=[["a", 1]])
    t1.set_pk("k")
    t2 = wandb.Table(columns=["k", "w"], data=[["a", 2]])
    table = wandb.JoinedTable(t1, t2, "k").to_table()
    assert table._column_types["k"] == STRING
    assert table._column_types["v"] == optional(NUMBER)


def test_join_of_50k_rows_pairs_every_row_by_its_key() -> None:
    # How long a join takes is for a benchmark to say, not a unit test; this checks that a
    # large join pairs every row with the one of the same key (t2 is in reverse order).
    n = 50_000
    t1 = wandb.Table(columns=["id", "a"], data=np.stack([np.arange(n), np.arange(n)], axis=1))
    t2 = wandb.Table(columns=["id", "b"],
                     data=np.stack([np.arange(n)[::-1], np.arange(n) * 10], axis=1))
    table = wandb.JoinedTable(t1, t2, "id").to_table()
    assert table.columns == ["id", "a", "b"]
    assert table.data == [[i, i, (n - 1 - i) * 10] for i in range(n)]
