"""The reliability scenarios, shared by tests/reliability and bench/reliability_report.py.

Each scenario is a function ``(work_dir, *, size parameters, seed) -> Counts``:
it starts real processes under `work_dir`, does what its docstring says, counts
on the server, and records every check in the returned `Counts`. Tests call
them small and assert `Counts.assert_ok()`; the report calls them large.
Randomness is seeded; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.agent.faultproxy import Fault
from tests.reliability.harness import (
    PROJECT,
    Counts,
    Harness,
    agent_config,
    artifact_versions,
    child_env,
    cli,
    drain,
    free_port,
    history_rows,
    queue_state,
    tally,
    timed,
)

# -- a training workload, logged through the SDK -----------------------------------------------


@dataclass
class Workload:
    """What a workload logged: seqs per run, and how many versions each artifact got."""

    sent: dict[str, list[int]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    media: int = 0

    @property
    def rows(self) -> int:
        return sum(len(s) for s in self.sent.values())


def log_workload(queue_dir: Path, runs: int, rows: int, *, media_every: int = 5,
                 table_every: int = 0, artifact_bytes: int = 0, seed: int = 0,
                 prefix: str = "run") -> Workload:
    """Log `rows` history rows to each of `runs` runs with the SDK (offline, in this
    process): each row has a unique `seq`; every `media_every`-th row an image of its
    own; every `table_every`-th row a growing MUTABLE table (a new version each time);
    with `artifact_bytes`, one artifact holding a file of that size per run."""
    import numpy as np

    import tablelog

    rng = np.random.default_rng(seed)
    out = Workload()
    for r in range(runs):
        run_id = f"{prefix}{r:02d}"
        seqs = [r * 1_000_000 + i for i in range(rows)]
        table = tablelog.Table(columns=["seq", "score"], log_mode="MUTABLE")
        with tablelog.init(project=PROJECT, id=run_id, dir=queue_dir, mode="offline") as run:
            for i, seq in enumerate(seqs):
                row: dict[str, Any] = {"seq": seq, "loss": float(rng.random())}
                if media_every and i % media_every == 0:
                    pixels = rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8)
                    row["img"] = tablelog.Image(pixels, caption=f"s{seq}")
                    out.media += 1
                if table_every and i % table_every == table_every - 1:
                    table.add_data(seq, float(rng.random()))
                    row["preds"] = table
                    name = f"run-{run_id}-preds"
                    out.versions[name] = out.versions.get(name, 0) + 1
                run.log(row)
            if artifact_bytes:
                path = queue_dir.parent / f"weights-{run_id}.bin"
                path.write_bytes(rng.bytes(artifact_bytes))
                art = tablelog.Artifact(f"weights-{run_id}", "model")
                art.add_file(path, "weights.bin")
                run.log_artifact(art)
                out.versions[f"weights-{run_id}"] = 1
        out.sent[run_id] = seqs
    return out


def check_versions(c: Counts, url: str, versions: dict[str, int]) -> None:
    """Each artifact holds exactly the versions logged: none lost, none doubled."""
    for name, want in versions.items():
        got = artifact_versions(url, PROJECT, name)
        digests = [v["digest"] for v in got]
        c.check(len(got) == want and len(set(digests)) == len(digests),
                "each artifact: every version logged, each once",
                f"{name}: {want} logged, the server holds {len(got)} "
                f"({len(set(digests))} distinct)")


def check_queue_empty(c: Counts, queue_dir: Path) -> None:
    state = queue_state(queue_dir)
    c.check(state["pending"] == 0 and state["dead"] == 0, "the queue is empty, nothing dead",
            f"{state['pending']} pending, {state['dead']} dead: "
            f"{[d.reason for d in state['dead_letters'][:3]]}")
    c.check(state["integrity"] == "ok", "queue.db passes PRAGMA integrity_check",
            state["integrity"])


# -- 1. a misbehaving network ------------------------------------------------------------------


FAULTS_BACKOFF = {"backoff_base_s": 0.05, "backoff_cap_s": 0.4}
FAULTS_READ_TIMEOUT_S = 1.5  # a loaded 2-core machine must not time out by itself


def network_faults(work: Path, *, runs: int = 2, rows: int = 400, seed: int = 1) -> Counts:
    """Between agent and server, a proxy injects a 503 storm, 429s with Retry-After,
    a 502, slow answers (inside and past the read timeout), an answer held back after
    the server applied the batch, and connections cut mid-request (batch and a
    multi-MB blob) and mid-response (batch and blob query). The same queue is also
    drained once through a clean proxy, to know how many requests a fault-free
    upload takes."""
    c = Counts("1. network faults")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        w = log_workload(q, runs, rows, media_every=5, table_every=100,
                         artifact_bytes=3_000_000, seed=seed)
        clean_q = work / "queue-copy"
        shutil.copytree(q, clean_q)

        control = h.server()
        clean_proxy = h.proxy(control.url)
        cfg = {**FAULTS_BACKOFF, "read_timeout_s": FAULTS_READ_TIMEOUT_S,
               "batch_max_entries": 100}
        drain(clean_q, clean_proxy.url, **cfg)
        clean = clean_proxy.count()

        srv = h.server()
        proxy = h.proxy(srv.url)
        batches, missing, blobs = "/api/v1/batches", "/api/v1/blobs/missing", "/api/v1/blobs/"
        failing = [
            proxy.add(Fault(path=batches, status=503, times=4,
                            headers={"Retry-After": "0"})),  # a storm (Retry-After 0: retry)
            proxy.add(Fault(path=batches, status=503, times=2)),
            proxy.add(Fault(path=batches, status=429, headers={"Retry-After": "1"}, times=2)),
            proxy.add(Fault(path=missing, status=502)),
            proxy.add(Fault(path=batches, delay_s=FAULTS_READ_TIMEOUT_S * 1.5)),  # times out
            proxy.add(Fault(path=batches, hold_response_s=FAULTS_READ_TIMEOUT_S * 1.5)),
            proxy.add(Fault(path=blobs, method="PUT", min_body=1_000_000, cut="request",
                            times=2)),
            proxy.add(Fault(path=batches, cut="request")),
            proxy.add(Fault(path=batches, cut="response", times=2)),  # applied, answer lost
            proxy.add(Fault(path=missing, cut="response")),
        ]
        slow = proxy.add(Fault(path=batches, delay_s=0.3, times=3))  # slow but in time
        n_failing = sum(f.times or 0 for f in failing)

        import asyncio

        from tablelog_agent.agent import Agent

        async def run_agent() -> Any:
            async with Agent(agent_config(q, proxy.url, **cfg)) as agent:
                result = await asyncio.wait_for(agent.run(until_empty=True), 600)
                return result, agent.counters

        started = time.monotonic()
        result, counters = asyncio.run(run_agent())
        elapsed = time.monotonic() - started

        tally(c, srv.url, w.sent)
        check_versions(c, srv.url, w.versions)
        check_queue_empty(c, q)
        c.requests = proxy.count()
        c.check(str(result.reason) == "empty", "the agent drained the queue", result.reason)
        c.check(all(f.times == 0 for f in [*failing, slow]), "every injected fault was hit",
                [(f.path, f.status, f.cut, f.times) for f in failing if f.times])
        c.check(counters.failed_attempts == n_failing,
                f"each of the {n_failing} failures cost exactly one failed attempt",
                f"{counters.failed_attempts} failed attempts")
        budget = clean + 3 * n_failing
        c.check(c.requests <= budget,
                f"requests within budget: clean run's {clean} + 3 per failure = {budget}",
                f"{c.requests} requests")
        _check_backoff_gaps(c, proxy.log, batches)
        floor = 2 * 1.0 + (n_failing - 2) * FAULTS_BACKOFF["backoff_base_s"] / 2
        c.check(elapsed >= floor, f"took at least the sum of backoff floors ({floor:.2f}s)",
                f"{elapsed:.2f}s")
        c.done = (f"{runs} runs x {rows} rows (images, a growing table, a 3 MB artifact) "
                  f"through a fault proxy: {n_failing} failures injected (503 x6, 429+"
                  f"Retry-After x2, 502, timeout x2, cut request x3, cut response x3) "
                  f"+3 slow answers; clean upload = {clean} requests")
        c.note(f"network faults: {c.requests} requests against {clean} for a clean upload, "
               f"{counters.failed_attempts} failed attempts, {elapsed:.1f}s "
               f"(backoff base {FAULTS_BACKOFF['backoff_base_s']}s, "
               f"read timeout {FAULTS_READ_TIMEOUT_S}s)")
    return c


def _check_backoff_gaps(c: Counts, log: list[Any], path: str) -> None:
    """Batch POSTs are sequential: after a failed one the next must come after the
    backoff floor (base/2), and after a 429 with Retry-After: 1 at least 1 s later."""
    posts = [s for s in log if s.path == path]
    worst = ""
    ok = True
    for before, after in itertools.pairwise(posts):
        if before.status is not None and before.status < 300:
            continue
        floor = 1.0 if before.status == 429 else FAULTS_BACKOFF["backoff_base_s"] / 2
        gap = after.at - before.at
        if gap < floor * 0.95:
            ok = False
            worst = f"{gap * 1000:.0f} ms after a {before.status or 'cut'} (floor {floor}s)"
    c.check(ok, "no hot loop: every retry waited its backoff", worst)


# -- 2. kill -9 of the agent -------------------------------------------------------------------


def agent_kill9(work: Path, *, rows: int = 300, kills: int = 10, window_s: float = 0.3,
                seed: int = 2) -> Counts:
    """Two runs log `rows` rows each (every other row an image, a table every 250
    rows). Then `kills` - 1 times: start the real agent (`python -m tablelog_agent`)
    and kill -9 it at a random moment: every fifth one during its start-up (0-0.25 s
    after spawning it), the others while uploading (0..`window_s` s after the server
    answered its first request). The proxy slows each blob upload a little, so that
    the upload outlasts the kills on any machine. The last kill is aimed: the proxy
    holds back the answer to a batch the server has applied, and the agent dies before
    it can acknowledge it. Finally `tablelog sync` (a subprocess) drains the rest."""
    c = Counts("2. agent kill -9")
    rng = seeded(seed)
    parallel = 4  # the agent's default parallel blob uploads
    with Harness(work) as h, timed(c):
        q = work / "queue"
        w = log_workload(q, 2, rows, media_every=2, table_every=250, seed=seed)
        total_history = w.rows
        srv = h.server()
        proxy = h.proxy(srv.url)
        put_delay = 1.25 * (kills - 1) * window_s * parallel / max(1, w.media)
        slow_puts = Fault(path="/api/v1/blobs/", method="PUT", delay_s=put_delay, times=None)
        proxy.add(slow_puts)
        uploading = mid_upload = in_window = not_ready = at_start = before_ready = 0

        def kill(agent: Any) -> None:
            code = agent.kill9()
            c.check(code == -9, "each agent died of SIGKILL", f"exit status {code}")
            agent.close()

        def after_kill() -> int:
            nonlocal in_window
            pending = int(queue_state(q)["pending"])
            on_server = sum(len(v) for v in _server_seqs(srv.url, w.sent).values())
            # applied by the server but not acknowledged in the queue: resent later
            in_window += on_server + _pending_history(q) > total_history
            return pending

        for life in range(kills - 1):
            seen = proxy.count()
            agent = h.agent(q, proxy.url)
            if life % 5 == 4:  # during start-up: opening the queue, taking the lock
                time.sleep(rng.uniform(0, 0.25))  # the random moment to kill at
                before_ready += not agent.ready(timeout=0.001)
                kill(agent)
                at_start += 1
                after_kill()
                continue
            not_ready += not agent.ready()
            started = _wait_for(lambda s=seen: proxy.count() > s, timeout=60)
            time.sleep(rng.uniform(0, window_s))  # the random moment to kill at
            kill(agent)
            uploading += 1
            mid_upload += started and after_kill() > 0
        random_in_window = in_window

        # The aimed kill: the server applied a batch, its answer is held back.
        proxy.clear()
        held = proxy.add(Fault(path="/api/v1/batches", hold_response_s=120))
        proxy.add(slow_puts)
        agent = h.agent(q, proxy.url)
        not_ready += not agent.ready()
        applied = _wait_for(lambda: held.hits == 1 and sum(
            len(v) for v in _server_seqs(srv.url, w.sent).values()) > 0, timeout=120)
        c.check(applied, "the aimed kill found a batch applied and unanswered", held.hits)
        kill(agent)
        after_kill()
        c.check(not_ready == 0, "every agent not killed at start-up announced READY=1",
                f"{not_ready} did not")
        c.check(mid_upload == uploading, "every upload-phase kill hit an agent talking to the "
                "server with entries still queued", f"{mid_upload} of {uploading}")
        c.check(in_window > random_in_window, "the aimed kill landed between apply and "
                "acknowledge", f"{in_window - random_in_window}")

        proxy.clear()  # the rest goes at full speed
        done = cli("sync", "--dir", str(q), "--timeout", "60", env=child_env(q, proxy.url),
                   timeout=300)
        c.check(done.returncode == 0, "tablelog sync drained the rest", done.stderr[-500:])
        tally(c, srv.url, w.sent)
        check_versions(c, srv.url, w.versions)
        check_queue_empty(c, q)
        c.requests = proxy.count()
        c.done = (f"{w.rows:,} rows ({w.media:,} images, {sum(w.versions.values())} table "
                  f"versions) uploaded by the real agent (`python -m tablelog_agent`), "
                  f"kill -9 {kills} times: {at_start} at random moments of its start-up, "
                  f"{uploading} at random moments 0-{window_s}s into uploading, 1 aimed "
                  f"between apply and ack; then `tablelog sync`")
        c.note(f"agent kill -9: {kills} agents killed: {at_start} during start-up "
               f"({before_ready} before READY=1), {uploading} while uploading, 1 aimed; "
               f"kills between the server applying a batch and the queue acknowledging it: "
               f"{in_window} ({random_in_window} at random moments); those entries were "
               f"sent again and answered duplicate")
    return c


def _wait_for(predicate: Any, timeout: float) -> bool:
    """Poll a condition no event announces (a server's state seen from outside)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _pending_history(queue_dir: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{queue_dir / 'queue.db'}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM entries WHERE kind = 'history'")
                   .fetchone()[0])
    finally:
        conn.close()


