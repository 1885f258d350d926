"""Stopping the background writer within a bound, and reporting its bugs.

`Writer.close(timeout)` (finish(), the exit hook, a signal) never takes longer than
`timeout` and never loses silently:

1. it asks for a flush and waits for it until `timeout - grace`;
2. if the writer is still behind, it asks it to stop at the next request boundary:
   the writer commits what its current commit had taken (commits are bounded by
   GROUP_MAX_BYTES, so that is little), then the run's end on its own, ahead of
   everything else, and names every other request in `not_persisted`;
3. if the writer has not stopped when `timeout` is up (one huge request, a slow
   disk), close() gives up: it names everything not committed itself, commits the
   run's end directly, and the writer commits nothing more. The writer thread (a
   daemon) closes the queue when it stops; close() does if it has stopped already.

An exception that is not a `TablelogError` while writing is a bug: `report_bug` logs
its traceback (logger ``tablelog``, once per distinct error per process), besides
the warning and `not_persisted` entry every loss gets.
"""

from __future__ import annotations

import collections
import logging
import re
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from tablelog import wire

if TYPE_CHECKING:
    from tablelog.runtime.writer import Request
    from tablelog.store.queue import NewEntry, Queue

log = logging.getLogger("tablelog")

CLOSE_GRACE_S = 1.0  # at most this much of close()'s bound is kept for stopping the writer

_reported: set[tuple[str, str, int]] = set()
_reported_lock = threading.Lock()


