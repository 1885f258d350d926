"""`tablelog demo`'s last lines and its Ctrl-C (issue 14.1), with real processes.

The demo runs as a user runs it, in its own process group, and is interrupted
as a terminal's Ctrl-C does it: SIGINT to the whole group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from agent_helpers import REPO

from tablelog_agent.demo import _Demo

VIEWER = re.compile(r"viewer: (http://127\.0\.0\.1:\d+)/ \(log in with the API key (\w+)\)")


def _start_demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TABLELOG_")}
    env.update({"TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"})
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from tablelog_agent.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "demo", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
        start_new_session=True)


def _read_until(proc: subprocess.Popen[str], pattern: str, limit: int = 200) -> list[str]:
    """The demo's stdout lines up to the first containing `pattern` (bounded)."""
    assert proc.stdout is not None
    lines: list[str] = []
    for _ in range(limit):
        line = proc.stdout.readline()
        assert line, f"the demo ended before printing {pattern!r}: {lines} {proc.stderr}"
        lines.append(line.rstrip("\n"))
        if pattern in line:
            return lines
    raise AssertionError(f"no {pattern!r} in {limit} lines: {lines}")


def _signal_state(pid: int) -> str:
    """The demo's signal masks, for a failure message (is SIGINT ignored, blocked?)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "(no /proc status)"
    return " ".join(ln for ln in lines if ln.startswith(("SigBlk", "SigIgn", "SigCgt")))


def _ctrl_c(proc: subprocess.Popen[str]) -> tuple[str, str]:
    state = _signal_state(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"the demo went on after Ctrl-C ({state}): {out[-600:]} "
                             f"{err[-600:]}") from None
    return out, err


def _port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


def test_keep_prints_a_live_url_and_key_and_ctrl_c_ends_cleanly(tmp_path: Path) -> None:
    import tablelog

    proc = _start_demo(tmp_path, "--keep")
    try:
        lines = _read_until(proc, "Ctrl-C")
        root = Path(lines[0].removeprefix("tablelog demo: data in "))
        found = [m for m in map(VIEWER.search, lines) if m]
        assert found, lines
        url, key = found[-1].groups()
        # Live: the viewer answers, and the printed key reads back the demo's run.
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200
        runs = tablelog.Api(base_url=url, api_key=key, cache_dir=tmp_path / "cache").runs("demo")
        assert len(runs) == 1
        out, err = _ctrl_c(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err, (out, err)
    assert not _port_open(url)  # the server it started is stopped
    assert root.is_dir()  # --keep keeps the data, and the last lines say how to serve it
    last = out.strip().splitlines()[-3:]
    assert "the data stays in" in last[0], last
    command = last[1].split()
    assert command[0] == f"TABLELOG_API_KEY={key}" and command[1:3] == ["tablelog", "server"]
    assert last[2] == f"then open {url}/ and log in with the API key {key}"
    # The command brings the same data back.
    server = subprocess.Popen(
        [sys.executable, "-m", "tablelog_server", *command[3:]],
        env={**os.environ, "TABLELOG_API_KEY": key}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout is not None
        assert "listening" in server.stdout.readline()
        again = tablelog.Api(base_url=url, api_key=key, cache_dir=tmp_path / "cache2").runs("demo")
        assert len(again) == 1
    finally:
        server.terminate()
        server.wait(30)
        if server.stdout is not None:
            server.stdout.close()


def test_ctrl_c_during_the_demo_removes_its_temp_dir(tmp_path: Path) -> None:
    proc = _start_demo(tmp_path)
    try:
        lines = _read_until(proc, "  server  ")
        root = Path(lines[0].removeprefix("tablelog demo: data in "))
        assert root.is_dir() and root.parent == tmp_path
        out, err = _ctrl_c(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):  # never leave them to the next test's GC
            if pipe is not None:
                pipe.close()
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err, (out, err)
    assert not root.exists()
    last = out.strip().splitlines()[-2:]
    assert last[0].startswith("interrupted; the server has stopped and"), last
    assert "tablelog demo --keep" in last[1] and "URL and API key" in last[1]


def test_the_default_ending_says_how_to_browse(tmp_path: Path) -> None:
    # What a run to completion without --keep prints last (the full demo runs above).
    demo = _Demo(root=tmp_path, port=1234, key="k" * 32, remove=True)
    lines = demo.closing_lines(0)
    assert lines[0] == f"the server has stopped and {tmp_path} is removed."
    assert "`tablelog demo --keep`" in lines[1]
    kept = _Demo(root=tmp_path, port=1234, key="k" * 32, remove=False)
    assert "had not started" in kept.closing_lines(0)[0]  # nothing there to serve again
    (tmp_path / "server").mkdir()
    (tmp_path / "server" / "metadata.db").touch()
    kept.server = subprocess.Popen([sys.executable, "-c", ""])
    kept.server.wait()
    assert kept.closing_lines(0)[1].split()[:3] == [f"TABLELOG_API_KEY={'k' * 32}",
                                                     "tablelog", "server"]
