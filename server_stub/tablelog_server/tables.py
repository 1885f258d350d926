"""Reading pages of a stored table without building the table in memory.

A table is a manifest blob (`wire.TableManifest`: columns, column types and
row-chunk references) plus one blob per chunk. An unsorted, unfiltered page
reads only the chunks that cover ``[offset, offset + limit)``.

Sorting (by one column or several, `TableQuery.then`) or filtering (`q`, a
case-insensitive text match across cells, and/or `where`, a row predicate such
as the viewer's ``score > 0.5``) needs every row once: chunks are read one at a
time and only the sort columns (or the matching row numbers) are kept. The
result — an array of row numbers in page order — is cached per (manifest, sort
keys, q, where) in a small LRU, so paging through a sorted table does not sort
it again. `select` and `chunks` give the same one-pass reads to views over
several tables (`tablelog_server.table_views`).

Every read is for an entity, which must hold the manifest and every chunk it
names (`tablelog_server.blob_scope`); otherwise the table is "not stored" (404),
whatever the artifact claims. The caches are shared (content-addressed), the
check is per entity; a passed check is remembered, since holdings are never
withdrawn.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
from array import array
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tablelog import wire
from tablelog_server.blob_scope import BlobScope, not_stored
from tablelog_server.errors import BadRequestError, NotFoundError, UnreadableDataError

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_MANIFEST_BYTES = 64 << 20
MAX_CHUNK_BYTES = 512 << 20


class LRUCache(Generic[K, V]):
    """A tiny least-recently-used map; not thread-safe (used from the event loop)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for `key` (now the most recently used), or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Store `value`, evicting the least recently used item past capacity."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)


RowPredicate = Callable[[list[Any]], bool]
"""Keeps a row (a list of cells in column order) when it answers True. It must be
hashable and compare equal to an equivalent predicate (e.g. a frozen dataclass):
it is part of the cache key of the row order."""


@dataclass(frozen=True)
class TableQuery:
    """What a page asks for: rows ``[offset, offset + limit)`` of the table, after
    keeping the rows matching `q` and `where` (if given) and sorting by column
    `sort` (if any)."""

    offset: int = 0
    limit: int = 1000
    sort: str | None = None
    desc: bool = False
    q: str | None = None
    where: RowPredicate | None = None
    then: tuple[tuple[str, bool], ...] = ()
    """Further sort keys, (column, descending), for rows equal on `sort` and the keys
    before them."""

    @property
    def sort_keys(self) -> tuple[tuple[str, bool], ...]:
        """Every sort key in order: `sort` first, then `then` (none without `sort`)."""
        return () if self.sort is None else ((self.sort, self.desc), *self.then)


@dataclass(frozen=True)
class TablePage:
    """One page: `nrows` counts the rows paged over (after filtering)."""

    columns: list[Any]
    column_types: list[Any]
    nrows: int
    offset: int
    rows: list[list[Any]]

    def to_plain(self) -> dict[str, Any]:
        """The API answer: ``{"columns","column_types","nrows","offset","rows"}``."""
        return {"columns": wire.jsonable(self.columns),
                "column_types": wire.jsonable(self.column_types),
                "nrows": self.nrows, "offset": self.offset, "rows": wire.jsonable(self.rows)}


