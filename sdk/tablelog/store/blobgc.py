"""Shrinking the local blob store: once the server has stored an entry, the blobs no
queued or dead-lettered entry needs are only a cache, bounded by
TABLELOG_CACHE_MAX_BYTES and evicted least recently used first.

The agent calls `collect` after it settled batches that carried blobs (and when
its queue drains). One round:

1. lists the store's files with their sizes and last use, and reads every blob
   that pending and dead-lettered entries need (no lock held);
2. takes the store's deletion lock exclusively (`BlobStore.exclusive`): no writer
   is then between putting a blob and committing the entry that names it;
3. adds, *under* that lock, the blobs of entries committed since step 1, so an
   entry committed a moment ago is seen (cheap: only the newest entries);
4. deletes blobs nobody needs, oldest use first, until the rest of the cache
   fits the bound, at most MAX_DELETES_PER_ROUND files (writers wait for the
   round); every needed blob stays, whatever its size.

So the store holds at most the cache bound plus what is still queued (or dead),
plus what writers put since the round. A round that cannot get the lock within
`lock_timeout_s` (writers busy all that time) deletes nothing and says so; the
next round tries again. What an eviction means for reads: the artifact's blobs
are on the server, and reads through the server (`use_artifact` online,
`tablelog.Api`) download them again; reads of this directory alone (offline)
fail with an error saying so.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

from tablelog.store.blobstore import BlobFile
from tablelog.store.queue import Queue

MAX_DELETES_PER_ROUND = 2000  # bounds how long writers may wait on one round (~0.1 s)


@dataclass(frozen=True)
class GcResult:
    """What one collection round found and did."""

    store_bytes: int  # before the round
    needed_bytes: int  # of which pending / dead-lettered entries need
    deleted_files: int
    deleted_bytes: int
    locked: bool  # False: writers held the store all along, nothing was deleted
    seconds: float
    complete: bool = True  # False: stopped at MAX_DELETES_PER_ROUND, more to delete

    @property
    def cache_bytes(self) -> int:
        """Bytes left that no entry needs (the cache), after the round."""
        return self.store_bytes - self.needed_bytes - self.deleted_bytes


def collect(queue: Queue, cache_max_bytes: int, *, lock_timeout_s: float = 1.0) -> GcResult:
    """One round of deletion (see the module docstring)."""
    started = time.monotonic()
    files = queue.blobs.scan()
    needed, seen = queue.referenced_blobs()
    total = sum(f.size for f in files)
    deleted_files = deleted_bytes = 0
    complete = True
    with queue.blobs.exclusive(lock_timeout_s) as locked:
        if locked:
            needed |= queue.referenced_blobs(after_id=seen)[0]
            spare = [f for f in files if f.sha256 not in needed]
            needed_bytes = total - sum(f.size for f in spare)
            over = sum(f.size for f in spare) - cache_max_bytes
            for f in sorted(spare, key=_lru_key):
                if over <= 0:
                    break
                if deleted_files >= MAX_DELETES_PER_ROUND:
                    complete = False
                    break
                if queue.blobs.delete(f.sha256):
                    deleted_files += 1
                    deleted_bytes += f.size
                over -= f.size
        else:
            needed_bytes = total  # unknown: counted as needed, nothing was touched
    return GcResult(total, needed_bytes, deleted_files, deleted_bytes, locked,
                    time.monotonic() - started, complete)


def _lru_key(f: BlobFile) -> tuple[float, str]:
    return (f.mtime, f.sha256)


def disk_use(queue: Queue) -> dict[str, Any]:
    """The local disk a queue directory uses, for `tablelog status`: the blob store,
    the part of it queued and dead-lettered entries need, and the queue database."""
    files = queue.blobs.scan()
    needed, _ = queue.referenced_blobs()
    db = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            db += os.stat(f"{queue.db_path}{suffix}").st_size
    store = sum(f.size for f in files)
    needed_bytes = sum(f.size for f in files if f.sha256 in needed)
    return {"blob_files": len(files), "blob_bytes": store, "needed_blob_bytes": needed_bytes,
            "cache_bytes": store - needed_bytes, "queue_db_bytes": db,
            "total_bytes": store + db}
