"""Key columns as wandb makes them: primary keys, foreign keys and foreign indexes.

A key column's cells are linked (`_TableKey` / `_TableIndex` with ``_table`` and
``_col_name``), rows added later are linked too, None is refused, and the
column becomes one by `set_pk`/`set_fk`, by `cast` to a key type, or by taking
a cell of another table's key column or of its `get_index()`.
"""

from __future__ import annotations

from typing import Any

import pytest

import tablelog as wandb
from tablelog import errors
from tablelog.data_types.table import (
    _ForeignIndexType,
    _ForeignKeyType,
    _PrimaryKeyType,
    _TableIndex,
    _TableKey,
)


def people() -> Any:
    return wandb.Table(columns=["id", "name"], data=[["1", "ann"], ["2", "bob"]])


def linked_to(cells: list[Any], table: Any, column: Any = None) -> bool:
    return all(c._table is table and (column is None or c._col_name == column) for c in cells)


@pytest.mark.parametrize("how", ["set_pk", "cast"])
def test_primary_key_links_existing_and_later_cells_and_refuses_none(how: str) -> None:
    table = people()
    if how == "set_pk":
        table.set_pk("id")
    else:
        assert isinstance(table.cast("id", _PrimaryKeyType()), _PrimaryKeyType)
    table.add_data("3", "cy")
    ids = table.get_column("id")
    assert ids == ["1", "2", "3"]
    assert all(isinstance(c, _TableKey) for c in ids) and linked_to(ids, table, "id")
    # the column's type, as wandb programs inspect it too
    assert isinstance(table._column_types.params["type_map"]["id"], _PrimaryKeyType)
    assert isinstance(table._column_types["id"], _PrimaryKeyType)
    with pytest.raises(TypeError):
        table.add_data(None, "dee")
    assert len(table.data) == 3
    with pytest.raises(AssertionError, match="Cannot have multiple primary keys - id is already "
                                             "set as the primary key"):
        table.set_pk("name") if how == "set_pk" else table.cast("name", _PrimaryKeyType())


@pytest.mark.parametrize("how", ["set_pk", "cast"])
def test_numbers_cannot_be_a_key_and_the_table_is_left_unchanged(how: str) -> None:
    table = wandb.Table(columns=["id", "b"], data=[[1, "a"], [2, "b"]])
    with pytest.raises(TypeError):
        table.set_pk("id") if how == "set_pk" else table.cast("id", _PrimaryKeyType())
    assert [type(r[0]) for r in table.data] == [int, int]
    assert not isinstance(table._column_types["id"], _PrimaryKeyType)
    table.add_data(3, "c")  # still a plain number column


@pytest.mark.parametrize("how", ["set_fk", "cast"])
def test_foreign_key_links_to_the_other_table(how: str) -> None:
    source = people()
    source.set_pk("id")
    orders = wandb.Table(columns=["who", "n"], data=[["1", 5], ["2", 6]])
    if how == "set_fk":
        orders.set_fk("who", source, "id")
    else:
        orders.cast("who", _ForeignKeyType(source, "id"))
    orders.add_data("3", 7)
    orders.add_data("3", 8)  # duplicates are fine in a foreign key
    who = orders.get_column("who")
    assert who == ["1", "2", "3", "3"] and linked_to(who, source, "id")
    assert isinstance(orders._column_types["who"], _ForeignKeyType)
    with pytest.raises(TypeError):
        orders.add_data(None, 9)
    numbers = wandb.Table(columns=["who"], data=[[1], [2]])
    with pytest.raises(TypeError):
        numbers.set_fk("who", source, "id")
    assert [type(r[0]) for r in numbers.data] == [int, int]


def test_a_key_cell_makes_its_column_a_foreign_key() -> None:
    source = people()
    source.set_pk("id")
    first_key = source.data[0][0]
    # in the constructor's rows: the plain strings after it are linked too
    built = wandb.Table(columns=["fk", "c"], data=[[first_key, "c"], ["2", "d"]])
    built.add_data("3", "e")
    assert linked_to(built.get_column("fk"), source, "id")
    with pytest.raises(TypeError):
        built.add_data(None, "f")
    # added to a string column: the strings already there are linked as well
    added = wandb.Table(columns=["fk", "c"], data=[["1", "c"], ["2", "d"]])
    added.add_data(first_key, "c")
    assert added.get_column("fk") == ["1", "2", "1"]
    assert linked_to(added.get_column("fk"), source, "id")
    with pytest.raises(TypeError):
        added.add_data(None, "c")
    # a column of key cells added with add_column
    third = wandb.Table(columns=[], data=[])
    third.add_column("source_fk", source.get_column("id"))
    assert third.get_column("source_fk")[0]._table is source


