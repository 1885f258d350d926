"""Runs: `tablelog.init()`, `run.log()`, `run.finish()` and the module-level API.

`run.log` does on the training thread only what correctness needs — checks,
a copy of new table rows, a step number — and hands the rest to the
background `Writer`. It never touches the network and never waits on the
agent. `flush()` waits for the local disk only; `finish()` flushes, records
the run's end and returns. How signals, sys.exit and uncaught exceptions end a
run (state and exit code) is in `tablelog.runtime.exits`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import string
import sys
import threading
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.artifacts.artifact import Artifact, PendingTable
from tablelog.errors import IncrementalRunError, RunError, RunIdError
from tablelog.runtime import exits, fork
from tablelog.runtime.log_values import (
    AS_IS_TYPES,
    loggable,
    report_left_out,
    row_limit,
    split_charts,
)
from tablelog.runtime.resume import resolve as resolve_resume
from tablelog.runtime.run_data import Config, Summary, plain_value
from tablelog.runtime.run_surface import RunSurface
from tablelog.runtime.snapshot import log_state, take_snapshot
from tablelog.runtime.writer import (
    ArtifactRequest,
    EntryRequest,
    LogRequest,
    RunIdentity,
    TableLog,
    Writer,
)
from tablelog.runtime.writer_stop import summarize_losses
from tablelog.settings import SdkConfig
from tablelog.store.queue import Queue

INCREMENTAL_TYPE = "wandb-run-incremental-table"
EXIT_FLUSH_TIMEOUT_S = 10.0  # the default of TABLELOG_EXIT_TIMEOUT (SdkConfig.exit_timeout_s)
_ID_ALPHABET = string.ascii_lowercase + string.digits

_active: Run | None = None
_active_lock = threading.RLock()
_side_runs: weakref.WeakSet[Run] = weakref.WeakSet()  # init(reinit="create_new") runs


def _artifact_of(artifact_or_path: Any, name: str | None, type: str | None) -> Artifact:
    """`log_artifact`'s first argument as an Artifact: one given, or one of a path."""
    if isinstance(artifact_or_path, Artifact):
        return artifact_or_path
    if not isinstance(artifact_or_path, str | os.PathLike):
        raise TypeError("log_artifact expects an Artifact or a path, got "
                        f"{artifact_or_path.__class__.__name__}")
    path = Path(artifact_or_path)
    art = Artifact(name or path.name.replace(" ", "_") or "artifact", type or "unspecified")
    if path.is_dir():
        art.add_dir(path)
    else:
        art.add_file(path)
    return art


def _new_run_id() -> str:
    """8 random characters of [a-z0-9], like wandb's run ids. (os.urandom rather than
    `secrets`: that import alone costs init() ~10 ms; the modulo bias is irrelevant
    for an identifier.)"""
    return "".join(_ID_ALPHABET[b % len(_ID_ALPHABET)] for b in os.urandom(8))


