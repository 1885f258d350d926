"""Bounds on what logging costs a node: memory of pending media (the hand-off budget
in bytes) and local disk (the blob store shrinks to a bounded cache once the server
has stored what it holds). Scenario functions ``fn(work, **sizes) -> Counts``, shared
by tests/reliability/test_bounds.py (small) and bench/reliability_report.py (full)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.reliability.harness import (
    PROJECT,
    Counts,
    Harness,
    child_env,
    cli,
    drain,
    history_rows,
    queue_state,
    tally,
    timed,
)

MIB = 1 << 20
RSS_SLACK_MIB = 32  # the "constant": one request beyond the budget, encoder buffers, malloc

# Logs N 512x512 RGB images as fast as it can, each unique (a flat colour, the index
# written into the first pixels: cheap PNGs, so logging outruns the writer by far and
# the budget is what holds memory back). VmHWM is the kernel's peak RSS.
MEMORY_CHILD = r"""
import json, sys, time
import numpy as np
import tablelog

def hwm_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0

def pixels(i):
    a = np.full((512, 512, 3), i % 251, dtype=np.uint8)
    a[0, :8, 0] = np.frombuffer(i.to_bytes(8, "little"), dtype=np.uint8)
    return a

n = int(sys.argv[1])
with tablelog.init(project=PROJECT, id="mem") as run:
    run.log({"seq": 0, "img": tablelog.Image(pixels(0))})
    run.flush()
    base = hwm_kib()
    started = time.monotonic()
    for i in range(1, n + 1):
        run.log({"seq": i, "img": tablelog.Image(pixels(i))})
    logged = time.monotonic() - started
    peak = hwm_kib()
    run.flush()
    total = time.monotonic() - started
print(json.dumps({"base_kib": base, "peak_kib": peak, "end_kib": hwm_kib(),
                  "log_s": logged, "total_s": total}), flush=True)
"""


def pending_memory(work: Path, *, images: int = 300, budget: str | None = "16M") -> Counts:
    """A training process logs `images` 512x512 images (768 KiB of pixels each) as fast
    as it can, with TABLELOG_MAX_PENDING_BYTES=`budget` (None: the default). Its peak
    RSS (VmHWM) may grow past what it was after the first image by at most the budget
    plus a constant; every image is then delivered exactly once."""
    from tablelog.settings import DEFAULT_MAX_PENDING_BYTES, parse_size

    c = Counts("14a. memory of pending media")
    limit = DEFAULT_MAX_PENDING_BYTES if budget is None else parse_size(budget, "budget")
    with Harness(work) as h, timed(c):
        q = work / "queue"
        extra = {"TABLELOG_MODE": "offline"}
        if budget is not None:
            extra["TABLELOG_MAX_PENDING_BYTES"] = budget
        done = subprocess.run([sys.executable, "-c", MEMORY_CHILD.replace("PROJECT",
                                                                          repr(PROJECT)),
                               str(images)], env=child_env(q, None, **extra),
                              capture_output=True, text=True, timeout=1800)
        c.check(done.returncode == 0, "the training process finished normally",
                f"exit {done.returncode}: {done.stderr[-600:]}")
        figures = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else {}
        grew = (figures.get("peak_kib", 0) - figures.get("base_kib", 0)) / 1024
        bound = limit / MIB + RSS_SLACK_MIB
        c.check(grew <= bound, "peak RSS grew by at most the pending budget plus a constant",
                f"grew {grew:.0f} MiB while logging, bound {bound:.0f} MiB "
                f"(budget {limit / MIB:.0f} MiB + {RSS_SLACK_MIB} MiB)")
        c.check("Traceback" not in done.stderr, "no traceback on the training process's stderr",
                done.stderr[-600:])
        srv = h.server()
        outcome = drain(q, srv.url, timeout_s=600)
        c.check(outcome.dead == 0 and outcome.left == 0, "the queue drained, nothing dead",
                f"{outcome.dead} dead, {outcome.left} left")
        tally(c, srv.url, {"mem": list(range(images + 1))})
        c.requests = _agent_requests(q)
        pixels_mib = images * 512 * 512 * 3 / MIB
        c.done = (f"{images:,} images of 512x512 RGB ({pixels_mib:,.0f} MiB of pixels) logged "
                  f"as fast as possible with a pending budget of {limit / MIB:.0f} MiB")
        if figures:
            c.note(f"pending memory: peak RSS {figures['peak_kib'] / 1024:.0f} MiB, "
                   f"{grew:.0f} MiB above the {figures['base_kib'] / 1024:.0f} MiB after the "
                   f"first image (budget {limit / MIB:.0f} MiB, bound {bound:.0f} MiB); "
                   f"{images / max(figures['total_s'], 1e-9):,.0f} images/s to the queue, "
                   f"log() returned after {figures['log_s']:.1f} s of {figures['total_s']:.1f} s")
    return c


# Logs `n` unique 512x512 noise images as BMP (768 KiB each, incompressible, cheap to
# encode) with a seq per row; every 10th row repeats the image of 5 rows before, so
# the writer also puts blobs that exist (or that the agent just deleted).
TRAINER = r"""
import sys
import numpy as np
import tablelog

