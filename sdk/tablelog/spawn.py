"""Start an agent for a queue directory when none is running (online mode).

The check is the agent's own lock: if we can take ``agent.lock`` for an
instant, nobody holds it, so we release it and spawn ``python -m
tablelog_agent`` detached (its own session, outliving the training process).
Two ranks racing here may both spawn; the second agent finds the lock taken
and exits. Nothing here ever raises into training or waits for the agent.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

from tablelog.settings import SdkConfig

AGENT_NICENESS = 10  # the spawned agent yields the CPU to training on a busy node

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
    """Spawn a detached agent for settings.dir; a warning (never an error) on failure."""
    try:
        if agent_running(settings.dir):
            return None
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
    except Exception as exc:
        warnings.warn(f"tablelog: could not start the upload agent ({exc}); data stays queued "
                      f"in {settings.dir}; run `tablelog sync` to upload it", RuntimeWarning,
                      stacklevel=2)
        return None


def ensure_agent(settings: SdkConfig) -> None:
    """Spawn an agent in the background so init() never waits on fork/exec."""
    threading.Thread(target=spawn_agent, args=(settings,), name="tablelog-spawn",
                     daemon=True).start()
