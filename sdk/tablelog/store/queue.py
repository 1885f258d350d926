"""The persistent local queue: ``TABLELOG_DIR/queue.db`` plus its blob store.

The queue stores opaque bytes (made by `tablelog.wire`) in insertion order.
Many SDK processes may `put` at once; one agent (holding ``agent.lock``)
claims, acknowledges and dead-letters. Nothing here knows HTTP.

Tables (schema version in ``PRAGMA user_version``):

- ``entries``       pending entries: id (monotonic), run, kind, payload, blobs
                    (the sha256s the entry needs on the server), attempts, last_error,
                    queue_id (NULL: the queue's current one)
- ``dead_letters``  entries the server rejected permanently, with its reason
- ``meta``          queue_id (a UUID made with the database), dir_identity (where
                    this database lives: see `dir_identity`) and small settings
- ``runs``          per-run state an SDK needs to resume (step, summary, tables)
- ``artifacts``     every artifact version logged from this directory, so that
                    `use_artifact` works offline
- ``agent_state``   the agent's heartbeat and counters, read by `tablelog status`
- ``shared_runs``   runs logged from several processes (a forked child): the next
                    free step and the merged summary (`tablelog.runtime.shared_run`)
- ``open_runs``     runs open in a live process (pid, its start time, host): an
                    agent does not exit idle while one lives (`tablelog.runtime.lifetime`)

Durability: WAL with ``synchronous=FULL``, so a committed `put` survives power
loss; callers batch many puts per transaction to amortise the fsync.

Identity: an entry's idempotency key is (its queue id, its id). A directory that
was copied (an image, a restored snapshot, a run dir carried to another node)
would hand out the same ids again on both sides, so each open compares
`dir_identity` with the one recorded in ``meta``: on a mismatch the entries
already queued keep their queue id (both copies may send those; identical bytes
are duplicates on the server) and NEW entries get a new queue id.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from tablelog.errors import QueueError, QueueFullError
from tablelog.store.blobstore import BlobStore
from tablelog.store.identity import dir_identity

SCHEMA_VERSION = 5
CONFLICT_PREFIX = "conflict: "  # a dead letter's reason when the server held its key
BUSY_TIMEOUT_MS = 30_000

_ENTRY_COLUMNS = ("id, run, kind, payload, size, blobs, blob_bytes, created, attempts, last_error,"
                  " crc, COALESCE(queue_id, (SELECT value FROM meta WHERE key = 'queue_id'))")


@dataclass(frozen=True)
class QueuedEntry:
    """One entry as stored: `payload` is the wire bytes, `blobs` the hashes it needs."""

    id: int
    run: str
    kind: str
    payload: bytes
    size: int
    blobs: tuple[str, ...]
    blob_bytes: int
    created: float
    attempts: int = 0
    last_error: str | None = None
    crc: int | None = None  # CRC-32 of payload when it was written (None: older queue)
    queue_id: str = ""  # the queue id of its idempotency key ("": the queue's own)

    @property
    def intact(self) -> bool:
        """False when the payload's bytes changed on disk since they were written."""
        return self.crc is None or zlib.crc32(self.payload) == self.crc


@dataclass(frozen=True)
class DeadLetter:
    id: int
    run: str
    kind: str
    reason: str
    attempts: int
    dead_at: float
    size: int


@dataclass(frozen=True)
class QueueStats:
    pending: int
    pending_bytes: int  # payloads plus the blobs they reference
    oldest_created: float | None
    dead: int


@dataclass(frozen=True)
class LocalArtifact:
    """An artifact version logged from this directory (for offline `use_artifact`)."""

    project: str
    name: str
    digest: str
    type: str
    manifest: bytes  # the artifact entry's body, msgpack
    run: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class NewEntry:
    """What a writer hands to `put_many`."""

    run: str
    kind: str
    payload: bytes
    blobs: tuple[str, ...] = ()
    blob_bytes: int = 0


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """The one place SQLite connections to a queue are made: WAL, FULL sync,
    a generous busy timeout (8 ranks may write at once), autocommit mode so
    that `transaction()` controls every BEGIN."""
    conn = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_MS / 1000,
                           isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _enter_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _enter_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, waiting out other processes doing the same: on a new database
    the switch needs a lock that SQLite's busy timeout does not wait for, so two
    processes opening one fresh queue at once got "database is locked" (bounded by
    the busy timeout, like every other wait on the queue)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


