"""The agent: claim batches in queue order, deliver them, repeat; sleep when idle.

    async with Agent(config) as agent:    # takes agent.lock, opens the queue
        await agent.run(until_empty=True)  # or run() as a daemon until stop()

`request_stop()` (what the SIGTERM/SIGINT handlers call) only sets a flag: the
loop stops claiming, the batch in flight gets `drain_timeout_s` to settle,
and whatever was not acknowledged simply stays queued for next time.
While idle the loop polls the queue with a growing interval capped at
`poll_max_s`, so a new entry is picked up within about half a second and an
idle agent costs a couple of cheap SELECTs per second. The idle exit waits while a
run registered in ``open_runs`` has its process alive (`tablelog.runtime.lifetime`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from tenacity import RetryCallState

from tablelog.errors import QueueError
from tablelog.runtime.lifetime import key_fingerprint, live_open_runs
from tablelog.store.queue import Queue, QueuedEntry, QueueStats
from tablelog_agent.client import UploadClient
from tablelog_agent.config import AgentConfig, redact_url
from tablelog_agent.delivery import BatchDelivery
from tablelog_agent.errors import AuthError, LocalQueueError, RetryableError
from tablelog_agent.gc import BlobCollector
from tablelog_agent.limits import BatchLimits
from tablelog_agent.lock import AgentLock
from tablelog_agent.retry import retrying
from tablelog_agent.sdnotify import Notifier
from tablelog_agent.state import AgentCounters, AgentStatus

log = logging.getLogger(__name__)
OPEN_RUN_RECHECK_S = 5.0  # an idle agent kept by open runs looks at them again this often


class StopReason(StrEnum):
    """Why `Agent.run` returned."""

    EMPTY = "empty"  # until_empty and nothing (but dead letters) is left
    IDLE = "idle"  # idle_exit_s passed with an empty queue
    STOPPED = "stopped"  # request_stop(), every batch in flight settled
    DRAIN_TIMEOUT = "drain-timeout"  # request_stop(), in-flight work cut off


@dataclass(frozen=True)
class RunResult:
    """What `Agent.run` did: why it returned, and its totals."""

    reason: StopReason
    entries_acked: int
    dead_lettered: int


class _Stopped(Exception):
    """Raised inside the retry loop once a stop was requested."""


class Agent:
    """One agent serving one queue directory (async context manager)."""

    def __init__(self, config: AgentConfig, *, notifier: Notifier | None = None) -> None:
        self.config = config
        self.counters = AgentCounters(base_url=redact_url(config.base_url))
        self._notifier = notifier or Notifier()
        self._stop = asyncio.Event()
        self._lock: AgentLock | None = None
        self._queue: Queue | None = None
        self._client: UploadClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping_sent = False
        self._ahead: asyncio.Task[list[QueuedEntry]] | None = None  # the next batch, read early
        self._limits = BatchLimits.from_config(config)  # lowered to the server's

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> Agent:
        """Take the lock (AgentLockedError if held), open the queue, start the heartbeat."""
        self._lock = AgentLock(self.config.dir).acquire()
        try:
            self._queue = await asyncio.to_thread(Queue, self.config.dir)
            # `tablelog sync` and the SDK compare it with their own key: never the key itself
            self.counters.key_fingerprint = key_fingerprint(self._queue.queue_id,
                                                            self.config.api_key)
            self._client = await UploadClient(self.config).__aenter__()
            self.counters.cache_max_bytes = self.config.cache_max_bytes  # shown from the start
            await self._write_state()
        except BaseException:
            await self._close_resources()
            raise
        self._tasks = [asyncio.create_task(self._heartbeat(), name="tablelog-heartbeat")]
        if self._notifier.watchdog_interval_s:
            self._tasks.append(asyncio.create_task(self._watchdog(), name="tablelog-watchdog"))
        self._notifier.ready(f"serving {self.config.dir}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop background tasks, write the final state, release queue, session and lock."""
        self._announce_stopping()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._queue is not None:
            self.counters.state = AgentStatus.STOPPED
            with contextlib.suppress(Exception):  # the final heartbeat is best effort
                await self._write_state()
        await self._close_resources()

    async def _close_resources(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._queue is not None:
            await asyncio.to_thread(self._queue.close)
            self._queue = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _announce_stopping(self) -> None:
        if not self._stopping_sent:
            self._stopping_sent = True
            self._notifier.stopping()

    async def stats(self) -> QueueStats:
        """The queue's counts, read off the event loop."""
        return await asyncio.to_thread(self._require_queue().stats)

    def request_stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler: it only sets a flag)."""
        self._stop.set()

    @contextlib.contextmanager
    def signals_handled(self) -> Iterator[None]:
        """SIGTERM and SIGINT call `request_stop` while inside this block."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self.request_stop)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    # -- the loop ------------------------------------------------------------------

    async def run(self, *, until_empty: bool = False) -> RunResult:
        """Upload until stopped (or, with `until_empty`, until nothing is pending)."""
        worker = asyncio.create_task(self._work(until_empty), name="tablelog-worker")
        stop_wait = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({worker, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if worker.done():
                reason = worker.result()
            else:
                self.counters.state = AgentStatus.STOPPING
                self._announce_stopping()
                try:
                    reason = await asyncio.wait_for(worker, self.config.drain_timeout_s)
                except TimeoutError:
                    reason = StopReason.DRAIN_TIMEOUT
        finally:
            stop_wait.cancel()
            if not worker.done():
                worker.cancel()
                await asyncio.gather(worker, return_exceptions=True)
            await self._drop_ahead()
        self.counters.state = AgentStatus.STOPPED
        return RunResult(reason, self.counters.entries_acked, self.counters.dead_lettered)

    async def _work(self, until_empty: bool) -> StopReason:
        queue, cfg = self._require_queue(), self.config
        delivery = BatchDelivery(queue, self._require_client(), cfg, self.counters,
                                 self._limits)
        collector = BlobCollector(queue, cfg, self.counters)
        poll = cfg.poll_min_s
        idle_since: float | None = None
        exit_at: float | None = None  # when the idle exit is due (later while runs are open)
        while not self._stop.is_set():
            try:
                delivered = await self._deliver_next(delivery, collector)
            except _Stopped:
                return StopReason.STOPPED
            if delivered:
                poll, idle_since, exit_at = cfg.poll_min_s, None, None
                await collector.maybe_collect()
                continue
            await collector.maybe_collect(drained=True)  # the queue is empty: trim now
            if until_empty:
                return StopReason.EMPTY
            now = time.monotonic()
            idle_since = idle_since or now
            self.counters.state = AgentStatus.IDLE
            if cfg.idle_exit_s is not None:
                exit_at = exit_at or idle_since + cfg.idle_exit_s
                if now >= exit_at:
                    if not await self._runs_open():
                        return StopReason.IDLE
                    exit_at = now + min(cfg.idle_exit_s, OPEN_RUN_RECHECK_S)
            await self._sleep(poll)
            poll = min(poll * 2, cfg.poll_max_s)
        return StopReason.STOPPED

    async def _deliver_next(self, delivery: BatchDelivery, collector: BlobCollector) -> bool:
        """Claim the oldest batch and settle it, retrying forever; False when none is pending."""
        cfg = self.config
        async for attempt in retrying(base_s=cfg.backoff_base_s, cap_s=cfg.backoff_cap_s,
                                      sleep=self._sleep, before_sleep=self._on_retry,
                                      auth_base_s=cfg.auth_backoff_base_s,
                                      auth_cap_s=cfg.auth_backoff_cap_s):
            with attempt:
                if self._stop.is_set():
                    raise _Stopped
                try:
                    batch = await self._claim()
                    if not batch:
                        return False
                    self.counters.state = AgentStatus.UPLOADING
                    # Read the next batch from SQLite while this one is on the wire.
                    self._ahead = asyncio.create_task(self._claim_after(batch[-1].id))
                    await delivery.deliver(batch)
                except BaseException as exc:
                    await self._drop_ahead()  # the unsettled entries go first next time
                    if isinstance(exc, sqlite3.Error | QueueError | OSError):
                        raise LocalQueueError(f"local queue {cfg.dir}: {exc}") from exc
                    raise
                self.counters.record_success()
                collector.settled(batch)
                log.info("settled %d entries (ids %d-%d)", len(batch), batch[0].id, batch[-1].id)
                return True
        raise AssertionError("unreachable: tenacity retries forever")  # pragma: no cover

    async def _claim(self) -> list[QueuedEntry]:
        """The batch claimed ahead, if it holds anything; else the oldest pending entries
        (which also picks up dead letters re-queued under their old, lower ids)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            batch = await ahead
            if batch:
                return batch
        return await self._claim_after(0)

    async def _claim_after(self, after_id: int) -> list[QueuedEntry]:
        cfg, limits = self.config, self._limits
        return await asyncio.to_thread(
            self._require_queue().claim_batch, max_entries=limits.max_entries,
            max_bytes=limits.max_payload_bytes, after_id=after_id,
            max_blob_bytes=cfg.batch_max_blob_bytes)

    async def _drop_ahead(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.cancel()
            await asyncio.gather(ahead, return_exceptions=True)

    async def _runs_open(self) -> bool:
        """True while a run registered as open has its process alive (dead ones are
        dropped); a queue error counts as open: staying is the safe mistake."""
        try:
            return await asyncio.to_thread(live_open_runs, self._require_queue()) > 0
        except (sqlite3.Error, QueueError, OSError) as exc:
            log.warning("cannot read the open runs (%s); not exiting idle", exc)
            return True

    def _on_retry(self, retry_state: RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        self.counters.record_error(str(exc), auth=isinstance(exc, AuthError))
        self.counters.state = AgentStatus.BACKING_OFF
        wait = retry_state.upcoming_sleep
        self.counters.next_retry_at = time.time() + wait
        log.warning("retrying in %.1fs: %s", wait, exc)
        if isinstance(exc, RetryableError):
            self._notifier.status(f"backing off {wait:.1f}s: {exc}"[:200])

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when a stop is requested."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    # -- background tasks --------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            try:
                await self._write_state()
            except Exception as exc:  # a busy or full disk must not kill the agent
                self.counters.last_error = f"cannot write agent state: {exc}"

    async def _watchdog(self) -> None:
        # Sent from the event loop itself, so a stalled loop stops the pings.
        interval = self._notifier.watchdog_interval_s or 1.0
        while True:
            self._notifier.watchdog()
            await asyncio.sleep(interval)

    async def _write_state(self) -> None:
        if self._client is not None:
            self.counters.requests = self._client.requests
        await asyncio.to_thread(self._require_queue().set_agent_state, self.counters.snapshot())

    def _require_queue(self) -> Queue:
        if self._queue is None:
            raise RuntimeError("Agent used outside `async with`")
        return self._queue

    def _require_client(self) -> UploadClient:
        if self._client is None:
            raise RuntimeError("Agent used outside `async with`")
        return self._client
