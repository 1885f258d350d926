"""Who is looking: viewer sessions, the login and logout forms, and the wrapper
that every viewer page goes through.

Logging in posts an API key once; the server answers with a random session
token in an ``HttpOnly; SameSite=Strict`` cookie (``Secure`` over https). The
key itself is never stored in the cookie, the page or the session: the session
maps a hash of the token to the key's entity, in memory, for `SESSION_TTL_S`.
(A restart logs everyone out; several replicas would keep sessions in the
metadata store instead.)

A page is served to a session cookie or, for scripts and ``curl``, to an
``Authorization: Bearer KEY`` header, and only for the session's entity, as in
the API (403 for another entity's names). Without either, a browser is sent to
``/login`` and any other client gets the API's 401.

CSRF: the only forms that change anything are login and logout (POST); the
cookie is SameSite=Strict, so no other site's page can send it, and a login
POST whose Origin names another site is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from tablelog_server.auth import check_path_params, client_address
from tablelog_server.errors import (
    AuthenticationError,
    PermissionDeniedError,
    RequestError,
    TooManyRequestsError,
)
from tablelog_server.state import KEYS
from tablelog_server.viewer.html import Html, document, el, page_response

COOKIE_NAME = "tablelog_session"
SESSION_TTL_S = 12 * 3600.0
MAX_SESSIONS = 10_000

ViewerHandler = Callable[[web.Request, str], Awaitable[web.StreamResponse]]
"""A page handler: the request and the entity it is served to."""


@dataclass
class _Session:
    entity: str
    expires: float


class SessionStore:
    """Session tokens (stored as their sha256 only) mapped to entities, with expiry
    and a bound on how many are kept (the least recently used go first)."""

    def __init__(self, *, ttl_s: float = SESSION_TTL_S, max_sessions: int = MAX_SESSIONS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()

    def create(self, entity: str) -> str:
        """A new session for `entity`; its token (for the cookie only)."""
        token = secrets.token_urlsafe(32)
        self._sessions[self._digest(token)] = _Session(entity, self._clock() + self.ttl_s)
        while len(self._sessions) > self.max_sessions:
            self._sessions.popitem(last=False)
        return token

    def entity_for(self, token: str | None) -> str | None:
        """The entity of a live session, or None (unknown or expired token)."""
        if not token:
            return None
        digest = self._digest(token)
        session = self._sessions.get(digest)
        if session is None:
            return None
        now = self._clock()
        if session.expires <= now:
            del self._sessions[digest]
            return None
        session.expires = now + self.ttl_s  # sliding expiry while in use
        self._sessions.move_to_end(digest)
        return session.entity

    def end(self, token: str | None) -> None:
        """Forget a session (logout); unknown tokens are ignored."""
        if token:
            self._sessions.pop(self._digest(token), None)


SESSIONS = web.AppKey("viewer_sessions", SessionStore)
"""The viewer's sessions (set by `tablelog_server.viewer.add_viewer_routes`)."""


def wants_html(request: web.Request) -> bool:
    """Whether the client is a browser asking for a page (it gets HTML errors and
    redirects; other clients get the API's JSON errors)."""
    return "text/html" in request.headers.get("Accept", "")


def safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (another site) becomes '/'."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return "/"
    return target


def request_viewer_entity(request: web.Request) -> str | None:
    """The entity of the request's session cookie or Bearer key; None when it has
    neither. A Bearer key that is not known raises `AuthenticationError`."""
    entity = request.config_dict[SESSIONS].entity_for(request.cookies.get(COOKIE_NAME))
    if entity is not None:
        return entity
    if request.headers.get("Authorization"):
        return request.config_dict[KEYS].entity_for(request.headers.get("Authorization"),
                                                    client=client_address(request))
    return None


def check_names(request: web.Request, entity: str) -> None:
    """The API's rules for path parameters: valid names and blob addresses (400), the
    entity of the session only (403)."""
    check_path_params(request.match_info, entity,
                      denied="you are logged in as {mine!r}, which may not see entity {asked!r}")


