"""A copied queue directory gets a new queue id for new entries; what was queued
before the copy keeps its key (schema 5)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tablelog.store import queue as queue_mod
from tablelog.store.queue import CONFLICT_PREFIX, Queue


def test_a_copied_directory_keys_new_entries_under_a_new_queue_id(tmp_path: Path) -> None:
    original = tmp_path / "a"
    with Queue(original) as q:
        first = q.put("p/r", "history", b"before the copy")
        qid = q.queue_id
    copy = tmp_path / "b"
    shutil.copytree(original, copy)
    with Queue(copy) as c:
        assert c.queue_id != qid and c.copied_from == qid
        second = c.put("p/r", "history", b"after the copy, in the copy")
        batches = [c.claim_batch(), c.claim_batch(after_id=first)]
        assert [(e.id, e.queue_id) for b in batches for e in b] == [(first, qid),
                                                                    (second, c.queue_id)]
        assert len(batches[0]) == 1  # one queue id per batch
        copy_qid = c.queue_id
    with Queue(copy) as again:  # reopened where it now lives: no new identity
        assert again.queue_id == copy_qid and again.copied_from is None
    with Queue(original) as q:  # the original is not a copy
        assert q.queue_id == qid and q.copied_from is None
        q.put("p/r", "history", b"after the copy, in the original")
        assert {e.queue_id for e in q.claim_batch()} == {qid}


def test_a_version_2_queue_upgrades_and_keeps_its_queue_id(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "queue.db")
    for statement in queue_mod.SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    for statement in queue_mod.MIGRATIONS[2]:
        conn.execute(statement)
    conn.execute("INSERT INTO entries(run, kind, payload, size, blobs, created, crc)"
                 " VALUES ('p/r', 'history', x'81a161', 3, NULL, 1.0, NULL)")
    conn.execute("INSERT INTO meta VALUES ('queue_id', 'old-queue')")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with Queue(tmp_path) as q:  # no identity recorded yet: adopted, not a copy
        assert q.queue_id == "old-queue" and q.copied_from is None
        (entry,) = q.claim_batch()
        assert entry.queue_id == "old-queue" and entry.intact
    check = sqlite3.connect(tmp_path / "queue.db")
    assert check.execute("PRAGMA user_version").fetchone()[0] == queue_mod.SCHEMA_VERSION
    identity = check.execute("SELECT value FROM meta WHERE key='dir_identity'").fetchone()
    assert identity is not None
    check.close()


def test_retrying_a_conflict_sends_it_under_a_new_queue_id(tmp_path: Path) -> None:
    with Queue(tmp_path) as q:
        a = q.put("p/r", "history", b"a")
        b = q.put("p/r", "history", b"b")
        old = q.queue_id
        q.dead_letter(a, CONFLICT_PREFIX + "the server holds the key with other content")
        q.dead_letter(b, "rejected by the server: bad")
        assert q.retry_dead() == 2
        keys = {e.id: e.queue_id for e in q.claim_batch()}
        keys.update({e.id: e.queue_id for e in q.claim_batch(after_id=a)})
        assert keys[b] == old and keys[a] == q.queue_id != old
