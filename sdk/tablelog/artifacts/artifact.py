"""`Artifact`: a named, versioned bundle of tables, media and files.

An artifact being built holds *pending* entries: table snapshots taken at
`add()` time (later mutation of the table does not change what is logged),
media values, and file paths. `run.log_artifact()` hands it to the writer
thread, which stores every entry as blobs and queues one `artifact` entry.

An artifact read back (from `use_artifact`) holds a manifest and a
`reader.BlobSource`; `get(name)` rebuilds values from blobs on demand.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from tablelog import wire
from tablelog.artifacts.entry import REFERENCE_KIND, ArtifactManifestEntry
from tablelog.errors import ArtifactNotFoundError, ArtifactStateError, TableLimitError

if TYPE_CHECKING:
    from tablelog.artifacts.reader import BlobSource
    from tablelog.runtime.snapshot import TableSnapshot


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
    temporary: bool = False  # a staging copy (policy "mutable", new_file): removed once stored
    ref: str | None = None  # the file:// URI it was added by, if any


@dataclass(frozen=True)
class PendingReference:
    """A URI recorded, not fetched (``add_reference`` of http(s), s3, gs, ...)."""

    uri: str


Pending = PendingTable | PendingJoined | PendingMedia | PendingFile | PendingReference
RESERVED_TYPE_MESSAGE = ("Artifact types 'job' and 'wandb-*' are reserved for internal use. "
                         "Please use a different type.")
MAX_NAME_CHARS = 128


def check_artifact_type(type: Any) -> str:
    """wandb's rule: a non-empty string, neither ``job`` nor ``wandb-*``."""
    if not isinstance(type, str) or not type:
        raise ValueError(f"Artifact type must be a non-empty string, got {type!r}")
    if type == "job" or type.startswith("wandb-"):
        raise ValueError(RESERVED_TYPE_MESSAGE)
    if not wire.is_valid_name(type):
        raise ValueError(f"Invalid artifact type {type!r}: use letters, digits, '_', '-', '.'")
    return type


