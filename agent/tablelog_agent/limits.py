"""How large a batch the agent builds: its own settings, lowered to what the
server says it accepts (``GET /api/v1/limits``, or the ``limits`` of a 413).

No I/O here: the agent asks the server once per session and passes the answer
to `BatchLimits.learn`; delivery does the same with the limits a 413 names, and
asks `BatchLimits.refusal` before sending, so a batch over the server's limits
is split (or its one entry dead-lettered) without a request.
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
    """The entries and payload bytes one claimed batch may hold, and the server's
    limit on a request's body once known; they are only ever lowered."""

    max_entries: int
    max_payload_bytes: int
    max_body_bytes: int | None = None  # the server's, once it named it
    learned: bool = False  # the server was asked (an old one answers 404: nothing to learn)

    @classmethod
    def from_config(cls, config: AgentConfig) -> BatchLimits:
        """The agent's own limits, before the server said anything."""
        return cls(max_entries=config.batch_max_entries,
                   max_payload_bytes=config.batch_max_bytes)

    def learn(self, server: object) -> None:
        """Lower the limits to a server's ``{"max_batch_entries": N, "max_body_bytes": M}``;
        anything else (an old server, a garbled answer) leaves them as they are."""
        self.learned = True
        if not isinstance(server, Mapping):
            return
        entries = _positive_int(server.get("max_batch_entries"))
        if entries is not None:
            self.max_entries = min(self.max_entries, entries)
        body = _positive_int(server.get("max_body_bytes"))
        if body is not None:
            self.max_body_bytes = min(body, self.max_body_bytes or body)
            payload = body - ENVELOPE_BYTES - ENTRY_OVERHEAD_BYTES * self.max_entries
            self.max_payload_bytes = max(1, min(self.max_payload_bytes, payload))

    def refusal(self, entries: int, body_bytes: int) -> str | None:
        """Why the server would refuse a batch of `entries` encoded in `body_bytes`
        bytes (with a 413), as a reason a dead letter can carry; None when it fits."""
        if entries > self.max_entries:
            return (f"a batch of {entries} entries is over the server's limit of "
                    f"{self.max_entries} entries per batch")
        if self.max_body_bytes is not None and body_bytes > self.max_body_bytes:
            what = "the entry" if entries == 1 else f"a batch of {entries} entries"
            return (f"{what} takes {body_bytes} bytes on the wire, over the server's limit "
                    f"of {self.max_body_bytes} bytes per request (tablelog server "
                    "--max-body-bytes)")
        return None


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None
