"""Builders shared by the server tests: entries, batches, tables, and `Api`, a
thin authenticated client over an in-process test server."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp.test_utils import TestClient

from tablelog import wire

API_KEY = "test-key-0123456789"  # the same key as tests/conftest.py's live_server
OTHER_KEY = "other-key-9876543210"
ENTITY = "local"
OTHER_ENTITY = "other"


def entry(kind: str, body: dict[str, Any], *, project: str = "proj", run_id: str = "run1",
          entity: str | None = None) -> bytes:
    """Wire bytes of one queue entry."""
    return wire.encode_entry(wire.Kind(kind), entity=entity, project=project, run_id=run_id,
                             body=body)


def run_body(**overrides: Any) -> dict[str, Any]:
    """A `run` entry body."""
    body: dict[str, Any] = {"name": "my run", "config": {"lr": 0.1}, "tags": ["a"],
                            "notes": None, "job_type": "train", "started_at": 1000.0,
                            "resumed": False}
    body.update(overrides)
    return body


def table_blobs(columns: list[str], rows: Sequence[Sequence[Any]]) -> tuple[dict[str, bytes],
                                                                            wire.ManifestEntry]:
    """Every blob of a table (manifest first, then chunks) and its manifest entry."""
    chunks: dict[str, bytes] = {}
    refs = []
    for start in range(0, len(rows), wire.CHUNK_ROWS):
        data = wire.encode_rows(rows[start:start + wire.CHUNK_ROWS])
        sha = wire.sha256_hex(data)
        chunks[sha] = data
        refs.append(wire.ChunkRef(sha, len(rows[start:start + wire.CHUNK_ROWS]), len(data)))
    manifest = wire.TableManifest(columns, [{"type": "any"} for _ in columns], refs)
    data = manifest.to_bytes()
    sha = wire.sha256_hex(data)
    entry_ = wire.ManifestEntry("table", sha, len(data), {"nrows": len(rows)},
                                tuple(chunks))
    return {sha: data, **chunks}, entry_


def artifact_body(name: str, entries: dict[str, wire.ManifestEntry], *,
                  type_: str = "run_table", aliases: Sequence[str] = ()) -> dict[str, Any]:
    """An `artifact` entry body for `entries`, with the digest and blob list filled in."""
    return {"name": name, "type": type_, "description": "d", "metadata": {"m": 1},
            "aliases": list(aliases), "digest": wire.artifact_digest(entries),
            "entries": {k: e.to_plain() for k, e in entries.items()},
            "blobs": wire.artifact_blobs(entries)}


class Api:
    """A thin client over an in-process test server, authenticated with one key."""

    def __init__(self, client: TestClient[Any, Any], key: str = API_KEY) -> None:
        self.client = client
        self.key = key
        self.headers = {"Authorization": f"Bearer {key}"}
        self._next_id = 1

    async def get(self, path: str, *, status: int = 200, **params: Any) -> Any:
        """GET a JSON answer and check its status."""
        resp = await self.client.get(path, headers=self.headers,
                                     params={k: str(v) for k, v in params.items()})
        body = await resp.json()
        assert resp.status == status, body
        return body

    async def put_blob(self, data: bytes) -> str:
        """Upload a blob; its sha256."""
        sha = wire.sha256_hex(data)
        resp = await self.client.put(f"/api/v1/blobs/{sha}", data=data, headers=self.headers)
        assert resp.status == 201, await resp.text()
        return sha

    async def put_blobs(self, blobs: dict[str, bytes]) -> None:
        """Upload several blobs, a few at a time."""
        pending = list(blobs.values())
        for start in range(0, len(pending), 8):
            await asyncio.gather(*(self.put_blob(d) for d in pending[start:start + 8]))

    async def send(self, entries: Sequence[bytes], *, queue_id: str = "queue-1",
                   ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """POST a batch; the results. Ids continue from the previous batch unless given."""
        if ids is None:
            ids = list(range(self._next_id, self._next_id + len(entries)))
        self._next_id = max([self._next_id - 1, *ids]) + 1
        resp = await self.client.post("/api/v1/batches",
                                      data=wire.encode_batch(queue_id, zip(ids, entries,
                                                                           strict=True)),
                                      headers={**self.headers,
                                               "Content-Type": "application/msgpack"})
        body = await resp.json()
        assert resp.status == 200, body
        results: list[dict[str, Any]] = body["results"]
        return results
