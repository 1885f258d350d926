"""Everything about the server's SQLite database that is not a query: the one
connect function, the schema as constants, migrations by ``PRAGMA user_version``
and the `transaction()` helper.

Durability: WAL with ``synchronous=FULL``. The server answers ``applied`` only
after the batch's transaction has committed, so an acknowledged entry survives
a crash or power loss; a batch is one transaction, so the fsync is paid once
per batch rather than once per entry.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator

import msgpack

from tablelog import wire
from tablelog_server.blob_scope import media_addresses
from tablelog_server.errors import SchemaVersionError, StorageError

SCHEMA_VERSION = 5
BUSY_TIMEOUT_MS = 30_000

# Names are unique per parent; `runs.history_rows` is the next history `seq`, so a
# page of history is a range scan on the primary key rather than an OFFSET scan.
SCHEMA_V1 = """
CREATE TABLE entities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    entity_id INTEGER NOT NULL REFERENCES entities(id),
    name TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (entity_id, name)
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    run_id TEXT NOT NULL,
    name TEXT,
    state TEXT NOT NULL,
    config BLOB,
    summary BLOB,
    tags TEXT NOT NULL DEFAULT '[]',
    notes TEXT,
    job_type TEXT,
    started_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    history_rows INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    UNIQUE (project_id, run_id)
);
CREATE TABLE history (
    run INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    step INTEGER NOT NULL,
    row BLOB NOT NULL,
    PRIMARY KEY (run, seq)
);
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (project_id, name)
);
CREATE TABLE artifact_versions (
    id INTEGER PRIMARY KEY,
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    description TEXT,
    metadata BLOB NOT NULL,
    entries BLOB NOT NULL,
    run_id TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (artifact_id, version),
    UNIQUE (artifact_id, digest)
);
CREATE TABLE artifact_aliases (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    alias TEXT NOT NULL,
    version_id INTEGER NOT NULL REFERENCES artifact_versions(id),
    PRIMARY KEY (artifact_id, alias)
);
CREATE INDEX artifact_aliases_version ON artifact_aliases(version_id);
-- Scoped by the sending key's entity, so one entity cannot pre-empt another's keys.
CREATE TABLE applied_keys (
    entity TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    applied_at REAL NOT NULL,
    PRIMARY KEY (entity, queue_id, entry_id)
) WITHOUT ROWID;
"""

# Version 2: the digest of each applied entry, so that a replayed key with other
# content is a conflict (NULL for keys applied before: taken as matching), and the
# step offsets of runs resumed where their server state was unknown.
SCHEMA_V2 = """
ALTER TABLE applied_keys ADD COLUMN digest TEXT;
CREATE TABLE run_segments (
    run INTEGER NOT NULL REFERENCES runs(id),
    segment TEXT NOT NULL,
    step_offset INTEGER NOT NULL,
    PRIMARY KEY (run, segment)
) WITHOUT ROWID;
"""

# Version 3: which entity holds which blob (`tablelog_server.blob_scope`): the bytes
# are stored once per hash, but an entity reads only the blobs it holds. Keyed by
# the entity's name, as applied_keys is: an entity uploads before it has any run.
SCHEMA_V3 = """
CREATE TABLE blob_holders (
    entity TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (entity, sha256)
) WITHOUT ROWID;
"""

# Version 4: what a run changes after it began (``run_update`` entries): its
# define_metric definitions and its alerts (msgpack, see `metadata.RunRecord`).
SCHEMA_V4 = """
ALTER TABLE runs ADD COLUMN metrics BLOB;
ALTER TABLE runs ADD COLUMN alerts BLOB;
"""

# Version 5: the run's group (``init(group=...)``), which the viewer and the runs
# filters use ("group" is an SQL keyword, hence the column's name); an index for
# the artifact versions a run logged (`Api().run(...).logged_artifacts()`); an
# artifact version's tags (JSON list) and ttl (seconds; recorded, not enforced);
# which runs used which versions (`use_artifact`: used_artifacts(), used_by()).
SCHEMA_V5 = """
ALTER TABLE runs ADD COLUMN run_group TEXT;
CREATE INDEX artifact_versions_run ON artifact_versions(run_id);
ALTER TABLE artifact_versions ADD COLUMN tags TEXT;
ALTER TABLE artifact_versions ADD COLUMN ttl REAL;
CREATE TABLE artifact_uses (
    run INTEGER NOT NULL REFERENCES runs(id),
    version_id INTEGER NOT NULL REFERENCES artifact_versions(id),
    PRIMARY KEY (run, version_id)
);
CREATE INDEX artifact_uses_version ON artifact_uses(version_id);
"""

MIGRATIONS: dict[int, str] = {1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA_V3, 4: SCHEMA_V4,
                              5: SCHEMA_V5}
"""Script that brings the schema from version N-1 to N."""

_BACKFILL_ROWS = 10_000  # holdings inserted at a time, so memory stays flat

_ENTITY_OF_RUN = ("JOIN projects p ON p.id = r.project_id "
                  "JOIN entities e ON e.id = p.entity_id")


def _entry_blobs(entries: bytes) -> list[str]:
    """Every blob address in an artifact version's stored entries (its own blob and
    the ones it needs: chunks, media in cells)."""
    try:
        plain = msgpack.unpackb(entries, raw=False, strict_map_key=False,
                                ext_hook=lambda _code, _data: None)
    except Exception:  # msgpack raises many types on garbage
        return []
    found: list[object] = []
    for entry in plain.values() if isinstance(plain, dict) else ():
        if isinstance(entry, dict):
            found.append(entry.get("sha256"))
            blobs = entry.get("blobs")
            found.extend(blobs if isinstance(blobs, list) else ())
    return [s for s in found if isinstance(s, str) and wire.is_sha256(s)]


def _referenced_blobs(conn: sqlite3.Connection) -> Iterator[tuple[str, str]]:
    """(entity, address) for every blob a stored artifact version, history row,
    config or summary references. Rows that cannot hold an address are skipped in
    SQL (see `blob_scope.media_addresses`), so plain metrics are not decoded."""
    for entity, entries in conn.execute(
            "SELECT e.name, v.entries FROM artifact_versions v "
            "JOIN artifacts a ON a.id = v.artifact_id JOIN projects p ON p.id = a.project_id "
            "JOIN entities e ON e.id = p.entity_id"):
        for sha in _entry_blobs(entries):
            yield entity, sha
    mark = "X'D940'"
    for entity, row in conn.execute(
            f"SELECT e.name, h.row FROM history h JOIN runs r ON r.id = h.run {_ENTITY_OF_RUN} "
            f"WHERE instr(h.row, {mark}) > 0"):
        for sha in media_addresses(row):
            yield entity, sha
    for column in ("config", "summary"):
        for entity, data in conn.execute(
                f"SELECT e.name, r.{column} FROM runs r {_ENTITY_OF_RUN} "
                f"WHERE instr(r.{column}, {mark}) > 0"):
            for sha in media_addresses(data):
                yield entity, sha


def _backfill_blob_holders(conn: sqlite3.Connection) -> None:
    """Schema 3 on a database that had none: each entity holds the blobs its own
    entries reference, so it keeps reading what it logged; a blob nothing
    references (uploaded, never used) is held by no one and is uploaded again by
    whoever needs it."""
    buffer: list[tuple[str, str]] = []
    for pair in _referenced_blobs(conn):
        buffer.append(pair)
        if len(buffer) >= _BACKFILL_ROWS:
            conn.executemany("INSERT OR IGNORE INTO blob_holders VALUES (?, ?)", buffer)
            buffer.clear()
    conn.executemany("INSERT OR IGNORE INTO blob_holders VALUES (?, ?)", buffer)


BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {3: _backfill_blob_holders}
"""Run after the script of version N, in the same transaction: data it derives."""


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The one place connections to the metadata database are made: WAL, FULL
    sync, a generous busy timeout, foreign keys on, and autocommit mode so that
    `transaction()` controls every BEGIN."""
    try:
        conn = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open metadata database {path}: {exc}") from exc
    return conn


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    """``BEGIN [IMMEDIATE] … COMMIT``, rolled back if the block raises. Reads use a
    deferred transaction so that several queries see one snapshot."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to `SCHEMA_VERSION`; refuse a database from a newer server."""
    with transaction(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the metadata database has schema {version}; this server knows up to "
                f"{SCHEMA_VERSION} — upgrade tablelog")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            if target in BACKFILLS:
                BACKFILLS[target](conn)
            conn.execute(f"PRAGMA user_version={target}")
