"""How many wrong keys one client address may try: a token bucket per address.

Each address starts with `FailureLimiter.burst` tries; every *failed*
authentication (an unknown Bearer key, a wrong key posted to ``/login``) takes
one, and tries come back at `FailureLimiter.per_s` a second. An address with no
try left is answered 429 with ``Retry-After`` *before its key is compared*:
otherwise a 200 among the 429s would still tell an attacker which guess was
right, and the limit would limit nothing.

The choice this makes: a right key is never counted and never waits, except
from an address that has just used up its tries with wrong keys; that address
waits at most ``1 / per_s`` seconds (one second by default) for its next try,
whatever key it sends. Clients at other addresses are never affected, and
session cookies are not keys: a logged-in browser is never limited.

Loopback addresses (127.0.0.0/8, ::1) are not limited unless `exempt_loopback` is
false: a proxy on the same host without ``--trust-proxy`` makes every client look
like 127.0.0.1, and one bucket for all would let a single attacker answer 429 to
everyone, right keys included. Local clients can only guess keys as fast as the
server answers, and a key from ``tablelog server keygen`` (256 bits) is out of
reach of any guessing.

Memory is bounded: at most `FailureLimiter.max_addresses` addresses are
remembered, the least recently seen forgotten first (a forgotten address starts
again with a full bucket, which only gives back tries it would have regained).
Behind a reverse proxy the address is the proxy's unless the server trusts its
forwarded headers (``--trust-proxy``; see `tablelog_server.proxy`).
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tablelog_server.errors import TooManyRequestsError

DEFAULT_BURST = 10
DEFAULT_PER_S = 1.0
MAX_ADDRESSES = 10_000


@dataclass
class _Bucket:
    tries: float
    at: float


class FailureLimiter:
    """Failed authentications per client address (see the module docstring)."""

    def __init__(self, *, burst: int = DEFAULT_BURST, per_s: float = DEFAULT_PER_S,
                 max_addresses: int = MAX_ADDRESSES, exempt_loopback: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_s <= 0 or max_addresses < 1:
            raise ValueError("burst, rate and table size must be positive")
        self.burst = burst
        self.per_s = per_s
        self.max_addresses = max_addresses
        self.exempt_loopback = exempt_loopback
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def limits(self, address: str) -> bool:
        """Whether failures from `address` are counted at all."""
        if not self.exempt_loopback:
            return True
        try:
            return not ipaddress.ip_address(address).is_loopback
        except ValueError:
            return True  # not an IP address (a Unix socket peer): counted

    def _bucket(self, address: str) -> _Bucket | None:
        bucket = self._buckets.get(address)
        if bucket is None:
            return None
        now = self._clock()
        bucket.tries = min(float(self.burst), bucket.tries + (now - bucket.at) * self.per_s)
        bucket.at = now
        if bucket.tries >= self.burst:
            del self._buckets[address]  # back to full: nothing left to remember
            return None
        self._buckets.move_to_end(address)
        return bucket

    def check(self, address: str) -> None:
        """Raise `TooManyRequestsError` (with the seconds to wait) when `address` has
        no try left; otherwise return, and the caller may compare its key."""
        if not self.limits(address):
            return
        bucket = self._bucket(address)
        if bucket is not None and bucket.tries < 1:
            wait = (1 - bucket.tries) / self.per_s
            raise TooManyRequestsError(
                "too many failed authentications from this address; retry later",
                retry_after_s=max(1, math.ceil(wait)))

    def record_failure(self, address: str) -> None:
        """Take one try from `address` (its key was wrong)."""
        if not self.limits(address):
            return
        bucket = self._bucket(address)
        if bucket is None:
            bucket = self._buckets[address] = _Bucket(float(self.burst), self._clock())
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        bucket.tries -= 1
