"""`run.define_metric` / `tablelog.define_metric`: wandb 0.31's checks and the
summary it keeps (checked against wandb 0.31 offline: summary="min" keeps
``summary["loss"] == {"min": ...}``), and the definitions queued for the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.store.queue import Queue


def queued(queue_dir: Path) -> list[wire.Entry]:
    with Queue(queue_dir) as q:
        return [wire.decode_entry(e.payload) for e in q.claim_batch(max_entries=100_000,
                                                                      max_bytes=1 << 40)]


def last_summary(queue_dir: Path) -> dict[str, Any]:
    summaries = [e.body for e in queued(queue_dir) if e.kind == wire.Kind.SUMMARY]
    merged: dict[str, Any] = {}
    for body in summaries:  # the writer's entries carry the whole summary
        merged = dict(body["summary"])
    return merged


def test_summary_ops_keep_what_wandb_keeps(queue_dir: Path) -> None:
    # The same program gives, with wandb 0.31 offline: {'loss': {'min': 1},
    # 'acc': {'max': 5, 'mean': 3}, 'val/x': {'last': 2}, 'f': {'first': 3}, 'epoch': 2}
    with wandb.init(project="p") as run:
        run.define_metric("loss", summary="min")
        run.define_metric("acc", summary="max,mean")
        run.define_metric("val/*", step_metric="epoch", summary="last")
        run.define_metric("f", summary="FIRST")
        run.define_metric("n", summary="none")
        for i, (loss, acc) in enumerate([(3, 1), (1, 5), (2, 3)]):
            run.log({"loss": loss, "acc": acc, "val/x": i, "epoch": i, "f": loss, "n": 1})
        local = dict(run.summary)
    expected = {"loss": {"min": 1}, "acc": {"max": 5, "mean": 3.0}, "val/x": {"last": 2},
                "f": {"first": 3}, "epoch": 2}
    assert local == expected
    assert last_summary(queue_dir) == expected  # what the server gets


def test_step_sync_adds_the_step_metric_to_rows_that_lack_it(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.define_metric("val/*", step_metric="epoch")
        run.log({"epoch": 1})
        run.log({"val/acc": 0.5})
        run.define_metric("raw", step_metric="epoch", step_sync=False)
        run.log({"raw": 2})
    rows = [e.body["row"] for e in queued(queue_dir) if e.kind == wire.Kind.HISTORY]
    assert rows == [{"epoch": 1}, {"val/acc": 0.5, "epoch": 1}, {"raw": 2}]


def test_definitions_are_queued_for_the_server_and_merge_unless_overwrite(
        queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        metric = wandb.define_metric("loss", summary="min", hidden=True)
        assert (metric.name, metric.summary, metric.hidden) == ("loss", ("min",), True)
        run.define_metric("loss", step_metric="epoch")  # merged: summary and hidden stay
        run.define_metric("acc", summary="max")
        run.define_metric("acc", step_metric="epoch", overwrite=True)  # replaced
    updates = [e.body["metrics"] for e in queued(queue_dir)
               if e.kind == wire.Kind.RUN_UPDATE and "metrics" in e.body]
    assert updates[-1] == {
        "loss": {"step_metric": "epoch", "step_sync": None, "hidden": True, "summary": ["min"]},
        "acc": {"step_metric": "epoch", "step_sync": None, "hidden": None, "summary": []}}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": ""}, "requires non-empty name argument"),
    ({"name": "a*b*"}, r"name \(glob suffixes only\): a\*b\*"),
    ({"name": "x", "summary": "median"}, "summary op: median"),
    ({"name": "x", "hidden": "yes"}, "hidden type: str"),
    ({"name": "x", "step_metric": 3}, "step_metric type: int"),
    ({"name": "x", "overwrite": 1}, "overwrite type: int"),
])
def test_bad_arguments_raise_wandbs_errors(queue_dir: Path, kwargs: dict[str, Any],
                                           message: str) -> None:
    with wandb.init(project="p") as run, pytest.raises(wandb.Error, match=message):
        run.define_metric(**kwargs)


def test_goal_is_refused_as_wandb_031_refuses_it(queue_dir: Path) -> None:
    # wandb 0.31 dropped goal= (and summary="best"): TypeError, as there
    with wandb.init(project="p") as run:
        with pytest.raises(TypeError):
            run.define_metric("loss", goal="minimize")
        with pytest.raises(wandb.Error, match="summary op: best"):
            run.define_metric("loss", summary="best")


def test_copy_is_deprecated_and_keeps_the_last_value(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        with pytest.warns(DeprecationWarning, match="copy"):
            run.define_metric("b", summary="copy")
        run.log({"b": 1})
        run.log({"b": 3})
        assert run.summary["b"] == 3


def test_numpy_scalars_are_aggregated_as_numbers(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.define_metric("loss", summary="min,mean")
        run.log({"loss": np.float32(0.5)})
        run.log({"loss": np.array(1.5)})
        assert run.summary["loss"] == {"min": 0.5, "mean": 1.0}


def test_non_numbers_keep_first_and_last_only(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.define_metric("label", summary="min,last")
        run.log({"label": "a"})
        run.log({"label": "b"})
        assert run.summary["label"] == {"last": "b"}


def test_module_level_define_metric_needs_a_run() -> None:
    assert wandb.run is None
    with pytest.raises(wandb.Error, match=r"init\(\) before tablelog.define_metric"):
        wandb.define_metric("loss", summary="min")


def test_a_resumed_run_carries_min_and_max_on(queue_dir: Path) -> None:
    with wandb.init(project="p", id="metric01") as run:
        run.define_metric("loss", summary="min,max")
        run.log({"loss": 2.0})
        run.log({"loss": 1.0})
    with wandb.init(project="p", id="metric01", resume="allow") as run:
        run.define_metric("loss", summary="min,max")  # wandb asks for it again too
        run.log({"loss": 1.5})
        assert run.summary["loss"] == {"min": 1.0, "max": 2.0}
