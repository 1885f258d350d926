"""Views over several stored tables at once: merged, side by side, grouped.

A `Source` is one table (a run's latest version of a key, or one version of a
run's table) and a label (the run id or the version). The views never hold the
tables' rows: they read the chunks one at a time (`TableReader.select`,
`TableReader.chunks`) and keep row numbers and the few cells they need (sort
keys, cell digests, aggregates); a page then reads only its rows
(`TableReader.rows_at`). Row orders are cached per request shape, so paging
through a sorted merged view does not sort it again.

- **Merged** (`MergedView`): the label column first, then the union of the
  tables' columns in order of first appearance; a column a table lacks is empty
  in its rows. The filter (`table_filters`) is read against the merged columns
  and rebound to each table (`table_filters.rebind`): the label column becomes a
  constant, a missing column null.
- **Side by side** (`SideBySide`): rows joined on a key column (or the row index):
  each key once, in the order of the first table that has it; per column, each
  table's cell; a column "differs" on a row when the tables that have the row and
  the column do not all hold the same value (numbers by value, NaN equal to NaN;
  a column a table lacks is no difference, a row a table lacks is one).
- **Grouped** (`group_by`): one row per distinct value of the group columns, with
  a count and per other column the aggregates of `Aggregate`.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tablelog import wire
from tablelog_server.errors import BadRequestError
from tablelog_server.table_filters import Column, Literal, Operand, TableFilter, rebind
from tablelog_server.tables import LRUCache, TableReader, cell_text, sorted_positions

MAX_SOURCES = 8
SIDE_MAX_ROWS = 200_000
"""Keys of a side-by-side view; a larger one is cut there, and says so."""
GALLERY = 4
DISTINCT = 20
HISTOGRAM_BINS = 10


@dataclass(frozen=True)
class Source:
    """One table of a view and the label its rows carry."""

    label: str
    manifest_sha: str


@dataclass(frozen=True)
class ViewTables:
    """The tables of a view and their columns (read from their manifests)."""

    label_column: str
    sources: tuple[Source, ...]
    columns: tuple[tuple[str, ...], ...]
    """Each source's own column names."""

    @property
    def merged_columns(self) -> list[str]:
        """The label column, then the union of the columns in order of first appearance."""
        out: list[str] = [self.label_column]
        seen = {self.label_column}
        for cols in self.columns:
            for name in cols:
                if name not in seen:
                    seen.add(name)
                    out.append(name)
        return out

    def place(self, index: int) -> dict[str, Operand]:
        """Where each merged column is in source `index`'s rows, for `rebind`."""
        own = {name: i for i, name in enumerate(self.columns[index])}
        out: dict[str, Operand] = {name: Column(name, own[name]) if name in own
                                   else Literal(None) for name in self.merged_columns}
        out[self.label_column] = Literal(self.sources[index].label)
        return out


async def view_tables(reader: TableReader, label_column: str, sources: Sequence[Source], *,
                      entity: str) -> ViewTables:
    if len(sources) > MAX_SOURCES:
        raise BadRequestError(f"at most {MAX_SOURCES} tables in one view, not {len(sources)}")
    columns = []
    for s in sources:
        manifest = await reader.manifest(s.manifest_sha, entity=entity)
        columns.append(tuple(str(c) for c in manifest.columns))
    return ViewTables(label_column, tuple(sources), tuple(columns))


@dataclass(frozen=True)
class Order:
    """Rows of a view in page order: (source index, row number) pairs."""

    sources: array[int] = field(default_factory=lambda: array("b"))
    rows: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.rows)


