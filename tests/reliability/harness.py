"""What every reliability scenario needs: real servers and agents as processes, a
fault proxy, training workloads logged through the SDK, and counting on the server.

Counting: every history row a scenario logs carries a unique integer ``seq``.
After the scenario, the server's read API (``GET .../history``) is paged through
and each ``seq`` counted: *stored* = distinct sent values found, *duplicated* =
extra copies, *lost* = sent values not found. Nothing is counted from the
client's own belief of what it sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.agent.faultproxy import FaultProxy
from tests.conftest import API_KEY, ENTITY, ServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
PROJECT = "rel"


# -- the result of a scenario ---------------------------------------------------------------


@dataclass
class Check:
    what: str
    ok: bool
    detail: str = ""
    times: int = 1  # how often this check was made (a check made per kill, per run, ...)


@dataclass
class Counts:
    """One scenario's outcome: the report's table row plus every check made."""

    scenario: str
    done: str = ""
    sent: int = 0
    stored: int = 0
    duplicated: int = 0
    lost: int = 0
    requests: int | None = None  # HTTP requests the agent made (None: no HTTP involved)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # numbers worth reporting
    seconds: float = 0.0

    def check(self, ok: object, what: str, detail: object = "") -> bool:
        """Record a check; the same check made again (per kill, per run) is counted in
        one entry, which fails if any instance failed and keeps the first failure."""
        for existing in self.checks:
            if existing.what == what:
                existing.times += 1
                if not ok and existing.ok:
                    existing.ok, existing.detail = False, str(detail)
                return bool(ok)
        self.checks.append(Check(what, bool(ok), "" if ok else str(detail)))
        return bool(ok)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return (not self.failures and self.duplicated == 0 and self.lost == 0
                and self.stored == self.sent)

    def assert_ok(self) -> None:
        """Raise AssertionError naming every failed check (what tests call)."""
        problems = [f"{c.what}: {c.detail}" for c in self.failures]
        if self.stored != self.sent or self.duplicated or self.lost:
            problems.append(f"sent {self.sent}, stored {self.stored}, "
                            f"duplicated {self.duplicated}, lost {self.lost}")
        if problems:
            raise AssertionError(f"{self.scenario}:\n  " + "\n  ".join(problems))


# -- processes ----------------------------------------------------------------------------


def child_env(directory: Path | None, url: str | None, *, key: str | None = API_KEY,
              **extra: str) -> dict[str, str]:
    """The environment for an SDK, agent or CLI child: no inherited TABLELOG_*."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TABLELOG_", "NOTIFY_", "WATCHDOG_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    if directory is not None:
        env["TABLELOG_DIR"] = str(directory)
    if url is not None:
        env["TABLELOG_BASE_URL"] = url
    if key is not None:
        env["TABLELOG_API_KEY"] = key
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str], timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    """`tablelog ARGS` as a subprocess (the console script's code path)."""
    return subprocess.run([sys.executable, "-c",
                           "import sys; from tablelog_agent.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


class AgentProc:
    """`python -m tablelog_agent --dir D` with its own NOTIFY_SOCKET, so that readiness
    comes from the agent (READY=1), never from a sleep."""

    def __init__(self, directory: Path, url: str, sock_dir: Path, *args: str,
                 key: str = API_KEY, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        self.sock_path = sock_dir / f"n{os.getpid()}-{id(self) % 100000}.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock_path.unlink(missing_ok=True)
        self._sock.bind(str(self.sock_path))
        env = child_env(directory, url, key=key, NOTIFY_SOCKET=str(self.sock_path),
                        **(env or {}))
        self.log_path = sock_dir / f"agent-{id(self) % 100000}.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tablelog_agent", "--dir", str(directory), *args],
                env=env, cwd=REPO, stdout=log, stderr=log)

    def ready(self, timeout: float = 30.0) -> bool:
        """True once READY=1 arrived; False if the process exited first or time ran out."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self._sock.settimeout(min(left, 0.25))
            try:
                message = self._sock.recv(4096).decode()
            except TimeoutError:
                if self.proc.poll() is not None:
                    return False
                continue
            if "READY=1" in message.splitlines():
                return True
        return False

    def kill9(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._sock.close()
        self.sock_path.unlink(missing_ok=True)


class Harness:
    """Owns what a scenario starts (servers, proxies, agents) and stops it all at exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._stack = contextlib.ExitStack()
        self._servers: list[ServerProcess] = []
        self._agents: list[AgentProc] = []

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        for agent in self._agents:
            agent.close()
        self._stop_spawned_agents()
        self._stack.close()
        for srv in self._servers:
            srv.stop()

    def _stop_spawned_agents(self) -> None:
        """Agents the SDK started (detached, not our children) retry a server that is
        gone for ever: stop any still holding a queue under `root`, as a failed
        scenario may leave them."""
        from tablelog_agent.lock import lock_holder

        for lock in self.root.rglob("agent.lock"):
            holder = lock_holder(lock.parent)
            if holder:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(holder, signal.SIGKILL)

    def path(self, name: str) -> Path:
        return self.root / name

    def server(self, *, port: int | None = None, keys: dict[str, str] | None = None,
               extra_args: Iterable[str] = (), start: bool = True,
               nofile: int | None = None) -> ServerProcess:
        """A real `tablelog server` subprocess on 127.0.0.1 with a fresh data dir.
        `keys` maps keys to entities (default: API_KEY for `local`); `nofile` limits the
        file descriptors it may open (RLIMIT_NOFILE, soft and hard)."""
        data = self.root / f"server-data-{len(self._servers)}"
        data.mkdir()
        args = list(extra_args)
        api_keys = [API_KEY]
        if keys is not None:
            keys_file = self.root / f"keys-{len(self._servers)}.json"
            keys_file.write_text(json.dumps(keys))
            args += ["--keys-file", str(keys_file)]
            api_keys = []
        srv = ServerProcess(data_dir=data, port=port or free_port(), api_keys=api_keys,
                            extra_args=args, nofile=nofile)
        self._servers.append(srv)
        if start:
            srv.start(timeout=60)
        return srv

    def proxy(self, upstream: str) -> FaultProxy:
        """A FaultProxy on its own thread; every request the agent makes passes it."""
        return self._stack.enter_context(FaultProxy.running_in_thread(upstream))

    def agent(self, directory: Path, url: str, *args: str, key: str = API_KEY,
              env: dict[str, str] | None = None) -> AgentProc:
        agent = AgentProc(directory, url, self.root, *args, key=key, env=env)
        self._agents.append(agent)
        return agent

    def mount_tmpfs(self, directory: Path, size: str) -> bool:
        """Mount a small tmpfs (root only); unmounted at exit. False when not possible."""
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0 or not shutil.which("mount"):
            return False
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700",
                               "tmpfs", str(directory)], capture_output=True, timeout=30)
        if done.returncode != 0:
            return False
        self._stack.callback(lambda: subprocess.run(["umount", "-l", str(directory)],
                                                    capture_output=True, timeout=30))
        return True


