"""Scenario 8: the queue against a model (hypothesis RuleBasedStateMachine)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.scenarios import queue_model


def test_queue_matches_its_model_through_crashes(tmp_path: Path) -> None:
    c = queue_model(tmp_path, examples=20, steps=25)
    c.assert_ok()
    assert c.sent > 100
