"""`SqliteMetadataStore`: the `MetadataStore` on one SQLite file (``metadata.db``).

sqlite3 blocks, so every call runs on a thread: writes on one writer thread
(SQLite has one writer anyway, and one thread keeps `BEGIN IMMEDIATE` from
ever waiting on ourselves), reads on a few reader threads with their own
connections (WAL lets them read while a batch commits).

A batch is one transaction; each change inside it sits in a SAVEPOINT, so a
change that turns out to be invalid (e.g. an artifact logged again with another
type) is rolled back and rejected alone while its neighbours commit.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgpack

from tablelog import wire
from tablelog_server.errors import EntryRejectedError
from tablelog_server.metadata import (
    ApplyResult,
    ArtifactFields,
    ArtifactLog,
    ArtifactRecord,
    ArtifactUpdate,
    ArtifactVersionRecord,
    Change,
    ConfigReplace,
    HistoryAppend,
    HistoryPage,
    Outcome,
    ProjectRecord,
    RunEdit,
    RunEnd,
    RunKey,
    RunRecord,
    RunStart,
    RunUpdate,
    SummaryReplace,
    conflict_reason,
)
from tablelog_server.sqlite_schema import connect, migrate, transaction

T = TypeVar("T")
MAX_ALERTS = 1000  # alerts kept per run, the most recent

_RUN_COLUMNS = ("e.name, p.name, r.run_id, r.name, r.state, r.config, r.summary, r.tags, "
                "r.notes, r.job_type, r.started_at, r.ended_at, r.exit_code, r.history_rows, "
                "r.metrics, r.alerts, r.run_group, r.created")
_RUN_FROM = ("runs r JOIN projects p ON p.id = r.project_id "
             "JOIN entities e ON e.id = p.entity_id")
_VERSION_COLUMNS = ("e.name, p.name, a.name, a.type, v.version, v.digest, v.description, "
                    "v.metadata, v.entries, v.run_id, v.created, v.id, v.tags, v.ttl")
_VERSION_FROM = ("artifact_versions v JOIN artifacts a ON a.id = v.artifact_id "
                 "JOIN projects p ON p.id = a.project_id JOIN entities e ON e.id = p.entity_id")


def _run_record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(entity=row[0], project=row[1], run_id=row[2], name=row[3], state=row[4],
                     config=row[5], summary=row[6], tags=tuple(json.loads(row[7])),
                     notes=row[8], job_type=row[9], started_at=row[10], ended_at=row[11],
                     exit_code=row[12], history_rows=row[13], metrics=row[14],
                     alerts=row[15], group=row[16], created=row[17])


class SqliteMetadataStore:
    """Metadata in ``<data_dir>/metadata.db``. Open with `open()`, end with `close()`."""

    def __init__(self, path: Path, *, readers: int = 4) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="tablelog-db-write")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="tablelog-db-read")

    @classmethod
    async def open(cls, path: Path) -> SqliteMetadataStore:
        """Open (creating or migrating) the database at `path`."""
        store = cls(path)
        try:
            await store._write(migrate)
        except BaseException:
            await store.close()
            raise
        return store

    # -- threads and connections --------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, lambda: fn(self._conn()))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            conn = self._conn()
            with transaction(conn, write=False):
                return fn(conn)

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, run)

    async def close(self) -> None:
        """Wait for running calls, then close every connection."""
        def shutdown() -> None:
            self._writer.shutdown(wait=True)
            self._readers.shutdown(wait=True)
            with self._connections_lock:
                for conn in self._connections:
                    conn.close()
                self._connections.clear()

        await asyncio.to_thread(shutdown)

    # -- writes ----------------------------------------------------------------------

    async def applied_digests(self, entity: str, queue_id: str,
                              ids: Sequence[int]) -> dict[int, str | None]:
        """Which of `ids` were applied under `(entity, queue_id)`, with their digests."""
        def query(conn: sqlite3.Connection) -> dict[int, str | None]:
            return _applied_in(conn, entity, queue_id, ids)

        return await self._read(query)

    async def apply(self, entity: str, queue_id: str, changes: Sequence[tuple[int, Change]],
                    digests: Sequence[str | None] | None = None) -> list[ApplyResult]:
        """Apply `changes` in one transaction, each in its own savepoint."""
        if not changes:
            return []
        sums: list[str | None] = list(digests or [None] * len(changes))
        return await self._write(
            lambda conn: self._apply_sync(conn, entity, queue_id, changes, sums))

    def _apply_sync(self, conn: sqlite3.Connection, entity: str, queue_id: str,
                    changes: Sequence[tuple[int, Change]], digests: list[str | None]
                    ) -> list[ApplyResult]:
        results: list[ApplyResult] = []
        now = time.time()
        with transaction(conn):
            # Inside the write transaction: a concurrent request may have applied some.
            done = _applied_in(conn, entity, queue_id, [i for i, _ in changes])
            batch = _BatchState(conn, now)
            applied: list[tuple[int, str | None]] = []
            for (entry_id, change), digest in zip(changes, digests, strict=True):
                if entry_id in done:
                    before = done[entry_id]
                    if before is None or digest is None or before == digest:
                        results.append(ApplyResult(Outcome.DUPLICATE))
                    else:
                        results.append(ApplyResult(Outcome.CONFLICT, conflict_reason(
                            queue_id, entry_id, before, digest)))
                    continue
                done[entry_id] = digest
                if not isinstance(change, ArtifactLog):
                    # These are rejected here (a resumed segment shifted past the largest
                    # step) only before they write anything: no savepoint needed.
                    try:
                        batch.apply(change)
                    except EntryRejectedError as exc:
                        results.append(ApplyResult(Outcome.REJECTED, str(exc)))
                        continue
                    applied.append((entry_id, digest))
                    results.append(ApplyResult(Outcome.APPLIED))
                    continue
                batch.run(change.run)  # outside the savepoint: the run stays if this fails
                conn.execute("SAVEPOINT entry")
                try:
                    batch.apply(change)
                except (EntryRejectedError, OverflowError) as exc:
                    conn.execute("ROLLBACK TO entry")
                    conn.execute("RELEASE entry")
                    results.append(ApplyResult(Outcome.REJECTED, str(exc)))
                else:
                    conn.execute("RELEASE entry")
                    applied.append((entry_id, digest))
                    results.append(ApplyResult(Outcome.APPLIED))
            batch.finish()
            conn.executemany("INSERT INTO applied_keys (entity, queue_id, entry_id, applied_at,"
                             " digest) VALUES (?, ?, ?, ?, ?)",
                             [(entity, queue_id, i, now, d) for i, d in applied])
        return results

    async def hold_blobs(self, entity: str, shas: Sequence[str]) -> None:
        """Record `entity` as a holder of `shas` (after their bytes were verified)."""
        def write(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.executemany("INSERT OR IGNORE INTO blob_holders (entity, sha256) "
                                 "VALUES (?, ?)", [(entity, s) for s in shas])

        if shas:
            await self._write(write)

    # -- reads -----------------------------------------------------------------------

    async def held_blobs(self, entity: str, shas: Sequence[str]) -> set[str]:
        """Which of `shas` `entity` holds."""
        def query(conn: sqlite3.Connection) -> set[str]:
            held: set[str] = set()
            unique = list(dict.fromkeys(shas))
            for start in range(0, len(unique), 500):  # stay under SQLite's variable limit
                part = unique[start:start + 500]
                held.update(r[0] for r in conn.execute(
                    "SELECT sha256 FROM blob_holders WHERE entity = ? AND sha256 IN "
                    f"({','.join('?' * len(part))})", (entity, *part)))
            return held

        return await self._read(query) if shas else set()

    async def projects(self, entity: str) -> list[ProjectRecord]:
        """The entity's projects with their run counts, by name."""
        def query(conn: sqlite3.Connection) -> list[ProjectRecord]:
            return [ProjectRecord(entity, name, runs) for name, runs in conn.execute(
                "SELECT p.name, (SELECT count(*) FROM runs r WHERE r.project_id = p.id) "
                "FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = ? "
                "ORDER BY p.name", (entity,))]

        return await self._read(query)

    async def runs(self, entity: str, project: str) -> list[RunRecord] | None:
        """The project's runs, oldest first; None when the project does not exist."""
        def query(conn: sqlite3.Connection) -> list[RunRecord] | None:
            if _project_id(conn, entity, project, create=False) is None:
                return None
            return [_run_record(r) for r in conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE e.name = ? AND p.name = ? "
                "ORDER BY r.created, r.id", (entity, project))]

        return await self._read(query)

    async def edit_run(self, key: RunKey, fields: RunEdit) -> RunRecord | None:
        """Set what `fields` gives on the run; None when there is no such run."""
        def write(conn: sqlite3.Connection) -> RunRecord | None:
            with transaction(conn):
                found = conn.execute(
                    f"SELECT r.id FROM {_RUN_FROM} "
                    "WHERE e.name = ? AND p.name = ? AND r.run_id = ?",
                    (key.entity, key.project, key.run_id)).fetchone()
                if found is None:
                    return None
                tags = None if fields.tags is None else json.dumps(list(fields.tags))
                conn.execute(
                    "UPDATE runs SET name = coalesce(?, name), notes = coalesce(?, notes), "
                    "tags = coalesce(?, tags), run_group = coalesce(?, run_group), "
                    "job_type = coalesce(?, job_type), config = coalesce(?, config), "
                    "summary = coalesce(?, summary), updated = ? WHERE id = ?",
                    (fields.name, fields.notes, tags, fields.group, fields.job_type,
                     fields.config, fields.summary, time.time(), found[0]))
                row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} WHERE r.id = ?",
                                   (found[0],)).fetchone()
                return _run_record(row)

        return await self._write(write)

    async def run(self, key: RunKey) -> RunRecord | None:
        """One run, or None."""
        def query(conn: sqlite3.Connection) -> RunRecord | None:
            row = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} "
                "WHERE e.name = ? AND p.name = ? AND r.run_id = ?",
                (key.entity, key.project, key.run_id)).fetchone()
            return None if row is None else _run_record(row)

        return await self._read(query)

    async def history(self, key: RunKey, offset: int, limit: int,
                      min_step: int | None = None) -> HistoryPage | None:
        """Rows with ``offset <= seq < offset + limit``; None when there is no such run.
        With `min_step`, `offset` is first raised to the first row at or past it."""
        def query(conn: sqlite3.Connection) -> HistoryPage | None:
            found = conn.execute(
                f"SELECT r.id, r.history_rows FROM {_RUN_FROM} "
                "WHERE e.name = ? AND p.name = ? AND r.run_id = ?",
                (key.entity, key.project, key.run_id)).fetchone()
            if found is None:
                return None
            run_pk, total = found
            nonlocal offset
            if min_step is not None and offset < total:
                (first,) = conn.execute("SELECT min(seq) FROM history WHERE run = ? AND step >= ?",
                                        (run_pk, min_step)).fetchone()
                offset = total if first is None else max(offset, int(first))
            if offset >= total:  # also keeps offset + limit within SQLite's 64-bit integers
                return HistoryPage(rows=[], offset=offset, total=total)
            rows = [r[0] for r in conn.execute(
                "SELECT row FROM history WHERE run = ? AND seq >= ? AND seq < ? ORDER BY seq",
                (run_pk, offset, min(offset + limit, total)))]
            return HistoryPage(rows=rows, offset=offset, total=total)

        return await self._read(query)

    async def run_artifact_versions(self, key: RunKey) -> list[ArtifactVersionRecord]:
        """The artifact versions the run logged, oldest first."""
        def query(conn: sqlite3.Connection) -> list[ArtifactVersionRecord]:
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} "
                "WHERE e.name = ? AND p.name = ? AND v.run_id = ? ORDER BY v.created, v.id",
                (key.entity, key.project, key.run_id)).fetchall()
            return [_version_record(conn, r) for r in rows]

        return await self._read(query)

    async def used_artifact_versions(self, key: RunKey) -> list[ArtifactVersionRecord]:
        """The artifact versions the run used, in the order it did."""
        def query(conn: sqlite3.Connection) -> list[ArtifactVersionRecord]:
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} "
                "JOIN artifact_uses u ON u.version_id = v.id JOIN runs r ON r.id = u.run "
                "JOIN projects rp ON rp.id = r.project_id "
                "JOIN entities re ON re.id = rp.entity_id "
                "WHERE re.name = ? AND rp.name = ? AND r.run_id = ? ORDER BY u.rowid",
                (key.entity, key.project, key.run_id)).fetchall()
            return [_version_record(conn, r) for r in rows]

        return await self._read(query)

    async def version_users(self, entity: str, project: str, name: str,
                            version: int) -> list[RunRecord]:
        """The runs that used one artifact version, oldest first."""
        def query(conn: sqlite3.Connection) -> list[RunRecord]:
            row = _version_row(conn, entity, project, name, version)
            if row is None:
                return []
            return [_run_record(r) for r in conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM {_RUN_FROM} JOIN artifact_uses u ON u.run = r.id "
                "WHERE u.version_id = ? ORDER BY r.created, r.id", (row[1],))]

        return await self._read(query)

    async def artifact_versions(self, entity: str, project: str,
                                name: str) -> list[ArtifactVersionRecord]:
        """Every version of the artifact, oldest first."""
        def query(conn: sqlite3.Connection) -> list[ArtifactVersionRecord]:
            rows = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} "
                "WHERE e.name = ? AND p.name = ? AND a.name = ? ORDER BY v.version",
                (entity, project, name)).fetchall()
            return [_version_record(conn, r) for r in rows]

        return await self._read(query)

    async def artifact_version(self, entity: str, project: str, name: str,
                               ref: str | int) -> ArtifactVersionRecord | None:
        """One version by alias (str) or number (int)."""
        def query(conn: sqlite3.Connection) -> ArtifactVersionRecord | None:
            where = "e.name = ? AND p.name = ? AND a.name = ?"
            if isinstance(ref, int):
                sql = f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} WHERE {where} " \
                      "AND v.version = ?"
            else:
                sql = (f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} "
                       "JOIN artifact_aliases al ON al.version_id = v.id "
                       f"WHERE {where} AND al.alias = ?")
            row = conn.execute(sql, (entity, project, name, ref)).fetchone()
            return None if row is None else _version_record(conn, row)

        return await self._read(query)

    async def update_artifact_version(self, entity: str, project: str, name: str, version: int,
                                      fields: ArtifactFields) -> ArtifactVersionRecord | None:
        """Apply `fields` to version `version` of the artifact; None if there is none."""
        def write(conn: sqlite3.Connection) -> ArtifactVersionRecord | None:
            with transaction(conn):
                row = _version_row(conn, entity, project, name, version)
                if row is None:
                    return None
                set_artifact_fields(conn, row[0], row[1], fields)
                found = conn.execute(f"SELECT {_VERSION_COLUMNS} FROM {_VERSION_FROM} "
                                     "WHERE v.id = ?", (row[1],)).fetchone()
                return _version_record(conn, found)

        return await self._write(write)

    async def delete_artifact_version(self, entity: str, project: str, name: str,
                                      version: int, *, delete_aliases: bool) -> bool:
        """Delete one version; False if there is none. `EntryRejectedError` says why a
        version may not go: a run's own (its history or saved files refer to it), or
        one with aliases besides ``latest`` unless `delete_aliases`. ``latest`` moves to
        the newest version left. Blobs stay: other versions may share them."""
        def write(conn: sqlite3.Connection) -> bool:
            with transaction(conn):
                row = _version_row(conn, entity, project, name, version)
                if row is None:
                    return False
                artifact_id, version_id, type_ = row
                if type_ in RUN_OWNED_TYPES:
                    raise EntryRejectedError(
                        f"artifact {name!r} is of type {type_!r}: its versions belong to a "
                        "run's history (tables, saved files) and are not deleted")
                aliases = [r[0] for r in conn.execute(
                    "SELECT alias FROM artifact_aliases WHERE version_id = ? AND alias != "
                    "'latest' ORDER BY alias", (version_id,))]
                if aliases and not delete_aliases:
                    raise EntryRejectedError(
                        f"version v{version} of {name!r} has aliases {aliases}: delete them "
                        "too with delete(delete_aliases=True)")
                was_latest = conn.execute(
                    "SELECT 1 FROM artifact_aliases WHERE version_id = ? AND alias = 'latest'",
                    (version_id,)).fetchone() is not None
                conn.execute("DELETE FROM artifact_aliases WHERE version_id = ?", (version_id,))
                conn.execute("DELETE FROM artifact_uses WHERE version_id = ?", (version_id,))
                conn.execute("DELETE FROM artifact_versions WHERE id = ?", (version_id,))
                if was_latest:
                    newest = conn.execute(
                        "SELECT id FROM artifact_versions WHERE artifact_id = ? "
                        "ORDER BY version DESC LIMIT 1", (artifact_id,)).fetchone()
                    if newest is not None:
                        conn.execute("INSERT INTO artifact_aliases (artifact_id, alias, "
                                     "version_id) VALUES (?, 'latest', ?)",
                                     (artifact_id, newest[0]))
                return True

        return await self._write(write)

    async def artifacts(self, entity: str, project: str) -> list[ArtifactRecord]:
        """The project's artifacts with their version counts and logging runs, by name."""
        def query(conn: sqlite3.Connection) -> list[ArtifactRecord]:
            # Run ids are wire names (no commas), so GROUP_CONCAT's list splits safely.
            rows = conn.execute(
                "SELECT a.name, a.type, count(v.id), group_concat(DISTINCT v.run_id) "
                "FROM artifacts a JOIN projects p ON p.id = a.project_id "
                "JOIN entities e ON e.id = p.entity_id "
                "LEFT JOIN artifact_versions v ON v.artifact_id = a.id "
                "WHERE e.name = ? AND p.name = ? GROUP BY a.id ORDER BY a.name",
                (entity, project)).fetchall()
            return [ArtifactRecord(name, type_, count,
                                   tuple(sorted(run_ids.split(","))) if run_ids else ())
                    for name, type_, count, run_ids in rows]

        return await self._read(query)


