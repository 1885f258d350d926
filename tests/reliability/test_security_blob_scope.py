"""Issue 13 point 5 in the security scenario: blobs read per entity, against a real
server and real `tablelog sync` runs for two keys."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Counts, Harness, timed
from tests.reliability.security_blob_scope import probe_blob_scope


def test_blobs_are_read_per_entity(tmp_path: Path) -> None:
    c = Counts("blob scope")
    with Harness(tmp_path) as h, timed(c):
        probes = probe_blob_scope(c, h)
    assert probes > 20
    c.assert_ok()
