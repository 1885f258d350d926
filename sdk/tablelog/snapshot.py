"""Table snapshots: what `run.log` copies on the caller's thread, and how the
writer thread turns a snapshot into content-addressed chunks.

Two halves with one contract:

- `take_snapshot(table)` runs on the training thread. It copies only what
  correctness needs: the schema and the rows that are not already covered by
  full chunks written for this same table object (the writer records those on
  the table's `TableLogState`). A table that grows by 1,000 rows copies 1,000
  rows, not the whole table.
- `write_snapshot(snapshot, sink)` runs on the writer thread: it encodes rows
  into chunks of `wire.CHUNK_ROWS` (boundaries at fixed multiples from row 0,
  so earlier chunks hash the same and are never written twice), hands every
  blob to `sink`, and returns the manifest entry for the table.

INCREMENTAL tables chunk at increment boundaries instead: each log appends
the new rows' chunks to the chunks of earlier increments of the same run key.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tablelog import wire

# sink(data) -> sha256: store bytes as a blob (idempotent)
BlobSink = Callable[[bytes], str]


@dataclass(frozen=True)
class WrittenChunk:
    """A chunk already stored, with the media blobs its cells reference."""

    ref: wire.ChunkRef
    media: tuple[str, ...] = ()


@dataclass
class ChunkCache:
    """Full chunks the writer stored for one table object, valid while the table's
    structure version is unchanged (only appends since)."""

    structure_version: int
    chunks: list[WrittenChunk] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(c.ref.nrows for c in self.chunks)


@dataclass
class TableLogState:
    """What the run layer remembers about one table object between logs.

    Kept beside the table (not on it), keyed by identity and dropped when the
    table is garbage-collected. `chunks` and `ref` are written by the writer
    thread, the rest by the training thread.
    """

    chunks: ChunkCache | None = None  # full chunks already stored for this object
    ref: wire.TableRef | None = None  # the version its last log produced
    logged: tuple[int, int] | None = None  # (structure version, rows) at last log
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


@dataclass(frozen=True)
class TableSnapshot:
    """A table as it was when logged; rows[i] is the table's row base_rows + i."""

    columns: list[str]
    column_types: list[Any]
    log_mode: str
    base: tuple[WrittenChunk, ...]
    rows: list[list[Any]]
    structure_version: int
    table: Any  # the live table, only to record the chunk cache on it afterwards

    @property
    def nrows(self) -> int:
        return sum(c.ref.nrows for c in self.base) + len(self.rows)


def take_snapshot(table: Any, *, start_row: int | None = None) -> TableSnapshot:
    """Copy what the writer needs from `table`, on the caller's thread.

    start_row (INCREMENTAL) copies only the rows from there on, with no base.
    """
    version = table._structure_version
    data = table.data
    base: tuple[WrittenChunk, ...] = ()
    if start_row is not None:
        first = start_row
    else:
        cache = log_state(table).chunks
        if cache is not None and cache.structure_version == version and cache.rows <= len(data):
            base = tuple(cache.chunks)
        first = sum(c.ref.nrows for c in base)
    rows = [list(r) for r in data[first:]]
    return TableSnapshot(list(table.columns), table._column_types_plain(), table.log_mode, base,
                         rows, version, table)


@dataclass(frozen=True)
class WrittenTable:
    """What storing a snapshot produced: the manifest entry plus its chunks."""

    entry: wire.ManifestEntry
    manifest: wire.TableManifest
    chunks: list[WrittenChunk]
    blob_bytes: int


def _encode_chunk(rows: list[list[Any]], sink: BlobSink,
                  resolve: Callable[[Any, list[str]], Any]) -> WrittenChunk:
    media: list[str] = []
    data = wire.encode_rows(rows, resolve=lambda obj: resolve(obj, media))
    sha = sink(data)
    return WrittenChunk(wire.ChunkRef(sha, len(rows), len(data)), tuple(dict.fromkeys(media)))


def write_snapshot(snap: TableSnapshot, sink: BlobSink,
                   resolve: Callable[[Any, list[str]], Any], *,
                   incremental_base: list[WrittenChunk] | None = None,
                   increments: int = 0) -> WrittenTable:
    """Chunk, encode and store a snapshot; `resolve(obj, media_shas)` turns a media
    cell into a MediaRef (storing its bytes) and appends the blob's sha.

    For INCREMENTAL logs, `incremental_base` holds the chunks of earlier
    increments; the new rows become new chunks after them.
    """
    new: list[WrittenChunk] = []
    if incremental_base is not None:
        chunks = list(incremental_base)
        for i in range(0, len(snap.rows), wire.CHUNK_ROWS):
            new.append(_encode_chunk(snap.rows[i:i + wire.CHUNK_ROWS], sink, resolve))
        chunks += new
    else:
        chunks = list(snap.base)
        for i in range(0, len(snap.rows), wire.CHUNK_ROWS):
            new.append(_encode_chunk(snap.rows[i:i + wire.CHUNK_ROWS], sink, resolve))
        chunks += new
        # Only a prefix of full chunks can be reused by the next log of this object.
        prefix: list[WrittenChunk] = []
        for c in chunks:
            if c.ref.nrows != wire.CHUNK_ROWS:
                break
            prefix.append(c)
        log_state(snap.table).chunks = ChunkCache(snap.structure_version, prefix)
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
