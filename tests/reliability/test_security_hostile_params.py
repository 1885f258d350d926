"""The security scenario's hostile-parameters probe, at its own small size."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Counts, Harness
from tests.reliability.security_hostile_params import probe_hostile_params


def test_hostile_params_never_crash_a_real_server(tmp_path: Path) -> None:
    c = Counts("hostile params")
    with Harness(tmp_path) as h:
        probes = probe_hostile_params(c, h)
    c.assert_ok()
    assert probes > 300 and len(c.checks) == 4
