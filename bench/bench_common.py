"""Shared pieces of the side-by-side benchmarks (standard library only).

Both the driver (tablelog's virtualenv) and the workers (tablelog's or
wandb's virtualenv) import this module, so it must not import tablelog,
wandb, numpy or anything else outside the standard library.

- `make_rows`: the benchmark's 5-column rows (int id, float score,
  10-character str label, bool flag, float loss), deterministic.
- `run_worker`: one repetition = one fresh interpreter that prints one JSON line.
- `Stats`: median and spread of repetitions.
- `machine_info`, `versions`: what the report says the numbers came from.
- `replace_section`: the docs/benchmarks.md convention (each script owns its
  ``## ...`` sections and replaces only those).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
README = REPO_ROOT / "README.md"
COLUMNS = ["id", "score", "label", "flag", "loss"]
BLAS_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
WANDB_DIR_VARS = ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR",
                  "WANDB_CONFIG_DIR")


def make_rows(n: int, start: int = 0, seed: int = 1234) -> list[list[object]]:
    """n rows of (int id, float score, 10-char str label, bool flag, float loss)."""
    rnd = random.Random(seed + start)
    letters = string.ascii_letters
    return [[start + i, rnd.random(), "".join(rnd.choices(letters, k=10)), (start + i) % 3 == 0,
             rnd.random()] for i in range(n)]


def dir_bytes(*paths: Path) -> int:
    """Total size of the regular files under `paths` (missing paths count 0)."""
    total = 0
    for root in paths:
        for folder, _, files in os.walk(root):
            for name in files:
                with contextlib.suppress(OSError):  # a temp file renamed away meanwhile
                    total += os.lstat(os.path.join(folder, name)).st_size
    return total


# ---------------------------------------------------------------------------------------------
# environments of the two libraries


_COMPILED: set[Path] = set()


def compile_sources(root: Path = REPO_ROOT) -> None:
    """Byte-compile tablelog's source tree once, as `pip install` does for wandb's.

    A worker imports tablelog from this checkout, where ``PYTHONDONTWRITEBYTECODE``
    (set on some machines) would make every fresh interpreter compile every module it
    imports while wandb loads its installed ``.pyc`` files: that would time Python's
    compiler, not tablelog. The workers also run without that variable.
    """
    if root in _COMPILED:
        return
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    *(str(root / part) for part in ("sdk", "agent", "server_stub"))],
                   check=True, env={k: v for k, v in os.environ.items()
                                    if k != "PYTHONDONTWRITEBYTECODE"})
    _COMPILED.add(root)


def library_env(library: str, root: Path, *, mode: str = "offline",
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: every directory the library writes lies under `root`.

    tablelog: TABLELOG_DIR=root/tablelog. wandb: WANDB_DIR, WANDB_CACHE_DIR,
    WANDB_DATA_DIR, WANDB_ARTIFACT_DIR and WANDB_CONFIG_DIR under root, so that
    measuring root measures everything it wrote (run files, staging, caches, logs).
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TABLELOG_", "WANDB_")) and k != "PYTHONDONTWRITEBYTECODE"}
    compile_sources()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "sdk"),
                                                      str(REPO_ROOT / "agent"),
                                                      os.environ.get("PYTHONPATH")]))
    if library == "tablelog":
        env["TABLELOG_DIR"] = str(root / "tablelog")
        env["TABLELOG_MODE"] = mode
    elif library == "wandb":
        for var in WANDB_DIR_VARS:
            path = root / var.lower()
            path.mkdir(parents=True, exist_ok=True)
            env[var] = str(path)
        env["WANDB_MODE"] = mode
        env["WANDB_SILENT"] = "true"
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------
# running one repetition


class WorkerError(RuntimeError):
    pass


def run_worker(python: Path | str, script: Path, args: Sequence[str], env: Mapping[str, str],
               *, timeout: float = 300.0, cwd: Path | None = None) -> dict[str, object]:
    """Run `python script --worker args...` in a fresh interpreter; its last JSON line."""
    cmd = [str(python), str(script), "--worker", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=dict(env), check=False,
                              timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        raise WorkerError(f"{' '.join(args)}: timed out after {timeout:.0f} s") from exc
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-4:]
        raise WorkerError(f"{' '.join(args)} failed (exit {done.returncode}): "
                          + " | ".join(tail))
    out: dict[str, object] = json.loads(lines[-1])
    return out


@dataclass
class Stats:
    """Repetitions of one number: median and spread."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(float(value))

    @property
    def ok(self) -> bool:
        return bool(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    def fmt(self, unit: str = "ms", scale: float = 1e3, digits: int | None = None) -> str:
        """'12.3 ms (11.9–13.0)'; 'n/a' when nothing was measured."""
        if not self.values:
            return "n/a"

        def one(v: float) -> str:
            v *= scale
            d = digits if digits is not None else (0 if abs(v) >= 100 else
                                                   1 if abs(v) >= 10 else
                                                   2 if abs(v) >= 1 else 3)
            return f"{v:,.{d}f}"

        if len(self.values) == 1:
            return f"{one(self.median)} {unit}".strip()
        return f"{one(self.median)} {unit} ({one(self.lo)}–{one(self.hi)})"

    def to_json(self) -> dict[str, object]:
        if not self.values:
            return {"values": []}
        return {"values": self.values, "median": self.median, "min": self.lo, "max": self.hi}


def fmt_ratio(ratio: float | None, digits: int = 0) -> str:
    if ratio is None:
        return "n/a"
    if digits == 0 and ratio < 10:
        digits = 1
    return f"{ratio:,.{digits}f}x"


# ---------------------------------------------------------------------------------------------
# where the numbers came from


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1 << 20)
    except (OSError, ValueError, IndexError):
        pass
    return None


