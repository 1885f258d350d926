"""Scenario 10: keys, entities, hostile requests, file modes and key hygiene, against
a real server process and real agents."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.scenarios import security


def test_keys_entities_hostile_requests_modes_and_no_key_leaks(tmp_path: Path) -> None:
    security(tmp_path, rows=100).assert_ok()
