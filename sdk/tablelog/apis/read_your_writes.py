"""Read your own writes: a read from the server sees what this directory logged.

wandb's `finish()` blocks until the run is uploaded, so wandb programs log,
finish and read back at once (`wandb.Api().run(...)`, `.artifact(...)`).
tablelog's `finish()` only commits to the local queue; the agent uploads later.
So before `tablelog.Api` asks the server about a run, a project's runs or an
artifact, it looks in the local queue (TABLELOG_DIR) for entries that read
depends on, and waits, bounded, until the agent has delivered those that were
pending when the read began. Entries logged after the read began are not
waited for, so a busy training job in the same directory cannot starve a read.

- No queue.db in the directory, or no pending entry for the read: no wait and
  no extra request; only one local SQLite query. A queue.db this process cannot
  open (another user's) is skipped with a RuntimeWarning.
- The bound is TABLELOG_READ_WAIT seconds (default 30; 0 does not wait), or
  `Api(read_wait=...)`. When it passes, `PendingWritesError` names the bound,
  what is still pending and whether an agent serves the directory.
- An entry the server rejected (dead-lettered while we waited) will never be
  there: the read goes on with a RuntimeWarning naming it.

`run.use_artifact(...)` needs no wait: the local directory holds every version
it logged, so a version with pending entries is served from there
(`tablelog.artifacts.resolve`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from tablelog.errors import PendingWritesError, QueueError

READ_WAIT_ENV = "TABLELOG_READ_WAIT"
DEFAULT_READ_WAIT_S = 30.0
_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25


def read_wait_from_env(env: Mapping[str, str] | None = None) -> float:
    """Seconds from TABLELOG_READ_WAIT (default 30); ValueError naming it otherwise."""
    env = os.environ if env is None else env
    value = (env.get(READ_WAIT_ENV) or "").strip()
    if not value:
        return DEFAULT_READ_WAIT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):  # also refuses NaN
        raise ValueError(f"{READ_WAIT_ENV} must be a number of seconds >= 0 (how long a read "
                         f"waits for this directory's queued entries), got {value!r}")
    return seconds


def wait_for_own_writes(directory: Path, *, what: str, bound: float, project: str | None,
                        entity: str | None = None, run_id: str | None = None,
                        artifact: str | None = None) -> None:
    """Return once the entries of `directory` that reading `what` depends on, and that
    were pending now, are delivered (or dead-lettered); PendingWritesError after
    `bound` seconds. See `tablelog.store.queue.pending_for_read` for which entries."""
    if not (directory / "queue.db").exists():
        return  # nothing was ever logged here: do not create a queue by reading
    from tablelog.store.queue import Queue, dead_lettered, pending_for_read

    def still_pending(up_to: int | None = None) -> list[tuple[int, str, str]]:
        return pending_for_read(queue, project=project, entity=entity, run_id=run_id,
                                artifact=artifact, up_to=up_to)

    try:
        queue = Queue(directory)
    except QueueError as exc:
        # A directory this process may not write (another user's node agent), or one
        # from a newer tablelog: it holds nothing this process logged, so read on.
        warnings.warn(f"tablelog: reading {what} without waiting for {directory}'s queued "
                      f"entries: {exc}", RuntimeWarning, stacklevel=4)
        return
    with queue:
        pending = still_pending()
        if not pending:
            return
        waited_for = [i for i, _, _ in pending]
        deadline = time.monotonic() + bound
        poll = _FIRST_POLL_S
        while pending and time.monotonic() < deadline:
            time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
            poll = min(poll * 2, _MAX_POLL_S)
            pending = still_pending(waited_for[-1])
        if pending:
            raise PendingWritesError(_still_pending(directory, what, bound, pending))
        rejected = dead_lettered(queue, waited_for)
    if rejected:
        first = rejected[0]
        warnings.warn(f"tablelog: reading {what}: the server rejected {len(rejected)} of the "
                      f"entries this directory logged for it (entry {first.id}, {first.kind}: "
                      f"{first.reason}); see `tablelog status`", RuntimeWarning, stacklevel=4)


def _still_pending(directory: Path, what: str, bound: float,
                   pending: list[tuple[int, str, str]]) -> str:
    from tablelog.runtime.spawn import agent_running

    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(k for _, _, k in pending)
                                                           .items()))
    runs = ", ".join(sorted({run.lstrip("/") for _, run, _ in pending}))
    if agent_running(directory):
        why = ("the agent serving it has not delivered them: is the server reachable? "
               "see `tablelog status`")
    else:
        why = (f"no agent serves {directory}: start one with `tablelog agent`, or upload with "
               f"`tablelog sync --dir {directory}`")
    return (f"reading {what}: {len(pending)} entries this directory logged for it are still "
            f"queued after waiting {bound:g} s ({READ_WAIT_ENV}, or Api(read_wait=...)): "
            f"{kinds} of run {runs}; {why}")
