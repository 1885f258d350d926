"""The metadata store interface: what the handlers need from a database, and
nothing more, so that PostgreSQL can stand in for SQLite later.

Writes arrive as `Change` values (one per batch entry), already validated and
with every user value already msgpack-encoded: the store keeps those bytes
opaquely and hands them back as they came. A store applies each change and
records its idempotency key, with the entry's digest, in the same transaction,
so that a replayed entry is recognised (`duplicate`) and never applied twice,
and a replayed key with other content is a `conflict`, never a duplicate.

Reads return small frozen records. Every method is a coroutine; a store with a
blocking driver runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class RunKey:
    """Where a run lives: entity, project and run id (all valid wire names)."""

    entity: str
    project: str
    run_id: str


@dataclass(frozen=True)
class RunStart:
    """A ``run`` entry: create the run, or resume it (update what is given, keep history).

    `merge`: the run was resumed where its server state was unknown: `config` is
    merged into the stored one (keys kept, new values set) instead of replacing it."""

    run: RunKey
    name: str | None
    config: bytes | None  # msgpack of the config map; None keeps what is stored
    tags: tuple[str, ...] | None
    notes: str | None
    job_type: str | None
    started_at: float | None
    merge: bool = False
    group: str | None = None


@dataclass(frozen=True)
class HistoryAppend:
    """A ``history`` entry: one more row, msgpack of ``{"_step": step, **row}``.

    `segment`: the row was logged by a run resumed where the server's last step was
    unknown; the store shifts every row of that segment by one offset, chosen at its
    first row so that the run's steps never go back."""

    run: RunKey
    step: int
    row: bytes
    segment: str | None = None


@dataclass(frozen=True)
class SummaryReplace:
    """A ``summary`` entry: the whole summary after the update (msgpack); with `merge`
    (a resume whose base was unknown) merged into the stored one instead."""

    run: RunKey
    summary: bytes
    merge: bool = False


@dataclass(frozen=True)
class ConfigReplace:
    """A ``config`` entry: the whole config after the update (msgpack); with `merge`
    (a resume whose base was unknown) merged into the stored one instead."""

    run: RunKey
    config: bytes
    merge: bool = False


@dataclass(frozen=True)
class RunEnd:
    """A ``run_end`` entry: the state it names (finished, failed, crashed, killed,
    preempted), or without one finished (exit code 0) or failed."""

    run: RunKey
    exit_code: int
    ended_at: float
    state: str | None = None


@dataclass(frozen=True)
class RunUpdate:
    """A ``run_update`` entry: what changed after the run began. None keeps what is
    stored; `metrics` (msgpack, every definition) replaces the stored definitions;
    `alert` (msgpack of one alert) is appended to the run's alerts."""

    run: RunKey
    name: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] | None = None
    metrics: bytes | None = None
    alert: bytes | None = None
    used: UsedArtifact | None = None


@dataclass(frozen=True)
class RunEdit:
    """What a reader may change on a stored run (`public Run.update()`); None keeps
    what is stored. `config` and `summary` are msgpack of the whole map."""

    name: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] | None = None
    group: str | None = None
    job_type: str | None = None
    config: bytes | None = None
    summary: bytes | None = None


@dataclass(frozen=True)
class UsedArtifact:
    """A version a run read with `use_artifact`, by its place and content digest."""

    entity: str
    project: str
    name: str
    digest: str


@dataclass(frozen=True)
class ArtifactLog:
    """An ``artifact`` entry: same digest -> the existing version, else the next one.

    `aliases` move to that version (``latest`` is always among them); `entries`
    is msgpack of ``{entry_name: ManifestEntry.to_plain()}``; `blobs` lists every
    blob the version needs (the caller has checked the run's entity holds them all).
    """

    run: RunKey
    name: str
    type: str
    description: str | None
    metadata: bytes
    digest: str
    aliases: tuple[str, ...]
    entries: bytes
    blobs: tuple[str, ...]


@dataclass(frozen=True)
class ArtifactFields:
    """What `Artifact.save()` may change on a logged version; None keeps what is stored.
    `aliases` is the version's whole list (``latest`` is the server's to move: never
    taken off here); `ttl` is seconds, with `set_ttl` telling None (never) from unset."""

    description: str | None = None
    metadata: bytes | None = None
    aliases: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    ttl: float | None = None
    set_ttl: bool = False


@dataclass(frozen=True)
class ArtifactUpdate:
    """An ``artifact_update`` entry: `fields` for the version of `name` with `digest`."""

    run: RunKey
    name: str
    digest: str
    fields: ArtifactFields


Change = (RunStart | HistoryAppend | SummaryReplace | ConfigReplace | RunEnd | RunUpdate
          | ArtifactLog | ArtifactUpdate)


class Outcome(StrEnum):
    """What `MetadataStore.apply` did with one change (the wire statuses it can decide)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    CONFLICT = "conflict"  # the key was applied before with another digest


@dataclass(frozen=True)
class ApplyResult:
    """The store's verdict on one change; `reason` says why it was rejected."""

    outcome: Outcome
    reason: str | None = None


def conflict_reason(queue_id: str, entry_id: int, stored: str, sent: str) -> str:
    """Why a replayed key was refused (shared by the batch planner and the store)."""
    return (f"idempotency key (queue {queue_id}, entry {entry_id}) was applied before with "
            f"other content (stored digest {stored[:12]}, this entry {sent[:12]}): this "
            "entry was NOT stored — a copied queue directory or a restored snapshot reuses "
            "keys; see docs/life/identity-and-resume.md")


