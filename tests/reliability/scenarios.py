"""The reliability scenarios, shared by tests/reliability and bench/reliability_report.py.

Each scenario is a function ``(work_dir, *, size parameters, seed) -> Counts``:
it starts real processes under `work_dir`, does what its docstring says, counts
on the server, and records every check in the returned `Counts`. Tests call
them small and assert `Counts.assert_ok()`; the report calls them large.
Randomness is seeded; every wait is bounded.
"""

from __future__ import annotations

import os
import random
import shutil
import time
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
    drain,
    queue_state,
    tally,
    timed,
)

# -- a training workload, logged through the SDK ------------------------------------------------


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
                f"artifact {name}: {want} versions, each once",
                f"server holds {len(got)} ({len(set(digests))} distinct)")


def check_queue_empty(c: Counts, queue_dir: Path) -> None:
    state = queue_state(queue_dir)
    c.check(state["pending"] == 0 and state["dead"] == 0, "the queue is empty, nothing dead",
            f"{state['pending']} pending, {state['dead']} dead: "
            f"{[d.reason for d in state['dead_letters'][:3]]}")
    c.check(state["integrity"] == "ok", "queue.db passes PRAGMA integrity_check",
            state["integrity"])


# -- 1. a misbehaving network ------------------------------------------------------------------


FAULTS_BACKOFF = {"backoff_base_s": 0.05, "backoff_cap_s": 0.4}
FAULTS_READ_TIMEOUT_S = 1.0


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
    for before, after in zip(posts, posts[1:], strict=False):
        if before.status is not None and before.status < 300:
            continue
        floor = 1.0 if before.status == 429 else FAULTS_BACKOFF["backoff_base_s"] / 2
        gap = after.at - before.at
        if gap < floor * 0.95:
            ok = False
            worst = f"{gap * 1000:.0f} ms after a {before.status or 'cut'} (floor {floor}s)"
    c.check(ok, "no hot loop: every retry waited its backoff", worst)


SCENARIOS: dict[str, Any] = {"network_faults": network_faults}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
