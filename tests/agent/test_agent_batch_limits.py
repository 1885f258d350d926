"""The agent and the server's batch limits (issue 13.3), against a real server
subprocess on 127.0.0.1 with low limits: the agent learns them and never sends a
batch over them; one that knows no limits (an old agent, a 413 from a proxy) splits
on the 413 rather than retrying it; an entry too large for any request is
dead-lettered with the reason. Nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import fast_config, fill, history_entry, history_steps, run_entry

from tablelog import wire
from tablelog.store.queue import Queue
from tablelog_agent.agent import Agent, StopReason
from tablelog_agent.client import UploadClient
from tablelog_agent.delivery import BatchDelivery
from tablelog_agent.errors import BatchTooLargeError, PermanentError, RetryableError
from tablelog_agent.limits import BatchLimits
from tablelog_agent.state import AgentCounters

LIMIT = 7
BODY_LIMIT = 64 * 1024


@pytest.fixture
def small_server(server_factory: Any) -> Any:
    """A real server taking at most LIMIT entries and BODY_LIMIT bytes per batch."""
    return server_factory(extra_args=["--max-batch-entries", str(LIMIT),
                                      "--max-body-bytes", str(BODY_LIMIT)])


async def drain(directory: Path, url: str) -> Agent:
    async with Agent(fast_config(directory, url)) as agent:
        result = await asyncio.wait_for(agent.run(until_empty=True), 60)
        assert result.reason is StopReason.EMPTY
    return agent


def big_history(step: int) -> Any:
    """A history row too large for a request of BODY_LIMIT bytes, whatever its batch."""
    return history_entry("proj", "r1", step, blob="z" * (BODY_LIMIT + 1000))


async def test_the_agent_learns_the_limit_and_stays_under_it(
        tmp_path: Path, small_server: Any) -> None:
    queued = fill(tmp_path / "q", "proj", ["r1"], 60)  # the agent's own limit is 2000
    agent = await drain(tmp_path / "q", small_server.url)
    assert history_steps(small_server.url, "proj", "r1") == list(range(60))
    assert agent.counters.dead_lettered == 0
    # Full batches of LIMIT from the first: none was sent over the limit and split.
    assert agent.counters.batches == -(-queued // LIMIT)
    with Queue(tmp_path / "q") as queue:
        assert queue.stats().pending == 0


async def test_an_agent_that_knows_no_limits_splits_on_the_413(
        tmp_path: Path, small_server: Any) -> None:
    fill(tmp_path / "q", "proj", ["r1"], 40)
    config = fast_config(tmp_path / "q", small_server.url)
    # As an agent from before GET /limits: it never asks, its batches are its own.
    unknown = BatchLimits.from_config(config)
    unknown.learned = True
    with Queue(tmp_path / "q") as queue:
        async with UploadClient(config) as client:
            batch = queue.claim_batch(max_entries=1000)
            # The raw answer: permanent, never retried, naming the limits.
            body = wire.encode_batch(queue.queue_id, [(e.id, e.payload) for e in batch])
            with pytest.raises(BatchTooLargeError) as refused:
                await client.send_batch(body)
            assert isinstance(refused.value, PermanentError)
            assert not isinstance(refused.value, RetryableError)
            assert refused.value.limits is not None
            assert refused.value.limits["max_batch_entries"] == LIMIT
            assert f"41 entries is over the limit of {LIMIT}" in str(refused.value)
            delivery = BatchDelivery(queue, client, config, AgentCounters(), unknown)
            await delivery.deliver(batch)
        assert queue.stats().pending == 0 and queue.dead_letters() == []
    assert unknown.max_entries == LIMIT  # taught by the 413
    assert history_steps(small_server.url, "proj", "r1") == list(range(40))


async def test_an_entry_too_large_for_any_request_is_dead_lettered_with_the_reason(
        tmp_path: Path, small_server: Any) -> None:
    with Queue(tmp_path / "q") as queue:
        queue.put_many([run_entry("proj", "r1"), history_entry("proj", "r1", 0),
                        big_history(1), history_entry("proj", "r1", 2)])
    agent = await drain(tmp_path / "q", small_server.url)
    assert history_steps(small_server.url, "proj", "r1") == [0, 2]
    assert agent.counters.dead_lettered == 1
    with Queue(tmp_path / "q") as queue:
        (dead,) = queue.dead_letters()
        assert queue.stats().pending == 0
    assert dead.kind == "history"
    assert f"over the server's limit of {BODY_LIMIT} bytes per request" in dead.reason
    assert "--max-body-bytes" in dead.reason


async def test_without_known_limits_the_servers_413_dead_letters_it_too(
        tmp_path: Path, small_server: Any) -> None:
    with Queue(tmp_path / "q") as queue:
        queue.put_many([run_entry("proj", "r1"), big_history(0),
                        history_entry("proj", "r1", 1)])
        config = fast_config(tmp_path / "q", small_server.url)
        unknown = BatchLimits.from_config(config)
        unknown.learned = True
        async with UploadClient(config) as client:
            delivery = BatchDelivery(queue, client, config, AgentCounters(), unknown)
            await delivery.deliver(queue.claim_batch())
        (dead,) = queue.dead_letters()
        assert queue.stats().pending == 0
    # The 413 on the batch of three taught the limit that then refused the entry alone.
    assert f"over the server's limit of {BODY_LIMIT} bytes per request" in dead.reason
    assert unknown.max_body_bytes == BODY_LIMIT
    assert history_steps(small_server.url, "proj", "r1") == [1]
