"""Table snapshots: what `run.log` takes on the caller's thread, and how the
writer thread turns a snapshot into content-addressed chunks.

Two halves with one contract:

- `take_snapshot(table)` runs on the training thread and costs O(new rows)
  pointer copies, no per-row allocation: it keeps the schema, the row count,
  and a shallow slice of the rows that are not already covered by full chunks
  of the previous snapshot of the same table object. Chunk boundaries sit at
  fixed multiples of `wire.CHUNK_ROWS`, so the caller knows which chunks the
  previous snapshot *will* have produced without waiting for the writer.
- `write_snapshot(snapshot, sink)` runs on the writer thread, in log order: it
  takes the previous snapshot's chunks (already written, since the writer is
  FIFO), encodes the new rows into chunks, hands every blob to `sink`, and
  returns the manifest entry for the table.

Why a shallow slice is a faithful snapshot: Table only ever appends rows and
appends cells to the end of rows (add_column); the snapshot records its column
count and the writer encodes `row[:ncols]`, so later appends do not leak in.
Replacing a cell of an already-logged row through `table.data[i][j] = x`
bypasses the Table API and is not tracked (as in wandb, where `.data` is also
the live list).

INCREMENTAL tables chunk at increment boundaries instead: each log appends
the new rows' chunks to the chunks of earlier increments of the same run key.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tablelog import wire
from tablelog.errors import TablelogError

# sink(data) -> sha256: store bytes as a blob (idempotent)
BlobSink = Callable[[bytes], str]


@dataclass(frozen=True)
class WrittenChunk:
    """A chunk already stored, with the media blobs its cells reference."""

    ref: wire.ChunkRef
    media: tuple[str, ...] = ()


class TableSnapshot:
    """A table as it was when logged: rows [first, first + len(rows)) are new,
    rows before `first` are the first `first // CHUNK_ROWS` chunks of `base`."""

    def __init__(self, table: Any, *, first: int, base: TableSnapshot | None,
                 end: int | None = None) -> None:
        self.columns: list[str] = list(table.columns)
        self._types: list[Any] = list(table._types)  # immutable DTypes
        self._column_types: list[Any] | None = None
        self.log_mode: str = table.log_mode
        self.structure_version: int = table._structure_version
        self.first = first
        self.base = base
        # shallow: see the module docstring; `end` keeps the rows before it only
        self.rows: list[list[Any]] = table.data[first:end]
        self.nrows = first + len(self.rows)
        self.written: list[WrittenChunk] | None = None  # set by the writer

    @property
    def column_types(self) -> list[Any]:
        """One plain type description per column, made when first asked for: by the
        writer thread, so a table logged every step does not describe its types on the
        training thread each time (the DTypes are immutable, so it is the same later)."""
        if self._column_types is None:
            self._column_types = [t.to_plain() for t in self._types]
        return self._column_types

    @property
    def new_cells(self) -> int:
        return len(self.rows) * max(1, len(self.columns))

    def media_bytes(self) -> int:
        """Bytes the media values in the new rows hold (see `Media._pending_bytes`).
        Only columns whose type can hold media are read: a table of a million numbers
        costs the training thread nothing here."""
        cols = [j for j, t in enumerate(self._types) if _holds_media(t)]
        if not cols or not self.rows:
            return 0
        return sum(held_bytes(row[j]) for row in self.rows for j in cols if j < len(row))


def _holds_media(dtype: Any) -> bool:
    """`_may_hold_media` of a column's DType, remembered on the (immutable) DType: a
    growing table logged every step describes and walks its types once."""
    known = getattr(dtype, "_tablelog_holds_media", None)
    if known is None:
        known = not _plainly_no_media(dtype) and _may_hold_media(dtype.to_plain())
        with contextlib.suppress(AttributeError):  # a type without attributes: walked each time
            dtype._tablelog_holds_media = known
    return bool(known)


# Types that never hold media, whatever their parameters (a union of them neither).
_NO_MEDIA_TYPES = frozenset({"none", "number", "boolean", "string", "timestamp", "primaryKey"})


def _plainly_no_media(dtype: Any) -> bool:
    """True for a column of numbers, strings, ... (optional or not), answered from the
    types' names: each table has its own DType objects, so the common columns are not
    described first. Duck-typed: importing the data types here would import numpy."""
    members = getattr(dtype, "members", ()) if dtype.wb_type == "union" else (dtype,)
    return bool(members) and all(m.wb_type in _NO_MEDIA_TYPES for m in members)


def _media_type_name(name: object) -> bool:
    return isinstance(name, str) and (name.endswith("-file") or name in ("any", "unknown"))


def _may_hold_media(plain: Any) -> bool:
    """Whether a column of this (plain) type may hold media values: a media type, or
    a type that admits anything, anywhere inside a list, dict or union type."""
    if isinstance(plain, dict):
        if _media_type_name(plain.get("wb_type")):
            return True
        return any(_may_hold_media(v) for v in plain.values() if isinstance(v, dict | list))
    if isinstance(plain, list):
        return any(_may_hold_media(v) for v in plain)
    return False


def held_bytes(value: Any) -> int:
    """Bytes held by the media values in `value` (a cell: media, or lists / dicts of it)."""
    pending = getattr(value, "_pending_bytes", None)
    if pending is not None:
        return int(pending())
    if isinstance(value, list | tuple):
        return sum(held_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(held_bytes(v) for v in value.values())
    return 0


@dataclass
class TableLogState:
    """What the run layer remembers about one table object between logs.

    Kept beside the table (not on it), keyed by identity and dropped when the
    table is garbage-collected. `ref` is written by the writer thread, the rest
    by the training thread.
    """

    last: TableSnapshot | None = None  # the previous snapshot, for chunk reuse
    ref: wire.TableRef | None = None  # the version its last log produced
    # (structure version, rows, end row kept or None) at last log
    logged: tuple[int, int, int | None] | None = None
    run_id: str | None = None  # INCREMENTAL: the one run it may be logged to
    incremental_rows: int | None = None  # INCREMENTAL: rows already logged


_STATES: dict[int, TableLogState] = {}
_STATES_LOCK = threading.Lock()


def log_state(table: Any) -> TableLogState:
    """The run layer's state for `table`, created on first use."""
    key = id(table)
    state = _STATES.get(key)
    if state is None:
        with _STATES_LOCK:
            state = _STATES.get(key)
            if state is None:
                state = _STATES[key] = TableLogState()
                weakref.finalize(table, _STATES.pop, key, None)
    return state


