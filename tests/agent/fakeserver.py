"""A small in-process stand-in for the backend, for agent tests of cases the real
server cannot be made to produce on demand (a whole-batch 400 or 413, a 401).

It follows the HTTP contract of docs/architecture.md closely enough for the
agent: blobs (missing / PUT with hash check), batches (idempotent by
(entity, queue_id, id), as the real server; missing_blobs then deferred per run,
rejected entries), and a history read-back. Everything lives in memory; `requests` logs every call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgpack
from aiohttp import web

from tablelog import wire

MSGPACK = "application/msgpack"
ENTITY = "local"


@dataclass
class FakeBackend:
    api_key: str  # the key of entity ENTITY
    max_body: int = 64 << 20
    other_keys: dict[str, str] = field(default_factory=dict)  # more keys: key -> entity
    blobs: dict[str, bytes] = field(default_factory=dict)
    applied: set[tuple[str, str, int]] = field(default_factory=set)  # (entity, queue, id)
    history: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    reject_runs: set[str] = field(default_factory=set)  # run ids whose entries are rejected

    def entity_for(self, authorization: str | None) -> str | None:
        """The entity of an Authorization header's key, or None when it is unknown."""
        keys = {self.api_key: ENTITY, **self.other_keys}
        scheme, _, key = (authorization or "").partition(" ")
        return keys.get(key) if scheme == "Bearer" else None


def _answer(request: web.Request, obj: Any, status: int = 200) -> web.Response:
    if request.headers.get("Accept") == MSGPACK:
        return web.Response(body=msgpack.packb(obj), status=status, content_type=MSGPACK)
    return web.Response(text=json.dumps(obj), status=status, content_type="application/json")


def _body(request: web.Request, raw: bytes) -> Any:
    if request.content_type == MSGPACK:
        return msgpack.unpackb(raw, raw=False)
    return json.loads(raw)


def create_app(backend: FakeBackend) -> web.Application:
    @web.middleware
    async def auth_and_log(request: web.Request, handler: Any) -> web.StreamResponse:
        status = 500
        try:
            if request.path != "/healthz" and (
                    backend.entity_for(request.headers.get("Authorization")) is None):
                status = 401
                return _answer(request, {"error": "bad key"}, 401)
            if (request.content_length or 0) > backend.max_body:
                status = 413
                return _answer(request, {"error": "request body too large"}, 413)
            response = await handler(request)
            status = response.status
            return response
        finally:
            backend.requests.append((request.method, request.path, status))

    async def healthz(request: web.Request) -> web.Response:
        return _answer(request, {"ok": True})

    async def missing(request: web.Request) -> web.Response:
        shas = _body(request, await request.read())["sha256"]
        return _answer(request, {"missing": [s for s in shas if s not in backend.blobs]})

    async def put_blob(request: web.Request) -> web.Response:
        sha = request.match_info["sha"]
        data = await request.read()
        if hashlib.sha256(data).hexdigest() != sha:
            return _answer(request, {"error": "wrong hash"}, 400)
        backend.blobs[sha] = data
        return _answer(request, {"sha256": sha, "size": len(data)}, 201)

    async def batches(request: web.Request) -> web.Response:
        try:
            batch = wire.decode_batch(await request.read())
        except wire.WireError as exc:
            return _answer(request, {"error": str(exc)}, 400)
        results = []
        blocked: set[str] = set()
        entity = backend.entity_for(request.headers.get("Authorization"))
        assert entity is not None  # the middleware let only known keys through
        for entry_id, data in batch.entries:
            key = (entity, batch.queue_id, entry_id)
            if key in backend.applied:
                results.append({"id": entry_id, "status": "duplicate"})
                continue
            try:
                entry = wire.decode_entry(data)
            except (wire.WireError, TypeError) as exc:
                results.append({"id": entry_id, "status": "rejected", "reason": str(exc)})
                continue
            run = f"{entry.project}/{entry.run_id}"
            if entry.run_id in backend.reject_runs:
                results.append({"id": entry_id, "status": "rejected", "reason": "run refused"})
                continue
            if run in blocked:
                results.append({"id": entry_id, "status": "deferred"})
                continue
            need = entry.body.get("blobs", []) if entry.kind == wire.Kind.ARTIFACT else []
            lacking = [s for s in need if s not in backend.blobs]
            if lacking:
                blocked.add(run)
                results.append({"id": entry_id, "status": "missing_blobs", "missing": lacking})
                continue
            backend.applied.add(key)
            if entry.kind == wire.Kind.HISTORY:
                row = {"_step": entry.body["step"], **entry.body["row"]}
                backend.history.setdefault((entry.project, entry.run_id), []).append(row)
            elif entry.kind == wire.Kind.ARTIFACT:
                backend.artifacts.append(entry.body)
            results.append({"id": entry_id, "status": "applied"})
        return _answer(request, {"results": results})

    app = web.Application(middlewares=[auth_and_log], client_max_size=1 << 30)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/v1/blobs/missing", missing)
    app.router.add_put("/api/v1/blobs/{sha}", put_blob)
    app.router.add_post("/api/v1/batches", batches)
    return app


async def serve(backend: FakeBackend) -> AsyncIterator[str]:
    """Run the fake on 127.0.0.1 (an async generator for fixtures); yields its URL."""
    runner = web.AppRunner(create_app(backend))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
