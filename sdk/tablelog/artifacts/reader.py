"""Rebuild logged values from blobs: tables (chunk by chunk), joined tables, media.

A `BlobSource` is anything that returns a blob's bytes by sha256: the local
blob store (offline reads of what this directory logged) or a cache filled
from the server (`tablelog.apis.public`). The reader never holds a table twice: it
decodes one chunk at a time into the table's row list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from tablelog import wire
from tablelog.errors import ArtifactError
from tablelog.store.blobstore import BlobStore


class BlobSource(Protocol):
    """Where blob bytes come from."""

    def read(self, sha256: str) -> bytes: ...

    def local_path(self, sha256: str) -> Path: ...


class LocalBlobSource:
    """Blobs already in a local BlobStore."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store

    def read(self, sha256: str) -> bytes:
        try:
            return self.store.read(sha256)
        except FileNotFoundError:
            raise ArtifactError(
                f"blob {sha256[:12]}… is not in the local store {self.store.root}: once the "
                "server has stored a blob, the agent keeps it only in a bounded local cache "
                "(TABLELOG_CACHE_MAX_BYTES). Read this artifact through the server instead "
                "(`use_artifact` in online mode, or `tablelog.Api().artifact(...)`)") from None

    def local_path(self, sha256: str) -> Path:
        return self.store.path(sha256)


_MAY_HOLD_MEDIA = (wire.MediaRef, list, dict)


def _restore_cells(value: Any, source: BlobSource) -> Any:
    """MediaRef -> media value, a stored histogram map -> Histogram, recursively
    through lists and dicts."""
    if isinstance(value, wire.MediaRef):
        from tablelog.data_types.media import media_from_encoded

        return media_from_encoded(value.kind, source.read(value.sha256), dict(value.meta))
    if isinstance(value, list):
        return [_restore_cells(v, source) for v in value]
    if isinstance(value, dict):
        if value.get("_type") == "histogram":
            histogram = _histogram(value)
            if histogram is not None:
                return histogram
        return {k: _restore_cells(v, source) for k, v in value.items()}
    return value


def _histogram(value: dict[str, Any]) -> Any:
    from tablelog.data_types.histogram import Histogram

    try:
        return Histogram(np_histogram=(value["values"], value["bins"]))
    except (KeyError, TypeError, ValueError):  # not one after all: the map as stored
        return None


def _has_media(value: Any) -> bool:
    """Whether a cell needs `_restore_cells`: media, or a stored histogram."""
    if isinstance(value, wire.MediaRef):
        return True
    if isinstance(value, dict) and value.get("_type") == "histogram":
        return True
    if isinstance(value, list):
        return any(_has_media(v) for v in value)
    if isinstance(value, dict):
        return any(_has_media(v) for v in value.values())
    return False


def read_table(manifest_sha: str, source: BlobSource) -> Any:
    """A Table from its manifest blob, decoding one chunk at a time."""
    from tablelog.data_types.table import Table

    manifest = wire.TableManifest.from_bytes(source.read(manifest_sha))
    rows: list[list[Any]] = []
    for chunk in manifest.chunks:
        part = wire.decode_rows(source.read(chunk.sha256))
        for row in part:
            for i, cell in enumerate(row):
                if isinstance(cell, _MAY_HOLD_MEDIA) and _has_media(cell):
                    row[i] = _restore_cells(cell, source)
        rows.extend(part)
    return Table._from_wire(manifest.columns, manifest.column_types, rows, manifest.log_mode)


def read_entry(name: str, entry: wire.ManifestEntry, source: BlobSource,
               get: Callable[[str], Any]) -> Any:
    """The value entry `name` stores; `get` reads another entry of the same
    artifact by name (a joined table names the two tables it joins)."""
    if entry.kind == "table":
        return read_table(entry.sha256, source)
    if entry.kind == "joined-table":
        from tablelog.data_types.joined_table import JoinedTable

        t1, t2, key = wire.decode_joined_table(source.read(entry.sha256))
        return JoinedTable(get(t1), get(t2), key)
    from tablelog.data_types.media import Media, media_from_encoded

    if entry.kind in Media.registry():

        return media_from_encoded(entry.kind, source.read(entry.sha256), dict(entry.meta))
    if entry.kind == "file":
        return str(source.local_path(entry.sha256))
    raise ArtifactError(f"entry {name!r} has unknown kind {entry.kind!r}")
