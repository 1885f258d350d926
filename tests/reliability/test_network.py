"""Scenario 1: a fault-injecting proxy between the agent and a real server."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import time
from pathlib import Path

from tests.agent.faultproxy import Fault
from tests.reliability.harness import Harness, agent_config
from tests.reliability.scenarios import FAULTS_BACKOFF, log_workload, network_faults


def test_network_faults_deliver_exactly_once_within_the_backoff_budget(tmp_path: Path) -> None:
    c = network_faults(tmp_path, runs=2, rows=400)
    c.assert_ok()
    assert c.sent == 800 and c.requests is not None


def test_retry_after_zero_or_in_the_past_is_not_a_hot_loop(tmp_path: Path) -> None:
    """A 503 storm whose Retry-After says "now" (0, or an HTTP-date already past, as a
    server whose clock lags the agent's sends) must still be retried with backoff."""
    from tablelog_agent.agent import Agent

    with Harness(tmp_path) as h:
        q = tmp_path / "queue"
        log_workload(q, 1, 20, media_every=0)
        srv = h.server()
        proxy = h.proxy(srv.url)
        past = email.utils.formatdate(time.time() - 120, usegmt=True)
        proxy.add(Fault(path="/api/v1/batches", status=503, headers={"Retry-After": "0"},
                        times=5))
        proxy.add(Fault(path="/api/v1/batches", status=503, headers={"Retry-After": past},
                        times=5))

        async def run() -> None:
            async with Agent(agent_config(q, proxy.url)) as agent:
                await asyncio.wait_for(agent.run(until_empty=True), 60)

        asyncio.run(run())
        posts = [s for s in proxy.log if s.path == "/api/v1/batches"]
    assert [s.status for s in posts] == [503] * 10 + [200]
    gaps = [b.at - a.at for a, b in itertools.pairwise(posts)]
    floor = FAULTS_BACKOFF["backoff_base_s"] / 2
    assert min(gaps) >= floor * 0.95, [f"{g * 1000:.1f} ms" for g in gaps]
