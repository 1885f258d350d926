"""A run logged from several processes at once: a parent and the children it forked.

Each process has its own writer and step counter, but the server keys history by
step, so the steps a shared run's rows get are decided in ``queue.db``, in the
same transaction that appends them (table ``shared_runs``):

- a row is stored at ``max(the step its process asked for, the run's next free
  step)``, and the next free step becomes that + 1. Rows of a shared run are
  therefore stored in commit order with unique, strictly increasing steps; each
  process's rows keep their own order (and their steps, as long as no other
  process committed a later step in between).
- the summary is merged there too: each commit applies the keys this process
  changed since its last commit to the run's merged summary and sends that, so a
  child's summary keys are not replaced by the parent's next summary (or back).

A run that was never forked pays nothing for this: a writer shares only once the
process forked (`Writer.share`), and a forked child's writer always does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tablelog import wire
from tablelog.store.queue import NewEntry

# writer._entry(kind, body, blobs, blob_bytes) -> the encoded entry
EntryEncoder = Callable[..., NewEntry]


def allocate_steps(conn: sqlite3.Connection, run: str, requested: Sequence[int]) -> list[int]:
    """The steps for `requested` (one process's rows, in order), inside the caller's
    transaction: each is max(requested, next free); the next free step moves past them."""
    row = conn.execute("SELECT next_step FROM shared_runs WHERE run = ?", (run,)).fetchone()
    next_free = int(row[0]) if row else 0
    steps: list[int] = []
    for want in requested:
        got = max(want, next_free)
        steps.append(got)
        next_free = got + 1
    conn.execute("INSERT INTO shared_runs(run, next_step) VALUES (?, ?) ON CONFLICT(run)"
                 " DO UPDATE SET next_step = excluded.next_step", (run, next_free))
    return steps


def merge_summary(conn: sqlite3.Connection, run: str, changed: dict[str, Any],
                  removed: Iterable[str], base: dict[str, Any]) -> dict[str, Any]:
    """The run's merged summary with `changed`/`removed` applied, saved, inside the
    caller's transaction. `base` (this process's whole summary) seeds it the first time."""
    row = conn.execute("SELECT summary FROM shared_runs WHERE run = ?", (run,)).fetchone()
    merged = dict(base) if row is None or row[0] is None else dict(wire.unpackb(row[0]))
    merged.update(changed)
    for key in removed:
        merged.pop(key, None)
    conn.execute("INSERT INTO shared_runs(run, summary) VALUES (?, ?) ON CONFLICT(run)"
                 " DO UPDATE SET summary = excluded.summary", (run, wire.packb(merged)))
    return merged


class SharedCommit:
    """The writer's bookkeeping for a shared run: where this group's history entries
    are (to re-encode one whose step changed) and the summary keys changed since the
    last commit. Used only on the writer thread."""

    def __init__(self, run: str, encode: EntryEncoder,
                 summary: Callable[[], dict[str, Any]]) -> None:
        self.run = run
        self._encode = encode
        self._summary = summary
        self._history: list[tuple[int, int, dict[str, Any], tuple[str, ...], int]] = []
        self._changed: dict[str, Any] = {}
        self._removed: set[str] = set()
        self._merged: dict[str, Any] | None = None

    def begin(self) -> None:
        """A new group: forget the positions of the last one."""
        self._history = []
        self._merged = None

    def history(self, index: int, step: int, row: dict[str, Any], blobs: tuple[str, ...],
                blob_bytes: int) -> None:
        """The history entry at `index` of the group's entries asked for `step`."""
        self._history.append((index, step, row, blobs, blob_bytes))

    def summary_changed(self, values: dict[str, Any], removed: Iterable[str]) -> None:
        self._changed.update(values)
        for key in removed:
            self._changed.pop(key, None)
            self._removed.add(key)
        self._removed.difference_update(values)

    def finalize(self, conn: sqlite3.Connection, entries: Sequence[NewEntry]
                 ) -> list[NewEntry]:
        """Inside the commit's transaction: give the history entries their steps and
        the summary entries the merged summary."""
        out = list(entries)
        if self._history:
            steps = allocate_steps(conn, self.run, [h[1] for h in self._history])
            for (index, want, row, blobs, blob_bytes), got in zip(self._history, steps,
                                                                  strict=True):
                if got != want:
                    out[index] = self._encode(wire.Kind.HISTORY, {"step": got, "row": row},
                                              blobs, blob_bytes)
        at = [i for i, e in enumerate(out) if e.kind == wire.Kind.SUMMARY and e.run == self.run]
        if at:
            merged = merge_summary(conn, self.run, self._changed, self._removed,
                                   self._summary())
            entry = self._encode(wire.Kind.SUMMARY, {"summary": merged})
            for i in at:
                out[i] = entry
            self._merged = merged
        return out

    def committed(self, summary: dict[str, Any]) -> dict[str, Any]:
        """After the commit: the writer's summary (the merged one, if one was sent)."""
        merged, self._merged = self._merged, None
        if merged is None:
            return summary
        self._changed, self._removed = {}, set()
        return merged
