"""A table over Table.MAX_ARTIFACT_ROWS logged from a training loop: as wandb, the run
keeps the first MAX_ARTIFACT_ROWS rows and goes on, but never quietly (one warning per
key naming the step and the rows left out; every such log in run.not_persisted)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import tablelog as wandb
from tablelog.errors import TableLimitError


def _rows(n: int, start: int = 0) -> list[list[int]]:
    return [[i] for i in range(start, start + n)]


def test_a_big_table_keeps_its_first_rows_and_says_so(queue_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 3)
    table = wandb.Table(columns=["a"], data=_rows(5), log_mode="MUTABLE")
    with wandb.init(project="p") as run:
        run.log({"loss": 1.0})
        with pytest.warns(RuntimeWarning) as caught:
            run.log({"preds": table})  # step 1
        assert len(caught) == 1
        message = str(caught[0].message)
        assert "(preds)" in message and "step 1" in message
        assert "2 row(s)" in message and "first 3" in message
        assert caught[0].filename == __file__  # points at the run.log call
        run.log({"loss": 0.5})  # the loop goes on
        assert run.use_artifact(f"run-{run.id}-preds:latest").get("preds").data == _rows(3)
        assert run.not_persisted == ["log step 1 (preds): 2 row(s) of the table past "
                                     "Table.MAX_ARTIFACT_ROWS = 3 were left out; the first "
                                     "3 were kept"]
        # finish() sums up what was not persisted, as for any loss
        with pytest.warns(RuntimeWarning, match=r"not persisted: log step 1 \(preds\)"):
            run.finish()


def test_one_warning_per_key_but_every_log_is_listed(queue_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 2)
    table = wandb.Table(columns=["a"], data=_rows(3), log_mode="MUTABLE")
    with wandb.init(project="p") as run:
        with pytest.warns(RuntimeWarning, match=r"step 0 \(t\): 1 row"):
            run.log({"t": table})
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no second warning for the same key
            table.add_data(3)
            run.log({"t": table})
            run.log({"t": table})  # unchanged: the same version, nothing new left out
        other = wandb.Table(columns=["a"], data=_rows(3))
        with pytest.warns(RuntimeWarning, match=r"\(u\)"):
            run.log({"u": other})  # another key warns on its own
        lost = run.not_persisted
        run.finish(quiet=True)
    assert [x.split(":")[0] for x in lost] == ["log step 0 (t)", "log step 1 (t)",
                                               "log step 3 (u)"]
    assert "2 row(s)" in lost[1]


def test_raising_the_limit_lifts_it(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 3)
    table = wandb.Table(columns=["a"], data=_rows(4))
    table.add_data(99)  # growing past the limit outside a run is allowed
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with wandb.init(project="p") as run:
            run.log({"t": table})
            assert len(run.use_artifact(f"run-{run.id}-t:latest").get("t").data) == 5
            assert run.not_persisted == []


def test_a_truncated_table_grows_from_its_kept_rows(queue_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 4)
    table = wandb.Table(columns=["a"], data=_rows(6), log_mode="MUTABLE")
    with wandb.init(project="p") as run:
        with pytest.warns(RuntimeWarning):
            run.log({"t": table})
        monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 10)
        run.log({"t": table})  # the same rows, now all of them
        got = run.use_artifact(f"run-{run.id}-t:latest").get("t").data
        run.finish(quiet=True)
    assert got == _rows(6)


def test_an_incremental_increment_keeps_its_first_rows(queue_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """As wandb: the limit applies to each increment, and the rows past it are skipped
    (the next increment starts after them)."""
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 3)
    table = wandb.Table(columns=["a"], log_mode="INCREMENTAL")
    with wandb.init(project="p") as run:
        for row in _rows(2):
            table.add_data(*row)
        run.log({"t": table})
        for row in _rows(5, start=2):
            table.add_data(*row)
        with pytest.warns(RuntimeWarning, match=r"step 1 \(t\): 2 row"):
            run.log({"t": table})
        table.add_data(7)
        run.log({"t": table})
        got = run.use_artifact(f"run-{run.id}-incr-t:latest").get("t").data
        lost = run.not_persisted
        run.finish(quiet=True)
    assert got == [[0], [1], [2], [3], [4], [7]]
    assert len(lost) == 1 and "first 3 were kept" in lost[0]


def test_artifact_add_outside_a_run_still_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Artifact.add keeps its clear error: only run.log, in a training loop, truncates."""
    monkeypatch.setattr(wandb.Table, "MAX_ARTIFACT_ROWS", 3)
    table = wandb.Table(columns=["a"], data=_rows(4))
    with pytest.raises(TableLimitError, match=r"MAX_ARTIFACT_ROWS = 4"):
        wandb.Artifact("a", "dataset").add(table, "t")
