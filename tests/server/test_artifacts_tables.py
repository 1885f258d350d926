"""Artifact versions and aliases, and paging through stored tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server_helpers import Api, artifact_body, entry, table_blobs

from tablelog import wire
from tablelog_server.config import ServerConfig

COLUMNS = ["id", "label", "score"]


def make_rows(n: int) -> list[list[Any]]:
    return [[i, f"item-{i % 7}", (i * 37) % 101 / 10] for i in range(n)]


async def log_table(api: Api, rows: list[list[Any]], *, name: str = "run-run1-preds",
                    aliases: tuple[str, ...] = (), ids: list[int] | None = None,
                    columns: list[str] = COLUMNS) -> dict[str, Any]:
    blobs, table_entry = table_blobs(columns, rows)
    await api.put_blobs(blobs)
    body = artifact_body(name, {"preds": table_entry}, aliases=aliases)
    (result,) = await api.send([entry("artifact", body)], ids=ids)
    return result


async def test_versions_by_digest_and_alias_moves(api: Api) -> None:
    assert (await log_table(api, make_rows(3), aliases=("best",)))["status"] == "applied"
    assert (await log_table(api, make_rows(4)))["status"] == "applied"
    # The same content again, from a new entry: the same version, no v2.
    assert (await log_table(api, make_rows(3)))["status"] == "applied"

    versions = (await api.get("/api/v1/artifacts/local/proj/run-run1-preds"))["versions"]
    assert [v["version"] for v in versions] == ["v0", "v1"]
    assert versions[0]["aliases"] == ["best", "latest"]  # latest moved back with the re-log
    assert versions[1]["aliases"] == []
    assert {v["type"] for v in versions} == {"run_table"}
    assert all(v["run_id"] == "run1" and v["created"] > 0 for v in versions)

    await log_table(api, make_rows(5), aliases=("best",))
    versions = (await api.get("/api/v1/artifacts/local/proj/run-run1-preds"))["versions"]
    assert [(v["version"], v["aliases"]) for v in versions] == [
        ("v0", []), ("v1", []), ("v2", ["best", "latest"])]

    latest = await api.get("/api/v1/artifacts/local/proj/run-run1-preds/latest")
    by_number = await api.get("/api/v1/artifacts/local/proj/run-run1-preds/v2")
    assert latest == by_number
    assert latest["version"] == "v2" and latest["description"] == "d"
    assert latest["metadata"] == {"m": 1} and latest["type"] == "run_table"
    assert set(latest["entries"]) == {"preds"}
    assert wire.ManifestEntry.from_plain(latest["entries"]["preds"]).kind == "table"
    await api.get("/api/v1/artifacts/local/proj/run-run1-preds/v9", status=404)
    await api.get("/api/v1/artifacts/local/proj/run-run1-preds/nope", status=404)
    await api.get("/api/v1/artifacts/local/proj/run-run1-preds/bad%20alias", status=400)
    await api.get("/api/v1/artifacts/local/proj/unknown", status=404)


async def test_invalid_artifacts_are_rejected(api: Api) -> None:
    blobs, table_entry = table_blobs(COLUMNS, make_rows(2))
    await api.put_blobs(blobs)
    good = artifact_body("arts", {"t": table_entry})
    cases: list[dict[str, Any]] = [
        {**good, "name": "../x"},
        {**good, "type": ""},
        {**good, "digest": "0" * 64},
        {**good, "aliases": ["v3"]},
        {**good, "aliases": "latest"},
        {**good, "entries": {"t": {"kind": "table", "sha256": "nothex", "size": 1}}},
        {**good, "entries": {"t": [1, 2]}},
        {**good, "blobs": ["../etc"]},
    ]
    results = await api.send([entry("artifact", c) for c in cases])
    assert [r["status"] for r in results] == ["rejected"] * len(cases)
    assert (await api.send([entry("artifact", good)]))[0]["status"] == "applied"
    # Another type under the same name is refused, alone.
    other_type = {**artifact_body("arts", {"u": table_entry}), "type": "dataset"}
    results = await api.send([entry("artifact", other_type),
                              entry("history", {"step": 0, "row": {}})])
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert "type" in results[0]["reason"]


async def test_table_pages_read_only_the_chunks_they_need(
        api: Api, server_config: ServerConfig) -> None:
    rows = make_rows(20 * wire.CHUNK_ROWS + 100)
    await log_table(api, rows)
    path = "/api/v1/tables/local/proj/run-run1-preds/latest/preds"
    page = await api.get(path, offset=0, limit=5)
    assert page["columns"] == COLUMNS and page["nrows"] == len(rows) and page["offset"] == 0
    assert page["rows"] == rows[:5]
    assert page["column_types"] == [{"type": "any"}] * 3

    # Delete every chunk blob but the two covering the page: it must still be served.
    _, table_entry = table_blobs(COLUMNS, rows)
    offset = 3 * wire.CHUNK_ROWS + 500
    keep = set(table_entry.blobs[3:5])
    blob_dir = Path(server_config.data_dir) / "blobs"
    for sha in set(table_entry.blobs) - keep:
        (blob_dir / sha[:2] / sha[2:]).unlink()
    page = await api.get(path, offset=offset, limit=20)
    assert page["rows"] == rows[offset:offset + 20]
    # A page that needs a deleted chunk is not served from nowhere.
    await api.get(path, offset=0, limit=1, status=404)


async def test_table_paging_edges_and_limits(api: Api) -> None:
    rows = make_rows(2 * wire.CHUNK_ROWS + 3)
    await log_table(api, rows)
    path = "/api/v1/tables/local/proj/run-run1-preds/v0/preds"
    assert (await api.get(path, offset=len(rows) - 2))["rows"] == rows[-2:]
    assert (await api.get(path, offset=len(rows) + 10))["rows"] == []
    assert len((await api.get(path))["rows"]) == 1000
    assert len((await api.get(path, limit=99999))["rows"]) == len(rows)  # clamped to 10000
    await api.get(path, offset=-1, status=400)
    await api.get(path, limit=0, status=400)
    await api.get(path, sort="nope", status=400)
    await api.get("/api/v1/tables/local/proj/run-run1-preds/v0/other", status=404)
    await api.get("/api/v1/tables/local/proj/run-run1-preds/v7/preds", status=404)


async def test_table_sort_desc_and_search(api: Api) -> None:
    rows = make_rows(3 * wire.CHUNK_ROWS)
    rows[5][2] = None
    rows[6][2] = float("nan")
    await log_table(api, rows)
    path = "/api/v1/tables/local/proj/run-run1-preds/latest/preds"

    def key(r: list[Any]) -> float:
        return r[2]

    present = [r for r in rows if r[2] is not None and r[2] == r[2]]
    asc = sorted(present, key=key)
    page = await api.get(path, sort="score", limit=50)
    assert page["rows"] == asc[:50] and page["nrows"] == len(rows)
    page = await api.get(path, sort="score", desc="true", limit=50, offset=10)
    assert page["rows"] == sorted(present, key=key, reverse=True)[10:60]
    tail = await api.get(path, sort="score", offset=len(rows) - 2)
    assert [r[0] for r in tail["rows"]] == [5, 6]  # empty cells last

    page = await api.get(path, q="ITEM-3", limit=10000)
    expected = [r for r in rows if r[1] == "item-3"]
    assert page["nrows"] == len(expected) and page["rows"] == expected
    page = await api.get(path, q="item-3", sort="id", desc=1, limit=3)
    assert page["rows"] == expected[::-1][:3]
    assert (await api.get(path, q="no such text"))["rows"] == []


async def test_table_cells_are_jsonable(api: Api) -> None:
    media = wire.MediaRef("image", "ab" * 32, 3, {"caption": "cat"})
    rows = [[media, {"nested": [1, 2]}, float("inf")]]
    await log_table(api, rows, columns=["img", "obj", "x"])
    page = await api.get("/api/v1/tables/local/proj/run-run1-preds/latest/preds")
    assert page["rows"] == [[media.to_dict(), {"nested": [1, 2]}, None]]
    assert (await api.get("/api/v1/tables/local/proj/run-run1-preds/latest/preds",
                          q="cat"))["nrows"] == 1


async def test_non_table_entry_and_unreadable_table(api: Api) -> None:
    image = b"\x89PNG\r\n\x1a\n fake"
    sha = await api.put_blob(image)
    junk = await api.put_blob(b"not a manifest")
    entries = {"pic": wire.ManifestEntry("image", sha, len(image)),
               "broken": wire.ManifestEntry("table", junk, 14)}
    await api.send([entry("artifact", artifact_body("mixed", entries, type_="dataset"))])
    await api.get("/api/v1/tables/local/proj/mixed/latest/pic", status=422)
    await api.get("/api/v1/tables/local/proj/mixed/latest/broken", status=422)


async def test_a_200k_row_table_pages_and_sorts(api: Api) -> None:
    n = 200_000  # Table.MAX_ARTIFACT_ROWS
    rows = [[i, f"r{i % 977}", (i * 7919) % n] for i in range(n)]
    await log_table(api, rows, name="big")
    path = "/api/v1/tables/local/proj/big/latest/preds"
    page = await api.get(path, offset=n - 3, limit=10)
    assert page["nrows"] == n and page["rows"] == rows[-3:]
    top = await api.get(path, sort="score", desc="yes", limit=3)
    assert [r[2] for r in top["rows"]] == [n - 1, n - 2, n - 3]
