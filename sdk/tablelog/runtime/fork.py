"""A run inherited by a forked child (`os.fork`, `multiprocessing` fork pools,
PyTorch DataLoader workers).

A child inherits the run object but not its writer thread, and the parent's SQLite
connection must never be used (or even closed) in it. So, in the child
(`os.register_at_fork`), the run gets a fresh `ChildWriter`: it opens its own
`Queue` and starts its thread on first use only (a worker that never logs pays
nothing), and its rows go to the same run with steps allocated in ``queue.db``
(`tablelog.runtime.shared_run`). The parent's writer shares from the fork on.

Guarantees in the child:
- `run.log` (and config/summary changes) return once the entry is durable in
  queue.db (a synchronous commit, waiting for the local disk only, at most
  CHILD_COMMIT_TIMEOUT_S): `multiprocessing` workers end with `os._exit` (no atexit)
  and `Pool.__exit__` terminates them with SIGTERM, so nothing may wait for exit.
- `flush()` and `finish()` return within their timeout; `finish()` (also called by
  the exit hook) stops the child's writer but never records the run's end, which is
  the parent's.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
from typing import TYPE_CHECKING, Any

from tablelog.runtime.writer import FlushRequest, Request, RunIdentity, Writer
from tablelog.store.queue import Queue

if TYPE_CHECKING:
    from tablelog.runtime.runs import Run

CHILD_COMMIT_TIMEOUT_S = 10.0  # longest a child's log waits for its commit

# Objects inherited from the parent that hold its SQLite connection: kept alive for the
# child's whole life, so that garbage collection never closes that connection here
# (SQLite: a connection must not cross fork(); closing it may checkpoint the parent's WAL).
_INHERITED: list[Any] = []


class ChildWriter(Writer):
    """A forked child's writer: opened lazily, commits each request before returning,
    allocates steps in queue.db and never saves the run state (the parent's)."""

    def __init__(self, run: Run, summary: dict[str, Any]) -> None:
        # no Writer.__init__ (thread, queue) until first use
        self._owner = run
        self._directory = run.settings.dir
        self._max_bytes = run.settings.queue_max_bytes
        self._identity: RunIdentity = run._identity
        self._initial_summary = summary  # as the parent's writer had it (values resolved)
        self._open_lock = threading.Lock()
        self._opened = False
        self.not_persisted = []
        self.summary = summary

    def _open(self) -> None:
        with self._open_lock:
            if self._opened:
                return
            lost = self.not_persisted
            queue = Queue(self._directory, max_bytes=self._max_bytes)
            Writer.__init__(self, queue, self._identity,
                            state={"summary": self._initial_summary}, shared=True,
                            save_state=False)
            self.not_persisted = lost
            self._owner._queue = queue  # use_artifact reads this process's own queue
            self._opened = True

    def submit(self, req: Request, state: dict[str, Any] | None = None) -> None:
        """Hand `req` to the writer and, unless it is a flush, wait for its commit. A
        child saves no run state: `state` is dropped."""
        self._open()
        super().submit(req)
        if not isinstance(req, FlushRequest) and not super().flush(CHILD_COMMIT_TIMEOUT_S):
            self._warn_once("child-slow", "tablelog: a forked child's log was not committed "
                                          f"within {CHILD_COMMIT_TIMEOUT_S:.0f}s; it stays "
                                          "queued in this process")

    def set_state(self, **values: Any) -> None:
        """A child saves no run state: nothing to do before the writer opened."""
        if self._opened:
            super().set_state(**values)

    def flush(self, timeout: float | None = None) -> bool:
        return super().flush(timeout) if self._opened else True

    def close(self, timeout: float = 30.0) -> bool:
        return super().close(timeout) if self._opened else True


def after_fork_in_child(run: Run) -> None:
    """In a forked child (at-fork hook, so: cheap and no I/O): give the inherited run a
    writer of its own, forget the parent's pending row, replace locks that a thread
    of the parent may have held at the fork."""
    run._lock = threading.RLock()
    run._finish_lock = threading.Lock()
    run.config._after_fork()
    run.summary._after_fork()
    run._pending_row, run._pending_tables = {}, []  # the parent's: it commits them
    if run._writer is None or run._finished:
        return
    if not _INHERITED:
        atexit.register(_keep_inherited_open)
    _INHERITED.append((run._writer, run._queue))
    summary = dict(run._writer.summary)
    run._queue = None
    run._writer = ChildWriter(run, summary)
    run._forked_child = True


def _keep_inherited_open() -> None:
    """At the child's normal exit, before modules are torn down: leak one reference to
    each inherited queue, so that interpreter shutdown never closes the parent's
    connection from this process (the OS closes the file when the process ends)."""
    import ctypes

    for _, queue in _INHERITED:
        if queue is not None:
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(queue))


def finish_child(run: Run, timeout: float, quiet: bool | None) -> None:
    """`finish()` in a forked child: commit what it logged and stop its writer; the
    run goes on in the parent (no run end is written)."""
    from tablelog.runtime import runs

    if run._writer is not None:
        with run._lock:
            run._commit_row()
        run._writer.close(timeout)
    run._finished = True
    if run._queue is not None:
        run._queue.close()
    with runs._active_lock:
        if runs._active is run:
            runs._active = None
    lost = run.not_persisted
    if lost and not quiet:
        warnings.warn(f"tablelog: {len(lost)} item(s) logged in this forked child were not "
                      "persisted: " + "; ".join(lost[:5]), RuntimeWarning, stacklevel=3)


def _after_in_parent() -> None:
    from tablelog.runtime import runs

    run = runs._active
    if run is not None and run._writer is not None and not run._finished:
        run._writer.share()


def _after_in_child() -> None:
    from tablelog.runtime import runs, snapshot

    # module locks another thread of the parent may have held at the fork
    runs._active_lock = threading.RLock()
    snapshot._STATES_LOCK = threading.Lock()
    table: Any = sys.modules.get("tablelog.data_types.table")  # imported lazily (numpy)
    if table is not None:
        table._ROWS_LOCK = threading.Lock()
    run = runs._active
    if run is not None:
        after_fork_in_child(run)


def install() -> None:
    """Register the at-fork hooks (once, at import of tablelog.runtime.runs)."""
    os.register_at_fork(after_in_parent=_after_in_parent, after_in_child=_after_in_child)
