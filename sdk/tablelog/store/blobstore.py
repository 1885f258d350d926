"""Content-addressed blob files: ``blobs/ab/cdef…`` named by their sha256.

A blob is written to a temp file in the same directory tree, fsync'd, then
renamed into place, so a reader never sees half a blob and a crash leaves at
worst an orphaned temp file (swept on open). Blobs are immutable: writing one
that exists only refreshes its mtime.

Deletion (`tablelog.store.blobgc`, run by the agent) must never remove a blob that a
writer has put but not yet committed an entry for. Writers hold a *shared* flock
on ``blobs/gc.lock`` from their first put to their commit (`writing()`); the
collector deletes only while holding it *exclusively* (`exclusive()`), after
reading which blobs committed entries need. A file's mtime is its last use
(written, put again, read), which orders the least-recently-used eviction.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tablelog.errors import QueueError, QueueFullError
from tablelog.wire import is_sha256

_COPY_CHUNK = 1 << 20
GC_LOCK_NAME = "gc.lock"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class BlobFile:
    """One blob file as found on disk."""

    sha256: str
    size: int
    mtime: float  # its last use


class BlobStore:
    """Blob files under `root`, created 0700/0600."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"
        self._dirs: set[Path] = set()  # fan-out directories known to exist
        for d in (self.root, self._tmp):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._sweep_temp()

    def _sweep_temp(self) -> None:
        # Only files older than a minute: another process may be mid-write.
        import time

        cutoff = time.time() - 60
        for p in self._tmp.iterdir():
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
            except OSError:
                pass

    def _ensure_dir(self, directory: Path) -> None:
        # Remembered: a table of 1,000 images would otherwise pay a failing mkdir each.
        if directory not in self._dirs:
            directory.mkdir(mode=0o700, exist_ok=True)
            self._dirs.add(directory)

    def path(self, sha256: str) -> Path:
        """Where blob `sha256` lives (whether or not it exists). Rejects non-hashes,
        so no caller can build a path outside the store."""
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def size(self, sha256: str) -> int:
        return self.path(sha256).stat().st_size

    def read(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        self.touch(sha256)
        return data

    def touch(self, sha256: str) -> None:
        """Mark a blob as just used (its mtime), for least-recently-used eviction."""
        with contextlib.suppress(OSError):
            os.utime(self.path(sha256))

    def put(self, data: bytes | bytearray | memoryview, sha256: str | None = None, *,
            fsync: bool = True) -> str:
        """Store bytes; return their sha256. `sha256`, if given, must be right."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.exists():
            self.touch(digest)
            return digest
        self._write_atomic(target, data, fsync=fsync)
        return digest

    def put_file(self, src: str | os.PathLike[str], *, fsync: bool = True) -> tuple[str, int]:
        """Copy a file in, hashing as it streams; return (sha256, size)."""
        h = hashlib.sha256()
        size = 0
        fd, tmp_name = self._mkstemp()
        try:
            with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                while block := inp.read(_COPY_CHUNK):
                    h.update(block)
                    size += len(block)
                    out.write(block)
                out.flush()
                if fsync:
                    os.fsync(out.fileno())
            digest = h.hexdigest()
            target = self.path(digest)
            self._ensure_dir(target.parent)
            os.replace(tmp_name, target)
            return digest, size
        except OSError as exc:
            _unlink_quietly(tmp_name)
            raise _as_queue_error(exc) from exc

    def _mkstemp(self) -> tuple[int, str]:
        try:
            return tempfile.mkstemp(dir=self._tmp, prefix="w-")
        except OSError as exc:
            raise _as_queue_error(exc) from exc

    def _write_atomic(self, target: Path, data: bytes | bytearray | memoryview, *,
                      fsync: bool) -> None:
        # A temp name unique to this process and thread (no random names, no Python
        # file object: small media blobs are written by the thousand).
        tmp_name = os.path.join(self._tmp, f"{target.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._ensure_dir(target.parent)
            os.replace(tmp_name, target)
        except OSError as exc:
            _unlink_quietly(tmp_name)
            raise _as_queue_error(exc) from exc

    def verify(self, sha256: str) -> bool:
        """True when the file's bytes still hash to its name."""
        h = hashlib.sha256()
        try:
            with open(self.path(sha256), "rb") as f:
                while block := f.read(_COPY_CHUNK):
                    h.update(block)
        except FileNotFoundError:
            return False
        return h.hexdigest() == sha256

    def quarantine(self, sha256: str) -> Path:
        """Move a corrupt blob aside (kept for inspection, out of the store)."""
        self.quarantine_dir.mkdir(mode=0o700, exist_ok=True)
        dest = self.quarantine_dir / sha256
        shutil.move(str(self.path(sha256)), dest)
        return dest

    # -- deletion, and what keeps it safe ----------------------------------------

    def _lock_fd(self) -> int:
        return os.open(self.root / GC_LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold off deletion: blobs put inside this block stay until it ends, so an entry
        committed inside it finds every blob it names. Waits while a collection round
        is deleting (bounded by that round, a few hundred milliseconds at most)."""
        fd = self._lock_fd()  # a descriptor of our own per block: fork- and thread-safe
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def exclusive(self, timeout_s: float) -> Iterator[bool]:
        """Yield True while no writer is inside `writing()` (polling up to `timeout_s`
        for a moment between two writers' commits), else False at once after it."""
        fd = self._lock_fd()
        try:
            deadline = time.monotonic() + timeout_s
            held = False
            while not held:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.005)
            yield held
        finally:
            os.close(fd)

    def scan(self) -> list[BlobFile]:
        """Every blob file in the store (temp and quarantined files are not blobs)."""
        out: list[BlobFile] = []
        with contextlib.suppress(FileNotFoundError), os.scandir(self.root) as top:
            fanout = [d.path for d in top
                      if len(d.name) == 2 and _HEX.issuperset(d.name) and d.is_dir()]
        for directory in fanout:
            with contextlib.suppress(FileNotFoundError), os.scandir(directory) as files:
                prefix = os.path.basename(directory)
                for f in files:
                    if len(f.name) != 62 or not _HEX.issuperset(f.name):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        st = f.stat()
                        out.append(BlobFile(prefix + f.name, st.st_size, st.st_mtime))
        return out

    def delete(self, sha256: str) -> bool:
        """Remove a blob; True if it was there. Only `tablelog.store.blobgc` calls this,
        inside `exclusive()`."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True

    def iter_chunks(self, sha256: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        with open(self.path(sha256), "rb") as f:
            while block := f.read(chunk_size):
                yield block

    def sync(self, shas: list[str]) -> None:
        """fsync the files of `shas` and the directories holding them, so blobs written
        with ``fsync=False`` become durable. Many files are synced from a few threads
        at once: the filesystem's journal then commits them together (for 300 small
        files about 15 ms instead of 350 ms one after another)."""
        paths = list(dict.fromkeys(self.path(s) for s in shas))
        targets = paths + list(dict.fromkeys(p.parent for p in paths))
        if len(targets) <= 4:
            for path in targets:
                _fsync_path(path)
            return
        # Plain daemon threads, not concurrent.futures: the writer also syncs while the
        # interpreter exits, when executors refuse new work.
        pending = iter(targets)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    path = next(pending, None)
                if path is None:
                    return
                _fsync_path(path)

        threads = [threading.Thread(target=work, name="tablelog-fsync", daemon=True)
                   for _ in range(min(8, len(targets)))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _as_queue_error(exc: OSError) -> QueueError:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return QueueFullError(f"disk full while writing a blob: {exc}")
    return QueueError(f"cannot write a blob: {exc}")
