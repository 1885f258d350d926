"""Graceful shutdown that lets in-flight requests really finish.

aiohttp's own shutdown marks every connection closing first, and a closing
connection drops the bytes that arrive on it — so an upload whose body is
still streaming can never complete; it just hangs until the shutdown timeout
cancels it. Instead we stop listening, answer 503 to requests that start
after that (the agent retries them), wait for the requests already running,
and only then let aiohttp close the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from tablelog_server.messages import Handler, answer

log = logging.getLogger(__name__)


class InflightRequests:
    """Counts running requests, and refuses new ones once draining."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count the request while it runs; 503 once the server is draining."""
        if self.draining:
            return answer(request, {"error": "the server is shutting down; retry"},
                          status=503, headers={"Retry-After": "1", "Connection": "close"})
        self.count += 1
        self._idle.clear()
        # Method and path only (never headers: they hold the key).
        log.debug("request started: %s %s (%d in flight)", request.method, request.path,
                  self.count)
        try:
            return await handler(request)
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Refuse new requests and wait up to `timeout` seconds for running ones;
        whether they all finished."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return self.count == 0


async def stop_gracefully(runner: web.AppRunner, inflight: InflightRequests,
                          timeout: float) -> None:
    """Stop listening, let running requests finish (up to `timeout`), then clean up."""
    for site in list(runner.sites):
        await site.stop()
    log.info("stopping: %d request(s) in flight, waiting up to %g s for them",
             inflight.count, timeout)
    if await inflight.drain(timeout):
        log.info("stopped: every in-flight request finished")
    else:
        log.warning("stopped with %d request(s) unfinished after %g s", inflight.count, timeout)
    await runner.cleanup()