# Schema version 1. Plain SQL rather than sqlite-utils' table builders: importing
# sqlite_utils costs the training process ~300 ms at init() (it loads pandas when
# installed and scans plugin entry points), and the SDK's promise is a cheap init.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL, size INTEGER NOT NULL,
    blobs BLOB, blob_bytes INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);
CREATE INDEX IF NOT EXISTS entries_run ON entries(run, id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY, run TEXT, kind TEXT, payload BLOB, size INTEGER, blobs BLOB,
    blob_bytes INTEGER, created REAL, attempts INTEGER, last_error TEXT, reason TEXT,
    dead_at REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (run TEXT PRIMARY KEY, state BLOB, updated REAL);
CREATE TABLE IF NOT EXISTS artifacts (
    project TEXT, name TEXT, digest TEXT, version INTEGER, type TEXT, manifest BLOB,
    created REAL, run TEXT, PRIMARY KEY (project, name, digest));
CREATE TABLE IF NOT EXISTS artifact_aliases (
    project TEXT, name TEXT, alias TEXT, digest TEXT, PRIMARY KEY (project, name, alias));
CREATE TABLE IF NOT EXISTS agent_state (key TEXT PRIMARY KEY, value BLOB);
"""


# Each later version: the statements that upgrade the one before it.
MIGRATIONS: dict[int, list[str]] = {
    # a checksum per payload, so bytes damaged on disk are caught before upload
    2: ["ALTER TABLE entries ADD COLUMN crc INTEGER",
        "ALTER TABLE dead_letters ADD COLUMN crc INTEGER"],
    # runs open in a live process: the agent serves the directory while one lives
    # (tablelog.runtime.lifetime registers and reads them)
    3: ["CREATE TABLE IF NOT EXISTS open_runs (run TEXT NOT NULL, pid INTEGER NOT NULL,"
        " host TEXT NOT NULL, pid_start TEXT NOT NULL, opened_at REAL NOT NULL,"
        " PRIMARY KEY (run, pid, host))"],
    # a run shared by forked processes: steps allocated here, summary merged here
    4: ["CREATE TABLE IF NOT EXISTS shared_runs (run TEXT PRIMARY KEY,"
        " next_step INTEGER NOT NULL DEFAULT 0, summary BLOB)"],
    # the queue id each entry's key belongs to, kept when a copied directory gets a
    # new one (NULL: the queue's current id)
    5: ["ALTER TABLE entries ADD COLUMN queue_id TEXT",
        "ALTER TABLE dead_letters ADD COLUMN queue_id TEXT"],
}


def _create_schema(conn: sqlite3.Connection, version: int) -> None:
    """Bring a database at schema `version` (0: empty) up to SCHEMA_VERSION."""
    if version < 1:
        for statement in SCHEMA_V1.split(";"):
            if statement.strip():
                conn.execute(statement)
    for step in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[step]:
            conn.execute(statement)


class Queue:
    """A queue directory: ``queue.db`` and ``blobs/``. Thread-safe; open one per process.

    Use as a context manager, or call `close()`.
    """

    def __init__(self, directory: str | os.PathLike[str], *, max_bytes: int | None = None
                 ) -> None:
        self.dir = Path(directory)
        try:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.dir, 0o700)
        except OSError as exc:
            raise QueueError(f"cannot create queue directory {self.dir}: {exc}") from exc
        self.db_path = self.dir / "queue.db"
        self.max_bytes = max_bytes
        old_umask = os.umask(0o077)  # queue.db, -wal and -shm all 0600
        try:
            self._conn = connect(self.db_path)
            self._lock = threading.RLock()
            self._migrate()
        except sqlite3.Error as exc:
            raise QueueError(f"cannot open queue {self.db_path}: {exc}") from exc
        finally:
            os.umask(old_umask)
        self.blobs = BlobStore(self.dir / "blobs")
        self.copied_from: str | None = None  # the queue id before a copy was detected
        self.queue_id = self._queue_id()

    # -- setup ---------------------------------------------------------------

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise QueueError(f"{self.db_path} was written by a newer tablelog "
                                 f"(schema {version}, this one knows {SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                _create_schema(conn, version)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _queue_id(self) -> str:
        """The queue id for new entries: made with the database, and made anew when
        the directory's identity changed (a copy, see the module doc)."""
        identity = dir_identity(self.db_path)
        with self.transaction() as conn:
            meta = dict(conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('queue_id', 'dir_identity')"))
            qid = meta.get("queue_id")
            recorded = meta.get("dir_identity")
            if qid is not None and recorded == identity:
                return str(qid)
            if qid is not None and recorded is not None:
                # A copy: what is queued keeps its key; new entries get a new queue id.
                self.copied_from = str(qid)
                qid = self._new_queue_id(conn)
            if qid is None:
                qid = uuid.uuid4().hex
                conn.execute("INSERT INTO meta(key, value) VALUES ('queue_id', ?)", (qid,))
            # (a queue made before identities were recorded adopts this one)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('dir_identity', ?)",
                         (identity,))
            return str(qid)

    def _new_queue_id(self, conn: sqlite3.Connection) -> str:
        """Give new entries a new queue id; what is queued (or dead) keeps its key."""
        old = conn.execute("SELECT value FROM meta WHERE key = 'queue_id'").fetchone()[0]
        for table in ("entries", "dead_letters"):
            conn.execute(f"UPDATE {table} SET queue_id = ? WHERE queue_id IS NULL", (old,))
        qid = uuid.uuid4().hex
        conn.execute("UPDATE meta SET value = ? WHERE key = 'queue_id'", (qid,))
        self.queue_id = qid
        return qid

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error), serialised across threads."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------

    def put(self, run: str, kind: str, payload: bytes, blobs: Sequence[str] = (),
            blob_bytes: int = 0) -> int:
        """Append one entry; returns its id."""
        return self.put_many([NewEntry(run, kind, payload, tuple(blobs), blob_bytes)])[-1]

    def put_many(self, entries: Sequence[NewEntry]) -> list[int]:
        """Append entries in one transaction (one fsync); return their ids, in order.

        Raises QueueFullError when the disk is full or the cap would be passed;
        then nothing of this call was stored.
        """
        return self.commit(entries)[0]

    def commit(self, entries: Sequence[NewEntry], artifacts: Sequence[LocalArtifact] = (),
               run_states: dict[str, bytes] | None = None, *,
               finalize: Callable[[sqlite3.Connection, Sequence[NewEntry]],
                                  Sequence[NewEntry]] | None = None
               ) -> tuple[list[int], list[int]]:
        """Append entries, register artifact versions and save run states, all in one
        transaction. Returns (entry ids, artifact version numbers).

        `finalize(conn, entries)`, when given, runs first inside the transaction and
        returns the entries to insert instead (a shared run's steps and summary are
        decided there, see `tablelog.runtime.shared_run`)."""
        if not entries and not artifacts and not run_states:
            return [], []
        now = time.time()
        if self.max_bytes is not None and entries:
            incoming = sum(len(e.payload) + e.blob_bytes for e in entries)
            if self.stats().pending_bytes + incoming > self.max_bytes:
                raise QueueFullError(
                    f"queue over its cap of {self.max_bytes} bytes; "
                    f"{len(entries)} entries ({incoming} bytes) not persisted")
        try:
            with self.transaction() as conn:
                if finalize is not None:
                    entries = finalize(conn, entries)
                ids = []
                for e in entries:
                    cur = conn.execute(
                        "INSERT INTO entries(run, kind, payload, size, blobs, blob_bytes, created,"
                        " crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (e.run, e.kind, e.payload, len(e.payload),
                         msgpack.packb(list(e.blobs)), e.blob_bytes, now, zlib.crc32(e.payload)))
                    ids.append(int(cur.lastrowid or 0))
                versions = [_register_artifact(conn, a, now) for a in artifacts]
                for run, state in (run_states or {}).items():
                    conn.execute("INSERT OR REPLACE INTO runs(run, state, updated) VALUES (?,?,?)",
                                 (run, state, now))
                return ids, versions
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise QueueFullError(f"disk full: {len(entries)} entries not persisted") from exc
            raise QueueError(f"cannot write to {self.db_path}: {exc}") from exc

    # -- reading (the agent) ---------------------------------------------------

    def claim_batch(self, *, max_entries: int = 500, max_bytes: int = 8 << 20,
                    after_id: int = 0, max_blob_bytes: int | None = None
                    ) -> list[QueuedEntry]:
        """The oldest pending entries with id > after_id, bounded by count, payload
        bytes and (if given) the blob bytes they carry (at least one entry, however
        large). Only the agent holding the lock claims, so nothing is marked:
        unacknowledged entries simply stay."""
        with self._lock:
            cur = self._conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM entries WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, max_entries))
            out: list[QueuedEntry] = []
            total = blob_total = 0
            for row in cur:
                if out and (total + row[4] > max_bytes or (
                        max_blob_bytes is not None and blob_total + row[6] > max_blob_bytes)):
                    break
                if out and row[11] != out[0].queue_id:
                    break  # one queue id per batch: the key's queue travels once per request
                total += row[4]
                blob_total += row[6]
                out.append(_entry_from_row(row))
            return out

    def ack(self, ids: Iterable[int]) -> None:
        """Delete entries the server stored."""
        ids = list(ids)
        if not ids:
            return
        with self.transaction() as conn:
            conn.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in ids])

    def record_failure(self, ids: Iterable[int], error: str) -> None:
        """Count a failed attempt on entries that stay queued."""
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE entries SET attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(error[:2000], i) for i in ids])

    def dead_letter(self, entry_id: int, reason: str) -> None:
        """Move an entry the server rejected permanently out of the way."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO dead_letters(id, run, kind, payload, size, blobs,"
                " blob_bytes, created, attempts, last_error, reason, dead_at, crc, queue_id)"
                " SELECT id, run, kind, payload, size, blobs, blob_bytes, created,"
                " attempts + 1, last_error, ?, ?, crc, queue_id FROM entries WHERE id = ?",
                (reason[:4000], time.time(), entry_id))
            conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))

    def dead_letters(self) -> list[DeadLetter]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, run, kind, reason, attempts, dead_at, size FROM dead_letters"
                " ORDER BY id").fetchall()
        return [DeadLetter(*r) for r in rows]

    def retry_dead(self, ids: Iterable[int] | None = None) -> int:
        """Put dead letters back in the queue under their original ids (so their
        idempotency keys do not change); returns how many. Conflicts (the server
        holds their key with other content: this directory shares keys with a copy)
        go back under a new queue id, as a detected copy's new entries do."""
        with self.transaction() as conn:
            where = ""
            params_t: tuple[int, ...] = ()
            if ids is not None:
                id_list = list(ids)
                where = f" WHERE id IN ({','.join('?' * len(id_list))})"
                params_t = tuple(id_list)
            conflict = f"{' AND' if where else ' WHERE'} reason LIKE '{CONFLICT_PREFIX}%'"
            if conn.execute(f"SELECT 1 FROM dead_letters{where}{conflict} LIMIT 1",
                            params_t).fetchone():
                self._new_queue_id(conn)
                conn.execute(f"UPDATE dead_letters SET queue_id = NULL{where}{conflict}",
                             params_t)
            conn.execute(
                "INSERT INTO entries(id, run, kind, payload, size, blobs, blob_bytes, created,"
                " attempts, last_error, crc, queue_id) SELECT id, run, kind, payload, size,"
                f" blobs, blob_bytes, created, 0, reason, crc, queue_id FROM dead_letters{where}",
                params_t)
            return int(conn.execute(f"DELETE FROM dead_letters{where}", params_t).rowcount)

    def stats(self) -> QueueStats:
        with self._lock:
            pending, nbytes, oldest = self._conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(size + blob_bytes), 0), MIN(created)"
                " FROM entries").fetchone()
            dead = self._conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0]
        return QueueStats(int(pending), int(nbytes), oldest, int(dead))

    def pending_for_run(self, run: str) -> int:
        """How many entries of `run` (a RunIdentity key) wait to be delivered."""
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM entries WHERE run = ?",
                                          (run,)).fetchone()[0])
    def referenced_blobs(self, after_id: int = 0) -> tuple[set[str], int]:
        """Every blob a pending or dead-lettered entry needs (dead letters may be retried,
        so their blobs stay), and the highest entry id seen. With `after_id`, only
        entries committed after an earlier call that saw up to that id: entries get
        ever higher ids, and an entry that moves between the two tables keeps its
        blobs in the set the earlier call returned."""
        with self._lock, contextlib.closing(self._conn.cursor()) as cur:
            cur.execute("BEGIN")  # one snapshot for both statements
            try:
                # Entries without blobs hold an empty msgpack list (one byte).
                sql = "SELECT blobs FROM entries WHERE id > ? AND length(blobs) > 1"
                if not after_id:
                    sql += " UNION ALL SELECT blobs FROM dead_letters WHERE length(blobs) > 1"
                rows = cur.execute(sql, (after_id,)).fetchall()
                top = cur.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0]
            finally:
                cur.execute("COMMIT")
        needed = {str(sha) for (packed,) in rows for sha in msgpack.unpackb(packed)}
        return needed, max(int(top), after_id)

    def pending_ids(self) -> list[int]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT id FROM entries ORDER BY id")]

    # -- small key/value areas -------------------------------------------------

    def next_step(self, run: str) -> int:
        """The next free step of a run shared with forked processes (0: never shared)."""
        with self._lock:
            row = self._conn.execute("SELECT next_step FROM shared_runs WHERE run = ?",
                                     (run,)).fetchone()
        return int(row[0]) if row else 0

    def get_run_state(self, run: str) -> bytes | None:
        """A run's saved state (opaque bytes written by the SDK's writer), if any."""
        with self._lock:
            row = self._conn.execute("SELECT state FROM runs WHERE run = ?", (run,)).fetchone()
        return bytes(row[0]) if row else None

    def recent_run_states(self, limit: int = 20) -> list[tuple[str, bytes, float]]:
        """(run key, saved state, last update) of the `limit` runs updated last."""
        with self._lock:
            rows = self._conn.execute("SELECT run, state, updated FROM runs ORDER BY updated "
                                      "DESC LIMIT ?", (limit,)).fetchall()
        return [(str(r), bytes(st), float(u)) for r, st, u in rows]

    def set_agent_state(self, values: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO agent_state(key, value) VALUES (?, ?)",
                [(k, msgpack.packb(v, use_bin_type=True)) for k, v in values.items()])

    def agent_state(self) -> dict[str, Any]:
        with self._lock:
            rows = self._conn.execute("SELECT key, value FROM agent_state").fetchall()
        return {k: msgpack.unpackb(v, raw=False, strict_map_key=False) for k, v in rows}