n = int(sys.argv[1])
rng = np.random.default_rng(3)
kept = {}
with tablelog.init(project=PROJECT, id="disk") as run:
    for i in range(n):
        if i % 10 == 9:
            pixels = kept[i - 5]
        else:
            pixels = rng.integers(0, 255, size=(512, 512, 3), dtype=np.uint8)
        if i % 10 == 4:
            kept[i] = pixels
        run.log({"seq": i, "img": tablelog.Image(pixels, file_type="bmp")})
print("done", flush=True)
"""
BMP_BYTES = 512 * 512 * 3 + 54


def blob_store_bound(work: Path, *, media_mb: int = 40, cache: str = "8M",
                     pending: str = "16M") -> Counts:
    """A training process logs `media_mb` MB of images while an agent (a real process,
    TABLELOG_CACHE_MAX_BYTES=`cache`) uploads them. The blob store is sampled while
    that goes on; once the queue is empty it must hold at most the cache bound, every
    image must be on the server, and `tablelog status --json` must show the disk use."""
    from tablelog.settings import parse_size
    from tablelog.store.queue import Queue
    from tablelog_agent.config import AgentConfig

    c = Counts("14b. local blob store")
    bound = parse_size(cache, "cache")
    images = max(10, media_mb * 1_000_000 // BMP_BYTES)
    with Harness(work) as h, timed(c):
        q = work / "queue"
        q.mkdir(parents=True)
        srv = h.server()
        env = {"TABLELOG_CACHE_MAX_BYTES": cache}
        agent = h.agent(q, srv.url, env=env)
        c.check(agent.ready(60), "the agent started", agent.log_path.read_text()[-400:])
        err_path = work / "trainer.stderr"
        samples: list[tuple[int, int]] = []  # (store bytes, needed bytes)
        with open(err_path, "w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-c", TRAINER.replace("PROJECT", repr(PROJECT)), str(images)],
                env=child_env(q, None, TABLELOG_MODE="offline",
                              TABLELOG_MAX_PENDING_BYTES=pending),
                stdout=subprocess.PIPE, stderr=err, text=True)
            with Queue(q) as queue:
                deadline = time.monotonic() + 1800
                while proc.poll() is None and time.monotonic() < deadline:
                    samples.append(_sample(queue))
                    time.sleep(0.2)  # a sampling period, not a wait for the daemon
                out, _ = proc.communicate(timeout=60)
                c.check(proc.returncode == 0 and "done" in out,
                        "the training process finished normally",
                        f"exit {proc.returncode}: {err_path.read_text()[-400:]}")
                final = _wait_for_store(queue, q, bound, timeout_s=120)
        state = queue_state(q)
        c.check(state["pending"] == 0 and state["dead"] == 0, "the queue drained, nothing dead",
                f"{state['pending']} pending, {state['dead']} dead: "
                f"{[d.reason for d in state['dead_letters'][:3]]}")
        c.check(final["blob_bytes"] <= bound,
                "once uploaded, the local store holds at most the cache bound",
                f"{final['blob_bytes']:,} bytes in {final['blob_files']} files, "
                f"bound {bound:,}")
        # Between two rounds: what the writer put but has not committed yet (at most
        # its pending budget), and what was acknowledged since the last round (a
        # quarter of the bound, or the one batch whose acknowledgement passed it).
        slack = (max(1 << 20, bound // 4) + parse_size(pending, "pending")
                 + AgentConfig(dir=q).batch_max_blob_bytes)
        over = max((s - n - bound for s, n in samples), default=0)
        c.check(over <= slack, "while uploading, the store exceeds cache bound + queued "
                "by at most a quarter of the bound + one batch + the writer's pending budget",
                f"exceeded by {over:,} bytes, allowed {slack:,}")
        rows = history_rows(srv.url, PROJECT, "disk")
        tally(c, srv.url, {"disk": list(range(images))})
        c.requests = _agent_requests(q)
        refs = [r["img"] for r in rows if isinstance(r.get("img"), dict)]
        c.check(len(refs) == images, "every stored row carries its image", len(refs))
        _check_blobs_on_server(c, srv.url, refs[:: max(1, len(refs) // 20)])
        status = cli("status", "--json", "--dir", str(q), env=child_env(q, srv.url))
        disk = json.loads(status.stdout).get("disk") if status.returncode == 0 else None
        c.check(isinstance(disk, dict) and disk.get("cache_max_bytes") == bound
                and disk.get("blob_bytes", bound + 1) <= bound,
                "`tablelog status --json` shows the disk use and the agent's cache bound",
                disk or status.stderr[-300:])
        peak = max((s for s, _ in samples), default=0)
        logged = images * BMP_BYTES
        c.done = (f"{images:,} images ({logged / 1e6:,.0f} MB of media) logged while an agent "
                  f"uploads them, cache bound {cache}")
        c.note(f"local blob store: peak {peak / MIB:,.0f} MiB while {logged / MIB:,.0f} MiB were "
               f"logged; at most {max(over, 0) / MIB:,.1f} MiB over cache bound + queued "
               f"({len(samples)} samples); {final['blob_bytes'] / MIB:,.1f} MiB left once "
               f"uploaded (bound {bound / MIB:,.0f} MiB)")
    return c


def _sample(queue: Any) -> tuple[int, int]:
    """(store bytes, bytes of it that entries need). The needed set is read before and
    after listing the store, so that an entry acknowledged or committed while the
    listing runs counts as needed rather than as excess."""
    before, _ = queue.referenced_blobs()
    files = queue.blobs.scan()
    needed = before | queue.referenced_blobs()[0]
    return sum(f.size for f in files), sum(f.size for f in files if f.sha256 in needed)


def _agent_requests(q: Path) -> int | None:
    """HTTP requests the agent counted, from the state it keeps in the queue."""
    from tablelog.store.queue import Queue

    with Queue(q) as queue:
        value = queue.agent_state().get("requests")
    return value if isinstance(value, int) else None


def _wait_for_store(queue: Any, q: Path, bound: int, *, timeout_s: float) -> dict[str, Any]:
    """Poll (bounded) until the queue is empty and the store is within `bound`; the last
    disk use seen either way."""
    from tablelog.store.blobgc import disk_use

    deadline = time.monotonic() + timeout_s
    while True:
        use = disk_use(queue)
        if (queue.stats().pending == 0 and use["blob_bytes"] <= bound) \
                or time.monotonic() > deadline:
            return use
        time.sleep(0.1)


def _check_blobs_on_server(c: Counts, url: str, refs: list[dict[str, Any]]) -> None:
    """Each sampled image ref's blob is downloadable from the server, bytes as logged."""
    import hashlib
    import urllib.request

    from tests.conftest import API_KEY

    bad = []
    for ref in refs:
        sha = ref.get("sha256")
        request = urllib.request.Request(f"{url}/api/v1/blobs/{sha}",
                                         headers={"Authorization": f"Bearer {API_KEY}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                if hashlib.sha256(r.read()).hexdigest() != sha:
                    bad.append(sha)
        except OSError as exc:
            bad.append(f"{sha}: {exc}")
    c.check(not bad, "images evicted locally are on the server, byte for byte", bad[:3])
