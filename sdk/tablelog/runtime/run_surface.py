"""The rest of wandb's `Run` surface: define_metric, alerts, status, identity
attributes (dir, path, url, ...), settable name/notes/tags, and the calls
tablelog accepts without doing what wandb does (log_code, watch, link_artifact).

`RunSurface` is a base class of `tablelog.runtime.runs.Run`; it reaches the
run's writer only through `_send_update`, which queues a ``run_update``
entry (see `tablelog.wire`). Nothing here touches the network.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablelog import wire

if TYPE_CHECKING:
    from tablelog.artifacts.artifact import Artifact
    from tablelog.runtime.metrics import Metric, MetricRules
    from tablelog.runtime.writer import Writer
    from tablelog.settings import SdkConfig
    from tablelog.store.queue import Queue

ALERT_LEVELS = ("INFO", "WARN", "ERROR")
"""wandb's `AlertLevel` values."""
ALERT_TITLE_MAX = 64


@dataclass(frozen=True)
class RunStatus:
    """`run.status()`: how much of this run the local queue still holds (wandb's
    `RunStatus`). Both counts are the run's entries not yet delivered; `sync_time`
    stays None (the SDK does not learn when the agent delivered them)."""

    sync_items_total: int = 0
    sync_items_pending: int = 0
    sync_time: _dt.datetime | None = None