class Views:
    """Merged and side-by-side orders over a `TableReader`, the last few cached."""

    def __init__(self, reader: TableReader, *, cached: int = 8) -> None:
        self.reader = reader
        self._orders: LRUCache[tuple[Any, ...], Any] = LRUCache(cached)

    async def merged_order(self, tables: ViewTables, flt: TableFilter,
                           sort: Sequence[tuple[str, bool]], *, entity: str) -> Order:
        """The merged view's rows that `flt` keeps, sorted by `sort` ((column, desc)
        keys over the merged columns), else in source order then table order."""
        key = ("merged", tables, flt, tuple(sort))
        cached = self._orders.get(key)
        if cached is not None:
            await self._check(tables, entity)
            return cached  # type: ignore[no-any-return]
        merged = tables.merged_columns
        for column, _desc in sort:
            if column not in merged:
                raise BadRequestError(f"no column {column!r} to sort by")
        order = Order()
        values: list[tuple[Any, ...]] = []
        for index, source in enumerate(tables.sources):
            place = tables.place(index)
            where = rebind(flt.where, place) if flt.where is not None else None
            own = [place[c] for c, _desc in sort]
            columns = [o.index for o in own if isinstance(o, Column)]
            numbers, cells = await self.reader.select(
                source.manifest_sha, entity=entity, q=flt.text, where=where, columns=columns)
            order.sources.extend([index] * len(numbers))
            order.rows.extend(numbers)
            if sort:
                values.extend(_sort_cells(own, cells, len(numbers)))
        if sort:
            positions = await asyncio.to_thread(sorted_positions, values,
                                                [d for _c, d in sort])
            order = Order(array("b", [order.sources[i] for i in positions]),
                          array("q", [order.rows[i] for i in positions]))
        self._orders.put(key, order)
        return order

    async def _check(self, tables: ViewTables, entity: str) -> None:
        for s in tables.sources:  # a cached result is still only for those who hold it
            await self.reader.manifest(s.manifest_sha, entity=entity)

    async def merged_rows(self, tables: ViewTables, order: Order, start: int, stop: int, *,
                          entity: str) -> list[list[Any]]:
        """Rows ``[start, stop)`` of `order`, each over the merged columns."""
        merged = tables.merged_columns
        wanted: dict[int, list[int]] = {}
        for position in range(start, min(stop, len(order))):
            wanted.setdefault(order.sources[position], []).append(position)
        out: dict[int, list[Any]] = {}
        for index, positions in wanted.items():
            rows = await self.reader.rows_at(tables.sources[index].manifest_sha,
                                             [order.rows[p] for p in positions], entity=entity)
            own = {name: i for i, name in enumerate(tables.columns[index])}
            where = [own.get(name) for name in merged[1:]]
            label = tables.sources[index].label
            for p, row in zip(positions, rows, strict=True):
                out[p] = [label, *(row[j] if j is not None and j < len(row) else None
                                   for j in where)]
        return [out[p] for p in sorted(out)]

    async def side_by_side(self, tables: ViewTables, on: str | None, *, entity: str
                           ) -> SideBySide:
        """The tables joined on column `on` (None: the row index)."""
        key = ("side", tables, on)
        cached = self._orders.get(key)
        if cached is not None:
            await self._check(tables, entity)
            return cached  # type: ignore[no-any-return]
        if len(tables.sources) < 2:
            raise BadRequestError("a side-by-side view needs two tables or more")
        compared = [c for c in tables.merged_columns[1:] if c != on]
        if on is not None and any(on not in cols for cols in tables.columns):
            lacking = [s.label for s, cols in zip(tables.sources, tables.columns, strict=True)
                       if on not in cols]
            raise BadRequestError(f"no column {on!r} to join on in {', '.join(lacking)}")
        keys: dict[Any, int] = {}
        key_values: list[Any] = []
        found: list[dict[int, int]] = []  # per source: key number -> row number
        digests: list[dict[int, tuple[int, ...]]] = []
        duplicates = [0] * len(tables.sources)
        cut = False
        for index, source in enumerate(tables.sources):
            own = {name: i for i, name in enumerate(tables.columns[index])}
            key_index = own.get(on) if on is not None else None
            wanted = [own.get(c, -1) for c in compared]
            rows_of: dict[int, int] = {}
            digest_of: dict[int, tuple[int, ...]] = {}
            async for first, rows in self.reader.chunks(source.manifest_sha, entity=entity):
                for i, row in enumerate(rows):
                    number = first + i
                    value = number if key_index is None else \
                        (row[key_index] if key_index < len(row) else None)
                    h = _digest(value)
                    k = keys.get(h)
                    if k is None:
                        if len(key_values) >= SIDE_MAX_ROWS:
                            cut = True
                            continue
                        k = keys[h] = len(key_values)
                        key_values.append(value)
                    if k in rows_of:
                        duplicates[index] += 1
                        continue
                    rows_of[k] = number
                    n = len(row)
                    digest_of[k] = tuple(_ABSENT if j < 0 else _digest(row[j]) if j < n
                                         else _EMPTY for j in wanted)
            found.append(rows_of)
            digests.append(digest_of)
        differs = await asyncio.to_thread(_differences, len(key_values), digests)
        result = SideBySide(tables, on, compared, key_values, found, differs, duplicates, cut)
        self._orders.put(key, result)
        return result


