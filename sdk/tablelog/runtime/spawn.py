"""Start an agent for a queue directory when none is running (online mode).

The check is the agent's own lock: if we can take ``agent.lock`` for an
instant, nobody holds it, so we release it and spawn ``python -m
tablelog_agent`` detached (its own session, outliving the training process).
Spawners take ``agent.spawn`` (an flock) while they decide, and record there
the agent they started: while that one is still starting (alive, not yet
holding the lock, for at most `STARTING_MAX_S`), nobody spawns another, so two
SDK processes (ranks, a writer re-spawning) start one agent, not two. Should
two agents start all the same, the second finds the lock taken and exits.
Nothing here ever raises into training or waits for the agent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

from tablelog.settings import SdkConfig

AGENT_NICENESS = 10  # the spawned agent yields the CPU to training on a busy node
SPAWN_NAME = "agent.spawn"
STARTING_MAX_S = 30.0  # an agent spawned longer ago that holds no lock is not "starting"

# Popen objects of agents we started: kept so they are not garbage-collected
# (with a ResourceWarning) while the detached agent outlives them.
_spawned: list[subprocess.Popen[bytes]] = []


def agent_running(directory: Path) -> bool:
    """True when some process holds the directory's agent.lock."""
    import fcntl

    lock = directory / "agent.lock"
    if not lock.exists():
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def spawn_agent(settings: SdkConfig) -> subprocess.Popen[bytes] | None:
    """Spawn a detached agent for settings.dir unless one runs or is starting; a
    warning (never an error) on failure."""
    import fcntl

    _spawned[:] = [p for p in _spawned if p.poll() is None]  # reap agents that exited
    try:
        fd = os.open(settings.dir / SPAWN_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return None  # another process is deciding right now; it will start one
            if agent_running(settings.dir) or _still_starting(fd, settings.dir):
                return None
            proc = _popen_agent(settings)
            from tablelog.runtime.lifetime import process_token

            record = f"{proc.pid} {time.time():.3f} {process_token(proc.pid)}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            return proc
        finally:
            os.close(fd)  # releases the flock
    except Exception as exc:
        warnings.warn(f"tablelog: could not start the upload agent ({exc}); data stays queued "
                      f"in {settings.dir}; run `tablelog sync` to upload it", RuntimeWarning,
                      stacklevel=2)
        return None


def _popen_agent(settings: SdkConfig) -> subprocess.Popen[bytes]:
    # 0600 like every other file of the queue directory (the umask would give 0644)
    fd = os.open(settings.dir / "agent.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    log = os.fdopen(fd, "ab")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tablelog_agent", "--dir", str(settings.dir),
             "--idle-exit", str(settings.agent_idle_exit_s)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            close_fds=True, env={**os.environ, "TABLELOG_BASE_URL": settings.base_url,
                                 "TABLELOG_AGENT_NICE": str(AGENT_NICENESS)})
        _spawned.append(proc)
        return proc
    finally:
        log.close()


def _still_starting(fd: int, directory: Path) -> bool:
    """True when the agent last recorded in agent.spawn (read from `fd`) is alive, was
    spawned less than STARTING_MAX_S ago and has not taken the lock yet (one that took
    it and let go is exiting: a new one is needed)."""
    from tablelog.runtime.lifetime import process_alive

    try:
        pid_text, when, *token = os.pread(fd, 256, 0).decode().split()
        pid = int(pid_text)
        age = time.time() - float(when)
    except (ValueError, UnicodeDecodeError):
        return False
    if not 0 <= age < STARTING_MAX_S or not process_alive(pid, token[0] if token else ""):
        return False
    try:
        locked_by = (directory / "agent.lock").read_text().strip()
    except OSError:
        locked_by = ""
    return locked_by != str(pid)


def ensure_agent(settings: SdkConfig) -> None:
    """Spawn an agent in the background so init() never waits on fork/exec."""
    threading.Thread(target=spawn_agent, args=(settings,), name="tablelog-spawn",
                     daemon=True).start()
