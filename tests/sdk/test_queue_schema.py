"""The queue's schema migrations and payload checksums."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tablelog.store import queue as queue_mod
from tablelog.store.queue import NewEntry, Queue


def test_a_version_1_queue_is_upgraded_and_keeps_its_entries(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "queue.db")
    for statement in queue_mod.SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO entries(run, kind, payload, size, blobs, created)"
                 " VALUES ('p/r', 'history', x'81a161', 3, NULL, 1.0)")
    conn.execute("INSERT INTO meta VALUES ('queue_id', 'abc')")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with Queue(tmp_path) as q:
        (old,) = q.claim_batch()
        assert old.crc is None and old.intact  # written before checksums: trusted
        q.put("p/r", "history", b"\x81\xa1b")
        new = q.claim_batch(after_id=old.id)[0]
        assert new.crc is not None and new.intact
        assert q.queue_id == "abc"
    check = sqlite3.connect(tmp_path / "queue.db")
    assert check.execute("PRAGMA user_version").fetchone()[0] == queue_mod.SCHEMA_VERSION
    check.close()


def test_a_payload_changed_on_disk_is_not_intact(tmp_path: Path) -> None:
    with Queue(tmp_path) as q:
        (entry_id,) = q.put_many([NewEntry("p/r", "history", b"\x81\xa1a\x01")])
        with q.transaction() as conn:
            conn.execute("UPDATE entries SET payload = x'81a16102' WHERE id = ?", (entry_id,))
        (entry,) = q.claim_batch()
        assert not entry.intact
        q.dead_letter(entry_id, "damaged")
        assert q.retry_dead() == 1
        assert not q.claim_batch()[0].intact  # the checksum travels with the entry


def test_a_version_2_queue_gains_the_shared_runs_table(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "queue.db")
    for statement in queue_mod.SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    for statement in queue_mod.MIGRATIONS[2]:
        conn.execute(statement)
    conn.execute("INSERT INTO entries(run, kind, payload, size, blobs, created, crc)"
                 " VALUES ('p/r', 'history', x'81a161', 3, NULL, 1.0, NULL)")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    with Queue(tmp_path) as q:
        assert len(q.claim_batch()) == 1
        assert q.next_step("p/r") == 0  # never shared
        with q.transaction() as c:
            from tablelog.runtime.shared_run import allocate_steps

            assert allocate_steps(c, "p/r", [3, 3, 10]) == [3, 4, 10]
        assert q.next_step("p/r") == 11
    check = sqlite3.connect(tmp_path / "queue.db")
    assert check.execute("PRAGMA user_version").fetchone()[0] == queue_mod.SCHEMA_VERSION
    check.close()