MISSING_ROW = 1 << 62


def _differences(nkeys: int, digests: Sequence[dict[int, tuple[int, ...]]]) -> list[int]:
    """Per key, a bit per compared column whose cells differ among the tables that have
    both the row and the column, and `MISSING_ROW` when a table lacks the row."""
    out = []
    for k in range(nkeys):
        present = [d[k] for d in digests if k in d]
        bits = 0 if len(present) == len(digests) else MISSING_ROW
        first = present[0]
        for other in present[1:]:
            if other == first:
                continue
            for j, (a, b) in enumerate(zip(first, other, strict=True)):
                if a != b and a != _ABSENT and b != _ABSENT:
                    bits |= 1 << j
                elif a == _ABSENT and b != _ABSENT:
                    # the first table lacks the column: compare the others with each other
                    seen = {d[j] for d in present if d[j] != _ABSENT}
                    if len(seen) > 1:
                        bits |= 1 << j
        out.append(bits)
    return out


@dataclass
class SideBySide:
    """A side-by-side join: the keys in order, each table's row for a key, and for
    each key the columns that differ (a bit each, `MISSING_ROW` when a table lacks it)."""

    tables: ViewTables
    on: str | None
    compared: list[str]
    keys: list[Any]
    rows: list[dict[int, int]]
    differs: list[int]
    duplicates: list[int]
    cut: bool

    def select(self, diff: str | None) -> list[int]:
        """Key numbers to show: all, those where any column differs or a row is missing
        (``diff="any"``), or those where column `diff` differs."""
        if diff is None:
            return list(range(len(self.keys)))
        if diff == "any":
            return [k for k, bits in enumerate(self.differs) if bits]
        if diff not in self.compared:
            raise BadRequestError(f"no column {diff!r} to compare")
        bit = 1 << self.compared.index(diff)
        return [k for k, bits in enumerate(self.differs) if bits & bit]

    async def page(self, reader: TableReader, keys: Sequence[int], *, entity: str
                   ) -> list[tuple[Any, list[list[Any] | None], int]]:
        """For each key number: (key value, each table's cells over `compared` or None
        where it lacks the key, difference bits)."""
        per_source: list[dict[int, list[Any]]] = []
        for index, source in enumerate(self.tables.sources):
            wanted = [k for k in keys if k in self.rows[index]]
            rows = await reader.rows_at(source.manifest_sha, [self.rows[index][k] for k in wanted],
                                        entity=entity)
            own = {name: i for i, name in enumerate(self.tables.columns[index])}
            where = [own.get(c) for c in self.compared]
            per_source.append({k: [row[j] if j is not None and j < len(row) else None
                                   for j in where] for k, row in zip(wanted, rows, strict=True)})
        return [(self.keys[k], [cells.get(k) for cells in per_source], self.differs[k])
                for k in keys]


def identity(value: Any) -> tuple[Any, ...]:
    """A hashable stand-in equal for cells that hold the same value: numbers by value
    (1 and 1.0 alike), NaN like None (empty), a boolean never like a number, other
    cells (lists, media) by their encoded bytes."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ("empty",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("str", value)
    return ("packed", wire.packb(value))


_EMPTY = hash(identity(None))
_ABSENT = hash(("absent",))
"""A column the table does not have: compared with nothing."""


def _digest(value: Any) -> int:
    """`identity`'s hash: what a side-by-side view compares cells by."""
    return hash(identity(value))


def _sort_cells(own: Sequence[Operand], cells: Sequence[tuple[Any, ...]], n: int
                ) -> list[tuple[Any, ...]]:
    """Each row's sort cells over the merged sort keys: its own cells where the table
    has the column, the label or None where it does not."""
    if all(isinstance(o, Column) for o in own):
        return list(cells)
    out = []
    for i in range(n):
        it = iter(cells[i]) if cells else iter(())
        out.append(tuple(next(it) if isinstance(o, Column) else o.constant for o in own))
    return out


