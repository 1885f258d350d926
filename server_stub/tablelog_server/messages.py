"""Request and answer bodies: JSON or msgpack both ways, and query parameters.

Answers are msgpack when the client sends ``Accept: application/msgpack``, else
JSON; both carry the same plain data (what `wire.jsonable` makes).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tablelog import wire
from tablelog_server.errors import BadRequestError

MSGPACK = "application/msgpack"
_MSGPACK_TYPES = frozenset({MSGPACK, "application/x-msgpack"})

QUERY_INT_MAX = 2**63 - 1
_INTEGER = re.compile(r"-?[0-9]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def wants_msgpack(request: web.Request) -> bool:
    """Whether the client asked for msgpack answers."""
    return any(part.split(";")[0].strip() in _MSGPACK_TYPES
               for part in request.headers.get("Accept", "").split(","))


def answer(request: web.Request, data: Any, *, status: int = 200,
           headers: dict[str, str] | None = None) -> web.Response:
    """`data` (plain: dicts, lists, str, numbers, None) as msgpack or JSON."""
    if wants_msgpack(request):
        return web.Response(body=wire.packb(data), status=status, content_type=MSGPACK,
                            headers=headers)
    return web.Response(text=json.dumps(data, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


async def answer_built(request: web.Request, build: Callable[[], Any]) -> web.Response:
    """Like `answer`, for data that takes a while to build and encode (a page of up to
    10,000 rows): `build` and the encoding run on a thread, not on the event loop."""
    as_msgpack = wants_msgpack(request)

    def encode() -> bytes:
        data = build()
        if as_msgpack:
            return wire.packb(data)
        return json.dumps(data, separators=(",", ":")).encode()

    body = await asyncio.to_thread(encode)
    return web.Response(body=body, content_type=MSGPACK if as_msgpack else "application/json")


async def read_data(request: web.Request) -> Any:
    """The request body decoded as msgpack (by Content-Type) or JSON. Bodies over
    the app's client_max_size are refused with 413 by aiohttp itself."""
    raw = await request.read()
    if request.content_type in _MSGPACK_TYPES:
        try:
            return wire.unpackb(raw, max_values=wire.received_values_limit(len(raw)))
        except ValueError as exc:
            raise BadRequestError(str(exc)) from None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError(f"malformed JSON body: {exc}") from None


def int_query(request: web.Request, name: str, *, default: int, minimum: int = 0,
              maximum: int | None = None) -> int:
    """An integer query parameter (ASCII digits) from `minimum` to 2**63 - 1, the largest
    integer the database holds; values over `maximum` are clamped to it."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    # int() alone would take "1_000", " 5" and other scripts' digits.
    if _INTEGER.fullmatch(raw) is None:
        raise BadRequestError(f"query parameter {name!r} must be an integer")
    sign = -1 if raw[0] == "-" else 1
    digits = raw.lstrip("-").lstrip("0") or "0"
    # Past 19 digits only "how far past the bounds" is left to tell.
    value = sign * (int(digits) if len(digits) <= 19 else QUERY_INT_MAX + 2)
    if value < minimum:
        raise BadRequestError(f"query parameter {name!r} must be at least {minimum}")
    if value > QUERY_INT_MAX:
        raise BadRequestError(f"query parameter {name!r} must be at most {QUERY_INT_MAX}")
    return value if maximum is None else min(value, maximum)


def bool_query(request: web.Request, name: str) -> bool:
    """A flag: 1/true/yes/on (any case) mean true."""
    return request.query.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
