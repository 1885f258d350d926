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
    c = network_faults(tmp_path, runs=2, rows=250)
    c.assert_ok()
    assert c.sent == 500 and c.requests is not None


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


def test_a_blob_upload_cancelled_while_opening_its_file_leaves_no_file_open(
        tmp_path: Path) -> None:
    """When one upload fails the agent cancels the others (a server going away mid-upload
    does it): a cancel that lands while the blob file is being opened must not orphan
    the open file (found by the server-restart scenario as a stray ResourceWarning)."""
    import gc
    import warnings

    from tablelog_agent.client import UploadClient

    blob = tmp_path / "blob"
    blob.write_bytes(b"x" * 1000)

    async def cancel_uploads() -> None:
        async with UploadClient(agent_config(tmp_path, "http://127.0.0.1:9")) as client:
            for _ in range(50):
                task = asyncio.create_task(client.put_blob("ab" * 32, blob, 1000))
                await asyncio.sleep(0)  # the task now waits for its file to open
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0.2)  # let the opener threads finish

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(cancel_uploads())
        gc.collect()
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not unclosed, unclosed[:3]
