"""Reliability scenarios for one run logged from several processes (forked children,
a multiprocessing fork pool) and from several threads. Each training program runs in
its own process, offline; `tablelog sync`'s code then delivers the queue to a real
server, and every row is counted there through its read API."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import ENTITY
from tests.reliability.harness import (
    PROJECT,
    REPO,
    Counts,
    Harness,
    child_env,
    drain,
    get_json,
    history_rows,
    queue_state,
    timed,
)

CHILD_BOUND_S = 30.0  # flush()/finish() in a child must return well within this

FORKS = """
import json, multiprocessing, os, sys, time
import tablelog

children, rows, parent_rows, workers, tasks, task_rows = map(int, sys.argv[1:7])
out = sys.argv[7]

def task(k):
    base = 2_000_000 + k * 10_000
    for i in range(task_rows):
        tablelog.log({{"seq": base + i, "who": "task%d" % k}})
    return k

if __name__ == "__main__":
    run = tablelog.init(project="{project}", id="forked")
    half = parent_rows // 2
    for i in range(half):
        run.log({{"seq": i, "who": "parent"}})
    pids = []
    for k in range(children):
        pid = os.fork()
        if pid == 0:
            base = 1_000_000 + k * 100_000
            started = time.monotonic()
            for i in range(rows):
                run.log({{"seq": base + i, "who": "child%d" % k}})
            logged = time.monotonic() - started
            run.summary["child%d" % k] = rows
            how = ("flush", "finish", "exit")[k % 3]
            started = time.monotonic()
            if how == "flush":
                run.flush()
            elif how == "finish":
                run.finish()
            took = time.monotonic() - started
            with open(os.path.join(out, "child%d.json" % k), "w") as f:
                json.dump({{"how": how, "took": took, "log_ms": 1000 * logged / rows}}, f)
            if how == "exit":
                sys.exit(0)  # atexit runs: the child's share only, no run end
            os._exit(0)      # as multiprocessing workers end: no atexit
        pids.append(pid)
    for i in range(half, parent_rows):  # while the children log
        run.log({{"seq": i, "who": "parent"}})
    statuses = [os.waitpid(p, 0)[1] for p in pids]
    with multiprocessing.get_context("fork").Pool(workers) as pool:  # __exit__: SIGTERM
        done = pool.map(task, range(tasks), chunksize=1)
    run.log({{"seq": parent_rows, "who": "parent"}})
    run.summary["parent"] = True
    run.finish()
    print(json.dumps({{"statuses": statuses, "done": done}}))
"""

THREADS = """
import json, sys, threading, time
import tablelog

threads, rows, single = map(int, sys.argv[1:4])
run = tablelog.init(project="{project}", id="single")
started = time.perf_counter()
for i in range(single):
    run.log({{"loss": 0.5, "i": i}})
single_us = 1e6 * (time.perf_counter() - started) / max(1, single)
run.finish()

run = tablelog.init(project="{project}", id="threads")
barrier = threading.Barrier(threads)

def work(k):
    barrier.wait(30)
    for i in range(rows):
        run.log({{"seq": k * 1_000_000 + i, "t%d" % k: i}})
        if i % 10 == 0:
            run.config["c%d_%d" % (k, i)] = i
            run.summary["s%d_%d" % (k, i)] = i

started = time.perf_counter()
pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join(300)
multi_s = time.perf_counter() - started
alive = sum(t.is_alive() for t in pool)
step = run.step
run.finish()
print(json.dumps({{"single_us": single_us, "multi_s": multi_s, "alive": alive, "step": step}}))
"""


def _program(code: str, args: list[str], env: dict[str, str], c: Counts,
             timeout: float = 300) -> dict[str, Any]:
    """Run a training program in its own session (a hung forked child dies with it);
    its last stdout line is a JSON result ({} when it failed, with the check failed)."""
    proc = subprocess.Popen([sys.executable, "-c", code.format(project=PROJECT), *args],
                            env=env, cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a child left behind
    lines = [line for line in out.splitlines() if line.startswith("{")]
    ok = c.check(proc.returncode == 0 and bool(lines),
                 "the training program ended by itself, exit 0",
                 f"exit {proc.returncode}: {err[-600:]}")
    return json.loads(lines[-1]) if ok else {}


def count_shared(c: Counts, url: str, run_id: str, sent: dict[str, list[int]]) -> None:
    """Count each writer's `seq` values of one run on the server into `c`: every value
    exactly once, each writer's rows in its own order, steps unique and increasing."""
    rows = history_rows(url, PROJECT, run_id)
    got = [r.get("seq") for r in rows if "seq" in r]
    counts = collections.Counter(got)
    wanted = {s for seqs in sent.values() for s in seqs}
    c.sent += len(wanted)
    c.stored += len(wanted & counts.keys())
    c.duplicated += sum(n - 1 for v, n in counts.items() if v in wanted and n > 1)
    c.lost += len(wanted - counts.keys())
    strangers = sorted(counts.keys() - wanted)
    c.check(not strangers, "no row that was never sent", f"{len(strangers)}: {strangers[:5]}")
    for who, seqs in sent.items():
        mine = set(seqs)
        c.check([s for s in got if s in mine] == [s for s in seqs if s in counts],
                "each process's / thread's rows in its logging order", who)
    steps = [r.get("_step") for r in rows]
    c.check(len(set(steps)) == len(steps), "steps unique on the server",
            f"{len(steps) - len(set(steps))} repeated")
    c.check(steps == sorted(steps), "steps increase in the server's order", steps[:20])


