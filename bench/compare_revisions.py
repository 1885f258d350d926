"""A/B benchmark of two revisions of tablelog: is HEAD slower than an older revision?

Issue 12 asked for its reliability work to cost no speed. This script answers
that by measuring tablelog alone (no wandb) at two revisions on the same
machine, round by round:

- each revision is unpacked with ``git archive REV | tar -x`` into a scratch
  directory (no worktree), and HEAD's bench scripts (bench_common.py,
  bench_logging.py, bench_training.py) are copied into each copy's bench/, so
  both revisions run the same measuring code. bench_sync.py is the exception:
  it imports the queue module by its path inside the SDK, which moved between
  the revisions, so each copy keeps its own (the two differ only in that import
  and in how they write the docs, which is not used here);
- every measurement is a fresh interpreter whose cwd is that copy and whose
  PYTHONPATH is that copy's sdk:agent:server_stub (checked: each revision's
  ``tablelog.__file__`` must lie in its copy, else the script stops);
- both copies are compiled (compileall) before round 1: where
  PYTHONDONTWRITEBYTECODE is set, every process would otherwise compile the
  sources again, and B, with more source, would look slower for that alone;
- rounds interleave the revisions (A then B, B then A, ...), so machine noise
  hits both alike. The per-round B/A (A and B measured back to back) is the
  paired figure; its median is shown beside its range.

Workloads: import + init() + finish() of an empty run; run.log of a 1k- and a
10k-row table; a MUTABLE table grown and logged repeatedly; the training loop's
scalar-only case against the bare loop (the bare loop is also reported per
revision as a noise check: bare B/A should be ~1.00x); `tablelog sync`
entries/s of small history entries against a real `tablelog server`.

    python bench/compare_revisions.py --quick
    python bench/compare_revisions.py --rounds 5 --write-docs
    python bench/compare_revisions.py --base 8bb971c --head HEAD --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    BLAS_ONE_THREAD,
    DOCS,
    REPO_ROOT,
    Stats,
    library_env,
    load_average,
    log,
    machine_info,
    replace_between_markers,
    run_worker,
)

HERE = Path(__file__).resolve().parent
SHARED_SCRIPTS = ("bench_common.py", "bench_logging.py", "bench_training.py")
DEFAULT_BASE = "8bb971c"
MARK_START, MARK_END = "<!-- compare-revisions:start -->", "<!-- compare-revisions:end -->"
SECTION = "## Before and after issue 12"

# code run in a fresh interpreter of one revision: `tablelog sync` throughput, with
# that revision's bench_sync.py (build_queue opens the queue, so it must be that
# revision's code)
SYNC_CODE = """
import json, sys, tempfile, pathlib
sys.path.insert(0, "bench")
import bench_sync as b
entries = int(sys.argv[1])
with tempfile.TemporaryDirectory(prefix="tablelog-ab-sync-") as tmp:
    m = b.measure(b.Workload("small entries", entries, 0), pathlib.Path(tmp))
total = entries + b.RUNS
print(json.dumps({"seconds": m.seconds, "entries_per_s": total / m.seconds,
                  "exit_code": m.exit_code, "peak_rss_mb": m.peak_rss_mb}))
"""

# the training loop online, in a fresh interpreter of one revision: that revision's
# server, and bench_training's wait_for_upload opening that revision's queue.db. Before
# the SDK's subpackages the queue and spawn modules had shorter names: aliased here so
# that HEAD's bench_training.py runs unchanged.
ONLINE_CODE = """
import json, sys, tempfile, types
from pathlib import Path
sys.path.insert(0, "bench")
import bench_training as bt
from bench_common import BLAS_ONE_THREAD
from bench_logging import repeat
try:
    import tablelog.store.queue, tablelog.runtime.spawn