def _server_seqs(url: str, sent: dict[str, list[int]]) -> dict[str, list[Any]]:
    return {run: [r.get("seq") for r in history_rows(url, PROJECT, run)] for run in sent}


# -- 3. kill -9 of the training process --------------------------------------------------------

# A training process: logs rows (seq = base + i; an image every 10th, a growing table
# every 100th), flushes every `flush_every` rows and prints how many rows were flushed.
TRAINER = """
import os, signal, sys
import numpy as np
import tablelog
run_id, base, rows, flush_every, suicide = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    int(sys.argv[4]), sys.argv[5] == "1"
rng = np.random.default_rng(base)
table = tablelog.Table(columns=["seq"], log_mode="MUTABLE")
run = tablelog.init(project="{project}", id=run_id)
print("ready", flush=True)
for i in range(rows):
    row = {{"seq": base + i, "loss": float(rng.random())}}
    if i % 10 == 0:
        row["img"] = tablelog.Image(rng.integers(0, 255, size=(8, 8, 3), dtype=np.uint8))
    if i % 100 == 99:
        table.add_data(base + i)
        row["preds"] = table
    run.log(row)
    if flush_every and i % flush_every == flush_every - 1:
        run.flush()
        print(i + 1, flush=True)
run.flush()
print("flushed", rows, flush=True)
if suicide:
    os.kill(os.getpid(), signal.SIGKILL)
run.finish()
"""


