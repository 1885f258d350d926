"""The agent's side of the HTTP contract (docs/architecture.md), one session per agent.

`UploadClient` turns every failure into an error TYPE from `tablelog_agent.errors`
so the caller never inspects status codes:

- network errors, timeouts, 408, 429, 5xx, unreadable answers -> RetryableError
- 401, 403 -> AuthError;  404, 405 -> WrongEndpointError (both retryable)
- 413 -> BatchTooLargeError (a PermanentError carrying the server's limits)
- any other 4xx -> PermanentError

The API key travels only in the Authorization header; no message built here
contains it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
from aiofiles.threadpool import wrap as aiofiles_wrap
from aiofiles.threadpool.binary import AsyncBufferedReader

from tablelog_agent.config import AgentConfig, redact_url
from tablelog_agent.errors import (
    AuthError,
    BatchTooLargeError,
    PermanentError,
    RetryableError,
    WrongEndpointError,
)
from tablelog_agent.retry import parse_retry_after

MSGPACK = "application/msgpack"
MISSING_QUERY_MAX = 5000  # hashes per POST /blobs/missing
_ERROR_TEXT_MAX = 500


class UploadClient:
    """Async context manager around one aiohttp session with a bounded connector."""

    def __init__(self, config: AgentConfig) -> None:
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0  # every HTTP request sent, answered or not

    async def __aenter__(self) -> UploadClient:
        cfg = self._config
        headers = {"Accept": MSGPACK, "User-Agent": "tablelog-agent"}
        if cfg.api_key:
            headers["Authorization"] = f"Bearer {cfg.api_key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=cfg.parallel_blob_uploads + 2),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout_s,
                                          sock_read=cfg.read_timeout_s),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float = 5.0) -> None:
        """Close the session; bounded, since a stuck peer must not hold up exit."""
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.close(), timeout)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session (only inside `async with`)."""
        if self._session is None:
            raise RuntimeError("UploadClient used outside `async with`")
        return self._session

    # -- routes ------------------------------------------------------------------

    async def missing_blobs(self, shas: Iterable[str]) -> list[str]:
        """Which of `shas` the server lacks (asked in slices of MISSING_QUERY_MAX)."""
        wanted = list(shas)
        missing: list[str] = []
        for start in range(0, len(wanted), MISSING_QUERY_MAX):
            body = msgpack.packb({"sha256": wanted[start:start + MISSING_QUERY_MAX]})
            answer = await self._request("POST", "/api/v1/blobs/missing", data=io.BytesIO(body),
                                         headers={"Content-Type": MSGPACK})
            got = answer.get("missing") if isinstance(answer, dict) else None
            if not isinstance(got, list):
                raise RetryableError("POST /api/v1/blobs/missing: answer has no 'missing' list")
            missing.extend(str(s) for s in got)
        return missing

    async def put_blob(self, sha256: str, path: Path, size: int) -> None:
        """Stream one local blob file to the server."""
        # The file is opened here, not in the generator: aiohttp stops iterating once
        # Content-Length bytes went out, and a suspended generator would leak the file.
        # Opened on the loop, not with aiofiles.open: that opens in a thread, and a task
        # cancelled meanwhile (the others are, when one upload fails) orphans the file.
        with open(path, "rb") as raw:
            await self._request(
                "PUT", f"/api/v1/blobs/{sha256}",
                data=_chunks(aiofiles_wrap(raw), self._config.blob_chunk_bytes),
                headers={"Content-Type": "application/octet-stream",
                         "Content-Length": str(size)})

    async def batch_limits(self) -> dict[str, object] | None:
        """The server's batch limits (``GET /api/v1/limits``); None from a server too
        old to have the route (it answers 404 or 405), whose limits are then unknown:
        its 413s still make the agent split a batch."""
        try:
            answer = await self._request("GET", "/api/v1/limits")
        except WrongEndpointError:
            return None
        limits = answer.get("limits") if isinstance(answer, dict) else None
        return limits if isinstance(limits, dict) else None

    async def send_batch(self, body: bytes) -> list[dict[str, Any]]:
        """POST one encoded batch; the per-entry results, in the server's order."""
        # BytesIO: aiohttp writes it in chunks (raw bytes over 1 MiB draw a warning)
        answer = await self._request("POST", "/api/v1/batches", data=io.BytesIO(body),
                                     headers={"Content-Type": MSGPACK})
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise RetryableError("POST /api/v1/batches: answer has no 'results' list")
        return results

    # -- plumbing ------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        what = f"{method} {path}"
        self.requests += 1
        try:
            async with self.session.request(method, self._base + path, **kwargs) as resp:
                if resp.status >= 300:
                    raise await _error_for(resp, what)
                raw = await resp.read()
                return _decode(raw, resp.content_type, what)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # str(exc) names host and port only; never a header.
            reason = str(exc) or type(exc).__name__
            raise RetryableError(f"{what}: {type(exc).__name__}: {reason} "
                                 f"(server {redact_url(self._base)})") from exc


async def _chunks(f: AsyncBufferedReader, chunk_bytes: int) -> AsyncIterator[bytes]:
    while chunk := await f.read(chunk_bytes):
        yield chunk


def _decode(raw: bytes, content_type: str, what: str) -> Any:
    try:
        if content_type == MSGPACK:
            return msgpack.unpackb(raw, raw=False, strict_map_key=False)
        return json.loads(raw) if raw else {}
    except ValueError as exc:
        raise RetryableError(f"{what}: unreadable answer ({content_type}): {exc}") from exc


async def _error_for(resp: aiohttp.ClientResponse, what: str) -> Exception:
    status = resp.status
    body = await _error_body(resp)
    text = body.get("error")
    detail = text[:_ERROR_TEXT_MAX] if isinstance(text, str) else ""
    message = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return AuthError(f"{message} (server refused the API key; check TABLELOG_API_KEY)",
                         status=status)
    if status in (404, 405):
        return WrongEndpointError(f"{message} (is the base URL a tablelog server?)",
                                  status=status)
    if status in (408, 429) or status >= 500 or status < 400:
        return RetryableError(message, status=status,
                              retry_after=parse_retry_after(resp.headers.get("Retry-After")))
    if status == 413:
        limits = body.get("limits")
        return BatchTooLargeError(message, limits=limits if isinstance(limits, dict) else None)
    return PermanentError(message, status=status)


async def _error_body(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """The server's ``{"error": ..., ...}`` answer; {} when there is none."""
    try:
        raw = await resp.content.read(64 * 1024)
        body = _decode(raw, resp.content_type, "")
    except (aiohttp.ClientError, OSError, TimeoutError, RetryableError):
        return {}
    return body if isinstance(body, dict) else {}