@dataclass
class Aggregate:
    """One column's aggregate over a group's rows: numbers (count, sum, min, max and
    the values, for a histogram), distinct texts (up to `DISTINCT`, and whether there
    were more), the first `GALLERY` images; empty cells are only counted."""

    numbers: array[float] = field(default_factory=lambda: array("d"))
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    texts: dict[str, None] = field(default_factory=dict)
    more_texts: bool = False
    images: list[Any] = field(default_factory=list)
    empty: int = 0
    other: int = 0

    def add(self, value: Any) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            self.empty += 1
        elif isinstance(value, int | float) and not isinstance(value, bool):
            x = float(value)
            self.numbers.append(x)
            self.total += x
            self.low = min(self.low, x)
            self.high = max(self.high, x)
        elif isinstance(value, str | bool):
            text = value if isinstance(value, str) else str(value).lower()
            if text not in self.texts:
                if len(self.texts) < DISTINCT:
                    self.texts[text] = None
                else:
                    self.more_texts = True
        elif isinstance(value, wire.MediaRef) and value.kind == "image":
            if len(self.images) < GALLERY:
                self.images.append(value)
            self.other += 1
        else:
            self.other += 1

    @property
    def mean(self) -> float | None:
        return self.total / len(self.numbers) if self.numbers else None

    def histogram(self, low: float, high: float, bins: int = HISTOGRAM_BINS) -> list[int]:
        """Counts of the numbers in `bins` equal bins over [low, high]."""
        counts = [0] * bins
        width = (high - low) / bins
        for x in self.numbers:
            if math.isfinite(x):
                b = int((x - low) / width) if width > 0 else 0
                counts[min(max(b, 0), bins - 1)] += 1
        return counts


@dataclass
class Group:
    """One group: its values of the group columns, its row count, its aggregates."""

    values: tuple[Any, ...]
    count: int = 0
    aggregates: list[Aggregate] = field(default_factory=list)


@dataclass
class Grouped:
    """The groups of a view (in order of first appearance), and the columns
    aggregated in each."""

    by: list[str]
    columns: list[str]
    groups: list[Group]
    rows: int

    def number_range(self, j: int) -> tuple[float, float] | None:
        """The finite range of aggregated column `j`'s numbers over every group."""
        lows = [g.aggregates[j].low for g in self.groups if g.aggregates[j].numbers]
        highs = [g.aggregates[j].high for g in self.groups if g.aggregates[j].numbers]
        finite = [x for x in lows + highs if math.isfinite(x)]
        return (min(finite), max(finite)) if finite else None


MAX_GROUPS = 10_000


async def group_by(reader: TableReader, tables: ViewTables, flt: TableFilter,
                   by: Sequence[str], *, entity: str) -> Grouped:
    """The merged view's rows that `flt` keeps, grouped by the columns `by` (a group
    per distinct tuple of their values; at most `MAX_GROUPS`, else a `BadRequestError`)."""
    merged = tables.merged_columns
    for column in by:
        if column not in merged:
            raise BadRequestError(f"no column {column!r} to group by")
    if not by:
        raise BadRequestError("choose a column to group by")
    aggregated = [c for c in merged if c not in by]
    groups: dict[tuple[Any, ...], Group] = {}
    total = 0
    for index, source in enumerate(tables.sources):
        place = tables.place(index)
        where = rebind(flt.where, place) if flt.where is not None else None
        needle = flt.text.lower() if flt.text else None
        key_at = [place[c] for c in by]
        agg_at = [place[c] for c in aggregated]
        async for _first, rows in reader.chunks(source.manifest_sha, entity=entity):
            total += await asyncio.to_thread(_group_chunk, rows, where, needle, key_at, agg_at,
                                             groups)
    return Grouped(list(by), aggregated, list(groups.values()), total)


def _group_chunk(rows: list[list[Any]], where: Any, needle: str | None,
                 key_at: Sequence[Operand], agg_at: Sequence[Operand],
                 groups: dict[tuple[Any, ...], Group]) -> int:
    kept = 0
    for row in rows:
        if needle is not None and not any(needle in cell_text(c).lower() for c in row):
            continue
        if where is not None and not where(row):
            continue
        kept += 1
        values = tuple(o.value(row) for o in key_at)
        group_key = tuple(identity(v) for v in values)
        group = groups.get(group_key)
        if group is None:
            if len(groups) >= MAX_GROUPS:
                raise BadRequestError(f"more than {MAX_GROUPS:,} groups: group by fewer or "
                                      "coarser columns, or filter first")
            group = groups[group_key] = Group(values, 0, [Aggregate() for _ in agg_at])
        group.count += 1
        for agg, o in zip(group.aggregates, agg_at, strict=True):
            agg.add(o.value(row))
    return kept
