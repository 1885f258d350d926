"""Idempotency keys carry the entry's digest: a replayed key with other content is a
`conflict` (not stored), never a `duplicate`; keys recorded by a schema-1 server
(no digest) still answer `duplicate`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from server_helpers import Api, entry, run_body

from tablelog_server.metadata import HistoryAppend, Outcome, RunKey
from tablelog_server.sqlite_schema import SCHEMA_V1
from tablelog_server.sqlite_store import SqliteMetadataStore


def statuses(results: list[dict[str, object]]) -> list[object]:
    return [r["status"] for r in results]


async def test_a_replayed_key_with_other_bytes_is_a_conflict(api: Api) -> None:
    ours = [entry("run", run_body()), entry("history", {"step": 0, "row": {"x": 1}})]
    theirs = [entry("run", run_body(name="copy")), entry("history", {"step": 0,
                                                                    "row": {"x": 2}})]
    assert statuses(await api.send(ours, ids=[1, 2])) == ["applied", "applied"]
    # the same bytes again: a duplicate; other bytes under the same keys: a conflict
    assert statuses(await api.send(ours, ids=[1, 2])) == ["duplicate", "duplicate"]
    results = await api.send(theirs, ids=[1, 2])
    assert statuses(results) == ["conflict", "conflict"]
    assert all("NOT stored" in str(r["reason"]) for r in results)
    rows = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert rows == [{"_step": 0, "x": 1}]
    assert (await api.get("/api/v1/runs/local/proj/run1"))["name"] == "my run"


async def test_a_repeated_id_inside_one_batch_is_judged_by_its_bytes(api: Api) -> None:
    a = entry("history", {"step": 0, "row": {"x": 1}})
    b = entry("history", {"step": 1, "row": {"x": 2}})
    assert statuses(await api.send([a, a, b], ids=[7, 7, 7])) == [
        "applied", "duplicate", "conflict"]
    rows = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert rows == [{"_step": 0, "x": 1}]


async def test_the_store_rechecks_digests_inside_its_transaction(tmp_path: Path) -> None:
    store = await SqliteMetadataStore.open(tmp_path / "m.db")
    try:
        run = RunKey("local", "p", "r")
        first = await store.apply("local", "q", [(1, HistoryAppend(run, 0, b"\x80"))], ["aa"])
        again = await store.apply("local", "q", [(1, HistoryAppend(run, 0, b"\x80")),
                                                 (1, HistoryAppend(run, 0, b"\x80"))],
                                  ["aa", "bb"])
        assert [r.outcome for r in first] == [Outcome.APPLIED]
        assert [r.outcome for r in again] == [Outcome.DUPLICATE, Outcome.CONFLICT]
        assert await store.applied_digests("local", "q", [1, 2]) == {1: "aa"}
    finally:
        await store.close()


async def test_a_schema_1_database_upgrades_and_its_keys_stay_duplicates(
        tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.execute("INSERT INTO applied_keys VALUES ('local', 'q', 1, 1.0)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    store = await SqliteMetadataStore.open(path)
    try:
        assert await store.applied_digests("local", "q", [1]) == {1: None}
        run = RunKey("local", "p", "r")
        again = await store.apply("local", "q", [(1, HistoryAppend(run, 0, b"\x80"))], ["cc"])
        assert [r.outcome for r in again] == [Outcome.DUPLICATE]
    finally:
        await store.close()
