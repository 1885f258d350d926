"""How large a batch the agent builds: its own settings, lowered to what the
server says it accepts (``GET /api/v1/limits``, or the ``limits`` of a 413).

No I/O here: the agent asks the server once per session and passes the answer
to `BatchLimits.learn`; delivery does the same with the limits a 413 names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tablelog_agent.config import AgentConfig

# Bytes of a batch envelope beyond its entries' payloads: the map, wire version and
# queue id (a name of at most 128 characters), then per entry its {"id", "data"} map
# header, keys, a 64-bit id and a bin32 header.
ENVELOPE_BYTES = 256
ENTRY_OVERHEAD_BYTES = 24


@dataclass
class BatchLimits:
    """The entry count and payload bytes one batch may hold; only ever lowered."""

    max_entries: int
    max_bytes: int
    known: bool = False  # the server's limits were asked for (or it is too old to say)

    @classmethod
    def from_config(cls, config: AgentConfig) -> BatchLimits:
        """The agent's own limits, before the server said anything."""
        return cls(max_entries=config.batch_max_entries, max_bytes=config.batch_max_bytes)

    def learn(self, server: object) -> None:
        """Lower the limits to a server's ``{"max_batch_entries": N, "max_body_bytes": M}``;
        anything else (an old server, a garbled answer) leaves them as they are."""
        self.known = True
        if not isinstance(server, Mapping):
            return
        entries = _positive_int(server.get("max_batch_entries"))
        if entries is not None:
            self.max_entries = min(self.max_entries, entries)
        body = _positive_int(server.get("max_body_bytes"))
        if body is not None:
            payload = body - ENVELOPE_BYTES - ENTRY_OVERHEAD_BYTES * self.max_entries
            self.max_bytes = max(1, min(self.max_bytes, payload))


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
