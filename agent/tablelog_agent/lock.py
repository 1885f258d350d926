"""One agent per queue directory: an exclusive, non-blocking flock on ``<dir>/agent.lock``.

The holder writes its pid into the file so that others can name it. The kernel
drops the lock when the holder dies, however it dies (kill -9 included), so a
stale pid in the file never blocks a new agent. Plain blocking code: the SDK
calls `lock_holder` without an event loop.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from tablelog_agent.errors import AgentLockedError

LOCK_NAME = "agent.lock"


class AgentLock:
    """The held lock; release with `release()` or by leaving the `with` block."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> AgentLock:
        """Take the lock or raise AgentLockedError naming the holder's pid."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AgentLockedError(str(self.path.parent), _holder_pid(self.path)) from None
        # Only now may the file be rewritten: before the lock it is the holder's.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the pid stays in the file; an unlocked file means no holder)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> AgentLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(directory: str | os.PathLike[str]) -> int | None:
    """The pid of the agent serving `directory`, or None when no agent holds the lock.

    Returns 0 in the instant between another process taking the lock and writing
    its pid (still "held": do not start a second agent).
    """
    path = Path(directory) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_pid(path) or 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _holder_pid(path: Path, attempts: int = 20) -> int | None:
    # The holder truncates then writes its pid right after locking; give it a moment.
    for _ in range(attempts):
        try:
            text = path.read_text().strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.005)
    return None
