"""Keeping an agent on a queue directory while a run logs into it, and telling the
user when the server refuses the agent's key.

- Open runs: the writer thread registers its run in ``open_runs`` (run key, pid,
  the pid's start time and boot id, host) on its first commit and removes it with
  the commit that records the run's end. An agent does not exit idle while a
  registered run's process is alive (`live_open_runs`); entries of dead processes
  are dropped. A forked child registers itself on its own first commit.
- Re-spawn: after each commit the writer checks the agent lock (a few
  microseconds) and, when nobody holds it, spawns an agent (`spawn.spawn_agent`,
  at most every `SPAWN_INTERVAL_S` per process, always for the run's last commit),
  so a killed or exited agent comes back. The training thread does none of this.
- A refused key: the agent records ``auth_failed`` and a fingerprint of its key in
  ``agent_state``; `warn_if_key_refused` (init, finish, and the writer every
  `STATE_CHECK_S`) warns once per process.

The key fingerprint is a salted hash (queue id + key), never the key: equal
fingerprints mean "same key" for this queue, and nothing more can be learned.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tablelog.settings import SdkConfig
    from tablelog.store.queue import NewEntry, Queue

log = logging.getLogger("tablelog")

SPAWN_INTERVAL_S = 2.0  # a writer spawns an agent at most this often (its last commit excepted)
STATE_CHECK_S = 5.0  # how often the writer looks at the agent's state for a refused key
_RUN_END = "run_end"

_boot_id: str | None = None
_warned_pid: int | None = None  # the process that already warned about a refused key


def this_host() -> str:
    """This machine's name, as recorded with an open run."""
    return os.uname().nodename


def _boot() -> str:
    global _boot_id
    if _boot_id is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _boot_id = f.read().strip()
        except OSError:
            _boot_id = ""
    return _boot_id


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat from the third (the state) on; None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    return stat.rsplit(")", 1)[-1].split()


def process_token(pid: int) -> str:
    """The boot id and start time (clock ticks since boot) of process `pid`: a later
    process that reuses the pid gets another token. '' where /proc cannot tell."""
    fields = _stat_fields(pid)
    return f"{_boot()}:{fields[19]}" if fields and len(fields) > 19 else ""


