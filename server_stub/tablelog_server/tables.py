"""Reading pages of a stored table without building the table in memory.

A table is a manifest blob (`wire.TableManifest`: columns, column types and
row-chunk references) plus one blob per chunk. An unsorted, unfiltered page
reads only the chunks that cover ``[offset, offset + limit)``.

Sorting or filtering (`q`, a case-insensitive text match across cells, and/or
`where`, a row predicate such as the viewer's ``score > 0.5``) needs every row
once: chunks are read one at a time and only the sort column (or the matching
row numbers) is kept. The result — an array of row numbers in page order — is
cached per (manifest, sort, desc, q, where) in a small LRU, so paging through a
sorted table does not sort it again.

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
from collections.abc import Callable, Hashable, Sequence
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
        self._orders: LRUCache[tuple[str, str | None, bool, str | None, RowPredicate | None],
                               array[int]] = LRUCache(cached_orders)
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
        if query.sort is not None and query.sort not in manifest.columns:
            raise BadRequestError(f"no column {query.sort!r} to sort by")
        starts = [0]
        for chunk in manifest.chunks:
            starts.append(starts[-1] + chunk.nrows)
        if query.sort is None and not query.q and query.where is None:
            total = starts[-1]
            wanted: Sequence[int] = range(query.offset, min(query.offset + query.limit, total))
        else:
            order = await self._order(manifest_sha, manifest, query)
            total = len(order)
            wanted = order[query.offset:query.offset + query.limit]
        rows = await self._rows_at(manifest, starts, wanted)
        return TablePage(manifest.columns, manifest.column_types, total, query.offset, rows)

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
        """Row numbers matching `q`, sorted by `sort` — computed once per cache entry."""
        needle = query.q.lower() if query.q else None
        key = (manifest_sha, query.sort, query.desc, needle, query.where)
        cached = self._orders.get(key)
        if cached is not None:
            return cached
        column = None if query.sort is None else manifest.columns.index(query.sort)
        kept_rows = array("q")
        sort_values: list[Any] = []  # only the sort column: the rest of each chunk is dropped
        row_number = 0
        for ref in manifest.chunks:
            rows = await self._chunk(ref.sha256)
            scan = _scan_chunk(rows, row_number, needle, column, query.where)
            numbers, values = await asyncio.to_thread(scan)
            kept_rows.extend(numbers)
            sort_values.extend(values)
            row_number += len(rows)
        if column is not None:
            order = await asyncio.to_thread(_sorted_order, kept_rows, sort_values, query.desc)
        else:
            order = kept_rows
        self._orders.put(key, order)
        return order


def _scan_chunk(rows: list[list[Any]], first: int, needle: str | None, column: int | None,
                where: RowPredicate | None) -> Callable[[], tuple[list[int], list[Any]]]:
    def scan() -> tuple[list[int], list[Any]]:
        numbers: list[int] = []
        values: list[Any] = []
        for i, row in enumerate(rows):
            if needle is not None and not any(needle in cell_text(c).lower() for c in row):
                continue
            if where is not None and not where(row):
                continue
            numbers.append(first + i)
            if column is not None:
                values.append(row[column] if column < len(row) else None)
        return numbers, values

    return scan


def _sorted_order(numbers: array[int], values: list[Any], desc: bool) -> array[int]:
    """Row numbers ordered by their values; empty cells (None, NaN) last either way,
    ties in table order."""
    present = [i for i, v in enumerate(values) if not _is_empty(v)]
    empty = [i for i, v in enumerate(values) if _is_empty(v)]
    # Python's sort is stable even with reverse=True: equal values keep table order.
    present.sort(key=lambda i: sort_key(values[i]), reverse=desc)
    return array("q", [numbers[i] for i in present + empty])
