"""Scenarios 11-12: the agent's lifetime while runs are open (a pause longer than its
idle exit, the agent killed mid-run, two training processes sharing one agent), and
a wrong API key (the warning, the long 401 backoff, `tablelog sync` taking over).

Every scenario runs real training processes (online, agent auto-started by the
SDK), a real server and the real agent; rows are counted on the server's API.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any

from tests.conftest import ENTITY
from tests.reliability.harness import (
    PROJECT,
    Counts,
    Harness,
    child_env,
    cli,
    get_json,
    history_rows,
    tally,
    timed,
)

# A training process with pauses: logs `rows` rows (seq = base + i), then for each of
# `pauses` pauses flushes, prints "paused N" and waits for a line on stdin (the test
# decides how long the pause lasts), then logs `rows` more; finally finishes.
PAUSER = """
import sys
import tablelog
run_id, base, rows, pauses = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
run = tablelog.init(project="{project}", id=run_id)
print("ready", flush=True)
seq = base
for phase in range(pauses + 1):
    for i in range(rows):
        run.log({{"seq": seq, "loss": 1.0 / (seq + 1)}})
        seq += 1
    if phase < pauses:
        run.flush()
        print("paused", phase, flush=True)
        if not sys.stdin.readline():
            break
run.finish()
print("finished", flush=True)
"""


def pauser(run_id: str, base: int, rows: int, pauses: int, env: dict[str, str]
           ) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PAUSER.format(project=PROJECT), run_id, str(base), str(rows),
         str(pauses)], env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)


def wait_for(predicate: Any, timeout: float, every: float = 0.05) -> bool:
    """Poll a condition no event announces (the server's or the queue's state)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def stored_count(url: str, runs: dict[str, list[int]], key: str | None = None) -> int:
    kw = {"key": key} if key else {}
    return sum(len({r.get("seq") for r in history_rows(url, PROJECT, run, **kw)} & set(seqs))
               for run, seqs in runs.items())


def run_state(url: str, run_id: str, key: str | None = None) -> str | None:
    try:
        kw = {"key": key} if key else {}
        return str(get_json(url, f"/api/v1/runs/{ENTITY}/{PROJECT}/{run_id}", **kw)["state"])
    except urllib.error.HTTPError:
        return None


def lock_pid(directory: Path) -> int | None:
    from tablelog_agent.lock import lock_holder

    return lock_holder(directory)