def process_alive(pid: int, token: str) -> bool:
    """True when `pid` runs (a zombie does not) and is the process `token` was taken from."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    fields = _stat_fields(pid)
    if fields is None:  # no /proc: the signal probe is all we know
        return True
    if not fields or fields[0] in ("Z", "X"):
        return False
    return not token or len(fields) <= 19 or f"{_boot()}:{fields[19]}" == token


def key_fingerprint(queue_id: str, key: str | None) -> str:
    """A salted hash naming `key` within one queue ('' for no key)."""
    if not key:
        return ""
    return hashlib.sha256(f"tablelog-key:{queue_id}:{key}".encode()).hexdigest()[:16]


# -- the open_runs table -------------------------------------------------------------------


def register_open_run(queue: Queue, run: str) -> None:
    """Record that this process has `run` open."""
    pid = os.getpid()
    with queue.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO open_runs(run, pid, host, pid_start, opened_at)"
                     " VALUES (?, ?, ?, ?, ?)",
                     (run, pid, this_host(), process_token(pid), time.time()))


def close_open_run(queue: Queue, run: str) -> None:
    """This process has finished `run`."""
    with queue.transaction() as conn:
        conn.execute("DELETE FROM open_runs WHERE run = ? AND pid = ? AND host = ?",
                     (run, os.getpid(), this_host()))


def live_open_runs(queue: Queue) -> int:
    """How many registered runs of this host have their process alive; the others of
    this host are dropped. Runs of other hosts are neither counted (their processes
    cannot be checked from here) nor dropped (their own host's agent counts them)."""
    host = this_host()
    with queue._lock:
        rows = queue._conn.execute("SELECT run, pid, pid_start FROM open_runs WHERE host = ?",
                                   (host,)).fetchall()
    dead = [(run, pid) for run, pid, token in rows if not process_alive(int(pid), token)]
    if dead:
        with queue.transaction() as conn:
            conn.executemany("DELETE FROM open_runs WHERE run = ? AND pid = ? AND host = ?",
                             [(run, pid, host) for run, pid in dead])
    return len(rows) - len(dead)


def open_run_processes(queue: Queue) -> dict[str, list[tuple[int, str, bool | None]]]:
    """For each run registered open: (pid, host, alive) per process that has it open;
    alive is None for another host's process (it cannot be checked from here). Reads
    only: `tablelog status` must not change the directory it reports on."""
    host = this_host()
    with queue._lock:
        rows = queue._conn.execute("SELECT run, pid, host, pid_start FROM open_runs").fetchall()
    out: dict[str, list[tuple[int, str, bool | None]]] = {}
    for run, pid, run_host, token in rows:
        alive = process_alive(int(pid), token) if run_host == host else None
        out.setdefault(str(run), []).append((int(pid), str(run_host), alive))
    return out


# -- the writer's hook -----------------------------------------------------------------------


class AgentKeeper:
    """Called by the writer thread after each commit of one run (`after_commit`)."""

    def __init__(self, settings: SdkConfig, run: str) -> None:
        self.settings = settings
        self.run = run
        self._registered_pid: int | None = None
        self._spawned_at = -SPAWN_INTERVAL_S
        self._state_checked_at = time.monotonic()  # init() has just checked
        self._online = settings.mode == "online" and settings.agent_autostart

    def after_commit(self, queue: Queue, entries: Sequence[NewEntry]) -> None:
        """Register the run, keep an agent serving the directory, look for a refused
        key. Never raises: the writer must go on whatever happens here."""
        if not entries:
            return
        try:
            final = any(e.kind == _RUN_END for e in entries)
            pid = os.getpid()
            if final:
                close_open_run(queue, self.run)
                self._registered_pid = None
            elif self._registered_pid != pid:  # first commit, or the first of a forked child
                register_open_run(queue, self.run)
                self._registered_pid = pid
                self._spawned_at = -SPAWN_INTERVAL_S  # a forked child spawns on its own
            if self.settings.mode != "online":
                return
            now = time.monotonic()
            if self._online and (final or now - self._spawned_at >= SPAWN_INTERVAL_S):
                from tablelog.runtime.spawn import agent_running, spawn_agent

                if not agent_running(self.settings.dir):
                    self._spawned_at = now
                    spawn_agent(self.settings)
            if now - self._state_checked_at >= STATE_CHECK_S:
                self._state_checked_at = now
                warn_if_key_refused(queue, self.settings)
        except Exception:  # a busy queue or a failed spawn: the next commit tries again
            log.debug("tablelog: keeping an agent on %s failed", self.settings.dir,
                      exc_info=True)


# -- a refused key ------------------------------------------------------------------------------


def warn_if_key_refused(queue: Queue, settings: SdkConfig) -> None:
    """Warn (once per process) when the agent serving the directory, or the last one,
    has had its key refused by the server and that would happen to this key too."""
    global _warned_pid
    if settings.mode != "online" or _warned_pid == os.getpid():
        return
    try:
        state = queue.agent_state()
        if not state.get("auth_failed"):
            return
        from tablelog.runtime.spawn import agent_running

        running = agent_running(settings.dir)
    except Exception:  # the state is a hint; never fail a run over it
        return
    message = key_refused_message(state, running, key_fingerprint(queue.queue_id,
                                                                  settings.api_key), settings)
    if message is None:
        return
    _warned_pid = os.getpid()
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def key_refused_message(state: dict[str, Any], running: bool, ours: str,
                        settings: SdkConfig) -> str | None:
    """The warning for an agent state with ``auth_failed``; None when it does not
    concern this process (a stopped agent that had another key)."""
    theirs = state.get("key_fingerprint")
    same_key = theirs is None or theirs == ours
    if not running and not same_key:
        return None
    server = state.get("base_url") or settings.base_url
    error = str(state.get("last_error") or "")[:200]
    where = f"nothing from {settings.dir} is uploaded; it stays queued there"
    fix = ("set TABLELOG_API_KEY to a key the server accepts, then run `tablelog sync` "
           "(it stops the stuck agent and uploads everything)")
    if same_key:
        return (f"tablelog: the server {server} refused the API key (TABLELOG_API_KEY): "
                f"{where}. To fix it, {fix}. Last error: {error}")
    pid = state.get("pid")
    return (f"tablelog: the agent (pid {pid}) serving {settings.dir} uses another API key, "
            f"which the server {server} refused: {where}. Run `tablelog sync` with "
            f"TABLELOG_API_KEY set to the right key: it takes over. Last error: {error}")

