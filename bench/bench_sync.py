"""`tablelog sync` throughput: small history entries, media blobs, and both at once.

Builds offline queue directories directly with `tablelog.store.queue.Queue.put_many`
(history entries made by `wire.encode_entry`, media as content-addressed blobs
referenced by artifact entries), starts a real `tablelog server` on 127.0.0.1
with a fresh data directory, then times `tablelog sync --dir QUEUE` as a
subprocess: wall time includes interpreter start-up, so the rates are what a
user sees. The agent's peak RSS comes from the kernel (`wait4` rusage).

    python bench/bench_sync.py                  # 100,000 entries, 1 GiB of media
    python bench/bench_sync.py --quick          # 20,000 entries, 128 MiB
    python bench/bench_sync.py --write-docs     # also replace "## Sync throughput"
                                                # in docs/benchmarks.md
Goals: >= 20,000 small entries/s, >= 100 MB/s of media, agent peak RSS < 100 MB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
AGENT_DOC = REPO_ROOT / "docs" / "agent.md"
SECTION = "## Sync throughput"
# docs/agent.md shows the summary line `tablelog sync` printed for the mixed workload
SAMPLE_START, SAMPLE_END = "<!-- bench-sync-sample:start -->", "<!-- bench-sync-sample:end -->"
API_KEY = "bench-key-0123456789"
BLOB_BYTES = 4 << 20
FILES_PER_ARTIFACT = 4
RUNS = 8

sys.path[:0] = [str(REPO_ROOT / "sdk"), str(REPO_ROOT / "agent")]

from bench_common import (  # noqa: E402
    cpu_model,
    load_average,
    replace_between_markers,
    replace_section,
)
from tablelog import wire  # noqa: E402
from tablelog.store.queue import NewEntry, Queue  # noqa: E402


@dataclass(frozen=True)
class Workload:
    name: str
    entries: int
    media_bytes: int
    null_backend: bool = False  # a stub that stores nothing: the agent's own ceiling


@dataclass(frozen=True)
class Measurement:
    workload: Workload
    queued_bytes: int  # payloads + blobs, as `tablelog status` counts them
    seconds: float
    peak_rss_mb: float
    exit_code: int
    summary: str


# -- building queues ------------------------------------------------------------------


def history_entries(count: int, start_step: int = 0) -> list[NewEntry]:
    """Realistic small rows: a handful of scalars per step, spread over RUNS runs."""
    out = []
    for i in range(count):
        run_id, step = f"run{i % RUNS}", start_step + i // RUNS
        body = {"step": step, "row": {"loss": 1.0 / (step + 1), "acc": step % 100 / 100,
                                      "lr": 3e-4, "epoch": step // 1000, "grad_norm": 0.5}}
        out.append(NewEntry(run=f"bench/{run_id}", kind="history",
                            payload=wire.encode_entry(wire.Kind.HISTORY, entity=None,
                                                      project="bench", run_id=run_id,
                                                      body=body)))
    return out


def run_entries() -> list[NewEntry]:
    body = {"name": "bench", "config": {}, "tags": [], "notes": None, "job_type": None,
            "started_at": time.time(), "resumed": False}
    return [NewEntry(run=f"bench/run{r}", kind="run",
                     payload=wire.encode_entry(wire.Kind.RUN, entity=None, project="bench",
                                               run_id=f"run{r}", body=body))
            for r in range(RUNS)]


def media_entries(queue: Queue, total_bytes: int) -> list[NewEntry]:
    """Artifacts of FILES_PER_ARTIFACT distinct 4 MiB blobs each, `total_bytes` in all."""
    import numpy as np

    rng = np.random.default_rng(7)
    out = []
    blobs_left = max(1, total_bytes // BLOB_BYTES)
    index = 0
    while blobs_left:
        files = {}
        for _ in range(min(FILES_PER_ARTIFACT, blobs_left)):
            data = rng.bytes(BLOB_BYTES)
            sha = queue.blobs.put(data, fsync=False)
            files[f"sample-{len(files)}.bin"] = wire.ManifestEntry("file", sha, len(data))
            blobs_left -= 1
        blobs = wire.artifact_blobs(files)
        body = {"name": f"media-{index}", "type": "dataset", "description": "",
                "metadata": {}, "aliases": [], "digest": wire.artifact_digest(files),
                "entries": {k: v.to_plain() for k, v in files.items()}, "blobs": blobs}
        out.append(NewEntry(run="bench/run0", kind="artifact",
                            payload=wire.encode_entry(wire.Kind.ARTIFACT, entity=None,
                                                      project="bench", run_id="run0",
                                                      body=body),
                            blobs=tuple(blobs), blob_bytes=len(files) * BLOB_BYTES))
        index += 1
    return out


def build_queue(directory: Path, workload: Workload) -> int:
    """Fill an offline queue; returns its pending bytes."""
    with Queue(directory) as queue:
        queue.put_many(run_entries())
        for start in range(0, workload.entries, 20_000):
            queue.put_many(history_entries(min(20_000, workload.entries - start),
                                           start_step=start // RUNS))
        if workload.media_bytes:
            queue.put_many(media_entries(queue, workload.media_bytes))
        return queue.stats().pending_bytes


# -- running --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_null_backend(port: int) -> None:
    """A stand-in that answers the agent's routes at once and stores nothing: blobs are
    read and dropped, every batch entry is 'applied'. Separates the agent's own speed
    from the server's."""
    import msgpack
    from aiohttp import web

    def answer(obj: object, status: int = 200) -> web.Response:
        return web.Response(body=msgpack.packb(obj), status=status,
                            content_type="application/msgpack")

    async def healthz(request: web.Request) -> web.Response:
        return answer({"ok": True})

    async def missing(request: web.Request) -> web.Response:
        return answer({"missing": msgpack.unpackb(await request.read())["sha256"]})

    async def put_blob(request: web.Request) -> web.Response:
        size = 0
        while chunk := await request.content.readany():
            size += len(chunk)
        return answer({"sha256": request.match_info["sha"], "size": size}, 201)

    async def batches(request: web.Request) -> web.Response:
        batch = msgpack.unpackb(await request.read())
        return answer({"results": [{"id": e["id"], "status": "applied"}
                                   for e in batch["entries"]]})

    app = web.Application(client_max_size=1 << 30)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/v1/blobs/missing", missing)
    app.router.add_put("/api/v1/blobs/{sha}", put_blob)
    app.router.add_post("/api/v1/batches", batches)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def start_server(data_dir: Path, log_path: Path, *, null_backend: bool = False
                 ) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = ([sys.executable, str(Path(__file__).resolve()), "--serve-null", str(port)]
               if null_backend else
               [sys.executable, "-m", "tablelog_server", "--host", "127.0.0.1", "--port",
                str(port), "--data-dir", str(data_dir), "--api-key", API_KEY,
                "--log-level", "WARNING"])
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=log, cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not answer /healthz in 30 s")


