"""Deliver one claimed batch: blobs first, then the entries, until each is settled.

An entry is *settled* when it is acknowledged (the server applied it now or
before) or dead-lettered (the server rejected it, or a blob it needs is corrupt
or gone locally). `BatchDelivery.deliver` settles every entry of its batch or
raises RetryableError, leaving the rest queued with an attempt counted; it
never reorders: unsettled entries are resent before anything after them.

A permanent 4xx on the whole request says nothing about which entry is at
fault, so the batch is split in halves until the culprit is alone, and only it
is dead-lettered. A batch over the server's limits (`tablelog_agent.limits`) is
split the same way before it is sent, and a 413 teaches the limits it names: an
entry too large for any request is dead-lettered with the reason, the rest go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from tablelog import wire
from tablelog.store.queue import CONFLICT_PREFIX, Queue, QueuedEntry
from tablelog_agent.client import UploadClient
from tablelog_agent.config import AgentConfig
from tablelog_agent.errors import BatchTooLargeError, PermanentError, RetryableError
from tablelog_agent.limits import BatchLimits
from tablelog_agent.state import AgentCounters

log = logging.getLogger(__name__)
_SETTLED = frozenset({str(wire.Status.APPLIED), str(wire.Status.DUPLICATE)})
_NO_RESULT: dict[str, Any] = {}


class BatchDelivery:
    """Moves batches from one queue to one server; shares counters with the agent."""

    def __init__(self, queue: Queue, client: UploadClient, config: AgentConfig,
                 counters: AgentCounters, limits: BatchLimits | None = None) -> None:
        self._queue = queue
        self._client = client
        self._config = config
        self._counters = counters
        self.limits = limits or BatchLimits.from_config(config)

    async def deliver(self, batch: Sequence[QueuedEntry]) -> None:
        """Settle every entry of `batch` (in id order) or raise RetryableError."""
        # Bytes that changed on disk since the SDK wrote them must not reach the server
        # as if they were what was logged.
        await self._dead_letter({
            e.id: "payload damaged on disk: its CRC-32 no longer matches what the SDK wrote"
            for e in batch if not e.intact})
        batch = [e for e in batch if e.intact]
        try:
            if not self.limits.learned:  # once per session, when there is work to send
                self.limits.learn(await self._client.batch_limits())
            await self._settle(list(batch))
        except RetryableError as exc:
            # Settled entries are gone from `entries`, so only the rest count an attempt.
            # Best effort: the queue may be the thing that failed.
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._queue.record_failure, [e.id for e in batch],
                                        str(exc))
            raise

    async def _settle(self, pending: list[QueuedEntry]) -> None:
        extra_needs: dict[int, set[str]] = {}  # blobs the server named beyond `entry.blobs`
        stalled_rounds = 0
        while pending:
            pending = await self._upload_blobs(pending, extra_needs)
            if not pending:
                return
            step = self.limits.max_entries
            if len(pending) > step:  # claimed before the limits were learned
                for start in range(0, len(pending), step):  # in order, each settled first
                    await self._settle(pending[start:start + step])
                return
            # A batch holds one queue id (claim_batch): entries queued before the
            # directory was copied keep theirs.
            body = wire.encode_batch(pending[0].queue_id or self._queue.queue_id,
                                     [(e.id, e.payload) for e in pending])
            over = self.limits.refusal(len(pending), len(body))
            if over is not None:
                await self._split(pending, over)
                return
            try:
                results = await self._client.send_batch(body)
            except BatchTooLargeError as exc:
                self.limits.learn(exc.limits)
                await self._split(pending, f"server refused the entry as too large: {exc}")
                return
            except PermanentError as exc:
                await self._split(pending, f"server refused the entry: {exc}")
                return
            self._counters.batches += 1
            before = len(pending)
            pending = await self._apply_results(pending, results, extra_needs)
            if len(pending) < before:
                stalled_rounds = 0
                continue
            stalled_rounds += 1
            if stalled_rounds >= self._config.max_resend_rounds:
                raise RetryableError(
                    f"server settled none of {len(pending)} entries in "
                    f"{stalled_rounds} rounds (first: id {pending[0].id}, "
                    f"{_describe(results, pending[0].id)})")

    async def _split(self, pending: list[QueuedEntry], reason: str) -> None:
        """Settle `pending` in halves; `reason` is the dead letter's when it is one entry."""
        if len(pending) == 1:
            await self._dead_letter({pending[0].id: reason})
            return
        middle = len(pending) // 2
        # First half settles completely before the second is sent: order per run holds.
        await self._settle(pending[:middle])
        await self._settle(pending[middle:])

    # -- results -----------------------------------------------------------------

    async def _apply_results(self, pending: list[QueuedEntry], results: list[dict[str, Any]],
                             extra_needs: dict[int, set[str]]) -> list[QueuedEntry]:
        by_id = {r.get("id"): r for r in results}
        # The common answer settles everything: one pass over plain strings.
        acked = [e for e in pending if by_id.get(e.id, _NO_RESULT).get("status") in _SETTLED]
        dead: dict[int, str] = {}
        again: list[QueuedEntry] = []
        if len(acked) < len(pending):
            for entry in pending:
                result = by_id.get(entry.id, _NO_RESULT)
                status = result.get("status")
                if status in _SETTLED:
                    continue
                if status == wire.Status.REJECTED:
                    dead[entry.id] = ("rejected by the server: "
                                      f"{result.get('reason') or 'no reason'}")
                    continue
                if status == wire.Status.CONFLICT:  # NOT stored: never acknowledged
                    dead[entry.id] = CONFLICT_PREFIX + str(result.get("reason") or
                                                           "its key holds other content")
                    self._counters.conflicts += 1
                    continue
                if status == wire.Status.MISSING_BLOBS:  # upload them, then send again
                    named = result.get("missing") or []
                    extra_needs.setdefault(entry.id, set()).update(
                        s for s in named if wire.is_sha256(s))
                again.append(entry)  # deferred, missing blobs, or no answer: send again
        if acked:
            await asyncio.to_thread(self._queue.ack, [e.id for e in acked])
            self._counters.entries_acked += len(acked)
            self._counters.bytes_acked += sum(e.size + e.blob_bytes for e in acked)
        await self._dead_letter(dead)
        return again

    async def _dead_letter(self, reasons: dict[int, str]) -> None:
        if not reasons:
            return

        def move() -> None:
            for entry_id, reason in reasons.items():
                log.warning("dead-lettering entry %d: %s", entry_id, reason)
                self._queue.dead_letter(entry_id, reason)

        await asyncio.to_thread(move)
        self._counters.dead_lettered += len(reasons)

    # -- blobs -------------------------------------------------------------------

    async def _upload_blobs(self, pending: list[QueuedEntry],
                            extra_needs: dict[int, set[str]]) -> list[QueuedEntry]:
        """Make sure the server holds every blob `pending` needs; dead-letter the entries
        whose blobs cannot be sent and return the others."""
        if not extra_needs and not any(e.blobs for e in pending):
            return pending  # history, summaries, configs: the usual batch
        needs = {e.id: set(e.blobs) | extra_needs.get(e.id, set()) for e in pending}
        wanted = list(dict.fromkeys(s for e in pending for s in sorted(needs[e.id])))
        if not wanted:
            return pending
        missing = await self._client.missing_blobs(wanted)
        failures = await self._upload_all([s for s in missing if wire.is_sha256(s)])
        if not failures:
            return pending
        dead = {}
        for e in pending:
            bad = sorted(needs[e.id] & failures.keys())
            if bad:
                dead[e.id] = "; ".join(failures[s] for s in bad)
        await self._dead_letter(dead)
        return [e for e in pending if e.id not in dead]

    async def _upload_all(self, shas: Iterable[str]) -> dict[str, str]:
        """Upload blobs a few at a time; {sha: reason} for those that cannot be sent.
        The first retryable error cancels the other uploads and propagates."""
        todo = iter(shas)
        failures: dict[str, str] = {}

        async def worker() -> None:
            for sha in todo:  # one shared iterator: each blob goes to one worker
                reason = await self._upload_one(sha)
                if reason:
                    failures[sha] = reason

        workers = [asyncio.create_task(worker())
                   for _ in range(self._config.parallel_blob_uploads)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        return failures

    async def _upload_one(self, sha: str) -> str | None:
        blobs = self._queue.blobs
        path = blobs.path(sha)
        if not await asyncio.to_thread(blobs.verify, sha):
            if not path.exists():
                return f"blob {sha} is missing from the local store {blobs.root}"
            moved = await asyncio.to_thread(blobs.quarantine, sha)
            return f"local blob {sha} is corrupt (its bytes do not match); moved to {moved}"
        size = path.stat().st_size
        try:
            await self._client.put_blob(sha, path, size)
        except PermanentError as exc:
            return f"server refused blob {sha} ({size} bytes): {exc}"
        except FileNotFoundError:
            return f"blob {sha} vanished from the local store {blobs.root} during upload"
        self._counters.blobs_uploaded += 1
        self._counters.blob_bytes_uploaded += size
        return None


def _describe(results: list[dict[str, Any]], entry_id: int) -> str:
    for r in results:
        if r.get("id") == entry_id:
            extra = r.get("reason") or r.get("missing") or ""
            return f"status {r.get('status')}{f' {extra}' if extra else ''}"
    return "no result for it"
