"""A fault-injecting HTTP proxy for tests: put it between a client and a real server.

    async with FaultProxy(server.url) as proxy:
        proxy.add(Fault(path="/api/v1/batches", status=503, times=3))
        proxy.add(Fault(path="/api/v1/batches", status=429, headers={"Retry-After": "1"}))
        proxy.add(Fault(path="/api/v1/blobs/", method="PUT", cut="request"))
        proxy.add(Fault(path="/api/v1/batches", cut="response"))   # server applied it, the
        ...                                                        # client never hears
        proxy.count(path="/api/v1/batches")                        # requests seen

From synchronous code (a subprocess test, a later reliability suite) use
`FaultProxy.running_in_thread(upstream)`, a context manager that runs the proxy
on its own event loop thread; `add`/`count`/`log` are thread-safe.

A request is matched against the faults in the order they were added; the first
that matches and has uses left is applied (and spends one use). Effects:
`status` answers without calling the server; `cut="request"` reads part of the
body, then drops the connection; `cut="response"` forwards, then sends half
the answer and drops the connection; `delay_s` waits first (alone, or before
another effect); `hold_response_s` lets the server handle the request, then
waits before answering (the window where the server applied a batch the
client has not heard about: kill the client there). Unmatched requests are forwarded untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
from aiohttp import web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Fault:
    """One scripted misbehaviour and the requests it applies to."""

    path: str = ""  # prefix of the request path
    method: str | None = None
    body_contains: bytes | None = None
    min_body: int | None = None  # only requests whose body is at least this long
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": "injected by faultproxy"}'
    delay_s: float = 0.0
    hold_response_s: float = 0.0  # forward, then wait this long before answering
    cut: Literal["request", "response"] | None = None
    times: int | None = 1  # None: forever
    hits: int = 0  # how many requests it was applied to so far

    def matches(self, method: str, path: str, body: bytes | None) -> bool | None:
        """Whether this fault applies; None when that depends on a body not read yet."""
        if not ((self.times is None or self.times > 0) and path.startswith(self.path)
                and (self.method is None or self.method == method)):
            return False
        if self.body_contains is None and self.min_body is None:
            return True
        if body is None:
            return None
        return ((self.body_contains is None or self.body_contains in body)
                and (self.min_body is None or len(body) >= self.min_body))


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it; status None when the connection was cut."""

    method: str
    path: str
    status: int | None
    fault: bool
    at: float  # when the request arrived (monotonic)
    size: int


class FaultProxy:
    """The proxy; an async context manager listening on 127.0.0.1 (a free port)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._faults: list[Fault] = []
        self._log: list[Seen] = []
        self._mutex = threading.Lock()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, fault: Fault) -> Fault:
        with self._mutex:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._mutex:
            self._faults.clear()

    @property
    def log(self) -> list[Seen]:
        """Every request answered or cut so far, in the order they arrived (a slow one
        is recorded when it ends, after requests that arrived later)."""
        with self._mutex:
            return sorted(self._log, key=lambda seen: seen.at)

    def count(self, *, path: str = "", method: str | None = None, status: int | None = None,
              fault: bool | None = None) -> int:
        """Requests seen whose path starts with `path` (and method/status/fault match)."""
        return sum(1 for s in self.log if s.path.startswith(path)
                   and (method is None or s.method == method)
                   and (status is None or s.status == status)
                   and (fault is None or s.fault == fault))

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> FaultProxy:
        app = web.Application(client_max_size=1 << 31)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A fresh upstream connection per request: a pooled one the server has just
        # closed would turn into a fault nobody scripted.
        self._session = aiohttp.ClientSession(
            auto_decompress=False, connector=aiohttp.TCPConnector(force_close=True))
        # Held or delayed handlers must not hold up close() for their whole delay.
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    @contextlib.contextmanager
    def running_in_thread(cls, upstream: str, timeout: float = 10.0) -> Iterator[FaultProxy]:
        """The proxy on a private event loop thread, for synchronous callers."""
        proxy = cls(upstream)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="faultproxy", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout)
            yield proxy
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(timeout)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()

    # -- the proxying ------------------------------------------------------------------

    def _body_needed(self, method: str, path: str) -> bool:
        with self._mutex:
            return any(f.matches(method, path, None) is None for f in self._faults)

    def _take_fault(self, method: str, path: str, body: bytes | None) -> Fault | None:
        with self._mutex:
            for fault in self._faults:
                if fault.matches(method, path, body) is True:
                    if fault.times is not None:
                        fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    def _record(self, request: web.Request, status: int | None, fault: bool, size: int,
                arrived: float) -> None:
        with self._mutex:
            self._log.append(Seen(request.method, request.path, status, fault, arrived, size))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # Read the body first only when a fault needs it to match: a cut request must
        # drop the connection while the client is still sending.
        arrived = time.monotonic()  # `Seen.at`: gaps between arrivals are the client's waits
        body: bytes | None = None
        if self._body_needed(request.method, request.path):
            body = await request.read()
        fault = self._take_fault(request.method, request.path, body)
        if fault is not None and fault.delay_s:
            await self._pause(fault.delay_s)
        if fault is not None and fault.cut == "request":
            if body is None:
                await request.content.readany()  # some of it, then hang up
            self._record(request, None, True, len(body or b""), arrived)
            return _drop(request)
        if body is None:
            body = await request.read()
        if fault is not None and fault.status is not None:
            self._record(request, fault.status, True, len(body), arrived)
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers,
                                content_type="application/json")
        status, headers, answer = await self._forward(request, body)
        if fault is not None and fault.hold_response_s:
            await self._pause(fault.hold_response_s)
        if fault is not None and fault.cut == "response":
            self._record(request, None, True, len(body), arrived)
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = len(answer)
            await response.prepare(request)
            await response.write(answer[: len(answer) // 2])
            return _drop(request, response)
        self._record(request, status, fault is not None, len(body), arrived)
        return web.Response(status=status, headers=headers, body=answer)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _forward(self, request: web.Request, body: bytes
                       ) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(request.method, self.upstream + request.path_qs,
                                         data=io.BytesIO(body), headers=headers) as upstream:
            answer = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return upstream.status, out, answer


def _drop(request: web.Request, response: web.StreamResponse | None = None
          ) -> web.StreamResponse:
    """Close the connection under the client (after flushing what was written)."""
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else web.Response(status=499)