def _version_record(conn: sqlite3.Connection, row: Sequence[Any]) -> ArtifactVersionRecord:
    aliases = tuple(r[0] for r in conn.execute(
        "SELECT alias FROM artifact_aliases WHERE version_id = ? ORDER BY alias", (row[11],)))
    return ArtifactVersionRecord(
        entity=row[0], project=row[1], name=row[2], type=row[3], version=row[4],
        digest=row[5], aliases=aliases, description=row[6], metadata=row[7], entries=row[8],
        run_id=row[9], created=row[10], tags=tuple(json.loads(row[12] or "[]")), ttl=row[13])


# -- applying one change (inside the batch transaction) ----------------------------------


def _entity_id(conn: sqlite3.Connection, name: str, *, create: bool) -> int | None:
    row = conn.execute("SELECT id FROM entities WHERE name = ?", (name,)).fetchone()
    if row is not None or not create:
        return None if row is None else int(row[0])
    cur = conn.execute("INSERT INTO entities (name, created) VALUES (?, ?)", (name, time.time()))
    return int(cur.lastrowid)  # type: ignore[arg-type]


def _project_id(conn: sqlite3.Connection, entity: str, project: str, *,
                create: bool) -> int | None:
    entity_id = _entity_id(conn, entity, create=create)
    if entity_id is None:
        return None
    row = conn.execute("SELECT id FROM projects WHERE entity_id = ? AND name = ?",
                       (entity_id, project)).fetchone()
    if row is not None or not create:
        return None if row is None else int(row[0])
    cur = conn.execute("INSERT INTO projects (entity_id, name, created) VALUES (?, ?, ?)",
                       (entity_id, project, time.time()))
    return int(cur.lastrowid)  # type: ignore[arg-type]


