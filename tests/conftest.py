"""Fixtures shared by every test package: real servers on 127.0.0.1, real queue dirs."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

API_KEY = "test-key-0123456789"
ENTITY = "local"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nofile_limiter(nofile: int | None) -> Callable[[], None] | None:
    """What the child runs before exec to get `nofile` file descriptors at most, soft and
    hard (so that it cannot raise its own limit), as a service manager would set it."""
    if nofile is None:
        return None

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    return limit


@dataclass
class ServerProcess:
    """`tablelog server` in a subprocess: real HTTP on loopback, restartable."""

    data_dir: Path
    port: int
    api_keys: list[str] = field(default_factory=lambda: [API_KEY])
    extra_args: list[str] = field(default_factory=list)
    nofile: int | None = None  # RLIMIT_NOFILE (soft and hard) of the server process
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        args = [sys.executable, "-m", "tablelog_server", "--host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data_dir)]
        for key in self.api_keys:
            args += ["--api-key", key]
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        env = {k: v for k, v in os.environ.items() if k != "TABLELOG_API_KEY"}
        self.proc = subprocess.Popen([*args, *self.extra_args], stdout=log, stderr=log, env=env,
                                     preexec_fn=_nofile_limiter(self.nofile))
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)  # polling a process we just started, bounded by deadline
        raise RuntimeError(f"server did not answer /healthz in {timeout}s")

    def stop(self, sig_kill: bool = False, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        if sig_kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess] | object]:
    """Make servers: `server_factory()` starts one with a fresh data dir."""
    servers: list[ServerProcess] = []

    def make(**kwargs: object) -> ServerProcess:
        data_dir = tmp_path / f"server-data-{len(servers)}"
        data_dir.mkdir()
        srv = ServerProcess(data_dir=data_dir, port=free_port(), **kwargs)  # type: ignore[arg-type]
        servers.append(srv)
        return srv.start()

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def live_server(server_factory: object) -> ServerProcess:
    """One running server with API_KEY for entity 'local'."""
    return server_factory()  # type: ignore[operator,no-any-return]


@pytest.fixture
def queue_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh TABLELOG_DIR; the SDK runs offline unless a test says otherwise."""
    d = tmp_path / "tablelog"
    monkeypatch.setenv("TABLELOG_DIR", str(d))
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    monkeypatch.delenv("TABLELOG_API_KEY", raising=False)
    return d


@pytest.fixture(autouse=True)
def _isolated_login_and_wandb_env(tmp_path_factory: pytest.TempPathFactory,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the user's `tablelog login` file or a WANDB_* variable of the shell
    that runs the tests (subprocesses inherit the same)."""
    monkeypatch.setenv("TABLELOG_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    for name in list(os.environ):
        if name.startswith("WANDB_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test() -> Iterator[None]:
    """A run a test left open is finished after it: as in wandb 0.31, a later init() would
    return it rather than start a run in that test's directory."""
    yield
    runs = sys.modules.get("tablelog.runtime.runs")
    if runs is not None and runs._active is not None:
        runs._active.finish(quiet=True, timeout=10)