class AgentWatch:
    """Samples /proc every 20 ms on a thread: every agent process for `directory`
    (`python -m tablelog_agent --dir <directory>`) that was ever alive, when each was
    seen first and last, and which of them held the directory's lock (served it).

    Two agent processes can be alive at once for a moment without competing: an agent
    that idles out lets go of the lock and looks at the queue again, and an SDK that
    commits in that window spawns another; the one that loses the lock exits at once
    without serving (`tablelog_agent.cli.run_agent`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.needle = str(directory).encode()
        self.pids: set[int] = set()
        self.holders: set[int] = set()  # pids seen holding agent.lock
        self.first_seen: dict[int, float] = {}
        self.last_seen: dict[int, float] = {}
        self.most_at_once = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> AgentWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            alive = set()
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        args = f.read().split(b"\0")
                except OSError:
                    continue
                if b"tablelog_agent" in args and self.needle in args:
                    alive.add(int(entry))
            now = time.monotonic()
            for pid in alive:
                self.first_seen.setdefault(pid, now)
                self.last_seen[pid] = now
            holder = lock_pid(self.directory)
            if holder in alive:
                self.holders.add(holder)
            self.pids |= alive
            self.most_at_once = max(self.most_at_once, len(alive))

    def lingering_non_servers(self, bound_s: float = 5.0) -> dict[int, float]:
        """Agent processes that never held the lock yet lived longer than `bound_s`."""
        return {pid: round(self.last_seen[pid] - self.first_seen[pid], 2)
                for pid in self.pids - self.holders
                if self.last_seen[pid] - self.first_seen[pid] > bound_s}


def _read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


def resume(c: Counts, proc: subprocess.Popen[str]) -> None:
    """End a trainer's pause; a trainer that already died is a failed check that says
    how it died, not a BrokenPipeError in the test."""
    assert proc.stdin is not None
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    except BrokenPipeError:
        _, err = proc.communicate(timeout=30)
        c.check(False, "each trainer is alive at the end of its pause",
                f"exit {proc.returncode}: {err[-1500:]}")


# -- 11. a pause longer than the agent's idle exit -----------------------------------------------


def pause(work: Path, *, trainers: int = 1, rows: int = 50, pauses: int = 1,
          pause_s: float = 3.0, idle_exit_s: float = 1.0, kill_agent: bool = False) -> Counts:
    """`trainers` training processes log online into one queue directory, with the
    agent auto-started by the SDK and an idle exit of `idle_exit_s`: `rows` rows, then
    `pauses` times a pause of `pause_s` (longer than the idle exit; everything logged
    before it is on the server first) followed by `rows` more rows; then finish.
    With `kill_agent` the agent is killed with SIGKILL during the first pause. The
    server must end up with every row and every run finished; one agent process serves
    at a time (one in all, or one more per kill), and it exits once the runs are done."""
    c = Counts("11. pause > idle exit" + (", agent killed" if kill_agent else ""))
    with Harness(work) as h, timed(c):
        q = work / "queue"
        srv = h.server()
        env = child_env(q, srv.url, TABLELOG_MODE="online", TABLELOG_AGENT_AUTOSTART="1",
                        TABLELOG_AGENT_IDLE_EXIT=str(idle_exit_s))
        runs = {f"pause{t}": [t * 1_000_000 + i for i in range((pauses + 1) * rows)]
                for t in range(trainers)}
        with AgentWatch(q) as watch:
            procs = [pauser(run, seqs[0], rows, pauses, env) for run, seqs in runs.items()]
            for p in procs:
                c.check(_read_line(p) == "ready", "each trainer started")
            killed = 0
            for phase in range(pauses):
                for p in procs:
                    line = _read_line(p)
                    c.check(line == f"paused {phase}", "each trainer reached its pause", line)
                so_far = {r: s[:(phase + 1) * rows] for r, s in runs.items()}
                c.check(wait_for(lambda s=so_far: stored_count(srv.url, s) == trainers * len(
                    next(iter(s.values()))), 30), "what was logged before a pause is on "
                    "the server before the pause ends", stored_count(srv.url, so_far))
                if kill_agent and phase == 0:
                    holder = lock_pid(q)
                    if c.check(bool(holder), "an agent serves the queue at the pause", holder):
                        assert holder is not None
                        os.kill(holder, signal.SIGKILL)
                        killed += 1
                        c.check(wait_for(lambda: lock_pid(q) is None, 30),
                                "the killed agent let go of the lock")
                time.sleep(pause_s)  # the pause itself: training is busy elsewhere
                if not (kill_agent and phase == 0):
                    c.check(lock_pid(q) is not None, "after a pause longer than the idle exit "
                            "an agent still serves the directory", f"pause {phase}")
                for p in procs:
                    resume(c, p)
            for p in procs:
                _, err = p.communicate(timeout=120)
                c.check(p.returncode == 0, "each trainer finished (exit 0)",
                        f"exit {p.returncode}: {err[-400:]}")
                c.check("Traceback" not in err and "tablelog:" not in err,
                        "no trainer printed a warning or traceback", err[-400:])
            total = sum(len(s) for s in runs.values())
            c.check(wait_for(lambda: stored_count(srv.url, runs) == total, 20),
                    "every row reached the server with no sync run",
                    f"{stored_count(srv.url, runs)} of {total}")
            c.check(wait_for(lambda: all(run_state(srv.url, r) == "finished" for r in runs), 20),
                    "every run's end reached the server (state finished)",
                    {r: run_state(srv.url, r) for r in runs})
            exited = wait_for(lambda: lock_pid(q) is None, idle_exit_s + 15)
            c.check(exited, "the agent exits by itself once no run is open", lock_pid(q))
        log = (q / "agent.log").read_text() if (q / "agent.log").exists() else ""
        c.check("Traceback" not in log, "agent.log holds no traceback", log[-500:])
        lingering = watch.lingering_non_servers()
        c.check(len(watch.holders) >= 1 + killed and not lingering,
                "agents never compete: one serves at a time (a new one after each kill), "
                "and any other agent process exits within 5 s without serving",
                f"{len(watch.pids)} agent processes, {len(watch.holders)} served, "
                f"{watch.most_at_once} alive at once; lingering without serving: {lingering}")
        tally(c, srv.url, runs)
        c.done = (f"{trainers} trainer(s) online, agent idle exit {idle_exit_s:g}s: {rows} rows,"
                  f" then {pauses}x (pause {pause_s:g}s, {rows} rows), finish"
                  + ("; agent SIGKILLed in the first pause" if kill_agent else ""))
        c.note(f"pause: {len(watch.pids)} agent process(es) in all, {len(watch.holders)} "
               f"served, at most "
               f"{watch.most_at_once} at once; agent exited by itself after the runs: {exited}")
    return c


# -- 12. a wrong API key -------------------------------------------------------------------------

RIGHT_KEY = "right-Key-for-the-lifetime-suite-5521"
WRONG_KEY = "wr0ng-Key-for-the-lifetime-suite-7734"
REFUSED = "refused the API key (TABLELOG_API_KEY)"


def wrong_key(work: Path, *, rows: int = 50, stuck_s: float = 4.0) -> Counts:
    """A training process logs online with a key the server refuses (the agent is
    auto-started with the SDK's defaults): `rows` rows, a pause until the agent has
    recorded the refusal, `rows` more, finish. Its stderr must carry the warning once;
    while stuck (`stuck_s` more seconds) the agent must wait long between tries. Then
    `tablelog sync` with the right key stops that agent, takes over and delivers."""
    c = Counts("12. wrong API key, then sync")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        srv = h.server(keys={RIGHT_KEY: ENTITY})
        proxy = h.proxy(srv.url)
        env = child_env(q, proxy.url, key=WRONG_KEY, TABLELOG_MODE="online",
                        TABLELOG_AGENT_AUTOSTART="1", TABLELOG_AGENT_IDLE_EXIT="1")
        runs = {"wrongkey": list(range(2 * rows))}
        p = pauser("wrongkey", 0, rows, 1, env)
        c.check(_read_line(p) == "ready", "the trainer started")
        c.check(_read_line(p) == "paused 0", "the trainer reached its pause")
        from tablelog.store.queue import Queue

        def refused() -> bool:
            with Queue(q) as queue:
                return bool(queue.agent_state().get("auth_failed"))

        c.check(wait_for(refused, 60, every=0.1), "the agent recorded the refused key")
        first_refusal = time.monotonic()
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
        _, err = p.communicate(timeout=120)
        c.check(p.returncode == 0, "the trainer finished (exit 0)", err[-400:])
        c.check(err.count(REFUSED) == 1, "the trainer's stderr warns once about the refused "
                "key", f"{err.count(REFUSED)} warnings: {err[-600:]}")
        c.check("tablelog sync" in err, "the warning says what to do", err[-400:])
        stuck_pid = lock_pid(q)
        c.check(bool(stuck_pid), "the agent is still there, stuck on the wrong key", stuck_pid)
        time.sleep(max(0.0, stuck_s - (time.monotonic() - first_refusal)))  # it stays stuck
        stuck_for = time.monotonic() - first_refusal
        batches = [s for s in proxy.log if s.path == "/api/v1/batches"]
        c.check(all(s.status in (401, 403) for s in batches), "every batch was refused",
                [s.status for s in batches])
        gaps = [b.at - a.at for a, b in itertools.pairwise(batches)]
        # with the normal backoff (0.25 s, doubling) it would be ~5 tries in 4 s
        c.check(len(batches) <= 2 and all(g >= 5.0 for g in gaps),
                "the agent waited long between tries of the refused key",
                f"{len(batches)} batch posts in {stuck_for:.1f}s, gaps {gaps}")
        started = time.monotonic()
        done = cli("sync", "--dir", str(q), "--timeout", "30", "--no-progress",
                   env=child_env(q, proxy.url, key=RIGHT_KEY), timeout=180)
        took = time.monotonic() - started
        c.check(done.returncode == 0, "`tablelog sync` with the right key delivered",
                f"exit {done.returncode}: {done.stderr[-600:]}")
        c.check("is stuck" in done.stderr and "stopping it" in done.stderr,
                "sync said it stops the stuck agent", done.stderr[-400:])
        c.check(stuck_pid is not None and wait_for(lambda: not _alive(stuck_pid), 30),
                "the stuck agent is gone", stuck_pid)
        c.check(run_state(srv.url, "wrongkey", RIGHT_KEY) == "finished",
                "the run's end reached the server", run_state(srv.url, "wrongkey", RIGHT_KEY))
        tally(c, srv.url, runs, key=RIGHT_KEY)
        for text in (err, done.stderr, done.stdout):
            c.check(WRONG_KEY not in text and RIGHT_KEY not in text,
                    "no key appears in any output")
        c.requests = proxy.count()
        c.done = (f"trainer with a refused key, online, agent auto-started: {2 * rows} rows "
                  f"and finish (exit 0); then `tablelog sync` with the right key")
        c.note(f"wrong key: {len(batches)} refused batch post(s) in {stuck_for:.1f}s stuck "
               f"(gaps {', '.join(f'{g:.1f}s' for g in gaps) or 'none'}); sync took over and "
               f"delivered in {took:.1f}s")
    return c


def _alive(pid: int) -> bool:
    from tablelog_agent.status import pid_alive

    return pid_alive(pid)
