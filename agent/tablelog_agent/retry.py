"""Retry policy: tenacity, driven by the error's type alone, never giving up.

Data stays on disk while the server is away, so there is no stop condition:
the wait grows exponentially with jitter up to a cap, and a server's
``Retry-After`` (seconds or an HTTP-date) replaces the computed wait. A refused
key (AuthError) backs off on its own, much longer scale (`auth_base_s`, `auth_cap_s`).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never

from tablelog_agent.errors import AuthError, RetryableError

RETRY_AFTER_MAX_S = 3600.0  # a header asking for more than an hour is not believed


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), RETRY_AFTER_MAX_S)


class BackoffWait:
    """tenacity wait: ``base * 2**(n-1)`` capped, with equal jitter (half fixed, half
    random, so a retry is never immediate), unless the error carries `retry_after`."""

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None, *,
                 auth_base_s: float | None = None, auth_cap_s: float | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self.auth_base_s = auth_base_s or base_s
        self.auth_cap_s = max(auth_cap_s or cap_s, self.auth_base_s)
        self._rng = rng or random.Random()

    def backoff(self, attempt: int, *, auth: bool = False) -> float:
        """The jittered exponential wait after failed attempt number `attempt` (1-based);
        `auth`: on the refused-key scale."""
        base, cap = (self.auth_base_s, self.auth_cap_s) if auth else (self.base_s, self.cap_s)
        ceiling = min(cap, base * 2.0 ** min(attempt - 1, 60))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, AuthError):  # a Retry-After on a 401 does not make the key valid
            return self.backoff(retry_state.attempt_number, auth=True)
        hint = exc.retry_after if isinstance(exc, RetryableError) else None
        if hint is not None:
            # Never at once: a Retry-After of 0, or an HTTP-date already past (the
            # server's clock behind ours), would otherwise make a 503 storm a hot loop.
            hint = max(hint, self.base_s / 2)
            # A small spread keeps many agents from returning in the same instant.
            return hint + self._rng.uniform(0, min(hint * 0.1, 1.0))
        return self.backoff(retry_state.attempt_number)


def retrying(*, base_s: float, cap_s: float,
             sleep: Callable[[float], Awaitable[None]],
             before_sleep: Callable[[RetryCallState], Any] | None = None,
             auth_base_s: float | None = None, auth_cap_s: float | None = None
             ) -> AsyncRetrying:
    """An AsyncRetrying that retries RetryableError forever; `sleep` should return early
    when the agent is asked to stop (the next attempt then sees the stop flag)."""
    return AsyncRetrying(
        retry=retry_if_exception_type(RetryableError),
        wait=BackoffWait(base_s, cap_s, auth_base_s=auth_base_s, auth_cap_s=auth_cap_s),
        stop=stop_never,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
