"""A training loop with logging against the same loop without it: tablelog and wandb.

The loop (numpy, BLAS pinned to one thread for every variant):
``steps`` steps of two 256x256 float32 matrix products with a loss and an
accuracy computed from them. Variants:

- ``bare``:     the loop alone, no library imported;
- ``scalars``:  ``run.log({"loss": .., "acc": ..})`` every step;
- ``images``:   the same, plus every 50 steps a 100-row table (id, a 32x32 RGB
  ``Image``, pred, truth) logged in the same ``run.log`` call.

tablelog runs *online*: a real ``tablelog server`` subprocess on 127.0.0.1,
``TABLELOG_MODE=online``, and the agent that ``init()`` spawns uploads while the
loop runs (all on the same machine). wandb runs offline (``WANDB_MODE=offline``).
The figure is the loop's wall time (init before it and finish after it are
not in it; finish is reported apart) divided by the bare loop's. Repetitions
of the variants are interleaved so that a change in the machine's load hits
them alike; every repetition is a fresh process.

    python bench/bench_training.py [--quick] [--no-wandb] [--reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import BLAS_ONE_THREAD, Stats, fmt_ratio, log
from bench_logging import Series, import_library, repeat

SCRIPT = Path(__file__).resolve()
API_KEY = "bench-key-0123456789"
STEPS, EVERY, TABLE_ROWS, SIZE = 500, 50, 100, 256


# =============================================================================================
# worker


def work_train(library: str, steps: int = STEPS, every: int = EVERY,
               table_rows: int = TABLE_ROWS, images: bool = False, size: int = SIZE
               ) -> dict[str, float]:
    """The loop; `library` 'none' is the bare loop (nothing imported, nothing logged)."""
    import numpy as np

    lib = None if library == "none" else import_library(library)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((size, size), dtype=np.float32)
    w1 = rng.standard_normal((size, size), dtype=np.float32) / np.float32(size ** 0.5)
    w2 = rng.standard_normal((size, size), dtype=np.float32) / np.float32(size ** 0.5)
    n_tables = -(-steps // every) if images and lib is not None else 0
    pictures = rng.integers(0, 256, size=(n_tables, table_rows, 32, 32, 3), dtype=np.uint8)
    if lib is not None:
        # Resolve the names the loop uses before the timer, as `import wandb` does for
        # wandb: tablelog loads Table/Image lazily on first use (58 ms, once per process),
        # which is import cost, not logging cost.
        _ = (lib.Table, lib.Image)
    run = lib.init(project="bench", config={"steps": steps}) if lib is not None else None
    in_log = 0.0  # time inside run.log: the direct cost on the training thread
    start, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    for step in range(steps):
        hidden = np.maximum(x @ w1, 0)
        out = hidden @ w2
        loss = float(np.square(out).mean())
        acc = float((out > 0).mean())
        if run is not None:
            data: dict[str, Any] = {"loss": loss, "acc": acc}
            if n_tables and step % every == 0:
                table = lib.Table(columns=["id", "image", "pred", "truth"])
                batch = pictures[step // every]
                for i in range(table_rows):
                    table.add_data(i, lib.Image(batch[i]), i % 10, (i * 7) % 10)
                data["predictions"] = table
            before = time.perf_counter()
            run.log(data)
            in_log += time.perf_counter() - before
    loop = time.perf_counter() - start
    cpu, main_cpu = time.process_time() - cpu, time.thread_time() - main_cpu
    finish = 0.0
    if run is not None:
        start = time.perf_counter()
        run.finish()
        finish = time.perf_counter() - start
    return {"loop_s": loop, "finish_s": finish, "cpu_s": cpu, "main_cpu_s": main_cpu,
            "log_s": in_log, "steps": float(steps)}


# =============================================================================================
# driver: a real server for tablelog's online runs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`tablelog server` (python -m tablelog_server) on 127.0.0.1 in a subprocess."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Server:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TABLELOG_")}
        with open(self.data_dir.parent / "server.log", "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tablelog_server", "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir),
                 "--api-key", API_KEY, "--log-level", "WARNING"],
                stdout=out, stderr=out, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tablelog server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tablelog server did not answer /healthz in {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        return _proc_cpu(self.proc.pid) if self.proc is not None else 0.0

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _proc_cpu(pid: int) -> float:
    """utime + stime of a live process from /proc (0.0 where /proc is unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _agent_pids(qdir: Path) -> list[int]:
    """Pids of agents serving `qdir` (read from /proc; nothing is signalled)."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"tablelog_agent" in b" ".join(argv) and str(qdir).encode() in argv:
            pids.append(int(entry.name))
    return pids


def wait_for_upload(root: Path, out: dict[str, Any], timeout: float = 60.0) -> None:
    """After an online run: wait for the spawned agent to drain the queue and exit.

    Records how long the queue took to empty after the process exited and
    whether everything was uploaded, so that one repetition's agent never
    competes with the next repetition.
    """
    from tablelog.runtime.spawn import agent_running
    from tablelog.store.queue import Queue

    qdir = root / "tablelog"
    start = time.monotonic()
    pending = -1
    drained_at: float | None = None
    agent_cpu: dict[int, float] = {}
    while time.monotonic() - start < timeout:
        for pid in _agent_pids(qdir):  # its CPU, sampled until it exits
            agent_cpu[pid] = max(agent_cpu.get(pid, 0.0), _proc_cpu(pid))
        queue = Queue(qdir)
        try:
            stats = queue.stats()
        finally:
            queue.close()
        pending = stats.pending
        if pending == 0 and drained_at is None:
            drained_at = time.monotonic() - start
        if not agent_running(qdir) and (pending == 0 or time.monotonic() - start > 5):
            break
        time.sleep(0.1)
    out["agent_cpu_s"] = sum(agent_cpu.values())
    out["pending_after"] = float(pending)
    out["drain_after_exit_s"] = drained_at if drained_at is not None else float("nan")


# =============================================================================================


@dataclass
class TrainingResults:
    series: dict[tuple[str, str], Series] = field(default_factory=dict)  # (variant, lib)
    steps: int = STEPS
    reps: int = 3
    online: bool = True
    server_error: str | None = None

    def get(self, variant: str, library: str) -> Series:
        return self.series.get((variant, library)) or Series(library, variant)

    def ratio(self, variant: str, library: str) -> float | None:
        bare = self.get("bare", "none").median("loop_s")
        ours = self.get(variant, library).median("loop_s")
        return None if bare is None or ours is None or bare <= 0 else ours / bare


def measure_training(pythons: Mapping[str, Path], *, quick: bool = False, reps: int = 3,
                     scratch: Path | None = None, online: bool = True) -> TrainingResults:
    """Interleaved repetitions of bare / scalars / images for every library."""
    steps = 100 if quick else STEPS
    res = TrainingResults(steps=steps, reps=reps, online=online)
    server: Server | None = None
    server_dir = Path(tempfile.mkdtemp(prefix="tablelog-bench-server-", dir=scratch))
    try:
        if online and "tablelog" in pythons:
            try:
                server = Server(server_dir / "data").start()
            except RuntimeError as exc:
                res.server_error = str(exc)
                log(f"WARNING: no server, tablelog runs offline: {exc}")
        variants: list[tuple[str, str, Path]] = [("bare", "none", Path(sys.executable))]
        for library, python in pythons.items():
            variants += [("scalars", library, python), ("images", library, python)]
        for rep in range(reps):
            for variant, library, python in variants:
                params = {"steps": steps, "images": variant == "images"}
                env_extra = dict(BLAS_ONE_THREAD)
                mode, after = "offline", None
                if library == "tablelog" and server is not None:
                    srv, cpu_before = server, server.cpu_seconds()

                    def after(root: Path, out: dict[str, Any], srv: Server = srv,
                              cpu_before: float = cpu_before) -> None:
                        wait_for_upload(root, out)
                        out["server_cpu_s"] = srv.cpu_seconds() - cpu_before

                    mode = "online"
                    env_extra.update({"TABLELOG_BASE_URL": server.url,
                                      "TABLELOG_API_KEY": API_KEY,
                                      "TABLELOG_AGENT_IDLE_EXIT": "1"})
                one = repeat(python, library, "train",
                             params, 1, label=f"train_{variant}", script=SCRIPT, mode=mode,
                             env_extra=env_extra, after=after, scratch=scratch,
                             timeout=600)
                key = (variant, library)
                merged = res.series.setdefault(key, Series(library, variant))
                if one.error:
                    merged.error = one.error
                for name, stats in one.metrics.items():
                    merged.metrics.setdefault(name, Stats()).values.extend(stats.values)
            log(f"training loop: repetition {rep + 1}/{reps} done")
    finally:
        if server is not None:
            server.stop()
        import shutil

        shutil.rmtree(server_dir, ignore_errors=True)
    return res


def render_section(res: TrainingResults) -> str:
    where = ("tablelog online (agent spawned by `init()`, `tablelog server` on 127.0.0.1, "
             "both on this machine)" if res.online and not res.server_error else
             "tablelog offline")
    lines = ["## Training loop", "",
             f"{res.steps} steps of two 256x256 float32 matrix products (numpy, BLAS pinned "
             "to one thread: OPENBLAS/OMP/MKL_NUM_THREADS=1) with a loss and an accuracy; "
             "**scalars** logs both every step, **images** also logs a 100-row table with "
             f"32x32 RGB images every {EVERY} steps. {where}; wandb offline. Slowdown = the "
             "loop's wall time / the bare loop's (init before and finish after the loop are "
             "not in it, nor is importing the library: tablelog's lazily loaded `Table` and "
             "`Image` are resolved before the timer, as `import wandb` loads wandb's). "
             f"Median of {res.reps} repetitions, each a fresh process, variants "
             "interleaved; fastest and slowest in brackets. The CPU columns say where the "
             "logging work went: CPU time of the training process during the loop (all its "
             "threads, so tablelog's writer thread is in it), the share of the training "
             "thread alone, and (online) the CPU time the agent and the server used in the "
             "whole run, upload after the loop included.", "",
             "| variant | library | loop | slowdown vs bare | process CPU in loop | "
             "training-thread CPU | agent CPU | server CPU | finish() after the loop |",
             "|---|---|---|---|---|---|---|---|---|"]
    bare = res.get("bare", "none")
    lines.append(f"| bare loop | — | {bare.get('loop_s').fmt('s', 1)} | 1.00x | "
                 f"{bare.get('cpu_s').fmt('s', 1)} | {bare.get('main_cpu_s').fmt('s', 1)} | "
                 "— | — | — |")
    for variant in ("scalars", "images"):
        for library in ("tablelog", "wandb"):
            s = res.get(variant, library)
            if not s.metrics and not s.error:
                continue
            if s.error:
                lines.append(f"| {variant} | {library} | failed | n/a | n/a | n/a | n/a | n/a | "
                             "n/a |")
                continue
            ratio = res.ratio(variant, library)
            agent, server = s.get("agent_cpu_s"), s.get("server_cpu_s")
            lines.append(f"| {variant} | {library} | {s.get('loop_s').fmt('s', 1)} | "
                         f"{fmt_ratio(ratio, 2)} | {s.get('cpu_s').fmt('s', 1)} | "
                         f"{s.get('main_cpu_s').fmt('s', 1)} | "
                         f"{agent.fmt('s', 1) if agent.ok else '—'} | "
                         f"{server.fmt('s', 1) if server.ok else '—'} | "
                         f"{s.get('finish_s').fmt()} |")
    uploads = [res.get(v, "tablelog") for v in ("scalars", "images")]
    drained = [x for s in uploads for x in s.get("drain_after_exit_s").values if x == x]
    left = [x for s in uploads for x in s.get("pending_after").values]
    if left:
        lines += ["", f"Upload check (tablelog online): entries still queued after the agent "
                      f"stopped: {int(max(left))} at most over {len(left)} runs; the queue was "
                      f"empty at most {max(drained) if drained else float('nan'):.1f} s after "
                      "the training process exited."]
    if res.server_error:
        lines += ["", f"The server could not start ({res.server_error}), so tablelog ran "
                      "offline."]
    errors = [f"{k[1]}/{k[0]}: {s.error}" for k, s in res.series.items() if s.error]
    lines += [f"Error: {e}" for e in errors]
    return "\n".join(lines) + "\n"


def worker_main(name: str, library: str, params_json: str) -> int:
    if name != "train":
        raise SystemExit(f"unknown workload {name!r}")
    print(json.dumps(work_train(library, **json.loads(params_json))))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 steps, 2 repetitions")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; 2 with --quick)")
    parser.add_argument("--no-wandb", action="store_true", help="measure tablelog only")
    parser.add_argument("--offline", action="store_true", help="tablelog offline (no server)")
    parser.add_argument("--worker", nargs=3, metavar=("WORKLOAD", "LIB", "PARAMS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(*args.worker)
    pythons: dict[str, Path] = {"tablelog": Path(sys.executable)}
    if not args.no_wandb:
        from _wandb_env import ensure_wandb_env

        env = ensure_wandb_env()
        if env.ok and env.python is not None:
            pythons["wandb"] = env.python
    res = measure_training(pythons, quick=args.quick,
                           reps=args.reps or (2 if args.quick else 3), online=not args.offline)
    print(render_section(res))
    return 0 if not any(s.error for s in res.series.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
