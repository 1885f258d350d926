"""The agent's counters, as written to ``queue.set_agent_state`` for `tablelog status`.

Plain data with no I/O: the agent mutates one `AgentCounters` from its event
loop and a heartbeat task persists `snapshot()` about once a second.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class AgentStatus(StrEnum):
    """What the agent is doing right now."""

    STARTING = "starting"
    IDLE = "idle"
    UPLOADING = "uploading"
    BACKING_OFF = "backing-off"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass
class AgentCounters:
    """Totals since the agent started (all monotonic except the status fields)."""

    pid: int = field(default_factory=os.getpid)
    base_url: str = ""  # redacted: never holds credentials
    key_fingerprint: str = ""  # lifetime.key_fingerprint: a salted hash, not the key
    started_at: float = field(default_factory=time.time)
    heartbeat: float = 0.0
    state: AgentStatus = AgentStatus.STARTING
    requests: int = 0
    batches: int = 0
    failed_attempts: int = 0  # attempts that ended in a retryable error
    consecutive_failures: int = 0
    entries_acked: int = 0
    bytes_acked: int = 0  # payload + blob bytes of acknowledged entries (as in QueueStats)
    blobs_uploaded: int = 0
    blob_bytes_uploaded: int = 0
    dead_lettered: int = 0
    conflicts: int = 0  # of those, keys the server holds with other content (not stored)
    last_error: str | None = None
    last_error_at: float | None = None
    auth_failed: bool = False  # the last failure was a 401/403: the key is wrong
    next_retry_at: float | None = None
    cache_max_bytes: int | None = None  # the local blob cache's bound
    gc_rounds: int = 0  # blob collection rounds that ran (tablelog_agent.gc)
    gc_deleted_files: int = 0
    gc_deleted_bytes: int = 0
    gc_skipped: int = 0  # rounds that found writers holding the store the whole time
    blob_store_bytes: int | None = None  # the store's size after the last round
    last_gc_at: float | None = None

    def record_error(self, message: str, *, auth: bool = False) -> None:
        """Count a failed attempt (`auth`: the server refused the key)."""
        self.failed_attempts += 1
        self.consecutive_failures += 1
        self.last_error = message
        self.last_error_at = time.time()
        self.auth_failed = auth

    def record_success(self) -> None:
        """A batch settled: the failure streak is over."""
        self.consecutive_failures = 0
        self.auth_failed = False
        self.next_retry_at = None

    def snapshot(self) -> dict[str, Any]:
        """The persisted form (plain types only); stamps the heartbeat."""
        self.heartbeat = time.time()
        out = asdict(self)
        out["state"] = str(self.state)
        return out