def error_page(request: web.Request, exc: RequestError, entity: str | None) -> web.Response:
    """A `RequestError` as an HTML page with its status."""
    titles = {400: "Bad request", 401: "Not logged in", 403: "Not allowed",
              404: "Not found", 413: "Too large", 422: "Cannot show this"}
    body = el("p", {"class": "error"}, str(exc))
    return page_response(document(titles.get(exc.status, "Error"), body, entity=entity,
                                  crumbs=[("projects", "/")]), status=exc.status)


def viewer_page(handler: ViewerHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a page handler with the viewer's access rules (see the module docstring)."""
    async def serve(request: web.Request) -> web.StreamResponse:
        html = wants_html(request)
        entity: str | None = None
        try:
            entity = request_viewer_entity(request)
            if entity is None:
                if html and request.method in ("GET", "HEAD"):
                    raise web.HTTPSeeOther(
                        "/login?" + urllib.parse.urlencode({"next": request.path_qs}))
                raise AuthenticationError("log in at /login, or send 'Authorization: "
                                          "Bearer <API key>'")
            check_names(request, entity)
            return await handler(request, entity)
        except RequestError as exc:
            if not html or isinstance(exc, (AuthenticationError, TooManyRequestsError)):
                raise  # the API's JSON error (401 with WWW-Authenticate, 429 with Retry-After)
            return error_page(request, exc, entity)

    serve.__doc__ = handler.__doc__
    return serve


def _login_form(next_path: str, message: str | None) -> Html:
    return el("form", {"method": "post", "action": "/login", "class": "login"},
              el("p", {"class": "error"}, message) if message else None,
              el("label", {"for": "api_key"}, "API key"),
              el("input", {"type": "password", "id": "api_key", "name": "api_key",
                           "autocomplete": "off", "required": True, "autofocus": True}),
              el("input", {"type": "hidden", "name": "next", "value": next_path}),
              el("button", {"type": "submit"}, "Log in"),
              el("p", {"class": "hint"}, "The same key the agent uploads with "
                 "(TABLELOG_API_KEY). It is checked once; the browser keeps only a "
                 "session cookie."))


def _login_page(next_path: str, message: str | None, *, status: int) -> web.Response:
    return page_response(document("Log in", _login_form(next_path, message), entity=None),
                         status=status)


async def login_form(request: web.Request) -> web.Response:
    """GET /login: the form (public)."""
    return _login_page(safe_next(request.query.get("next")), None, status=200)


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return origin == f"{request.scheme}://{request.host}"


async def login(request: web.Request) -> web.Response:
    """POST /login: check the key, start a session, set the cookie, go to `next`."""
    if not _same_origin(request):
        raise PermissionDeniedError("login form posted from another site")
    form = await request.post()
    key = form.get("api_key")
    next_path = safe_next(str(form.get("next") or ""))
    if not isinstance(key, str) or not key.strip():
        return _login_page(next_path, "Enter an API key.", status=401)
    try:
        entity = request.config_dict[KEYS].entity_for(f"Bearer {key.strip()}",
                                                       client=client_address(request))
    except AuthenticationError:
        return _login_page(next_path, "Unknown API key.", status=401)
    except TooManyRequestsError as exc:
        page = _login_page(next_path, f"Too many wrong keys from your address: try again "
                           f"in {exc.retry_after_s} s.", status=429)
        page.headers["Retry-After"] = str(exc.retry_after_s)
        return page
    sessions = request.config_dict[SESSIONS]
    sessions.end(request.cookies.get(COOKIE_NAME))
    token = sessions.create(entity)
    response = web.HTTPSeeOther(next_path)
    response.set_cookie(COOKIE_NAME, token, path="/", httponly=True, samesite="Strict",
                        secure=request.secure, max_age=int(sessions.ttl_s))
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /logout: end the session and clear the cookie."""
    request.config_dict[SESSIONS].end(request.cookies.get(COOKIE_NAME))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Strict",
                        secure=request.secure)
    raise response
