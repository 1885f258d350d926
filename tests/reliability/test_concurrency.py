"""Scenario 13: one run logged from forked children and from several threads."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.concurrency import forked_children, threads


def test_forked_children_and_a_fork_pool_log_into_one_run(tmp_path: Path) -> None:
    c = forked_children(tmp_path, children=3, rows=40, parent_rows=60, workers=2, tasks=4,
                        task_rows=10)
    c.assert_ok()
    assert c.sent == 40 * 3 + 61 + 4 * 10


def test_eight_threads_log_into_one_run(tmp_path: Path) -> None:
    c = threads(tmp_path, threads=8, rows=200, single=2000)
    c.assert_ok()
    assert c.sent == 1600