def _entry_from_row(row: Sequence[Any]) -> QueuedEntry:
    blobs = tuple(msgpack.unpackb(row[5])) if row[5] else ()
    return QueuedEntry(int(row[0]), row[1], row[2], bytes(row[3]), int(row[4]), blobs,
                       int(row[6]), float(row[7]), int(row[8]), row[9], row[10], str(row[11]))



def _register_artifact(conn: sqlite3.Connection, art: LocalArtifact, now: float) -> int:
    """Version number for (project, name, digest): the existing one, or the next free;
    moves `latest` and the given aliases to it. Same rule as the server."""
    row = conn.execute("SELECT version FROM artifacts WHERE project=? AND name=? AND digest=?",
                       (art.project, art.name, art.digest)).fetchone()
    if row:
        version = int(row[0])
    else:
        version = int(conn.execute(
            "SELECT COALESCE(MAX(version) + 1, 0) FROM artifacts WHERE project=? AND name=?",
            (art.project, art.name)).fetchone()[0])
        conn.execute("INSERT INTO artifacts(project, name, digest, version, type, manifest,"
                     " created, run) VALUES (?,?,?,?,?,?,?,?)",
                     (art.project, art.name, art.digest, version, art.type, art.manifest, now,
                      art.run))
    for alias in {"latest", *art.aliases}:
        conn.execute("INSERT OR REPLACE INTO artifact_aliases(project, name, alias, digest)"
                     " VALUES (?,?,?,?)", (art.project, art.name, alias, art.digest))
    return version


