"""Scenarios 5 and 7: entries the server rejects, and local data damaged on disk."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Harness, child_env, cli, queue_state
from tests.reliability.scenarios import PROJECT, corruption, log_workload, poison


def test_poison_entries_are_dead_lettered_and_retry_dead_requeues_them(tmp_path: Path) -> None:
    poison(tmp_path, runs=2, rows=200).assert_ok()


def test_corrupt_blobs_and_payloads_are_caught_and_the_rest_flows(tmp_path: Path) -> None:
    corruption(tmp_path, rows=200).assert_ok()


def test_a_payload_damaged_into_other_valid_msgpack_is_detected(tmp_path: Path) -> None:
    """One bit flipped inside a history row's float: the bytes still decode."""
    import sqlite3

    from tests.reliability.harness import history_rows

    with Harness(tmp_path) as h:
        q = tmp_path / "queue"
        log_workload(q, 1, 3, media_every=0)
        conn = sqlite3.connect(q / "queue.db")
        with conn:
            entry_id, payload = conn.execute(
                "SELECT id, payload FROM entries WHERE kind = 'history' ORDER BY id"
                " LIMIT 1").fetchone()
            damaged = bytearray(payload)
            at = damaged.index(b"loss") + 4 + 1 + 6  # inside the float64 after "loss"
            damaged[at] ^= 0x01
            conn.execute("UPDATE entries SET payload = ? WHERE id = ?",
                         (bytes(damaged), entry_id))
        conn.close()
        srv = h.server()
        done = cli("sync", "--dir", str(q), "--timeout", "30", env=child_env(q, srv.url))
        rows = history_rows(srv.url, PROJECT, "run00")
    assert done.returncode == 1 and queue_state(q)["dead"] == 1, (done.stderr, rows[:1])
