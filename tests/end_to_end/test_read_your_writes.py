"""Read your own writes: a program written the wandb way (log, finish, read back
with `Api()` at once) sees what it logged, although `finish()` only queued it.

Real `tablelog server` on loopback, real agents (the SDK-started one, or one
started only after the read began); no sleeps to wait for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import tablelog as wandb
from tablelog.apis.read_your_writes import read_wait_from_env
from tablelog.errors import ArtifactNotFoundError, PendingWritesError
from tablelog.store.queue import Queue
from tests.conftest import API_KEY, ENTITY, ServerProcess

ROOT = Path(__file__).resolve().parents[2]

# What a wandb user writes: nothing here waits for an upload.
WANDB_PROGRAM = """
import json, sys
import tablelog as wandb

run = wandb.init(project="ryw", config={"lr": 0.01})
table = wandb.Table(columns=["id", "label"], data=[[i, f"row{i}"] for i in range(5)])
for step in range(3):
    run.log({"loss": 1.0 / (step + 1)})
run.log({"preds": table})
run.summary["best"] = 0.97
art = wandb.Artifact("dataset", "dataset")
art.add(table, "t")
run.log_artifact(art)
run.finish()

api = wandb.Api()
public = api.run(f"ryw/{run.id}")
history = public.history(pandas=False)
got = api.artifact("ryw/dataset:latest").get("t")
preds = api.artifact(f"ryw/run-{run.id}-preds:latest").get("preds")
print(json.dumps({"state": public.state, "best": public.summary.get("best"),
                  "config": public.config, "steps": [h["_step"] for h in history],
                  "losses": [h.get("loss") for h in history],
                  "same_table": got == table and preds == table}))