@dataclass(frozen=True)
class StoredArtifact:
    project: str
    name: str
    version: int
    digest: str
    type: str
    manifest: bytes
    aliases: tuple[str, ...]


def find_artifact(queue: Queue, name: str, ref: str, project: str | None = None
                  ) -> StoredArtifact | None:
    """Look up an artifact logged from this directory by alias or `vN`
    (in `project`, or else the most recently logged project holding that name)."""
    with queue._lock:
        conn = queue._conn
        params: tuple[Any, ...]
        where = "a.name = ?" + (" AND a.project = ?" if project else "")
        base = (name, project) if project else (name,)
        if len(ref) > 1 and ref[0] == "v" and ref[1:].isdigit():
            sql = f"SELECT a.project, a.digest FROM artifacts a WHERE {where} AND a.version = ?"
            params = (*base, int(ref[1:]))
        else:
            sql = (f"SELECT a.project, a.digest FROM artifact_aliases a WHERE {where}"
                   " AND a.alias = ?")
            params = (*base, ref)
        row = conn.execute(sql + " LIMIT 1", params).fetchone()
        if row is None:
            return None
        proj, digest = row
        version, type_, manifest = conn.execute(
            "SELECT version, type, manifest FROM artifacts WHERE project=? AND name=? AND digest=?",
            (proj, name, digest)).fetchone()
        aliases = tuple(r[0] for r in conn.execute(
            "SELECT alias FROM artifact_aliases WHERE project=? AND name=? AND digest=?"
            " ORDER BY alias", (proj, name, digest)))
    return StoredArtifact(proj, name, int(version), digest, type_, bytes(manifest), aliases)