def _ensure_run(conn: sqlite3.Connection, key: RunKey, now: float) -> tuple[int, int]:
    """The run's row id and project id, creating entity, project and run as needed
    (an entry may reach us before its run's ``run`` entry, e.g. if that one was
    dead-lettered)."""
    project_id = _project_id(conn, key.entity, key.project, create=True)
    assert project_id is not None
    row = conn.execute("SELECT id FROM runs WHERE project_id = ? AND run_id = ?",
                       (project_id, key.run_id)).fetchone()
    if row is not None:
        return int(row[0]), project_id
    cur = conn.execute(
        "INSERT INTO runs (project_id, run_id, state, started_at, created, updated) "
        "VALUES (?, ?, 'running', ?, ?, ?)", (project_id, key.run_id, now, now, now))
    return int(cur.lastrowid), project_id  # type: ignore[arg-type]


def _applied_in(conn: sqlite3.Connection, entity: str, queue_id: str,
                ids: Sequence[int]) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):  # stay under SQLite's variable limit
        part = unique[start:start + 500]
        marks = ",".join("?" * len(part))
        found.update((r[0], r[1]) for r in conn.execute(
            f"SELECT entry_id, digest FROM applied_keys WHERE entity = ? AND queue_id = ? "
            f"AND entry_id IN ({marks})", (entity, queue_id, *part)))
    return found


