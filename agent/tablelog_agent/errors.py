"""Every exception the agent raises, in one tree; the TYPE decides what happens next.

    AgentError                      root: catch this to catch anything the agent raises
    ├── AgentLockedError            another agent already serves this queue directory
    ├── RetryableError              keep the data, back off, try again (never given up on)
    │   │                           network errors, timeouts, 408, 429, 5xx; `retry_after`
    │   │                           carries the server's Retry-After in seconds, if any
    │   ├── AuthError               401/403: the server refused the key; data is kept
    │   ├── WrongEndpointError      404/405: the base URL is not a tablelog server
    │   └── LocalQueueError         the local queue could not be read or written
    │                               (SQLite busy past its timeout, disk full, I/O error)
    └── PermanentError              any other 4xx: the request itself is refused
        │                           (e.g. 400 bad envelope); the agent splits the batch
        │                           to find and dead-letter the culprit
        └── BatchTooLargeError      413: over the server's limits, which `limits` holds
                                    when it named them; the agent learns them and splits

`tablelog_agent.retry` retries on `RetryableError` alone. 401/403 and 404/405 are
retryable on purpose: they say nothing about the entries, only about the key or
the URL, so dead-lettering would throw good data away because of a typo.
"""

from __future__ import annotations


class AgentError(Exception):
    """Root of every error raised by tablelog_agent."""


class AgentLockedError(AgentError):
    """Another agent holds ``agent.lock`` in this queue directory."""

    def __init__(self, directory: str, pid: int | None) -> None:
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(f"an agent ({holder}) already serves {directory}")
        self.pid = pid


class RetryableError(AgentError):
    """A failure that time may cure; `retry_after` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class AuthError(RetryableError):
    """The server refused the API key (401) or its entity (403)."""


class WrongEndpointError(RetryableError):
    """The base URL answers, but not as a tablelog server (404/405 on our routes)."""


class LocalQueueError(RetryableError):
    """Reading or writing the local queue failed; the agent backs off and tries again
    rather than dying (a busy or full disk usually passes)."""


class PermanentError(AgentError):
    """The server refused this request for good (a 4xx other than 401/403/404/405/408/429)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class BatchTooLargeError(PermanentError):
    """413: the request is over the server's limits. `limits` is the server's
    ``{"max_batch_entries": N, "max_body_bytes": M}`` when its answer named them."""

    def __init__(self, message: str, *, status: int = 413,
                 limits: dict[str, object] | None = None) -> None:
        super().__init__(message, status=status)
        self.limits = limits
