"""Table construction: tablelog against wandb 0.31.0, side by side.

Workloads (200,000 rows x 5 columns: int, float, 10-character str, bool, float):

- ``list``:      ``Table(columns=..., data=rows)`` from a list of row lists
- ``dataframe``: ``Table(dataframe=df)`` from a pandas DataFrame
- ``add_data``:  ``Table(columns=...)`` then ``add_data(*row)`` for every row

Every measurement runs in a fresh subprocess (no warm caches, no shared
garbage-collector state). The data is generated inside the subprocess before
the timer starts; imports and interpreter start-up are not timed. wandb runs
from its own virtualenv under ``.bench-venvs/`` (see ``_wandb_env.py``).

    python bench/bench_table.py                 # full run, prints a markdown table
    python bench/bench_table.py --quick         # 20,000 rows, 2 repetitions
    python bench/bench_table.py --write-docs    # also replace the section in docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench_common import cpu_model, versions  # a sibling script's helpers (bench/ is on sys.path)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DOCS = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = "## Table construction"
WORKLOADS = ("list", "dataframe", "add_data")
COLUMNS = ["id", "score", "name", "flag", "loss"]


# ---------------------------------------------------------------------------
# the worker: runs in a fresh interpreter, for one library and one workload


def _make_rows(n: int) -> list[list[object]]:
    import random
    import string

    rnd = random.Random(1234)
    letters = string.ascii_letters
    return [[i, rnd.random(), "".join(rnd.choices(letters, k=10)), i % 3 == 0, rnd.random()]
            for i in range(n)]


def worker(library: str, workload: str, n: int) -> dict[str, object]:
    """Time one workload once; returns seconds and the row count built."""
    if library == "wandb":
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_MODE", "disabled")
        import wandb as lib
    else:
        import tablelog as lib
    table_cls = lib.Table
    rows = _make_rows(n)
    frame = None
    if workload == "dataframe":
        import pandas as pd

        frame = pd.DataFrame(rows, columns=COLUMNS)
    gc.collect()
    start = time.perf_counter()
    if workload == "list":
        table = table_cls(columns=COLUMNS, data=rows)
    elif workload == "dataframe":
        table = table_cls(dataframe=frame)
    else:
        table = table_cls(columns=COLUMNS)
        add = table.add_data
        for row in rows:
            add(*row)
    # Count the young objects left for the collector too: pausing it during a bulk
    # build defers that work rather than removing it.
    gc.collect(0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(table.data)}


# ---------------------------------------------------------------------------
# the driver


@dataclass
class Result:
    library: str
    workload: str
    times: list[float]
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def run_once(python: Path, library: str, workload: str, n: int) -> float:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT / "sdk"),
                                                      env.get("PYTHONPATH")]))
    cmd = [str(python), str(Path(__file__).resolve()), "--worker", library, workload, str(n)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{library}/{workload} failed: {' | '.join(tail)}")
    out = json.loads(lines[-1])
    if out["rows"] != n:
        raise RuntimeError(f"{library}/{workload} built {out['rows']} rows, expected {n}")
    return float(out["seconds"])


def measure(python: Path, library: str, workload: str, n: int, reps: int) -> Result:
    times: list[float] = []
    for _ in range(reps):
        try:
            times.append(run_once(python, library, workload, n))
        except RuntimeError as exc:
            return Result(library, workload, times, str(exc))
        print(f"  {library:8} {workload:10} {times[-1]:8.3f} s", file=sys.stderr, flush=True)
    return Result(library, workload, times)


def _fmt(result: Result | None) -> str:
    if result is None or not result.times:
        return "n/a"
    spread = f"{min(result.times):.3f}–{max(result.times):.3f}"
    return f"{result.median:.3f} s ({spread})"


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def report(results: dict[tuple[str, str], Result], n: int, reps: int,
           wandb_note: str, command: str, load_before: str) -> str:
    ours = versions(Path(sys.executable), ["tablelog", "numpy", "pandas"])
    lines = [
        SECTION,
        "",
        f"Generated by `{command}` on {dt.date.today().isoformat()}; do not edit by hand.",
        "",
        f"Building a {n:,} x 5 table (int, float, 10-character str, bool, float). "
        f"Each figure is the median of {reps} runs, each in a fresh subprocess, with the "
        "fastest and slowest run in brackets; data generation, imports and interpreter "
        "start-up are not timed; collecting the young objects left behind "
        "(`gc.collect(0)`) is. Speed-up = wandb median / tablelog median.",
        "",
        "| workload | tablelog | wandb | speed-up |",
        "|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        mine, theirs = results.get(("tablelog", workload)), results.get(("wandb", workload))
        ratio = (f"{theirs.median / mine.median:.0f}x" if mine and theirs and mine.times
                 and theirs.times and not theirs.error else "n/a")
        lines.append(f"| {workload} | {_fmt(mine)} | {_fmt(theirs)} | {ratio} |")
    errors = [r.error for r in results.values() if r.error]
    lines += [
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"Python {platform.python_version()}; load average (1/5/15 min) {load_before} "
        f"before and {_load()} after the runs.",
        f"tablelog {ours.get('tablelog', '?')} (numpy {ours.get('numpy', '?')}, "
        f"pandas {ours.get('pandas', '?')}); {wandb_note}.",
    ]
    lines += [f"Error: {e}" for e in errors]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    """Replace the '## Table construction' section of docs/benchmarks.md (create if absent)."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + ("" if end < 0 else text[end:])
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows, 2 repetitions")
    parser.add_argument("--rows", type=int, help="rows per table (default 200,000)")
    parser.add_argument("--reps", type=int, help="repetitions per workload (default 3)")
    parser.add_argument("--no-wandb", action="store_true", help="measure tablelog only")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace the '{SECTION}' section of docs/benchmarks.md")
    parser.add_argument("--worker", nargs=3, metavar=("LIB", "WORKLOAD", "ROWS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        library, workload, rows = args.worker
        print(json.dumps(worker(library, workload, int(rows))))
        return 0

    n = args.rows or (20_000 if args.quick else 200_000)
    reps = args.reps or (2 if args.quick else 3)
    wandb_python: Path | None = None
    if args.no_wandb:
        wandb_note = "wandb not measured (--no-wandb)"
    else:
        sys.path.insert(0, str(HERE))
        from _wandb_env import WANDB_VERSION, ensure_wandb_env

        print(f"preparing a virtualenv with wandb=={WANDB_VERSION} ...", file=sys.stderr)
        env = ensure_wandb_env()
        if env.ok:
            wandb_python = env.python
            theirs = versions(env.python, ["wandb", "numpy", "pandas"]) if env.python else {}
            wandb_note = (f"wandb {theirs.get('wandb')} (numpy {theirs.get('numpy')}, "
                          f"pandas {theirs.get('pandas')})")
        else:
            wandb_note = f"wandb could not be installed, so it was not measured: {env.error}"
            print(f"WARNING: {wandb_note}", file=sys.stderr)

    load_before = _load()
    results: dict[tuple[str, str], Result] = {}
    for workload in WORKLOADS:
        results[("tablelog", workload)] = measure(Path(sys.executable), "tablelog", workload,
                                                  n, reps)
        if wandb_python is not None:
            results[("wandb", workload)] = measure(wandb_python, "wandb", workload, n, reps)

    shown = ["python bench/bench_table.py"]
    if args.quick:
        shown.append("--quick")
    if args.rows:
        shown.append(f"--rows {args.rows}")
    if args.reps:
        shown.append(f"--reps {args.reps}")
    if args.no_wandb:
        shown.append("--no-wandb")
    section = report(results, n, reps, wandb_note, " ".join(shown), load_before)
    print(section)
    if args.write_docs:
        write_docs(section)
        print(f"wrote {DOCS.relative_to(REPO_ROOT)}", file=sys.stderr)
    failed = [r for r in results.values() if r.library == "tablelog" and r.error]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