class RunSurface:
    """wandb `Run` attributes and methods beyond logging (mixed into `Run`)."""

    # set by Run.__init__
    id: str
    project: str
    entity: str | None
    mode: str
    settings: SdkConfig
    _writer: Writer | None
    _queue: Queue | None
    _finished: bool
    _lock: threading.RLock
    _signal: int | None
    _start_time: float
    _metrics: MetricRules | None = None
    group: str | None = None  # wandb's init(group=...); set by init when it takes one
    _name: str = ""
    _notes: str | None = None
    _tags: tuple[str, ...] = ()
    # copy in run.dir -> its source, for files saved "live" or "end" (replaced, never
    # mutated: the class's empty dict is shared)
    _files_at_end: dict[Path, Path] = {}  # noqa: RUF012

    def _check_open(self) -> None:  # Run's own
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> None:  # Run's own
        raise NotImplementedError

    def log_artifact(self, artifact_or_path: Artifact | str | os.PathLike[str],
                     name: str | None = None, type: str | None = None,
                     aliases: Sequence[str] | None = None, tags: Sequence[str] | None = None
                     ) -> Artifact:  # Run's own
        raise NotImplementedError

    def _send_update(self, body: dict[str, Any]) -> None:
        """Queue a ``run_update`` entry (nothing when disabled or finished)."""
        writer = getattr(self, "_writer", None)  # None while Run.__init__ sets the name
        if writer is not None and not getattr(self, "_finished", True):
            from tablelog.runtime.writer import EntryRequest

            writer.submit(EntryRequest(wire.Kind.RUN_UPDATE, body))

    # -- name, notes, tags: settable, the change uploaded ------------------------------

    @property
    def name(self) -> str:
        """The run's display name (the id unless init got one); settable."""
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = str(value)
        self._send_update({"name": self._name})

    @property
    def notes(self) -> str | None:
        """The run's notes; settable."""
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._notes = None if value is None else str(value)
        self._send_update({"notes": self._notes or ""})

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's tags; settable (any sequence of strings)."""
        return self._tags

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        if isinstance(value, str) or not all(isinstance(t, str) for t in value):
            raise TypeError("tags must be a sequence of strings")
        self._tags = tuple(value)
        self._send_update({"tags": list(self._tags)})

    # -- identity ----------------------------------------------------------------------

    @property
    def path(self) -> str:
        """``entity/project/run_id`` (``project/run_id`` while the entity is the key's)."""
        return "/".join(p for p in (self.entity, self.project, self.id) if p)

    @property
    def url(self) -> str | None:
        """The run's page in the viewer (None when offline or disabled, as wandb)."""
        if self.mode != "online":
            return None
        entity = self.entity or "-"
        return f"{self.settings.base_url.rstrip('/')}/p/{entity}/{self.project}/runs/{self.id}"

    @property
    def dir(self) -> str:
        """A local directory for this run's files (made on first use, mode 0700)."""
        path = Path(self.settings.dir) / "run-files" / self.id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return os.fspath(path)

    @property
    def start_time(self) -> float:
        """When the run started (seconds since the epoch)."""
        return self._start_time

    @property
    def offline(self) -> bool:
        return self.mode == "offline"

    @property
    def disabled(self) -> bool:
        return self.mode == "disabled"

    def status(self) -> RunStatus:
        """What of this run the local queue has not yet delivered (wandb's sync status)."""
        if self._queue is None or self._finished:
            return RunStatus()
        from tablelog.runtime.writer import RunIdentity

        key = RunIdentity(self.entity, self.project, self.id).key
        pending = self._queue.pending_for_run(key)
        return RunStatus(sync_items_total=pending, sync_items_pending=pending)

    # -- metrics -----------------------------------------------------------------------

    def define_metric(self, name: str, step_metric: str | Metric | None = None,
                      step_sync: bool | None = None, hidden: bool | None = None,
                      summary: str | None = None, overwrite: bool | None = None) -> Metric:
        """Customize a logged metric (wandb 0.31's define_metric): its chart's x-axis
        (`step_metric`), whether it is charted (`hidden`), and what `run.summary`
        keeps of it (`summary`: "min", "max", "mean", "last", "first", "none",
        comma-combined). `name` may end in ``*`` to define every metric with that
        prefix. The definitions travel to the server with the run."""
        # here, not at import: most runs never define a metric
        from tablelog.runtime.metrics import Metric, MetricRules, check_definition

        self._check_open()
        if isinstance(step_metric, Metric):
            step_metric = step_metric.name
        ops = check_definition(name, step_metric, step_sync, hidden, summary, overwrite)
        with self._lock:  # run.log reads the rules under it
            if self._metrics is None:
                self._metrics = MetricRules()
            self._metrics.define(name, step_metric, step_sync, hidden, ops, overwrite)
            self._send_update({"metrics": self._metrics.to_plain()})
        return Metric(name, step_metric, step_sync, hidden, ops, overwrite)

    # -- alerts ------------------------------------------------------------------------

    def alert(self, title: str, text: str, level: str | Any | None = None,
              wait_duration: int | float | _dt.timedelta | None = None) -> None:
        """Record an alert on the run (shown on its page in the viewer). wandb's
        checks: `level` INFO (default), WARN or ERROR; `wait_duration` (seconds or a
        timedelta, default one minute) is stored; the server sends no notification."""
        level = level or "INFO"
        level_str = getattr(level, "value", level)
        if level_str not in ALERT_LEVELS:
            raise ValueError("level must be one of 'INFO', 'WARN', or 'ERROR'")
        wait = wait_duration or _dt.timedelta(minutes=1)
        if isinstance(wait, int | float):
            wait = _dt.timedelta(seconds=wait)
        elif not callable(getattr(wait, "total_seconds", None)):
            raise TypeError("wait_duration must be an int, float, or datetime.timedelta")
        if self.mode == "disabled":
            return
        self._check_open()
        import time

        self._send_update({"alert": {
            "title": str(title), "text": str(text), "level": level_str,
            "wait_duration_ms": int(wait.total_seconds() * 1000), "at": time.time()}})

    # -- files -----------------------------------------------------------------------

    def save(self, glob_str: str | os.PathLike[str] | None = None,
             base_path: str | os.PathLike[str] | None = None, policy: str = "live",
             glob: bool = True) -> bool | list[str]:
        """Save the files `glob_str` matches into the run (see `tablelog.runtime.
        run_files`: they become a version of artifact ``run-<id>-files``); returns
        their paths in `run.dir`, as wandb does."""
        if glob_str is None:  # wandb's legacy no-argument call
            return True
        if self.mode == "disabled":
            return []
        from tablelog.runtime import run_files

        self._check_open()
        copies = run_files.collect(glob_str, base_path, policy, Path(self.dir),
                                   expand_glob=glob)
        if copies:
            if policy != "now":  # taken again when the run ends
                self._files_at_end = {**self._files_at_end,
                                      **{copy: source for source, copy in copies}}
            self.log_artifact(self._files_artifact())
            # The writer reads the copies' bytes later: have it done before a later save
            # (or the run's end) copies over them. Waits for the local disk only.
            self.flush()
        return [os.fspath(copy) for _, copy in copies]

    def _files_artifact(self) -> Artifact:
        """Every file saved into `run.dir` so far, as the next version of the files
        artifact."""
        from tablelog.artifacts.artifact import Artifact
        from tablelog.runtime import run_files

        files_root = Path(self.dir)
        artifact = Artifact(run_files.files_artifact_name(self.id), run_files.FILES_ARTIFACT_TYPE)
        for path in sorted(p for p in files_root.rglob("*") if p.is_file()):
            artifact.add_file(path, path.relative_to(files_root).as_posix(), policy="immutable")
        return artifact

    def _save_files_at_end(self) -> None:
        """At the run's end (called by `Run._end` before the run_end entry): when a
        "live" or "end" file changed since it was saved, copy it again and log the
        files artifact once more."""
        if not self._files_at_end or self._writer is None or self._signal is not None:
            return  # (a signal's bound is for what was logged, not for copying files)
        from tablelog.runtime import run_files
        from tablelog.runtime.writer import ArtifactRequest

        try:
            changed = [(source, target) for target, source in self._files_at_end.items()
                       if source.is_file() and not run_files.same_content(source, target)]
            if not changed:
                return
            for source, target in changed:
                run_files.copy_file(source, target)
            artifact = self._files_artifact()
        except OSError as exc:  # the run still ends: say what was not saved again
            warnings.warn(f"tablelog: could not save the run's files again at its end: {exc}",
                          RuntimeWarning, stacklevel=3)
            return
        self._writer.submit(ArtifactRequest(artifact, []))

    # -- accepted, not (fully) done ----------------------------------------------------

    def log_code(self, root: str | None = ".", name: str | None = None,
                 include_fn: Any = None, exclude_fn: Any = None) -> None:
        """Accepted and ignored: tablelog does not save source code (returns None, as
        wandb does when it finds no code to save)."""
        return None

    def link_artifact(self, artifact: Artifact, target_path: str,
                      aliases: Sequence[str] | None = None) -> Artifact:
        """wandb links the artifact into a registry collection; tablelog has no
        registry: the artifact is logged (if it was not) with `aliases` plus the
        collection's name as an alias, so ``name:<collection>`` finds it."""
        collection = target_path.rstrip("/").rsplit("/", 1)[-1].split(":")[0]
        extra = [a for a in (*(aliases or ()), collection) if a and wire.is_valid_name(a)]
        return self.log_artifact(artifact, aliases=extra)

    def watch(self, models: Any, criterion: Any = None, log: str | None = "gradients",
              log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> None:
        """Log histograms of a PyTorch model's gradients and/or parameters every
        `log_freq` steps (`tablelog.runtime.watch`); needs torch, as wandb's.
        `criterion` and `log_graph` are accepted and ignored (no graph view)."""
        from tablelog.runtime.watch import watch

        if log_graph:
            logging.getLogger("tablelog").info("tablelog: watch(log_graph=True) is accepted "
                                               "and ignored")
        watches: list[Any] = getattr(self, "_watches", None) or []
        watches.extend(watch(self, models, log=log, log_freq=log_freq, idx=idx))
        self._watches = watches

    def unwatch(self, models: Any = None) -> None:
        """Remove the hooks of `models` (a model or a list), or of every watched model."""
        watches: list[Any] = getattr(self, "_watches", None) or []
        listed = None if models is None else (
            list(models) if isinstance(models, list | tuple) else [models])
        kept = []
        for w in watches:
            if listed is None or any(w.model is m for m in listed):
                w.remove()
            else:
                kept.append(w)
        self._watches = kept