except ImportError:
    import tablelog.queue, tablelog.spawn
    for name in ("tablelog.store", "tablelog.runtime"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["tablelog.store.queue"] = tablelog.queue
    sys.modules["tablelog.runtime.spawn"] = tablelog.spawn
steps = int(sys.argv[1])
with tempfile.TemporaryDirectory(prefix="tablelog-ab-online-") as tmp:
    server = bt.Server(Path(tmp) / "data").start()
    try:
        cpu0 = server.cpu_seconds()
        def after(root, out):
            bt.wait_for_upload(root, out)
            out["server_cpu_s"] = server.cpu_seconds() - cpu0
        extra = {**BLAS_ONE_THREAD, "TABLELOG_BASE_URL": server.url,
                 "TABLELOG_API_KEY": bt.API_KEY, "TABLELOG_AGENT_IDLE_EXIT": "1"}
        s = repeat(sys.executable, "tablelog", "train", {"steps": steps, "images": False}, 1,
                   label="train_scalars_online", script=Path("bench/bench_training.py").resolve(),
                   mode="online", env_extra=extra, after=after, scratch=Path(tmp), timeout=600)
    finally:
        server.stop()
if s.error:
    raise SystemExit(s.error)
print(json.dumps({k: v.median for k, v in s.metrics.items()}))
"""

CHECK_CODE = "import json, tablelog; print(json.dumps({'file': tablelog.__file__}))"


# ---------------------------------------------------------------------------------------------
# the two copies


@dataclass
class Copy:
    """One revision unpacked into `root`."""

    label: str  # "A" or "B"
    rev: str  # as given
    sha: str
    root: Path

    def pythonpath(self) -> str:
        return os.pathsep.join(str(self.root / d) for d in ("sdk", "agent", "server_stub"))

    def env(self, tmp: Path, *, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = library_env("tablelog", tmp, mode="offline", extra=extra)
        env["PYTHONPATH"] = self.pythonpath()  # this copy only, nothing inherited
        return env


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO_ROOT), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def unpack(label: str, rev: str, scratch: Path) -> Copy:
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    root = scratch / sha[:12]
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(REPO_ROOT), "archive", sha],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(root)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit(f"git archive {rev} failed")
    (root / "bench").mkdir(exist_ok=True)
    for name in SHARED_SCRIPTS:  # the same measuring code for both revisions
        shutil.copy2(HERE / name, root / "bench" / name)
    if not (root / "bench" / "bench_sync.py").exists():
        raise SystemExit(f"{rev} has no bench/bench_sync.py")
    return Copy(label, rev, sha, root)


def check_import(copy: Copy, python: str) -> str:
    """Where the copy's interpreter imports tablelog from; stops if not from the copy."""
    with tempfile.TemporaryDirectory(prefix="tablelog-ab-") as tmp:
        done = subprocess.run([python, "-c", CHECK_CODE], env=copy.env(Path(tmp)),
                              cwd=copy.root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{copy.label} ({copy.rev}): import tablelog failed: "
                         f"{done.stderr.strip()[-400:]}")
    where = json.loads(done.stdout.strip().splitlines()[-1])["file"]
    expected = (copy.root / "sdk" / "tablelog").resolve()
    if not Path(where).resolve().is_relative_to(expected):
        raise SystemExit(f"{copy.label} ({copy.rev}): tablelog imported from {where}, "
                         f"not from its copy {expected}")
    return str(where)


def warm_up(copy: Copy, python: str) -> None:
    """Compile the copy's sources to .pyc, so round 1 does not pay for it (both copies
    are fresh, but compiling is not what any workload measures)."""
    subprocess.run([python, "-m", "compileall", "-q", "sdk", "agent", "server_stub", "bench"],
                   cwd=copy.root, env=copy.env(copy.root), check=True, capture_output=True)


# ---------------------------------------------------------------------------------------------
# workloads: each returns {metric: value} from one fresh interpreter of one copy


@dataclass(frozen=True)
class Workload:
    name: str  # row label in the table
    metric: str  # the key compared
    unit: str  # "ms", "s" or "/s" (higher is better)
    key: str  # rows with the same key read different metrics of one measurement
    measure: Callable[[Copy, str], dict[str, Any]]

    @property
    def higher_is_better(self) -> bool:
        return self.unit == "/s"


def logging_worker(workload: str, params: Mapping[str, Any]
                   ) -> Callable[[Copy, str], dict[str, Any]]:
    def measure(copy: Copy, python: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="tablelog-ab-") as tmp:
            return run_worker(python, copy.root / "bench" / "bench_logging.py",
                              [workload, "tablelog", json.dumps(dict(params))],
                              copy.env(Path(tmp)), timeout=600, cwd=copy.root)
    return measure


# glibc raises its mmap threshold (from 128 KiB, up to 32 MiB) whenever a large block is
# freed, so whether the loop's 256 KiB numpy temporaries are mmapped or come from the heap
# depends on what any earlier code in the process happened to free. That flips the loop's
# time by ~10% either way, in the bare loop as in the others; pinned, only tablelog's
# own work differs between the revisions.
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20)}


