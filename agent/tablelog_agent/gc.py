"""When the agent shrinks the local blob store (the rules are in `tablelog.blobgc`).

A round runs after batches that carried blobs were settled, at most every
`gc_interval_s` while uploading, and once more when the queue drains; an agent
that has nothing new to free does not scan the store again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from tablelog.blobgc import collect
from tablelog.queue import Queue, QueuedEntry
from tablelog_agent.config import AgentConfig
from tablelog_agent.state import AgentCounters

log = logging.getLogger(__name__)


class BlobCollector:
    """Decides when to run `tablelog.blobgc.collect` for one agent, off the event loop."""

    def __init__(self, queue: Queue, config: AgentConfig, counters: AgentCounters) -> None:
        self._queue = queue
        self._config = config
        self._counters = counters
        self._dirty = True  # at start: a store left by an older version may be over the bound
        self._last = float("-inf")
        counters.cache_max_bytes = config.cache_max_bytes

    def settled(self, batch: Sequence[QueuedEntry]) -> None:
        """A batch was settled: if it named blobs, some may not be needed any more."""
        if any(e.blobs for e in batch):
            self._dirty = True

    async def maybe_collect(self, *, drained: bool = False) -> None:
        """Run a round if blobs may have been freed and the interval passed (or the
        queue just drained). Never raises: the store is only a cache."""
        now = time.monotonic()
        if not self._dirty or (not drained and now - self._last < self._config.gc_interval_s):
            return
        self._last = now
        try:
            result = await asyncio.to_thread(collect, self._queue, self._config.cache_max_bytes)
        except Exception as exc:  # a disk error here must not stop uploads
            log.warning("could not shrink the local blob store: %s", exc)
            return
        c = self._counters
        c.last_gc_at = time.time()
        if not result.locked:
            c.gc_skipped += 1
            return
        self._dirty = False
        c.gc_rounds += 1
        c.gc_deleted_files += result.deleted_files
        c.gc_deleted_bytes += result.deleted_bytes
        c.blob_store_bytes = result.store_bytes - result.deleted_bytes
        if result.deleted_files:
            log.info("deleted %d uploaded blobs (%d bytes) in %.2fs; the store holds %d bytes",
                     result.deleted_files, result.deleted_bytes, result.seconds,
                     c.blob_store_bytes)
