"""Behind a TLS proxy: where browsers really reach the server, and who they are.

A proxy such as nginx talks plain http to the server on 127.0.0.1, so aiohttp
sees ``http://127.0.0.1:8765`` and the proxy's address, not the
``https://tl.example.org`` the browser used nor the browser's address. Then the
login form's Origin check (`tablelog_server.viewer.access`) refuses every login,
the session cookie cannot be ``Secure``, and wrong keys are counted against the
proxy (`tablelog_server.auth_limits`), that is against everyone at once.

Two settings fix it, both off by default:

- ``--public-url https://tl.example.org``: every request is taken as made to that
  origin (scheme and host). Nothing a client sends can change it.
- ``--trust-proxy``: the proxy's headers are believed: RFC 7239 ``Forwarded``
  (``proto``, ``host``, ``for`` of its last element, the one the nearest proxy
  added) or else ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and the last address
  of ``X-Forwarded-For``. Only for a server that nothing but the proxy can reach:
  any client can send these headers, which is why they are ignored without it.

With both, the public URL gives the origin and the proxy's headers the client's
address. The middleware hands the rest of the application a `web.Request.clone`
with the public scheme, host and client address, so ``request.secure``,
``request.host`` and ``request.remote`` are right everywhere.
"""

from __future__ import annotations

import re
import urllib.parse

from aiohttp import web
from aiohttp.typedefs import Middleware

from tablelog_server.config import ServerConfig
from tablelog_server.messages import Handler

_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")
_SCHEMES = ("http", "https")


def _last(value: str | None) -> str | None:
    """The last comma-separated item of a header (the one the nearest proxy added)."""
    if not value:
        return None
    item = value.rsplit(",", 1)[-1].strip()
    return item or None


def _address(node: str | None) -> str | None:
    """The IP address of a ``Forwarded: for=`` node or an ``X-Forwarded-For`` item,
    without its port; None for ``unknown``, obfuscated (``_name``) or odd values."""
    if not node:
        return None
    node = node.strip().strip('"')
    if node.startswith("["):  # [v6]:port or [v6]
        node = node[1:].partition("]")[0]
    elif node.count(":") == 1:  # v4:port
        node = node.partition(":")[0]
    return node if re.fullmatch(r"[0-9A-Fa-f:.]+", node) else None


def forwarded_view(request: web.Request) -> tuple[str | None, str | None, str | None]:
    """The scheme, host and client address the proxy's headers give (each None when
    absent or malformed): ``Forwarded`` when sent, else the ``X-Forwarded-*`` ones."""
    if request.headers.get("Forwarded"):
        element = request.forwarded[-1] if request.forwarded else {}
        proto, host, node = element.get("proto"), element.get("host"), element.get("for")
    else:
        proto = _last(request.headers.get("X-Forwarded-Proto"))
        host = _last(request.headers.get("X-Forwarded-Host"))
        node = _last(request.headers.get("X-Forwarded-For"))
    scheme = proto.lower() if proto and proto.lower() in _SCHEMES else None
    host = host if host and _HOST.match(host) else None
    return scheme, host, _address(node)


def proxy_middleware(config: ServerConfig) -> Middleware | None:
    """The middleware for `config.public_url` and `config.trust_proxy`; None when
    neither is set (requests are then taken as they come)."""
    if config.public_url is None and not config.trust_proxy:
        return None
    public = urllib.parse.urlsplit(config.public_url) if config.public_url else None
    trust = config.trust_proxy

    @web.middleware
    async def behind_proxy(request: web.Request, handler: Handler) -> web.StreamResponse:
        scheme, host, remote = forwarded_view(request) if trust else (None, None, None)
        if public is not None:
            scheme, host = public.scheme, public.netloc
        scheme, host = scheme or request.scheme, host or request.host
        if remote is None:
            return await handler(request.clone(scheme=scheme, host=host))
        return await handler(request.clone(scheme=scheme, host=host, remote=remote))

    return behind_proxy
