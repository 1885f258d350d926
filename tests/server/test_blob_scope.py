"""Blobs are stored once per hash but read per entity: a key reads (and `missing`
reports) only the blobs its own entity uploaded, whatever another entity stored
(issue 13, point 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from server_helpers import (
    OTHER_KEY,
    Api,
    artifact_body,
    entry,
    run_body,
    table_blobs,
)

from tablelog import wire
from tablelog_server.config import ServerConfig

IMAGE = b"\x89PNG\r\n\x1a\n" + b"the pixels of local's private image" * 50
NEVER = wire.sha256_hex(b"a blob nobody ever uploaded")
HTML = {"Accept": "text/html"}


async def _log_local_data(api: Api) -> tuple[str, dict[str, bytes], wire.ManifestEntry]:
    """`local` logs a run with an image in its history and a table with an image cell:
    the image's address, the table's blobs and its manifest entry."""
    image = await api.put_blob(IMAGE)
    ref = wire.MediaRef("image", image, len(IMAGE), {"width": 1, "height": 1})
    blobs, table = table_blobs(["id", "img"], [[i, ref] for i in range(3)])
    table = wire.ManifestEntry(table.kind, table.sha256, table.size, table.meta,
                               (*table.blobs, image))
    await api.put_blobs(blobs)
    results = await api.send([
        entry("run", run_body()), entry("history", {"step": 0, "row": {"img": ref}}),
        entry("artifact", artifact_body("preds", {"t": table}))])
    assert [r["status"] for r in results] == ["applied"] * 3, results
    return image, blobs, table


async def _missing(api: Api, shas: list[str]) -> list[str]:
    resp = await api.client.post("/api/v1/blobs/missing", headers=api.headers,
                                 json={"sha256": shas})
    assert resp.status == 200
    missing: list[str] = (await resp.json())["missing"]
    return missing


async def _status(client: TestClient[Any, Any], method: str, path: str,
                  headers: dict[str, str]) -> tuple[int, str]:
    resp = await client.request(method, path, headers=headers)
    return resp.status, (await resp.read()).decode(errors="replace")


async def _blob_answers(api: Api, sha: str) -> list[tuple[int, str]]:
    """What every route that serves a blob by its address answers this key, with the
    address taken out of the text (so two addresses' answers can be compared)."""
    auth = api.headers
    answers = [await _status(api.client, method, path, headers)
               for method, path, headers in [
                   ("GET", f"/api/v1/blobs/{sha}", auth),
                   ("HEAD", f"/api/v1/blobs/{sha}", auth),
                   ("GET", f"/blobs/{sha}", auth),
                   ("HEAD", f"/blobs/{sha}", auth),
                   ("GET", f"/blobs/{sha}", {**auth, **HTML})]]
    return [(status, text.replace(sha, "<sha>")) for status, text in answers]


async def test_another_entity_cannot_read_a_blob_by_its_hash(api: Api, other_api: Api) -> None:
    image, blobs, _table = await _log_local_data(api)
    for sha in [image, *blobs]:
        answers = await _blob_answers(other_api, sha)
        assert [s for s, _ in answers] == [404] * 5, (sha, answers)
        # Word for word what a hash nobody stored gets: existence is not confirmed.
        assert answers == await _blob_answers(other_api, NEVER)
    assert await _missing(other_api, [image, *blobs, NEVER]) == [image, *blobs, NEVER]
    # `local` is unaffected.
    assert [s for s, _ in await _blob_answers(api, image)] == [200] * 5
    assert await _missing(api, [image, *blobs, NEVER]) == [NEVER]


async def test_a_logged_in_session_of_another_entity_gets_404(
        client: TestClient[Any, Any], api: Api) -> None:
    image, _, _ = await _log_local_data(api)
    resp = await client.post("/login", data={"api_key": OTHER_KEY, "next": "/"},
                             allow_redirects=False, headers=HTML)
    assert resp.status == 303
    token = resp.cookies["tablelog_session"].value
    client.session.cookie_jar.clear()
    cookie = {"Cookie": f"tablelog_session={token}", **HTML}
    assert (await client.get(f"/blobs/{image}", headers=cookie)).status == 404
    assert (await client.get(f"/blobs/{NEVER}", headers=cookie)).status == 404


async def test_uploading_the_same_bytes_is_deduplicated_and_then_readable(
        api: Api, other_api: Api, server_config: ServerConfig) -> None:
    image, _, _ = await _log_local_data(api)
    stored = server_config.data_dir / "blobs" / image[:2] / image[2:]
    before = os.stat(stored)
    assert await other_api.put_blob(IMAGE) == image
    after = os.stat(stored)
    # The file `local` uploaded is kept as it was: one file per hash on disk.
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in stored.parent.iterdir()) == [image[2:]]
    assert await _missing(other_api, [image]) == []
    resp = await other_api.client.get(f"/api/v1/blobs/{image}", headers=other_api.headers)
    assert resp.status == 200 and await resp.read() == IMAGE
    resp = await other_api.client.get(f"/blobs/{image}", headers=other_api.headers)
    assert resp.status == 200 and await resp.read() == IMAGE
    assert [s for s, _ in await _blob_answers(api, image)] == [200] * 5