def trainer(run_id: str, base: int, rows: int, flush_every: int, kill_self: bool,
            env: dict[str, str]) -> Any:
    """Start the training process above (a Popen with text pipes)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-c", TRAINER.format(project=PROJECT), run_id, str(base), str(rows),
         str(flush_every), "1" if kill_self else "0"],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def queued_seqs(queue_dir: Path) -> dict[str, list[int]]:
    """The `seq` of every history entry still in the queue, per run, in queue order."""
    from tablelog import wire
    from tablelog.store.queue import Queue

    out: dict[str, list[int]] = {}
    with Queue(queue_dir) as q:
        for e in q.claim_batch(max_entries=10_000_000, max_bytes=1 << 40):
            if e.kind == "history":
                entry = wire.decode_entry(e.payload)
                out.setdefault(entry.run_id, []).append(entry.body["row"]["seq"])
    return out


def trainer_kill9(work: Path, *, flushed_rows: int = 300, random_kills: int = 5,
                  max_wait_s: float = 1.0, seed: int = 3) -> Counts:
    """(a) A training process logs `flushed_rows` rows (images, a growing table), calls
    `run.flush()` and kills itself with SIGKILL at once. (b) `random_kills` training
    processes log rows in a loop (flushing every 50 rows and saying so) and are
    killed with SIGKILL at a random moment, without a flush. After each kill the
    queue must open, pass SQLite's integrity check and hold every row flushed before
    the kill, in order with no gaps; at the end the agent delivers everything
    committed, and the server must hold exactly that."""
    from tablelog.store.queue import Queue

    c = Counts("3. training kill -9")
    rng = seeded(seed)
    with Harness(work) as h, timed(c):
        q = work / "queue"
        env = child_env(q, None, TABLELOG_MODE="offline")
        proc = trainer("flushed", 0, flushed_rows, 0, True, env)
        _out, err = proc.communicate(timeout=300)
        c.check(proc.returncode == -9, "(a) the trainer died of SIGKILL right after flush()",
                f"exit {proc.returncode}: {err[-300:]}")
        after_flush = queued_seqs(q).get("flushed", [])
        c.check(after_flush == list(range(flushed_rows)),
                "(a) every row logged before flush() is in the queue",
                f"{len(after_flush)} of {flushed_rows}")
        sent: dict[str, list[int]] = {"flushed": list(range(flushed_rows))}

        short = 0
        for k in range(random_kills):
            run_id, base = f"killed{k:02d}", (k + 1) * 1_000_000
            proc = trainer(run_id, base, 1_000_000, 50, False, env)
            assert proc.stdout is not None
            first = proc.stdout.readline()  # "ready": init() returned
            c.check(first.strip() == "ready", "the trainer started", first)
            time.sleep(rng.uniform(0, max_wait_s))  # the random moment
            proc.kill()
            rest, err = proc.communicate(timeout=60)
            flushed = max([int(x) for x in rest.split() if x.isdigit()] or [0])
            try:
                Queue(q).close()
                opened = True
            except Exception as exc:
                opened = False
                c.check(False, "the queue opens after the kill", repr(exc))
            state = queue_state(q)
            c.check(opened and state["integrity"] == "ok",
                    "after each kill the queue opens and passes integrity_check",
                    state["integrity"])
            committed = queued_seqs(q).get(run_id, [])
            c.check(committed == [base + i for i in range(len(committed))],
                    "after each kill the committed rows are a gap-free prefix",
                    f"run {run_id}: {committed[:3]}...")
            c.check(len(committed) >= flushed, "every row flushed before a kill is committed",
                    f"run {run_id}: {len(committed)} committed < {flushed} flushed")
            short += len(committed) < 50
            sent[run_id] = committed
        srv = h.server()
        proxy = h.proxy(srv.url)
        outcome = drain(q, proxy.url)
        c.check(outcome.dead == 0 and outcome.left == 0, "the agent delivered everything",
                f"{outcome.dead} dead, {outcome.left} left")
        tally(c, srv.url, sent)
        check_queue_empty(c, q)
        c.requests = proxy.count()
        killed_rows = sum(len(v) for k_, v in sent.items() if k_ != "flushed")
        c.done = (f"(a) {flushed_rows} rows, flush(), SIGKILL: all in the queue; "
                  f"(b) {random_kills} trainers SIGKILLed at random moments without flush "
                  f"({killed_rows:,} rows committed by then); queue checked after each kill, "
                  f"then delivered")
        c.note(f"training kill -9: {random_kills} random kills; {short} of them before the "
               f"first 50 rows were committed")
    return c


# -- 4. the server away ------------------------------------------------------------------------

# A training loop that times itself: each step does some numpy work (the "model"),
# then logs a row (an image every 10th step, a growing table every 100th).
STEP_TIMER = """
import json, sys, time
import numpy as np
import tablelog
run_id, base, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(7)
w = rng.random((256, 256))
table = tablelog.Table(columns=["seq", "score"], log_mode="MUTABLE")
run = tablelog.init(project="{project}", id=run_id)
step_s, log_s = [], []
for i in range(steps):
    t0 = time.perf_counter()
    for _ in range(3):
        w = np.tanh(w @ w.T / 256.0)
    row = {{"seq": base + i, "loss": float(w[0, 0])}}
    if i % 10 == 0:
        row["img"] = tablelog.Image(rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8))
    if i % 100 == 99:
        table.add_data(base + i, float(w[1, 1]))
        row["preds"] = table
    t1 = time.perf_counter()
    run.log(row)
    t2 = time.perf_counter()
    step_s.append(t2 - t0)
    log_s.append(t2 - t1)
