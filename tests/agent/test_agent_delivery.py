"""Delivery logic against an in-process fake backend (plus the fault proxy), for the
cases a real server cannot be made to produce on demand."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import API_KEY, artifact_entry, fast_config, fill, history_entry, run_entry
from fakeserver import FakeBackend, serve
from faultproxy import Fault, FaultProxy

from tablelog.store.queue import Queue
from tablelog_agent.agent import Agent, StopReason
from tablelog_agent.state import AgentStatus


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeBackend, str]]:
    backend = FakeBackend(api_key=API_KEY)
    async for url in serve(backend):
        yield backend, url


@pytest.fixture
async def proxied(fake: tuple[FakeBackend, str]) -> AsyncIterator[tuple[FakeBackend, FaultProxy]]:
    backend, url = fake
    async with FaultProxy(url) as proxy:
        yield backend, proxy


async def drain(directory: Path, url: str, **overrides: object) -> Agent:
    async with Agent(fast_config(directory, url, **overrides)) as agent:
        result = await asyncio.wait_for(agent.run(until_empty=True), 30)
        assert result.reason is StopReason.EMPTY
    return agent


def steps(backend: FakeBackend, run: str = "r1") -> list[int]:
    return [row["_step"] for row in backend.history.get(("proj", run), [])]


async def test_history_arrives_once_in_order(tmp_path: Path, fake: tuple[FakeBackend, str]
                                             ) -> None:
    backend, url = fake
    fill(tmp_path, "proj", ["r1", "r2"], 5000)
    agent = await drain(tmp_path, url, batch_max_entries=700)
    assert steps(backend, "r1") == list(range(5000))
    assert steps(backend, "r2") == list(range(5000))
    assert agent.counters.entries_acked == 10_002
    with Queue(tmp_path) as q:
        assert q.stats().pending == 0
        state = q.agent_state()
    assert state["state"] == "stopped" and state["entries_acked"] == 10_002


async def test_batches_are_bounded_by_bytes(tmp_path: Path, fake: tuple[FakeBackend, str]
                                            ) -> None:
    backend, url = fake
    with Queue(tmp_path) as q:
        q.put_many([run_entry("proj", "r1")]
                   + [history_entry("proj", "r1", i, pad="p" * 10_000) for i in range(50)])
    await drain(tmp_path, url, batch_max_bytes=40_000)
    assert steps(backend) == list(range(50))
    assert sum(1 for r in backend.requests if r[1] == "/api/v1/batches") >= 13


async def test_blobs_uploaded_once_and_artifacts_applied(tmp_path: Path,
                                                         fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    shared = b"shared bytes" * 1000
    with Queue(tmp_path) as q:
        q.put_many([run_entry("proj", "r1"),
                    artifact_entry(q, "proj", "r1", "a", {"x.bin": shared, "y": b"one"}),
                    artifact_entry(q, "proj", "r1", "b", {"x.bin": shared, "z": b"two"})])
    agent = await drain(tmp_path, url, parallel_blob_uploads=2)
    assert [a["name"] for a in backend.artifacts] == ["a", "b"]
    assert len(backend.blobs) == 3
    puts = [r for r in backend.requests if r[0] == "PUT"]
    assert len(puts) == 3 and agent.counters.blobs_uploaded == 3


async def test_corrupt_local_blob_is_quarantined_and_only_its_entry_dies(
        tmp_path: Path, fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    with Queue(tmp_path) as q:
        bad = artifact_entry(q, "proj", "r1", "bad", {"f": b"will rot"})
        good = artifact_entry(q, "proj", "r1", "good", {"g": b"fine"})
        q.put_many([run_entry("proj", "r1"), history_entry("proj", "r1", 0), bad, good,
                    history_entry("proj", "r1", 1)])
        path = q.blobs.path(bad.blobs[0])
        path.chmod(0o600)
        path.write_bytes(b"rotten")
    await drain(tmp_path, url)
    assert steps(backend) == [0, 1]
    assert [a["name"] for a in backend.artifacts] == ["good"]
    with Queue(tmp_path) as q:
        (dead,) = q.dead_letters()
        assert dead.kind == "artifact" and "corrupt" in dead.reason
        assert (q.blobs.quarantine_dir / bad.blobs[0]).exists()
        assert not q.blobs.exists(bad.blobs[0])


async def test_rejected_entry_is_dead_lettered_and_retry_dead_requeues(
        tmp_path: Path, fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    backend.reject_runs.add("r2")
    fill(tmp_path, "proj", ["r1", "r2"], 3)
    await drain(tmp_path, url)
    assert steps(backend, "r1") == [0, 1, 2]
    with Queue(tmp_path) as q:
        dead = q.dead_letters()
        assert len(dead) == 4 and all("run refused" in d.reason for d in dead)
        backend.reject_runs.clear()
        assert q.retry_dead() == 4
    await drain(tmp_path, url)
    assert steps(backend, "r2") == [0, 1, 2]


async def test_whole_batch_400_is_split_to_find_the_culprit(
        tmp_path: Path, proxied: tuple[FakeBackend, FaultProxy]) -> None:
    backend, proxy = proxied
    proxy.add(Fault(path="/api/v1/batches", body_contains=b"POISON", status=400, times=None))
    with Queue(tmp_path) as q:
        q.put_many([run_entry("proj", "r1")]
                   + [history_entry("proj", "r1", i, note="POISON" if i == 37 else "ok")
                      for i in range(100)])
    await drain(tmp_path, proxy.url)
    assert steps(backend) == [i for i in range(100) if i != 37]
    with Queue(tmp_path) as q:
        (dead,) = q.dead_letters()
        assert "HTTP 400" in dead.reason and "injected by faultproxy" in dead.reason
    # binary search, not one request per entry
    assert proxy.count(path="/api/v1/batches") < 40


async def test_oversize_entry_413_dead_letters_only_it(tmp_path: Path,
                                                       fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    backend.max_body = 50_000
    with Queue(tmp_path) as q:
        q.put_many([run_entry("proj", "r1")]
                   + [history_entry("proj", "r1", i, pad="p" * (200_000 if i == 5 else 2_000))
                      for i in range(60)])
    await drain(tmp_path, url)
    assert steps(backend) == [i for i in range(60) if i != 5]
    with Queue(tmp_path) as q:
        (dead,) = q.dead_letters()
        assert "HTTP 413" in dead.reason


async def test_bad_key_keeps_data_and_reports(tmp_path: Path, fake: tuple[FakeBackend, str]
                                              ) -> None:
    backend, url = fake
    fill(tmp_path, "proj", ["r1"], 10)
    async with Agent(fast_config(tmp_path, url, api_key="wrong-key-secret")) as agent:
        task = asyncio.create_task(agent.run(until_empty=True))
        for _ in range(500):
            if agent.counters.failed_attempts >= 3:
                break
            await asyncio.sleep(0.01)
        assert agent.counters.auth_failed
        assert agent.counters.state is AgentStatus.BACKING_OFF
        agent.request_stop()
        result = await asyncio.wait_for(task, 5)
    assert result.reason is StopReason.STOPPED
    assert backend.history == {}
    with Queue(tmp_path) as q:
        assert q.stats().pending == 11 and q.stats().dead == 0
        state = q.agent_state()
        assert state["auth_failed"] and "401" in state["last_error"]
        assert "wrong-key-secret" not in repr(state)
        assert all(e.attempts >= 1 for e in q.claim_batch())


async def test_503_then_429_retry_after_is_honoured(tmp_path: Path,
                                                   proxied: tuple[FakeBackend, FaultProxy]
                                                   ) -> None:
    backend, proxy = proxied
    proxy.add(Fault(path="/api/v1/batches", status=503, times=3))
    proxy.add(Fault(path="/api/v1/batches", status=429, headers={"Retry-After": "1"}))
    fill(tmp_path, "proj", ["r1"], 10)
    started = time.monotonic()
    agent = await drain(tmp_path, proxy.url)
    assert time.monotonic() - started >= 1.0
    assert steps(backend) == list(range(10))
    assert proxy.count(path="/api/v1/batches") == 5
    assert agent.counters.failed_attempts == 4


async def test_backoff_is_not_a_hot_loop(tmp_path: Path, proxied: tuple[FakeBackend, FaultProxy]
                                         ) -> None:
    backend, proxy = proxied
    proxy.add(Fault(path="/api/v1/batches", status=503, times=None))
    fill(tmp_path, "proj", ["r1"], 3)
    async with Agent(fast_config(tmp_path, proxy.url, backoff_base_s=0.05,
                                 backoff_cap_s=0.2)) as agent:
        task = asyncio.create_task(agent.run())
        await asyncio.sleep(1.5)
        agent.request_stop()
        await asyncio.wait_for(task, 5)
    attempts = proxy.count(path="/api/v1/batches")
    # waits 0.025-0.05, 0.05-0.1, then 0.1-0.2 capped: at most ~15 in 1.5 s
    assert 4 <= attempts <= 16, attempts
    proxy.clear()
    await drain(tmp_path, proxy.url)
    assert steps(backend) == [0, 1, 2]


async def test_cut_connections_neither_lose_nor_double(
        tmp_path: Path, proxied: tuple[FakeBackend, FaultProxy]) -> None:
    backend, proxy = proxied
    proxy.add(Fault(path="/api/v1/batches", cut="response", times=2))
    proxy.add(Fault(path="/api/v1/blobs/", method="PUT", cut="request", times=2))
    proxy.add(Fault(path="/api/v1/batches", cut="request", times=1))
    proxy.add(Fault(path="/api/v1/batches", delay_s=0.2, times=1))
    with Queue(tmp_path) as q:
        q.put_many([run_entry("proj", "r1"),
                    artifact_entry(q, "proj", "r1", "a", {"big": b"b" * 3_000_000}),
                    *[history_entry("proj", "r1", i) for i in range(500)]])
    await drain(tmp_path, proxy.url, batch_max_entries=100)
    assert steps(backend) == list(range(500))
    assert [a["name"] for a in backend.artifacts] == ["a"]
    assert proxy.count(fault=True) == 6


async def test_missing_blobs_answer_uploads_and_resends(
        tmp_path: Path, proxied: tuple[FakeBackend, FaultProxy]) -> None:
    backend, proxy = proxied
    # The proxy claims the server has every blob, so the first send lacks them.
    proxy.add(Fault(path="/api/v1/blobs/missing", status=200, body=b'{"missing": []}'))
    with Queue(tmp_path) as q:
        q.put_many([run_entry("proj", "r1"),
                    artifact_entry(q, "proj", "r1", "a", {"f": b"content"}),
                    history_entry("proj", "r1", 0)])
    await drain(tmp_path, proxy.url)
    assert [a["name"] for a in backend.artifacts] == ["a"] and steps(backend) == [0]
    assert proxy.count(path="/api/v1/batches") == 2


async def test_new_entries_reach_the_server_quickly(tmp_path: Path,
                                                    fake: tuple[FakeBackend, str]) -> None:
    backend, url = fake
    config = fast_config(tmp_path, url, poll_max_s=0.5)
    async with Agent(config) as agent:
        task = asyncio.create_task(agent.run())
        await asyncio.sleep(1.0)  # let the idle poll interval grow to its cap
        with Queue(tmp_path) as q:
            q.put_many([run_entry("proj", "r1"), history_entry("proj", "r1", 0)])
        put_at = time.monotonic()
        for _ in range(300):
            if steps(backend) == [0]:
                break
            await asyncio.sleep(0.01)
        latency = time.monotonic() - put_at
        agent.request_stop()
        assert (await asyncio.wait_for(task, 5)).reason is StopReason.STOPPED
    assert steps(backend) == [0] and latency < 1.0


async def test_idle_exit(tmp_path: Path, fake: tuple[FakeBackend, str]) -> None:
    _, url = fake
    fill(tmp_path, "proj", ["r1"], 2)
    async with Agent(fast_config(tmp_path, url, idle_exit_s=0.2)) as agent:
        result = await asyncio.wait_for(agent.run(), 10)
    assert result.reason is StopReason.IDLE and result.entries_acked == 3


async def test_a_failing_local_queue_is_retried_not_fatal(
        tmp_path: Path, fake: tuple[FakeBackend, str], monkeypatch: pytest.MonkeyPatch) -> None:
    backend, url = fake
    fill(tmp_path, "proj", ["r1"], 5)
    real_claim = Queue.claim_batch
    failures = iter([sqlite3.OperationalError("database is locked"), None])

    def flaky_claim(self: Queue, **kwargs: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real_claim(self, **kwargs)

    monkeypatch.setattr(Queue, "claim_batch", flaky_claim)
    agent = await drain(tmp_path, url)
    assert steps(backend) == list(range(5))
    assert agent.counters.failed_attempts == 1
    assert "database is locked" in (agent.counters.last_error or "")