def cell_text(value: Any) -> str:
    """How a cell reads to a text search."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    return json.dumps(wire.jsonable(value), default=str, sort_keys=True)


def sort_key(value: Any) -> tuple[int, Any]:
    """Orders mixed cells: numbers, then strings, then anything else by its text.
    Numbers compare as they are (Python compares ints and floats exactly): float()
    would merge integers past 2**53 and fail past 1e308. NaN is no key: callers put
    empty cells (None, NaN) apart."""
    if isinstance(value, bool | int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, cell_text(value))


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class TableReader:
    """Pages of tables, read through a `BlobScope`, with manifests and row orders cached."""

    def __init__(self, scope: BlobScope, *, cached_manifests: int = 64,
                 cached_orders: int = 8, cached_checks: int = 4096) -> None:
        self.scope = scope
        self._manifests: LRUCache[str, wire.TableManifest] = LRUCache(cached_manifests)
        self._orders: LRUCache[tuple[str, tuple[tuple[str, bool], ...], str | None,
                                     RowPredicate | None], array[int]] = LRUCache(cached_orders)
        self._readable: LRUCache[tuple[str, str], bool] = LRUCache(cached_checks)

    async def manifest(self, sha256: str, *, entity: str) -> wire.TableManifest:
        """The table manifest stored in blob `sha256`, if `entity` holds it and every
        chunk it names (`NotFoundError` otherwise)."""
        if self._readable.get((entity, sha256)) is None:
            await self.scope.check(entity, [sha256])
        cached = self._manifests.get(sha256)
        if cached is None:
            data = await self.scope.blobs.read(sha256, max_bytes=MAX_MANIFEST_BYTES)
            try:
                cached = wire.TableManifest.from_bytes(data)
            except ValueError as exc:
                raise UnreadableDataError(
                    f"blob {sha256} is not a table manifest: {exc}") from None
            self._manifests.put(sha256, cached)
        if self._readable.get((entity, sha256)) is None:
            try:
                await self.scope.check(entity, [c.sha256 for c in cached.chunks])
            except NotFoundError:
                raise not_stored(sha256) from None  # the table, as a whole, is not there
            self._readable.put((entity, sha256), True)
        return cached

    async def _chunk(self, sha256: str) -> list[list[Any]]:
        # Only chunks of a manifest `manifest()` has checked for the entity get here.
        data = await self.scope.blobs.read(sha256, max_bytes=MAX_CHUNK_BYTES)
        try:
            return await asyncio.to_thread(wire.decode_rows, data)
        except ValueError as exc:
            raise UnreadableDataError(f"blob {sha256} is not a table chunk: {exc}") from None

    async def page(self, manifest_sha: str, query: TableQuery, *, entity: str) -> TablePage:
        """One page of the table whose manifest is blob `manifest_sha`, for `entity`."""
        manifest = await self.manifest(manifest_sha, entity=entity)
        for column, _desc in query.sort_keys:
            if column not in manifest.columns:
                raise BadRequestError(f"no column {column!r} to sort by")
        starts = _chunk_starts(manifest)
        if query.sort is None and not query.q and query.where is None:
            total = starts[-1]
            wanted: Sequence[int] = range(query.offset, min(query.offset + query.limit, total))
        else:
            order = await self._order(manifest_sha, manifest, query)
            total = len(order)
            wanted = order[query.offset:query.offset + query.limit]
        rows = await self._rows_at(manifest, starts, wanted)
        return TablePage(manifest.columns, manifest.column_types, total, query.offset, rows)

    async def rows_at(self, manifest_sha: str, wanted: Sequence[int], *, entity: str
                      ) -> list[list[Any]]:
        """Rows of the table by number (each below its row count), in the order asked."""
        manifest = await self.manifest(manifest_sha, entity=entity)
        return await self._rows_at(manifest, _chunk_starts(manifest), wanted)

    async def chunks(self, manifest_sha: str, *, entity: str
                     ) -> AsyncIterator[tuple[int, list[list[Any]]]]:
        """Every chunk of the table in order, one at a time: (first row number, rows)."""
        manifest = await self.manifest(manifest_sha, entity=entity)
        first = 0
        for ref in manifest.chunks:
            rows = await self._chunk(ref.sha256)
            yield first, rows
            first += len(rows)

    async def select(self, manifest_sha: str, *, entity: str, q: str | None = None,
                     where: RowPredicate | None = None, columns: Sequence[int] = ()
                     ) -> tuple[array[int], list[tuple[Any, ...]]]:
        """The numbers of the rows that match `q` and `where`, in table order, and for
        each the values of the cells at indexes `columns` (None past a short row):
        one pass over the chunks, keeping nothing else of them."""
        manifest = await self.manifest(manifest_sha, entity=entity)
        return await self._select(manifest, q.lower() if q else None, where, columns)

    async def _select(self, manifest: wire.TableManifest, needle: str | None,
                      where: RowPredicate | None, columns: Sequence[int]
                      ) -> tuple[array[int], list[tuple[Any, ...]]]:
        numbers = array("q")
        values: list[tuple[Any, ...]] = []
        first = 0
        for ref in manifest.chunks:
            rows = await self._chunk(ref.sha256)
            found, cells = await asyncio.to_thread(_scan_chunk(rows, first, needle, columns,
                                                               where))
            numbers.extend(found)
            values.extend(cells)
            first += len(rows)
        return numbers, values

    async def _rows_at(self, manifest: wire.TableManifest, starts: list[int],
                       wanted: Sequence[int]) -> list[list[Any]]:
        """Rows by number, in the order asked, reading each needed chunk once."""
        by_chunk: dict[int, list[int]] = {}
        for position, row_number in enumerate(wanted):
            by_chunk.setdefault(bisect.bisect_right(starts, row_number) - 1, []).append(position)
        out: list[list[Any]] = [[] for _ in wanted]
        for chunk_index, positions in sorted(by_chunk.items()):
            ref = manifest.chunks[chunk_index]
            rows = await self._chunk(ref.sha256)
            if len(rows) != ref.nrows:
                raise UnreadableDataError(f"chunk {ref.sha256} holds {len(rows)} rows, "
                                          f"its manifest says {ref.nrows}")
            for position in positions:
                out[position] = rows[wanted[position] - starts[chunk_index]]
        return out

    async def _order(self, manifest_sha: str, manifest: wire.TableManifest,
                     query: TableQuery) -> array[int]:
        """Row numbers matching `q`, sorted by the sort keys — computed once per cache
        entry."""
        needle = query.q.lower() if query.q else None
        key = (manifest_sha, query.sort_keys, needle, query.where)
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        columns = [manifest.columns.index(column) for column, _desc in query.sort_keys]
        numbers, values = await self._select(manifest, needle, query.where, columns)
        if columns:
            positions = await asyncio.to_thread(
                sorted_positions, values, [desc for _column, desc in query.sort_keys])
            order = array("q", [numbers[i] for i in positions])
        else:
            order = numbers
        self._orders.put(key, order)
        return order


def _chunk_starts(manifest: wire.TableManifest) -> list[int]:
    starts = [0]
    for chunk in manifest.chunks:
        starts.append(starts[-1] + chunk.nrows)
    return starts


def _scan_chunk(rows: list[list[Any]], first: int, needle: str | None, columns: Sequence[int],
                where: RowPredicate | None
                ) -> Callable[[], tuple[list[int], list[tuple[Any, ...]]]]:
    def scan() -> tuple[list[int], list[tuple[Any, ...]]]:
        numbers: list[int] = []
        values: list[tuple[Any, ...]] = []
        for i, row in enumerate(rows):
            if needle is not None and not any(needle in cell_text(c).lower() for c in row):
                continue
            if where is not None and not where(row):
                continue
            numbers.append(first + i)
            if columns:
                n = len(row)
                values.append(tuple(row[j] if j < n else None for j in columns))
        return numbers, values

    return scan


def sorted_positions(values: Sequence[Sequence[Any]], descending: Sequence[bool]) -> list[int]:
    """The positions of `values` (one tuple of sort cells each) in sorted order: by the
    first cell, then the next, each ascending or descending as `descending` says; on
    every key empty cells (None, NaN) come last, either way, and ties keep their order."""
    order = list(range(len(values)))
    for k in reversed(range(len(descending))):  # stable sorts, least significant key first
        present = [i for i in order if not _is_empty(values[i][k])]
        empty = [i for i in order if _is_empty(values[i][k])]
        # Python's sort is stable even with reverse=True: equal values keep their order.
        present.sort(key=lambda i: sort_key(values[i][k]), reverse=descending[k])
        order = present + empty
    return order
