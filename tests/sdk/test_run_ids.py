"""Run ids as wandb 0.31 takes them: any id its Settings accept works with init(id=...),
and the ones it refuses fail with its words (an error that is a UsageError and a ValueError).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import tablelog as wandb
from tablelog import errors, wire

ACCEPTED = ["random-run-id-=1234567-seed-0", "a b", "run+1@host", "日本語", "100%", "a\\b",
            "abc", "x" * 100]


@pytest.mark.parametrize("run_id", ACCEPTED)
def test_ids_wandb_accepts_log_offline_and_read_back(queue_dir: Path, run_id: str) -> None:
    table = wandb.Table(columns=["a"], data=[[1]])
    with wandb.init(project="p", id=run_id) as run:
        assert run.id == run_id
        run.log({"loss": 0.5, "t": table})
        # the table's artifact is named as wandb names it: the id sanitized
        name = wire.run_artifact_name(run_id, "t")
        assert wire.is_valid_name(name)
        assert run.use_artifact(f"{name}:latest").get("t") == table
    assert run.not_persisted == []


def test_the_artifact_name_sanitizes_the_id_as_wandb_does() -> None:
    # the names wandb 0.31 gives (its InternalArtifact's sanitize_artifact_name)
    assert (wire.run_artifact_name("random-run-id-=1234567-seed-0", "t")
            == "run-random-run-id-1234567-seed-0-t-O19duA")
    assert wire.run_artifact_name("a.b_c-d", "t") == "run-a.b_c-d-t"


def test_an_id_of_128_characters_is_accepted(queue_dir: Path) -> None:
    with wandb.init(project="p", id="x" * 128) as run:
        run.log({"loss": 0.5})
    assert run.id == "x" * 128 and run.not_persisted == []


@pytest.mark.parametrize(("run_id", "message"), [
    ("", "Run ID cannot be empty"),
    ("   ", "Run ID cannot contain only whitespace"),
    (" lead", "Run ID cannot start or end with whitespace"),
    ("trail\t", "Run ID cannot start or end with whitespace"),
    *((f"a{c}b", "Run ID cannot contain the characters: :;,#?/'") for c in ":;,#?/'"),
    ("a\nb", "control characters"),
    ("x" * 129, "longer than 128"),
    ("..", "cannot be '..'"),
])
def test_ids_wandb_refuses_fail_with_its_words(queue_dir: Path, run_id: str,
                                               message: str) -> None:
    with pytest.raises(errors.UsageError, match=f"Invalid run id .*{_escaped(message)}") as info:
        wandb.init(project="p", id=run_id)
    assert isinstance(info.value, ValueError)
    assert not wire.is_valid_run_id(run_id)


def _escaped(text: str) -> str:
    import re

    return re.escape(text)


def test_entries_with_an_accepted_id_decode_and_a_refused_one_does_not() -> None:
    good = wire.encode_entry(wire.Kind.HISTORY, entity=None, project="p",
                             run_id="random-run-id-=1234567-seed-0", body={"_step": 0})
    assert wire.decode_entry(good).run_id == "random-run-id-=1234567-seed-0"
    bad = wire.encode_entry(wire.Kind.HISTORY, entity=None, project="p", run_id="a/b",
                            body={"_step": 0})
    with pytest.raises(errors.WireError, match="invalid run id"):
        wire.decode_entry(bad)