def _server_run(url: str, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = get_json(url, f"/api/v1/runs/{ENTITY}/{PROJECT}/{run_id}")
    return run


def _deliver(c: Counts, q: Path, url: str) -> None:
    outcome = drain(q, url, timeout_s=120)
    state = queue_state(q)
    c.check(state["pending"] == 0 and state["dead"] == 0, "everything was delivered",
            f"{outcome}; {state['pending']} pending, {state['dead']} dead")
    c.check(state["integrity"] == "ok", "queue.db passes PRAGMA integrity_check",
            state["integrity"])


def forked_children(work: Path, *, children: int = 3, rows: int = 100,
                    parent_rows: int = 200, workers: int = 2, tasks: int = 4,
                    task_rows: int = 25) -> Counts:
    """One run: the parent logs while `children` os.fork children log `rows` rows each
    (ending with flush + os._exit, finish + os._exit, or sys.exit), then a fork Pool
    of `workers` runs `tasks` tasks logging `task_rows` rows each through
    `tablelog.log` (the pool's __exit__ terminates its workers). Offline; delivered
    by `tablelog sync`'s code; every row counted on the server."""
    c = Counts("13a. forked children")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        out = work / "out"
        out.mkdir(parents=True)
        srv = h.server()
        env = child_env(q, None, TABLELOG_MODE="offline")
        result = _program(FORKS, [str(v) for v in (children, rows, parent_rows, workers,
                                                     tasks, task_rows)] + [str(out)], env, c)
        c.check(result.get("statuses") == [0] * children, "every forked child exited 0",
                result.get("statuses"))
        c.check(result.get("done") == list(range(tasks)), "every pool task ran",
                result.get("done"))
        reports = [json.loads(p.read_text()) for p in sorted(out.glob("child*.json"))]
        c.check(len(reports) == children, "every child reported", len(reports))
        slowest = max((r["took"] for r in reports), default=0.0)
        c.check(slowest < CHILD_BOUND_S, "flush()/finish()/exit in a child returned in time",
                f"{slowest:.1f}s")
        _deliver(c, q, srv.url)
        sent = {"parent": list(range(parent_rows + 1))}
        sent.update({f"child{k}": [1_000_000 + k * 100_000 + i for i in range(rows)]
                     for k in range(children)})
        sent.update({f"task{k}": [2_000_000 + k * 10_000 + i for i in range(task_rows)]
                     for k in range(tasks)})
        count_shared(c, srv.url, "forked", sent)
        run = _server_run(srv.url, "forked")
        c.check(run["state"] == "finished" and run["exit_code"] == 0,
                "the run ended once, by the parent, finished", run["state"])
        summary = run["summary"]
        c.check(all(summary.get(f"child{k}") == rows for k in range(children))
                and summary.get("parent") is True,
                "the summary holds the children's and the parent's keys", sorted(summary))
        log_ms = [r["log_ms"] for r in reports]
        c.done = (f"1 run: the parent logs {parent_rows + 1} rows while {children} forked "
                  f"children log {rows} each (flush/finish/sys.exit), then a fork Pool of "
                  f"{workers} runs {tasks} tasks x {task_rows} rows")
        c.note(f"forked children: run.log in a child commits before returning, "
               f"{min(log_ms, default=0):.2f}-{max(log_ms, default=0):.2f} ms per call; "
               f"slowest child flush/finish {slowest * 1000:.0f} ms")
    return c


def threads(work: Path, *, threads: int = 8, rows: int = 500, single: int = 20_000) -> Counts:
    """`threads` threads log `rows` rows each into one run at once (and set config and
    summary keys every 10 rows); the same process first times `single` single-threaded
    run.log calls. Offline; delivered; counted on the server."""
    c = Counts("13b. threads")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        srv = h.server()
        env = child_env(q, None, TABLELOG_MODE="offline")
        result = _program(THREADS, [str(threads), str(rows), str(single)], env, c)
        c.check(result.get("alive") == 0, "no logging thread hung", result.get("alive"))
        c.check(result.get("step") == threads * rows, "run.step counts every row once",
                result.get("step"))
        _deliver(c, q, srv.url)
        count_shared(c, srv.url, "threads",
                     {f"t{k}": [k * 1_000_000 + i for i in range(rows)]
                      for k in range(threads)})
        run = _server_run(srv.url, "threads")
        keys = [f"{k}_{i}" for k in range(threads) for i in range(0, rows, 10)]
        missing_c = [k for k in keys if run["config"].get(f"c{k}") is None]
        missing_s = [k for k in keys if run["summary"].get(f"s{k}") is None]
        c.check(not missing_c, "every config key set from a thread is on the server",
                missing_c[:5])
        c.check(not missing_s, "every summary key set from a thread is on the server",
                missing_s[:5])
        c.done = (f"{threads} threads x {rows} run.log calls into one run, with config and "
                  "summary updates from every thread")
        if result:
            c.note(f"threads: single-threaded run.log {result['single_us']:.1f} us/call; "
                   f"{threads} threads logged {threads * rows} rows in "
                   f"{result['multi_s']:.2f} s")
    return c
