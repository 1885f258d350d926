"""Scenario 15 (issue 12 points 8 and 9): a copied queue directory, and a run resumed
on a node that never saw it."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.identity import copied_dir, resume_elsewhere


def test_a_copied_queue_directory_loses_nothing_and_never_fakes_delivery(
        tmp_path: Path) -> None:
    c = copied_dir(tmp_path, rows=40)
    c.assert_ok()
    assert c.sent == 4 * 40


def test_resume_on_another_node_continues_and_never_rewinds(tmp_path: Path) -> None:
    c = resume_elsewhere(tmp_path, rows=30)
    c.assert_ok()
    assert c.sent == 3 * 30
