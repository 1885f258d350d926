"""How a training process ends (issue 12 points 2, 5 and 10), with real processes:
signals commit what was logged and record `preempted` / `killed` without changing the
exit status or hiding the user's handlers; an uncaught exception or sys.exit(n) is
recorded with its code; a bounded finish()/exit never loses silently; an internal
error's traceback reaches the log once."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.reliability.exits import (
    PROJECT,
    TRAINER,
    bounded_exit,
    child,
    queued,
    signals,
    stalled_writers,
    stop_with,
    wait_for_line,
)


def _trainer(q: Path, run_id: str, rows: int, handler: str = "none") -> object:
    proc = child(TRAINER.format(project=PROJECT), q, run_id, str(rows), handler)
    assert wait_for_line(proc, "logged"), proc.stderr.read() if proc.stderr else ""
    return proc


def test_sigterm_commits_every_row_records_preempted_and_dies_of_sigterm(tmp_path: Path
                                                                          ) -> None:
    q = tmp_path / "q"
    proc = _trainer(q, "term01", 300)
    seconds, _out, err = stop_with(proc, signal.SIGTERM)  # type: ignore[arg-type]
    assert proc.returncode == -signal.SIGTERM, err  # type: ignore[attr-defined]
    got = queued(q, "term01")
    assert got.seqs == list(range(300))
    assert got.end is not None and got.end["state"] == "preempted"
    assert got.end["exit_code"] == 143
    assert seconds < 2.0 + 3.0  # the 2 s signal bound, plus teardown on a loaded machine


def test_user_handler_installed_before_init_still_runs_and_sets_the_exit(tmp_path: Path
                                                                         ) -> None:
    q = tmp_path / "q"
    proc = _trainer(q, "before01", 200, "before")
    _s, out, err = stop_with(proc, signal.SIGTERM)  # type: ignore[arg-type]
    assert "user handler ran" in out, err
    assert proc.returncode == 143, err  # type: ignore[attr-defined]
    got = queued(q, "before01")
    assert got.seqs == list(range(200))
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("preempted", 143)


def test_user_handler_installed_after_init_runs_and_the_exit_hook_records_the_end(
        tmp_path: Path) -> None:
    q = tmp_path / "q"
    proc = _trainer(q, "after01", 200, "after")
    _s, out, err = stop_with(proc, signal.SIGTERM)  # type: ignore[arg-type]
    assert "user handler ran" in out, err
    assert proc.returncode == 143, err  # type: ignore[attr-defined]
    got = queued(q, "after01")
    assert got.seqs == list(range(200))
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("preempted", 143)


def test_uncaught_sigint_is_killed_and_the_exit_status_stays_sigints(tmp_path: Path) -> None:
    q = tmp_path / "q"
    proc = _trainer(q, "int01", 200)
    _s, _out, err = stop_with(proc, signal.SIGINT)  # type: ignore[arg-type]
    assert proc.returncode == -signal.SIGINT, err  # type: ignore[attr-defined]
    assert "KeyboardInterrupt" in err
    got = queued(q, "int01")
    assert got.seqs == list(range(200))
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("killed", 130)


def test_keyboard_interrupt_caught_then_finish_is_finished(tmp_path: Path) -> None:
    q = tmp_path / "q"
    proc = child("""
        import os, signal, time, tablelog
        run = tablelog.init(project="p", id="caught01")
        try:
            for i in range(100):
                run.log({"x": i})
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(600):
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("caught", flush=True)
        run.log({"x": 100})
        run.finish()
    """, q)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "caught" in out, err
    got = queued(q, "caught01")
    assert got.seqs == list(range(101))
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("finished", 0)


def test_uncaught_exception_is_failed_with_exit_code_1(tmp_path: Path) -> None:
    q = tmp_path / "q"
    proc = child("""
        import tablelog
        run = tablelog.init(project="p", id="exc01")
        for i in range(50):
            run.log({"x": i})
        raise ValueError("boom")
    """, q)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "ValueError: boom" in err
    got = queued(q, "exc01")
    assert got.seqs == list(range(50))
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("failed", 1)


def test_sys_exit_3_without_with_is_failed_with_exit_code_3(tmp_path: Path) -> None:
    q = tmp_path / "q"
    proc = child("""
        import sys, tablelog
        run = tablelog.init(project="p", id="exit301")
        for i in range(50):
            run.log({"x": i})
        sys.exit(3)
    """, q)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    got = queued(q, "exit301")
    assert got.seqs == list(range(50))
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("failed", 3)


def test_with_block_sys_exit_and_mark_preempting(tmp_path: Path) -> None:
    q = tmp_path / "q"
    proc = child("""
        import sys, tablelog
        with tablelog.init(project="p", id="with01") as run:
            run.log({"x": 1})
            run.mark_preempting()
            sys.exit(1)
    """, q)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    got = queued(q, "with01")
    assert got.end is not None and (got.end["state"], got.end["exit_code"]) == ("preempted", 1)


# A writer that cannot keep up: 60 tables logged while no commit can go through (the
# test holds the blob store's lock: `stalled_writers`), then finish() with a 1 s bound.
BEHIND_FINISH = """
    import sys, time, warnings
    import numpy as np
    import tablelog
    run = tablelog.init(project="p", id="behind01")
    rng = np.random.default_rng(0)
    for i in range(60):
        run.log({"seq": i, "t": tablelog.Table(columns=list("abcd"),
                                               data=rng.random((2000, 4)))})
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.finish(timeout=1.0)
    print("took", time.monotonic() - started, flush=True)
    print("not_persisted", len(run.not_persisted), flush=True)
    for w in caught:
        print("warning", w.message, flush=True)
    time.sleep(3)  # the writer thread must not crash after finish returned
