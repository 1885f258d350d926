"""The middlewares every request passes: errors as ``{"error": ...}`` answers,
then authentication and the entity rule (`tablelog_server.auth`)."""

from __future__ import annotations

import logging

from aiohttp import web

from tablelog_server.auth import check_request
from tablelog_server.errors import AuthenticationError, RequestError, TooManyRequestsError
from tablelog_server.messages import Handler, answer
from tablelog_server.state import KEYS

log = logging.getLogger("tablelog_server")


def _http_error_text(exc: web.HTTPException) -> str:
    # aiohttp's default text is "404: Not Found"; keep real messages (e.g. the 413's).
    text = exc.text or ""
    return exc.reason if not text or text.startswith(f"{exc.status}:") else text


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error as ``{"error": ...}`` with its status; a bug answers 500 and is logged."""
    try:
        return await handler(request)
    except RequestError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else {}
        if isinstance(exc, TooManyRequestsError):
            headers["Retry-After"] = str(exc.retry_after_s)
        return answer(request, {"error": str(exc)}, status=exc.status, headers=headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow",)}
        return answer(request, {"error": _http_error_text(exc)}, status=exc.status,
                      headers=headers)
    except ConnectionError:
        raise  # the client went away: nothing to answer
    except Exception:
        # Method and path only: headers (which hold the key) are never logged.
        log.exception("unexpected error serving %s %s", request.method, request.path)
        return answer(request, {"error": "internal server error"}, status=500)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a known key (429 after too many wrong ones from the address), 400
    for bad names in the path, 403 for another entity. It runs for unknown paths too,
    so a 404 tells nothing to a client without a key."""
    check_request(request, request.config_dict[KEYS])
    return await handler(request)
