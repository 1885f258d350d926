"""Scenarios 11-12 at small sizes: the agent's lifetime while runs are open, and a
wrong API key (see tests/reliability/lifetime.py)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.lifetime import pause, wrong_key


def test_a_pause_longer_than_the_idle_exit_is_uploaded_with_its_end(tmp_path: Path) -> None:
    c = pause(tmp_path, trainers=1, rows=30, pauses=1, pause_s=3.0, idle_exit_s=1.0)
    c.assert_ok()
    assert c.sent == 60


def test_an_agent_killed_mid_run_comes_back(tmp_path: Path) -> None:
    c = pause(tmp_path, trainers=1, rows=30, pauses=1, pause_s=1.5, idle_exit_s=1.0,
              kill_agent=True)
    c.assert_ok()
    assert c.sent == 60


def test_two_training_processes_share_one_agent(tmp_path: Path) -> None:
    c = pause(tmp_path, trainers=2, rows=30, pauses=1, pause_s=2.5, idle_exit_s=1.0)
    c.assert_ok()
    assert c.sent == 120


def test_a_wrong_key_warns_once_backs_off_long_and_sync_takes_over(tmp_path: Path) -> None:
    c = wrong_key(tmp_path, rows=30, stuck_s=4.0)
    c.assert_ok()
    assert c.sent == 60