async def test_bytes_that_do_not_match_grant_nothing(api: Api, other_api: Api) -> None:
    image, _, _ = await _log_local_data(api)
    resp = await other_api.client.put(f"/api/v1/blobs/{image}", data=b"a guess",
                                      headers=other_api.headers)
    assert resp.status == 400
    assert await _missing(other_api, [image]) == [image]
    assert [s for s, _ in await _blob_answers(other_api, image)] == [404] * 5


async def test_an_entry_cannot_claim_another_entitys_blob_by_naming_it(
        api: Api, other_api: Api) -> None:
    image, blobs, table = await _log_local_data(api)
    ref = wire.MediaRef("image", image, len(IMAGE), {})
    never = wire.MediaRef("image", NEVER, 1, {})
    results = await other_api.send([
        entry("run", run_body()),
        entry("artifact", artifact_body("stolen", {"t": table})),
        entry("history", {"step": 0, "row": {"img": ref}}, run_id="run2"),
        entry("history", {"step": 0, "row": {"img": never}}, run_id="run3"),
        entry("summary", {"summary": {"nested": [{"img": ref}]}}, run_id="run4")])
    assert [r["status"] for r in results] == ["applied"] + ["missing_blobs"] * 4, results
    assert sorted(results[1]["missing"]) == sorted(wire.artifact_blobs({"t": table}))
    assert results[2]["missing"] == [image] and results[3]["missing"] == [NEVER]
    assert results[4]["missing"] == [image]
    # Nothing was stored for `other`, and nothing became readable.
    assert await other_api.get("/api/v1/artifacts/other/proj/stolen", status=404)
    assert (await other_api.get("/api/v1/runs/other/proj/run1/history"))["rows"] == []
    assert [s for s, _ in await _blob_answers(other_api, image)] == [404] * 5

    # With the bytes uploaded (as the agent does on `missing_blobs`) the entries apply.
    await other_api.put_blobs({image: IMAGE, **blobs})
    again = await other_api.send([
        entry("artifact", artifact_body("stolen", {"t": table})),
        entry("history", {"step": 0, "row": {"img": ref}}, run_id="run2")])
    assert [r["status"] for r in again] == ["applied"] * 2, again
    page = await other_api.get("/api/v1/tables/other/proj/stolen/latest/t")
    assert page["nrows"] == 3


async def test_a_table_reads_only_chunks_its_entity_holds(
        api: Api, other_api: Api) -> None:
    """A manifest of `other`'s own that points at `local`'s chunks (whose addresses it
    learnt somehow) must not read them, even if the artifact does not list them."""
    _, blobs, table = await _log_local_data(api)
    local_manifest = wire.TableManifest.from_bytes(blobs[table.sha256])
    forged = wire.TableManifest(["id", "img"], [{"type": "any"}] * 2, local_manifest.chunks)
    data = forged.to_bytes()
    manifest_sha = await other_api.put_blob(data)
    lying = wire.ManifestEntry("table", manifest_sha, len(data), {"nrows": 3}, ())
    results = await other_api.send([entry("run", run_body()),
                                    entry("artifact", artifact_body("forged", {"t": lying}))])
    assert [r["status"] for r in results] == ["applied"] * 2, results
    for path in ("/api/v1/tables/other/proj/forged/latest/t",
                 "/api/v1/tables/other/proj/forged/latest/t?sort=id",
                 "/p/other/proj/tables/forged/latest/t"):
        resp = await other_api.client.get(path, headers=other_api.headers)
        assert resp.status == 404, (path, resp.status, await resp.text())
        assert local_manifest.chunks[0].sha256 not in await resp.text()
    # `local`'s own table still reads.
    assert (await api.get("/api/v1/tables/local/proj/preds/latest/t"))["nrows"] == 3


async def test_holding_is_recorded_once_per_entity(api: Api, other_api: Api,
                                                  server_config: ServerConfig) -> None:
    """Uploading again (the agent retrying) neither duplicates files nor fails."""
    for _ in range(2):
        await api.put_blob(IMAGE)
        await other_api.put_blob(IMAGE)
    sha = wire.sha256_hex(IMAGE)
    root = server_config.data_dir / "blobs"
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    assert files == [Path(sha[:2]) / sha[2:]]
    assert await _missing(api, [sha]) == [] and await _missing(other_api, [sha]) == []
