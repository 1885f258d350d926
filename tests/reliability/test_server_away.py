"""Scenario 4: the server down for a whole training run, and restarted mid-upload."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.scenarios import server_down, server_restart


def test_server_down_does_not_slow_training_and_everything_arrives_later(
        tmp_path: Path) -> None:
    # A generous bound: a 2-core machine shared with the agent's start-up and other
    # jobs; bench/reliability_report.py reports the real numbers.
    c = server_down(tmp_path, steps=300, slowdown_bound=2.0)
    c.assert_ok()
    assert c.sent == 300


def test_server_restarted_twice_mid_upload(tmp_path: Path) -> None:
    c = server_restart(tmp_path, runs=2, rows=500)
    c.assert_ok()