run.finish()
print(json.dumps({{"step_s": step_s, "log_s": log_s}}))
"""


@dataclass
class StepTimes:
    step_s: list[float]
    log_s: list[float]

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def describe(self) -> str:
        ms = 1000
        return (f"step median {self.pct(self.step_s, 0.5) * ms:.2f} ms, "
                f"p95 {self.pct(self.step_s, 0.95) * ms:.2f} ms, "
                f"max {max(self.step_s) * ms:.1f} ms; log() median "
                f"{self.pct(self.log_s, 0.5) * ms:.3f} ms, "
                f"p99 {self.pct(self.log_s, 0.99) * ms:.2f} ms")


def _timed_training(queue_dir: Path, run_id: str, base: int, steps: int,
                    env: dict[str, str]) -> tuple[StepTimes | None, str]:
    import json
    import subprocess
    import sys

    env = {**env, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", STEP_TIMER.format(project=PROJECT), run_id,
                           str(base), str(steps)], env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        return None, done.stderr[-1000:]
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return StepTimes(data["step_s"], data["log_s"]), done.stderr


def server_down(work: Path, *, steps: int = 600, rounds: int = 1,
                slowdown_bound: float = 1.5) -> Counts:
    """Training runs offline (the baseline: no agent, no network) and online with the
    server down for the whole run (the SDK starts the real agent, which keeps failing
    to connect and backs off), alternating: offline, down, offline, ... , offline.
    The median step time with the server down is compared with the slower of the
    offline medians (their spread is the machine's noise). Then the server starts at
    the agent's URL and `tablelog sync` watches that same agent deliver everything."""
    from tablelog_agent.lock import lock_holder

    c = Counts("4a. server down")
    with Harness(work) as h, timed(c):
        port = free_port()  # nothing listens there until the server starts
        url = f"http://127.0.0.1:{port}"
        offline_runs: list[StepTimes] = []
        down = StepTimes([], [])
        sent: dict[str, list[int]] = {}
        q = work / "queue-online"

        def run_offline(r: int) -> None:
            d = work / f"queue-offline-{r}"
            times, err = _timed_training(d, f"offline{r}", 0, steps,
                                         child_env(d, None, TABLELOG_MODE="offline"))
            c.check(times is not None, "the offline baseline ran", err)
            if times:
                offline_runs.append(times)

        for r in range(rounds):
            run_offline(r)
            env = child_env(q, url, TABLELOG_MODE="online", TABLELOG_AGENT_AUTOSTART="1",
                            TABLELOG_AGENT_IDLE_EXIT="2")
            run_id, base = f"down{r}", (r + 1) * 1_000_000
            times, err = _timed_training(q, run_id, base, steps, env)
            c.check(times is not None and "Traceback" not in err,
                    "training with the server down ran cleanly", err)
            if times:
                down.step_s += times.step_s
                down.log_s += times.log_s
            sent[run_id] = [base + i for i in range(steps)]
        run_offline(rounds)
        offline = StepTimes([t for o in offline_runs for t in o.step_s],
                            [t for o in offline_runs for t in o.log_s])
        medians = [StepTimes.pct(o.step_s, 0.5) for o in offline_runs] or [float("nan")]
        from tablelog.store.queue import Queue

        def failures() -> int:
            with Queue(q) as queue:
                return int(queue.agent_state().get("failed_attempts") or 0)

        # (the agent starts in the background: on a busy machine it may still be starting)
        c.check(_wait_for(lambda: lock_holder(q), 60), "the SDK started an agent",
                "no agent holds the queue's lock")
        holder = lock_holder(q)
        c.check(_wait_for(lambda: failures() > 0, 60),
                "the agent tried and failed while the server was down", "no failed attempt")
        failed = failures()
        state = queue_state(q)
        c.check(state["pending"] >= steps * rounds, "everything waits in the queue",
                f"{state['pending']} pending")
        base_median = max(medians)
        noise = max(medians) / min(medians) - 1
        down_median = StepTimes.pct(down.step_s, 0.5) if down.step_s else float("inf")
        ratio = down_median / base_median
        c.check(ratio <= slowdown_bound,
                f"median step time with the server down within {slowdown_bound}x the "
                f"slower offline run's", f"{ratio:.2f}x ({down_median * 1000:.2f} ms vs "
                f"{base_median * 1000:.2f} ms)")

        srv = h.server(port=port)
        back = time.monotonic()
        done = cli("sync", "--dir", str(q), "--timeout", "120", "--no-progress",
                   env=child_env(q, url), timeout=300)
        delivered_after = time.monotonic() - back
        c.check(done.returncode == 0, "sync watched the agent deliver everything",
                done.stderr[-500:])
        c.check(f"(pid {holder}) already serves" in done.stderr,
                "the SDK's own agent did the delivery", done.stderr[-300:])
        tally(c, srv.url, sent)
        check_queue_empty(c, q)
        _stop_agent(q, c)
        with Queue(q) as queue:
            c.requests = queue.agent_state().get("requests")
        c.done = (f"{rounds} x {steps} training steps (numpy work + log: images, a growing "
                  f"table) online with the server down (the SDK's agent retrying), between "
                  f"{rounds + 1} offline runs of the same; then the server starts. Median step "
                  f"{down_median * 1000:.2f} ms down vs {base_median * 1000:.2f} ms offline "
                  f"({ratio:.2f}x; offline runs differ by {noise:.0%})")
        c.note(f"server down, offline ({len(offline_runs)} runs): {offline.describe()}; "
               f"medians {', '.join(f'{m * 1000:.2f}' for m in medians)} ms")
        c.note(f"server down, online with the server down: {down.describe()} "
               f"(median step {ratio:.2f}x the slower offline run's); the agent failed "
               f"{failed} times meanwhile")
        c.note(f"server down: everything delivered {delivered_after:.1f}s after the server came "
               f"back (includes the agent's backoff, capped at 60s)")
    return c


def _stop_agent(queue_dir: Path, c: Counts) -> None:
    """SIGTERM the agent holding the queue's lock (not our child: wait for the lock)."""
    import signal

    from tablelog_agent.lock import lock_holder

    holder = lock_holder(queue_dir)
    if holder:
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder, signal.SIGTERM)
        c.check(_wait_for(lambda: lock_holder(queue_dir) is None, 30),
                "the agent stopped on SIGTERM", holder)


def server_restart(work: Path, *, runs: int = 2, rows: int = 600, seed: int = 5) -> Counts:
    """The agent uploads (batches of 100) while the server is killed with SIGKILL and
    restarted once a third of the rows arrived, and stopped with SIGTERM and
    restarted at two thirds; same port, same data directory."""
    import threading

    c = Counts("4b. server restarted mid-upload")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        w = log_workload(q, runs, rows, media_every=10, table_every=200, seed=seed)
        srv = h.server()
        restarts: list[str] = []

        def restart_twice() -> None:
            for fraction, hard in ((1 / 3, True), (2 / 3, False)):
                reached = _wait_for(lambda f=fraction: _stored(srv.url, w) >= f * w.rows, 60)
                c.check(reached, f"{fraction:.0%} of the rows arrived", _stored(srv.url, w))
                at = _stored(srv.url, w)
                srv.stop(sig_kill=hard)
                left = _pending_history(q)  # nothing is acknowledged while it is down
                srv.start(timeout=60)
                c.check(left > 0, "each restart came with rows still queued", left)
                restarts.append(f"{'SIGKILL' if hard else 'SIGTERM'} with {at:,} rows "
                                f"stored and {left:,} queued")

        restarter = threading.Thread(target=restart_twice, daemon=True)
        restarter.start()
        outcome = drain(q, srv.url, timeout_s=60, batch_max_entries=100)
        restarter.join(180)
        c.check(not restarter.is_alive() and len(restarts) == 2,
                "the server was restarted twice mid-upload", restarts)
        c.check(outcome.left == 0 and outcome.dead == 0 and not outcome.timed_out,
                "the agent delivered everything", outcome)
        tally(c, srv.url, w.sent)
        check_versions(c, srv.url, w.versions)
        check_queue_empty(c, q)
        from tablelog.store.queue import Queue

        with Queue(q) as queue:
            state = queue.agent_state()
        c.requests = state.get("requests")
        c.done = (f"{w.rows:,} rows ({w.media} images, {sum(w.versions.values())} table "
                  f"versions) uploading in batches of 100; server restarted twice mid-upload: "
                  + ", ".join(restarts))
        c.note(f"server restart: {state.get('failed_attempts')} failed attempts while it was "
               f"away")
    return c


def _stored(url: str, w: Workload) -> int:
    try:
        return sum(len(history_rows(url, PROJECT, run)) for run in w.sent)
    except OSError:  # the server is restarting
        return 0


# -- 5. poison entries -------------------------------------------------------------------------


def _history(run_id: str, step: int, seq: int, entity: str | None = None) -> Any:
    from tablelog import wire
    from tablelog.store.queue import NewEntry

    payload = wire.encode_entry(wire.Kind.HISTORY, entity=entity, project=PROJECT,
                                run_id=run_id, body={"step": step, "row": {"seq": seq}})
    return NewEntry(run=f"/{PROJECT}/{run_id}", kind="history", payload=payload)


def _run_start(run_id: str) -> Any:
    from tablelog import wire
    from tablelog.store.queue import NewEntry

    payload = wire.encode_entry(wire.Kind.RUN, entity=None, project=PROJECT, run_id=run_id,
                                body={"name": run_id, "config": {}, "tags": [],
                                      "started_at": time.time()})
    return NewEntry(run=f"/{PROJECT}/{run_id}", kind="run", payload=payload)


def _artifact(queue: Any, run_id: str, name: str, data: bytes) -> Any:
    from tablelog import wire
    from tablelog.store.queue import NewEntry

    sha = queue.blobs.put(data)
    entries = {"blob.bin": wire.ManifestEntry("file", sha, len(data))}
    blobs = wire.artifact_blobs(entries)
    body = {"name": name, "type": "dataset", "description": "", "metadata": {},
            "aliases": ["latest"], "digest": wire.artifact_digest(entries),
            "entries": {k: v.to_plain() for k, v in entries.items()}, "blobs": blobs}
    payload = wire.encode_entry(wire.Kind.ARTIFACT, entity=None, project=PROJECT,
                                run_id=run_id, body=body)
    return NewEntry(run=f"/{PROJECT}/{run_id}", kind="artifact", payload=payload,
                    blobs=tuple(blobs), blob_bytes=len(data))


POISON_REASONS = {
    "garbage": "rejected by the server",
    "negative step": "step",
    "other entity": "forbidden",
    "oversized blob": "413",
}


