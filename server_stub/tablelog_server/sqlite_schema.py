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
from collections.abc import Iterator

from tablelog_server.errors import SchemaVersionError, StorageError

SCHEMA_VERSION = 2
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

MIGRATIONS: dict[int, str] = {1: SCHEMA_V1, 2: SCHEMA_V2}
"""Script that brings the schema from version N-1 to N."""


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
            conn.execute(f"PRAGMA user_version={target}")