def load_average() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_info() -> dict[str, object]:
    ram = ram_gib()
    return {"cpu": cpu_model(), "cores": os.cpu_count(),
            "ram": f"{ram:.1f} GiB" if ram else "unknown",
            "platform": platform.platform(), "python": platform.python_version(),
            "load": load_average()}


def versions(python: Path | str, modules: Iterable[str]) -> dict[str, str]:
    """Installed versions of `modules` in the interpreter `python` ('absent' if missing)."""
    code = ("import importlib.metadata as m, json, sys, platform\n"
            "out = {'python': platform.python_version()}\n"
            "for name in sys.argv[1:]:\n"
            "    try: out[name] = m.version(name)\n"
            "    except m.PackageNotFoundError: out[name] = 'absent'\n"
            "print(json.dumps(out))")
    done = subprocess.run([str(python), "-c", code, *modules], capture_output=True, text=True,
                          check=False)
    return json.loads(done.stdout) if done.returncode == 0 else {}


def log(message: str) -> None:
    """Progress on stderr, timestamped, so a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# docs/benchmarks.md: each script replaces only its own "## ..." sections


def split_sections(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(preamble, [(heading line, whole section text), ...]) of a markdown document."""
    parts = ("\n" + text).split("\n## ")
    preamble = parts[0].lstrip("\n")
    sections = []
    for part in parts[1:]:
        body = "## " + part
        heading = body.split("\n", 1)[0].strip()
        sections.append((heading, body.rstrip("\n") + "\n"))
    return preamble, sections


def replace_section(text: str, heading: str, section: str) -> str:
    """`text` with the section starting at `heading` replaced by `section` (appended if absent)."""
    preamble, sections = split_sections(text)
    section = section.rstrip("\n") + "\n"
    out = [(h, s if h != heading else section) for h, s in sections]
    if heading not in [h for h, _ in sections]:
        out.append((heading, section))
    return join_sections(preamble, out)


def join_sections(preamble: str, sections: Sequence[tuple[str, str]]) -> str:
    chunks = [preamble.rstrip("\n") + "\n"] if preamble.strip() else []
    chunks += [s.rstrip("\n") + "\n" for _, s in sections]
    return "\n".join(chunks)


def replace_between_markers(text: str, start: str, end: str, body: str) -> str | None:
    """`text` with what lies between the marker lines replaced; None if a marker is missing."""
    i, j = text.find(start), text.find(end)
    if i < 0 or j < 0 or j < i:
        return None
    return text[:i + len(start)] + "\n" + body.rstrip("\n") + "\n" + text[j:]
