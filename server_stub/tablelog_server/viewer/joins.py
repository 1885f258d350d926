"""Joined tables on the server: a hash join over a bounded number of rows.

A joined-table entry names two table entries of the same artifact version and a
join key (`wire.decode_joined_table`). The viewer reads at most
`JOIN_MAX_ROWS` rows of each table (page by page through `TableReader`, so only
their chunks are read), builds a hash of the right table's keys, and keeps at
most `JOIN_MAX_OUTPUT` joined rows; past either bound the page says the join is
partial. The semantics are those of `tablelog.JoinedTable.to_table`: the key
first (named after the left key column), then the left table's other columns,
then the right's (a clashing name gets ``_1``/``_2``); left rows keep their
order, each followed by its matches in right order; an outer join then adds
the right's unmatched rows; missing keys (None, NaN) match nothing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tablelog import wire
from tablelog_server.errors import UnreadableDataError
from tablelog_server.tables import LRUCache, TableQuery, TableReader

JOIN_HOWS = ("inner", "left", "outer")
JOIN_MAX_ROWS = 50_000
"""Rows read from each side of a join; a larger table is joined on its first rows."""
JOIN_MAX_OUTPUT = 200_000
"""Joined rows kept (many-to-many keys can multiply rows)."""
_READ_PAGE = 10_000


@dataclass(frozen=True)
class JoinSpec:
    """A decoded joined-table entry: the entry names of its tables and their keys."""

    table1: str
    table2: str
    left_key: str
    right_key: str

    @classmethod
    def from_bytes(cls, data: bytes) -> JoinSpec:
        """Decode a joined-table blob; `UnreadableDataError` if it is not one."""
        try:
            table1, table2, key = wire.decode_joined_table(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise UnreadableDataError(f"not a joined-table entry: {exc}") from None
        if isinstance(key, str):
            left, right = key, key
        elif (isinstance(key, list) and len(key) == 2
              and all(isinstance(k, str) for k in key)):
            left, right = key
        else:
            raise UnreadableDataError(f"joined table has an invalid join key {key!r}")
        if not isinstance(table1, str) or not isinstance(table2, str):
            raise UnreadableDataError("joined table must name two table entries")
        return cls(table1, table2, left, right)


@dataclass(frozen=True)
class JoinedRows:
    """A join's result: columns, their type labels' sources, rows, and whether a bound
    cut it short."""

    columns: list[Any]
    column_types: list[Any]
    rows: list[list[Any]]
    partial: bool


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:  # lists, dicts, arrays, media: compare by their encoded bytes
        return ("packed", wire.packb(value))


def hash_join(left_columns: Sequence[Any], left_rows: Sequence[list[Any]],
              right_columns: Sequence[Any], right_rows: Sequence[list[Any]],
              left_key: str, right_key: str, how: str, *,
              max_output: int = JOIN_MAX_OUTPUT) -> tuple[list[Any], list[list[Any]], bool]:
    """Join two row lists (see the module docstring); (columns, rows, cut short)."""
    if how not in JOIN_HOWS:
        raise ValueError(f"how must be one of {', '.join(JOIN_HOWS)}")
    lk, rk = list(left_columns).index(left_key), list(right_columns).index(right_key)
    left_rest = [j for j in range(len(left_columns)) if j != lk]
    right_rest = [j for j in range(len(right_columns)) if j != rk]

    def cell(row: list[Any], j: int) -> Any:
        return row[j] if j < len(row) else None

    matches: dict[Any, list[int]] = {}
    for i, row in enumerate(right_rows):
        key = cell(row, rk)
        if not _missing(key):
            matches.setdefault(_hashable(key), []).append(i)
    out: list[list[Any]] = []
    no_right = [None] * len(right_rest)
    matched: set[int] = set()
    for row in left_rows:
        key = cell(row, lk)
        found = [] if _missing(key) else matches.get(_hashable(key), [])
        base = [key, *(cell(row, j) for j in left_rest)]
        for i in found:
            out.append(base + [cell(right_rows[i], j) for j in right_rest])
        matched.update(found)
        if not found and how != "inner":
            out.append(base + no_right)
        if len(out) > max_output:
            break
    if how == "outer" and len(out) <= max_output:
        no_left = [None] * len(left_rest)
        for i, row in enumerate(right_rows):
            if i not in matched:
                out.append([cell(row, rk), *no_left, *(cell(row, j) for j in right_rest)])
                if len(out) > max_output:
                    break
    columns = wire.joined_column_names(left_columns[lk], [left_columns[j] for j in left_rest],
                              [right_columns[j] for j in right_rest])
    return columns, out[:max_output], len(out) > max_output


class Joiner:
    """Joins stored tables with `hash_join`, keeping the last few results."""

    def __init__(self, reader: TableReader, *, cached: int = 4,
                 max_rows: int = JOIN_MAX_ROWS) -> None:
        self.reader = reader
        self.max_rows = max_rows
        self._results: LRUCache[tuple[str, str, str, str, str], JoinedRows] = LRUCache(cached)

    async def _read(self, manifest_sha: str, entity: str
                    ) -> tuple[list[Any], list[Any], list[list[Any]], bool]:
        manifest = await self.reader.manifest(manifest_sha, entity=entity)
        total = manifest.nrows
        rows: list[list[Any]] = []
        while len(rows) < min(total, self.max_rows):
            limit = min(_READ_PAGE, self.max_rows - len(rows))
            page = await self.reader.page(manifest_sha, TableQuery(offset=len(rows), limit=limit),
                                          entity=entity)
            if not page.rows:
                break
            rows.extend(page.rows)
        return manifest.columns, manifest.column_types, rows, total > len(rows)

    async def join(self, left_sha: str, right_sha: str, spec: JoinSpec, how: str, *,
                   entity: str) -> JoinedRows:
        """The joined rows of two table manifests of `entity`'s (cached per manifests,
        keys and `how`; the tables are checked for `entity` even when cached)."""
        key = (left_sha, right_sha, spec.left_key, spec.right_key, how)
        cached = self._results.get(key)
        if cached is not None:
            await self.reader.manifest(left_sha, entity=entity)
            await self.reader.manifest(right_sha, entity=entity)
            return cached
        left_cols, left_types, left_rows, left_cut = await self._read(left_sha, entity)
        right_cols, right_types, right_rows, right_cut = await self._read(right_sha, entity)
        for cols, name, which in ((left_cols, spec.left_key, spec.table1),
                                  (right_cols, spec.right_key, spec.table2)):
            if name not in cols:
                raise UnreadableDataError(f"join key {name!r} is not a column of {which!r}")
        columns, rows, cut = await asyncio.to_thread(
            hash_join, left_cols, left_rows, right_cols, right_rows, spec.left_key,
            spec.right_key, how)
        lk, rk = left_cols.index(spec.left_key), right_cols.index(spec.right_key)
        types = [left_types[lk] if lk < len(left_types) else None,
                 *(t for j, t in enumerate(left_types) if j != lk),
                 *(t for j, t in enumerate(right_types) if j != rk)]
        result = JoinedRows(columns, types, rows, cut or left_cut or right_cut)
        self._results.put(key, result)
        return result