def poison(work: Path, *, runs: int = 2, rows: int = 300, seed: int = 6) -> Counts:
    """Good history rows with four poison entries among them, in the same runs: bytes
    that are not msgpack, a negative step, a row for another entity, and an artifact
    whose blob is over the server's --max-blob-bytes. `tablelog sync` (a subprocess)
    must dead-letter exactly those, with the server's reason, and deliver the rest in
    order. Then the server's limit is raised, `tablelog retry-dead` re-queues the
    four, and a second sync delivers the artifact and dead-letters the other three
    again."""
    import json

    from tablelog.store.queue import NewEntry, Queue

    c = Counts("5. poison entries")
    rng = seeded(seed)
    with Harness(work) as h, timed(c):
        q = work / "queue"
        sent: dict[str, list[int]] = {}
        with Queue(q) as queue:
            batch: list[Any] = []
            for r in range(runs):
                run_id = f"run{r:02d}"
                sent[run_id] = [r * 1_000_000 + i for i in range(rows)]
                batch.append(_run_start(run_id))
                batch += [_history(run_id, i, s) for i, s in enumerate(sent[run_id])]
            first = f"/{PROJECT}/run00"
            poisons = {
                "garbage": NewEntry(run=first, kind="history", payload=b"\xc1 not msgpack"),
                "negative step": _history("run00", -1, -1),
                "other entity": _history("run00", 10**6, -2, entity="other"),
                "oversized blob": _artifact(queue, "run00", "too-big", rng.randbytes(300_000)),
            }
            for p in poisons.values():  # each lands somewhere among the good rows
                batch.insert(rng.randrange(2, len(batch)), p)
            queue.put_many(batch)
        srv = h.server(extra_args=["--max-blob-bytes", "100000"])
        proxy = h.proxy(srv.url)
        env = child_env(q, proxy.url)
        first_sync = cli("sync", "--dir", str(q), "--timeout", "60", env=env)
        c.check(first_sync.returncode == 1 and "4 dead-lettered" in first_sync.stderr,
                "sync exits 1 and says 4 entries were dead-lettered", first_sync.stderr[-400:])
        state = queue_state(q)
        reasons = [d.reason for d in state["dead_letters"]]
        c.check(len(reasons) == 4, "exactly the 4 poison entries are dead letters", reasons)
        for label, needle in POISON_REASONS.items():
            c.check(any(needle in r for r in reasons), f"dead letter with a reason: {label}",
                    reasons)
        attempts = [d.attempts for d in state["dead_letters"]]
        c.check(max(attempts, default=0) <= 1, "each was dead-lettered at its first attempt",
                attempts)
        status = cli("status", "--dir", str(q), env=env)
        status_json = json.loads(cli("status", "--dir", str(q), "--json", env=env).stdout)
        c.check("dead       4 entries" in status.stdout and "retry-dead" in status.stdout,
                "`tablelog status` shows them", status.stdout[-600:])
        c.check(status_json["queue"]["dead"] == 4 and len(status_json["queue"]["dead_letters"])
                == 4, "`tablelog status --json` lists them", status_json["queue"])
        tally(c, srv.url, sent)  # the rest flowed, in order

        srv.extra_args = ["--max-blob-bytes", "1000000"]  # the operator fixes the limit
        srv.restart()
        again = cli("retry-dead", "--dir", str(q), env=env)
        c.check(again.returncode == 0 and "re-queued 4 dead letters" in again.stdout,
                "`tablelog retry-dead` re-queues the 4", again.stdout + again.stderr)
        second = cli("sync", "--dir", str(q), "--timeout", "60", env=env)
        c.check(second.returncode == 1 and "3 dead-lettered" in second.stderr,
                "the second sync delivers the artifact, dead-letters the 3 still bad",
                second.stderr[-400:])
        c.check(len(artifact_versions(srv.url, PROJECT, "too-big")) == 1,
                "the artifact arrived once its blob was allowed", "no version")
        c.check(queue_state(q)["dead"] == 3 and queue_state(q)["pending"] == 0,
                "3 dead letters left, nothing pending", queue_state(q))
        recount = Counts("recount")
        tally(recount, srv.url, sent)
        c.check(recount.stored == c.stored and recount.duplicated == 0,
                "retrying the dead letters stored no good row twice", recount)
        c.requests = proxy.count()
        c.done = (f"{runs} runs x {rows} rows with 4 poison entries among them (not msgpack, "
                  f"negative step, another entity, a blob over the server's limit); sync, "
                  f"status, raise the limit, retry-dead, sync")
        c.note("poison: dead-letter reasons: " + " | ".join(r[:90] for r in reasons))
    return c


# -- 6. disk full ------------------------------------------------------------------------------

# Logs `phase1` rows (an image every other row) until the disk is full, then a table
# grown to three chunks (which cannot be written either); waits for a line on stdin (the
# operator frees space); logs the same table again, unchanged, `phase2` more rows, and
# the table once more with a row added. Step == seq.
DISK_FILLER = """
import json, sys
import numpy as np
import tablelog
phase1, phase2 = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(11)
run = tablelog.init(project="{project}", id="full")
table = tablelog.Table(columns=["seq", "text"], log_mode="MUTABLE")
table.add_data(0, "x" * 50)
run.log({{"seq": 0, "preds": table}})
run.flush()
def row(i):
    r = {{"seq": i, "loss": float(rng.random())}}
    if i % 2 == 0:
        r["img"] = tablelog.Image(rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8))
    run.log(r)
for i in range(1, phase1):
    row(i)
    if i % 50 == 49:
        run.flush()
for k in range(1500):  # three chunks' worth: far more than the full disk can take
    table.add_data(phase1, f"{{k:050d}}")
run.log({{"seq": phase1, "preds": table}})
run.flush()
print(json.dumps({{"phase1_not_persisted": len(run.not_persisted)}}), flush=True)
sys.stdin.readline()
run.log({{"seq": phase1 + 1, "preds": table}})
for i in range(phase1 + 2, phase1 + 2 + phase2):
    row(i)
table.add_data(phase1 + 2 + phase2, "y" * 50)
run.log({{"seq": phase1 + 2 + phase2, "preds": table}})
run.flush()
print(json.dumps({{"not_persisted": run.not_persisted}}), flush=True)
run.finish()
print("alive", flush=True)
"""