def check_aliases(aliases: Any) -> list[str]:
    """wandb's rule for aliases (no '/' or ':'), and tablelog's name rule; a version
    number (``v3``) is not an alias."""
    if isinstance(aliases, str) or not all(isinstance(a, str) for a in aliases):
        raise ValueError(f"aliases must be a list of strings, got {aliases!r}")
    for alias in aliases:
        if "/" in alias or ":" in alias:
            raise ValueError(f"Aliases must not contain any of the following characters: "
                             f"/, : (got {alias!r})")
        if not wire.is_valid_name(alias) or wire.VERSION_LIKE.fullmatch(alias):
            raise ValueError(f"invalid alias {alias!r}: use letters, digits, '_', '-' and '.' "
                             "(and not a version such as v3)")
    return list(dict.fromkeys(aliases))


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
                 metadata: Mapping[str, Any] | None = None, incremental: bool = False,
                 use_as: str | None = None, storage_region: str | None = None,
                 *, _internal: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise ArtifactStateError("Artifact name must be a non-empty string")
        if len(name) > MAX_NAME_CHARS:
            raise ArtifactStateError(f"Artifact name is longer than {MAX_NAME_CHARS} "
                                     f"characters: {name[:40]!r}...")
        if not wire.is_valid_name(name):
            raise ArtifactStateError(
                f"invalid artifact name {name!r}: Artifact names may only contain "
                "alphanumeric characters, dashes, underscores, and dots")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a dict, got {metadata.__class__.__name__}")
        self.name = name
        self.type = type if _internal else check_artifact_type(type)
        self.incremental = bool(incremental)
        self.tags: list[str] = []
        self.ttl: Any = None
        self.created_at: str | None = None
        self._logged_by: str | None = None  # the run id that logged the version
        # where it came from (`tablelog.artifacts.lifecycle`): the run logging it (a
        # weakref), or the server client it was read with
        self._logging_run: Any = None
        self._client: Any = None
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
        # No class can have instances before its module was imported: checking
        # sys.modules spares the first log of a table the import of the others.
        table_mod = sys.modules.get("tablelog.data_types.table")
        joined_mod = sys.modules.get("tablelog.data_types.joined_table")
        media_mod = sys.modules.get("tablelog.data_types.media_base")
        if table_mod is not None and isinstance(obj, table_mod.Table):
            check_row_limit(obj)
            self._pending[name] = PendingTable(take_snapshot(obj))
        elif joined_mod is not None and isinstance(obj, joined_mod.JoinedTable):
            self._pending[name] = PendingJoined(
                self._joined_part(obj._table1, name, 1), self._joined_part(obj._table2, name, 2),
                obj._join_key)
        elif media_mod is not None and isinstance(obj, media_mod.Media):
            self._pending[name] = PendingMedia(obj)
        else:
            raise TypeError(f"Found object of type {type(obj).__name__}; Artifact.add expects "
                            "a Table, JoinedTable or a media value (Image, Audio, Video, "
                            "Html, Object3D, Molecule)")
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

    def add_file(self, local_path: str | os.PathLike[str], name: str | None = None,
                 is_tmp: bool | None = False, skip_cache: bool | None = False,
                 policy: str | None = "mutable", overwrite: bool = False
                 ) -> ArtifactManifestEntry:
        """Add a file as entry `name` (default: its file name).

        ``policy="mutable"`` (wandb's default) copies the file now, so that changing it
        afterwards does not change this artifact; ``"immutable"`` promises it will not
        change and reads it when the artifact is logged. `is_tmp` names the entry after
        the file's content (its hash), as wandb. `skip_cache` is accepted and ignored."""
        self._check_building()
        if policy not in ("mutable", "immutable", None):
            raise ValueError(f"Invalid policy {policy!r}: use 'mutable' or 'immutable'")
        path = Path(local_path)
        if not path.is_file():
            raise ArtifactStateError(f"add_file: {path} is not a file")
        entry = name or path.name
        if is_tmp:
            head, _, tail = entry.rpartition("/")
            _stem, dot, ext = tail.partition(".")
            entry = f"{head + '/' if head else ''}{wire.sha256_file(path)[:20]}{dot}{ext}"
        self._check_entry_name(entry, overwrite=overwrite)
        if policy == "immutable":
            self._pending[entry] = PendingFile(path.resolve())
        else:
            self._pending[entry] = PendingFile(_staged_copy(path), temporary=True)
        return self._pending_entry(entry)

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None,
                skip_cache: bool | None = False, policy: str | None = "mutable",
                merge: bool = False) -> None:
        """Add every file under a directory, named by their paths relative to it
        (under `name`/, if given). `merge` lets them replace entries of the same names."""
        root = Path(local_path)
        if not root.is_dir():
            raise ArtifactStateError(f"add_dir: {root} is not a directory")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            self.add_file(path, f"{name.rstrip('/')}/{rel}" if name else rel, policy=policy,
                          overwrite=merge)

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "x", encoding: str | None = None
                 ) -> Iterator[IO[Any]]:
        """Open a new file that becomes entry `name` when the block ends (as wandb's)."""
        self._check_building()
        self._check_entry_name(name)
        if "r" in mode:
            raise ValueError(f"new_file opens a new file for writing, not mode {mode!r}")
        import tempfile  # here, not at import: init() of a run never needs it

        staging = Path(tempfile.mkdtemp(prefix="tablelog-new-file-"))
        path = staging / Path(name).name
        with open(path, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
        self._pending[name] = PendingFile(path, temporary=True)

    def add_reference(self, uri: Any, name: str | None = None, checksum: bool = True,
                      max_objects: int | None = None) -> list[ArtifactManifestEntry]:
        """Add a reference. ``file://`` paths are read and stored like `add_file`
        (a directory: every file under it); ``http(s)://``, ``s3://``, ``gs://`` and
        other URIs are recorded, not fetched (the entry's `ref` holds the URI)."""
        self._check_building()
        text = str(uri)
        scheme, sep, rest = text.partition("://")
        if not sep or not scheme or not rest:
            raise ValueError(f"add_reference needs a URI with a scheme (file://, https://, "
                             f"s3://, gs://, ...), got {text!r}")
        if scheme == "file":
            import urllib.parse

            path = Path(urllib.parse.unquote(rest))
            if path.is_dir():
                files = sorted(p for p in path.rglob("*") if p.is_file())
                if max_objects is not None:
                    files = files[:max_objects]
                added = []
                for f in files:
                    rel = f.relative_to(path).as_posix()
                    added.append(self._add_file_reference(f, f"{name}/{rel}" if name else rel,
                                                          f"file://{f}"))
                return added
            if not path.is_file():
                raise ArtifactStateError(f"add_reference: {path} does not exist")
            return [self._add_file_reference(path, name or path.name, text)]
        entry = name or rest.rstrip("/").rsplit("/", 1)[-1]
        self._check_entry_name(entry)
        self._pending[entry] = PendingReference(text)
        return [self._pending_entry(entry)]

    def _add_file_reference(self, path: Path, name: str, uri: str) -> ArtifactManifestEntry:
        self._check_entry_name(name)
        self._pending[name] = PendingFile(path.resolve(), ref=uri)
        return self._pending_entry(name)

    def remove(self, item: str | ArtifactManifestEntry) -> None:
        """Take an entry (by name, or the entry itself) out of an artifact being built."""
        self._check_building()
        name = item.path if isinstance(item, ArtifactManifestEntry) else item
        if name not in self._pending:
            raise FileNotFoundError(f"Cannot remove missing entry: {name!r}")
        removed = self._pending.pop(name)
        if isinstance(removed, PendingFile) and removed.temporary:
            removed.path.unlink(missing_ok=True)
        self._added_objects = {k: v for k, v in self._added_objects.items() if v[0] != name}

    def __setitem__(self, name: str, item: Any) -> None:
        self.add(item, name)

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def _pending_entry(self, name: str) -> ArtifactManifestEntry:
        pending = self._pending[name]
        if isinstance(pending, PendingFile):
            return ArtifactManifestEntry(name, None, pending.path.stat().st_size, pending.ref,
                                         str(pending.path), "file", self)
        if isinstance(pending, PendingReference):
            return ArtifactManifestEntry(name, None, None, pending.uri, None, REFERENCE_KIND,
                                         self)
        return ArtifactManifestEntry(name, None, None, None, None, type(pending).__name__, self)

    def _check_building(self) -> None:
        if self._manifest is not None:
            raise ArtifactStateError(
                f"artifact {self.name!r} was already logged or read; create a new Artifact")

    def _check_entry_name(self, name: str, *, overwrite: bool = False) -> None:
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"invalid entry name {name!r}")
        if name in self._pending and not overwrite:
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
              entity: str | None = None, created_at: str | None = None,
              logged_by: str | None = None) -> None:
        """Attach the stored form (called by the writer once logged, or by use_artifact)."""
        self._manifest = dict(manifest)
        self.digest, self.version, self.aliases = digest, version, list(aliases)
        self._source = source
        self.project, self.entity = project, entity
        self.created_at = created_at or self.created_at
        self._logged_by = logged_by or self._logged_by

    def _entry_key(self, name: str) -> str | None:
        manifest = self.manifest
        for candidate in (name, name.removesuffix(".table.json"), f"{name}.table"):
            if candidate in manifest:
                return candidate
        return None

    def get_entry(self, name: str) -> ArtifactManifestEntry:
        """The entry called `name` (``<name>.table.json`` finds table `name`, as in
        wandb); `ArtifactNotFoundError` (also a KeyError) if there is none."""
        if self._manifest is None and name in self._pending:
            return self._pending_entry(name)
        key = self._entry_key(name)
        if key is None:
            raise ArtifactNotFoundError(
                f"artifact {self.name!r} has no entry {name!r}; entries: {sorted(self.manifest)}")
        return ArtifactManifestEntry.of(self, key, self.manifest[key])

    def get_path(self, name: str) -> ArtifactManifestEntry:
        """The same as `get_entry` (wandb's older name)."""
        return self.get_entry(name)

    def get(self, name: str) -> Any:
        """The value stored under `name`: a Table, JoinedTable, media value, or a file's
        local path. None if there is no such entry (as wandb)."""
        key = self._entry_key(name)
        if key is None:
            return None
        from tablelog.artifacts.reader import read_entry

        if key not in self._cache:
            assert self._source is not None
            self._cache[key] = read_entry(key, self.manifest[key], self._source, self.get)
        return self._cache[key]

    def entries(self) -> list[str]:
        return sorted(self.manifest)

    def files(self, names: list[str] | None = None, per_page: int = 50
              ) -> list[ArtifactManifestEntry]:
        """The artifact's entries (only `names`, if given), by name."""
        chosen = sorted(self.manifest) if names is None else [
            n for n in names if n in self.manifest]
        return [ArtifactManifestEntry.of(self, n, self.manifest[n]) for n in chosen]

    @property
    def size(self) -> int:
        """Bytes of the entries' blobs (tables: their manifests; references count 0)."""
        return sum(e.size for e in self.manifest.values() if e.kind != REFERENCE_KIND)

    @property
    def source_name(self) -> str:
        return f"{self.name}:{self._version_label()}"

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}:{self._version_label()}"

    @property
    def state(self) -> str:
        """PENDING until logged (or read back), then COMMITTED, as wandb's."""
        return "PENDING" if self._manifest is None else "COMMITTED"

    def _version_label(self) -> str:
        if self.version is None:
            raise ArtifactStateError(f"artifact {self.name!r} has not been logged")
        return self.version

    # -- downloading -----------------------------------------------------------

    def _default_root(self) -> Path:
        from tablelog.artifacts.download import default_root

        return default_root(self.name, self._version_label())

    def download(self, root: str | os.PathLike[str] | None = None,
                 allow_missing_references: bool = False, skip_cache: bool | None = None,
                 path_prefix: str | None = None, multipart: bool | None = None) -> str:
        """Write the artifact under `root` (default ``./artifacts/<name>:<version>``)
        in the form wandb writes it (`tablelog.artifacts.download`); returns the path."""
        from tablelog.artifacts.download import download

        self.manifest  # noqa: B018 - raises for an artifact not logged
        target = Path(root) if root is not None else self._default_root()
        return str(download(self, target, allow_missing_references=allow_missing_references,
                            path_prefix=path_prefix))

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download an artifact of exactly one entry; the path of its file."""
        if len(self.manifest) != 1:
            raise ValueError(f"artifact {self.name!r} has {len(self.manifest)} entries; "
                             "file() is for an artifact of one file: use download()")
        from tablelog.artifacts.download import write_entry

        (name,) = self.manifest
        target = Path(root) if root is not None else self._default_root()
        return str(write_entry(self, name, target))

    def checkout(self, root: str | os.PathLike[str] | None = None) -> str:
        """Make `root` hold exactly the artifact: download it, then delete the files
        under `root` that are not part of it."""
        from tablelog.artifacts.download import entry_file_name

        target = Path(self.download(root))
        wanted = {entry_file_name(n, e) for n, e in self.manifest.items()}
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            rel = path.relative_to(target).as_posix()
            if rel not in wanted and not rel.startswith("media/"):
                path.unlink()
        return str(target)

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Check that the files under `root` are exactly the artifact's files, byte for
        byte; ValueError naming the first difference."""
        from tablelog.artifacts.download import written_files

        target = Path(root) if root is not None else self._default_root()
        expected = written_files(self)
        for rel, entry in expected.items():
            path = target / rel
            if not path.is_file():
                raise ValueError(f"verify: {path} is missing")
            if wire.sha256_file(path) != entry.sha256:
                raise ValueError(f"verify: {path} does not match the artifact's {rel!r}")
        for path in (p for p in target.rglob("*") if p.is_file()):
            rel = path.relative_to(target).as_posix()
            if rel not in expected and not rel.endswith(".json") and not rel.startswith("media/"):
                raise ValueError(f"verify: {path} is not part of the artifact")

    # -- after logging ---------------------------------------------------------

    def logged_by(self) -> Any:
        """The run that logged this version, read back through `tablelog.Api`; None
        when that is not known (an artifact not logged yet)."""
        if self._logged_by is None or self.project is None:
            return None
        if self._client is not None and self.entity is not None:  # its own server
            from tablelog.apis.client import url_path
            from tablelog.apis.runs import PublicRun

            body = self._client.get_json(
                f"/api/v1/runs/{url_path(self.entity, self.project, self._logged_by)}")
            return PublicRun.from_plain(self.entity, self.project, body, self._client, None)
        from tablelog.apis.public import Api

        return Api().run(f"{self.entity + '/' if self.entity else ''}{self.project}/"
                         f"{self._logged_by}")

    def used_by(self) -> list[Any]:
        """The runs that used this version (`use_artifact`), read from its server."""
        if self._client is None or self.entity is None or self.project is None:
            raise ArtifactStateError(f"artifact {self.name!r}: used_by() reads the server; "
                                     "read the artifact with tablelog.Api().artifact(...)")
        from tablelog.apis.client import url_path
        from tablelog.apis.runs import PublicRun

        body = self._client.get_json(f"/api/v1/artifacts/"
                                     f"{url_path(self.entity, self.project, self.name)}/"
                                     f"{self._version_label()}/used_by")
        return [PublicRun.from_plain(r["entity"], r["project"], r, self._client, None)
                for r in body["runs"]]

    def wait(self, timeout: float | None = None) -> Artifact:
        """Block until the version is committed and numbered: the writer has stored it
        (and, online, the server has it). Returns the artifact, as wandb's."""
        from tablelog.artifacts.lifecycle import wait_for_version

        wait_for_version(self, timeout)
        return self

    def save(self, project: str | None = None, settings: Any = None) -> None:
        """Log the artifact with the active run if it was never logged; after logging,
        store changes to `description`, `metadata`, `aliases`, `tags` and `ttl` (as a
        change of the same version: its content is what makes a version)."""
        from tablelog.artifacts.lifecycle import save

        save(self)

    def delete(self, delete_aliases: bool = False) -> None:
        """Delete this version on the server. A version with aliases (other than
        ``latest``) is refused unless `delete_aliases`; the server refuses versions a
        run's history refers to (its tables, its saved files)."""
        from tablelog.artifacts.lifecycle import delete

        delete(self, delete_aliases=delete_aliases)

    def link(self, target_path: str, aliases: list[str] | None = None) -> None:
        raise NotImplementedError("tablelog has no model registry: Artifact.link is not "
                                  "supported (see docs/compat.md)")

    def __repr__(self) -> str:
        state = self.version or "unlogged"
        return f"<Artifact {self.name}:{state} type={self.type}>"


def _staged_copy(path: Path) -> Path:
    """A private copy of `path` (policy "mutable"), removed once the writer stored it."""
    import shutil
    import tempfile

    staging = Path(tempfile.mkdtemp(prefix="tablelog-staged-"))
    target = staging / path.name
    shutil.copy2(path, target)
    return target