# -- the agent, in this process ------------------------------------------------------------------


FAST = {"backoff_base_s": 0.05, "backoff_cap_s": 0.4, "auth_backoff_base_s": 0.05,
        "auth_backoff_cap_s": 0.4, "poll_min_s": 0.005,
        "poll_max_s": 0.05, "heartbeat_s": 0.2, "drain_timeout_s": 5.0,
        "connect_timeout_s": 5.0, "read_timeout_s": 30.0}


def agent_config(directory: Path, url: str, **overrides: Any) -> Any:
    from tablelog_agent.config import AgentConfig

    return AgentConfig(dir=directory, base_url=url, api_key=API_KEY, **{**FAST, **overrides})


def drain(directory: Path, url: str, *, timeout_s: float = 60.0, **overrides: Any) -> Any:
    """`tablelog sync`'s code (`tablelog_agent.sync.sync`) in this process with fast
    backoff: returns its SyncOutcome once the queue is empty (or it gave up)."""
    from tablelog_agent.sync import sync

    return asyncio.run(sync(agent_config(directory, url, **overrides), timeout_s=timeout_s,
                            progress=False, out=io.StringIO()))


# -- reading the server back ------------------------------------------------------------------


def get_json(url: str, path: str, *, key: str = API_KEY) -> Any:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


def history_rows(url: str, project: str, run_id: str, *, key: str = API_KEY
                 ) -> list[dict[str, Any]]:
    """Every history row the server holds for a run, in its order ([] for a run it
    does not know)."""
    rows: list[dict[str, Any]] = []
    offset: int | None = 0
    for _ in range(100_000):  # bounded: pages of 10,000
        if offset is None:
            return rows
        try:
            page = get_json(url, f"/api/v1/runs/{ENTITY}/{project}/{run_id}/history"
                                 f"?offset={offset}&limit=10000", key=key)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and not rows:
                return []
            raise
        rows.extend(page["rows"])
        offset = page.get("next")
    raise AssertionError("history pagination did not end")


def artifact_versions(url: str, project: str, name: str) -> list[dict[str, Any]]:
    try:
        return list(get_json(url, f"/api/v1/artifacts/{ENTITY}/{project}/{name}")["versions"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise


def tally(c: Counts, url: str, sent: dict[str, list[int]], project: str = PROJECT, *,
          key: str = API_KEY) -> None:
    """Count the `seq` values of `sent` (run id -> seqs in logging order) on the server
    into `c`, and check that each run's rows come back in logging order."""
    for run_id, seqs in sent.items():
        rows = history_rows(url, project, run_id, key=key)
        got = [r.get("seq") for r in rows if "seq" in r]
        counts = collections.Counter(got)
        wanted = set(seqs)
        c.sent += len(seqs)
        c.stored += len(wanted & counts.keys())
        c.duplicated += sum(n - 1 for v, n in counts.items() if v in wanted and n > 1)
        c.lost += len(wanted - counts.keys())
        strangers = sorted(counts.keys() - wanted)
        c.check(not strangers, "each run on the server: no row that was never sent",
                f"run {run_id}: {len(strangers)} unexpected seq values, e.g. {strangers[:5]}")
        first_seen = list(dict.fromkeys(v for v in got if v in wanted))
        expected = [s for s in seqs if s in counts]
        c.check(first_seen == expected, "each run on the server: rows in logging order",
                f"run {run_id}: {_first_difference(first_seen, expected)}")
        steps = [r.get("_step") for r in rows]
        c.check(steps == sorted(steps), "each run on the server: steps increase",
                f"run {run_id}: {_first_difference(steps, sorted(steps))}")  # type: ignore[type-var]


def _first_difference(got: list[Any], want: list[Any]) -> str:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"first difference at position {i}: {a!r} != {b!r}"
    return f"lengths {len(got)} != {len(want)}"


def queue_state(directory: Path) -> dict[str, Any]:
    """Pending/dead counts and SQLite's own integrity check of a queue directory."""
    import sqlite3

    from tablelog.store.queue import Queue

    with Queue(directory) as q:
        stats = q.stats()
        dead = q.dead_letters()
    conn = sqlite3.connect(directory / "queue.db")
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return {"pending": stats.pending, "dead": stats.dead, "dead_letters": dead,
            "integrity": integrity}


@contextlib.contextmanager
def timed(c: Counts) -> Iterator[None]:
    started = time.monotonic()
    try:
        yield
    finally:
        c.seconds = time.monotonic() - started
