"""Scenarios of the "exits" family (issue 12 points 2, 5 and 10): how a training process
ends, and what the run's end then says.

- `signals`: trainers log rows without flush() and are stopped by SIGTERM, SIGHUP and
  SIGINT (one with a handler of its own installed before init()). Every row must be
  committed within the signal bound, the run's end recorded (`preempted`, `killed`),
  the exit status must be the signal's (or the user's handler's), and after delivery
  the server must hold every row and show the state and exit code.
- `bounded_exit`: trainers whose writer is far behind (big tables) exit without
  finish() under a short TABLELOG_EXIT_TIMEOUT: the exit must take no longer than the
  bound, and every row must be either stored on the server or named in the warning
  (never lost silently); the run's end is recorded all the same.

Helpers shared with tests/reliability/test_exits.py: `child` (a Python snippet as a
real process, offline, its own queue) and `queued` (the queue's entries, decoded).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ENTITY
from tests.reliability.harness import (
    PROJECT,
    Counts,
    Harness,
    child_env,
    drain,
    get_json,
    tally,
    timed,
)

# A trainer: logs `rows` rows (a unique seq each, an image every 10th, a growing table every
# 100th) without flush(), prints "logged", then waits (bounded) for the signal.
TRAINER = """
import os, signal, sys, time
import numpy as np
import tablelog
run_id, rows, handler = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def user_handler(signum, frame):
    print("user handler ran", flush=True)
    sys.exit(128 + signum)
if handler == "before":
    signal.signal(signal.SIGTERM, user_handler)
rng = np.random.default_rng(len(run_id))
table = tablelog.Table(columns=["seq"], log_mode="MUTABLE")
run = tablelog.init(project="{project}", id=run_id)
if handler == "after":
    signal.signal(signal.SIGTERM, user_handler)
for i in range(rows):
    row = {{"seq": i, "loss": float(rng.random())}}
    if i % 10 == 0:
        row["img"] = tablelog.Image(rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8))
    if i % 100 == 99:
        table.add_data(i)
        row["preds"] = table
    run.log(row)
print("logged", flush=True)
for _ in range(6000):  # bounded: 10 minutes
    time.sleep(0.1)
"""


def child(code: str, queue_dir: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    """`code` (dedented) as a real Python process logging offline into `queue_dir`."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=child_env(queue_dir, None, TABLELOG_MODE="offline", **env),
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@dataclass
class Queued:
    """What a queue directory holds for one run: history seqs, run_end bodies."""

    seqs: list[int]
    ends: list[dict[str, Any]]

    @property
    def end(self) -> dict[str, Any] | None:
        return self.ends[-1] if self.ends else None


