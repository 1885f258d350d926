"""`Site`: an in-process server seeded with `hostile_values.seed_plan()`, logged in
to the viewer, that requests any route as a browser (viewer pages) or as a
script with the API key (API routes)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from hostile_values import (
    HTML_ACCEPT,
    SERVER_PACKAGE,
    Answer,
    RouteTemplate,
    query_names,
    route_templates,
    seed_plan,
)
from server_helpers import API_KEY


class Site:
    """The seeded application behind `client`."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {API_KEY}"}
        self.routes: list[RouteTemplate] = route_templates(client.server.app)  # type: ignore[union-attr]
        self.query_names = query_names(SERVER_PACKAGE)
        self.cookie = ""

    async def seed(self) -> None:
        """Upload the plan's blobs, send its entries (all must be applied), log in."""
        plan = seed_plan()
        for sha, data in plan.blobs.items():
            resp = await self.client.put(f"/api/v1/blobs/{sha}", data=data, headers=self.auth)
            assert resp.status == 201, await resp.text()
        resp = await self.client.post("/api/v1/batches", data=plan.batch(), headers={
            **self.auth, "Content-Type": "application/msgpack"})
        results = (await resp.json())["results"]
        assert resp.status == 200 and all(r["status"] == "applied" for r in results), results
        resp = await self.client.post("/login", data={"api_key": API_KEY, "next": "/"},
                                      allow_redirects=False, headers={"Accept": HTML_ACCEPT})
        assert resp.status == 303, await resp.text()
        self.cookie = resp.cookies["tablelog_session"].value

    async def request(self, route: RouteTemplate, path: str,
                      params: dict[str, str] | None = None) -> Answer:
        """`route` at `path`: viewer pages with the session as a browser, the rest with
        the key. Writes get an empty body; logout goes without the session (it would
        end it)."""
        headers: dict[str, str] = {}
        if route.viewer:
            headers["Accept"] = HTML_ACCEPT
            if route.name != "viewer.logout":
                headers["Cookie"] = f"tablelog_session={self.cookie}"
        else:
            headers.update(self.auth)
        resp = await self.client.request(route.method, path, params=params or {},
                                         headers=headers, allow_redirects=False, data=b"")
        body = await resp.read()
        return Answer(resp.status, resp.content_type, body)

    async def get(self, path: str, **params: str) -> Answer:
        """GET a viewer page (a path starting with /p/ or /) or an API route."""
        api = path.startswith("/api/")
        route = RouteTemplate("GET", path, "api" if api else "viewer.page")
        return await self.request(route, path, params)
