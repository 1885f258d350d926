"""The blob store interface and `FileBlobStore`, its implementation on local disk.

Blobs are immutable and named by the sha256 of their bytes, so any number of
server replicas can share one store (S3 later) without coordination, and the
same bytes uploaded by two entities are one file. The store knows nothing of
entities: who may read which blob is `tablelog_server.blob_scope`'s business. A blob is
streamed to a temporary file while it is hashed; only when the hash matches
its address is it renamed into place, so a reader never sees a half-written or
wrong blob, and a server stopped mid-upload leaves at worst a temp file (swept
at the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Protocol, TypeVar

from tablelog import wire
from tablelog_server.errors import (
    BadRequestError,
    BlobDigestError,
    NotFoundError,
    PayloadTooLargeError,
)

T = TypeVar("T")

READ_CHUNK_BYTES = 256 * 1024
_WRITE_BUFFER_BYTES = 1 << 20  # batch small network chunks into fewer thread hops
_TEMP_MAX_AGE_S = 3600.0


class BlobStore(Protocol):
    """Content-addressed, immutable blobs: addresses are 64 lowercase hex characters."""

    async def missing(self, shas: Sequence[str]) -> list[str]:
        """The addresses in `shas` that are not stored, in order, each once."""
        ...

    async def put_stream(self, sha256: str, chunks: AsyncIterable[bytes], *,
                         max_bytes: int) -> int:
        """Store the streamed bytes under `sha256` and return their size. Raises
        `BlobDigestError` (nothing stored) when they hash to something else and
        `PayloadTooLargeError` when they exceed `max_bytes`. A blob already stored
        is kept as it is; the bytes are still read and must hash to its address."""
        ...

    async def size(self, sha256: str) -> int | None:
        """The blob's size, or None when it is not stored."""
        ...

    async def read(self, sha256: str, *, max_bytes: int) -> bytes:
        """A whole (small) blob; `NotFoundError` when absent, `PayloadTooLargeError`
        when bigger than `max_bytes`."""
        ...

    def stream(self, sha256: str, *,
               chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncGenerator[bytes, None]:
        """The blob's bytes in chunks; `NotFoundError` (on first iteration) when absent.
        Close it (``aclose()``) if you stop before the end."""
        ...

    async def close(self) -> None:
        """Release resources; no call may follow."""
        ...


def check_address(sha256: str) -> str:
    """`sha256` if it is a blob address, else `BadRequestError`: nothing else ever
    becomes part of a path."""
    if not wire.is_sha256(sha256):
        raise BadRequestError("a blob address is 64 lowercase hex characters")
    return sha256


async def _off_loop(fn: Callable[[], T]) -> T:
    """Run blocking file I/O on a thread; if we are cancelled meanwhile, let the call
    finish before cleanup runs, so no thread writes to a file descriptor we closed."""
    future = asyncio.get_running_loop().run_in_executor(None, fn)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


class FileBlobStore:
    """Blobs as files ``<root>/ab/cdef…``; temporary files in ``<root>/tmp``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sweep_temp()

    def _sweep_temp(self) -> None:
        # Left by a server killed mid-upload; old ones only, in case replicas share the dir.
        cutoff = time.time() - _TEMP_MAX_AGE_S
        for p in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                if p.stat().st_mtime < cutoff:
                    p.unlink()

    def path(self, sha256: str) -> Path:
        """Where blob `sha256` lives, whether or not it exists."""
        check_address(sha256)
        return self.root / sha256[:2] / sha256[2:]

    async def missing(self, shas: Sequence[str]) -> list[str]:
        """Addresses not stored, in order, each once."""
        unique = list(dict.fromkeys(check_address(s) for s in shas))
        return await _off_loop(lambda: [s for s in unique if not self.path(s).is_file()])

    async def size(self, sha256: str) -> int | None:
        """Size in bytes, or None."""
        path = self.path(sha256)

        def stat() -> int | None:
            try:
                return path.stat().st_size
            except FileNotFoundError:
                return None

        return await _off_loop(stat)

    async def read(self, sha256: str, *, max_bytes: int) -> bytes:
        """The whole blob (for manifests and table chunks, which are small)."""
        path = self.path(sha256)

        def read() -> bytes:
            try:
                with open(path, "rb") as f:
                    data = f.read(max_bytes + 1)
            except FileNotFoundError:
                raise NotFoundError(f"blob {sha256} is not stored") from None
            if len(data) > max_bytes:
                raise PayloadTooLargeError(f"blob {sha256} is larger than {max_bytes} bytes")
            return data

        return await _off_loop(read)

    async def stream(self, sha256: str, *,
                     chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncGenerator[bytes, None]:
        """The blob in chunks of `chunk_bytes`."""
        path = self.path(sha256)
        try:
            f = await _off_loop(lambda: open(path, "rb"))  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise NotFoundError(f"blob {sha256} is not stored") from None
        try:
            while chunk := await _off_loop(lambda: f.read(chunk_bytes)):
                yield chunk
        finally:
            f.close()

    async def put_stream(self, sha256: str, chunks: AsyncIterable[bytes], *,
                         max_bytes: int) -> int:
        """Hash while writing to a temp file; rename into place only if the hash matches.
        When the blob is stored already, only hash (the file stays as it is)."""
        target = self.path(sha256)
        if await _off_loop(target.is_file):
            return await _verify_stream(sha256, chunks, max_bytes)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="upload-")
        tmp = Path(tmp_name)
        hasher = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                buffer = bytearray()
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLargeError(f"blob is larger than {max_bytes} bytes")
                    buffer += chunk
                    if len(buffer) >= _WRITE_BUFFER_BYTES:
                        block, buffer = bytes(buffer), bytearray()
                        await _off_loop(partial(_write_hashed, out, hasher, block))
                await _off_loop(partial(_finish_file, out, hasher, bytes(buffer)))
            actual = hasher.hexdigest()
            if actual != sha256:
                raise BlobDigestError(f"the uploaded bytes hash to {actual}, not {sha256}; "
                                      "nothing was stored")
            await _off_loop(partial(_publish, tmp, target))
            return size
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    async def close(self) -> None:
        """Nothing to release: every file is closed when its call ends."""


async def _verify_stream(sha256: str, chunks: AsyncIterable[bytes], max_bytes: int) -> int:
    """Read an upload of a blob that is stored already: its size, once its bytes are
    known to hash to `sha256` (`BlobDigestError` otherwise). Nothing is written."""
    hasher = hashlib.sha256()
    size = 0
    buffer = bytearray()
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"blob is larger than {max_bytes} bytes")
        buffer += chunk
        if len(buffer) >= _WRITE_BUFFER_BYTES:
            block, buffer = bytes(buffer), bytearray()
            await _off_loop(partial(hasher.update, block))
    await _off_loop(partial(hasher.update, bytes(buffer)))
    actual = hasher.hexdigest()
    if actual != sha256:
        raise BlobDigestError(f"the uploaded bytes hash to {actual}, not {sha256}; "
                              "nothing was stored")
    return size


def _write_hashed(out: IO[bytes], hasher: hashlib._Hash, block: bytes) -> None:
    hasher.update(block)
    out.write(block)


def _finish_file(out: IO[bytes], hasher: hashlib._Hash, block: bytes) -> None:
    _write_hashed(out, hasher, block)
    out.flush()
    os.fsync(out.fileno())


def _publish(tmp: Path, target: Path) -> None:
    """Rename a complete, verified temp file into place and make the rename durable;
    a file that another upload put there meanwhile is kept (its bytes are the same)."""
    target.parent.mkdir(mode=0o700, exist_ok=True)
    if target.is_file():
        return
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_MAGIC: list[tuple[Callable[[bytes], bool], str]] = [
    (lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"), "image/png"),
    (lambda h: h[:6] in (b"GIF87a", b"GIF89a"), "image/gif"),
    (lambda h: h.startswith(b"\xff\xd8\xff"), "image/jpeg"),
    (lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE", "audio/wav"),
    (lambda h: h[4:8] == b"ftyp", "video/mp4"),
    (lambda h: h.startswith(b"\x1a\x45\xdf\xa3"), "video/webm"),
    (lambda h: h.startswith(b"OggS"), "audio/ogg"),
    (lambda h: h.lstrip()[:14].lower() == b"<!doctype html"
        or h.lstrip()[:5].lower() == b"<html", "text/html; charset=utf-8"),
]


def sniff_content_type(head: bytes) -> str:
    """Content type from a blob's first bytes (PNG, GIF, JPEG, WAV, MP4, WebM, Ogg,
    HTML), else ``application/octet-stream``."""
    for matches, content_type in _MAGIC:
        if matches(head):
            return content_type
    return "application/octet-stream"
