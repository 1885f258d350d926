"""Which rows a table version added since an earlier one.

Rows ``[old.nrows, new.nrows)`` of the newer version are "added since" the older
one only when the older version's rows are a prefix of the newer's. Chunk
boundaries sit at fixed row numbers (or, for INCREMENTAL tables, at increment
boundaries), so a grown table shares every full chunk of the earlier version by
sha256; only the earlier version's last, partial chunk can differ in bytes
while holding the same rows. So: compare chunk addresses, and at the first
difference compare the rows of that one chunk (at most `wire.CHUNK_ROWS`, or an
increment's rows) — never the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass

from tablelog import wire
from tablelog_server.tables import TableQuery, TableReader

MAX_COMPARED_ROWS = 10_000
"""Rows compared one by one at most (one chunk's worth); past that, not a prefix."""


@dataclass(frozen=True)
class PrefixCheck:
    """Whether the older version's rows are a prefix of the newer's, and why not."""

    old_nrows: int
    new_nrows: int
    is_prefix: bool
    reason: str = ""

    @property
    def added(self) -> int:
        """How many rows the newer version added (0 when not a prefix)."""
        return self.new_nrows - self.old_nrows if self.is_prefix else 0


async def _same_rows(reader: TableReader, old_sha: str, new_sha: str, start: int,
                     count: int, entity: str) -> bool:
    query = TableQuery(offset=start, limit=count)
    old_page = await reader.page(old_sha, query, entity=entity)
    new_page = await reader.page(new_sha, query, entity=entity)
    # Encoded bytes compare cells of any kind (arrays, media) exactly.
    return wire.packb(old_page.rows) == wire.packb(new_page.rows)


async def check_prefix(reader: TableReader, old_sha: str, new_sha: str, *,
                       entity: str) -> PrefixCheck:
    """Compare two table manifests of `entity`'s (see the module docstring)."""
    old = await reader.manifest(old_sha, entity=entity)
    new = await reader.manifest(new_sha, entity=entity)
    if old.columns != new.columns:
        return PrefixCheck(old.nrows, new.nrows, False, "the columns changed")
    if old.nrows > new.nrows:
        return PrefixCheck(old.nrows, new.nrows, False, "the earlier version has more rows")
    start = 0
    for i, chunk in enumerate(old.chunks):
        same = i < len(new.chunks) and new.chunks[i].sha256 == chunk.sha256
        if not same:
            last = i == len(old.chunks) - 1
            if (not last or i >= len(new.chunks) or new.chunks[i].nrows < chunk.nrows
                    or chunk.nrows > MAX_COMPARED_ROWS):
                return PrefixCheck(old.nrows, new.nrows, False,
                                   f"rows {start}–{start + chunk.nrows - 1} differ")
            if not await _same_rows(reader, old_sha, new_sha, start, chunk.nrows, entity):
                return PrefixCheck(old.nrows, new.nrows, False,
                                   f"rows {start}–{start + chunk.nrows - 1} differ")
        start += chunk.nrows
    return PrefixCheck(old.nrows, new.nrows, True)