@contextlib.contextmanager
def stalled_writers(queue_dir: Path) -> Iterator[None]:
    """While inside, no writer logging into `queue_dir` can commit: this process holds
    the blob store's collection lock exclusively, as a collection round does, and every
    commit waits for it (a stalled disk, made deterministic)."""
    blobs = queue_dir / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    fd = os.open(blobs / "gc.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def queued(queue_dir: Path, run_id: str) -> Queued:
    """The history `seq`s and run_end bodies of `run_id` in the queue, in queue order."""
    from tablelog import wire
    from tablelog.store.queue import Queue

    out = Queued([], [])
    with Queue(queue_dir) as q:
        for e in q.claim_batch(max_entries=10_000_000, max_bytes=1 << 40):
            entry = wire.decode_entry(e.payload)
            if entry.run_id != run_id:
                continue
            if entry.kind == wire.Kind.HISTORY:
                out.seqs.append(entry.body["row"].get("seq", entry.body["step"]))
            elif entry.kind == wire.Kind.RUN_END:
                out.ends.append(dict(entry.body))
    return out


def wait_for_line(proc: subprocess.Popen[str], want: str, timeout: float = 120.0) -> bool:
    """Read the child's stdout until a line equal to `want` (False if it ends first).
    The child prints a handful of lines, so the loop is bounded by its output."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.strip() == want:
            return True
        if time.monotonic() > deadline:
            return False
    return False


def stop_with(proc: subprocess.Popen[str], sig: int) -> tuple[float, str, str]:
    """Send `sig`, wait for the exit: (seconds from the signal to the exit, out, err)."""
    started = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return time.monotonic() - started, out, err


def run_record(url: str, run_id: str) -> dict[str, Any]:
    return dict(get_json(url, f"/api/v1/runs/{ENTITY}/{PROJECT}/{run_id}"))


# (run id, signal, handler, expected exit status, expected state, expected exit_code)
SIGNAL_CASES = [
    ("term", signal.SIGTERM, "none", -signal.SIGTERM, "preempted", 143),
    ("hup", signal.SIGHUP, "none", -signal.SIGHUP, "preempted", 129),
    ("int", signal.SIGINT, "none", -signal.SIGINT, "killed", 130),
    ("termuser", signal.SIGTERM, "before", 143, "preempted", 143),
]


def signals(work: Path, *, rows: int = 500, rounds: int = 1) -> Counts:
    """Trainers log `rows` rows without flush() and get SIGTERM, SIGHUP, SIGINT, and
    SIGTERM with a user handler installed before init() (which exits 143), `rounds`
    times each. Checked: the exit status is the signal's (or the handler's), the user
    handler ran, the time from the signal to the exit is within TABLELOG_SIGNAL_TIMEOUT
    (2 s) plus process teardown, every row and the run's end are in the queue, and
    after delivery the server holds every row once and shows state and exit code."""
    c = Counts("16a. SIGTERM / SIGHUP / SIGINT")
    times: list[float] = []
    with Harness(work) as h, timed(c):
        q = work / "queue"
        sent: dict[str, list[int]] = {}
        expected: dict[str, tuple[str, int]] = {}
        for k in range(rounds):
            for name, sig, handler, status, state, code in SIGNAL_CASES:
                run_id = f"{name}{k:02d}"
                proc = child(TRAINER.format(project=PROJECT), q, run_id, str(rows), handler)
                if not c.check(wait_for_line(proc, "logged"), "the trainer logged its rows",
                               run_id):
                    proc.kill()
                seconds, out, err = stop_with(proc, sig)
                times.append(seconds)
                c.check(proc.returncode == status, "the exit status is the signal's "
                        "(or the user handler's)", f"{run_id}: {proc.returncode}: {err[-500:]}")
                if handler != "none":
                    c.check("user handler ran" in out, "a handler installed before init() "
                            "still runs", f"{run_id}: stdout {out!r}")
                c.check(seconds < 2.0 + 3.0, "signal to exit within the 2 s bound "
                        "(+ teardown on a loaded machine)", f"{run_id}: {seconds:.2f} s")
                got = queued(q, run_id)
                c.check(got.seqs == list(range(rows)), "every row logged before the signal "
                        "is committed", f"{run_id}: {len(got.seqs)} of {rows}")
                end = got.end or {}
                c.check((end.get("state"), end.get("exit_code")) == (state, code),
                        "the run's end is recorded with the right state and exit code",
                        f"{run_id}: {got.ends}")
                sent[run_id] = list(range(rows))
                expected[run_id] = (state, code)
        srv = h.server()
        outcome = drain(q, srv.url)
        c.check(outcome.dead == 0 and outcome.left == 0, "the agent delivered everything",
                f"{outcome.dead} dead, {outcome.left} left")
        tally(c, srv.url, sent)
        for run_id, (state, code) in expected.items():
            rec = run_record(srv.url, run_id)
            c.check((rec.get("state"), rec.get("exit_code")) == (state, code),
                    "the server's API shows the state and exit code",
                    f"{run_id}: {rec.get('state')}, {rec.get('exit_code')}")
        c.done = (f"{len(SIGNAL_CASES) * rounds} trainers logged {rows} rows each without "
                  "flush(), then SIGTERM / SIGHUP / SIGINT / SIGTERM with a user handler; "
                  "queue checked, then delivered")
        c.note(f"signals: time from the signal to the exit {min(times):.2f}-{max(times):.2f} s "
               f"(bound 2 s + teardown), {len(times)} trainers")
    return c


# A trainer whose writer is far behind: big tables logged back to back (ndarrays: cheap to
# hand off, costly to encode), then exit without finish(). It prints the time just before
# the interpreter starts exiting.
BEHIND = """
import sys, time
import numpy as np
import tablelog
run_id, tables, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run = tablelog.init(project="{project}", id=run_id)
rng = np.random.default_rng(0)
for i in range(tables):
    t = tablelog.Table(columns=["a", "b", "c", "d"], data=rng.random((rows, 4)))
    run.log({{"seq": i, "t": t}})
