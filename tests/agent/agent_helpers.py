"""Builders shared by the agent tests: queue entries, fast configs, server read-back."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.store.queue import NewEntry, Queue
from tablelog_agent.config import AgentConfig

API_KEY = "test-key-0123456789"  # the key tests/conftest.py gives the real server
ENTITY = "local"
REPO = Path(__file__).resolve().parents[2]


def run_entry(project: str, run_id: str) -> NewEntry:
    payload = wire.encode_entry(wire.Kind.RUN, entity=None, project=project, run_id=run_id,
                                body={"name": run_id, "config": {}, "tags": [], "notes": None,
                                      "job_type": None, "started_at": 1.7e9, "resumed": False})
    return NewEntry(run=f"{project}/{run_id}", kind="run", payload=payload)


def history_entry(project: str, run_id: str, step: int, **row: Any) -> NewEntry:
    payload = wire.encode_entry(wire.Kind.HISTORY, entity=None, project=project, run_id=run_id,
                                body={"step": step, "row": {"x": step, **row}})
    return NewEntry(run=f"{project}/{run_id}", kind="history", payload=payload)


def artifact_entry(queue: Queue, project: str, run_id: str, name: str,
                   files: dict[str, bytes]) -> NewEntry:
    """An artifact whose entries are `files`, each stored as a blob in `queue`."""
    entries = {}
    for entry_name, data in files.items():
        sha = queue.blobs.put(data)
        entries[entry_name] = wire.ManifestEntry("file", sha, len(data))
    blobs = wire.artifact_blobs(entries)
    body = {"name": name, "type": "dataset", "description": "", "metadata": {},
            "aliases": ["latest"], "digest": wire.artifact_digest(entries),
            "entries": {k: v.to_plain() for k, v in entries.items()}, "blobs": blobs}
    payload = wire.encode_entry(wire.Kind.ARTIFACT, entity=None, project=project,
                                run_id=run_id, body=body)
    return NewEntry(run=f"{project}/{run_id}", kind="artifact", payload=payload,
                    blobs=tuple(blobs), blob_bytes=sum(len(d) for d in files.values()))


def fill(directory: Path, project: str, runs: Iterable[str], steps: int,
         *, interleave: bool = True) -> int:
    """Queue a run entry then `steps` history rows for each run; returns entries queued."""
    runs = list(runs)
    batch = [run_entry(project, r) for r in runs]
    if interleave:
        batch += [history_entry(project, r, s) for s in range(steps) for r in runs]
    else:
        batch += [history_entry(project, r, s) for r in runs for s in range(steps)]
    with Queue(directory) as queue:
        queue.put_many(batch)
    return len(batch)


def fast_config(directory: Path, url: str, **overrides: Any) -> AgentConfig:
    """Small backoff and polls so failure tests take milliseconds, not minutes."""
    values: dict[str, Any] = {
        "dir": directory, "base_url": url, "api_key": API_KEY, "backoff_base_s": 0.02,
        "backoff_cap_s": 0.2, "auth_backoff_base_s": 0.02, "auth_backoff_cap_s": 0.2,
        "poll_min_s": 0.005, "poll_max_s": 0.05, "heartbeat_s": 0.1,
        "drain_timeout_s": 5.0, "connect_timeout_s": 2.0, "read_timeout_s": 10.0}
    values.update(overrides)
    return AgentConfig(**values)


def unreachable_url() -> str:
    """A loopback URL where nothing listens (a port just bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def get_json(url: str, path: str, *, key: str = API_KEY) -> Any:
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def history_steps(url: str, project: str, run_id: str) -> list[int]:
    """Every `_step` the server holds for a run, following pagination ([] for a run
    the server does not know yet)."""
    steps: list[int] = []
    offset: int | None = 0
    for _ in range(10_000):  # bounded: 10k pages
        if offset is None:
            return steps
        try:
            page = get_json(url, f"/api/v1/runs/{ENTITY}/{project}/{run_id}/history"
                                 f"?offset={offset}&limit=1000")
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and not steps:
                return []
            raise
        steps.extend(int(r["_step"]) for r in page["rows"])
        offset = page.get("next")
    raise AssertionError("history pagination did not end")


def cli_env(directory: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLELOG_", "NOTIFY_",
                                                                       "WATCHDOG_"))}
    env.update({"TABLELOG_DIR": str(directory), "TABLELOG_BASE_URL": url,
                "TABLELOG_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1", **extra})
    return env


def run_cli(*args: str, env: dict[str, str], timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
    """`tablelog ARGS` in a subprocess (the console script's code path)."""
    return subprocess.run([sys.executable, "-c",
                           "import sys; from tablelog_agent.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *args],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


async def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `predicate()` (bounded) for conditions no event announces, e.g. a server's
    state as seen from outside."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


class AgentProcess:
    """`python -m tablelog_agent` in a subprocess with its own NOTIFY_SOCKET, so tests
    learn readiness from the agent itself (READY=1) instead of sleeping."""

    def __init__(self, directory: Path, url: str, sock_dir: Path, *args: str,
                 watchdog_usec: int | None = None, key: str = API_KEY) -> None:
        self.directory, self.url, self.args = directory, url, args
        self.sock_path = sock_dir / f"notify-{os.getpid()}-{id(self)}.sock"
        self.watchdog_usec = watchdog_usec
        self.key = key
        self.messages: list[str] = []
        self.proc: Any = None
        self._sock: Any = None

    async def start(self) -> AgentProcess:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.sock_path))
        self._sock.setblocking(False)
        env = cli_env(self.directory, self.url, TABLELOG_API_KEY=self.key,
                      NOTIFY_SOCKET=str(self.sock_path))
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tablelog_agent", "--dir", str(self.directory), *self.args,
            env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return self

    async def next_message(self, timeout: float = 20.0) -> str:
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(self._sock, 4096), timeout)
        text: str = data.decode()
        self.messages.append(text)
        return text

    async def wait_for_message(self, line: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.next_message(max(0.01, deadline - time.monotonic()))
            if line in message.splitlines():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {line} from the agent")

    def drain_messages(self) -> list[str]:
        """Every message received so far, reading what is waiting without blocking."""
        while True:
            try:
                self.messages.append(self._sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    async def ready(self, timeout: float = 20.0) -> AgentProcess:
        await self.wait_for_message("READY=1", timeout)
        return self

    async def wait(self, timeout: float = 20.0) -> tuple[int, str]:
        """Exit status and stderr (kills it if it outlives `timeout`)."""
        try:
            _, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        return int(self.proc.returncode), err.decode()

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.communicate()
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self.sock_path.unlink(missing_ok=True)
