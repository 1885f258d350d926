"""Schema 3 records which entity holds which blob; a schema-2 database is upgraded by
giving each entity the blobs its runs and artifacts reference, so an upgraded
server keeps serving each entity what it logged, and nothing of anyone else's."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from server_helpers import API_KEY, ENTITY, OTHER_ENTITY, OTHER_KEY, Api, table_blobs

from tablelog import wire
from tablelog_server import sqlite_schema
from tablelog_server.app import create_app
from tablelog_server.blobs import FileBlobStore
from tablelog_server.config import ServerConfig
from tablelog_server.metadata import (
    ArtifactLog,
    HistoryAppend,
    RunKey,
    RunStart,
    SummaryReplace,
)
from tablelog_server.sqlite_store import SqliteMetadataStore


def _blob(text: str) -> bytes:
    return f"blob {text}".encode() * 10


async def _put(blobs: FileBlobStore, data: bytes) -> str:
    async def chunks() -> Any:
        yield data

    sha = wire.sha256_hex(data)
    await blobs.put_stream(sha, chunks(), max_bytes=1 << 20)
    return sha


def _media(sha: str) -> wire.MediaRef:
    return wire.MediaRef("image", sha, 10, {})


async def _schema_2_server(data_dir: Path, monkeypatch: pytest.MonkeyPatch
                           ) -> dict[str, Any]:
    """A data directory as a schema-2 server left it: the store's own writes, with
    what versions 3 and later added taken out again, and the blob files on disk."""
    blobs = FileBlobStore(data_dir / "blobs")
    shas = {name: await _put(blobs, _blob(name)) for name in (
        "in-config", "in-history", "in-summary", "in-cell", "file", "unreferenced",
        "others-image")}
    cell = _media(shas["in-cell"])
    table_data, table = table_blobs(["id", "img"], [[1, cell], [2, cell]])
    table = wire.ManifestEntry("table", table.sha256, table.size, table.meta,
                               (*table.blobs, shas["in-cell"]))
    for data in table_data.values():
        await _put(blobs, data)
    file_entry = wire.ManifestEntry("file", shas["file"], 10, {"source_name": "w.bin"})
    entries = {"t": table, "w.bin": file_entry}
    run = RunKey(ENTITY, "proj", "run1")
    other_run = RunKey(OTHER_ENTITY, "proj", "run1")
    store = await SqliteMetadataStore.open(data_dir / "metadata.db")
    try:
        results = await store.apply(ENTITY, "q", [
            (1, RunStart(run, "r", wire.packb({"logo": _media(shas["in-config"])}), None,
                         None, None, 1.0)),
            *((2 + i, HistoryAppend(run, i, wire.packb(
                {"_step": i, "x": i, "img": _media(shas["in-history"])})))
              for i in range(3)),
            (9, SummaryReplace(run, wire.packb({"best": [_media(shas["in-summary"])]}))),
            (10, ArtifactLog(run, "preds", "run_table", None, wire.packb({}),
                             wire.artifact_digest(entries), ("latest",),
                             wire.packb({k: e.to_plain() for k, e in entries.items()}),
                             tuple(wire.artifact_blobs(entries))))])
        assert all(r.outcome == "applied" for r in results), results
        results = await store.apply(OTHER_ENTITY, "q2", [(1, HistoryAppend(
            other_run, 0, wire.packb({"_step": 0, "img": _media(shas["others-image"])})))])
        assert all(r.outcome == "applied" for r in results), results
    finally:
        await store.close()
    conn = sqlite3.connect(data_dir / "metadata.db")
    with conn:
        conn.execute("DROP TABLE blob_holders")  # version 3
        for column in ("metrics", "alerts", "run_group"):  # versions 4 and 5
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute("DROP INDEX artifact_versions_run")
        for column in ("tags", "ttl"):  # version 5
            conn.execute(f"ALTER TABLE artifact_versions DROP COLUMN {column}")
        conn.execute("DROP TABLE artifact_uses")
        conn.execute("PRAGMA user_version=2")
    conn.close()
    return {"shas": shas, "table": table_data, "entries": entries}


async def test_a_schema_2_database_gives_each_entity_what_it_referenced(
        aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "server"
    made = await _schema_2_server(data_dir, monkeypatch)
    shas: dict[str, str] = made["shas"]
    client = await aiohttp_client(create_app(ServerConfig(
        data_dir=data_dir, api_keys={API_KEY: ENTITY, OTHER_KEY: OTHER_ENTITY})))
    conn = sqlite3.connect(data_dir / "metadata.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_schema.SCHEMA_VERSION
    conn.close()
    local, other = Api(client), Api(client, OTHER_KEY)

    local_blobs = [shas[n] for n in ("in-config", "in-history", "in-summary", "in-cell",
                                     "file")] + list(made["table"])
    for sha in local_blobs:
        resp = await client.get(f"/api/v1/blobs/{sha}", headers=local.headers)
        assert resp.status == 200, sha
        assert (await client.get(f"/api/v1/blobs/{sha}", headers=other.headers)).status == 404
    assert (await local.get("/api/v1/tables/local/proj/preds/latest/t"))["nrows"] == 2
    others = shas["others-image"]
    assert (await client.get(f"/api/v1/blobs/{others}", headers=other.headers)).status == 200
    assert (await client.get(f"/api/v1/blobs/{others}", headers=local.headers)).status == 404

    async def missing(api: Api, wanted: list[str]) -> list[str]:
        resp = await client.post("/api/v1/blobs/missing", headers=api.headers,
                                 json={"sha256": wanted})
        found: list[str] = (await resp.json())["missing"]
        return found

    everything = [*local_blobs, others, shas["unreferenced"]]
    # A blob no entry referenced belonged to no one: whoever needs it uploads it again.
    assert await missing(local, everything) == [others, shas["unreferenced"]]
    assert await missing(other, everything) == [*local_blobs, shas["unreferenced"]]


def test_the_backfill_takes_media_refs_only(tmp_path: Path) -> None:
    """A history value that merely looks like an address (a user's 64-hex string) gives
    no one that blob; a media value does, to its run's entity."""
    conn = sqlite_schema.connect(tmp_path / "m.db")
    conn.executescript(sqlite_schema.SCHEMA_V1)
    conn.executescript(sqlite_schema.SCHEMA_V2)
    conn.execute("INSERT INTO entities VALUES (1, 'local', 0)")
    conn.execute("INSERT INTO projects VALUES (1, 1, 'p', 0)")
    conn.execute("INSERT INTO runs (id, project_id, run_id, state, created, updated) "
                 "VALUES (1, 1, 'r', 'running', 0, 0)")
    lookalike, media = wire.sha256_hex(b"a string"), wire.sha256_hex(b"an image")
    conn.executemany("INSERT INTO history VALUES (1, ?, ?, ?)", [
        (i, i, wire.packb({"_step": i, "loss": 0.5, "note": lookalike}))
        for i in range(100)] + [(100, 100, wire.packb({"img": _media(media)}))])
    conn.execute("PRAGMA user_version=2")
    sqlite_schema.migrate(conn)
    assert conn.execute("SELECT entity, sha256 FROM blob_holders").fetchall() == [
        ("local", media)]
    conn.close()