"""


def test_finish_timeout_with_writer_behind_names_what_was_not_committed(tmp_path: Path
                                                                        ) -> None:
    q = tmp_path / "q"
    with stalled_writers(q):
        proc = child(BEHIND_FINISH, q)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert float(lines["took"]) < 1.0 + 1.0
    assert int(lines["not_persisted"]) == 61, out  # the 60 logs and init()'s run update
    assert "not persisted" in lines["warning"] and "log steps 0-59" in lines["warning"]
    assert "Traceback" not in err and "Exception in thread" not in err, err
    got = queued(q, "behind01")
    assert got.seqs == []
    assert got.end is not None and got.end["state"] == "finished"


def test_exit_hook_holds_its_bound_and_warns_what_it_could_not_commit(tmp_path: Path) -> None:
    c = bounded_exit(tmp_path, trainers=1, tables=60, rows=2_000, exit_timeout_s=1.0,
                     stalled=True)
    c.assert_ok()
    assert any("; 60 of 60 rows not committed in time" in n for n in c.notes), c.notes


BROKEN_MEDIA = """
    import tablelog
    class Broken(tablelog.Image):
        def _encode(self):
            return 1 / 0
    run = tablelog.init(project="p", id="bug01")
    img = Broken(__import__("numpy").zeros((4, 4, 3), dtype="uint8"))
    for i in range(3):
        run.log({"x": i, "img": img})
    run.log({"x": 3})
    run.finish()
    print("not_persisted", len(run.not_persisted), flush=True)
"""


def test_an_internal_error_logs_its_traceback_once_and_is_not_persisted(tmp_path: Path
                                                                        ) -> None:
    q = tmp_path / "q"
    proc = child(BROKEN_MEDIA, q)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err.count("Traceback") == 1, err
    assert "ZeroDivisionError" in err and "in _encode" in err
    assert "not_persisted 3" in out
    assert queued(q, "bug01").seqs == [3]


def test_signals_scenario_small(tmp_path: Path) -> None:
    started = time.monotonic()
    c = signals(tmp_path, rows=200, rounds=1)
    c.assert_ok()
    assert c.sent == 800 and time.monotonic() - started < 120


LIFE = """
    import sys, time
    import tablelog
    run = tablelog.init(project="p", id=sys.argv[1])
    run.log({"x": 1})
    run.log({"x": 2})
    if sys.argv[2] == "finish":
        run.finish()
    elif sys.argv[2] == "exit3":
        sys.exit(3)
    else:
        run.flush()
        print("logged", flush=True)
        for _ in range(600):  # bounded: 60 s
            time.sleep(0.1)
"""


def test_status_shows_how_each_run_ended_or_that_it_is_still_running(tmp_path: Path) -> None:
    from tests.reliability.harness import child_env, cli

    q = tmp_path / "q"
    for run_id, how in (("fin01", "finish"), ("fail01", "exit3")):
        proc = child(LIFE, q, run_id, how)
        proc.communicate(timeout=60)
    killed, live = child(LIFE, q, "kill01", "wait"), child(LIFE, q, "live01", "wait")
    try:
        assert wait_for_line(killed, "logged") and wait_for_line(live, "logged")
        killed.kill()
        killed.communicate(timeout=60)
        out = cli("status", "--dir", str(q), env=child_env(q, None)).stdout
        lines = {line.split(":", 1)[0].split()[-1]: line for line in out.splitlines()
                 if "p/" in line}
        assert "finished (exit code 0)" in lines["p/fin01"], out
        assert "failed (exit code 3)" in lines["p/fail01"], out
        assert "no end recorded" in lines["p/kill01"], out
        assert f"running (pid {live.pid})" in lines["p/live01"], out
    finally:
        live.send_signal(signal.SIGTERM)
        live.communicate(timeout=60)
    out = cli("status", "--dir", str(q), env=child_env(q, None)).stdout
    assert "p/live01: step 2, preempted (exit code 143)" in out, out
