"""Scenario 8: `tablelog.store.queue.Queue` against a model, with hypothesis' stateful testing.

The model is a dict of pending entries and a dict of dead letters, keyed by id.
Rules: put (from the first handle or from a second one, as an SDK writer beside
the agent), claim (bounded by count and bytes, after an id), ack (pending, dead,
already-acked or unknown ids), record_failure, dead_letter, retry_dead (all or
some), and three kinds of crash: close and reopen, drop the object without
closing it, and a process killed with os._exit in the middle of a transaction.
After every step stats(), pending_ids() and dead_letters() must equal the model.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tablelog.store.queue import NewEntry, Queue

SHA = [f"{i:02x}" * 32 for i in range(4)]


@dataclass
class Tally:
    """Totals over every example a run of the machine went through."""

    examples: int = 0
    steps: int = 0
    put: int = 0
    acked: int = 0
    dead_lettered: int = 0
    retried: int = 0
    crashes: int = 0
    torn_transactions: int = 0
    verified: int = 0  # entries whose fate (acked, pending, dead) matched the model at the end
    duplicated: int = 0  # ids handed out twice, or entries the model does not know
    lost: int = 0  # entries the model holds that the queue lost
    ops: int = 0

    def as_text(self) -> str:
        return (f"{self.examples} examples, {self.steps:,} steps: {self.put:,} entries put, "
                f"{self.acked:,} acked, {self.dead_lettered:,} dead-lettered, "
                f"{self.retried:,} re-queued, {self.crashes:,} crashes "
                f"({self.torn_transactions} torn transactions)")


TALLY = Tally()


@dataclass
class Item:
    run: str
    kind: str
    payload: bytes
    blobs: tuple[str, ...]
    blob_bytes: int
    attempts: int = 0
    reason: str | None = None
    last_error: str | None = None

    @property
    def size(self) -> int:
        return len(self.payload)


entries = st.builds(
    lambda run, kind, payload, blobs, extra: NewEntry(run, kind, payload, tuple(blobs),
                                                      extra if blobs else 0),
    st.sampled_from(["/p/a", "/p/b", "e/p/c"]),
    st.sampled_from(["history", "artifact", "summary"]),
    st.binary(min_size=0, max_size=300),
    st.lists(st.sampled_from(SHA), max_size=2, unique=True),
    st.integers(0, 5000))


class QueueMachine(RuleBasedStateMachine):
    """One queue directory per example; see the module docstring."""

    base_dir: Path = Path(tempfile.gettempdir())

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="qm-", dir=self.base_dir))
        self.q: Queue = Queue(self.dir)
        self.pending: dict[int, Item] = {}
        self.dead: dict[int, Item] = {}
        self.acked: set[int] = set()
        self.issued: set[int] = set()
        self.max_id = 0
        self.torn_left = 1
        TALLY.examples += 1

    # -- writing -------------------------------------------------------------------------

    def _put(self, queue: Queue, batch: list[NewEntry]) -> None:
        ids = queue.put_many(batch)
        TALLY.ops += 1
        assert len(ids) == len(batch)
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
        assert min(ids) > self.max_id, f"id {min(ids)} reused (max so far {self.max_id})"
        reused = self.issued & set(ids)
        TALLY.duplicated += len(reused)
        assert not reused, reused
        for i, e in zip(ids, batch, strict=True):
            self.pending[i] = Item(e.run, e.kind, e.payload, e.blobs, e.blob_bytes)
        self.issued.update(ids)
        self.max_id = max(ids)
        TALLY.put += len(ids)

    @rule(batch=st.lists(entries, min_size=1, max_size=6))
    def put(self, batch: list[NewEntry]) -> None:
        self._put(self.q, batch)

    @rule(batch=st.lists(entries, min_size=1, max_size=3))
    def put_from_a_second_handle(self, batch: list[NewEntry]) -> None:
        with Queue(self.dir) as other:
            self._put(other, batch)

    # -- the agent's side ---------------------------------------------------------------------

    @rule(max_entries=st.integers(1, 8), max_bytes=st.integers(1, 1200),
          after=st.integers(0, 40))
    def claim(self, max_entries: int, max_bytes: int, after: int) -> None:
        got = self.q.claim_batch(max_entries=max_entries, max_bytes=max_bytes, after_id=after)
        TALLY.ops += 1
        want: list[int] = []
        total = 0
        for i in sorted(k for k in self.pending if k > after):
            item = self.pending[i]
            if len(want) == max_entries or (want and total + item.size > max_bytes):
                break
            want.append(i)
            total += item.size
        assert [e.id for e in got] == want
        for e in got:
            item = self.pending[e.id]
            assert (e.run, e.kind, e.payload, e.blobs, e.blob_bytes, e.size) == (
                item.run, item.kind, item.payload, item.blobs, item.blob_bytes, item.size)
            assert (e.attempts, e.last_error) == (item.attempts, item.last_error)

    def _some(self, data: st.DataObject, ids: set[int], *, strangers: bool = True
              ) -> list[int]:
        """Some of `ids`, mixed (with `strangers`) with acked, dead and unknown ids."""
        pool = sorted(ids | self.acked | set(self.dead) | {self.max_id + 1, 10**9}
                      if strangers else ids)
        if not pool:
            return []
        return data.draw(st.lists(st.sampled_from(pool), max_size=6, unique=True))

    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        ids = self._some(data, set(self.pending))
        self.q.ack(ids)
        TALLY.ops += 1
        for i in ids:
            if i in self.pending:
                del self.pending[i]
                self.acked.add(i)
                TALLY.acked += 1

    @rule(data=st.data(), error=st.text(max_size=30))
    def record_failure(self, data: st.DataObject, error: str) -> None:
        ids = self._some(data, set(self.pending))
        self.q.record_failure(ids, error)
        TALLY.ops += 1
        for i in ids:
            if i in self.pending:
                self.pending[i].attempts += 1
                self.pending[i].last_error = error

    @rule(data=st.data(), reason=st.text(min_size=1, max_size=50))
    def dead_letter(self, data: st.DataObject, reason: str) -> None:
        candidates = sorted(set(self.pending) | self.acked | {10**9})
        entry_id = data.draw(st.sampled_from(candidates))
        self.q.dead_letter(entry_id, reason)
        TALLY.ops += 1
        if entry_id in self.pending:
            item = self.pending.pop(entry_id)
            item.attempts += 1
            item.reason = reason
            self.dead[entry_id] = item
            TALLY.dead_lettered += 1

    @rule(data=st.data(), everything=st.booleans())
    def retry_dead(self, data: st.DataObject, everything: bool) -> None:
        ids = None if everything else self._some(data, set(self.dead), strangers=False)
        count = self.q.retry_dead(ids)
        TALLY.ops += 1
        chosen = list(self.dead) if ids is None else [i for i in ids if i in self.dead]
        assert count == len(chosen), (count, chosen)
        for i in chosen:
            item = self.dead.pop(i)
            item.attempts = 0  # re-queued fresh, under its original id, the reason kept
            item.last_error = item.reason
            self.pending[i] = item
            TALLY.retried += 1

    # -- crashes ----------------------------------------------------------------------------

    @rule(how=st.sampled_from(["close", "drop", "torn"]), n=st.integers(1, 200))
    def crash(self, how: str, n: int) -> None:
        """close and reopen; drop the object without closing; or another process dies
        (os._exit) in the middle of a transaction that put `n` entries."""
        if how == "close":
            self.q.close()
        elif how == "drop":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                del self.q
                gc.collect()
        elif self.torn_left > 0:  # a subprocess costs ~50 ms: once per example
            self.torn_left -= 1
            self._torn_transaction(n)
        else:
            return
        self.q = Queue(self.dir)
        TALLY.crashes += 1

    def _torn_transaction(self, n: int) -> None:
        code = textwrap.dedent(f"""
            import os, sqlite3
            conn = sqlite3.connect({str(self.dir / "queue.db")!r}, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA cache_size=1")  # spill pages into the WAL before COMMIT
            conn.execute("BEGIN IMMEDIATE")
            for i in range({n}):
                conn.execute("INSERT INTO entries(run, kind, payload, size, blob_bytes,"
                             " created) VALUES ('/p/torn', 'history', ?, 4000, 0, 0)",
                             (os.urandom(4000),))
            os._exit(9)
        """)
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
        assert done.returncode == 9, done.stderr
        TALLY.torn_transactions += 1

    # -- checks -------------------------------------------------------------------------------

    @invariant()
    def matches_the_model(self) -> None:
        TALLY.steps += 1
        stats = self.q.stats()
        assert stats.pending == len(self.pending)
        assert stats.dead == len(self.dead)
        assert stats.pending_bytes == sum(i.size + i.blob_bytes for i in self.pending.values())
        if self.pending:
            assert stats.oldest_created is not None and stats.oldest_created <= time.time()
        assert self.q.pending_ids() == sorted(self.pending)
        dead = self.q.dead_letters()
        assert [d.id for d in dead] == sorted(self.dead)
        for d in dead:
            item = self.dead[d.id]
            assert (d.run, d.kind, d.reason, d.attempts, d.size) == (
                item.run, item.kind, item.reason, item.attempts, item.size)

    def teardown(self) -> None:
        try:
            held = set(self.q.pending_ids()) | {d.id for d in self.q.dead_letters()}
            model = set(self.pending) | set(self.dead)
            TALLY.lost += len(model - held)
            TALLY.duplicated += len(held - model)
            TALLY.verified += len(held & model) + len(self.acked - held)
        finally:
            self.q.close()
            _remove(self.dir)


def _remove(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class ModelRun:
    tally: Tally
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_queue_model(work: Path, *, examples: int, steps: int) -> ModelRun:
    """Run the machine (derandomized: the same examples every time) under `work`."""
    global TALLY
    TALLY = Tally()
    work.mkdir(parents=True, exist_ok=True)
    QueueMachine.base_dir = work
    config = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                      derandomize=True, database=None, print_blob=False,
                      suppress_health_check=list(HealthCheck))
    error = None
    try:
        run_state_machine_as_test(QueueMachine, settings=config)
    except Exception as exc:  # a falsifying example (or a group of them): keep the report
        error = "".join(traceback.format_exception(exc))[-4000:]
    return ModelRun(TALLY, error)


if __name__ == "__main__":  # pragma: no cover - a quick manual run
    result = run_queue_model(Path(tempfile.mkdtemp()), examples=int(sys.argv[1]),
                             steps=int(sys.argv[2]))
    print(result.tally.as_text(), result.error, sep="\n")
    sys.exit(0 if result.error is None else 1)
