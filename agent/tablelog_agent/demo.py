"""`tablelog demo`: the whole product in under a minute on a laptop CPU.

Starts a local server, trains a tiny numpy classifier on synthetic 8x8
"digits" while logging scalars, a predictions table with images, a MUTABLE
table that grows each epoch and an artifact with a JoinedTable. The SDK
spawns the upload agent by itself. Then it waits for the upload, reads
everything back through `tablelog.Api`, prints what was stored and how much
logging cost the loop, stops what it started and removes its temporary
directory. Its last lines say how to look at what it logged; with --keep
the server stays up (URL and API key printed) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

# One BLAS thread: on a small shared machine, BLAS threads spinning against the
# agent and server make the bare loop's time swing tenfold, and the comparison
# meaningless. (Must be set before numpy is imported.)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 - after the BLAS settings above

EPOCHS = 6
STEPS_PER_EPOCH = 50
N_CLASSES = 10
HIDDEN = 512
BATCH = 256


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn_server(data_dir: Path, port: int, key: str) -> subprocess.Popen[bytes]:
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "tablelog_server", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--api-key", key],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    return proc


def _wait_until_healthy(proc: subprocess.Popen[bytes], data_dir: Path, port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server did not start; its log is {data_dir / 'server.log'} "
                             "(run with --dir DIR to keep it)")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not answer /healthz within 20 s")


def _dataset(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy 8x8 images of ten fixed class prototypes."""
    prototypes = np.random.default_rng(1234).random((N_CLASSES, 64))
    labels = rng.integers(0, N_CLASSES, n)
    images = np.clip(prototypes[labels] + 0.35 * rng.standard_normal((n, 64)), 0, 1)
    return images, labels


def _train(log: Any, rng: np.random.Generator, in_log: list[float] | None = None) -> float:
    """A one-hidden-layer MLP trained by SGD; returns wall seconds, and appends the
    time spent inside each `run.log` call to `in_log`.

    `log` is None for the bare loop, the run otherwise: scalars every step, a
    predictions table with images and a growing MUTABLE table every epoch.
    """
    import tablelog as wandb

    in_log = [] if in_log is None else in_log
    x, y = _dataset(rng, 4096)
    x_val, y_val = _dataset(np.random.default_rng(7), 64)
    w1 = rng.standard_normal((64, HIDDEN)) * 0.1
    w2 = rng.standard_normal((HIDDEN, N_CLASSES)) * 0.1
    growing = wandb.Table(columns=["epoch", "val_acc", "loss"], log_mode="MUTABLE")
    start = time.perf_counter()
    for epoch in range(EPOCHS):
        for _ in range(STEPS_PER_EPOCH):
            idx = rng.integers(0, len(x), BATCH)
            h = np.maximum(x[idx] @ w1, 0)
            logits = h @ w2
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            loss = float(-np.log(p[np.arange(BATCH), y[idx]] + 1e-9).mean())
            p[np.arange(BATCH), y[idx]] -= 1
            grad_h = (p @ w2.T) * (h > 0)
            w2 -= 0.2 * h.T @ p / BATCH
            w1 -= 0.2 * x[idx].T @ grad_h / BATCH
            _check_ctrl_c()
            if log is not None:
                t0 = time.perf_counter()
                log.log({"loss": loss, "epoch": epoch})
                in_log.append(time.perf_counter() - t0)
        pred = (np.maximum(x_val @ w1, 0) @ w2).argmax(1)
        acc = float((pred == y_val).mean())
        if log is not None:
            table = wandb.Table(columns=["id", "image", "guess", "truth"])
            for i in range(len(x_val)):
                img = (x_val[i].reshape(8, 8) * 255).astype(np.uint8)
                table.add_data(i, wandb.Image(img, caption=f"truth {y_val[i]}"), int(pred[i]),
                               int(y_val[i]))
            growing.add_data(epoch, acc, loss)
            t0 = time.perf_counter()
            log.log({"predictions": table, "epochs": growing, "val_acc": acc})
            in_log.append(time.perf_counter() - t0)
    return time.perf_counter() - start


