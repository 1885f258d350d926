"""`Artifact`: a named, versioned bundle of tables, media and files.

An artifact being built holds *pending* entries: table snapshots taken at
`add()` time (later mutation of the table does not change what is logged),
media values, and file paths. `run.log_artifact()` hands it to the writer
thread, which stores every entry as blobs and queues one `artifact` entry.

An artifact read back (from `use_artifact`) holds a manifest and a
`reader.BlobSource`; `get(name)` rebuilds values from blobs on demand.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablelog import wire
from tablelog.errors import ArtifactNotFoundError, ArtifactStateError, TableLimitError

if TYPE_CHECKING:
    from tablelog.artifacts.reader import BlobSource
    from tablelog.runtime.snapshot import TableSnapshot

_MEDIA_KINDS = {"image", "audio", "video", "html"}


@dataclass(frozen=True)
class PendingTable:
    snapshot: TableSnapshot


@dataclass(frozen=True)
class PendingJoined:
    table1: str  # entry names inside the same artifact
    table2: str
    join_key: str | list[str]


@dataclass(frozen=True)
class PendingMedia:
    value: Any


@dataclass(frozen=True)
class PendingFile:
    path: Path


Pending = PendingTable | PendingJoined | PendingMedia | PendingFile


def check_row_limit(table: Any) -> None:
    """Refuse tables over Table.MAX_ARTIFACT_ROWS with a message saying how to lift it."""
    limit = type(table).MAX_ARTIFACT_ROWS
    n = len(table.data)
    if n > limit:
        raise TableLimitError(
            f"Table has {n} rows, more than the limit of {limit} "
            f"(tablelog never truncates). Raise the limit with "
            f"`tablelog.Table.MAX_ARTIFACT_ROWS = {n}` before logging.")


class Artifact:
    """wandb-compatible artifact: `Artifact(name, type, description=None, metadata=None)`."""

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise ArtifactStateError("Artifact name must be a non-empty string")
        if not wire.is_valid_name(name):
            raise ArtifactStateError(
                f"invalid artifact name {name!r}: use letters, digits, '_', '-' and '.'")
        self.name = name
        self.type = type
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._pending: dict[str, Pending] = {}
        # id(obj) -> (entry name, obj): the object is kept so that its id is not reused by
        # another object added later (a JoinedTable made inline is otherwise freed at once)
        self._added_objects: dict[int, tuple[str, Any]] = {}
        # set once logged or read back
        self.version: str | None = None
        self.digest: str | None = None
        self.aliases: list[str] = []
        self.project: str | None = None
        self.entity: str | None = None
        self._manifest: dict[str, wire.ManifestEntry] | None = None
        self._source: BlobSource | None = None
        self._cache: dict[str, Any] = {}

    # -- building ------------------------------------------------------------

    def add(self, obj: Any, name: str) -> str:
        """Add a Table, JoinedTable or media value under `name`; returns the entry name.

        A table is snapshotted now; mutating it later does not change this artifact.
        """
        from tablelog.runtime.snapshot import take_snapshot

        self._check_building()
        self._check_entry_name(name)
        if id(obj) in self._added_objects:
            return self._added_objects[id(obj)][0]
        # Neither class can have instances before its module was imported: checking
        # sys.modules spares the first log of a table the import of the other.
        table_mod = sys.modules.get("tablelog.data_types.table")
        joined_mod = sys.modules.get("tablelog.data_types.joined_table")
        if table_mod is not None and isinstance(obj, table_mod.Table):
            check_row_limit(obj)
            self._pending[name] = PendingTable(take_snapshot(obj))
        elif joined_mod is not None and isinstance(obj, joined_mod.JoinedTable):
            self._pending[name] = PendingJoined(
                self._joined_part(obj._table1, name, 1), self._joined_part(obj._table2, name, 2),
                obj._join_key)
        elif getattr(obj, "_kind", None) in _MEDIA_KINDS:
            self._pending[name] = PendingMedia(obj)
        else:
            raise TypeError(f"Found object of type {type(obj).__name__}; Artifact.add expects "
                            "a Table, JoinedTable, Image, Audio, Video or Html")
        self._added_objects[id(obj)] = (name, obj)
        return name

    def _joined_part(self, part: Any, name: str, n: int) -> str:
        """Entry name of one side of a JoinedTable: an existing entry name, or a table
        object added beside it."""
        if isinstance(part, str):
            base = part.removesuffix(".table.json")
            if base not in self._pending or not isinstance(self._pending[base], PendingTable):
                raise ValueError(f"JoinedTable table {part!r} not found in artifact "
                                 f"{self.name!r}; add that table first")
            return base
        if id(part) in self._added_objects:
            return self._added_objects[id(part)][0]
        return self.add(part, f"{name}.table{n}")

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None) -> str:
        """Add a file; its bytes are read when the artifact is logged."""
        self._check_building()
        path = Path(local_path)
        if not path.is_file():
            raise ArtifactStateError(f"add_file: {path} is not a file")
        entry = name or path.name
        self._check_entry_name(entry)
        self._pending[entry] = PendingFile(path.resolve())
        return entry

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> list[str]:
        """Add every file under a directory, named by their relative paths."""
        root = Path(local_path)
        if not root.is_dir():
            raise ArtifactStateError(f"add_dir: {root} is not a directory")
        names = []
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            names.append(self.add_file(path, f"{name}/{rel}" if name else rel))
        return names

    def _check_building(self) -> None:
        if self._manifest is not None:
            raise ArtifactStateError(
                f"artifact {self.name!r} was already logged or read; create a new Artifact")

    def _check_entry_name(self, name: str) -> None:
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"invalid entry name {name!r}")
        if name in self._pending:
            raise ValueError(f"artifact {self.name!r} already has an entry named {name!r}")

    # -- reading -------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, wire.ManifestEntry]:
        if self._manifest is None:
            raise ArtifactStateError(
                f"artifact {self.name!r} has not been logged; log it with run.log_artifact() "
                "or read one with run.use_artifact()")
        return self._manifest

    def _bind(self, *, manifest: Mapping[str, wire.ManifestEntry], digest: str, version: str,
              aliases: list[str], source: BlobSource, project: str | None = None,
              entity: str | None = None) -> None:
        """Attach the stored form (called by the writer once logged, or by use_artifact)."""
        self._manifest = dict(manifest)
        self.digest, self.version, self.aliases = digest, version, list(aliases)
        self._source = source
        self.project, self.entity = project, entity

    def get_entry(self, name: str) -> wire.ManifestEntry:
        """The manifest entry called `name` (KeyError if there is none)."""
        manifest = self.manifest
        for candidate in (name, name.removesuffix(".table.json"), f"{name}.table"):
            if candidate in manifest:
                return manifest[candidate]
        raise ArtifactNotFoundError(
            f"artifact {self.name!r} has no entry {name!r}; entries: {sorted(manifest)}")

    def get(self, name: str) -> Any:
        """The value stored under `name`: a Table, JoinedTable, media value, or a file's
        local path. None if there is no such entry (as wandb)."""
        manifest = self.manifest
        if not any(c in manifest for c in (name, name.removesuffix(".table.json"))):
            return None
        from tablelog.artifacts.reader import read_entry

        key = name if name in manifest else name.removesuffix(".table.json")
        if key not in self._cache:
            assert self._source is not None
            self._cache[key] = read_entry(key, manifest[key], self._source, self.get)
        return self._cache[key]

    def entries(self) -> list[str]:
        return sorted(self.manifest)

    def __repr__(self) -> str:
        state = self.version or "unlogged"
        return f"<Artifact {self.name}:{state} type={self.type}>"
