"""Issue 13 points 1 and 6 in the security scenario: short keys, keygen, logins
behind a TLS proxy and the per-address limit on wrong keys, against real servers."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Counts, Harness, timed
from tests.reliability.security_proxy_keys import probe_proxy_and_keys


def test_proxy_and_keys(tmp_path: Path) -> None:
    c = Counts("proxy and keys")
    with Harness(tmp_path) as h, timed(c):
        probes = probe_proxy_and_keys(c, h)
    assert probes > 10
    c.assert_ok()