def report_bug(exc: BaseException) -> None:
    """Log `exc` with its traceback, once per (type, file, line) per process."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = (frames[-1].filename, frames[-1].lineno or 0) if frames else ("", 0)
    key = (type(exc).__qualname__, *where)
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    log.error("tablelog: internal error in the background writer (a bug; please report "
              "it). What it was writing is listed in run.not_persisted; training goes on.",
              exc_info=exc)


_LOG_STEP = re.compile(r"log step (\d+) \((.*?)\) \((.*)\)")


def summarize_losses(lost: list[str], limit: int = 20) -> str:
    """`not_persisted` for a warning: consecutive log steps lost for the same reason
    become one range ("log steps 3-59 (reason)"), so that every step is named even when
    thousands were; other items are listed as they are, up to `limit`."""
    parts: list[str] = []
    others: list[str] = []
    run: tuple[int, int, str] | None = None  # first step, last step, reason
    for item in lost:
        m = _LOG_STEP.fullmatch(item)
        if m is None:
            others.append(item)
            continue
        step, reason = int(m.group(1)), m.group(3)
        if run is not None and reason == run[2] and step == run[1] + 1:
            run = (run[0], step, reason)
            continue
        if run is not None:
            parts.append(_step_range(run))
        run = (step, step, reason)
    if run is not None:
        parts.append(_step_range(run))
    parts += others[:limit] + ([f"... and {len(others) - limit} more"]
                               if len(others) > limit else [])
    return "; ".join(parts)


def _step_range(run: tuple[int, int, str]) -> str:
    first, last, reason = run
    steps = f"log step {first}" if first == last else f"log steps {first}-{last}"
    return f"{steps} ({reason})"


def _is_end(req: Request) -> bool:
    from tablelog.runtime.writer import EntryRequest

    return isinstance(req, EntryRequest) and req.kind == wire.Kind.RUN_END


def _release_flushes(reqs: list[Request]) -> None:
    from tablelog.runtime.writer import FlushRequest

    for req in reqs:
        if isinstance(req, FlushRequest):
            req.done.set()


class WriterStop:
    """The bounded close of `Writer` (a mixin: the state lives on the Writer)."""

    queue: Queue
    not_persisted: list[str]
    _cond: threading.Condition
    _pending: collections.deque[tuple[Request, int]]
    _cost: int
    _taken: int
    _urgent: int
    _closed: bool
    _max_cost: int
    _thread: threading.Thread

    if TYPE_CHECKING:
        def _lost(self, group: list[Request], reason: str) -> None: ...

        def _write_group(self, group: list[Request], *, final: bool = False
                         ) -> list[Request]: ...

        def _entry(self, kind: wire.Kind, body: dict[str, Any]) -> NewEntry: ...

        def _end_state(self, body: dict[str, Any]) -> dict[str, bytes]: ...

    def _init_stop(self) -> None:
        self._abort = False  # close() ran out of time: stop at the next request boundary
        self._abort_reason = ""
        self._given_up = False  # close() returned without the writer: commit nothing more
        self._committing = False  # a queue commit is under way on the writer thread
        self._held: list[Request] = []  # taken by the writer, neither committed nor reported
        self._exited = False
        self._close_queue = False  # the writer thread closes the queue when it exits

    # -- the caller's side ---------------------------------------------------------

    def lift_backpressure(self) -> None:
        """From now on `submit` never waits: finish() and the signal path are bounded
        by their own timeout, not by the writer catching up."""
        with self._cond:
            self._max_cost = sys.maxsize
            self._cond.notify_all()

    def close(self, timeout: float = 30.0) -> bool:
        """Commit everything submitted, stop the thread and close the queue, all within
        `timeout` seconds. What could not be committed in time is named in
        `not_persisted`; the run's end is committed even then. True if all was written."""
        from tablelog.runtime.writer import FlushRequest

        timeout = max(0.0, timeout)
        deadline = time.monotonic() + timeout
        before = len(self.not_persisted)
        flush = FlushRequest()
        with self._cond:
            if self._closed:
                flush.done.set()
            else:  # appended here, not by submit(): close() never waits for room
                self._pending.append((flush, 1))
                self._cost += 1
                self._urgent += 1
                self._cond.notify_all()
        grace = min(CLOSE_GRACE_S, timeout / 4)
        done = flush.done.wait(max(0.0, deadline - grace - time.monotonic()))
        with self._cond:
            self._closed = True
            if not done:
                self._abort = True
                self._abort_reason = (f"not committed within the {timeout:g} s bound of "
                                      "finish() or of the exit")
            self._cond.notify_all()
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            self._give_up()
        self._hand_over_queue()
        return done and len(self.not_persisted) == before

    def _give_up(self) -> None:
        """The writer did not stop in time: name everything it holds or has pending,
        commit the run's end from here, and make sure the writer commits nothing more."""
        with self._cond:
            self._given_up = True
            left = self._held + [r for r, _ in self._pending]
            self._pending.clear()
            self._cost = self._urgent = self._taken = 0
            self._held = []
            in_doubt = self._committing
            reason = self._abort_reason or "not committed: the writer did not stop in time"
            if in_doubt:
                reason += " (a commit was under way; some of these may be stored after all)"
            ends = [r for r in left if _is_end(r)]
            self._lost([r for r in left if not _is_end(r)], reason)
            self._cond.notify_all()
        _release_flushes(left)
        if ends and not in_doubt:
            from tablelog.runtime.writer import EntryRequest

            end = ends[-1]
            assert isinstance(end, EntryRequest)
            try:
                states = self._end_state(end.body)
            except RuntimeError:  # the stuck writer is changing the summary: the end matters
                states = {}
            try:
                self.queue.commit([self._entry(wire.Kind.RUN_END, end.body)], run_states=states)
            except Exception as exc:
                self.not_persisted.append(f"run end ({type(exc).__name__}: {exc})")

    def _hand_over_queue(self) -> None:
        with self._cond:
            close_now = self._exited
            self._close_queue = not close_now
        if close_now:
            self.queue.close()

    # -- the writer thread's side -------------------------------------------------------

    def _thread_exits(self) -> None:
        with self._cond:
            self._exited = True
            close = self._close_queue
        if close:
            self.queue.close()

    def _abandon(self, held: list[Request]) -> None:
        """close() ran out of time: commit the run's end alone; name everything else."""
        with self._cond:
            todo = list(held) + [r for r, _ in self._pending]
            self._pending.clear()
            self._cost = self._urgent = self._taken = 0
            ends = [r for r in todo if _is_end(r)]
            if not self._given_up:
                self._lost([r for r in todo if not _is_end(r)], self._abort_reason)
            self._held = list(ends)
            self._cond.notify_all()
        try:
            if ends:
                self._write_group(ends, final=True)
        finally:
            _release_flushes(todo)

    def _settle(self, lost: list[Request], reason: str, rest: list[Request]) -> None:
        """After a commit attempt: report `lost` (unless close() already did) and hold
        only `rest`."""
        with self._cond:
            if lost and not self._given_up:
                self._lost(lost, reason)
            self._held = list(rest)

    def _settle_one(self, req: Request, reason: str) -> None:
        with self._cond:
            if not self._given_up:
                self._lost([req], reason)
            self._held = [r for r in self._held if r is not req]

    def _begin_commit(self) -> bool:
        """False once close() gave up (it reported everything held)."""
        with self._cond:
            if self._given_up:
                return False
            self._committing = True
            return True

    def _end_commit(self, rest: list[Request] | None) -> None:
        """The commit ended: committed (`rest` is all that is held now) or failed (None:
        the caller reports what it had taken)."""
        with self._cond:
            self._committing = False
            if rest is not None:
                self._held = list(rest)