def _log_artifact(run: Any) -> None:
    import tablelog as wandb

    songs = wandb.Table(columns=["song_id", "title"], data=[[i, f"song {i}"] for i in range(20)])
    synth = wandb.Table(columns=["song_id", "quality"],
                        data=[[i, round(0.5 + i / 40, 3)] for i in range(0, 20, 2)])
    art = wandb.Artifact("synth_summary", type="analysis")
    art.add(songs, "original_samples")
    art.add(synth, "synth_samples")
    art.add(wandb.JoinedTable("original_samples", "synth_samples", "song_id"), "synth_explore")
    run.log_artifact(art)


def _wait_for_upload(queue_dir: Path, timeout: float) -> bool:
    from tablelog.store.queue import Queue

    deadline = time.monotonic() + timeout
    with Queue(queue_dir) as q:
        while time.monotonic() < deadline:
            _check_ctrl_c()
            if q.stats().pending == 0:
                return True
            time.sleep(0.1)
    return False


def _stop_agent(queue_dir: Path) -> None:
    from tablelog_agent.lock import lock_holder

    pid = lock_holder(queue_dir)
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


_ctrl_c = False  # set by the first Ctrl-C


def _on_ctrl_c(signum: int, frame: Any) -> None:
    """Ctrl-C raises KeyboardInterrupt, as Python's own handler, and is remembered: if a
    library swallows that KeyboardInterrupt (Python drops one raised inside a finalizer,
    for one), the demo still stops at its next step instead of waiting for an upload to
    a server the same Ctrl-C has stopped."""
    global _ctrl_c
    _ctrl_c = True
    raise KeyboardInterrupt