def disk_full(work: Path, *, phase1: int = 1500, phase2: int = 100,
              force_cap: bool = False) -> Counts:
    """The queue directory sits on a 3 MB tmpfs that a ballast file already half fills
    (or, where tmpfs cannot be mounted, under a TABLELOG_QUEUE_MAX_BYTES cap). A
    training process logs rows with images until the disk is full and beyond; it must
    keep running, warn once, and list in `run.not_persisted` exactly the rows the
    queue lacks. Then the operator frees space (deletes the ballast, or the agent
    drains the capped queue), training logs more, and everything committed is
    delivered exactly once; every table a stored row points to exists."""
    import json
    import re
    import subprocess
    import sys

    c = Counts("6. disk full")
    with Harness(work) as h, timed(c):
        disk = work / "disk"
        tmpfs = not force_cap and h.mount_tmpfs(disk, "3m")
        q = disk / "queue"
        extra: dict[str, str] = {"TABLELOG_MODE": "offline"}
        ballast = disk / "ballast"
        if tmpfs:
            ballast.write_bytes(b"\0" * 1_500_000)
            how = "a 3 MB tmpfs, half filled by a ballast file"
        else:
            cap = 300_000 + 2_500 * phase2  # room for phase 2 once the queue is drained
            extra["TABLELOG_QUEUE_MAX_BYTES"] = str(cap)
            how = f"TABLELOG_QUEUE_MAX_BYTES={cap}" + (
                "" if force_cap else " (tmpfs not mountable here)")
        srv = h.server()
        proxy = h.proxy(srv.url)
        err_path = work / "trainer.stderr"  # a file: a pipe nobody reads could fill up
        with open(err_path, "w") as err_file:
            proc = subprocess.Popen(
                [sys.executable, "-c", DISK_FILLER.format(project=PROJECT), str(phase1),
                 str(phase2)], env=child_env(q, None, **extra), text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err_file)
        assert proc.stdout is not None and proc.stdin is not None
        first = proc.stdout.readline()
        c.check(first.startswith("{"), "training survived the full disk", first)
        before = queue_state(q)
        c.check(before["integrity"] == "ok", "queue.db is consistent while the disk is full",
                before["integrity"])
        if tmpfs:
            ballast.unlink()  # the operator frees space
        else:
            drain(q, proxy.url)  # the agent makes room under the cap
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, _ = proc.communicate(timeout=300)
        err = err_path.read_text()
        c.check(proc.returncode == 0 and out.rstrip().endswith("alive"),
                "the training process finished normally", f"exit {proc.returncode}")
        warned = err.count("could not persist")
        c.check(warned == 1, "it warned once about what it could not persist",
                f"{warned} warnings")
        c.check("Traceback" not in err, "no traceback on the training process's stderr",
                f"{err.count('Traceback')} tracebacks, {len(err.splitlines())} stderr lines")
        report = json.loads(out.splitlines()[-2])["not_persisted"]
        reported = {int(m.group(1)) for r in report if (m := re.match(r"log step (\d+)", r))}
        total = list(range(phase1 + 3 + phase2))
        c.check(len(reported) == len(report), "run.not_persisted names each lost log step",
                [r for r in report if not r.startswith("log step")][:3])
        c.check(phase1 in reported, "the big table logged while the disk was full is reported",
                sorted(reported)[-5:])
        c.check(not (reported & set(range(phase1 + 1, len(total)))),
                "once space was freed, everything logged was persisted, the table too",
                [r for r in report if not r.startswith(tuple(
                    f"log step {i} " for i in range(phase1 + 1)))][:3])

        outcome = drain(q, proxy.url)
        c.check(outcome.dead == 0 and outcome.left == 0, "the queue drained afterwards",
                f"{outcome.dead} dead, {outcome.left} left")
        rows = history_rows(srv.url, PROJECT, "full")
        stored = {r.get("seq") for r in rows}
        c.check(not (stored & reported), "nothing reported as not persisted was stored",
                sorted(stored & reported)[:5])
        silent = sorted(set(total) - stored - reported)
        c.check(not silent, "every row not reported as lost was delivered",
                f"{len(silent)} rows silently missing, e.g. {silent[:5]}")
        _check_table_refs(c, srv.url, rows, reported)
        nrows = {0: 1, phase1: 1501, phase1 + 1: 1501, phase1 + 2 + phase2: 1502}
        carried = {r["seq"]: r["preds"].get("nrows") for r in rows if "preds" in r}
        wrong = {s: carried.get(s) for s, n in nrows.items()
                 if s not in reported and carried.get(s) != n}
        c.check(not wrong, "every stored row that logged a table carries that table",
                f"seq: rows of the table it points to (None: no table) {wrong}; "
                f"expected {nrows}")
        tally(c, srv.url, {"full": [s for s in total if s not in reported]})
        check_queue_empty(c, q)
        c.requests = proxy.count()
        c.done = (f"{len(total):,} rows with images logged onto {how}; space freed after "
                  f"row {phase1}; {len(reported):,} rows reported in run.not_persisted "
                  f"(not counted as sent)")
        c.note(f"disk full ({'tmpfs' if tmpfs else 'queue cap'}): {len(reported):,} of "
               f"{len(total):,} rows reported not persisted, {warned} warning(s), "
               f"{err.count('Traceback')} tracebacks on stderr")
    return c


def _check_table_refs(c: Counts, url: str, rows: list[dict[str, Any]],
                      reported: set[int]) -> None:
    """Each table a stored row points to is a stored artifact version, and every row
    that logged a table still carries it (or was reported as not persisted)."""
    digests: dict[str, set[str]] = {}
    bad = []
    for r in rows:
        ref = r.get("preds")
        if ref is None:
            continue
        name = ref["artifact"]
        if name not in digests:
            digests[name] = {v["digest"] for v in artifact_versions(url, PROJECT, name)}
        if ref["digest"] not in digests[name]:
            bad.append(r.get("seq"))
    c.check(not bad, "every stored table reference points to a stored version",
            f"rows {bad[:5]} point to versions the server never received")


# -- 7. corrupt local data ---------------------------------------------------------------------


