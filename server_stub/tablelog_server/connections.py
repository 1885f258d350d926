"""Connection limits: a header timeout, an idle timeout and a cap on open connections,
so that slow or idle clients (slowloris) can neither exhaust the file descriptors nor
keep anyone else from being served.

aiohttp has no header timeout: a connection that never finishes its request line
holds a file descriptor for as long as the client likes, and once the descriptors
run out the event loop stops accepting, for everyone. `ConnectionGuard` wraps the
protocol factory of the listening socket (see `GuardedSite`), so every accepted
connection passes it first, and tracks each one's state:

- *headers*: from the connection (or from the first byte of a keep-alive connection's
  next request) until the request's headers are complete; closed after
  `header_timeout_s`.
- *busy*: while a request is handled (the guard's middleware marks it; aiohttp's
  request task ending unmarks it). Never timed out or dropped here.
- *idle*: a keep-alive connection between requests; closed after `idle_timeout_s`.

At most `max_connections` connections are open. A new one over the cap first drops
the connection that has waited longest in *headers* or *idle* (so a client that sends
its request promptly is served even while thousands of sockets sit idle); when every
connection is busy, it is answered ``503`` with ``Retry-After`` and closed. Everything
runs on the event loop's own timers and callbacks: nothing polls.

A request pipelined right behind another one gets the idle timeout for its headers,
not the header timeout; it is still dropped first when the cap is reached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tablelog_server.messages import Handler

log = logging.getLogger(__name__)

BACKLOG = 128  # the listening socket's accept queue (aiohttp's default)
LINGER_S = 1.0  # a refused connection waits this long for the client to stop sending
MAX_LINGERING = 32  # refused connections lingering at once; more are closed at once
FD_RESERVE = 64 + 2 * BACKLOG + MAX_LINGERING
"""File descriptors kept out of the connection budget: the database and its journal,
logs, the event loop's own, and the sockets asyncio accepts in one go (up to BACKLOG)
before the guard sees them, plus as many dropped ones waiting for the loop to close
them."""
FDS_PER_CONNECTION = 2  # its socket, and a blob file while it uploads or downloads one
MIN_CONNECTIONS = 16
WARN_EVERY_S = 60.0

_BODY = json.dumps({"error": "the server has too many open connections; retry"}).encode()
REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\n"
           b"Content-Type: application/json\r\n"
           b"Content-Length: " + str(len(_BODY)).encode() + b"\r\n"
           b"Retry-After: 1\r\nConnection: close\r\n\r\n" + _BODY)

HEADERS, BUSY, IDLE, CLOSED = "headers", "busy", "idle", "closed"


def connections_for_fd_limit(wanted: int) -> int:
    """The connection cap the process's RLIMIT_NOFILE allows, at most `wanted`.

    A soft limit too low for `wanted` is first raised towards the hard limit (what a
    systemd service gets by default is 1024 soft, far more hard); when that is not
    allowed (a seccomp filter, a low hard limit) the cap shrinks to fit instead."""
    need = FD_RESERVE + FDS_PER_CONNECTION * wanted
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < need:
            target = need if hard == resource.RLIM_INFINITY else min(need, hard)
            if target > soft:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
    except (OSError, ValueError):
        pass  # keep the limit we have, and fit the cap to it below
    if soft == resource.RLIM_INFINITY:
        return wanted
    fits = (soft - FD_RESERVE) // FDS_PER_CONNECTION
    return min(wanted, max(MIN_CONNECTIONS, fits))  # a few even at an absurd limit


class ConnectionGuard:
    """Times and caps the connections of one server (see the module docstring).

    Use `protocol_factory` to wrap the factory the listening socket calls, and put
    `middleware` first among the application's middlewares. Connections the guard
    did not accept (an in-process test client) pass the middleware untouched.
    """

    def __init__(self, *, header_timeout_s: float, idle_timeout_s: float,
                 max_connections: int) -> None:
        self.header_timeout_s = header_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.max_connections = max_connections
        self.dropped = 0  # idle or headerless connections closed for a new one
        self.refused = 0  # new connections answered 503: every other one was busy
        self.timed_out = 0
        self._open: dict[asyncio.BaseTransport, _Connection] = {}
        # Connections in HEADERS or IDLE, longest waiting first: the ones to drop.
        self._waiting: OrderedDict[_Connection, None] = OrderedDict()
        self._lingering = 0
        self._warned_at: float | None = None

    @property
    def open_connections(self) -> int:
        """Connections open now (refused ones not counted)."""
        return len(self._open)

    def protocol_factory(self, factory: Callable[[], asyncio.Protocol]
                         ) -> Callable[[], asyncio.Protocol]:
        """A protocol factory that passes every connection through the guard, then to
        a protocol from `factory` (aiohttp's request handler)."""
        return lambda: _Connection(self, factory)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Mark the request's connection busy until aiohttp's task for the request (the
        one running this middleware, then writing the response) ends."""
        conn = self._open.get(request.transport) if request.transport else None
        task = asyncio.current_task()
        if conn is not None and task is not None:
            conn.request_started()
            task.add_done_callback(conn.request_ended)
        return await handler(request)

    # -- called by _Connection -------------------------------------------------------

    def _admit(self, conn: _Connection, transport: asyncio.BaseTransport) -> bool:
        if len(self._open) >= self.max_connections:
            if not self._waiting:
                self.refused += 1
                self._warn()
                return False
            oldest = next(iter(self._waiting))
            oldest.close()
            self.dropped += 1
            self._warn()
        self._open[transport] = conn
        return True

    def _waits(self, conn: _Connection) -> None:
        self._waiting.pop(conn, None)
        self._waiting[conn] = None  # the most recent: dropped last

    def _works(self, conn: _Connection) -> None:
        self._waiting.pop(conn, None)

    def _forget(self, conn: _Connection, transport: asyncio.BaseTransport | None) -> None:
        self._waiting.pop(conn, None)
        if transport is not None and self._open.get(transport) is conn:
            del self._open[transport]

    def _linger(self) -> bool:
        if self._lingering >= MAX_LINGERING:
            return False
        self._lingering += 1
        return True

    def _unlinger(self) -> None:
        self._lingering -= 1

    def _warn(self) -> None:
        # One line a minute at most: under attack this happens per connection.
        now = asyncio.get_running_loop().time()
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            log.warning("connection cap (%d) reached: %d idle or headerless connections "
                        "dropped and %d refused with 503 so far (--max-connections)",
                        self.max_connections, self.dropped, self.refused)


class _Connection(asyncio.Protocol):
    """One accepted connection: admitted (then everything goes on to the inner
    protocol) or refused (503, then closed)."""

    def __init__(self, guard: ConnectionGuard, factory: Callable[[], asyncio.Protocol]
                 ) -> None:
        self._guard = guard
        self._factory = factory
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._state = HEADERS
        self._requests = 0  # handled now (0 or 1; 2 for a moment when pipelined)
        self._lingers = False

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if self._guard._admit(self, transport):
            self._inner = self._factory()
            self._inner.connection_made(transport)
            self._wait(HEADERS, self._guard.header_timeout_s)
        else:
            self._refuse(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return  # refused: what the client still sends is dropped
        if self._state == IDLE:
            self._wait(HEADERS, self._guard.header_timeout_s)  # the next request begins
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._inner is None:
            return None  # refused, and the client is done: close now
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set(CLOSED)
        self._guard._forget(self, self._transport)
        if self._lingers:
            self._lingers = False
            self._guard._unlinger()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- the guard's view ----------------------------------------------------------------

    def request_started(self) -> None:
        """A request's headers are complete and its handler runs."""
        self._requests += 1
        if self._state != CLOSED:
            self._set(BUSY)
            self._guard._works(self)

    def request_ended(self, _task: asyncio.Future[Any]) -> None:
        """The request's task ended (its answer written, or it failed)."""
        self._requests -= 1
        if self._requests == 0 and self._state == BUSY:
            self._wait(IDLE, self._guard.idle_timeout_s)

    def close(self) -> None:
        """Close the connection (whatever it had sent is dropped)."""
        if self._state == CLOSED:
            return
        self._set(CLOSED)
        self._guard._forget(self, self._transport)
        if self._transport is not None:
            self._transport.close()

    # -- internals -----------------------------------------------------------------------

    def _set(self, state: str) -> None:
        self._state = state
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _wait(self, state: str, timeout: float) -> None:
        self._set(state)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout, self._expire)
        self._guard._waits(self)

    def _expire(self) -> None:
        self._timer = None
        self._guard.timed_out += 1
        self.close()

    def _refuse(self, transport: asyncio.Transport) -> None:
        """Answer 503 before reading anything, then close. Closing while the client's
        request is unread would reset the connection, and a reset can destroy the
        answer before the client reads it: so shut down our side, and close once the
        client has closed its side or after LINGER_S."""
        self._state = CLOSED
        transport.write(REFUSAL)
        if transport.can_write_eof() and self._guard._linger():
            self._lingers = True
            transport.write_eof()
            self._timer = asyncio.get_running_loop().call_later(LINGER_S, transport.close)
        else:
            transport.close()


class GuardedSite(web.TCPSite):
    """`web.TCPSite` whose connections pass a `ConnectionGuard` first."""

    __slots__ = ("_guard",)

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, host: str,
                 port: int) -> None:
        super().__init__(runner, host, port, backlog=BACKLOG)
        self._guard = guard

    async def start(self) -> None:
        """Listen, like `web.TCPSite.start`, with the guard's protocol factory."""
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.protocol_factory(server), self._host, self._port,
            backlog=self._backlog, reuse_address=self._reuse_address,
            reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
