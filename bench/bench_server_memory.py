"""The server's peak memory for one hostile batch, before and after the batch limits
(issue 13.3): a million empty entries (16 MiB on the wire), and one entry whose
history row is 6 MiB of empty maps.

Each server is a real `tablelog server` subprocess on 127.0.0.1 with its default
limits; "before" runs the server code of an earlier commit (`git archive`, so the
working tree is untouched), "after" the code of this checkout. The growth of the
server's peak RSS over its RSS before the request comes from the kernel (see
`tests/reliability/batch_memory.py`).

    python bench/bench_server_memory.py                  # before = 7e65a90, after = here
    python bench/bench_server_memory.py --before REV     # another baseline
    python bench/bench_server_memory.py --no-before      # this checkout only
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "sdk")]

from tests.reliability.batch_memory import (  # noqa: E402
    Answer,
    MiB,
    allowed_growth,
    big_row_body,
    empty_entries_body,
    send_and_measure,
)

BEFORE = "7e65a90"  # main just before the batch limits
API_KEY = "bench-key-0123456789"
PACKAGES = ("sdk", "agent", "server_stub")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _source_of(rev: str, into: Path) -> Path:
    """The packages of commit `rev`, extracted under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", "--format=tar", rev,
                              *PACKAGES], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _measure(source: Path, work: Path) -> dict[str, Answer]:
    """Start a server from `source`, send each hostile body once, stop it."""
    port = _free_port()
    data = work / f"data-{port}"
    env = {k: v for k, v in os.environ.items() if k != "TABLELOG_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(str(source / p) for p in PACKAGES)
    log = open(work / f"server-{port}.log", "wb")  # noqa: SIM115 - the child's
    proc = subprocess.Popen([sys.executable, "-m", "tablelog_server", "--host", "127.0.0.1",
                             "--port", str(port), "--data-dir", str(data),
                             "--api-key", API_KEY], stdout=log, stderr=log, env=env)
    log.close()
    try:
        _wait_healthy(port, proc)
        return {name: send_and_measure(proc.pid, port, API_KEY, make())
                for name, make in (("1,000,000 empty entries", empty_entries_body),
                                   ("one entry of 6 MiB of empty maps", big_row_body))}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)  # a process just started; bounded by the deadline
    raise RuntimeError(f"the server did not answer /healthz in {timeout}s")


def _outcome(answer: Answer) -> str:
    if answer.status == 200 and isinstance(answer.body, dict):
        statuses = sorted({str(r.get("status")) for r in answer.body.get("results", [])})
        return "200 (" + ", ".join(statuses) + ")"
    return str(answer.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, metavar="REV",
                        help="commit whose server is the baseline (%(default)s)")
    parser.add_argument("--no-before", action="store_true", help="measure this checkout only")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-server-memory-") as tmp:
        work = Path(tmp)
        runs: list[tuple[str, dict[str, Answer]]] = []
        if not args.no_before:
            source = _source_of(args.before, work / "before")
            runs.append((f"before ({args.before})", _measure(source, work)))
        runs.append(("after (this checkout)", _measure(REPO_ROOT, work)))
    print("| server | hostile batch | body | answer | peak RSS growth | allowed |")
    print("|---|---|---:|---|---:|---:|")
    for label, answers in runs:
        for name, answer in answers.items():
            print(f"| {label} | {name} | {answer.body_bytes / MiB:.1f} MiB | "
                  f"{_outcome(answer)} | {answer.peak_mib:.0f} MiB | "
                  f"{allowed_growth(answer.body_bytes) / MiB:.0f} MiB |")
    print(f"\n{sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
