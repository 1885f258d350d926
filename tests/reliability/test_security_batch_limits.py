"""Issue 13 point 3 in the security scenario: hostile batches against a real server."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Counts, Harness, timed
from tests.reliability.security_batch_limits import probe_batch_limits


def test_batch_limits(tmp_path: Path) -> None:
    c = Counts("batch limits")
    with Harness(tmp_path) as h, timed(c):
        probes = probe_batch_limits(c, h)
    assert probes >= 5
    c.assert_ok()