def time_sync(queue_dir: Path, url: str) -> tuple[float, float, int, str]:
    """Run `tablelog sync`; (seconds, peak RSS in MB, exit code, summary line)."""
    env = {**os.environ, "TABLELOG_API_KEY": API_KEY, "TABLELOG_BASE_URL": url}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tablelog_agent.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "sync", "--dir", str(queue_dir), "--no-progress"],
        env=env, cwd=REPO_ROOT, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    summary = next((line for line in err.splitlines() if line.startswith("tablelog sync:")),
                   err.strip()[-300:])
    return seconds, usage.ru_maxrss / 1024, proc.returncode, summary


def measure(workload: Workload, scratch: Path) -> Measurement:
    queue_dir, server_dir = scratch / "queue", scratch / "server"  # fresh for each
    queued = build_queue(queue_dir, workload)
    server, url = start_server(server_dir, scratch / "server.log",
                               null_backend=workload.null_backend)
    try:
        seconds, rss, code, summary = time_sync(queue_dir, url)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(queue_dir, ignore_errors=True)
        shutil.rmtree(server_dir, ignore_errors=True)
    return Measurement(workload, queued, seconds, rss, code, summary)


# -- reporting ------------------------------------------------------------------------


def render(results: list[Measurement], command: str, load_before: str) -> str:
    lines = [
        SECTION, "",
        f"Generated by `{command}` on {dt.date.today().isoformat()}; do not edit by hand.",
        "",
        "Offline queues built with `Queue.put_many`, then `tablelog sync --dir QUEUE` in a "
        "subprocess against `tablelog server` on 127.0.0.1 (same machine, fresh data "
        "directory). Wall time includes interpreter start-up. History entries are 5 "
        f"scalars each over {RUNS} runs; media are distinct 4 MiB blobs, "
        f"{FILES_PER_ARTIFACT} per artifact. Peak RSS is the sync process's, from wait4.",
        "",
        "The last two rows replace the server with a stub that stores nothing (blobs "
        "read and dropped, every entry answered `applied`): the agent's own ceiling.",
        "",
        "| workload | backend | entries | queued | wall time | entries/s | MB/s "
        "| agent peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for m in results:
        entries = m.workload.entries + RUNS + m.workload.media_bytes // (
            BLOB_BYTES * FILES_PER_ARTIFACT)
        ok = "" if m.exit_code == 0 else f" (exit {m.exit_code})"
        lines.append(
            f"| {m.workload.name}{ok} | "
            f"{'stub' if m.workload.null_backend else 'tablelog server'} | {entries:,} | "
            f"{m.queued_bytes / 1e6:,.1f} MB | "
            f"{m.seconds:.2f} s | {entries / m.seconds:,.0f} | "
            f"{m.queued_bytes / 1e6 / m.seconds:,.1f} | {m.peak_rss_mb:.0f} MB |")
    lines += [
        "",
        "Goals: >= 20,000 small entries/s, >= 100 MB/s of media, peak RSS < 100 MB.",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}; load average (1/5/15 min) {load_before} "
        f"before and {load_average()} after (server, agent and any other work share "
        "these CPUs).",
        "",
    ]
    return "\n".join(lines)


