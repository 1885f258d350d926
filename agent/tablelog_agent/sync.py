"""`tablelog sync`: upload everything pending in a queue directory, then exit.

If an agent already serves the directory, sync does not compete: it shows that
agent's progress (polling the queue) until the queue is empty, and takes over
if the agent goes away. An agent that is stuck (failing) with another server URL
or API key than this command's, or on a key the server refused, is stopped
(SIGTERM, then SIGKILL after its drain time: unacknowledged entries simply stay
queued) and sync uploads with its own settings.

Progress goes to stderr through tqdm (the bytes of delivered entries in decimal
MB with the average rate and ETA, entries as a postfix: see `Progress`); a
one-line summary is printed always.

`timeout_s` bounds how long the server may stay failing with nothing
delivered; then sync stops, leaves the rest queued and reports why.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from tqdm import tqdm

from tablelog.runtime.lifetime import key_fingerprint
from tablelog.store.queue import Queue, QueueStats
from tablelog_agent.agent import Agent, StopReason
from tablelog_agent.config import AgentConfig, redact_url
from tablelog_agent.errors import AgentLockedError
from tablelog_agent.lock import lock_holder
from tablelog_agent.status import pid_alive

EXIT_OK = 0
EXIT_DEAD_LETTERS = 1
EXIT_TIMEOUT = 3
EXIT_INTERRUPTED = 130
POLL_S = 0.2
_TAKEOVERS = 5  # how many times sync may find the lock freed and try to take it
TAKEOVER_GRACE_S = 10.0  # after the agent's drain timeout, before SIGKILL


@dataclass
class SyncOutcome:
    """What one sync did, for the summary line and the exit status."""

    entries: int = 0
    bytes: int = 0
    dead: int = 0
    conflicts: int = 0  # of the dead: keys the server holds with other content
    left: int = 0
    timed_out: bool = False
    interrupted: bool = False
    last_error: str | None = None
    elapsed_s: float = 0.0
    watched_pid: int | None = None

    @property
    def exit_code(self) -> int:
        """The process exit status this outcome stands for (see the EXIT_ constants)."""
        if self.timed_out:
            return EXIT_TIMEOUT
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_DEAD_LETTERS if self.dead else EXIT_OK


# tqdm prints sizes bare ("3.50M"): the unit is written out, "3.50MB", as the summary has it.
BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B "
              "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")


class Progress:
    """A tqdm bar over the bytes (payloads + blobs) of delivered entries, with the
    delivered entries in the postfix.

    One measure: bytes and entries both move when the server acknowledges entries, and
    the postfix is set before the bar is redrawn, so a frame never shows one ahead of
    the other. Decimal units (MB, as the summary line). The rate is the average since
    the start (tqdm smoothing=0): acknowledgements arrive a batch at a time, and tqdm's
    default moving average read a whole batch landing in one poll as a spike of
    hundreds of MB/s; the average is what the upload achieved, as the summary says.
    """

    def __init__(self, stats: QueueStats, *, enabled: bool | None, out: TextIO) -> None:
        self.total_entries = stats.pending
        # disable=None is tqdm's "off unless stderr is a terminal"
        self._bar = tqdm(total=stats.pending_bytes, unit="B", unit_scale=True,
                         unit_divisor=1000, smoothing=0, desc="sync", file=out, leave=True,
                         bar_format=BAR_FORMAT,
                         disable=None if enabled is None else not enabled)

    def show(self, done_entries: int, done_bytes: int, pending: QueueStats | None = None,
             note: str | None = None) -> None:
        """Move the bar to `done_bytes`; `pending` (queue stats now) grows the totals when
        new entries arrived; `note` (e.g. a retry) goes after the entry count."""
        if pending is not None:  # entries keep arriving while a job runs
            self.total_entries = max(self.total_entries, done_entries + pending.pending)
            total = max(self._bar.total or 0, done_bytes + pending.pending_bytes)
            if total != self._bar.total:
                self._bar.total = total
        text = f"{done_entries:,}/{self.total_entries:,} entries"
        self._bar.set_postfix_str(f"{text}; {note}" if note else text, refresh=False)
        self._bar.update(max(0, done_bytes - self._bar.n))  # redraws with the postfix

    def close(self) -> None:
        """Finish the bar (it stays on screen)."""
        self._bar.close()


async def sync(config: AgentConfig, *, timeout_s: float, progress: bool | None = None,
               out: TextIO | None = None) -> SyncOutcome:
    """Drain the queue at config.dir (or watch the agent that does); see the module doc.
    Progress goes to `out` (default: sys.stderr at call time)."""
    out = out or sys.stderr
    started = time.monotonic()
    outcome = SyncOutcome()
    for _ in range(_TAKEOVERS):
        holder = lock_holder(config.dir)
        if holder is None:
            try:
                await _drain(config, timeout_s, progress, out, outcome)
                break
            except AgentLockedError:
                continue  # another agent started this instant: watch it instead
        reason = await asyncio.to_thread(_read_stuck_reason, config, holder)
        if reason is not None:
            await _take_over(config, holder, reason, out)
            continue
        if await _watch(config, holder, timeout_s, progress, out, outcome):
            break
    else:  # the lock changed hands every time we looked: give up rather than spin
        raise AgentLockedError(str(config.dir), lock_holder(config.dir))
    outcome.elapsed_s = time.monotonic() - started
    return outcome


async def _drain(config: AgentConfig, timeout_s: float, progress: bool | None, out: TextIO,
                 outcome: SyncOutcome) -> None:
    async with Agent(config) as agent:
        with agent.signals_handled():
            bar = Progress(await agent.stats(), enabled=progress, out=out)
            guard = asyncio.create_task(_stall_guard(agent, timeout_s, bar, outcome))
            try:
                result = await agent.run(until_empty=True)
            finally:
                guard.cancel()
                await asyncio.gather(guard, return_exceptions=True)
                c = agent.counters
                bar.show(c.entries_acked + c.dead_lettered, c.bytes_acked)
                bar.close()
            counters = agent.counters
            outcome.entries += counters.entries_acked
            outcome.bytes += counters.bytes_acked
            outcome.dead += counters.dead_lettered
            outcome.conflicts += counters.conflicts
            outcome.left = (await agent.stats()).pending
            outcome.last_error = counters.last_error
            if result.reason is not StopReason.EMPTY and not outcome.timed_out:
                outcome.interrupted = True


async def _stall_guard(agent: Agent, timeout_s: float, bar: Progress,
                       outcome: SyncOutcome) -> None:
    """Update the bar; stop the agent when it has been failing with no progress for
    `timeout_s` (the server stayed unreachable)."""
    c = agent.counters
    mark = (-1, -1)
    last_progress = time.monotonic()
    while True:
        now_mark = (c.entries_acked + c.dead_lettered, c.blob_bytes_uploaded)
        if now_mark != mark:
            mark, last_progress = now_mark, time.monotonic()
        note = f"retrying: {(c.last_error or '')[:60]}" if c.consecutive_failures else None
        bar.show(c.entries_acked + c.dead_lettered, c.bytes_acked, note=note)
        if c.consecutive_failures and time.monotonic() - last_progress >= timeout_s:
            outcome.timed_out = True
            agent.request_stop()
            return
        await asyncio.sleep(POLL_S)


async def _watch(config: AgentConfig, holder: int, timeout_s: float, progress: bool | None,
                 out: TextIO, outcome: SyncOutcome) -> bool:
    """Show the running agent's progress until the queue is empty (True), or until the
    agent lets go of the lock (False: the caller takes over)."""
    outcome.watched_pid = holder or None
    print(f"tablelog sync: an agent (pid {holder}) already serves {config.dir}; "
          "showing its progress", file=out)
    queue = await asyncio.to_thread(Queue, config.dir)
    try:
        first = await asyncio.to_thread(queue.stats)
        bar = Progress(first, enabled=progress, out=out)
        dead_before = first.dead
        done_entries = done_bytes = 0
        previous = first
        last_progress = time.monotonic()
        try:
            while True:
                stats = await asyncio.to_thread(queue.stats)
                if stats.pending < previous.pending or stats.dead > previous.dead:
                    done_entries += max(0, previous.pending - stats.pending)
                    done_bytes += max(0, previous.pending_bytes - stats.pending_bytes)
                    last_progress = time.monotonic()
                previous = stats
                bar.show(done_entries, done_bytes, stats)
                outcome.dead, outcome.left = stats.dead - dead_before, stats.pending
                # pending shrinks for dead letters too; those were not delivered
                outcome.entries = max(0, done_entries - outcome.dead)
                outcome.bytes = done_bytes
                if stats.pending == 0:
                    return True
                if lock_holder(config.dir) is None or not pid_alive(holder):
                    return False
                state = await asyncio.to_thread(queue.agent_state)
                if stuck_reason(state, queue.queue_id, config, holder) is not None:
                    return False  # the caller stops it and takes over
                if (state.get("consecutive_failures")
                        and time.monotonic() - last_progress >= timeout_s):
                    outcome.timed_out = True
                    outcome.last_error = state.get("last_error")
                    return True
                await asyncio.sleep(POLL_S)
        finally:
            bar.close()
    finally:
        await asyncio.to_thread(queue.close)


def stuck_reason(state: dict[str, Any], queue_id: str, config: AgentConfig, holder: int
                 ) -> str | None:
    """Why the agent `holder` (whose state is `state`) should make way for this sync, or
    None: it is failing, and with another URL or key, or its key was refused."""
    if not holder or state.get("pid") != holder or not state.get("consecutive_failures"):
        return None  # a healthy agent (or one whose state is not written yet) is watched
    theirs, ours = state.get("base_url") or "", redact_url(config.base_url)
    if theirs and theirs != ours:
        return f"it uploads to {theirs} and keeps failing; this sync uses {ours}"
    refused = " the server refused it" if state.get("auth_failed") else ""
    fingerprint = state.get("key_fingerprint")
    if fingerprint is not None and fingerprint != key_fingerprint(queue_id, config.api_key):
        return f"it uses another API key than this sync ({refused.strip() or 'failing'})"
    if refused:
        return "the server refused its API key and it waits minutes between tries"
    return None


def _read_stuck_reason(config: AgentConfig, holder: int) -> str | None:
    with Queue(config.dir) as queue:
        return stuck_reason(queue.agent_state(), queue.queue_id, config, holder)


async def _take_over(config: AgentConfig, holder: int, reason: str, out: TextIO) -> None:
    """Stop the agent `holder` and wait (bounded) until it let go of the lock."""
    print(f"tablelog sync: the agent (pid {holder}) serving {config.dir} is stuck: {reason}; "
          "stopping it and uploading with this command's settings", file=out)
    bound = config.drain_timeout_s + TAKEOVER_GRACE_S
    for sig, wait_s in ((signal.SIGTERM, bound), (signal.SIGKILL, TAKEOVER_GRACE_S)):
        try:
            os.kill(holder, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if lock_holder(config.dir) != holder:
                return
            await asyncio.sleep(POLL_S)
        if sig == signal.SIGTERM:  # safe: what it did not acknowledge stays queued
            print(f"tablelog sync: the agent (pid {holder}) did not stop in {bound:.0f}s; "
                  "killing it", file=out)


def summary_line(outcome: SyncOutcome, directory: object) -> str:
    """The one line printed whatever the terminal."""
    secs = max(outcome.elapsed_s, 1e-9)
    text = (f"tablelog sync: delivered {outcome.entries:,} entries "
            f"({outcome.bytes / 1e6:.1f} MB) in {outcome.elapsed_s:.1f}s "
            f"({outcome.entries / secs:,.0f} entries/s, {outcome.bytes / 1e6 / secs:.1f} MB/s)"
            f"; {outcome.dead:,} dead-lettered; {outcome.left:,} left in {directory}")
    if outcome.conflicts:
        text += (f"\n  {outcome.conflicts:,} entries were NOT stored: the server holds their "
                 "idempotency keys with other content (a copied queue directory or a restored "
                 "snapshot); `tablelog retry-dead` sends them again under a new queue id")
    if outcome.dead:
        text += "\n  entries were dead-lettered: see `tablelog status`, then `tablelog retry-dead`"
    if outcome.interrupted:
        text += "\n  interrupted: the rest stays queued — run `tablelog sync` again later"
    if outcome.timed_out:
        text += ("\n  gave up: the server kept failing with nothing delivered"
                 f"{f' ({outcome.last_error})' if outcome.last_error else ''}; "
                 "the rest stays queued — run `tablelog sync` again later")
    return text
