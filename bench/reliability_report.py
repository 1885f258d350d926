"""Run every reliability scenario (tests/reliability/scenarios.py) at full size and
write docs/reliability.md: what was done, entries sent / stored / duplicated / lost
(counted on the server through its read API), requests made, and a verdict.

    .venv/bin/python bench/reliability_report.py                # full sizes, print only
    .venv/bin/python bench/reliability_report.py --write-docs   # ... and write the page
    .venv/bin/python bench/reliability_report.py --quick        # smaller sizes (~2 min)
    .venv/bin/python bench/reliability_report.py --only agent_kill9 --only security
    .venv/bin/python bench/reliability_report.py --only security --write-docs
        # re-runs those scenarios and replaces only their rows and sections of the page

Exit status 0 when every scenario passed, 1 otherwise. The tests in
tests/reliability run the same functions with small sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
DOCS = REPO_ROOT / "docs" / "reliability.md"
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "sdk"), str(REPO_ROOT / "agent"),
                str(REPO_ROOT / "server_stub")]

from tests.reliability import bounds, concurrency, exits, identity, lifetime  # noqa: E402
from tests.reliability import scenarios as s  # noqa: E402
from tests.reliability.harness import Counts  # noqa: E402

# (key, function, full-size arguments, quick arguments)
PLAN: list[tuple[str, Callable[..., Counts], dict[str, Any], dict[str, Any]]] = [
    ("network_faults", s.network_faults, {"runs": 4, "rows": 2500},
     {"runs": 2, "rows": 500}),
    ("agent_kill9", s.agent_kill9, {"rows": 2500, "kills": 50, "window_s": 0.5},
     {"rows": 500, "kills": 10, "window_s": 0.3}),
    ("trainer_kill9", s.trainer_kill9, {"flushed_rows": 5000, "random_kills": 20,
                                        "max_wait_s": 1.5},
     {"flushed_rows": 1000, "random_kills": 5, "max_wait_s": 1.0}),
    ("server_down", s.server_down, {"steps": 3000, "rounds": 2, "slowdown_bound": 1.25},
     {"steps": 1000, "rounds": 1, "slowdown_bound": 1.5}),
    ("server_restart", s.server_restart, {"runs": 4, "rows": 5000},
     {"runs": 2, "rows": 1000}),
    ("poison", s.poison, {"runs": 4, "rows": 5000}, {"runs": 2, "rows": 500}),
    ("disk_full", s.disk_full, {"phase1": 3000, "phase2": 300}, {}),
    ("queue_cap", s.disk_full, {"phase1": 3000, "phase2": 300, "force_cap": True},
     {"force_cap": True}),
    ("corruption", s.corruption, {"rows": 5000}, {"rows": 500}),
    ("queue_model", s.queue_model, {"examples": 300, "steps": 50},
     {"examples": 40, "steps": 30}),
    ("many_writers", s.many_writers, {"trainers": 8, "rows": 500},
     {"trainers": 8, "rows": 500}),
    ("security", s.security, {"rows": 1000}, {"rows": 200}),
    ("copied_dir", identity.copied_dir, {"rows": 2000}, {"rows": 300}),
    ("resume_elsewhere", identity.resume_elsewhere, {"rows": 2000}, {"rows": 300}),
    ("pending_memory", bounds.pending_memory, {"images": 10_000, "budget": None},
     {"images": 1000, "budget": "64M"}),
    ("blob_store", bounds.blob_store_bound, {"media_mb": 1000, "cache": "256M",
                                             "pending": "64M"},
     {"media_mb": 200, "cache": "64M"}),
    ("forked_children", concurrency.forked_children,
     {"children": 6, "rows": 500, "parent_rows": 2000, "workers": 4, "tasks": 8,
      "task_rows": 250},
     {"children": 3, "rows": 100, "parent_rows": 200, "workers": 2, "tasks": 4,
      "task_rows": 25}),
    ("threads", concurrency.threads, {"threads": 8, "rows": 2500, "single": 100_000},
     {"threads": 8, "rows": 500, "single": 20_000}),
    ("pause", lifetime.pause, {"trainers": 4, "rows": 1000, "pauses": 2, "pause_s": 6.0,
                               "idle_exit_s": 2.0},
     {"trainers": 2, "rows": 100, "pauses": 1, "pause_s": 3.0, "idle_exit_s": 1.0}),
    ("pause_agent_killed", lifetime.pause, {"trainers": 2, "rows": 1000, "pauses": 2,
                                            "pause_s": 4.0, "idle_exit_s": 2.0,
                                            "kill_agent": True},
     {"trainers": 1, "rows": 100, "pauses": 1, "pause_s": 2.0, "idle_exit_s": 1.0,
      "kill_agent": True}),
    ("wrong_key", lifetime.wrong_key, {"rows": 1000, "stuck_s": 6.0},
     {"rows": 100, "stuck_s": 4.0}),
    ("signals", exits.signals, {"rows": 2000, "rounds": 3}, {"rows": 200, "rounds": 1}),
    ("bounded_exit", exits.bounded_exit, {"trainers": 2, "tables": 40, "rows": 20_000,
                                          "exit_timeout_s": 2.0},
     {"trainers": 1, "tables": 40, "rows": 20_000, "exit_timeout_s": 1.0}),
]

COLUMNS = ("scenario", "what was done", "sent", "stored", "duplicated", "lost", "requests",
           "verdict")


def run_one(key: str, fn: Callable[..., Counts], kwargs: dict[str, Any], root: Path) -> Counts:
    work = root / key
    started = time.monotonic()
    try:
        counts = fn(work, **kwargs)
    except Exception:  # a crashed scenario is a FAIL with its traceback, not a crashed report
        counts = Counts(key, done=f"{key}({kwargs}) raised")
        counts.check(False, "the scenario ran to the end", traceback.format_exc()[-2000:])
    counts.seconds = time.monotonic() - started
    if key == "queue_cap":
        counts.scenario = "6b. queue cap"
    elif key == "disk_full":
        counts.scenario = "6a. disk full"
    return counts


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _num(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def table(results: list[Counts]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in results:
        lines.append("| " + " | ".join([
            _cell(c.scenario), _cell(c.done), _num(c.sent), _num(c.stored),
            _num(c.duplicated), _num(c.lost), _num(c.requests),
            "PASS" if c.ok else "**FAIL**"]) + " |")
    return "\n".join(lines)


def details(results: list[Counts]) -> str:
    out = []
    for c in results:
        out.append(f"### {c.scenario} — {'PASS' if c.ok else 'FAIL'} ({c.seconds:.0f} s)\n")
        for note in c.notes:
            out.append(f"- {note}")
        if c.notes:
            out.append("")
        for check in c.checks:
            mark = "ok" if check.ok else "FAILED"
            line = f"- [{mark}] {check.what}" + (f" (x{check.times})" if check.times > 1 else "")
            if check.detail:
                line += f": `{_cell(check.detail)[:600]}`"
            out.append(line)
        out.append("")
    return "\n".join(out)


def machine() -> str:
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "unknown"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return (f"{cpu}, {os.cpu_count()} cores; {platform.platform()}; Python "
            f"{platform.python_version()}; load average at the start {load}; "
            f"commit {commit or 'unknown'}")


def page(results: list[Counts], *, quick: bool, elapsed: float, where: str) -> str:
    passed = sum(c.ok for c in results)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Reliability report

Generated by `bench/reliability_report.py` on {when}; do not edit by hand. Rerun with

```bash
.venv/bin/python bench/reliability_report.py --write-docs   # full sizes, rewrites this page
.venv/bin/python bench/reliability_report.py --quick        # smaller sizes, prints only
```

Each scenario ({"quick" if quick else "full"} sizes here) runs real processes on this
machine: `tablelog server` subprocesses on 127.0.0.1, the real agent (`python -m
tablelog_agent`, `tablelog sync`, or the agent's code in the report's process where
a scenario needs its backoff shortened), training processes using the SDK, real
SQLite files, and a fault-injecting proxy (`tests/agent/faultproxy.py`) where the
network must misbehave. The same functions (`tests/reliability/scenarios.py`) run at
small sizes as the tests in `tests/reliability/`.

How to read the table:

- **sent**: history rows the training side logged and the SDK committed to its
  queue; each carries a unique `seq` value. Rows the SDK itself reported as not
  persisted (disk full) and rows a scenario damaged on purpose are not counted.
- **stored / duplicated / lost**: counted on the server through its read API
  (`GET /api/v1/runs/.../history`, every page): distinct `seq` values found, extra
  copies of them, and sent values not found. For the queue model: entries put, and
  entries whose fate (acknowledged, pending, dead) matched the model.
- **requests**: HTTP requests that reached the server side (through the proxy, or
  the agent's own count); for the security scenario, the probe requests made.
- **verdict**: PASS when stored = sent, nothing is duplicated or lost, and every
  check listed under the scenario below held.

Machine: {machine()}. Whole run: {elapsed / 60:.1f} min; work directories: {where}.

{table(results)}

{passed} of {len(results)} scenarios passed.

## Details

{details(results)}"""