def test_a_key_cell_into_a_column_holding_none_is_refused_whole() -> None:
    source = people()
    source.set_pk("id")
    table = wandb.Table(columns=["fk"])
    table.add_data(None)
    with pytest.raises(TypeError, match="Existing data None"):
        table.add_data(source.data[0][0])
    assert table.data == [[None]] and not isinstance(table._column_types["fk"], _ForeignKeyType)


def test_get_index_cells_make_a_foreign_index_and_later_ints_are_linked() -> None:
    source = wandb.Table(columns=["b"], data=[["a"], ["b"]])
    index = source.get_index()
    assert index == [0, 1] and all(isinstance(i, _TableIndex) for i in index)
    assert linked_to(index, source)
    table = wandb.Table(columns=["fi", "c"])
    for i, _ in source.iterrows():
        table.add_data(i, "x")
    table.add_data(3, "c")
    table.add_data(3, "c")
    refs = table.get_column("fi")
    assert refs == [0, 1, 3, 3] and linked_to(refs, source)
    assert all(isinstance(r, _TableIndex) for r in refs)
    assert isinstance(table._column_types["fi"], _ForeignIndexType)
    with pytest.raises(TypeError):
        table.add_data(None, "d")


def test_what_wandb_refuses_about_keys() -> None:
    table = people()
    other = wandb.Table(columns=["k"], data=[["1"]])
    # wandb has this assert but checks the Optional wrapper, so it never fires there and the
    # column silently stops being a key; tablelog refuses, with wandb's message
    with pytest.raises(AssertionError, match="cannot be optional"):
        table.cast("id", _PrimaryKeyType(), optional=True)
    with pytest.raises(AssertionError, match="Cannot set a foreign table reference to same "
                                             "table"):
        table.set_fk("name", table, "id")
    with pytest.raises(AssertionError):
        _ForeignKeyType(other, "missing")
    with pytest.raises(AssertionError):
        _ForeignKeyType("not a table", "k")
    table.set_pk("id")
    with pytest.raises(AssertionError):
        table.set_fk("id", other, "k")  # the primary key cannot also be a foreign key
    # wandb's cast refuses the linked cells with a TypeError before its assert: ours is both
    with pytest.raises(TypeError, match=r"Cannot unset primary key \(column id\)") as info:
        table.cast("id", str)
    assert isinstance(info.value, AssertionError | errors.TablelogError)
    assert all(isinstance(c, _TableKey) for c in table.get_column("id"))


def test_keys_survive_a_column_added_later_and_the_type_is_never_optional() -> None:
    table = wandb.Table(columns=[], data=[])
    table.add_column("number", [1, 2, 3])
    table.add_data(4)
    table.add_column("strings", ["a", "b", "c", "d"])
    table.set_pk("strings")
    table.add_data(5, "e")
    assert table.get_column("strings") == ["a", "b", "c", "d", "e"]
    assert linked_to(table.get_column("strings"), table, "strings")
    assert table._column_types_plain()[1] == {"wb_type": "primaryKey"}


def test_the_import_paths_wandb_programs_use() -> None:
    import tablelog.data_types.table as table_module

    # wandb.data_types.Table ... (wandb has no public path to its key types: programs use
    # set_pk/set_fk, or wandb.sdk.data_types.table._PrimaryKeyType, here data_types.table)
    assert wandb.data_types.Table is wandb.Table
    assert wandb.data_types.JoinedTable is wandb.JoinedTable
    assert wandb.data_types.Image is wandb.Image
    from tablelog.data_types import Html, Table

    assert Table is wandb.Table and Html is wandb.Html
    assert table_module._PrimaryKeyType is _PrimaryKeyType
    with pytest.raises(AttributeError):
        _ = wandb.data_types.NoSuchType


def test_a_table_cannot_take_its_own_key_but_can_take_its_own_index() -> None:
    table = wandb.Table(columns=["id", "ref"], data=[["1", "x"]])
    table.set_pk("id")
    with pytest.raises(AssertionError, match="Cannot set a foreign table reference to same"):
        table.add_data("2", table.data[0][0])
    assert len(table.data) == 1
    # wandb allows a foreign index into the same table
    own = wandb.Table(columns=["p"], data=[[1]])
    own.add_data(own.get_index()[0])
    assert own.get_column("p") == [1, 0] and linked_to(own.get_column("p"), own)


def test_linked_cells_know_their_row_and_can_be_relinked_as_in_wandb() -> None:
    table = people()
    index = table.get_index()[1]
    assert index.get_row() == {"id": "2", "name": "bob"}
    assert _TableIndex(0).get_row() == {}
    key = _TableKey("1")
    key.set_table(table, "id")
    assert key._table is table and key._col_name == "id"
    with pytest.raises(AssertionError):
        key.set_table(table, "missing")
    index.set_table(None)
    assert index.get_row() == {}