class Run(RunSurface):
    """A run: made by `tablelog.init()`; a context manager that finishes on exit.
    define_metric, alert, status and the identity attributes are `RunSurface`'s."""

    def __init__(self, *, config: SdkConfig, project: str, entity: str | None, run_id: str,
                 name: str | None, run_config: Mapping[str, Any] | None, tags: Sequence[str],
                 notes: str | None, job_type: str | None, resume: str | bool | None,
                 group: str | None = None) -> None:
        self.settings = config
        self.mode = config.mode
        self._start_time = _now()
        self.id = run_id
        self.project = project
        self.entity = entity
        self.name = name or run_id
        self.tags = tuple(tags)
        self.notes = notes
        self.job_type = job_type
        self.group = group
        self.resumed = False
        self._finished = False
        self._forked_child = False  # this process forked from the one that made the run
        # run.log, flush and finish hold it around the pending row and the step
        self._lock = threading.RLock()  # re-entered by a signal handler
        self._finish_lock = threading.Lock()
        self._ended = threading.Event()  # set once finish() is done (a signal may wait on it)
        self._signal: int | None = None  # a signal our handler passed on to another handler
        self._preempting = False
        self._step = 0
        self._pending_row: dict[str, Any] = {}
        self._pending_tables: list[TableLog] = []
        self._row_limit_warned: set[str] = set()  # keys warned about Table.MAX_ARTIFACT_ROWS
        self._identity = RunIdentity(entity, project, run_id)
        self._queue: Queue | None = None
        self._writer: Writer | None = None
        state: dict[str, Any] = {}
        resume_base: str | None = None
        if self.mode != "disabled":
            self._queue = Queue(config.dir, max_bytes=config.queue_max_bytes)
            try:  # local state, or the server's (asked here, never in log)
                resumed = resolve_resume(config, self._queue, entity, project, run_id,
                                         self._identity.key, resume)
            except BaseException:
                self._queue.close()
                raise
            state, resume_base, self.resumed = resumed.state, resumed.base, resumed.resumed
            if resumed.warning:
                warnings.warn(resumed.warning, RuntimeWarning, stacklevel=3)
            # a run shared with forked children may have gone past the parent's own count
            self._step = max(int(state.get("step", 0)), self._queue.next_step(self._identity.key))
            from tablelog.runtime.lifetime import AgentKeeper

            keeper = AgentKeeper(config, self._identity.key)
            self._writer = Writer(self._queue, self._identity, state=state,
                                  max_pending_bytes=config.max_pending_bytes,
                                  after_commit=keeper.after_commit)
        saved_config = dict(state.get("config") or {})
        saved_config.update(run_config or {})
        self.config = Config(saved_config, self._config_changed)
        self.summary = Summary(state.get("summary"), self._summary_set)
        if self._writer is not None:
            self._writer.submit(EntryRequest(wire.Kind.RUN, {
                "name": self.name, "config": self.config.as_dict(), "tags": list(self.tags),
                "notes": notes, "job_type": job_type, "group": group,
                "started_at": self._start_time,
                "resumed": self.resumed, "resume_base": resume_base}))
            self._writer.set_state(step=self._step, config=self.config.as_dict(),
                                   name=self.name, segment=state.get("segment"),
                                   started_at=_now(), end=None)  # a resumed run is open again

    # -- context manager ----------------------------------------------------------

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        if isinstance(exc, SystemExit):
            code = exits.code_of(exc.code)
        else:
            code = 0 if exc_type is None else 128 + 2 if interrupted else 1
        timeout = (self.settings.signal_timeout_s if interrupted or self._signal is not None
                   else 60.0)
        self._end(code, timeout=timeout, quiet=None, interrupted=interrupted, stacklevel=3)

    # -- config / summary callbacks ----------------------------------------------

    def _config_changed(self, values: dict[str, Any]) -> None:
        if self._writer is not None and not self._finished:
            self._writer.submit(EntryRequest(wire.Kind.CONFIG, {"config": values}))
            self._writer.set_state(config=values)

    def _summary_set(self, values: dict[str, Any], removed: list[str]) -> None:
        if self._writer is not None and not self._finished:
            self._writer.submit(EntryRequest(wire.Kind.SUMMARY,
                                             {"summary": values, "removed": removed}))

    # -- logging -------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self._step

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None
            ) -> None:
        """Record `data` as (part of) the history row for the current step.

        Tables become versions of artifact ``run-<id>-<key>`` (their first
        ``Table.MAX_ARTIFACT_ROWS`` rows, with a warning past that); media are stored
        as blobs; a pandas DataFrame becomes a Table, a matplotlib figure an Image, a
        plotly figure an Html page (`tablelog.runtime.log_values`). Returns at once:
        the writer thread persists it.
        """
        if self.mode == "disabled":
            return
        with self._lock:  # one thread at a time: each value once, steps unique
            self._log(data, step, commit)

    def _log_chart(self, key: str, chart: Any) -> tuple[str, Any]:
        """A `tablelog.plot` chart logged under `key`: its description goes to the config
        (``_wandb.visualize.<key>``, as wandb), its table is logged as ``key_table``."""
        chart.set_key(key)
        internal = dict(self.config.get("_wandb") or {})
        internal["visualize"] = {**(internal.get("visualize") or {}),
                                 key: chart.spec.config_value}
        self.config["_wandb"] = internal
        return chart.spec.table_key, chart.table

    def _log(self, data: Mapping[str, Any], step: int | None, commit: bool | None) -> None:
        self._check_open()
        if not isinstance(data, Mapping):
            raise TypeError(f"run.log expects a dict of key -> value, got {type(data).__name__}")
        if self._metrics is not None:  # define_metric(step_sync): add the step metric
            data = self._metrics.sync_steps(data)
        if step is not None:
            if not isinstance(step, int) or isinstance(step, bool):
                raise TypeError(f"step must be an int, got {type(step).__name__}")
            if step > wire.MAX_STEP:
                raise ValueError(f"step {step} is past the largest step, 2**63 - 1 "
                                 "(steps are 64-bit integers, as in wandb)")
            if step < self._step:
                warnings.warn(f"tablelog: step {step} is less than the current step "
                              f"{self._step}; this log is ignored (as wandb does)",
                              RuntimeWarning, stacklevel=3)
                return
            if step > self._step:
                self._commit_row()
                self._step = step
            if commit is None:  # as wandb: an explicit step stays open until a later one
                commit = False
        elif self._step > wire.MAX_STEP:
            raise ValueError("the run's step went past the largest step, 2**63 - 1 "
                             "(steps are 64-bit integers, as in wandb)")
        data, charts = split_charts(data)  # wandb.plot: tables under key_table, specs in config
        if charts:
            data = dict(data)
            for key, chart in charts.items():
                table_key, table = self._log_chart(key, chart)
                data[table_key] = table
        converted: dict[str, Any] | None = None  # data, with DataFrames and figures converted
        for key, value in data.items():
            if not isinstance(key, str):
                raise TypeError(f"run.log keys must be strings, got {key!r}")
            if type(value) not in AS_IS_TYPES:  # DataFrame, figures: tablelog.runtime.log_values
                new = loggable(value)
                if new is not value:
                    converted = dict(data) if converted is None else converted
                    converted[key] = value = new
            table_log = self._table_log(key, value)
            if table_log is not None:
                self._pending_tables = [t for t in self._pending_tables if t.key != key]
                self._pending_tables.append(table_log)
                self._pending_row.pop(key, None)
            else:
                self._pending_row[key] = plain_value(value, f"log[{key!r}]")
        values = converted if converted is not None else dict(data)
        if self._metrics is None:
            self.summary._record(values)
        else:  # define_metric(summary=...): aggregates, sent after the row
            self._metrics.record(values, self.summary, self.summary._record)
        if commit is None or commit:
            self._commit_row()

    def _commit_row(self) -> None:
        if not self._pending_row and not self._pending_tables:
            return
        assert self._writer is not None
        self._writer.submit(LogRequest(self._step, self._pending_row, self._pending_tables),
                            {"step": self._step + 1})
        if self._metrics is not None and (self._metrics.pending_summary
                                          or self._metrics.pending_removed):
            values, removed = self._metrics.take_pending()
            self._writer.submit(EntryRequest(wire.Kind.SUMMARY,
                                             {"summary": values, "removed": removed}))
        self._pending_row, self._pending_tables = {}, []
        self._step += 1

    def _table_log(self, key: str, value: Any) -> TableLog | None:
        """A TableLog when `value` is a Table or JoinedTable, else None."""
        # No Table (JoinedTable) can exist before its module was imported: logging never
        # pays for importing them (numpy), nor for an import statement per call.
        table_mod = sys.modules.get("tablelog.data_types.table")
        if table_mod is None:
            return None
        joined_mod = sys.modules.get("tablelog.data_types.joined_table")
        if joined_mod is not None and isinstance(value, joined_mod.JoinedTable):
            art = Artifact(self._table_artifact_name(key), "run_table")
            art.add(value, key)
            return TableLog(key, value, art, kind="joined-table")
        if not isinstance(value, table_mod.Table):
            return None

        mode = value.log_mode
        if mode == "INCREMENTAL":
            return self._incremental_log(key, value)
        nrows = len(value.data)
        end = row_limit(value, nrows)  # None: all rows fit under Table.MAX_ARTIFACT_ROWS
        version = (value._structure_version, nrows, end)
        state = log_state(value)
        if state.logged is not None and (mode == "IMMUTABLE" or state.logged == version):
            return TableLog(key, value, None)  # no change (or IMMUTABLE): same version again
        art = Artifact(self._table_artifact_name(key), "run_table")
        if end is None:
            art.add(value, key)
        else:  # as wandb: keep the first MAX_ARTIFACT_ROWS rows, and say so
            art._pending[key] = PendingTable(take_snapshot(value, end_row=end))
            self._report_left_out(key, value, kept=end, left_out=nrows - end, stacklevel=4)
        state.logged = version
        if mode == "IMMUTABLE":
            value._mutation_hook = _warn_once_on_mutation(value)
        return TableLog(key, value, art)

    def _incremental_log(self, key: str, table: Any) -> TableLog:
        state = log_state(table)
        if state.run_id is not None and state.run_id != self.id:
            raise IncrementalRunError("An incremental Table can only be logged to one Run (one run "
                                      "per table): "
                                      "create a new Table for this run")
        state.run_id = self.id
        done = state.incremental_rows
        if done == len(table.data):  # logged before, nothing new: same version again
            return TableLog(key, table, None, incremental=True)
        # named and typed as wandb names them, so code reading it by wandb's name finds it
        art = Artifact(wire.run_artifact_name(self.id, "incr-" + wire.sanitize_artifact_name(key)),
                       INCREMENTAL_TYPE, _internal=True)
        nrows = len(table.data)
        end = row_limit(table, nrows, start_row=done or 0)
        snapshot = take_snapshot(table, start_row=done or 0, end_row=end)
        art._pending[key] = PendingTable(snapshot)
        state.incremental_rows = snapshot.nrows  # not len(data): another thread may add rows
        if end is not None:  # as wandb: the increment keeps its first rows, skips the rest
            state.incremental_rows = nrows
            self._report_left_out(key, table, kept=end - (done or 0), left_out=nrows - end,
                                  stacklevel=5)
        return TableLog(key, table, art, incremental=True)

    def _report_left_out(self, key: str, table: Any, *, kept: int, left_out: int,
                         stacklevel: int) -> None:
        """A logged table lost rows to Table.MAX_ARTIFACT_ROWS: warn (the caller of
        run.log is `stacklevel` frames up), and list it in `not_persisted`."""
        report_left_out(key, self._step, table, kept=kept, left_out=left_out,
                        not_persisted=None if self._writer is None
                        else self._writer.not_persisted, warned=self._row_limit_warned,
                        stacklevel=stacklevel + 1)

    def _table_artifact_name(self, key: str) -> str:
        return wire.run_artifact_name(self.id, wire.sanitize_artifact_name(key))

    # -- artifacts -------------------------------------------------------------------

    def log_artifact(self, artifact_or_path: Artifact | str | os.PathLike[str],
                     name: str | None = None, type: str | None = None,
                     aliases: Sequence[str] | None = None, tags: Sequence[str] | None = None
                     ) -> Artifact:
        """Store an artifact as a new version (or the same one, if its content is
        unchanged). A path makes an artifact of that file or directory, named `name`
        (default: the path's base name) of type `type` (default ``unspecified``)."""
        from tablelog.artifacts.artifact import check_aliases
        from tablelog.artifacts.lifecycle import attach_run

        artifact = _artifact_of(artifact_or_path, name, type)
        if self.mode == "disabled":
            return artifact
        self._check_open()
        chosen = check_aliases(list(aliases or []))
        if tags is not None:
            artifact.tags = list(tags)
        attach_run(artifact, self)
        artifact.aliases = sorted({"latest", *chosen})  # as wandb: set at once
        assert self._writer is not None
        self._writer.submit(ArtifactRequest(artifact, chosen))
        return artifact

    def use_artifact(self, artifact_or_name: str | Artifact, type: str | None = None
                     ) -> Artifact:
        """An artifact version by `name:alias`, `name:vN`, `project/name:alias` or
        `entity/project/name:alias`, read from what this directory logged."""
        if isinstance(artifact_or_name, Artifact):
            return artifact_or_name
        from tablelog.artifacts.resolve import resolve_artifact

        if self.mode != "disabled":
            self.flush()
        art = resolve_artifact(artifact_or_name, settings=self.settings, queue=self._queue,
                               default_project=self.project, entity=self.entity)
        if type is not None and art.type != type:
            raise ValueError(f"artifact {artifact_or_name!r} is of type {art.type!r}, "
                             f"not {type!r}")
        if art.digest is not None and art.project is not None:  # for used_artifacts()
            self._send_update({"used_artifact": {
                "entity": art.entity, "project": art.project, "name": art.name,
                "digest": art.digest}})
        return art

    # -- durability ----------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything logged so far is durable on local disk (fsync'd)."""
        if self._writer is None or self._finished:
            return
        with self._lock:
            self._commit_row()
        self._writer.flush(timeout)

    @property
    def not_persisted(self) -> list[str]:
        """What could not be written locally (disk full, queue cap), with reasons."""
        return list(self._writer.not_persisted) if self._writer else []

    def finish(self, exit_code: int | None = None, quiet: bool | None = None,
               timeout: float = 60.0) -> None:
        """Commit what was logged, record the run's end (`finished` for exit code 0,
        else `failed`, `killed` or `preempted`) and stop the writer, all within `timeout`
        seconds. What could not be committed in time is named in a warning and in
        `not_persisted`. Never touches the network."""
        self._end(int(exit_code or 0), timeout=timeout, quiet=quiet, stacklevel=3)

    def mark_preempting(self) -> None:
        """Say that this run is about to be preempted (as wandb's): if it then ends with
        a non-zero exit code — a signal, sys.exit(n), an exception — its state is
        `preempted` rather than `failed`, so a scheduler can requeue and resume it."""
        self._preempting = True

    def _end(self, exit_code: int, *, timeout: float, quiet: bool | None,
             interrupted: bool = False, stacklevel: int = 2) -> None:
        global _active
        with self._finish_lock:
            if self._finished:
                return
            if not self._forked_child:
                self._finished = True
        if self._forked_child:  # a forked child never ends the run: it is the parent's
            fork.finish_child(self, timeout, quiet)
            self._ended.set()
            return
        state = exits.end_state(exit_code, signum=self._signal, preempting=self._preempting,
                                interrupted=interrupted)
        if self._writer is not None:
            self._writer.lift_backpressure()  # the bound is `timeout`, not the writer's pace
            with self._lock:  # an RLock: a signal handler on the logging thread gets it too
                self._commit_row()
            self._save_files_at_end()  # run.save(policy="live"/"end")
            self._writer.submit(EntryRequest(wire.Kind.RUN_END, {
                "exit_code": exit_code, "ended_at": _now(), "state": state}))
            if self._queue is not None:
                from tablelog.runtime.lifetime import warn_if_key_refused

                warn_if_key_refused(self._queue, self.settings)
            self._writer.close(timeout)  # closes the queue too, once the writer has stopped
        with _active_lock:
            if _active is self:
                _active = None
        self._ended.set()
        lost = self.not_persisted
        if lost and not quiet:
            warnings.warn(f"tablelog: {len(lost)} logged item(s) were not persisted: "
                          f"{summarize_losses(lost)} (run.not_persisted lists them)",
                          RuntimeWarning, stacklevel=stacklevel)

    def _end_by_signal(self, signum: int, timeout: float) -> None:
        """A signal is about to end the process: record the end (bounded)."""
        self._signal = signum
        if self._finished:  # finishing already (the exit hook, finish()): let it end
            self._ended.wait(timeout)
            return
        self._end(128 + signum, timeout=timeout, quiet=False)

    def _commit_by_signal(self, timeout: float) -> None:
        """A signal goes on to another handler: commit what the writer has (bounded)."""
        if self._writer is not None and not self._finished:
            self._writer.flush(timeout)

    def _check_open(self) -> None:
        if self._finished:
            raise RunError(f"run {self.id} has finished; call tablelog.init() to start another")

    def __repr__(self) -> str:
        return f"<Run {self.project}/{self.id} ({self.mode})>"


