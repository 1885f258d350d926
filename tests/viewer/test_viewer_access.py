"""Who may see viewer pages: login and logout, the session cookie, entity scoping,
and that nothing from the data ever becomes markup (HTML level; the browser
test checks the same in Chromium)."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tablelog_server.app import create_app
from tablelog_server.config import ServerConfig
from tablelog_server.viewer.access import SessionStore, safe_next
from tests.viewer.dataset import XSS_COLUMN, populate
from tests.viewer.viewer_helpers import (
    API_KEY,
    HTML_ACCEPT,
    OTHER_KEY,
    XSS_IMG,
    XSS_SCRIPT,
    Uploader,
    Viewer,
)

PAGES = ["/", "/p/local/proj", "/p/local/proj/runs/run1", "/p/local/proj/artifacts/pairs",
         "/p/local/proj/artifacts/pairs/v0", "/p/local/proj/artifacts/run-run1-preds/v1",
         "/p/local/proj/tables/run-run1-preds/v1/preds",
         "/p/local/proj/tables/run-run1-preds/v2/preds?since=v1",
         "/p/local/proj/tables/pairs/v0/odd", "/p/local/proj/tables/pairs/v0/both?how=outer"]


async def test_pages_send_browsers_to_login_and_scripts_get_401(
        client: TestClient[Any, Any], viewer: Viewer) -> None:
    resp = await viewer.fetch("/p/local/proj/runs/run1", q="x")
    assert resp.status == 303
    location = urllib.parse.urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    assert urllib.parse.parse_qs(location.query) == {"next": ["/p/local/proj/runs/run1?q=x"]}
    resp = await client.get("/p/local/proj")  # not a browser: the API's answer
    assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
    assert "log in" in (await resp.json())["error"]
    # A script may use its key instead of a session.
    resp = await client.get("/p/local/proj", headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status == 404  # no such project yet, but the key was accepted
    form = await viewer.get("/login", next="/p/local/proj")
    assert 'name="api_key"' in form and 'value="/p/local/proj"' in form
    resp = await client.get("/static/viewer.css")
    assert resp.status == 200 and "text/css" in resp.headers["Content-Type"]


async def test_login_sets_an_httponly_strict_session_cookie_and_logout_ends_it(
        client: TestClient[Any, Any], viewer: Viewer) -> None:
    resp = await viewer.login()
    assert resp.headers["Location"] == "/"
    set_cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert "Path=/" in set_cookie and "Secure" not in set_cookie  # plain http here
    assert viewer.token and API_KEY not in set_cookie and len(viewer.token) >= 40
    page = await viewer.get("/")
    assert "Log out" in page and 'class="who">local<' in page
    resp = await client.post("/logout", headers={"Cookie": f"tablelog_session={viewer.token}"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login"
    assert 'tablelog_session=""' in resp.headers["Set-Cookie"]
    assert (await viewer.fetch("/")).status == 303  # the old token is dead


async def test_a_wrong_key_or_a_foreign_form_does_not_log_in(
        client: TestClient[Any, Any], viewer: Viewer) -> None:
    page = await (await viewer.login("not-a-key", status=401)).text()
    assert "Unknown API key" in page and viewer.token is None
    resp = await client.post("/login", data={"api_key": API_KEY}, allow_redirects=False,
                             headers={"Origin": "https://evil.example"})
    assert resp.status == 403 and "Set-Cookie" not in resp.headers
    resp = await client.post("/login", data={"api_key": API_KEY, "next": "//evil.example/x"},
                             allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    assert [safe_next(t) for t in ("/a?b=1", "//x", "https://x", "/\\x", "", None)] == [
        "/a?b=1", "/", "/", "/", "/", "/"]


async def test_the_cookie_is_secure_over_https(aiohttp_client: Any,
                                               viewer_config: ServerConfig) -> None:
    app = create_app(viewer_config)

    @web.middleware
    async def behind_tls_proxy(request: web.Request, handler: Any) -> web.StreamResponse:
        return await handler(request.clone(scheme="https"))

    app.middlewares.insert(0, behind_tls_proxy)
    client = await aiohttp_client(app)
    resp = await client.post("/login", data={"api_key": API_KEY}, allow_redirects=False)
    assert resp.status == 303 and "Secure" in resp.headers["Set-Cookie"]


async def test_a_session_sees_only_its_own_entity(uploader: Uploader, viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login(OTHER_KEY)
    home = await viewer.get("/")
    assert "Projects of other" in home and "proj" not in home.split("<main>")[1]
    for path in PAGES[1:]:
        page = await viewer.get(path, status=403)
        assert "may not see entity" in page and "run1" not in page.split("<main>")[1]
    await viewer.get("/p/other/proj", status=404)
    await viewer.login(API_KEY)
    for path in PAGES:
        await viewer.get(path)


async def test_sessions_expire_and_are_bounded() -> None:
    now = [0.0]
    store = SessionStore(ttl_s=10, max_sessions=3, clock=lambda: now[0])
    first = store.create("a")
    assert store.entity_for(first) == "a"
    now[0] = 9.0
    assert store.entity_for(first) == "a"  # use slides the expiry
    now[0] = 18.0
    assert store.entity_for(first) == "a"
    now[0] = 40.0
    assert store.entity_for(first) is None and len(store) == 0
    tokens = [store.create(f"e{i}") for i in range(4)]
    assert store.entity_for(tokens[0]) is None and store.entity_for(tokens[3]) == "e3"
    assert len(store) == 3 and store.entity_for("forged") is None and store.entity_for(None) is None
    store.end(tokens[3])
    assert store.entity_for(tokens[3]) is None


def _no_markup_from_data(page: str) -> None:
    assert XSS_SCRIPT not in page and XSS_IMG not in page and XSS_COLUMN not in page
    assert "onerror=alert" not in page.replace("onerror=alert(1)&gt;", "")
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts == ['<script src="/static/viewer.js" defer>']
    assert " style=" not in page and "javascript:" not in page


async def test_cells_names_captions_and_config_show_as_text(uploader: Uploader,
                                                            viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login()
    for path in PAGES:
        _no_markup_from_data(await viewer.get(path))
    table = await viewer.get("/p/local/proj/tables/run-run1-preds/v1/preds")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert "&lt;img src=x onerror=alert(1)&gt;" in table  # the cell and the caption
    assert 'alt="&lt;img src=x onerror=alert(1)&gt;"' in table
    run = await viewer.get("/p/local/proj/runs/run1")
    assert "run &lt;script&gt;alert(1)&lt;/script&gt;" in run  # the run's name
    odd = await viewer.get("/p/local/proj/tables/pairs/v0/odd")
    assert "&lt;b&gt;bold&lt;/b&gt;" in odd  # a column name


async def test_pages_carry_a_strict_content_security_policy(uploader: Uploader,
                                                            viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login()
    for path in [*PAGES, "/login"]:
        resp = await viewer.fetch(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "no-store"


async def test_every_viewer_page_needs_a_session(client: TestClient[Any, Any],
                                                 viewer: Viewer) -> None:
    values = {"entity": "local", "project": "proj", "run_id": "run1", "name": "art",
              "version": "latest", "entry": "preds", "sha256": "ab" * 32,
              "key": "preds"}
    routes = []
    for route in client.app.router.routes():
        if not (route.name or "").startswith("viewer.") or route.resource is None:
            continue
        canonical = route.resource.canonical
        if canonical not in ("/login", "/logout", "/static"):
            routes.append((route.method, re.sub(r"\{(\w+)(:[^}]*)?\}",
                                                lambda m: values[m.group(1)], canonical)))
    assert len(routes) >= 14  # seven pages, GET and HEAD
    for method, path in routes:
        resp = await client.request(method, path, headers={"Accept": HTML_ACCEPT},
                                    allow_redirects=False)
        assert resp.status == 303 and resp.headers["Location"].startswith("/login?next="), path
        resp = await client.request(method, path, headers={
            "Accept": HTML_ACCEPT, "Cookie": "tablelog_session=forged"}, allow_redirects=False)
        assert resp.status == 303, path