def pending_for_read(queue: Queue, *, project: str | None, entity: str | None = None,
                     run_id: str | None = None, artifact: str | None = None,
                     up_to: int | None = None) -> list[tuple[int, str, str]]:
    """(id, run, kind) of the pending entries a read from the server depends on, oldest
    first: those of run `run_id` (in `project`), of the runs that logged a version of
    `artifact` here (in `project`, or in any when None), or else of every run in
    `project`; only ids up to `up_to` when given. A run key's entity may be empty (the
    server's key decides it), so both it and `entity` match."""
    entities = sorted({"", entity or ""})
    if run_id is not None:
        keys = [f"{e}/{project}/{run_id}" for e in entities]
        where, params = f"run IN ({','.join('?' * len(keys))})", list[Any](keys)
    elif artifact is not None:
        where = ("run IN (SELECT run FROM artifacts WHERE name = ?"
                 + (" AND project = ?)" if project is not None else ")"))
        params = [artifact, *([project] if project is not None else [])]
    else:
        prefixes = [f"{e}/{project}/" for e in entities]
        where = " OR ".join("substr(run, 1, ?) = ?" for _ in prefixes)
        params = [v for p in prefixes for v in (len(p), p)]
    if up_to is not None:
        where = f"({where}) AND id <= ?"
        params.append(up_to)
    with queue._lock:
        rows = queue._conn.execute(
            f"SELECT id, run, kind FROM entries WHERE {where} ORDER BY id", params).fetchall()
    return [(int(i), str(r), str(k)) for i, r, k in rows]


def dead_lettered(queue: Queue, ids: Iterable[int]) -> list[DeadLetter]:
    """The dead letters among entry ids `ids` (entries the server rejected)."""
    wanted = set(ids)
    return [d for d in queue.dead_letters() if d.id in wanted]
