"""``run_update`` entries: renamed runs, metric definitions and alerts, stored and
answered by the API; malformed ones rejected alone; a schema-3 database migrated."""

from __future__ import annotations

from pathlib import Path

import pytest
from server_helpers import Api, entry, run_body

from tablelog_server import sqlite_schema


def statuses(results: list[dict[str, object]]) -> list[object]:
    return [r["status"] for r in results]


async def test_updates_set_name_tags_metrics_and_append_alerts(api: Api) -> None:
    alert = {"title": "slow", "text": "loss flat", "level": "WARN", "wait_duration_ms": 60_000,
             "at": 1000.0}
    results = await api.send([
        entry("run", run_body()),
        entry("run_update", {"name": "renamed", "tags": ["x", "y"]}),
        entry("run_update", {"metrics": {"loss": {"step_metric": None, "hidden": None,
                                                  "step_sync": None, "summary": ["min"]}}}),
        entry("run_update", {"alert": alert}),
        entry("run_update", {"alert": {**alert, "title": "again", "level": "INFO"}}),
        entry("run_update", {"notes": "n"}),
    ])
    assert statuses(results) == ["applied"] * 6
    run = await api.get("/api/v1/runs/local/proj/run1")
    assert (run["name"], run["tags"], run["notes"]) == ("renamed", ["x", "y"], "n")
    assert run["metrics"] == {"loss": {"step_metric": None, "hidden": None, "step_sync": None,
                                       "summary": ["min"]}}
    assert [(a["title"], a["level"]) for a in run["alerts"]] == [("slow", "WARN"),
                                                               ("again", "INFO")]


@pytest.mark.parametrize(("body", "reason"), [
    ({"alert": {"title": "t", "text": "x", "level": "LOUD"}}, "level"),
    ({"metrics": {"loss": {"colour": "red"}}}, "bad field 'colour'"),
    ({"metrics": {"loss": {"hidden": "yes"}}}, "bad field 'hidden'"),
    ({"metrics": ["loss"]}, "'metrics' must be a map"),
    ({"tags": "abc"}, "tags"),
])
async def test_malformed_updates_are_rejected_alone(api: Api, body: dict[str, object],
                                                    reason: str) -> None:
    results = await api.send([entry("run", run_body()), entry("run_update", body),
                              entry("history", {"step": 0, "row": {"a": 1}})])
    assert statuses(results) == ["applied", "rejected", "applied"]
    assert reason in str(results[1]["reason"])


def test_schema_3_database_gains_the_columns(tmp_path: Path) -> None:
    conn = sqlite_schema.connect(tmp_path / "metadata.db")
    with sqlite_schema.transaction(conn):
        for version in (1, 2, 3):
            for statement in sqlite_schema.MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute("PRAGMA user_version=3")
    sqlite_schema.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_schema.SCHEMA_VERSION
    columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    assert {"metrics", "alerts"} <= columns
    conn.close()
