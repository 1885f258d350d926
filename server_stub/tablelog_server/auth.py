"""Who is asking: ``Authorization: Bearer KEY`` checked against every configured
key in constant time, and the rule that a key touches only its own entity.

Keys never leave this module in any form that reaches a log: error messages
say what was wrong, never which key was sent. Wrong keys are counted per client
address, and an address that sent too many is answered 429 before its next key
is even compared (`tablelog_server.auth_limits`).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web

from tablelog import wire
from tablelog_server.auth_limits import FailureLimiter
from tablelog_server.blobs import check_address
from tablelog_server.errors import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
)

PUBLIC_ROUTES = frozenset({"/healthz", "/login", "/logout", "/static"})
"""Routes (by their canonical path) served without a key: the health check, and the
web viewer's login form and static files."""

VIEWER_ROUTE_PREFIX = "viewer."
"""Routes whose name starts with this are the web viewer's pages: they take a session
cookie (or a key) and apply the same entity rule themselves
(`tablelog_server.viewer.access.viewer_page`)."""

NAME_PARAMS = ("entity", "project", "run_id", "name")
"""Path parameters that hold names; each must pass `wire.is_valid_name` (a run id:
`wire.is_valid_run_id`, wandb's rule)."""


class KeyRing:
    """The accepted API keys, each mapped to the one entity it may read and write,
    and the `FailureLimiter` that counts wrong keys per client address."""

    def __init__(self, keys: Mapping[str, str], *,
                 limiter: FailureLimiter | None = None) -> None:
        self._keys = [(key.encode(), entity) for key, entity in keys.items()]
        self.limiter = FailureLimiter() if limiter is None else limiter

    def __repr__(self) -> str:
        return f"KeyRing(<{len(self._keys)} keys>)"

    def entity_for(self, authorization: str | None, *, client: str | None = None) -> str:
        """The entity of the key in an Authorization header; `AuthenticationError`
        when there is none or it is unknown. With `client` (the request's address),
        an unknown key counts against it, and `TooManyRequestsError` comes instead
        of any comparison once it has sent too many."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("this route needs 'Authorization: Bearer <API key>'")
        if client is not None:
            self.limiter.check(client)
        presented = token.encode("utf-8", "surrogateescape")
        found: str | None = None
        # Compare with every key, without stopping early, so timing says nothing
        # about which key (or how much of one) matched.
        for key, entity in self._keys:
            if hmac.compare_digest(presented, key):
                found = entity
        if found is None:
            if client is not None:
                self.limiter.record_failure(client)
            raise AuthenticationError("unknown API key")
        return found


def request_entity(request: web.Request, keys: KeyRing) -> str:
    """The entity of the request's key (the middleware has already checked it)."""
    return keys.entity_for(request.headers.get("Authorization"))


def check_request(request: web.Request, keys: KeyRing) -> None:
    """Every route but the public ones: a known key (401, or 429 after too many wrong
    ones from the address), valid names and blob addresses in the path (400), and no
    entity but the key's own (403)."""
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical in PUBLIC_ROUTES:
        return
    if resource is not None and (resource.name or "").startswith(VIEWER_ROUTE_PREFIX):
        return
    # Only here, where the key is first checked, do wrong keys count against the address.
    entity = keys.entity_for(request.headers.get("Authorization"), client=client_address(request))
    check_path_params(request.match_info, entity,
                      denied="this API key belongs to entity {mine!r}, not {asked!r}")


def check_path_params(params: Mapping[str, str], entity: str, *, denied: str) -> None:
    """Valid names and blob addresses in a route's path (400), and no entity but
    `entity` (403, with `denied` formatted with `mine` and `asked`)."""
    for param in NAME_PARAMS:
        valid = wire.is_valid_run_id if param == "run_id" else wire.is_valid_name
        if param in params and not valid(params[param]):
            raise BadRequestError(f"invalid {param.replace('_', ' ')} {params[param]!r}")
    if "sha256" in params:
        check_address(params["sha256"])
    if "entity" in params and params["entity"] != entity:
        raise PermissionDeniedError(denied.format(mine=entity, asked=params["entity"]))


def client_address(request: web.Request) -> str:
    """The address failed authentications are counted against: the peer's, or the
    client's as a trusted proxy forwarded it (`tablelog_server.proxy`)."""
    return request.remote or "unknown"
