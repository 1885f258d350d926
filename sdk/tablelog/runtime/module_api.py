"""Module-level functions that act on the active run (``wandb.define_metric``,
``wandb.alert``, ...), as wandb's: before `tablelog.init()` they raise
``tablelog.Error("You must call wandb.init() before ...")``-style errors.

(`tablelog.log`, `finish` and `mark_preempting` live in `tablelog.runtime.runs`.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tablelog.errors import RunError
from tablelog.runtime import runs
from tablelog.runtime.metrics import Metric


def _active(call: str) -> runs.Run:
    run = runs._active
    if run is None:
        raise RunError(f"You must call tablelog.init() before tablelog.{call}()")
    return run


def define_metric(name: str, step_metric: str | Metric | None = None,
                  step_sync: bool | None = None, hidden: bool | None = None,
                  summary: str | None = None, overwrite: bool | None = None) -> Metric:
    """`run.define_metric` on the active run."""
    return _active("define_metric").define_metric(
        name, step_metric=step_metric, step_sync=step_sync, hidden=hidden, summary=summary,
        overwrite=overwrite)


def log_artifact(artifact_or_path: Any, name: str | None = None, type: str | None = None,
                 aliases: Sequence[str] | None = None, tags: Sequence[str] | None = None
                 ) -> Any:
    """`run.log_artifact` on the active run."""
    return _active("log_artifact").log_artifact(artifact_or_path, name=name, type=type,
                                                aliases=aliases, tags=tags)


def use_artifact(artifact_or_name: Any, type: str | None = None) -> Any:
    """`run.use_artifact` on the active run."""
    return _active("use_artifact").use_artifact(artifact_or_name, type=type)


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """`run.alert` on the active run."""
    _active("alert").alert(title, text, level=level, wait_duration=wait_duration)


def watch(models: Any, criterion: Any = None, log: str | None = "gradients",
          log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> None:
    """`run.watch` on the active run."""
    _active("watch").watch(models, criterion=criterion, log=log, log_freq=log_freq, idx=idx,
                           log_graph=log_graph)


def unwatch(models: Any = None) -> None:
    """`run.unwatch` on the active run."""
    _active("unwatch").unwatch(models)


def save(glob_str: str | None = None, base_path: str | None = None, policy: str = "live",
         glob: bool = True) -> Any:
    """`run.save` on the active run."""
    return _active("save").save(glob_str, base_path=base_path, policy=policy, glob=glob)
