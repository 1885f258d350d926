"""Keys, entities, names and paths: every route but /healthz needs a key, a key
touches only its entity, and nothing from a path reaches the filesystem."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from server_helpers import API_KEY, OTHER_KEY, Api, entry, run_body

from tablelog_server.auth import PUBLIC_ROUTES, KeyRing
from tablelog_server.errors import AuthenticationError

SHA = "ab" * 32
PARAM_VALUES = {"entity": "local", "project": "proj", "run_id": "run1", "name": "art",
                "version": "latest", "entry": "preds", "sha256": SHA, "key": "preds"}


def every_route(app: web.Application) -> list[tuple[str, str]]:
    """(method, concrete path) for every registered route, path parameters filled in."""
    routes = []
    for route in app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PARAM_VALUES[m.group(1)], canonical)
        routes.append((route.method, path))
    return routes


async def test_every_route_but_the_public_ones_needs_a_key(client: TestClient[Any, Any]
                                                          ) -> None:
    # The public ones, as docs/architecture.md lists them: nothing else may join them.
    documented = {"/healthz", "/login", "/logout", "/static"}
    assert documented == PUBLIC_ROUTES
    routes = every_route(client.app)
    assert len(routes) >= 14  # the table of docs/architecture.md, plus HEADs
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer wrong-key"},
                        {"Authorization": f"Basic {API_KEY}"},
                        {"Authorization": f"Bearer {API_KEY[:-1]}"},
                        {"Authorization": "Bearer"}):
            resp = await client.request(method, path, headers=headers, data=b"{}")
            if path == "/healthz":
                assert resp.status == 200
                continue
            if path in PUBLIC_ROUTES:  # the viewer's login form and static files: tests/viewer
                continue
            assert resp.status == 401, (method, path, headers)
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            if method != "HEAD":
                assert "error" in await resp.json()


async def test_unknown_paths_need_a_key_before_saying_404(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/v1/secret")).status == 401
    resp = await client.get("/api/v1/secret", headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status == 404 and (await resp.json())["error"]
    resp = await client.delete("/api/v1/projects",
                               headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status == 405 and "GET" in resp.headers["Allow"]


async def test_whoami_and_healthz(api: Api, other_api: Api, client: TestClient[Any, Any]
                                  ) -> None:
    assert await api.get("/api/v1/whoami") == {"entity": "local"}
    assert await other_api.get("/api/v1/whoami") == {"entity": "other"}
    assert await (await client.get("/healthz")).json() == {"ok": True}


async def test_a_key_cannot_touch_another_entity(api: Api, other_api: Api) -> None:
    await api.send([entry("run", run_body()), entry("history", {"step": 0, "row": {}})])
    for path in ("/api/v1/runs/local/proj", "/api/v1/runs/local/proj/run1",
                 "/api/v1/runs/local/proj/run1/history", "/api/v1/artifacts/local/proj/a",
                 "/api/v1/artifacts/local/proj/a/latest",
                 "/api/v1/tables/local/proj/a/latest/t"):
        body = await other_api.get(path, status=403)
        assert "other" in body["error"]
    assert await other_api.get("/api/v1/projects") == {"projects": []}
    # Writing into `local` with other's key: the entry is rejected, nothing changes.
    results = await other_api.send([entry("history", {"step": 1, "row": {}}, entity="local")])
    assert results[0]["status"] == "rejected"
    assert len((await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]) == 1


@pytest.mark.parametrize("path", [
    "/api/v1/blobs/..%2F..%2Fetc%2Fpasswd",
    "/api/v1/blobs/%2E%2E%2Fmetadata.db",
    "/api/v1/blobs/" + "AB" * 32,
    "/api/v1/blobs/" + "ab" * 31,
    "/api/v1/blobs/" + "ab" * 32 + "00",
    "/api/v1/blobs/" + "ab" * 31 + "%2F%2F",
    "/api/v1/blobs/" + "g" * 64,
])
async def test_blob_paths_accept_only_hashes(api: Api, path: str) -> None:
    for method in ("GET", "PUT"):
        resp = await api.client.request(method, path, headers=api.headers, data=b"x")
        assert resp.status == 400, (method, path, await resp.text())


async def test_dot_segments_do_not_escape(api: Api) -> None:
    for path in ("/api/v1/blobs/../../metadata.db", "/api/v1/blobs/%2e%2e/%2e%2e/metadata.db",
                 "/api/v1/runs/local/proj/..%2F..%2Fx", "/api/v1/runs/local/..%2F/run1"):
        resp = await api.client.get(path, headers=api.headers)
        assert resp.status in (400, 404), path
        assert b"SQLite" not in await resp.read()


@pytest.mark.parametrize("path", [
    "/api/v1/runs/local/bad%20name", "/api/v1/runs/local/proj/run%3Bid",  # ; as wandb refuses
    "/api/v1/runs/bad$entity/proj", "/api/v1/artifacts/local/proj/" + "x" * 129,
    "/api/v1/runs/local/proj/r%00n/history"])
async def test_invalid_names_are_400(api: Api, path: str) -> None:
    await api.get(path, status=400)


def test_keyring_compares_every_key() -> None:
    ring = KeyRing({"k1": "a", "k2": "b", "ключ": "c"})
    assert ring.entity_for("Bearer k2") == "b"
    assert ring.entity_for("bearer  k1 ") == "a"
    assert ring.entity_for("Bearer ключ") == "c"
    for header in (None, "", "Bearer", "Bearer k", "Bearer k1k", "Token k1", "Bearer \udcff"):
        with pytest.raises(AuthenticationError):
            ring.entity_for(header)
    assert "k1" not in repr(ring)


async def test_keys_are_not_in_answers_or_config_repr(api: Api, server_config: Any) -> None:
    assert API_KEY not in repr(server_config) and OTHER_KEY not in repr(server_config)
    resp = await api.client.get("/api/v1/whoami", headers={"Authorization": "Bearer nope-key"})
    assert "nope-key" not in await resp.text()