print("exiting", flush=True)
"""


def named_steps(text: str) -> set[int]:
    """The log steps a not-persisted warning names ("log step 3 (", "log steps 4-9 (")."""
    import re

    steps: set[int] = set()
    for first, last in re.findall(r"log steps? (\d+)(?:-(\d+))? \(", text):
        steps.update(range(int(first), int(last or first) + 1))
    return steps


def bounded_exit(work: Path, *, trainers: int = 2, tables: int = 40, rows: int = 20_000,
                 exit_timeout_s: float = 2.0, stalled: bool = False) -> Counts:
    """`trainers` processes each log `tables` tables of `rows` x 4 floats back to back
    (the writer falls far behind) and exit without finish() with
    TABLELOG_EXIT_TIMEOUT=`exit_timeout_s`. Checked: each exit takes at most the bound
    (+ teardown), the warning names what was not committed, the run's end is recorded,
    and every logged row is either stored on the server or named in the warning: sent
    counts the rows the SDK committed, lost those it neither committed nor named.

    How far behind the writer is at the exit depends on timing; `stalled` makes it
    certain (nothing can commit while the trainers exit: `stalled_writers`), so every
    row must then be named and the run's end committed all the same."""
    c = Counts("16b. bounded exit, writer behind")
    times: list[float] = []
    named_total = 0
    with Harness(work) as h, timed(c):
        q = work / "queue"
        sent: dict[str, list[int]] = {}
        for k in range(trainers):
            run_id = f"behind{k:02d}"
            with stalled_writers(q) if stalled else contextlib.nullcontext():
                proc = child(BEHIND.format(project=PROJECT), q, run_id, str(tables), str(rows),
                             TABLELOG_EXIT_TIMEOUT=str(exit_timeout_s))
                c.check(wait_for_line(proc, "exiting", timeout=300),
                        "the trainer logged its tables", "")
                started = time.monotonic()
                _out, err = proc.communicate(timeout=120)
                seconds = time.monotonic() - started
            times.append(seconds)
            c.check(proc.returncode == 0, "the trainer exits normally", err[-500:])
            c.check(seconds < exit_timeout_s + 3.0, "the exit takes no longer than "
                    "TABLELOG_EXIT_TIMEOUT (+ teardown)", f"{run_id}: {seconds:.2f} s")
            got = queued(q, run_id)
            named = named_steps(err)
            named_total += len(named)
            committed = set(got.seqs)
            silent = set(range(tables)) - committed - named
            c.lost += len(silent)
            c.check(not silent, "every row is committed or named in the warning",
                    f"{run_id}: {sorted(silent)[:10]} neither; stderr {err[-300:]!r}")
            c.check(not (committed & named), "what the warning names was really not committed",
                    f"{run_id}: {sorted(committed & named)[:10]}")
            c.check("Traceback" not in err, "no traceback at exit", err[-800:])
            c.check(got.end is not None and got.end.get("state") == "finished",
                    "the run's end is recorded", f"{run_id}: {got.ends}")
            sent[run_id] = got.seqs
        srv = h.server()
        outcome = drain(q, srv.url)
        c.check(outcome.dead == 0 and outcome.left == 0, "the agent delivered everything",
                f"{outcome.dead} dead, {outcome.left} left")
        tally(c, srv.url, sent)
        c.done = (f"{trainers} trainers logged {tables} tables of {rows:,} x 4 floats and "
                  f"exited without finish() under TABLELOG_EXIT_TIMEOUT={exit_timeout_s:g}")
        c.note(f"bounded exit: {min(times):.2f}-{max(times):.2f} s from the last log to the "
               f"exit (bound {exit_timeout_s:g} s); {named_total} of {trainers * tables} rows "
               "not committed in time, each named in the warning")
    return c
