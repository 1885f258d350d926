"""Scenarios 2 and 3: kill -9 of the agent while it uploads, and of the training
process (right after flush, and at random moments without one)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.scenarios import agent_kill9, trainer_kill9


def test_agent_killed_10_times_mid_upload_stores_everything_once(tmp_path: Path) -> None:
    c = agent_kill9(tmp_path, rows=250, kills=10)
    c.assert_ok()
    assert c.sent == 500


def test_training_killed_after_flush_or_at_random_loses_nothing_committed(
        tmp_path: Path) -> None:
    c = trainer_kill9(tmp_path, flushed_rows=300, random_kills=4, max_wait_s=0.5)
    c.assert_ok()
    assert c.sent >= 300