def corruption(work: Path, *, rows: int = 300, seed: int = 7) -> Counts:
    """A run logs rows with images and a growing table. Then, on disk: one image blob
    gets a flipped byte, one table chunk blob is truncated, and one history entry's
    payload in queue.db is cut short. `tablelog sync` must detect each (the blobs by
    their sha256, the payload by its CRC-32 in the queue), quarantine the bad
    blobs, dead-letter the three entries with a reason `tablelog status` shows, and
    deliver everything else."""
    import sqlite3

    from tablelog import wire
    from tablelog.store.queue import Queue

    c = Counts("7. corrupt blob / payload")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        w = log_workload(q, 1, rows, media_every=5, table_every=100, seed=seed)
        run_id = next(iter(w.sent))
        with Queue(q) as queue:
            entries = queue.claim_batch(max_entries=1_000_000, max_bytes=1 << 40)
            history = [e for e in entries if e.kind == "history"]
            with_image = [e for e in history if e.blobs]
            table_art = [e for e in entries if e.kind == "artifact"]
            image_entry = with_image[len(with_image) // 2]
            image_sha = image_entry.blobs[0]
            flip = queue.blobs.path(image_sha)
            data = bytearray(flip.read_bytes())
            data[len(data) // 2] ^= 0x40
            flip.write_bytes(bytes(data))
            art_entry = table_art[0]
            chunk_sha = art_entry.blobs[-1]
            cut = queue.blobs.path(chunk_sha)
            cut.write_bytes(cut.read_bytes()[:-7])
            bad_payload = next(e for e in history if not e.blobs and e.id > image_entry.id)
        conn = sqlite3.connect(q / "queue.db")
        with conn:
            conn.execute("UPDATE entries SET payload = substr(payload, 1, 12) WHERE id = ?",
                         (bad_payload.id,))
        conn.close()
        broken_seqs = {wire.decode_entry(image_entry.payload).body["row"]["seq"],
                       wire.decode_entry(bad_payload.payload).body["row"]["seq"]}

        srv = h.server()
        proxy = h.proxy(srv.url)
        env = child_env(q, proxy.url)
        done = cli("sync", "--dir", str(q), "--timeout", "60", env=env)
        c.check(done.returncode == 1 and "3 dead-lettered" in done.stderr,
                "sync dead-letters the 3 damaged entries", done.stderr[-400:])
        state = queue_state(q)
        dead = {d.id: d.reason for d in state["dead_letters"]}
        c.check(set(dead) == {image_entry.id, art_entry.id, bad_payload.id},
                "exactly the damaged entries are dead letters", dead)
        c.check("corrupt" in dead.get(image_entry.id, "") and image_sha in dead.get(
            image_entry.id, ""), "the image's reason names the corrupt blob", dead)
        c.check("corrupt" in dead.get(art_entry.id, ""), "the table's reason names the "
                "corrupt chunk", dead)
        c.check("damaged on disk" in dead.get(bad_payload.id, ""),
                "the cut payload was caught by its checksum before upload", dead)
        quarantined = sorted(p.name for p in (q / "blobs" / "quarantine").glob("*"))
        c.check(quarantined == sorted({image_sha, chunk_sha}),
                "both bad blobs moved to blobs/quarantine/", quarantined)
        status = cli("status", "--dir", str(q), env=env).stdout
        lines = [ln for ln in status.splitlines() if "is corrupt" in ln]
        c.check(len(lines) == 2 and all("moved to" in ln for ln in lines),
                "`tablelog status` has a line per corrupt blob", status)
        c.check(sum("damaged on disk" in ln for ln in status.splitlines()) == 1,
                "`tablelog status` has a line for the damaged payload", status)
        got = {r.get("seq") for r in history_rows(srv.url, PROJECT, run_id)}
        c.check(not (got & broken_seqs), "no damaged row reached the server",
                got & broken_seqs)
        sent = {run_id: [s for s in w.sent[run_id] if s not in broken_seqs]}
        tally(c, srv.url, sent)
        versions = artifact_versions(srv.url, PROJECT, f"run-{run_id}-preds")
        c.check(len(versions) == w.versions[f"run-{run_id}-preds"] - 1,
                "every other table version arrived", len(versions))
        c.requests = proxy.count()
        c.done = (f"{rows} rows with images and a growing table; one image blob bit-flipped, "
                  f"one table chunk truncated, one queued payload cut short; sync, status")
        c.note("corruption: status lines: " + " | ".join(ln.strip()[:120] for ln in lines))
    return c


# -- 8. the queue against a model -----------------------------------------------------------------


def queue_model(work: Path, *, examples: int = 40, steps: int = 30) -> Counts:
    """hypothesis' RuleBasedStateMachine drives tablelog.store.queue.Queue (put from two
    handles, claim, ack, record_failure, dead_letter, retry_dead, and crashes: close
    and reopen, drop unclosed, a process killed inside a transaction) and compares it
    with a dict-based model after every step (see tests/reliability/queue_model.py)."""
    from tests.reliability.queue_model import run_queue_model

    c = Counts("8. queue vs model")
    with timed(c):
        result = run_queue_model(work, examples=examples, steps=steps)
    t = result.tally
    c.check(result.error is None, "the queue behaved as the model in every example",
            result.error)
    c.sent = t.put
    c.stored = t.verified
    c.duplicated = t.duplicated
    c.lost = t.lost
    c.check(t.verified == t.put, "every entry put was accounted for (acked, pending or dead)",
            f"{t.verified} of {t.put}")
    c.check(t.torn_transactions > 0 and t.crashes > t.torn_transactions,
            "all three kinds of crash happened", t.as_text())
    c.done = (f"hypothesis state machine ({examples} examples x up to {steps} steps, "
              f"derandomized): {t.as_text()}; counts are queue entries, no HTTP")
    c.note(f"queue model: {t.ops:,} queue operations checked against the model")
    return c


# -- 9. eight trainers, one agent ---------------------------------------------------------------


def many_writers(work: Path, *, trainers: int = 8, rows: int = 500) -> Counts:
    """`trainers` training processes log `rows` rows each (images, a growing table) into
    one queue directory at the same time, online: each SDK tries to start an agent and
    the queue's lock lets exactly one serve. `tablelog sync` then waits for that agent
    to finish; every run's history is read back from the server."""
    c = Counts("9. 8 trainers, 1 agent")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        srv = h.server()
        proxy = h.proxy(srv.url)
        env = child_env(q, proxy.url, TABLELOG_MODE="online", TABLELOG_AGENT_AUTOSTART="1",
                        TABLELOG_AGENT_IDLE_EXIT="1")
        procs = [trainer(f"rank{r}", r * 1_000_000, rows, 100, False, env)
                 for r in range(trainers)]
        for r, p in enumerate(procs):
            _, err = p.communicate(timeout=300)
            c.check(p.returncode == 0, "each trainer finished", f"trainer {r}: {err[-300:]}")
        done = cli("sync", "--dir", str(q), "--timeout", "120", "--no-progress",
                   env=child_env(q, proxy.url), timeout=300)
        c.check(done.returncode == 0, "everything was delivered", done.stderr[-400:])
        sent = {f"rank{r}": [r * 1_000_000 + i for i in range(rows)] for r in range(trainers)}
        tally(c, srv.url, sent)
        versions = {f"run-rank{r}-preds": rows // 100 for r in range(trainers)}
        check_versions(c, srv.url, versions)
        check_queue_empty(c, q)
        _stop_agent(q, c)
        log = (q / "agent.log").read_text() if (q / "agent.log").exists() else ""
        refused = log.count("already serves")
        c.check("Traceback" not in log, "agent.log holds no traceback", log[-500:])
        c.requests = proxy.count()
        c.done = (f"{trainers} training processes x {rows} rows (images, a growing table) into "
                  f"one queue at once, online; the SDKs start agents, one serves")
        how = ("sync watched the running agent" if "already serves" in done.stderr
               else "sync drained what the agent left")
        c.note(f"8 trainers: {refused} extra agents started by the SDKs found the lock taken "
               f"and exited; {how}")
    return c


# -- 10. security ---------------------------------------------------------------------------------

SECRET = "s3cr3t-Key-for-the-reliability-suite-4711"  # greppable: it must appear nowhere
WRONG_SECRET = "wr0ng-Key-never-valid-9137"
SHA_ANY = "ab" * 32
_PARAMS = {"entity": "local", "project": PROJECT, "run_id": "run00", "name": "run-run00-preds",
           "version": "latest", "entry": "preds", "sha256": SHA_ANY, "key": "preds"}


def _routes() -> list[tuple[str, str, str]]:
    """(method, concrete path, route name) for every route the server registers."""
    import re
    import tempfile

    from tablelog_server.app import create_app
    from tablelog_server.config import ServerConfig

    app = create_app(ServerConfig(data_dir=Path(tempfile.gettempdir()) / "unused",
                                  api_keys={"k" * 16: "local"}))
    out = []
    for route in app.router.routes():
        resource = route.resource
        canonical = resource.canonical if resource else ""
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: _PARAMS[m.group(1)], canonical)
        out.append((route.method, path, (resource.name or "") if resource else ""))
    return out


def _raw(port: int, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, bytes]:
    """One request with the path sent exactly as given (no normalisation)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def security_probes() -> list[Callable[[Counts, Harness], int]]:
    """The security scenario's probes that live in modules of their own."""
    from tests.reliability.security_batch_limits import probe_batch_limits
    from tests.reliability.security_blob_scope import probe_blob_scope
    from tests.reliability.security_hostile_params import probe_hostile_params
    from tests.reliability.security_proxy_keys import probe_proxy_and_keys
    from tests.reliability.security_slow_clients import probe_slow_clients

    return [probe_slow_clients, probe_hostile_params, probe_blob_scope, probe_proxy_and_keys,
            probe_batch_limits]


def security(work: Path, *, rows: int = 200) -> Counts:
    """A real server with two keys (entities `local` and `other`). Every route without a
    key, with a wrong key, a truncated key or another scheme: 401 (the public login
    form, static files and /healthz aside). The other entity's key on `local`'s
    routes: 403, and its writes into `local` are rejected. Path traversal, oversized
    and malformed bodies, raw garbage and a huge header are refused while the server
    keeps serving. The SDK's queue directory is 0700 with 0600 files, and the key
    appears in no log (server, agent.log), no `tablelog status` output (text, JSON,
    with the key in the URL too), no error message and no queue file."""
    import json
    import socket
    import stat

    from tablelog import wire

    c = Counts("10. security")
    auth = {"Authorization": f"Bearer {SECRET}"}
    other = {"Authorization": "Bearer other-entity-key-5555"}
    probes = 0
    with Harness(work) as h, timed(c):
        srv = h.server(keys={SECRET: "local", "other-entity-key-5555": "other"},
                       extra_args=["--max-body-bytes", "1000000",
                                   "--max-blob-bytes", "2000000"])
        port = srv.port

        # The SDK logs online (it starts the agent, which writes agent.log), then a second
        # agent with a wrong key fails against the same server: both must keep quiet.
        q = work / "queue"
        env = child_env(q, srv.url, key=SECRET, TABLELOG_MODE="online",
                        TABLELOG_AGENT_AUTOSTART="1", TABLELOG_AGENT_IDLE_EXIT="1")
        p = trainer("run00", 0, rows, 50, False, env)
        _, err = p.communicate(timeout=300)
        c.check(p.returncode == 0, "the trainer ran", err[-300:])
        done = cli("sync", "--dir", str(q), "--timeout", "60", "--no-progress",
                   env=child_env(q, srv.url, key=SECRET), timeout=300)
        c.check(done.returncode == 0, "its agent delivered everything", done.stderr[-300:])
        _stop_agent(q, c)
        tally(c, srv.url, {"run00": list(range(rows))}, key=SECRET)
        wrong_q = work / "queue-wrong-key"
        log_workload(wrong_q, 1, 5, media_every=0, prefix="w")
        wrong = cli("sync", "--dir", str(wrong_q), "--timeout", "2", "--no-progress",
                    env=child_env(wrong_q, srv.url, key=WRONG_SECRET), timeout=120)
        c.check(wrong.returncode == 3 and "refused the API key" in wrong.stderr,
                "a wrong key: sync gives up and says the key was refused", wrong.stderr[-300:])

        # 401 everywhere without a valid key
        routes = _routes()
        refused_ok = []
        public = {"/healthz", "/login", "/logout", "/static"}
        for method, path, _name in routes:
            if path in public:
                continue
            for headers in ({}, {"Authorization": f"Bearer {WRONG_SECRET}"},
                            {"Authorization": f"Bearer {SECRET[:-1]}"},
                            {"Authorization": f"Basic {SECRET}"}, {"Authorization": "Bearer"}):
                status, _ = _raw(port, method, path, headers, b"{}")
                probes += 1
                if status != 401:
                    refused_ok.append((method, path, headers.get("Authorization"), status))
        c.check(not refused_ok, f"all {len(routes) - 4} non-public routes: 401 without a "
                "valid key", refused_ok[:5])

        # 403 for the other entity
        crossed = []
        for method, path, _name in routes:
            if "/local" not in path or method not in ("GET", "POST", "PUT"):
                continue
            status, _ = _raw(port, method, path, other, None if method == "GET" else b"{}")
            probes += 1
            if status != 403:
                crossed.append((method, path, status))
        c.check(not crossed, "another entity's key on `local` routes: 403", crossed[:5])
        forged = wire.encode_batch("intruder-queue", [(1, wire.encode_entry(
            wire.Kind.HISTORY, entity="local", project=PROJECT, run_id="run00",
            body={"step": 10**6, "row": {"seq": -666}}))])
        status, body = _raw(port, "POST", "/api/v1/batches",
                            {**other, "Content-Type": "application/msgpack"}, forged)
        probes += 1
        c.check(status == 200 and b"rejected" in body and b"forbidden" in body,
                "a batch written into `local` with another entity's key is rejected",
                (status, body[:200]))
        # Blobs are stored once per content hash, but read per entity.
        image = next((q / "blobs").glob("??/*"))
        shared, _ = _raw(port, "GET", f"/api/v1/blobs/{image.parent.name}{image.name}", other)
        probes += 1
        c.check(shared == 404, "another entity's key cannot read a blob of `local` by its "
                "sha256 (404, as for a blob never stored)", shared)

        # traversal, oversized and malformed requests
        bad: list[tuple[str, str, dict[str, str], bytes | None, tuple[int, ...]]] = [
            ("GET", "/api/v1/blobs/..%2F..%2Fmetadata.db", auth, None, (400, 404)),
            ("GET", "/api/v1/blobs/%2e%2e/%2e%2e/metadata.db", auth, None, (400, 404)),
            ("GET", "/api/v1/blobs/../../metadata.db", auth, None, (400, 404)),
            ("GET", "/api/v1/runs/local/..%2F..%2F/run00/history", auth, None, (400, 404)),
            ("GET", "/api/v1/tables/local/rel/x/latest/..%2F..%2F..%2Fmetadata.db", auth,
             None, (400, 404)),
            # (dot segments are resolved first: an unknown path without a key is a 401)
            ("GET", "/static/../metadata.db", {}, None, (400, 401, 403, 404)),
            ("GET", "/static/%2e%2e/%2e%2e/metadata.db", {}, None, (400, 401, 403, 404)),
            ("GET", "/static/..%2F..%2Fmetadata.db", {}, None, (400, 401, 403, 404)),
            ("PUT", "/api/v1/blobs/" + "ab" * 31 + "%2F%2F", auth, b"x", (400, 404)),
            ("POST", "/api/v1/batches", {**auth, "Content-Type": "application/msgpack"},
             b"\x00" * 2_000_000, (413,)),
            ("PUT", "/api/v1/blobs/" + wire.sha256_hex(b"y" * 3_000_000), auth,
             b"y" * 3_000_000, (413,)),
            ("POST", "/api/v1/blobs/missing", {**auth, "Content-Type": "application/json"},
             json.dumps({"sha256": ["ab" * 32] * 150_000}).encode()[:999_000], (400, 413)),
            ("POST", "/api/v1/batches", {**auth, "Content-Type": "application/msgpack"},
             b"\xdd\xff\xff\xff\xff", (400,)),
            ("POST", "/api/v1/batches", {**auth, "Content-Type": "application/msgpack"},
             b"\x91" * 100_000, (400,)),
            ("POST", "/api/v1/batches", {**auth, "Content-Type": "application/msgpack"},
             wire.packb({"v": [99, 0], "queue_id": "q", "entries": []}), (400,)),
            ("POST", "/api/v1/blobs/missing", {**auth, "Content-Type": "application/json"},
             b'{"sha256": "not a list"}', (400,)),
            ("POST", "/api/v1/blobs/missing", {**auth, "Content-Type": "application/json"},
             b"{" * 10_000, (400,)),
            ("PUT", "/api/v1/blobs/" + "cd" * 32, auth, b"bytes that do not hash to it",
             (400,)),
            ("GET", "/api/v1/runs/local/rel/run00/history?offset=-5&limit=99999999", auth,
             None, (400,)),
        ]
        wrongly = []
        for method, path, headers, body_, want in bad:
            status, answer = _raw(port, method, path, headers, body_)
            probes += 1
            if status not in want or b"SQLite format" in answer:
                wrongly.append((method, path[:60], status))
        c.check(not wrongly, f"{len(bad)} traversal, oversized and malformed requests refused",
                wrongly)
        for raw in (b"\x16\x03\x01\x02\x00" + b"\x00" * 500,  # a TLS hello
                    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
                    b"POST /api/v1/batches HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                    b"\xff" * 1000):
            with (socket.create_connection(("127.0.0.1", port), timeout=10) as s,
                  contextlib.suppress(OSError)):
                s.sendall(raw)
                s.recv(1024)
            probes += 1
        status, body = _raw(port, "GET", "/api/v1/whoami", auth)
        c.check(srv.proc is not None and srv.proc.poll() is None and status == 200
                and json.loads(body) == {"entity": "local"},
                "the server kept serving through all of it", status)
        probes += 1

        # the queue directory's modes
        loose = []
        for path in [q, *q.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            want_mode = 0o700 if path.is_dir() else 0o600
            if mode != want_mode:
                loose.append(f"{path.relative_to(q.parent)} {mode:o}")
        c.check(not loose, "queue directory 0700 and its files 0600", loose)

        # the key in no log, no status output, no queue file
        url_with_key = srv.url.replace("//", f"//user:{SECRET}@")
        outputs = {
            "status": cli("status", "--dir", str(q), env=child_env(q, srv.url, key=SECRET)),
            "status --json": cli("status", "--dir", str(q), "--json",
                                 env=child_env(q, srv.url, key=SECRET)),
            "status (key in URL)": cli("status", "--dir", str(q), "--base-url", url_with_key,
                                       env=child_env(q, srv.url, key=SECRET)),
            "status --json (wrong key queue)": cli("status", "--dir", str(wrong_q), "--json",
                                                   env=child_env(wrong_q, srv.url,
                                                                 key=WRONG_SECRET)),
        }
        texts = {name: o.stdout + o.stderr for name, o in outputs.items()}
        texts["sync output"] = done.stdout + done.stderr
        texts["sync with a wrong key"] = wrong.stdout + wrong.stderr
        srv.stop()
        assert srv.log_path is not None
        texts["server log"] = srv.log_path.read_text(errors="replace")
        texts["agent.log"] = (q / "agent.log").read_text(errors="replace") if (
            q / "agent.log").exists() else ""
        for directory in (q, wrong_q):
            for f in directory.rglob("*"):
                if f.is_file() and "blobs" not in f.parts:
                    texts[str(f.relative_to(work))] = f.read_bytes().decode("latin-1")
        leaks = [name for name, text in texts.items()
                 if SECRET in text or WRONG_SECRET in text]
        c.check(not leaks, f"the key appears in none of {len(texts)} outputs, logs and "
                "queue files", leaks)
        c.check("retrying" in texts["sync with a wrong key"] or "refused" in
                texts["sync with a wrong key"], "(the wrong-key errors were there to leak)",
                texts["sync with a wrong key"][-200:])
        # issue 13's probes, each against a server of its own (tests/reliability/security_*)
        for probe in security_probes():
            probes += probe(c, h)
        c.requests = probes
        c.done = (f"{len(routes)} routes x 5 bad credentials, cross-entity reads and writes, "
                  f"{len(bad)} traversal/oversized/malformed requests, 4 raw garbage "
                  f"connections; file modes; the key searched in {len(texts)} outputs/files; "
                  f"{rows} rows delivered with the right key (requests = probes)")
        c.note(f"security: {probes} probe requests; public routes: {sorted(public)}; "
               f"another entity's key reading a blob of `local` by its sha256: HTTP {shared}")
    return c


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