def write_docs(section: str, results: list[Measurement]) -> None:
    """Replace this script's section of docs/benchmarks.md, leaving the others alone,
    and the sample `tablelog sync` output in docs/agent.md with the mixed workload's."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(replace_section(text, SECTION, section), encoding="utf-8")
    mixed = next((m for m in results if m.workload.name == "mixed"
                  and not m.workload.null_backend), None)
    if mixed is None or not AGENT_DOC.exists():
        return
    sample = "```\n" + mixed.summary + "\n```"
    text = AGENT_DOC.read_text(encoding="utf-8")
    replaced = replace_between_markers(text, SAMPLE_START, SAMPLE_END, sample)
    if replaced is None:
        print(f"note: {AGENT_DOC} has no {SAMPLE_START} marker: sample not written",
              file=sys.stderr)
        return
    AGENT_DOC.write_text(replaced, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20,000 entries, 128 MiB")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace '{SECTION}' in docs/benchmarks.md")
    parser.add_argument("--scratch", type=Path, help="where queues and server data go")
    parser.add_argument("--serve-null", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_null:
        serve_null_backend(args.serve_null)
        return 0
    entries, media = (20_000, 128 << 20) if args.quick else (100_000, 1 << 30)
    workloads = [Workload("small entries", entries, 0), Workload("media", 0, media),
                 Workload("mixed", entries, media),
                 Workload("small entries", entries, 0, null_backend=True),
                 Workload("media", 0, media, null_backend=True)]
    load_before = load_average()
    scratch = Path(tempfile.mkdtemp(prefix="tablelog-bench-", dir=args.scratch))
    try:
        results = []
        for w in workloads:
            m = measure(w, scratch)
            print(f"{w.name}: {m.seconds:.2f}s, peak RSS {m.peak_rss_mb:.0f} MB - {m.summary}",
                  file=sys.stderr)
            results.append(m)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    command = "python bench/bench_sync.py" + (" --quick" if args.quick else "")
    section = render(results, command, load_before)
    print(section)
    if args.write_docs:
        write_docs(section, results)
    return 0 if all(m.exit_code == 0 for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
