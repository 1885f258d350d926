"""Issue 13, point 2 (slowloris): 2,000 idle and headerless connections at a server with
a systemd-like file descriptor limit; see `tests.reliability.security_slow_clients`."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Counts, Harness
from tests.reliability.security_slow_clients import probe_slow_clients


def test_server_keeps_serving_through_2000_idle_connections(tmp_path: Path) -> None:
    c = Counts("slow clients")
    with Harness(tmp_path) as h:
        probes = probe_slow_clients(c, h, connections=2000)
    c.assert_ok()
    assert probes > 2000
