"""Blob upload, download, existence queries and size limits."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from aiohttp.test_utils import TestClient
from server_helpers import API_KEY, Api

from tablelog_server.app import create_app
from tablelog_server.blobs import sniff_content_type
from tablelog_server.config import ServerConfig


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_put_get_roundtrip_and_missing(api: Api, server_config: ServerConfig) -> None:
    data = bytes(range(256)) * 1500  # > one read chunk (256 KiB)
    other = sha(b"never uploaded")
    body = await api.client.post("/api/v1/blobs/missing", headers=api.headers,
                                 json={"sha256": [sha(data), other, sha(data)]})
    assert await body.json() == {"missing": [sha(data), other]}

    resp = await api.client.put(f"/api/v1/blobs/{sha(data)}", data=data, headers=api.headers)
    assert resp.status == 201
    assert await resp.json() == {"sha256": sha(data), "size": len(data)}
    stored = server_config.data_dir / "blobs" / sha(data)[:2] / sha(data)[2:]
    assert stored.read_bytes() == data

    resp = await api.client.get(f"/api/v1/blobs/{sha(data)}", headers=api.headers)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["Content-Type"] == "application/octet-stream"
    assert resp.headers["Content-Length"] == str(len(data))
    assert resp.headers["X-Content-Type-Options"] == "nosniff"

    resp = await api.client.head(f"/api/v1/blobs/{sha(data)}", headers=api.headers)
    assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data))

    # msgpack request body, msgpack answer
    resp = await api.client.post(
        "/api/v1/blobs/missing", data=msgpack.packb({"sha256": [sha(data), other]}),
        headers={**api.headers, "Content-Type": "application/msgpack",
                 "Accept": "application/msgpack"})
    assert msgpack.unpackb(await resp.read()) == {"missing": [other]}

    # Uploading the same blob again is fine.
    assert await api.put_blob(data) == sha(data)
    await api.get(f"/api/v1/blobs/{other}", status=404)


async def test_wrong_hash_is_400_and_nothing_is_stored(api: Api,
                                                       server_config: ServerConfig) -> None:
    claimed = sha(b"the real content")
    resp = await api.client.put(f"/api/v1/blobs/{claimed}", data=b"something else",
                                headers=api.headers)
    assert resp.status == 400
    assert sha(b"something else") in (await resp.json())["error"]
    blob_dir = server_config.data_dir / "blobs"
    assert not (blob_dir / claimed[:2]).exists()
    assert list((blob_dir / "tmp").iterdir()) == []
    resp = await api.client.post("/api/v1/blobs/missing", headers=api.headers,
                                 json={"sha256": [claimed]})
    assert (await resp.json())["missing"] == [claimed]


@pytest.mark.parametrize(("head", "content_type"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"GIF89a....", "image/gif"),
    (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    (b"  <!DOCTYPE html><p>x", "text/html; charset=utf-8"),
    (b"<HTML><body>", "text/html; charset=utf-8"),
    (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
    (b"plain bytes", "application/octet-stream"),
    (b"", "application/octet-stream"),
])
def test_sniffing(head: bytes, content_type: str) -> None:
    assert sniff_content_type(head) == content_type


async def test_served_content_type_is_sniffed_and_html_sandboxed(api: Api) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    html = b"<!doctype html><script>alert(1)</script>"
    for data, content_type in ((png, "image/png"), (html, "text/html")):
        digest = await api.put_blob(data)
        resp = await api.client.get(f"/api/v1/blobs/{digest}", headers=api.headers)
        assert resp.content_type == content_type
        assert await resp.read() == data
        assert resp.headers["Content-Security-Policy"] == "sandbox"


@pytest.fixture
async def small_client(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    config = ServerConfig(data_dir=tmp_path / "small", api_keys={API_KEY: "local"},
                          max_body_bytes=1000, max_blob_bytes=2000)
    return await aiohttp_client(create_app(config))  # type: ignore[no-any-return]


async def test_size_limits_are_413(small_client: TestClient[Any, Any], tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    big = b"x" * 2001
    resp = await small_client.put(f"/api/v1/blobs/{sha(big)}", data=big, headers=headers)
    assert resp.status == 413 and "error" in await resp.json()

    async def chunked() -> Any:  # no Content-Length: the limit holds while streaming
        for _ in range(3):
            yield b"y" * 1000

    resp = await small_client.put(f"/api/v1/blobs/{sha(b'y' * 3000)}", data=chunked(),
                                  headers=headers)
    assert resp.status == 413
    assert list((tmp_path / "small" / "blobs" / "tmp").iterdir()) == []

    ok = b"z" * 2000
    resp = await small_client.put(f"/api/v1/blobs/{sha(ok)}", data=ok, headers=headers)
    assert resp.status == 201

    body = json.dumps({"sha256": [sha(b"a")] * 30}).encode()
    resp = await small_client.post("/api/v1/blobs/missing", data=body, headers=headers)
    assert resp.status == 413
    resp = await small_client.post("/api/v1/batches", data=b"\x00" * 1001, headers=headers)
    assert resp.status == 413
    # still serving
    assert (await small_client.get("/api/v1/whoami", headers=headers)).status == 200


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'{"sha256": "ab"}',
                                  b'{"sha256": ["AB"]}', b'{"sha256": [1]}', b"\xff\xfe"])
async def test_malformed_missing_queries_are_400(api: Api, body: bytes) -> None:
    resp = await api.client.post("/api/v1/blobs/missing", data=body, headers=api.headers)
    assert resp.status == 400, await resp.text()
