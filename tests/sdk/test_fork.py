"""A run inherited by forked children (os.fork, multiprocessing fork pools): their logs
persist into the same run with unique steps, flush/finish/exit in a child never hang
and never end the parent's run. Real processes; the queue is decoded with tablelog.wire."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.store.queue import Queue

TIMEOUT_S = 90  # a hang (today's child flush) fails the test instead of blocking it


def run_script(code: str, queue_dir: Path) -> dict[str, Any]:
    """Run `code` in a fresh interpreter (its own session, so that a hanging forked child
    is killed with it); return the JSON object it prints last."""
    env = {**os.environ, "TABLELOG_DIR": str(queue_dir), "TABLELOG_MODE": "offline"}
    env.pop("TABLELOG_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"the script hung for {TIMEOUT_S}s:\n{out[-2000:]}\n"
                             f"{err[-2000:]}") from None
    finally:
        # a forked child the script left behind (it hung, or outlived its parent)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{out[-2000:]}\n{err[-3000:]}"
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no result printed:\n{out[-2000:]}\n{err[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["stderr"] = err
    return result


def entries(queue_dir: Path) -> list[wire.Entry]:
    with Queue(queue_dir) as q:
        return [wire.decode_entry(e.payload)
                for e in q.claim_batch(max_entries=1_000_000, max_bytes=1 << 40)]


def check_history(queue_dir: Path, run_id: str, sent: dict[str, list[int]]) -> list[int]:
    """Every `seq` of each process in `sent` exactly once, each process's rows in its
    logging order, steps unique and increasing in queue order. Returns the steps."""
    rows = [(e.body["step"], e.body["row"]) for e in entries(queue_dir)
            if e.kind == wire.Kind.HISTORY and e.run_id == run_id]
    seqs = [r["seq"] for _, r in rows if "seq" in r]
    counts = collections.Counter(seqs)
    wanted = [s for values in sent.values() for s in values]
    assert sorted(counts) == sorted(wanted), (
        f"missing {sorted(set(wanted) - counts.keys())[:10]}, "
        f"unexpected {sorted(counts.keys() - set(wanted))[:10]}")
    assert max(counts.values()) == 1, f"duplicated: {[s for s, n in counts.items() if n > 1]}"
    for who, values in sent.items():
        mine = set(values)
        assert [s for s in seqs if s in mine] == values, f"{who}'s rows out of order"
    steps = [step for step, _ in rows]
    assert steps == sorted(set(steps)), f"steps not unique and increasing: {steps[:40]}"
    return steps


def test_forked_child_logs_into_the_same_run_with_unique_steps(tmp_path: Path) -> None:
    q = tmp_path / "q"
    result = run_script("""
        import json, os, time, tablelog
        run = tablelog.init(project="p", id="forked01")
        for i in range(20):
            run.log({"seq": i})
        run.log({"pending": 1}, commit=False)  # open at the fork: the parent's row, once
        pid = os.fork()
        if pid == 0:
            for i in range(1000, 1030):
                run.log({"seq": i})
            started = time.monotonic()
            run.flush()
            with open(os.environ["TABLELOG_DIR"] + "/../child.json", "w") as f:
                json.dump({"flush_s": time.monotonic() - started, "step": run.step}, f)
            os._exit(0)
        for i in range(21, 60):
            run.log({"seq": i})
        _, status = os.waitpid(pid, 0)
        run.finish()
        print(json.dumps({"status": status}))
    """, q)
    assert result["status"] == 0
    child = json.loads((tmp_path / "child.json").read_text())
    assert child["flush_s"] < 30
    parent = [i for i in range(60) if i != 20]
    steps = check_history(q, "forked01", {"parent": parent, "child": list(range(1000, 1030))})
    assert len(steps) == 89
    rows = [e.body["row"] for e in entries(q) if e.kind == wire.Kind.HISTORY]
    assert [r.get("seq") for r in rows if "pending" in r] == [21]  # joined the parent's next
    kinds = [e.kind for e in entries(q)]
    assert kinds.count(wire.Kind.RUN) == 1 and kinds.count(wire.Kind.RUN_END) == 1
    assert kinds[-1] == wire.Kind.RUN_END


def test_child_finish_and_exit_never_end_the_parents_run(tmp_path: Path) -> None:
    q = tmp_path / "q"
    result = run_script("""
        import json, os, sys, time, tablelog
        run = tablelog.init(project="p", id="forked02")
        run.log({"seq": 0})
        pids = []
        for k in range(3):
            pid = os.fork()
            if pid == 0:
                run.log({"seq": 100 + k})
                run.summary[f"child{k}"] = k    # kept beside the parent's summary keys
                if k == 0:
                    started = time.monotonic()
                    run.finish()        # the child's share only
                    took = time.monotonic() - started
                    with open(os.environ["TABLELOG_DIR"] + "/../finish.json", "w") as f:
                        json.dump({"finish_s": took, "finished": run._finished}, f)
                    os._exit(0)
                if k == 1:
                    sys.exit(0)         # atexit runs: flush, no run end
                os._exit(0)             # no flush, no atexit: the log was committed already
            pids.append(pid)
        statuses = [os.waitpid(p, 0)[1] for p in pids]
        run.log({"seq": 1})             # the parent's run is still open
        run.summary["after"] = True
        run.finish()
        print(json.dumps({"statuses": statuses}))
    """, q)
    assert result["statuses"] == [0, 0, 0]
    finish = json.loads((tmp_path / "finish.json").read_text())
    assert finish["finish_s"] < 30 and finish["finished"]
    check_history(q, "forked02", {"parent": [0, 1], "child0": [100], "child1": [101],
                                  "child2": [102]})
    got = entries(q)
    kinds = [e.kind for e in got]
    assert kinds.count(wire.Kind.RUN_END) == 1 and kinds[-1] == wire.Kind.RUN_END
    assert kinds.count(wire.Kind.RUN) == 1
    summary = [e.body["summary"] for e in got if e.kind == wire.Kind.SUMMARY][-1]
    assert summary["after"] is True and summary["seq"] == 1
    assert [summary.get(f"child{k}") for k in range(3)] == [0, 1, 2]


def test_multiprocessing_fork_pool_workers_log_into_the_run(tmp_path: Path) -> None:
    q = tmp_path / "q"
    result = run_script("""
        import json, multiprocessing, tablelog

        def work(k):
            for i in range(25):
                tablelog.log({"seq": 10_000 * (k + 1) + i})
            return k

        if __name__ == "__main__":
            run = tablelog.init(project="p", id="forked03")
            run.log({"seq": 0})
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(3) as pool:      # __exit__ terminates the workers (SIGTERM)
                done = pool.map(work, range(6), chunksize=1)
            run.log({"seq": 1})
            run.finish()
            print(json.dumps({"done": done}))
    """, q)
    assert result["done"] == list(range(6))
    sent = {"parent": [0, 1]}
    sent.update({f"task{k}": [10_000 * (k + 1) + i for i in range(25)] for k in range(6)})
    check_history(q, "forked03", sent)


def test_a_resumed_run_continues_after_the_steps_its_children_took(tmp_path: Path) -> None:
    q = tmp_path / "q"
    run_script("""
        import json, os, tablelog
        run = tablelog.init(project="p", id="forked04")
        run.log({"seq": 0})
        pid = os.fork()
        if pid == 0:
            for i in range(100, 110):
                run.log({"seq": i})
            os._exit(0)
        os.waitpid(pid, 0)
        run.finish()
        run = tablelog.init(project="p", id="forked04", resume="allow")
        run.log({"seq": 1})
        run.finish()
        print(json.dumps({}))
    """, q)
    steps = check_history(q, "forked04", {"parent": [0, 1], "child": list(range(100, 110))})
    assert len(steps) == 12