"""


@pytest.fixture
def online(live_server: ServerProcess, queue_dir: Path,
           monkeypatch: pytest.MonkeyPatch) -> Path:
    """Online settings for the live server; no agent unless a test starts one."""
    monkeypatch.setenv("TABLELOG_BASE_URL", live_server.url)
    monkeypatch.setenv("TABLELOG_API_KEY", API_KEY)
    monkeypatch.setenv("TABLELOG_MODE", "online")
    monkeypatch.setenv("TABLELOG_AGENT_AUTOSTART", "0")
    monkeypatch.delenv("TABLELOG_READ_WAIT", raising=False)
    return queue_dir


def _stop_agent(queue_dir: Path) -> None:
    from tablelog_agent.lock import lock_holder

    pid = lock_holder(queue_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)


@pytest.fixture
def agents(online: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Agents a test starts itself; stopped (bounded) at the end, and any the SDK started."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    _stop_agent(online)
    for proc in started:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _log_and_finish() -> tuple[str, wandb.Table]:
    table = wandb.Table(columns=["id", "label"], data=[[i, f"row{i}"] for i in range(4)])
    with wandb.init(project="ryw") as run:
        run.log({"loss": 0.5})
        run.log({"preds": table})
        run.summary["best"] = 0.9
        art = wandb.Artifact("dataset", "dataset")
        art.add(table, "t")
        run.log_artifact(art)
    return run.id, table


def _pending(queue_dir: Path) -> int:
    with Queue(queue_dir) as q:
        return q.stats().pending


def test_a_wandb_program_reads_back_what_it_logged_with_the_sdk_started_agent(
        online: Path, agents: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    script = tmp_path / "program.py"
    script.write_text(WANDB_PROGRAM)
    env = {**os.environ, "TABLELOG_AGENT_AUTOSTART": "1", "TABLELOG_AGENT_IDLE_EXIT": "3",
           "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("sdk", "agent", ""))}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"state": "finished", "best": 0.97, "config": {"lr": 0.01},
                   "steps": [0, 1, 2, 3], "losses": [1.0, 0.5, 1 / 3, None],
                   "same_table": True}


def test_a_read_waits_for_an_agent_that_starts_after_the_read(
        online: Path, agents: list[subprocess.Popen[bytes]], live_server: ServerProcess,
        tmp_path: Path) -> None:
    run_id, table = _log_and_finish()
    assert _pending(online) > 0  # nothing delivered: no agent runs yet
    api = wandb.Api(read_wait=60)
    reading = threading.Event()

    def start_agent_once_the_read_began() -> None:
        reading.wait(30)
        tablelog = Path(sys.executable).with_name("tablelog")
        agents.append(subprocess.Popen(
            [str(tablelog), "agent", "--dir", str(online), "--base-url", live_server.url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    starter = threading.Thread(target=start_agent_once_the_read_began)
    starter.start()
    try:
        reading.set()
        public = api.run(f"{ENTITY}/ryw/{run_id}")
    finally:
        starter.join(30)
    assert public.state == "finished" and public.summary["best"] == 0.9
    assert [h["_step"] for h in public.history(pandas=False)] == [0, 1]
    assert api.artifact("ryw/dataset:latest").get("t") == table
    assert api.artifact(f"ryw/run-{run_id}-preds:v0").get("preds") == table


def test_the_bound_passing_says_what_is_still_pending(
        online: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id, _ = _log_and_finish()
    monkeypatch.setenv("TABLELOG_READ_WAIT", "0.2")
    api = wandb.Api()
    with pytest.raises(PendingWritesError, match=r"after waiting 0.2 s \(TABLELOG_READ_WAIT") \
            as info:
        api.run(f"ryw/{run_id}")
    message = str(info.value)
    assert f"/ryw/{run_id}" in message and "no agent serves" in message
    assert "tablelog sync --dir" in message and "run_end" in message
    with pytest.raises(PendingWritesError, match="artifact ryw/dataset:latest"):
        api.artifact("ryw/dataset:latest")
    with pytest.raises(PendingWritesError, match=f"artifact ryw/run-{run_id}-preds:v0"):
        api.artifact(f"ryw/run-{run_id}-preds:v0")
    with pytest.raises(PendingWritesError, match="the runs of"):
        api.runs("ryw")


def test_reads_with_nothing_pending_here_do_not_wait(
        online: Path, live_server: ServerProcess, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run_id, _ = _log_and_finish()
    monkeypatch.setenv("TABLELOG_READ_WAIT", "0")
    with pytest.raises(PendingWritesError):  # 0: fail at once rather than wait
        wandb.Api().run(f"ryw/{run_id}")
    # Another project, and a directory that never logged: the server answers at once
    # (nothing of "ryw" was delivered), with no wait and no queue made.
    monkeypatch.setenv("TABLELOG_READ_WAIT", "600")
    with pytest.raises(ArtifactNotFoundError, match="no project local/other-project"):
        wandb.Api().runs("other-project")
    elsewhere = tmp_path / "never-logged"
    monkeypatch.setenv("TABLELOG_DIR", str(elsewhere))
    with pytest.raises(ArtifactNotFoundError, match=f"/api/v1/runs/local/ryw/{run_id}"):
        wandb.Api().run(f"ryw/{run_id}")
    assert not (elsewhere / "queue.db").exists()


def test_use_artifact_serves_pending_versions_from_this_directory(
        online: Path, live_server: ServerProcess) -> None:
    _log_and_finish()  # v0 of "dataset", delivered below
    tablelog = Path(sys.executable).with_name("tablelog")
    subprocess.run([str(tablelog), "sync", "--dir", str(online), "--timeout", "30"],
                   check=True, capture_output=True, timeout=60)
    newer = wandb.Table(columns=["id", "label"], data=[[9, "newer"]])
    with wandb.init(project="ryw") as run:
        art = wandb.Artifact("dataset", "dataset")
        art.add(newer, "t")
        run.log_artifact(art)  # v1, still queued: the server's latest is v0
    assert _pending(online) > 0
    with wandb.init(project="ryw") as run:
        got = run.use_artifact("dataset:latest")
        assert got.version == "v1" and got.get("t") == newer


def test_read_wait_is_parsed_with_a_clear_error() -> None:
    assert read_wait_from_env({}) == 30.0
    assert read_wait_from_env({"TABLELOG_READ_WAIT": " 2.5 "}) == 2.5
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(ValueError, match="TABLELOG_READ_WAIT must be a number"):
            read_wait_from_env({"TABLELOG_READ_WAIT": bad})
    with pytest.raises(ValueError, match="read_wait"):
        wandb.Api(read_wait=-1)


def test_a_local_queue_this_process_cannot_open_does_not_stop_a_read(online: Path) -> None:
    import contextlib
    import sqlite3

    online.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(online / "queue.db")) as conn:
        conn.execute("PRAGMA user_version=999")  # written by a newer tablelog
    with pytest.warns(RuntimeWarning, match="without waiting.*newer tablelog"), \
            pytest.raises(ArtifactNotFoundError, match="no project local/nothing"):
        wandb.Api().runs("nothing")
