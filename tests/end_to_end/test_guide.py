"""Every workflow of the W&B Tables guide, end to end against the real server:
logged offline then `tablelog sync`ed, or online with the SDK-started agent;
then read back by a fresh process with an empty TABLELOG_DIR."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import API_KEY, ServerProcess
from tests.end_to_end import guide

GUIDE = Path(guide.__file__)


def _env(server: ServerProcess, queue_dir: Path, mode: str) -> dict[str, str]:
    return {**os.environ, "TABLELOG_DIR": str(queue_dir), "TABLELOG_MODE": mode,
            "TABLELOG_BASE_URL": server.url, "TABLELOG_API_KEY": API_KEY,
            "TABLELOG_AGENT_IDLE_EXIT": "3", "PYTHONPATH": str(GUIDE.parents[2])}


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _sync(env: dict[str, str], queue_dir: Path) -> None:
    tablelog = Path(sys.executable).with_name("tablelog")  # the console script
    _run([str(tablelog), "sync", "--dir", str(queue_dir), "--timeout", "60"], env)


def _read_back(server: ServerProcess, tmp_path: Path, workdir: Path) -> dict[str, object]:
    fresh = tmp_path / "fresh-reader"
    # The reader only reads; an agent for its own run's entries would outlive the test
    # (retrying a server that is gone), so none is started.
    env = {**_env(server, fresh, "online"), "TABLELOG_AGENT_AUTOSTART": "0"}
    out = _run([sys.executable, str(GUIDE), "read", str(workdir)], env)
    return dict(json.loads(out.strip().splitlines()[-1]))


def _stop_agent(queue_dir: Path) -> None:
    from tablelog_agent.lock import lock_holder

    pid = lock_holder(queue_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)


def _check(results: dict[str, object]) -> None:
    mismatched = [k for k, v in results.items() if v is False]
    assert not mismatched, f"read back differs from what was logged: {mismatched}"
    assert results["synth_summary:latest|synth_explore inner rows"] == 3


def test_guide_offline_then_sync_then_read_back(live_server: ServerProcess,
                                               tmp_path: Path) -> None:
    workdir, queue_dir = tmp_path / "work", tmp_path / "offline-queue"
    workdir.mkdir()
    _run([sys.executable, str(GUIDE), "log", str(workdir)], _env(live_server, queue_dir, "offline"))
    assert not (queue_dir / "agent.log").exists()  # offline: no agent was started
    _sync(_env(live_server, queue_dir, "offline"), queue_dir)
    _check(_read_back(live_server, tmp_path, workdir))


def test_guide_online_with_the_sdk_started_agent(live_server: ServerProcess,
                                                tmp_path: Path) -> None:
    workdir, queue_dir = tmp_path / "work", tmp_path / "online-queue"
    workdir.mkdir()
    env = _env(live_server, queue_dir, "online")
    try:
        _run([sys.executable, str(GUIDE), "log", str(workdir)], env)
        _sync(env, queue_dir)  # waits for the running agent instead of competing with it
        assert (queue_dir / "agent.log").exists()
        _check(_read_back(live_server, tmp_path, workdir))
    finally:
        _stop_agent(queue_dir)


def test_guide_incremental_example_as_written_fails_clearly(queue_dir: Path) -> None:
    data, labels = guide.mnist()
    with pytest.raises(ValueError, match=r"14 columns.*got 4") as info:
        guide.guide_incremental_as_written(data, labels, guide.Model())
    assert "id, image, guess, truth" in str(info.value)
