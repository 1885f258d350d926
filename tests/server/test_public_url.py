"""Issue 13.1: behind a TLS proxy, logging in to the viewer works with
``--public-url`` or ``--trust-proxy``, and the session cookie is ``Secure``.

Each request carries exactly what nginx sends with the configuration in
``docs/agent.md`` (``Host $host``, ``X-Forwarded-For``, ``X-Forwarded-Proto $scheme``)
plus the browser's own ``Origin``, through the real application. Without either
flag the forwarded headers are not believed, since any client can send them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from server_helpers import API_KEY, ENTITY

from tablelog_server.app import create_app
from tablelog_server.cli import config_from_args
from tablelog_server.config import ServerConfig, check_public_url
from tablelog_server.errors import ConfigError

PUBLIC = "https://tl.example.org"
COOKIE = "tablelog_session"


def from_nginx(*, origin: str | None = PUBLIC, client_ip: str = "203.0.113.9"
               ) -> dict[str, str]:
    """A browser's login POST as nginx forwards it over plain http."""
    headers = {"Host": "tl.example.org", "X-Forwarded-For": client_ip,
               "X-Forwarded-Proto": "https", "Accept": "text/html"}
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def serve(aiohttp_client: Any, tmp_path: Path, **options: Any) -> TestClient[Any, Any]:
    config = ServerConfig(data_dir=tmp_path / "server", api_keys={API_KEY: ENTITY}, **options)
    return await aiohttp_client(create_app(config))  # type: ignore[no-any-return]


async def login(client: TestClient[Any, Any], headers: dict[str, str]) -> Any:
    return await client.post("/login", data={"api_key": API_KEY, "next": "/projects?x=1"},
                             headers=headers, allow_redirects=False)


def set_cookie(resp: Any) -> str:
    """The raw Set-Cookie header of the session cookie."""
    found = [v for v in resp.headers.getall("Set-Cookie", []) if v.startswith(f"{COOKIE}=")]
    assert len(found) == 1, resp.headers
    return str(found[0])


async def test_without_flags_forwarded_headers_are_not_believed(aiohttp_client: Any,
                                                                tmp_path: Path) -> None:
    client = await serve(aiohttp_client, tmp_path)
    # What issue 13.1 saw: behind nginx, every login is refused as cross-site.
    resp = await login(client, from_nginx())
    assert resp.status == 403 and "another site" in await resp.text()
    # Spoofed headers from a direct client change nothing: the cookie is not Secure.
    own_origin = f"http://{client.host}:{client.port}"
    direct = {"Origin": own_origin, "X-Forwarded-Proto": "https", "Accept": "text/html",
              "Forwarded": "proto=https;host=tl.example.org"}
    resp = await login(client, direct)
    assert resp.status == 303
    assert "secure" not in set_cookie(resp).lower()


@pytest.mark.parametrize("options", [{"trust_proxy": True}, {"public_url": PUBLIC},
                                     {"public_url": PUBLIC, "trust_proxy": True}],
                         ids=["trust-proxy", "public-url", "both"])
async def test_login_behind_nginx_sets_a_secure_cookie(aiohttp_client: Any, tmp_path: Path,
                                                       options: dict[str, Any]) -> None:
    client = await serve(aiohttp_client, tmp_path, **options)
    resp = await login(client, from_nginx())
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/projects?x=1"  # relative: stays on https
    cookie = set_cookie(resp).lower()
    assert "; secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    token = resp.cookies[COOKIE].value
    page = await client.get("/", headers={**from_nginx(origin=None),
                                          "Cookie": f"{COOKIE}={token}"},
                            allow_redirects=False)
    assert page.status == 200
    # Another site's form is still refused (the CSRF check is not weakened).
    assert (await login(client, from_nginx(origin="https://evil.example"))).status == 403
    assert (await login(client, from_nginx(origin="http://tl.example.org"))).status == 403
    # Logging out clears the cookie with the same attributes.
    out = await client.post("/logout", headers={**from_nginx(),
                                                "Cookie": f"{COOKIE}={token}"},
                            allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert "; secure" in set_cookie(out).lower()


async def test_redirect_to_login_stays_relative(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await serve(aiohttp_client, tmp_path, trust_proxy=True)
    resp = await client.get("/?x=1", headers=from_nginx(origin=None),
                            allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/login?next=")
    assert "http://" not in resp.headers["Location"]


async def test_rfc7239_forwarded_header(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await serve(aiohttp_client, tmp_path, trust_proxy=True)
    headers = {"Forwarded": 'for="[2001:db8::7]:4711";proto=https;host=tl.example.org',
               "Origin": PUBLIC, "Accept": "text/html"}
    resp = await login(client, headers)
    assert resp.status == 303 and "; secure" in set_cookie(resp).lower()
    # Forwarded wins over X-Forwarded-*, and its last element (the nearest proxy's) counts.
    headers["Forwarded"] = "proto=http;host=evil.example, proto=https;host=tl.example.org"
    headers["X-Forwarded-Proto"] = "http"
    assert (await login(client, headers)).status == 303


async def test_public_url_fixes_the_origin_whatever_is_sent(aiohttp_client: Any,
                                                            tmp_path: Path) -> None:
    client = await serve(aiohttp_client, tmp_path, public_url=PUBLIC)
    # A proxy that sends no forwarded headers at all (Host is the upstream's).
    plain = {"Origin": PUBLIC, "Accept": "text/html"}
    resp = await login(client, plain)
    assert resp.status == 303 and "; secure" in set_cookie(resp).lower()
    # Headers cannot move the public origin elsewhere.
    spoof = {**from_nginx(origin="https://evil.example"), "X-Forwarded-Host": "evil.example"}
    assert (await login(client, spoof)).status == 403


def test_public_url_option(tmp_path: Path) -> None:
    assert check_public_url("https://TL.example.org:443/") == PUBLIC
    assert check_public_url("http://tl.example.org:8080") == "http://tl.example.org:8080"
    for bad in ("tl.example.org", "ftp://tl.example.org", "https://tl.example.org/viewer",
                "https://user:pw@tl.example.org", "https://tl.example.org:99999"):
        with pytest.raises(ConfigError):
            check_public_url(bad)
    config, _ = config_from_args(["--data-dir", str(tmp_path), "--api-key", API_KEY,
                                  "--public-url", PUBLIC + "/", "--trust-proxy"])
    assert config.public_url == PUBLIC and config.trust_proxy
    config, _ = config_from_args(["--data-dir", str(tmp_path), "--api-key", API_KEY])
    assert config.public_url is None and not config.trust_proxy
    env = ServerConfig.from_env({"TABLELOG_SERVER_PUBLIC_URL": PUBLIC,
                                 "TABLELOG_SERVER_TRUST_PROXY": "1"})
    assert env.public_url == PUBLIC and env.trust_proxy