def take_snapshot(table: Any, *, start_row: int | None = None,
                  end_row: int | None = None) -> TableSnapshot:
    """Snapshot `table` on the caller's thread (no per-row copies).

    start_row (INCREMENTAL) takes only the rows from there on, with no base;
    end_row keeps only the rows before it (a table over Table.MAX_ARTIFACT_ROWS
    logged in a run, see `tablelog.runtime.log_values`).
    """
    if start_row is not None:
        return TableSnapshot(table, first=start_row, base=None, end=end_row)
    state = log_state(table)
    prev = state.last
    first, base = 0, None
    if (prev is not None and prev.structure_version == table._structure_version
            and prev.nrows <= len(table.data)):
        first = prev.nrows - prev.nrows % wire.CHUNK_ROWS
        base = prev if first else None
    if end_row is not None and first > end_row:
        first, base = 0, None
    snap = TableSnapshot(table, first=first, base=base, end=end_row)
    state.last = snap
    return snap


@dataclass(frozen=True)
class WrittenTable:
    """What storing a snapshot produced: the manifest entry plus its chunks."""

    entry: wire.ManifestEntry
    manifest: wire.TableManifest
    chunks: list[WrittenChunk]
    blob_bytes: int


MediaResolver = Callable[[Any, list[str]], Any]


def _encode_chunk(rows: list[list[Any]], ncols: int, sink: BlobSink,
                  resolve: MediaResolver) -> WrittenChunk:
    media: list[str] = []
    cells = [r if len(r) == ncols else r[:ncols] for r in rows]
    data = wire.encode_rows(cells, resolve=lambda obj: resolve(obj, media))
    sha = sink(data)
    time.sleep(0)  # between chunks, let the training thread have the GIL (see writer)
    return WrittenChunk(wire.ChunkRef(sha, len(rows), len(data)), tuple(dict.fromkeys(media)))


def write_snapshot(snap: TableSnapshot, sink: BlobSink, resolve: MediaResolver, *,
                   incremental_base: list[WrittenChunk] | None = None,
                   increments: int = 0) -> WrittenTable:
    """Chunk, encode and store a snapshot; `resolve(obj, media_shas)` turns a media
    cell into a MediaRef (storing its bytes) and appends the blob's sha.

    For INCREMENTAL logs, `incremental_base` holds the chunks of earlier
    increments; the new rows become new chunks after them.
    """
    if incremental_base is not None:
        chunks = list(incremental_base)
    elif snap.base is not None:
        if snap.base.written is None:
            raise TablelogError("an earlier log of this table was not persisted, so this "
                                "log, which builds on it, cannot be either")
        chunks = snap.base.written[:snap.first // wire.CHUNK_ROWS]
    else:
        chunks = []
    ncols = len(snap.columns)
    new = [_encode_chunk(snap.rows[i:i + wire.CHUNK_ROWS], ncols, sink, resolve)
           for i in range(0, len(snap.rows), wire.CHUNK_ROWS)]
    chunks += new
    snap.written = chunks
    snap.rows, snap.base = [], None  # done with them: free the references
    manifest = wire.TableManifest(snap.columns, snap.column_types, [c.ref for c in chunks],
                                  snap.log_mode, increments)
    data = manifest.to_bytes()
    sha = sink(data)
    blobs = tuple(dict.fromkeys(
        [c.ref.sha256 for c in chunks] + [m for c in chunks for m in c.media]))
    entry = wire.ManifestEntry(
        "table", sha, len(data),
        {"nrows": manifest.nrows, "ncols": len(snap.columns), "log_mode": snap.log_mode},
        blobs)
    blob_bytes = len(data) + sum(c.ref.size for c in new)
    return WrittenTable(entry, manifest, chunks, blob_bytes)