def training_worker(library: str, steps: int, *, pinned: bool = False
                    ) -> Callable[[Copy, str], dict[str, Any]]:
    extra = {**BLAS_ONE_THREAD, **(PINNED_MALLOC if pinned else {})}

    def measure(copy: Copy, python: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="tablelog-ab-") as tmp:
            return run_worker(python, copy.root / "bench" / "bench_training.py",
                              ["train", library, json.dumps({"steps": steps, "images": False})],
                              copy.env(Path(tmp), extra=extra), timeout=600, cwd=copy.root)
    return measure


def snippet_worker(what: str, code: str, arg: int) -> Callable[[Copy, str], dict[str, Any]]:
    """`code` run by the copy's interpreter (cwd = the copy); its last JSON line."""
    def measure(copy: Copy, python: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="tablelog-ab-") as tmp:
            done = subprocess.run([python, "-c", code, str(arg)],
                                  env=copy.env(Path(tmp)), cwd=copy.root,
                                  capture_output=True, text=True, check=False, timeout=600)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"{what} ({copy.label}) failed: {done.stderr.strip()[-400:]}")
        out: dict[str, Any] = json.loads(lines[-1])
        if out.get("exit_code", 0) != 0:
            raise RuntimeError(f"{what} ({copy.label}) exited {out['exit_code']}")
        return out
    return measure


def workloads(quick: bool) -> list[Workload]:
    grow_logs = 10 if quick else 50
    steps = 100 if quick else 500
    entries = 20_000 if quick else 50_000
    return [
        Workload("import tablelog", "import_s", "ms", "import_init",
                 logging_worker("import_init", {})),
        Workload("init() empty run", "init_s", "ms", "import_init",
                 logging_worker("import_init", {})),
        Workload("finish() empty run", "finish_s", "ms", "import_init",
                 logging_worker("import_init", {})),
        Workload("run.log 1k-row table", "log_s", "ms", "log_1k",
                 logging_worker("log_once", {"rows": 1_000})),
        Workload("run.log 10k-row table", "log_s", "ms", "log_10k",
                 logging_worker("log_once", {"rows": 10_000})),
        Workload("run.log 10k-row table, until flushed", "durable_s", "ms", "log_10k",
                 logging_worker("log_once", {"rows": 10_000})),
        Workload(f"growing MUTABLE, {grow_logs} logs x 1k rows: total log time", "total_s",
                 "ms", "growing",
                 logging_worker("growing", {"mode": "MUTABLE", "logs": grow_logs,
                                            "rows_per_log": 1_000})),
        Workload(f"training loop, {steps} steps, bare (noise check)", "loop_s", "s", "bare",
                 training_worker("none", steps)),
        Workload(f"training loop, {steps} steps, scalars (offline)", "loop_s", "s", "scalars",
                 training_worker("tablelog", steps)),
        Workload("run.log calls inside that loop (total)", "log_s", "ms", "scalars",
                 training_worker("tablelog", steps)),
        Workload(f"training loop, {steps} steps, bare, mmap threshold pinned", "loop_s", "s",
                 "bare_pinned", training_worker("none", steps, pinned=True)),
        Workload(f"training loop, {steps} steps, scalars (offline), mmap threshold pinned",
                 "loop_s", "s", "scalars_pinned", training_worker("tablelog", steps,
                                                                   pinned=True)),
        Workload(f"training loop, {steps} steps, scalars (online)", "loop_s", "s", "online",
                 snippet_worker("online training", ONLINE_CODE, steps)),
        Workload("finish() after the online loop", "finish_s", "ms", "online",
                 snippet_worker("online training", ONLINE_CODE, steps)),
        Workload(f"tablelog sync, {entries:,} small entries", "entries_per_s", "/s", "sync",
                 snippet_worker("sync", SYNC_CODE, entries)),
    ]


# ---------------------------------------------------------------------------------------------
# rounds


@dataclass
class Row:
    workload: Workload
    values: dict[str, Stats] = field(default_factory=lambda: {"A": Stats(), "B": Stats()})
    rounds: list[dict[str, float]] = field(default_factory=list)  # per round: label -> value
    error: str | None = None

    def ratios(self) -> list[float]:
        return [r["B"] / r["A"] for r in self.rounds if "A" in r and "B" in r and r["A"] > 0]

    def ratio(self) -> float | None:
        a, b = self.values["A"], self.values["B"]
        return b.median / a.median if a.ok and b.ok and a.median > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"workload": self.workload.name, "metric": self.workload.metric,
                "unit": self.workload.unit, "error": self.error,
                "A": self.values["A"].to_json(), "B": self.values["B"].to_json(),
                "rounds": self.rounds, "ratio_median": self.ratio(),
                "ratios_per_round": self.ratios()}