class _BatchState:
    """Applies one batch's changes, remembering run ids and history positions
    across its entries so that a history row costs one INSERT."""

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        self.conn = conn
        self.now = now
        self._runs: dict[RunKey, tuple[int, int]] = {}
        self._next_seq: dict[int, int] = {}  # run pk -> next history seq (written at finish)

    def run(self, key: RunKey) -> tuple[int, int]:
        found = self._runs.get(key)
        if found is None:
            found = self._runs[key] = _ensure_run(self.conn, key, self.now)
        return found

    def apply(self, change: Change) -> None:
        conn, now = self.conn, self.now
        run_pk, project_id = self.run(change.run)
        if isinstance(change, HistoryAppend):
            seq = self._next_seq.get(run_pk)
            if seq is None:
                (seq,) = conn.execute("SELECT history_rows FROM runs WHERE id = ?",
                                      (run_pk,)).fetchone()
            step, row = change.step, change.row
            if change.segment is not None:
                step += self._segment_offset(run_pk, change.segment, step)
                if step != change.step:
                    row = _with_step(row, step)
            conn.execute("INSERT INTO history (run, seq, step, row) VALUES (?, ?, ?, ?)",
                         (run_pk, seq, step, row))
            self._next_seq[run_pk] = seq + 1
        elif isinstance(change, RunStart):
            tags = None if change.tags is None else json.dumps(list(change.tags))
            config = change.config
            if change.merge and config is not None:
                config = self._merged(run_pk, "config", config)
            conn.execute(
                "UPDATE runs SET name = coalesce(?, name), config = coalesce(?, config), "
                "tags = coalesce(?, tags), notes = coalesce(?, notes), "
                "job_type = coalesce(?, job_type), started_at = coalesce(?, started_at), "
                "run_group = coalesce(?, run_group), state = 'running', ended_at = NULL, "
                "exit_code = NULL, updated = ? WHERE id = ?",
                (change.name, config, tags, change.notes, change.job_type,
                 change.started_at, change.group, now, run_pk))
        elif isinstance(change, SummaryReplace):
            summary = (self._merged(run_pk, "summary", change.summary) if change.merge
                       else change.summary)
            conn.execute("UPDATE runs SET summary = ?, updated = ? WHERE id = ?",
                         (summary, now, run_pk))
        elif isinstance(change, ConfigReplace):
            config = (self._merged(run_pk, "config", change.config) if change.merge
                      else change.config)
            conn.execute("UPDATE runs SET config = ?, updated = ? WHERE id = ?",
                         (config, now, run_pk))
        elif isinstance(change, RunUpdate):
            self._update_run(run_pk, change)
        elif isinstance(change, RunEnd):
            conn.execute(
                "UPDATE runs SET state = ?, exit_code = ?, ended_at = ?, updated = ? "
                "WHERE id = ?", (change.state or wire.run_end_state(change.exit_code),
                                 change.exit_code, change.ended_at, now, run_pk))
        elif isinstance(change, ArtifactUpdate):
            found = conn.execute(
                "SELECT v.artifact_id, v.id FROM artifact_versions v JOIN artifacts a "
                "ON a.id = v.artifact_id WHERE a.project_id = ? AND a.name = ? AND v.digest = ?",
                (project_id, change.name, change.digest)).fetchone()
            if found is None:
                raise EntryRejectedError(f"no version of artifact {change.name!r} with digest "
                                         f"{change.digest[:12]}... to update")
            set_artifact_fields(conn, found[0], found[1], change.fields)
        else:
            _log_artifact(conn, change, project_id, now)

    def _update_run(self, run_pk: int, change: RunUpdate) -> None:
        """A ``run_update``: set what it gives; an alert joins the run's list (the
        last `MAX_ALERTS` are kept)."""
        tags = None if change.tags is None else json.dumps(list(change.tags))
        alerts = None
        if change.alert is not None:
            (old,) = self.conn.execute("SELECT alerts FROM runs WHERE id = ?",
                                       (run_pk,)).fetchone()
            listed = msgpack.unpackb(old, raw=False) if old is not None else []
            listed = [*listed, msgpack.unpackb(change.alert, raw=False)][-MAX_ALERTS:]
            alerts = msgpack.packb(listed, use_bin_type=True)
        self.conn.execute(
            "UPDATE runs SET name = coalesce(?, name), notes = coalesce(?, notes), "
            "tags = coalesce(?, tags), metrics = coalesce(?, metrics), "
            "alerts = coalesce(?, alerts), updated = ? WHERE id = ?",
            (change.name, change.notes, tags, change.metrics, alerts, self.now, run_pk))
        used = change.used
        if used is not None and used.entity == change.run.entity:  # never another's
            found = self.conn.execute(
                f"SELECT v.id FROM {_VERSION_FROM} WHERE e.name = ? AND p.name = ? "
                "AND a.name = ? AND v.digest = ?",
                (used.entity, used.project, used.name, used.digest)).fetchone()
            if found is not None:  # a version the server never had: nothing to link
                self.conn.execute("INSERT OR IGNORE INTO artifact_uses (run, version_id) "
                                  "VALUES (?, ?)", (run_pk, found[0]))

    def _segment_offset(self, run_pk: int, segment: str, step: int) -> int:
        """How far the rows of a resumed segment (see `HistoryAppend`) are shifted:
        fixed at its first row so that the row lands after the run's last stored step
        (0 when it does already), then the same for every row of the segment.
        `EntryRejectedError`, before anything is written, for a row shifted past the
        largest step."""
        found = self.conn.execute("SELECT step_offset FROM run_segments WHERE run = ? AND "
                                  "segment = ?", (run_pk, segment)).fetchone()
        if found is not None:
            offset = int(found[0])
        else:
            last = self.conn.execute("SELECT step FROM history WHERE run = ? ORDER BY seq "
                                     "DESC LIMIT 1", (run_pk,)).fetchone()
            offset = 0 if last is None else max(0, int(last[0]) + 1 - step)
        if step + offset > wire.MAX_STEP:
            raise EntryRejectedError(
                f"history step {step} of resumed segment {segment!r} would be shifted by "
                f"{offset}, past the largest step, 2**63 - 1")
        if found is None:
            self.conn.execute("INSERT INTO run_segments (run, segment, step_offset) "
                              "VALUES (?, ?, ?)", (run_pk, segment, offset))
        return offset

    def _merged(self, run_pk: int, column: str, new: bytes) -> bytes:
        """The stored map in `column` ("config" or "summary") updated with `new`'s keys:
        a resume whose base was unknown never drops a key the server has."""
        (old,) = self.conn.execute(f"SELECT {column} FROM runs WHERE id = ?",
                                   (run_pk,)).fetchone()
        if old is None:
            return new
        merged = _plain_map(old)
        merged.update(_plain_map(new))
        return msgpack.packb(merged, use_bin_type=True)  # type: ignore[no-any-return]

    def finish(self) -> None:
        """Write back the history counters of the runs this batch appended to."""
        self.conn.executemany("UPDATE runs SET history_rows = ?, updated = ? WHERE id = ?",
                              [(seq, self.now, pk) for pk, seq in self._next_seq.items()])


