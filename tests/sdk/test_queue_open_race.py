"""Processes that open one fresh queue directory at the same moment (torchrun starting
eight ranks, two trainers sharing a queue) all open it: switching a new database to
WAL takes a lock that SQLite's busy timeout does not wait for, so a second opener got
"database is locked" and its training process died at init()."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

OPENER = """
import sys
from tablelog.store.queue import Queue
print("ready", flush=True)
sys.stdin.readline()
with Queue(sys.argv[1]) as q:
    q.put("r", "log", b"x")
print("opened", flush=True)
"""


def test_processes_opening_a_fresh_queue_at_once_all_open_it(tmp_path: Path) -> None:
    env = dict(os.environ)
    for round_ in range(6):
        directory = tmp_path / f"queue{round_}"
        procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(directory)], env=env,
                                  text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(6)]
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        for p in procs:  # release them together
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [p.communicate(timeout=60) for p in procs]
        failed = [err[-300:] for p, (_, err) in zip(procs, results, strict=True)
                  if p.returncode != 0]
        assert not failed, f"round {round_}: {len(failed)} of 6 failed to open: {failed[0]}"
        assert all(out.strip().endswith("opened") for out, _ in results)
