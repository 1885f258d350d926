"""Scenario 9: eight training processes and one agent at once."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.scenarios import many_writers


def test_eight_trainers_one_agent_all_delivered_in_order(tmp_path: Path) -> None:
    c = many_writers(tmp_path, trainers=8, rows=500)
    c.assert_ok()
    assert c.sent == 4000
