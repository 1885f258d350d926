"""A virtualenv holding wandb, for running wandb side by side with tablelog.

The benchmark compares tablelog with ``wandb==0.31.0`` in the same workloads.
wandb is not a dependency of tablelog, so it lives in its own virtualenv under
``.bench-venvs/`` (gitignored), created on first use with pip from PyPI and
re-used afterwards. Nothing here imports wandb into the calling process.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

WANDB_VERSION = "0.31.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
VENVS_DIR = REPO_ROOT / ".bench-venvs"


@dataclass(frozen=True)
class WandbEnv:
    """Where the wandb virtualenv is, or why it could not be made."""

    python: Path | None
    version: str | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.python is not None and self.error is None


def _venv_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _installed_version(python: Path) -> str | None:
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('wandb'))"],
        capture_output=True, text=True, check=False)
    return probe.stdout.strip() or None if probe.returncode == 0 else None


def ensure_wandb_env(version: str = WANDB_VERSION, *, quiet: bool = True) -> WandbEnv:
    """Return a virtualenv with ``wandb==version``, numpy and pandas, creating it if needed.

    Never raises for an install failure (no network, no wheel for this
    platform): the result's ``error`` says what went wrong so the caller can
    report tablelog's numbers alone.
    """
    path = VENVS_DIR / f"wandb-{version}"
    python = _venv_python(path)
    if python.exists() and _installed_version(python) == version:
        return WandbEnv(python, version)
    try:
        VENVS_DIR.mkdir(parents=True, exist_ok=True)
        if not python.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(path)
        cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check",
               f"wandb=={version}", "numpy", "pandas"]
        if quiet:
            cmd.append("--quiet")
        done = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    except OSError as exc:
        return WandbEnv(None, None, f"could not create {path}: {exc}")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout or "").strip().splitlines()[-5:]
        return WandbEnv(None, None,
                        f"pip install wandb=={version} failed: " + " | ".join(tail))
    installed = _installed_version(python)
    if installed != version:
        return WandbEnv(None, None, f"wandb {version} not importable after install")
    return WandbEnv(python, installed)


if __name__ == "__main__":
    env = ensure_wandb_env(quiet=False)
    print(env)
    sys.exit(0 if env.ok else 1)