def merged_page(old: str, results: list[Counts]) -> str:
    """`old` with the rows and detail sections of `results` replaced (or added), a line
    saying which scenarios were re-run when and where, and the pass count recounted."""
    head, sep, detail_text = old.partition("\n## Details\n")
    if not sep:
        raise ValueError("the page has no '## Details' section: rerun without --only")
    lines = head.split("\n")
    rows = {_cell(c.scenario): c for c in results}
    new_rows = {name: table([c]).split("\n")[2] for name, c in rows.items()}
    seen: set[str] = set()
    last_row = 0
    for i, line in enumerate(lines):
        if line.startswith("| ") and not line.startswith("| scenario |"):
            name = line[2:].split(" | ", 1)[0]
            last_row = i
            if name in new_rows:
                lines[i] = new_rows[name]
                seen.add(name)
    for name in new_rows:
        if name not in seen:
            last_row += 1
            lines.insert(last_row, new_rows[name])
    table_rows = [x for x in lines if x.startswith("| ") and not x.startswith("| scenario |")]
    passed = sum(x.rstrip().endswith("| PASS |") for x in table_rows)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    note = (f"Re-run on {when} with `--only`: {', '.join(c.scenario for c in results)}. "
            f"Machine then: {machine()}.")
    lines = [f"{passed} of {len(table_rows)} scenarios passed."
             if line.endswith("scenarios passed.") else line for line in lines]
    machine_at = next(i for i, line in enumerate(lines) if line.startswith("Machine: "))
    lines.insert(machine_at + 1, "\n" + note)
    sections = detail_text.split("\n### ")
    fresh = {c.scenario: details([c]).removeprefix("### ").rstrip("\n") for c in results}
    for i, section in enumerate(sections):
        name = section.split(" — ", 1)[0].removeprefix("### ")
        if name in fresh:
            prefix = "### " if section.startswith("### ") else ""
            sections[i] = prefix + fresh.pop(name) + "\n"
    sections.extend(text + "\n" for text in fresh.values())
    return "\n".join(lines) + sep + "\n### ".join(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (~2 min)")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"write {DOCS.relative_to(REPO_ROOT)}")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        choices=[key for key, *_ in PLAN], help="run only these (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work directories")
    args = parser.parse_args(argv)
    if args.write_docs and args.only and args.quick:
        parser.error("--only --write-docs replaces rows of a full-size page: drop --quick")

    # The proxy's server logs each connection a killed agent drops; the in-process agent
    # logs every retry. Both are expected here: the checks say what matters.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    logging.getLogger("tablelog_agent").setLevel(logging.ERROR)

    root = Path(tempfile.mkdtemp(prefix="tablelog-reliability-"))
    results: list[Counts] = []
    started = time.monotonic()
    try:
        for key, fn, full, quick in PLAN:
            if args.only and key not in args.only:
                continue
            kwargs = quick if args.quick else full
            print(f"== {key} {kwargs}", file=sys.stderr, flush=True)
            c = run_one(key, fn, kwargs, root)
            results.append(c)
            print(f"   {'PASS' if c.ok else 'FAIL'} in {c.seconds:.1f}s: sent {c.sent}, "
                  f"stored {c.stored}, duplicated {c.duplicated}, lost {c.lost}, "
                  f"requests {c.requests}", file=sys.stderr, flush=True)
            for check in c.failures:
                print(f"   FAILED {check.what}: {check.detail[:300]}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    elapsed = time.monotonic() - started
    text = page(results, quick=args.quick, elapsed=elapsed,
                where=f"`{root}`" if args.keep else "a temporary directory, removed")
    print(table(results))
    if args.write_docs and args.only:
        DOCS.write_text(merged_page(DOCS.read_text(), results))
        print(f"updated {len(results)} scenario(s) in {DOCS.relative_to(REPO_ROOT)}",
              file=sys.stderr)
    elif args.write_docs:
        DOCS.write_text(text)
        print(f"wrote {DOCS.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0 if all(c.ok for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
