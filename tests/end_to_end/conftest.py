"""What the end-to-end tests share: online settings aimed at the live server, and a
drain of the queue with the real `tablelog sync`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import API_KEY, ServerProcess


@pytest.fixture
def online(live_server: ServerProcess, queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Online settings pointing at the live server, with no agent auto-start
    (tests drain with `sync_queue`)."""
    monkeypatch.setenv("TABLELOG_BASE_URL", live_server.url)
    monkeypatch.setenv("TABLELOG_API_KEY", API_KEY)
    monkeypatch.setenv("TABLELOG_MODE", "online")
    monkeypatch.setenv("TABLELOG_AGENT_AUTOSTART", "0")
    return queue_dir


def sync_queue(queue_dir: Path, server: ServerProcess) -> None:
    """`tablelog sync` of `queue_dir` to `server`, in a clean environment; it must succeed."""
    tablelog = Path(sys.executable).with_name("tablelog")
    proc = subprocess.run([str(tablelog), "sync", "--dir", str(queue_dir), "--timeout", "30",
                           "--base-url", server.url], capture_output=True, text=True, timeout=60,
                          env={"TABLELOG_API_KEY": API_KEY, "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
