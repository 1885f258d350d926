#!/usr/bin/env python3
"""One entry point that sets everything up on a fresh machine with only python3.

    python3 dev.py demo     # install into .venv, then run `tablelog demo`
    python3 dev.py test     # install into .venv, then ruff, mypy --strict and pytest
    python3 dev.py bench    # install, then the side-by-side benchmarks (bench/run_all.py)

The virtual environment is rebuilt only when pyproject.toml changes (a stamp
file records its hash), so repeated runs start in a second.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".tablelog-installed"


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True)


def _run_leaving_ctrl_c_to_the_child(*cmd: str | Path) -> None:
    """Like _run, but a Ctrl-C (which the child gets too) waits for the child to clean
    up: subprocess.run would kill it a quarter of a second later, mid-cleanup."""
    print("+", " ".join(str(c) for c in cmd), flush=True)
    proc = subprocess.Popen([str(c) for c in cmd], cwd=ROOT)
    for _ in range(10):  # each further Ctrl-C ends one wait; the tenth gives up
        try:
            code = proc.wait()
            break
        except KeyboardInterrupt:
            continue
    else:
        proc.kill()
        code = proc.wait()
    if code:
        raise subprocess.CalledProcessError(code, [str(c) for c in cmd])


def ensure_venv() -> None:
    """Create .venv and install tablelog with its test extra, once per pyproject change."""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    _run(PY, "-m", "pip", "install", "-q", "--upgrade", "pip")
    _run(PY, "-m", "pip", "install", "-q", "-e", ".[test,pandas]")
    STAMP.write_text(digest)


def ensure_system_tools() -> None:
    """Debian packages some tests drive for real: Chromium for the viewer's browser
    tests, systemd-analyze for the unit files, nginx in front of a real server.
    Installing needs root; without it the tests that need them fail (nginx's skips)
    with a message saying what to install."""
    for script in (".ci/install-browser", ".ci/install-systemd", ".ci/install-nginx"):
        if (ROOT / script).exists():
            try:
                _run("bash", script)
            except subprocess.CalledProcessError:
                print(f"warning: {script} failed; the tests that need it will say so", flush=True)


def cmd_test(extra: list[str]) -> None:
    ensure_venv()
    ensure_system_tools()
    _run(PY, "-m", "ruff", "check", "sdk", "agent", "server_stub", "tests", "bench", "dev.py")
    _run(PY, "-m", "mypy", "sdk/tablelog", "agent/tablelog_agent", "server_stub/tablelog_server")
    _run(PY, "-m", "pytest", "-q", *extra)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "bench"}:
        print(__doc__)
        return 2
    command, extra = argv[0], argv[1:]
    try:
        if command == "test":
            cmd_test(extra)
        elif command == "demo":
            ensure_venv()
            _run_leaving_ctrl_c_to_the_child(BIN / "tablelog", "demo", *extra)
        else:
            ensure_venv()
            _run(PY, "bench/run_all.py", *extra)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    except KeyboardInterrupt:  # Ctrl-C reached the child too; it cleans up after itself
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