def _warn_once_on_mutation(table: Any) -> Callable[[str], None]:
    """A mutation hook for a logged IMMUTABLE table: warns on the first change only."""
    def hook(op: str) -> None:
        table._mutation_hook = None
        warnings.warn(
            f"You are mutating a Table with log_mode='IMMUTABLE' ({op}) that has been logged "
            "already. Subsequent log() calls will have no effect. Set log_mode='MUTABLE' to "
            "log every change.", UserWarning, stacklevel=3)
    return hook


def _now() -> float:
    import time

    return time.time()


def init(project: str | None = None, entity: str | None = None, name: str | None = None,
         id: str | None = None, resume: str | bool | None = None,
         config: Mapping[str, Any] | Any | None = None, tags: Sequence[str] | None = None,
         notes: str | None = None, job_type: str | None = None, mode: str | None = None,
         dir: str | os.PathLike[str] | None = None, reinit: bool | str | None = None, *,
         group: str | None = None, config_exclude_keys: Sequence[str] | None = None,
         config_include_keys: Sequence[str] | None = None,
         allow_val_change: bool | None = None, force: bool | None = None,
         resume_from: str | None = None, fork_from: str | None = None,
         save_code: bool | None = None, tensorboard: bool | None = None,
         sync_tensorboard: bool | None = None, monitor_gym: bool | None = None,
         settings: Any = None, anonymous: Any = None) -> Run:
    """Start a run. Takes every keyword of wandb 0.31's ``wandb.init`` (a misspelt one is a
    TypeError, as there); those tablelog does nothing with are named in one log line
    (tablelog.runtime.init_args). While a run is active, `reinit` says what happens, as in
    wandb 0.31: by default the active run is returned."""
    global _active
    from tablelog.runtime import init_args

    init_args.ignored({"allow_val_change": allow_val_change, "force": force,
                       "resume_from": resume_from, "fork_from": fork_from,
                       "save_code": save_code, "tensorboard": tensorboard,
                       "sync_tensorboard": sync_tensorboard, "monitor_gym": monitor_gym,
                       "anonymous": anonymous})
    given = {"project": project, "entity": entity, "name": name, "id": id, "resume": resume,
             "tags": tags, "notes": notes, "job_type": job_type, "mode": mode, "dir": dir,
             "reinit": reinit, "group": group}
    # argument > wandb.Settings > TABLELOG_* > WANDB_* (the last two in SdkConfig and here)
    chosen = {**init_args.run_defaults(os.environ),
              **init_args.settings_arguments(settings),
              **{k: v for k, v in given.items() if v is not None}}
    sdk_settings = SdkConfig.from_env()
    overrides: dict[str, Any] = {}
    if chosen.get("mode") is not None:
        from tablelog.settings import parse_mode

        overrides["mode"] = parse_mode(str(chosen["mode"]), "mode")
    if chosen.get("dir") is not None:
        overrides["dir"] = Path(chosen["dir"])
    if overrides:
        from dataclasses import replace

        sdk_settings = replace(sdk_settings, **overrides)
    project = chosen.get("project") or sdk_settings.project
    entity = chosen.get("entity") or sdk_settings.entity
    id = chosen.get("id")
    for label, value in (("project", project), ("entity", entity)):
        if value is not None and not wire.is_valid_name(value):
            raise ValueError(f"invalid {label} {value!r}: use 1-128 letters, digits, '_', '-', '.'")
    if id is not None and wire.run_id_problem(id) is not None:
        raise RunIdError(f"Invalid run id {id!r}: {wire.run_id_problem(id)}")
    run_config = init_args.run_config(config, config_include_keys, config_exclude_keys)
    init_args.check_reinit(chosen.get("reinit"))
    with _active_lock:
        rule = None
        if _active is not None and not _active._finished:
            rule = init_args.reinit_rule(chosen.get("reinit"), chosen.get("resume"))
            if rule.action == "return":
                init_args.log.info("tablelog: init() called while run %s is active: "
                                   "returning it (pass reinit='create_new' or "
                                   "'finish_previous' for a new run)", _active.id)
                return _active
            if rule.action == "finish":
                _active.finish()
        elif chosen.get("reinit") == "create_new":
            rule = init_args.reinit_rule("create_new", None)
        run = Run(config=sdk_settings, project=project, entity=entity,
                  run_id=id or _new_run_id(), name=chosen.get("name"), run_config=run_config,
                  tags=chosen.get("tags") or (), notes=chosen.get("notes"),
                  job_type=chosen.get("job_type"), resume=chosen.get("resume"),
                  group=chosen.get("group"))
        if rule is not None and rule.action == "new":
            _side_runs.add(run)  # beside the module-level run, as wandb's create_new
        else:
            _active = run
    if sdk_settings.mode != "disabled":
        exits.install(lambda: _active)
    if sdk_settings.mode == "online" and sdk_settings.agent_autostart:
        from tablelog.runtime.spawn import ensure_agent

        ensure_agent(sdk_settings)
    if run._queue is not None:
        from tablelog.runtime.lifetime import warn_if_key_refused

        warn_if_key_refused(run._queue, sdk_settings)  # what the last agent said about this key
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """`run.log` on the active run."""
    _require_run().log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the active run, if any."""
    run = _active
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def mark_preempting() -> None:
    """`run.mark_preempting()` on the active run, if any."""
    run = _active
    if run is not None:
        run.mark_preempting()


def _require_run() -> Run:
    if _active is None:
        raise RunError("no active run: call tablelog.init() first")
    return _active


def current_attribute(name: str) -> Any:
    """`tablelog.run` / `.config` / `.summary` of the active run (None / empty when none)."""
    run = _active
    if name == "run":
        return run
    if run is None:
        return Config() if name == "config" else Summary()
    return getattr(run, name)


fork.install()


@atexit.register
def _finish_at_exit() -> None:
    """Process exit without finish(): commit within TABLELOG_EXIT_TIMEOUT (the signal
    bound after a signal or KeyboardInterrupt), never hang; record the end with the
    exit code (sys.exit(n), an uncaught exception); warn about what was not committed."""
    for side in list(_side_runs):  # init(reinit="create_new") runs: the same bound each
        if not side._finished:
            code, interrupted = exits.exit_outcome()
            with contextlib.suppress(Exception):
                side._end(code, timeout=side.settings.exit_timeout_s, quiet=False,
                          interrupted=interrupted)
    run = _active
    if run is not None and not run._finished:
        code, interrupted = exits.exit_outcome()
        timeout = (run.settings.signal_timeout_s if interrupted or run._signal is not None
                   else run.settings.exit_timeout_s)
        with contextlib.suppress(Exception):  # exiting anyway: never raise from here
            run._end(code, timeout=timeout, quiet=False, interrupted=interrupted)
        if interrupted:
            exits.keep_sigint_exit()
