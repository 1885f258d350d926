"""The web viewer: server-rendered HTML pages over the same stores as the API.

| path | page |
|---|---|
| ``/login`` (GET, POST), ``/logout`` (POST) | the login form; a session cookie (public) |
| ``/static/…`` | the stylesheet and the small script (public) |
| ``/`` | the entity's projects |
| ``/p/{entity}/{project}`` | its runs (name, state, start, summary), tables by key, artifacts |
| ``/p/{entity}/{project}/runs/{run_id}`` | config, summary, metric charts, tables |
| ``/p/{entity}/{project}/artifacts/{name}`` | versions and aliases |
| ``/p/{entity}/{project}/artifacts/{name}/{version}`` | one version's entries |
| ``/p/{entity}/{project}/tables/{name}/{version}/{entry}`` | a table or joined table |
| ``/p/{entity}/{project}/keys/{key}`` | a key across runs or versions: merged, side, grouped |
| ``/blobs/{sha256}`` | media for the pages (images, audio, video), the entity's own only |

No template engine and no JavaScript framework: pages are built by small
functions (`viewer.html` escapes everything that is not markup they made), the
only script is a static file, and every page has a strict
Content-Security-Policy. Access rules are in `viewer.access`; every route but
the public ones is registered through `viewer_page`, and named ``viewer.*`` so
the API key middleware leaves it to the viewer (`tablelog_server.auth`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from tablelog_server.api import serve_blob
from tablelog_server.errors import NotFoundError
from tablelog_server.state import TABLES
from tablelog_server.table_views import Views
from tablelog_server.viewer import keys, pages, table_page
from tablelog_server.viewer.access import (
    SESSIONS,
    SessionStore,
    login,
    login_form,
    logout,
    viewer_page,
)
from tablelog_server.viewer.joins import Joiner

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


class StaticFiles(web.StaticResource):
    """The viewer's static files. A name that is not one of them is a `NotFoundError`
    (the JSON or HTML error every route answers): aiohttp's own static route answers
    an empty 404 that no middleware sees."""

    def __init__(self, prefix: str, directory: Path, *, name: str) -> None:
        super().__init__(prefix, directory, name=name)
        self.files = frozenset(p.name for p in directory.iterdir() if p.is_file())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        filename = request.match_info["filename"]
        if filename not in self.files:
            raise NotFoundError(f"no static file {filename!r}")
        return await super()._handle(request)


async def _blob(request: web.Request, entity: str) -> web.StreamResponse:
    """A blob for a page (an image, a clip), for a logged-in session: only one its
    entity holds (404 otherwise, as for a blob never stored)."""
    return await serve_blob(request, entity)


async def _joiner(app: web.Application) -> AsyncIterator[None]:
    """The joiner needs the table reader, which exists once the stores are open."""
    app[table_page.JOINER] = Joiner(app[TABLES])
    app[keys.VIEWS] = Views(app[TABLES])
    yield


def add_viewer_routes(app: web.Application, *, sessions: SessionStore | None = None) -> None:
    """Register the viewer's pages on `app` (after the stores' cleanup context)."""
    app[SESSIONS] = sessions if sessions is not None else SessionStore()
    app.cleanup_ctx.append(_joiner)
    add = app.router.add_get
    add("/login", login_form, name="viewer.login")
    app.router.add_post("/login", login, name="viewer.login")
    app.router.add_post("/logout", logout, name="viewer.logout")
    app.router.register_resource(StaticFiles("/static", STATIC_DIR, name="viewer.static"))
    add("/", viewer_page(pages.home), name="viewer.home")
    add("/blobs/{sha256}", viewer_page(_blob), name="viewer.blob")
    base = "/p/{entity}/{project}"
    add(base, viewer_page(pages.project), name="viewer.project")
    add(f"{base}/runs/{{run_id}}", viewer_page(pages.run), name="viewer.run")
    add(f"{base}/artifacts/{{name}}", viewer_page(pages.artifact), name="viewer.artifact")
    add(f"{base}/artifacts/{{name}}/{{version}}", viewer_page(pages.artifact_version),
        name="viewer.artifact_version")
    add(f"{base}/tables/{{name}}/{{version}}/{{entry:.+}}", viewer_page(table_page.table),
        name="viewer.table")
    add(f"{base}/keys/{{key:.+}}", viewer_page(keys.key_page), name="viewer.key")
