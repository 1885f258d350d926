"""Scenario 6: the disk under the queue fills up (a real tmpfs where it can be
mounted, else a queue cap), and a queue cap in any case."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.scenarios import disk_full


def test_disk_full_training_goes_on_and_reports_exactly_what_was_lost(tmp_path: Path) -> None:
    c = disk_full(tmp_path, phase1=1200, phase2=60)
    c.assert_ok()


def test_queue_cap_training_goes_on_and_reports_exactly_what_was_lost(tmp_path: Path) -> None:
    c = disk_full(tmp_path, phase1=1200, phase2=60, force_cap=True)
    c.assert_ok()
