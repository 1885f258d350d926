"""Installing tablelog into a fresh virtualenv prints no warnings (issue 14.2).

A `project.license` written as a TOML table made setuptools print four
deprecation blocks (~40 lines) on every install: a newcomer's first sight of
the project. The test builds a new venv in tmp_path, installs a copy of the
sources with pip's verbose output (so the build backend's own messages are
shown, as they are when a user installs), and fails on any warning line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What the build reads; copying them keeps the build's own files out of the worktree.
SOURCES = ("pyproject.toml", "README.md", "sdk", "agent", "server_stub")
WARNING = re.compile(r"warning", re.IGNORECASE)


def _copy_sources(dest: Path) -> Path:
    dest.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def warnings_in(output: str) -> list[str]:
    """The lines of an install's output that mention a warning."""
    return [line for line in output.splitlines() if WARNING.search(line)]


def test_warnings_in_finds_setuptools_deprecation_blocks() -> None:
    # What the old `license = {text = ...}` printed, so the check below can fail.
    old = ("  /tmp/x/setuptools/config/_apply_pyprojecttoml.py:82: "
           "SetuptoolsDeprecationWarning: `project.license` as a TOML table is deprecated\n"
           "  !!\n        Please use a simple string containing a SPDX expression\n")
    assert len(warnings_in(old)) == 1


def test_fresh_venv_install_prints_no_warnings(tmp_path: Path) -> None:
    src = _copy_sources(tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"  # pip's own upgrade notice is not ours
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-v", "--no-deps", str(src)],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "Successfully installed tablelog" in output, output[-4000:]
    # The build backend ran (its output is in the log) and said nothing alarming.
    assert "running bdist_wheel" in output or "building wheel" in output.lower(), output[-4000:]
    assert warnings_in(output) == [], "\n".join(warnings_in(output))