@dataclass(frozen=True)
class ProjectRecord:
    """A project and how many runs it holds."""

    entity: str
    name: str
    runs: int


@dataclass(frozen=True)
class RunRecord:
    """A run as stored; `config`, `summary`, `metrics` (define_metric definitions by
    name) and `alerts` (a list, oldest first) are msgpack bytes."""

    entity: str
    project: str
    run_id: str
    name: str | None
    state: str
    config: bytes | None
    summary: bytes | None
    tags: tuple[str, ...]
    notes: str | None
    job_type: str | None
    started_at: float | None
    ended_at: float | None
    exit_code: int | None
    history_rows: int
    metrics: bytes | None = None
    alerts: bytes | None = None
    group: str | None = None
    created: float | None = None  # when the server first heard of the run


@dataclass(frozen=True)
class HistoryPage:
    """Rows ``[offset, offset + len(rows))`` of a run's history (msgpack each) and
    how many rows the run has in all."""

    rows: list[bytes]
    offset: int
    total: int


@dataclass(frozen=True)
class ArtifactRecord:
    """An artifact of a project: its type, how many versions it has, and the runs
    that logged them (for listings such as the viewer's project page)."""

    name: str
    type: str
    versions: int
    run_ids: tuple[str, ...]


@dataclass(frozen=True)
class ArtifactVersionRecord:
    """One version of an artifact; `metadata` and `entries` are msgpack bytes."""

    entity: str
    project: str
    name: str
    type: str
    version: int
    digest: str
    aliases: tuple[str, ...]
    description: str | None
    metadata: bytes
    entries: bytes
    run_id: str
    created: float
    tags: tuple[str, ...] = ()
    ttl: float | None = None

    @property
    def label(self) -> str:
        """The version as users write it: ``v0``, ``v1``, …"""
        return f"v{self.version}"


class MetadataStore(Protocol):
    """Entities, projects, runs, history, artifact versions, applied idempotency keys
    and which entity holds which blob."""

    async def applied_digests(self, entity: str, queue_id: str,
                              ids: Sequence[int]) -> dict[int, str | None]:
        """Which of `ids` (from queue `queue_id`, sent by `entity`'s key) were applied,
        each with the digest recorded for it (None: recorded before digests were)."""
        ...

    async def apply(self, entity: str, queue_id: str, changes: Sequence[tuple[int, Change]],
                    digests: Sequence[str | None] | None = None) -> list[ApplyResult]:
        """Apply changes in order, each with its idempotency key ``(queue_id, id)`` and
        its digest (`digests[i]` for `changes[i]`) recorded atomically with it; one
        result per change. A key found applied meanwhile is a duplicate when its digest
        matches (or either is unknown) and a conflict otherwise. A change that cannot
        be applied is rejected alone; the others still apply."""
        ...

    async def hold_blobs(self, entity: str, shas: Sequence[str]) -> None:
        """Record `entity` as a holder of the blobs `shas` (its key uploaded their
        bytes); holding twice is holding once. Holdings are never withdrawn."""
        ...

    async def held_blobs(self, entity: str, shas: Sequence[str]) -> set[str]:
        """Which of `shas` `entity` holds (see `tablelog_server.blob_scope`)."""
        ...

    async def projects(self, entity: str) -> list[ProjectRecord]:
        """The entity's projects, by name."""
        ...

    async def runs(self, entity: str, project: str) -> list[RunRecord] | None:
        """The project's runs, oldest first; None when there is no such project."""
        ...

    async def edit_run(self, key: RunKey, fields: RunEdit) -> RunRecord | None:
        """`public Run.update()`: set what `fields` gives; None when there is no run."""
        ...

    async def run(self, key: RunKey) -> RunRecord | None:
        """One run, or None."""
        ...

    async def history(self, key: RunKey, offset: int, limit: int,
                      min_step: int | None = None) -> HistoryPage | None:
        """A page of the run's history rows, in the order they were logged; None when
        there is no such run. With `min_step`, the page starts no earlier than the
        first row whose step is at least `min_step` (its `offset` says where)."""
        ...

    async def run_artifact_versions(self, key: RunKey) -> list[ArtifactVersionRecord]:
        """The artifact versions the run logged, oldest first."""
        ...

    async def used_artifact_versions(self, key: RunKey) -> list[ArtifactVersionRecord]:
        """The artifact versions the run used (`use_artifact`), in the order it did."""
        ...

    async def version_users(self, entity: str, project: str, name: str,
                            version: int) -> list[RunRecord]:
        """The runs that used one artifact version."""
        ...

    async def artifact_versions(self, entity: str, project: str,
                                name: str) -> list[ArtifactVersionRecord]:
        """Every version of an artifact, oldest first (empty when there is none)."""
        ...

    async def update_artifact_version(self, entity: str, project: str, name: str, version: int,
                                      fields: ArtifactFields) -> ArtifactVersionRecord | None:
        """Apply `fields` to one version; None when there is no such version."""
        ...

    async def delete_artifact_version(self, entity: str, project: str, name: str,
                                      version: int, *, delete_aliases: bool) -> bool:
        """Delete one version (False: none); `EntryRejectedError` when it may not go."""
        ...

    async def artifact_version(self, entity: str, project: str, name: str,
                               ref: str | int) -> ArtifactVersionRecord | None:
        """One version, by alias (str) or version number (int); None when unknown."""
        ...

    async def artifacts(self, entity: str, project: str) -> list[ArtifactRecord]:
        """The project's artifacts, by name (empty when there are none or no project)."""
        ...

    async def close(self) -> None:
        """Release connections and threads; no call may follow."""
        ...