def _plain_map(data: bytes) -> dict[Any, Any]:
    """A stored msgpack map, decoded without turning our ext types into objects (they
    stay msgpack.ExtType and re-encode to the same bytes)."""
    value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    return value if isinstance(value, dict) else {}


def _with_step(row: bytes, step: int) -> bytes:
    """A history row's bytes with its ``_step`` set to `step`."""
    plain = _plain_map(row)
    plain["_step"] = step
    return msgpack.packb(plain, use_bin_type=True)  # type: ignore[no-any-return]


RUN_OWNED_TYPES = ("run_table", "run_files", "wandb-run-incremental-table")


def _version_row(conn: sqlite3.Connection, entity: str, project: str, name: str,
                 version: int) -> tuple[int, int, str] | None:
    row = conn.execute(
        "SELECT a.id, v.id, a.type FROM artifact_versions v JOIN artifacts a "
        "ON a.id = v.artifact_id JOIN projects p ON p.id = a.project_id "
        "JOIN entities e ON e.id = p.entity_id "
        "WHERE e.name = ? AND p.name = ? AND a.name = ? AND v.version = ?",
        (entity, project, name, version)).fetchone()
    return None if row is None else (int(row[0]), int(row[1]), str(row[2]))


def set_artifact_fields(conn: sqlite3.Connection, artifact_id: int, version_id: int,
                        fields: ArtifactFields) -> None:
    """Apply `Artifact.save()`'s changes to one version (inside a transaction)."""
    sets: list[str] = []
    values: list[Any] = []
    for column, value in (("description", fields.description), ("metadata", fields.metadata),
                          ("tags", None if fields.tags is None else json.dumps(fields.tags))):
        if value is not None:
            sets.append(f"{column} = ?")
            values.append(value)
    if fields.set_ttl:
        sets.append("ttl = ?")
        values.append(fields.ttl)
    if sets:
        conn.execute(f"UPDATE artifact_versions SET {', '.join(sets)} WHERE id = ?",
                     (*values, version_id))
    if fields.aliases is not None:
        wanted = set(fields.aliases) - {"latest"}
        conn.execute("DELETE FROM artifact_aliases WHERE version_id = ? AND alias != 'latest'",
                     (version_id,))
        for alias in sorted(wanted):  # an alias names one version: it moves here
            conn.execute("INSERT OR REPLACE INTO artifact_aliases (artifact_id, alias, "
                         "version_id) VALUES (?, ?, ?)", (artifact_id, alias, version_id))


