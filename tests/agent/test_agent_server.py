"""The agent against the real server (a subprocess on 127.0.0.1), through the fault
proxy where the network should misbehave; agents as real subprocesses where the
test is about processes (kill -9, SIGTERM, the lock, systemd's notify protocol)."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import (
    API_KEY,
    AgentProcess,
    artifact_entry,
    cli_env,
    fast_config,
    fill,
    get_json,
    history_entry,
    history_steps,
    run_cli,
    run_entry,
    unreachable_url,
    wait_until,
)
from faultproxy import Fault, FaultProxy

from tablelog.store.queue import NewEntry, Queue
from tablelog_agent.agent import Agent, StopReason
from tablelog_agent.cli import main
from tablelog_agent.lock import lock_holder


@pytest.fixture
async def proxy(live_server: Any) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(live_server.url) as p:
        yield p


@pytest.fixture
async def agents(tmp_path: Path) -> AsyncIterator[list[AgentProcess]]:
    """Agent subprocesses started by a test; killed at the end if still running."""
    started: list[AgentProcess] = []
    yield started
    for a in started:
        await a.close()


async def spawn(agents: list[AgentProcess], directory: Path, url: str, tmp_path: Path,
                *args: str, **kwargs: Any) -> AgentProcess:
    a = AgentProcess(directory, url, tmp_path, *args, **kwargs)
    agents.append(a)
    return await a.start()


async def test_faults_on_the_way_still_deliver_exactly_once(tmp_path: Path, live_server: Any,
                                                            proxy: FaultProxy) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["a", "b", "c"], 1500)
    with Queue(q) as queue:
        queue.put(*_as_put(artifact_entry(queue, "proj", "a", "weights",
                                          {"w.bin": b"\x01" * 2_500_000, "cfg": b"{}"})))
    proxy.add(Fault(path="/api/v1/batches", status=503, times=2))
    proxy.add(Fault(path="/api/v1/batches", status=429, headers={"Retry-After": "1"}))
    proxy.add(Fault(path="/api/v1/batches", cut="response", times=2))  # applied, answer lost
    proxy.add(Fault(path="/api/v1/blobs/", method="PUT", cut="request"))  # cut mid-body
    proxy.add(Fault(path="/api/v1/blobs/missing", status=502))
    proxy.add(Fault(path="/api/v1/batches", delay_s=0.3))
    async with Agent(fast_config(q, proxy.url, batch_max_entries=500)) as agent:
        result = await asyncio.wait_for(agent.run(until_empty=True), 60)
    assert result.reason is StopReason.EMPTY
    for run_id in ("a", "b", "c"):
        assert history_steps(live_server.url, "proj", run_id) == list(range(1500))
    versions = get_json(live_server.url, "/api/v1/artifacts/local/proj/weights")["versions"]
    assert len(versions) == 1
    # 9 batches of 500 + 1 of 4 and every fault cost one request more: backoff, no hot loop
    seen = [(s.method, s.path[:30], s.status, s.fault) for s in proxy.log]
    batches = proxy.count(path="/api/v1/batches")
    assert batches <= 10 + 6 + 2, seen
    assert agent.counters.failed_attempts == 7, (agent.counters.last_error, seen)
    with Queue(q) as queue:
        assert queue.stats().pending == 0 and queue.stats().dead == 0


async def test_kill_9_mid_batch_then_restart_loses_and_doubles_nothing(
        tmp_path: Path, live_server: Any, proxy: FaultProxy,
        agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    total = fill(q, "proj", ["r1", "r2"], 3000)
    # The server applies the first batch; its answer is held back while we kill the agent.
    held = proxy.add(Fault(path="/api/v1/batches", hold_response_s=60))
    agent = await spawn(agents, q, proxy.url, tmp_path)
    await agent.ready()
    await wait_until(lambda: held.hits == 1, what="the first batch to reach the proxy")
    await wait_until(lambda: len(history_steps(live_server.url, "proj", "r1")) > 0,
                     what="the server to apply the first batch")
    agent.proc.send_signal(signal.SIGKILL)
    code, _ = await agent.wait()
    assert code == -signal.SIGKILL
    assert lock_holder(q) is None  # the kernel dropped the lock with the process
    with Queue(q) as queue:
        assert queue.stats().pending == total  # nothing was acknowledged
    done = await asyncio.to_thread(run_cli, "sync", "--dir", str(q),
                                   env=cli_env(q, live_server.url))
    assert done.returncode == 0, done.stderr
    assert history_steps(live_server.url, "proj", "r1") == list(range(3000))
    assert history_steps(live_server.url, "proj", "r2") == list(range(3000))


async def test_sigterm_lets_the_batch_in_flight_finish_and_exits_0(
        tmp_path: Path, live_server: Any, proxy: FaultProxy,
        agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1"], 5000)
    held = proxy.add(Fault(path="/api/v1/batches", hold_response_s=1.0))
    agent = await spawn(agents, q, proxy.url, tmp_path, "--drain-timeout", "10")
    await agent.ready()
    await wait_until(lambda: held.hits == 1, what="a batch in flight")
    agent.proc.send_signal(signal.SIGTERM)
    code, err = await agent.wait(timeout=10)
    assert code == 0, err
    assert any("STOPPING=1" in m for m in agent.drain_messages())
    steps = history_steps(live_server.url, "proj", "r1")
    with Queue(q) as queue:
        pending = queue.stats().pending
        assert queue.agent_state()["state"] == "stopped"
    # the held batch settled (acked), nothing after it was claimed
    assert steps == list(range(len(steps))) and len(steps) == 1999
    assert pending == 5001 - 2000


async def test_sigterm_past_the_drain_timeout_still_exits_0_and_keeps_data(
        tmp_path: Path, live_server: Any, proxy: FaultProxy,
        agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    total = fill(q, "proj", ["r1"], 100)
    held = proxy.add(Fault(path="/api/v1/batches", hold_response_s=60))
    agent = await spawn(agents, q, proxy.url, tmp_path, "--drain-timeout", "0.5")
    await agent.ready()
    await wait_until(lambda: held.hits == 1, what="a batch in flight")
    loop = asyncio.get_running_loop()
    started = loop.time()
    agent.proc.send_signal(signal.SIGTERM)
    code, err = await agent.wait(timeout=10)
    assert code == 0, err
    assert loop.time() - started < 3.0
    with Queue(q) as queue:
        assert queue.stats().pending == total  # applied server-side, not acked: resent later


async def test_notify_protocol_and_second_agent_refused(
        tmp_path: Path, live_server: Any, agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1"], 10)
    first = await spawn(agents, q, live_server.url, tmp_path, watchdog_usec=200_000)
    await first.ready()
    assert lock_holder(q) == first.proc.pid
    await first.wait_for_message("WATCHDOG=1", timeout=5)
    await first.wait_for_message("WATCHDOG=1", timeout=5)

    second = await spawn(agents, q, live_server.url, tmp_path)
    code, err = await second.wait()
    assert code == 1
    assert f"pid {first.proc.pid}" in err and "already serves" in err
    assert lock_holder(q) == first.proc.pid

    await wait_until(lambda: len(history_steps(live_server.url, "proj", "r1")) == 10,
                     what="delivery by the first agent")
    first.proc.send_signal(signal.SIGTERM)
    await first.wait_for_message("STOPPING=1", timeout=10)
    code, err = await first.wait()
    assert code == 0, err
    assert lock_holder(q) is None
    ready_at = next(i for i, m in enumerate(first.messages) if "READY=1" in m)
    stop_at = next(i for i, m in enumerate(first.messages) if "STOPPING=1" in m)
    assert ready_at < stop_at


async def test_idle_exit_flag_used_by_the_sdk(tmp_path: Path, live_server: Any,
                                              agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1"], 20)
    agent = await spawn(agents, q, live_server.url, tmp_path, "--idle-exit", "0.3")
    code, err = await agent.wait(timeout=20)
    assert code == 0, err
    assert history_steps(live_server.url, "proj", "r1") == list(range(20))


def test_dead_letters_status_and_retry_dead(tmp_path: Path, live_server: Any,
                                           capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    q = tmp_path / "q"
    for key, value in cli_env(q, live_server.url).items():
        monkeypatch.setenv(key, value)
    with Queue(q) as queue:
        queue.put_many([run_entry("proj", "r1"), history_entry("proj", "r1", 0),
                        NewEntry(run="proj/r1", kind="history", payload=b"\xc1 not msgpack"),
                        history_entry("proj", "r1", 1)])
    code, _, err = cli(capsys, "sync", "--dir", str(q))
    assert code == 1
    assert "1 dead-lettered" in err and "retry-dead" in err
    assert history_steps(live_server.url, "proj", "r1") == [0, 1]

    code, out, _ = cli(capsys, "status", "--dir", str(q), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["queue"]["pending"] == 0 and report["queue"]["dead"] == 1
    (dead,) = report["queue"]["dead_letters"]
    assert dead["kind"] == "history" and "rejected by the server" in dead["reason"]
    assert report["server"]["ok"] is True
    agent = report["agent"]
    assert agent["running"] is False and agent["pid_alive"] is True  # it was this process
    assert agent["entries_acked"] == 3 and agent["last_heartbeat"] > 0
    code, text, _ = cli(capsys, "status", "--dir", str(q))
    assert "dead       1 entries" in text and "rejected by the server" in text
    for output in (out, text, err):
        assert API_KEY not in output

    code, out, _ = cli(capsys, "retry-dead", "--dir", str(q))
    assert code == 0 and "re-queued 1 dead letter" in out
    with Queue(q) as queue:
        assert queue.stats().pending == 1 and queue.stats().dead == 0


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`tablelog ARGS` in this process; (exit status, stdout, stderr)."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_status_while_an_agent_runs_and_server_down(
        tmp_path: Path, agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1"], 5)
    dead_url = unreachable_url()
    agent = await spawn(agents, q, dead_url, tmp_path)
    await agent.ready()

    def failing() -> bool:
        with Queue(q) as queue:
            return bool(queue.agent_state().get("failed_attempts"))

    await wait_until(failing, what="a failed attempt")
    status = await asyncio.to_thread(run_cli, "status", "--dir", str(q), "--json",
                                     env=cli_env(q, dead_url))
    report = json.loads(status.stdout)
    assert report["agent"]["running"] and report["agent"]["pid"] == agent.proc.pid
    assert report["agent"]["pid_alive"] and report["agent"]["state"] == "backing-off"
    assert "Connect" in report["agent"]["last_error"]
    assert report["server"]["ok"] is False
    assert report["queue"]["pending"] == 6 and report["queue"]["oldest_age_s"] >= 0
    agent.proc.send_signal(signal.SIGTERM)
    code, _ = await agent.wait()
    assert code == 0


def test_sync_of_a_moved_directory_uploads_everything(tmp_path: Path, live_server: Any) -> None:
    original = tmp_path / "node-a" / "tablelog"
    fill(original, "proj", ["r1"], 300)
    with Queue(original) as queue:
        queue.put(*_as_put(artifact_entry(queue, "proj", "r1", "samples",
                                          {"img.png": b"\x89PNG" + b"\x00" * 70_000})))
    copy = tmp_path / "usb" / "copy"
    copy.parent.mkdir()
    shutil.move(original, copy)
    # Through the proxy on its own thread (what synchronous suites use), with a 503 whose
    # Retry-After is an HTTP-date.
    with FaultProxy.running_in_thread(live_server.url) as proxy:
        retry_at = email.utils.formatdate(time.time() + 1, usegmt=True)
        proxy.add(Fault(path="/api/v1/batches", status=503, headers={"Retry-After": retry_at}))
        done = run_cli("sync", "--dir", str(copy), "--progress",
                       env=cli_env(tmp_path / "elsewhere", proxy.url))
        assert proxy.count(path="/api/v1/batches", status=503) == 1
        assert proxy.count(path="/api/v1/batches", status=200) == 1
    assert done.returncode == 0, done.stderr
    assert "delivered 302 entries" in done.stderr and "0 left" in done.stderr
    assert "302/302 entries" in done.stderr  # the (forced) progress bar
    assert history_steps(live_server.url, "proj", "r1") == list(range(300))
    version = get_json(live_server.url, "/api/v1/artifacts/local/proj/samples/latest")
    assert set(version["entries"]) == {"img.png"}


def test_sync_gives_up_when_the_server_stays_unreachable(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1"], 5)
    dead_url = unreachable_url()
    code, _, err = cli(capsys, "sync", "--dir", str(q), "--timeout", "1", "--base-url", dead_url)
    assert code == 3
    assert "gave up" in err and "6 left" in err and "Connect" in err
    with Queue(q) as queue:
        assert queue.stats().pending == 6 and queue.stats().dead == 0


async def test_sync_waits_for_the_running_agent_instead_of_competing(
        tmp_path: Path, live_server: Any, proxy: FaultProxy,
        agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    fill(q, "proj", ["r1"], 6000)
    proxy.add(Fault(path="/api/v1/batches", delay_s=0.3, times=None))  # a slow link
    agent = await spawn(agents, q, proxy.url, tmp_path)
    await agent.ready()
    done = await asyncio.to_thread(run_cli, "sync", "--dir", str(q),
                                   env=cli_env(q, live_server.url))
    assert done.returncode == 0, done.stderr
    assert f"(pid {agent.proc.pid}) already serves" in done.stderr
    assert history_steps(live_server.url, "proj", "r1") == list(range(6000))
    assert proxy.count(path="/api/v1/batches") >= 3  # the agent did the work, not sync


def test_real_server_413_for_a_blob_dead_letters_its_artifact(
        tmp_path: Path, server_factory: Any, capsys: pytest.CaptureFixture[str]) -> None:
    server = server_factory(extra_args=["--max-blob-bytes", "100000"])
    q = tmp_path / "q"
    with Queue(q) as queue:
        queue.put_many([run_entry("proj", "r1"),
                        artifact_entry(queue, "proj", "r1", "huge", {"x": b"x" * 400_000}),
                        artifact_entry(queue, "proj", "r1", "small", {"y": b"y" * 1000}),
                        history_entry("proj", "r1", 0)])
    code, _, err = cli(capsys, "sync", "--dir", str(q), "--timeout", "10",
                       "--base-url", server.url, "--api-key", API_KEY)
    assert code == 1, err
    with Queue(q) as queue:
        (dead,) = queue.dead_letters()
    assert dead.kind == "artifact" and "413" in dead.reason
    assert history_steps(server.url, "proj", "r1") == [0]
    get_json(server.url, "/api/v1/artifacts/local/proj/small/latest")


def _as_put(entry: NewEntry) -> tuple[str, str, bytes, tuple[str, ...], int]:
    return entry.run, entry.kind, entry.payload, entry.blobs, entry.blob_bytes


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
async def test_an_idle_agent_does_not_busy_poll(tmp_path: Path,
                                                agents: list[AgentProcess]) -> None:
    q = tmp_path / "q"
    Queue(q).close()
    agent = await spawn(agents, q, "http://127.0.0.1:9", tmp_path)  # never contacted
    await agent.ready()
    await asyncio.sleep(0.7)  # past start-up and the first, fast polls
    before = _cpu_seconds(agent.proc.pid)
    await asyncio.sleep(1.5)  # the measuring window itself
    used = _cpu_seconds(agent.proc.pid) - before
    assert used < 0.08, f"idle agent used {used:.2f}s of CPU in 1.5s"
    agent.proc.send_signal(signal.SIGTERM)
    code, err = await agent.wait()
    assert code == 0, err