def _check_ctrl_c() -> None:
    if _ctrl_c:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tablelog demo`; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="tablelog demo", description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  tablelog demo                 # run it, stop the server, remove its data\n"
               "  tablelog demo --keep          # then keep the server running to browse the "
               "viewer\n"
               "  tablelog demo --dir ./demo    # keep the data in ./demo (the last line says "
               "how to serve it)\n"
               "\nexit status: 0 done; 1 the upload did not finish; 2 usage error; 130 "
               "interrupted (Ctrl-C) (docs/agent.md, \"Exit codes\")")
    parser.add_argument("--dir", type=Path, help="where to keep the demo's data (default: a "
                        "temporary directory, removed at the end)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the server running afterwards to browse the viewer, until "
                             "Ctrl-C; the data is kept")
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="tablelog-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    demo = _Demo(root=root, port=_free_port(), key=secrets.token_hex(16),
                 remove=args.dir is None and not args.keep)
    print(f"tablelog demo: data in {root}", flush=True)
    signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        code = demo.run(keep=args.keep)
    except KeyboardInterrupt:
        code = 130
        if demo.serving:  # --keep: Ctrl-C is how the user says they are done browsing
            code = 0
    finally:
        # A second Ctrl-C must not leave a half-stopped server or a half-removed directory.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.stop()
    for line in demo.closing_lines(code):
        print(line, flush=True)
    return code


class _Demo:
    """What one demo started (a server, an agent, a directory) and how to stop it."""

    def __init__(self, *, root: Path, port: int, key: str, remove: bool) -> None:
        self.root, self.port, self.key, self.remove = root, port, key, remove
        self.server_dir, self.queue_dir = root / "server", root / "queue"
        self.base_url = f"http://127.0.0.1:{port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.serving = False  # True while --keep waits for Ctrl-C

    def run(self, *, keep: bool) -> int:
        """Train, log, read back; with `keep`, then serve until interrupted."""
        self.server_dir.mkdir(exist_ok=True)
        self.server = _spawn_server(self.server_dir, self.port, self.key)
        _wait_until_healthy(self.server, self.server_dir, self.port)
        print(f"  server  {self.base_url} (pid {self.server.pid})", flush=True)
        os.environ.update({"TABLELOG_DIR": str(self.queue_dir),
                           "TABLELOG_BASE_URL": self.base_url,
                           "TABLELOG_API_KEY": self.key, "TABLELOG_MODE": "online",
                           "TABLELOG_AGENT_IDLE_EXIT": "30"})
        import tablelog as wandb

        bare = _train(None, np.random.default_rng(0))
        _check_ctrl_c()
        run = wandb.init(project="demo", name="mlp-digits",
                         config={"lr": 0.2, "batch": BATCH, "hidden": HIDDEN})
        in_log: list[float] = []
        logged = _train(run, np.random.default_rng(0), in_log)
        _log_artifact(run)
        _check_ctrl_c()
        t0 = time.perf_counter()
        run.finish()
        finish_s = time.perf_counter() - t0
        in_log.sort()
        print(f"  trained {EPOCHS * STEPS_PER_EPOCH} steps: {bare:.3f} s bare, {logged:.3f} s "
              f"with logging ({logged / bare:.2f}x, which includes building the image tables "
              f"and an upload agent starting on the same CPUs)")
        print(f"  run.log() held the training loop {sum(in_log) * 1000:.1f} ms in all over "
              f"{len(in_log)} calls (median {in_log[len(in_log) // 2] * 1e6:.0f} us, slowest "
              f"{in_log[-1] * 1000:.2f} ms, a 64-image table); finish() took "
              f"{finish_s * 1000:.0f} ms")
        if not _wait_for_upload(self.queue_dir, 60):
            print("  upload did not finish within 60 s; see `tablelog status --dir "
                  f"{self.queue_dir}`", file=sys.stderr)
            return 1
        print("  uploaded by the agent the SDK started; reading back through tablelog.Api:")
        _report(wandb.Api(base_url=self.base_url, api_key=self.key,
                          cache_dir=self.root / "readback"), run.id)
        if keep:
            self.serving = True
            print(f"\nviewer: {self.base_url}/ (log in with the API key {self.key})\n"
                  "the server keeps running; Ctrl-C stops it (the data stays)", flush=True)
            self.server.wait()
            print("the server stopped by itself; see "
                  f"{self.server_dir / 'server.log'}", file=sys.stderr)
            return 1
        return 0

    def stop(self) -> None:
        """Stop the agent and the server; remove the directory unless it is to be kept."""
        if self.queue_dir.exists():
            _stop_agent(self.queue_dir)
        if self.server is not None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(15)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def closing_lines(self, code: int) -> list[str]:
        """The demo's last lines: how to look at what it logged, now that it has stopped."""
        head = "interrupted; " if code == 130 else ""
        if self.remove:
            return [f"{head}the server has stopped and {self.root} is removed.",
                    "To browse what the demo logs in the viewer, run `tablelog demo --keep` "
                    "(or `python3 dev.py demo --keep`): it leaves the server running and "
                    "prints its URL and API key."]
        if self.server is None or not (self.server_dir / "metadata.db").exists():
            return [f"{head}the server had not started; {self.root} holds nothing to browse."]
        return [f"{head}the server has stopped; the data stays in {self.root}. To browse it again:",
                f"  TABLELOG_API_KEY={self.key} tablelog server --data-dir {self.server_dir} "
                f"--port {self.port}",
                f"then open {self.base_url}/ and log in with the API key {self.key}"]


def _report(api: Any, run_id: str) -> None:
    runs = api.runs("demo")
    run = api.run(f"demo/{run_id}")
    history = run.history()
    print(f"    runs in project demo: {len(runs)}; run {run.id} state={run.state}, "
          f"{len(history)} history rows, summary val_acc={run.summary.get('val_acc'):.3f}")
    for key, versions in (("predictions", "latest"), ("epochs", "latest"), ("epochs", "v0")):
        table = api.artifact(f"demo/run-{run_id}-{key}:{versions}").get(key)
        print(f"    run-{run_id}-{key}:{versions}: {len(table.data)} rows x "
              f"{len(table.columns)} columns {table.columns}")
    joined = api.artifact("demo/synth_summary:latest").get("synth_explore")
    print(f"    synth_summary:latest JoinedTable inner join: "
          f"{len(joined.to_table(how='inner').data)} rows")
