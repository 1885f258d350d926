"""When the agent shrinks the local blob store (the rules are in `tablelog.store.blobgc`).

A round runs after batches that carried blobs were settled: every `gc_interval_s`
while uploading, sooner once a quarter of the cache bound (at least 1 MiB) was
acknowledged since the last round, and once more when the queue drains. So
between rounds the store exceeds "cache bound + still queued" by at most about a
quarter of the bound plus one batch (`batch_max_blob_bytes`, 64 MiB), plus what
writers put and have not committed yet. Rounds are spaced by at least five times the
last one's duration (a store of many small files takes a while to list), so
collecting never takes more than a small share of the agent's time; an agent that
has nothing new to free does not list the store again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from tablelog.store.blobgc import collect
from tablelog.store.queue import Queue, QueuedEntry
from tablelog_agent.config import AgentConfig
from tablelog_agent.state import AgentCounters

log = logging.getLogger(__name__)
MIN_TRIGGER_BYTES = 1 << 20


class BlobCollector:
    """Decides when to run `tablelog.store.blobgc.collect` for one agent, off the event loop."""

    def __init__(self, queue: Queue, config: AgentConfig, counters: AgentCounters) -> None:
        self._queue = queue
        self._config = config
        self._counters = counters
        self._dirty = True  # at start: a store left by an older version may be over the bound
        self._last = float("-inf")
        self._last_took = 0.0
        self._freed = 0  # blob bytes of entries settled since the last round
        self._trigger = max(MIN_TRIGGER_BYTES, config.cache_max_bytes // 4)
        counters.cache_max_bytes = config.cache_max_bytes

    def settled(self, batch: Sequence[QueuedEntry]) -> None:
        """A batch was settled: if it named blobs, some may not be needed any more."""
        if any(e.blobs for e in batch):
            self._dirty = True
            self._freed += sum(e.blob_bytes for e in batch)

    def _due(self, now: float, drained: bool) -> bool:
        if not self._dirty:
            return False
        since = now - self._last
        if drained or since >= self._config.gc_interval_s:
            return True
        return self._freed >= self._trigger and since >= 5 * self._last_took

    async def maybe_collect(self, *, drained: bool = False) -> None:
        """Run a round if blobs may have been freed and one is due (see the module
        docstring). Never raises: the store is only a cache."""
        now = time.monotonic()
        if not self._due(now, drained):
            return
        self._last, self._freed = now, 0
        try:
            result = await asyncio.to_thread(collect, self._queue, self._config.cache_max_bytes)
        except Exception as exc:  # a disk error here must not stop uploads
            log.warning("could not shrink the local blob store: %s", exc)
            return
        self._last_took = result.seconds
        c = self._counters
        c.last_gc_at = time.time()
        if not result.locked:
            c.gc_skipped += 1
            return
        self._dirty = not result.complete  # more to delete: the next round goes on
        c.gc_rounds += 1
        c.gc_deleted_files += result.deleted_files
        c.gc_deleted_bytes += result.deleted_bytes
        c.blob_store_bytes = result.store_bytes - result.deleted_bytes
        if result.deleted_files:
            log.info("deleted %d uploaded blobs (%d bytes) in %.2fs; the store holds %d bytes",
                     result.deleted_files, result.deleted_bytes, result.seconds,
                     c.blob_store_bytes)