# per revision: entries still queued after the agent of an online training run stopped
LEFT_QUEUED: dict[str, list[float]] = {"A": [], "B": []}


def run_rounds(copies: Sequence[Copy], python: str, rounds: int, quick: bool) -> list[Row]:
    work = workloads(quick)
    rows = [Row(w) for w in work]
    for rnd in range(rounds):
        order = list(copies) if rnd % 2 == 0 else list(reversed(copies))
        log(f"round {rnd + 1}/{rounds}: order {' then '.join(c.label for c in order)}, "
            f"load {load_average()}")
        per_round: list[dict[str, float]] = [{} for _ in rows]
        shared: dict[tuple[str, str], dict[str, Any]] = {}
        counted: set[tuple[str, str]] = set()
        for i, row in enumerate(rows):
            w = row.workload
            if row.error:
                continue
            for copy in order:
                key = (w.key, copy.label)
                try:
                    if key in shared:  # another metric of a measurement made this round
                        out = shared[key]
                    else:
                        out = shared[key] = w.measure(copy, python)
                except Exception as exc:
                    row.error = f"{copy.label}: {exc}"
                    log(f"  {w.name}: FAILED {row.error}")
                    break
                if w.key == "online" and key not in counted:
                    counted.add(key)
                    left = float(out.get("pending_after", float("nan")))
                    LEFT_QUEUED[copy.label].append(left)
                    if left != 0:
                        log(f"  {copy.label}: {left:.0f} entries still queued after the "
                            "agent stopped")
                value = float(out[w.metric])
                row.values[copy.label].add(value)
                per_round[i][copy.label] = value
            if "A" in per_round[i] and "B" in per_round[i]:
                row.rounds.append(per_round[i])
                log(f"  {w.name}: A {fmt_value(per_round[i]['A'], w.unit)}, "
                    f"B {fmt_value(per_round[i]['B'], w.unit)}")
    return rows


# ---------------------------------------------------------------------------------------------
# report


def fmt_value(v: float, unit: str) -> str:
    if unit == "ms":
        v *= 1e3
        return f"{v:,.{2 if v < 1 else 1 if v < 100 else 0}f} ms"
    if unit == "s":
        return f"{v:,.{3 if v < 10 else 1}f} s"
    return f"{v:,.0f} /s"


def render_table(rows: Sequence[Row]) -> str:
    lines = ["| workload | A median | B median | B/A | per-round B/A min–max |",
             "|---|---|---|---|---|"]
    for row in rows:
        w = row.workload
        if row.error:
            lines.append(f"| {w.name} | failed | failed | n/a | {row.error[:80]} |")
            continue
        a, b, ratio, per = row.values["A"], row.values["B"], row.ratio(), row.ratios()
        spread = (f"{min(per):.2f}–{max(per):.2f} (median {statistics.median(per):.2f})"
                  if per else "n/a")
        lines.append(f"| {w.name} | {fmt_value(a.median, w.unit)} | "
                     f"{fmt_value(b.median, w.unit)} | "
                     f"{f'{ratio:.2f}x' if ratio is not None else 'n/a'} | {spread} |")
    bare = next((r for r in rows if r.workload.key == "bare"), None)
    ours = next((r for r in rows if r.workload.key == "scalars"), None)
    if bare and ours and not bare.error and not ours.error:
        slow = {c: ours.values[c].median / bare.values[c].median for c in ("A", "B")}
        lines += ["", f"Training loop with tablelog (scalars) / bare loop, medians: "
                      f"A {slow['A']:.2f}x, B {slow['B']:.2f}x."]
    if LEFT_QUEUED["A"] or LEFT_QUEUED["B"]:
        def left(c: str) -> str:
            runs = LEFT_QUEUED[c]
            bad = [x for x in runs if x != 0]
            return (f"{c} {len(bad)} of {len(runs)}"
                    + (f" (up to {max(bad):.0f} entries)" if bad else ""))
        lines += ["", "Online training runs whose entries were not all uploaded when their "
                      "agent stopped (bench_training's wait_for_upload, agent idle exit 1 s): "
                      f"{left('A')}, {left('B')}."]
    return "\n".join(lines)