def _log_artifact(conn: sqlite3.Connection, change: ArtifactLog, project_id: int,
                  now: float) -> None:
    row = conn.execute("SELECT id, type FROM artifacts WHERE project_id = ? AND name = ?",
                       (project_id, change.name)).fetchone()
    if row is None:
        artifact_id = conn.execute(
            "INSERT INTO artifacts (project_id, name, type, created) VALUES (?, ?, ?, ?)",
            (project_id, change.name, change.type, now)).lastrowid
    elif row[1] != change.type:
        raise EntryRejectedError(f"artifact {change.name!r} has type {row[1]!r}; "
                                 f"cannot log a version of type {change.type!r}")
    else:
        artifact_id = row[0]
    found = conn.execute("SELECT id FROM artifact_versions WHERE artifact_id = ? AND digest = ?",
                         (artifact_id, change.digest)).fetchone()
    if found is not None:
        version_id = found[0]  # same content: the same version, whatever run logs it
    else:
        (version,) = conn.execute(
            "SELECT coalesce(max(version) + 1, 0) FROM artifact_versions WHERE artifact_id = ?",
            (artifact_id,)).fetchone()
        version_id = conn.execute(
            "INSERT INTO artifact_versions (artifact_id, version, digest, description, "
            "metadata, entries, run_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (artifact_id, version, change.digest, change.description, change.metadata,
             change.entries, change.run.run_id, now)).lastrowid
    for alias in change.aliases:
        conn.execute("INSERT OR REPLACE INTO artifact_aliases (artifact_id, alias, version_id) "
                     "VALUES (?, ?, ?)", (artifact_id, alias, version_id))