def render_docs(rows: Sequence[Row], copies: Sequence[Copy], rounds: int, quick: bool,
                load_before: str, load_after: str, command: str) -> str:
    a, b = copies
    info = machine_info()
    return "\n".join([
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M')} UTC; do not edit "
        "by hand.", "",
        f"A = `{a.rev}` ({a.sha[:10]}), B = `{b.rev}` ({b.sha[:10]}). {rounds} rounds"
        f"{' (--quick)' if quick else ''}, each measuring every workload for A and B in "
        "alternating order; medians over the rounds, and the range and median of the "
        "per-round ratio (A and B measured back to back). For times (ms, s) B/A > 1 means B is "
        "slower; for sync entries/s B/A < 1 means B is slower.", "",
        render_table(rows), "",
        f"Machine: {info['cpu']}, {info['cores']} CPUs, Python {info['python']}. Load "
        f"average (1/5/15 min) {load_before} at the start and {load_after} at the end: "
        "other work (test suites of parallel sessions) shared these CPUs, so single "
        "figures are noisy; the interleaving makes the noise hit A and B alike, and the "
        "bare loop row shows how large it was.",
    ])


def write_docs(body: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    replaced = replace_between_markers(text, MARK_START, MARK_END, body)
    if replaced is None:
        intro = (
            f"{SECTION}\n\n"
            "Issue 12's reliability work (signals and a bounded exit, agent lifetime, the "
            "byte budget and blob cache, forked children and threads, directory identity "
            "and resume) was to cost no speed. `bench/compare_revisions.py` measures "
            f"tablelog alone at the revision before that work (`{DEFAULT_BASE}`, A) and at "
            "HEAD (B): each revision is unpacked with `git archive` into a scratch "
            "directory and compiled, runs the same bench scripts (HEAD's) in fresh "
            "interpreters whose PYTHONPATH is that copy's sdk:agent:server_stub, and the "
            "rounds interleave A and B. Rerun with "
            "`python bench/compare_revisions.py --write-docs` (`--quick` for a short run, "
            "`--rounds N`, `--base REV --head REV` for other revisions, `--json PATH` for "
            "the raw figures). What B added to an empty `init()`/`finish()`: "
            "bench/results/init_profile_notes.md.\n\n"
            f"{MARK_START}\n{body.rstrip()}\n{MARK_END}\n")
        text = text.rstrip("\n") + "\n\n" + intro
    else:
        text = replaced
    DOCS.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=DEFAULT_BASE, help="revision A (default %(default)s)")
    parser.add_argument("--head", default="HEAD", help="revision B (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller workloads (10 growing logs, 100 steps, 20k entries)")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument("--write-docs", action="store_true",
                        help=f"replace the table between {MARK_START} markers in "
                             "docs/benchmarks.md")
    parser.add_argument("--scratch", type=Path, help="where the copies go (default: a tmp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the unpacked copies")
    args = parser.parse_args(argv)
    python = sys.executable
    scratch = Path(tempfile.mkdtemp(prefix="tablelog-ab-", dir=args.scratch))
    load_before = load_average()
    print(f"load average at start: {load_before}", flush=True)
    try:
        copies = [unpack("A", args.base, scratch), unpack("B", args.head, scratch)]
        for copy in copies:
            where = check_import(copy, python)
            print(f"{copy.label} = {copy.rev} ({copy.sha[:10]}): tablelog from {where}",
                  flush=True)
        for copy in copies:  # a fresh copy has no .pyc yet: compile before round 1
            warm_up(copy, python)
        rows = run_rounds(copies, python, args.rounds, args.quick)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    load_after = load_average()
    print(render_table(rows))
    print(f"load average at start: {load_before}; at end: {load_after}")
    command = "python bench/compare_revisions.py" + "".join(
        part for part, used in ((f" --base {args.base}", args.base != DEFAULT_BASE),
                                (f" --head {args.head}", args.head != "HEAD"),
                                (" --quick", args.quick),
                                (f" --rounds {args.rounds}", args.rounds != 5)) if used)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "A": {"rev": copies[0].rev, "sha": copies[0].sha},
            "B": {"rev": copies[1].rev, "sha": copies[1].sha},
            "rounds": args.rounds, "quick": args.quick, "load_start": load_before,
            "load_end": load_after, "machine": machine_info(),
            "rows": [r.to_json() for r in rows], "online_left_queued": LEFT_QUEUED},
            indent=1), encoding="utf-8")
    if args.write_docs:
        write_docs(render_docs(rows, copies, args.rounds, args.quick, load_before,
                               load_after, command))
        print(f"wrote {DOCS}")
    return 0 if not any(r.error for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
