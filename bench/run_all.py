"""Every benchmark, side by side with wandb 0.31.0, and the goals they are held to.

    python bench/run_all.py                  # everything (under 10 minutes on 2 cores)
    python bench/run_all.py --quick --no-wandb   # a smoke run, tablelog only (< 1 minute)
    python bench/run_all.py --write-docs     # also write docs/benchmarks.md and the
                                             # README's benchmark section from the results
    python3 dev.py bench [ARGS]              # the same, after setting up .venv

Runs, in order: `bench_table.py` (Table construction), `bench_logging.py`
(run.log blocking time, growing tables, bytes written, import/init),
`bench_training.py` (a training loop, tablelog online with a real server and
agent), `bench_sync.py` (`tablelog sync` throughput and agent memory), and
`bench_gpu.py` where torch sees a GPU (else the last stored GPU result, if any,
is shown as such). Every number in the written docs comes from this run's
output (or, for the GPU, from the stored output of `bench_gpu.py`).

Every measured repetition is a fresh interpreter for both libraries; wandb
runs from its own virtualenv under `.bench-venvs/` (see `_wandb_env.py`). If
wandb cannot be installed, the report says so and gives tablelog's numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_common import (  # noqa: E402
    DOCS,
    README,
    REPO_ROOT,
    fmt_ratio,
    join_sections,
    log,
    machine_info,
    replace_between_markers,
    split_sections,
    versions,
)
from bench_logging import (  # noqa: E402
    LoggingResults,
    WandbCache,
    measure_logging,
    render_sections,
)
from bench_training import TrainingResults, measure_training, render_section  # noqa: E402

README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
GPU_RESULT = HERE / "results" / "gpu-h100.json"
WANDB_CACHE = REPO_ROOT / ".bench-venvs" / "wandb-results.json"
STEPS = ("table", "logging", "training", "sync", "gpu")
# the order of docs/benchmarks.md; sections of other scripts keep their text
ORDER = ("## Summary", "## Table construction", "## run.log blocking time",
         "## Growing tables", "## Training loop", "## Import, init and finish",
         "## Sync throughput", "## GPU training loop", "## Where tablelog's time goes")


@dataclass
class Row:
    """One line of the summary: a workload, both libraries' figures, the goal."""

    workload: str
    wandb: str
    tablelog: str
    ratio: str
    goal: str
    met: bool | None  # None: could not be judged (not measured)

    @property
    def met_text(self) -> str:
        return "n/a" if self.met is None else "yes" if self.met else "NO"


@dataclass
class Everything:
    started: float = field(default_factory=time.monotonic)
    rows: list[Row] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # my sections
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# =============================================================================================
# the other scripts, run as subprocesses: their stdout is their section


def run_script(name: str, args: list[str], timeout: float) -> tuple[int, str]:
    cmd = [sys.executable, str(HERE / name), *args]
    log("+ " + " ".join(["python", f"bench/{name}", *args]))
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True,
                              timeout=timeout, check=False, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return 124, ""
    return done.returncode, done.stdout


def _seconds(text: str) -> float | None:
    m = re.match(r"\s*([\d,.]+)\s*s\b", text)
    return float(m.group(1).replace(",", "")) if m else None


def _number(text: str) -> float | None:
    m = re.search(r"[\d][\d,]*(?:\.\d+)?", text)
    return float(m.group(0).replace(",", "")) if m else None


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every markdown table row (header and separator rows skipped)."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def summarize_table(out: str, everything: Everything) -> None:
    """Rows for Table construction, parsed from bench_table.py's section."""
    for cells in table_rows(out):
        if len(cells) < 4 or cells[0] not in ("list", "dataframe", "add_data"):
            continue
        mine, theirs = _seconds(cells[1]), _seconds(cells[2])
        ratio = theirs / mine if mine and theirs else None
        rows_n = re.search(r"Building a ([\d,]+) x 5", out)
        n = rows_n.group(1) if rows_n else "?"
        label = {"list": "from a list", "dataframe": "from a DataFrame",
                 "add_data": "add_data loop"}[cells[0]]
        everything.rows.append(Row(
            f"`Table(...)` of {n} rows, {label}", cells[2].split(" (")[0],
            cells[1].split(" (")[0], fmt_ratio(ratio, 0) + " faster" if ratio else "n/a",
            ">= 20x faster", None if ratio is None else ratio >= 20))


def summarize_sync(out: str, everything: Everything) -> None:
    """Rows for sync throughput and agent memory, parsed from bench_sync.py's section
    (by column name; rows against another backend than `tablelog server` are skipped)."""
    rows = table_rows(out)
    header = next((r for r in rows if r and r[0] == "workload"), None)
    if header is None:
        everything.notes.append("could not read bench_sync.py's table")
        return
    col = {name: i for i, name in enumerate(header)}

    def cell(cells: list[str], name: str) -> float | None:
        i = col.get(name)
        return _number(cells[i]) if i is not None and i < len(cells) else None

    found: dict[str, list[str]] = {}
    for cells in rows:
        if cells is header or len(cells) != len(header):
            continue
        backend = cells[col["backend"]] if "backend" in col else "tablelog server"
        if backend == "tablelog server":
            found.setdefault(cells[0].split(" (")[0], cells)
    small, media, mixed = found.get("small entries"), found.get("media"), found.get("mixed")
    if small and (rate := cell(small, "entries/s")) is not None:
        everything.rows.append(Row(f"`tablelog sync`: {cells_text(small, col, 'entries')} "
                                   "small entries to `tablelog server`", "n/a",
                                   f"{rate:,.0f} entries/s", "—", ">= 20,000 entries/s",
                                   rate >= 20_000))
    if media and (mbs := cell(media, "MB/s")) is not None:
        everything.rows.append(Row(f"`tablelog sync`: {cells_text(media, col, 'queued')} of "
                                   "media to `tablelog server`", "n/a", f"{mbs:,.1f} MB/s",
                                   "—", ">= 100 MB/s", mbs >= 100))
    drain = mixed or small
    if drain and (peak := cell(drain, "agent peak RSS")) is not None:
        what = "entries + media" if drain is mixed else "small entries"
        everything.rows.append(Row(f"agent peak RSS while draining {what}", "n/a",
                                   f"{peak:,.0f} MB", "—", "< 100 MB", peak < 100))


def cells_text(cells: list[str], col: dict[str, int], name: str) -> str:
    i = col.get(name)
    return cells[i] if i is not None and i < len(cells) else "?"


# =============================================================================================
# rows from this run's own measurements


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 1:
        return f"{value:,.2f} s"
    return f"{value * 1e3:,.1f} ms" if value >= 0.01 else f"{value * 1e3:,.2f} ms"


def summarize_logging(res: LoggingResults, wandb: bool, everything: Everything) -> None:
    for n in res.log_sizes:
        mine = res.get(f"log_{n}", "tablelog").median("log_s")
        theirs = res.get(f"log_{n}", "wandb").median("log_s") if wandb else None
        ratio = theirs / mine if mine and theirs else None
        goal, met = ">= 50x less", judge(None if ratio is None else ratio >= 50)
        if n == 200_000:
            goal = ">= 50x less and < 50 ms"
            met = judge(None if ratio is None else ratio >= 50,
                        None if mine is None else mine < 0.050)
        durable = res.get(f"log_{n}", "tablelog").median("durable_s")
        everything.rows.append(Row(
            f"`run.log` blocking, {n:,} rows", _ms(theirs),
            f"{_ms(mine)} (on disk after {_ms(durable)})",
            fmt_ratio(ratio, 0) + " less" if ratio else "n/a", goal, met))
    grow = res.get("grow_MUTABLE", "tablelog")
    grow_w = res.get("grow_MUTABLE", "wandb")
    med, med_w = grow.median("median_s"), grow_w.median("median_s") if wandb else None
    everything.rows.append(Row(
        f"growing MUTABLE table, {res.grow_logs} logs x {res.grow_rows:,} rows: median log",
        _ms(med_w), _ms(med), fmt_ratio(med_w / med, 0) + " less" if med and med_w else "n/a",
        "< 5 ms", None if med is None else med < 0.005))
    final = res.get("final_table", "tablelog").median("bytes")
    written, written_w = grow.median("bytes"), grow_w.median("bytes") if wandb else None
    everything.rows.append(Row(
        "growing MUTABLE table: bytes written", _mb(written_w),
        f"{_mb(written)} ({written / final:.1f}x the final table)" if written and final
        else _mb(written),
        fmt_ratio(written_w / written, 0) + " less" if written and written_w else "n/a",
        "<= 2x the final table", None if not written or not final else written <= 2 * final))
    inc = res.get("grow_INCREMENTAL", "tablelog").median("median_s")
    inc_w = res.get("grow_INCREMENTAL", "wandb").median("median_s") if wandb else None
    everything.rows.append(Row(
        "INCREMENTAL table, same growth: median log", _ms(inc_w), _ms(inc),
        fmt_ratio(inc_w / inc, 0) + " less" if inc and inc_w else "n/a", "< 2 ms",
        None if inc is None else inc < 0.002))
    big = max(res.log_sizes)
    per_row = res.get(f"log_{big}", "tablelog").median("bytes")
    per_row_w = res.get(f"log_{big}", "wandb").median("bytes") if wandb else None
    everything.rows.append(Row(
        f"bytes written locally per row ({big:,}-row table)",
        f"{per_row_w / big:,.0f} B" if per_row_w else "n/a",
        f"{per_row / big:,.0f} B" if per_row else "n/a",
        fmt_ratio(per_row_w / per_row, 1) + " less" if per_row and per_row_w else "n/a",
        "<= 50 B", None if per_row is None else per_row / big <= 50))
    imp = res.get("import_init", "tablelog")
    imp_w = res.get("import_init", "wandb")
    t_imp, t_imp_w = imp.median("import_s"), imp_w.median("import_s") if wandb else None
    # tablelog's import only binds names: its modules load at first use, so init() pays
    # for them. The row says so, and the next rows give what a script pays in all.
    everything.rows.append(Row("`import` alone (tablelog loads its modules at first use, "
                               "in `init()`: see the next two rows)", _ms(t_imp_w), _ms(t_imp),
                               fmt_ratio(t_imp_w / t_imp, 0) + " less" if t_imp and t_imp_w
                               else "n/a", "<= 250 ms",
                               None if t_imp is None else t_imp <= 0.250))
    life = _sum_medians(imp, ("init_s", "finish_s"))
    life_w = _sum_medians(imp_w, ("init_s", "finish_s")) if wandb else None
    ratio = life_w / life if life and life_w else None
    everything.rows.append(Row("`init()` + `finish()` of an empty run", _ms(life_w), _ms(life),
                               fmt_ratio(ratio, 1) + " faster" if ratio else "n/a",
                               ">= 10x faster", None if ratio is None else ratio >= 10))
    whole = _sum_medians(imp, ("import_s", "init_s", "finish_s"))
    whole_w = _sum_medians(imp_w, ("import_s", "init_s", "finish_s")) if wandb else None
    ratio = whole_w / whole if whole and whole_w else None
    everything.rows.append(Row("`import` + `init()` + `finish()`: what an empty script pays",
                               _ms(whole_w), _ms(whole),
                               fmt_ratio(ratio, 1) + " faster" if ratio else "n/a",
                               "no goal (the sum of the two rows above)", None))


def judge(*parts: bool | None) -> bool | None:
    """NO if any known part fails; yes if all are known and pass; else not judged."""
    if any(p is False for p in parts):
        return False
    return None if any(p is None for p in parts) else True


def _sum_medians(series: Any, keys: Sequence[str]) -> float | None:
    values = [series.median(k) for k in keys]
    return None if any(v is None for v in values) else sum(values)


def _mb(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:,.1f} MB"


def summarize_training(res: TrainingResults, wandb: bool, everything: Everything) -> None:
    where = "online" if res.online and not res.server_error else "offline"
    for variant, goal, limit in (("images", "<= 1.15x", 1.15), ("scalars", "<= 1.03x", 1.03)):
        mine = res.ratio(variant, "tablelog")
        theirs = res.ratio(variant, "wandb") if wandb else None
        label = ("training loop, scalars + image tables" if variant == "images"
                 else "training loop, scalars only")
        everything.rows.append(Row(
            f"{label} (x bare loop; tablelog {where})",
            f"{theirs:.2f}x" if theirs else "n/a", f"{mine:.2f}x" if mine else "n/a", "—",
            goal, None if mine is None else mine <= limit))


def summarize_gpu(result: dict[str, Any], everything: Everything, measured_now: bool) -> None:
    if "variants" not in result:
        return
    where = "" if measured_now else f" (stored result, {result.get('date')})"
    everything.rows.append(Row(
        f"GPU training loop on {result.get('device')}{where}: x bare / x `loss.item()` loop",
        "not measured", f"{result['ratio_vs_bare']:.3f}x / {result['ratio_vs_item']:.3f}x",
        "—", "(no goal)", None))


# =============================================================================================
# GPU


def gpu_step(everything: Everything, timeout: float) -> None:
    probe = subprocess.run([sys.executable, "-c",
                            "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"],
                           capture_output=True, check=False)
    from bench_gpu import render

    if probe.returncode == 0:
        out_json = REPO_ROOT / ".bench-venvs" / "gpu-latest.json"
        out_json.parent.mkdir(exist_ok=True)
        code, _ = run_script("bench_gpu.py", ["--json", str(out_json)], timeout)
        if code == 0 and out_json.exists():
            result = json.loads(out_json.read_text())
            everything.raw["gpu"] = result
            everything.sections["## GPU training loop"] = render(result, result["command"])
            summarize_gpu(result, everything, True)
            return
        everything.notes.append(f"bench_gpu.py failed (exit {code})")
    print("GPU training loop: skipped: no GPU", flush=True)
    if GPU_RESULT.exists():
        result = json.loads(GPU_RESULT.read_text())
        everything.raw["gpu_stored"] = result
        section = render(result, result.get("command", "python bench/bench_gpu.py"))
        note = (f"No GPU on this machine, so this run skipped it (\"skipped: no GPU\"); "
                f"below is the output stored in `{GPU_RESULT.relative_to(REPO_ROOT)}` by "
                "`bench_gpu.py --json` on a GPU machine.")
        head, _, rest = section.partition("\n\n")
        everything.sections["## GPU training loop"] = f"{head}\n\n{note}\n\n{rest}"
        summarize_gpu(result, everything, False)
    else:
        everything.sections["## GPU training loop"] = "## GPU training loop\n\nskipped: no GPU.\n"


# =============================================================================================
# the report


def render_summary(everything: Everything) -> str:
    lines = ["## Summary", "",
             "Every goal of the benchmark issue, with this run's medians (the sections below "
             "give the spread and the method). wandb 0.31.0 runs offline; **goal met?** is "
             "judged on tablelog's median.", "",
             "| workload | wandb 0.31 | tablelog | tablelog vs wandb | goal | goal met? |",
             "|---|---|---|---|---|---|"]
    for r in everything.rows:
        lines.append(f"| {r.workload} | {r.wandb} | {r.tablelog} | {r.ratio} | {r.goal} | "
                     f"{r.met_text} |")
    missed = [r.workload for r in everything.rows if r.met is False]
    lines += ["", ("Goals missed: " + "; ".join(missed) + ".") if missed
              else "Every goal that could be judged was met."]
    lines += [f"Note: {n}" for n in everything.notes]
    return "\n".join(lines) + "\n"


def render_preamble(info: dict[str, Any], vers: dict[str, dict[str, str]], command: str,
                    seconds: float, load_after: str) -> str:
    ours, theirs = vers.get("tablelog", {}), vers.get("wandb", {})
    wandb_line = (f"wandb {theirs.get('wandb')} (Python {theirs.get('python')}, numpy "
                  f"{theirs.get('numpy')}, Pillow {theirs.get('pillow')}) in `.bench-venvs/`"
                  if theirs else "wandb: not measured")
    return "\n".join([
        "# Benchmarks", "",
        f"Generated by `{command}` on {dt.date.today().isoformat()} in {seconds / 60:.1f} "
        "minutes; do not edit by hand (each `## ...` section is replaced by the script that "
        "made it). Rerun with `python3 dev.py bench --write-docs`.", "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, "
        f"{info['platform']}.",
        f"- Load average (1, 5, 15 min) before: {info['load']}; after: {load_after}. The "
        "machine is shared, so other work may have run at the same time; the spread in "
        "brackets shows how much that moved the numbers.",
        f"- tablelog {ours.get('tablelog')} (Python {ours.get('python')}, numpy "
        f"{ours.get('numpy')}, msgpack {ours.get('msgpack')}, Pillow {ours.get('pillow')}).",
        f"- {wandb_line}.",
        "- Method: every repetition is a fresh interpreter that imports the library, runs "
        "the workload and prints JSON; medians of at least 3 repetitions with the fastest "
        "and slowest in brackets (fewer with `--quick`).",
        ""])


def readme_section(everything: Everything, info: dict[str, Any], command: str) -> str:
    """The README's short benchmark section: the headline rows of the summary."""
    headline = ("`Table(...)` of", "`run.log` blocking, 10,000", "`run.log` blocking, 200,000",
                "growing MUTABLE", "INCREMENTAL", "training loop", "bytes written locally",
                "`init()` + `finish()`", "`import` + `init()`")
    lines = [f"Measured by `{command}` on {dt.date.today().isoformat()} ({info['cores']} "
             f"cores, {info['cpu']}) against wandb 0.31.0 offline; every figure, its spread "
             "and the method are in [docs/benchmarks.md](docs/benchmarks.md).", "",
             "| workload | tablelog | wandb 0.31 | tablelog vs wandb | goal met? |",
             "|---|---|---|---|---|"]
    seen_table = False
    for r in everything.rows:
        if not r.workload.startswith(headline):
            continue
        if r.workload.startswith("`Table(...)` of"):
            if seen_table:
                continue
            seen_table = True
        ratio = r.ratio if r.ratio not in ("—",) else ""
        lines.append(f"| {r.workload} | {r.tablelog} | {r.wandb} | {ratio} | {r.met_text} |")
    missed = [r.workload for r in everything.rows if r.met is False]
    judged = sum(r.met is not None for r in everything.rows)
    lines += ["", f"Goals missed in this run ({len(missed)} of {judged}): "
                  + "; ".join(missed) + "." if missed else
              f"All {judged} goals that could be judged were met in this run."]
    return "\n".join(lines) + "\n"


def write_docs(everything: Everything, preamble: str) -> None:
    """Write my sections into docs/benchmarks.md, keeping every other script's section."""
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    _, existing = split_sections(text)
    have = dict(existing)
    mine = {**everything.sections}
    out: list[tuple[str, str]] = []
    for heading in ORDER:
        if heading in mine:
            out.append((heading, mine[heading]))
        elif heading in have:
            out.append((heading, have[heading]))
    out += [(h, s) for h, s in existing if h not in ORDER]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(join_sections(preamble, out), encoding="utf-8")
    log(f"wrote {DOCS}")


def write_readme(body: str) -> None:
    text = README.read_text(encoding="utf-8")
    new = replace_between_markers(text, README_START, README_END, body)
    if new is None:
        block = f"## Benchmarks\n\n{README_START}\n{body.rstrip()}\n{README_END}\n\n"
        anchor = text.find("\n## How it works")
        new = (text[:anchor + 1] + block + text[anchor + 1:] if anchor >= 0
               else text.rstrip("\n") + "\n\n" + block)
    README.write_text(new, encoding="utf-8")
    log(f"wrote the benchmark section of {README}")


# =============================================================================================


def ensure_pillow(python: Path) -> str | None:
    """wandb.Image needs Pillow, which wandb does not install; add it to wandb's venv."""
    probe = subprocess.run([str(python), "-c", "import PIL"], capture_output=True, check=False)
    if probe.returncode == 0:
        return None
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", "pillow"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return "pip install pillow into wandb's venv failed: " + (done.stderr or "")[-300:]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:8]))
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 1 repetition: a smoke run (not for the docs)")
    parser.add_argument("--no-wandb", action="store_true", help="measure tablelog only")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; 1 with --quick)")
    parser.add_argument("--write-docs", action="store_true",
                        help="write docs/benchmarks.md and the README section")
    parser.add_argument("--skip", default="", help=f"comma-separated steps to skip: "
                        f"{','.join(STEPS)}")
    parser.add_argument("--fresh-wandb", action="store_true",
                        help="measure wandb again instead of reusing its figures from an "
                        "earlier run on this machine (logging workloads only)")
    parser.add_argument("--json", type=Path, help="also write every raw number here")
    parser.add_argument("--scratch", type=Path, help="where temporary run directories go")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(STEPS)
    if unknown:
        parser.error(f"unknown step(s) to skip: {', '.join(sorted(unknown))}")
    reps = args.reps or (1 if args.quick else 3)
    shown = " ".join(["python bench/run_all.py",
                      *(["--quick"] if args.quick else []),
                      *(["--no-wandb"] if args.no_wandb else []),
                      *([f"--reps {args.reps}"] if args.reps else []),
                      *([f"--skip {args.skip}"] if skip else []),
                      *(["--fresh-wandb"] if args.fresh_wandb else [])])
    everything = Everything()
    info = machine_info()
    tablelog_python = Path(sys.executable)
    vers = {"tablelog": versions(tablelog_python, ["tablelog", "numpy", "msgpack", "pillow"])}
    pythons: dict[str, Path] = {"tablelog": tablelog_python}
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM, "
          f"{info['platform']}; load average {info['load']}", flush=True)
    if not args.no_wandb:
        from _wandb_env import WANDB_VERSION, ensure_wandb_env

        log(f"preparing a virtualenv with wandb=={WANDB_VERSION} ...")
        env = ensure_wandb_env()
        problem = env.error if not env.ok or env.python is None else ensure_pillow(env.python)
        if env.ok and env.python is not None:
            pythons["wandb"] = env.python
            vers["wandb"] = versions(env.python, ["wandb", "numpy", "pillow"])
        if problem:
            everything.notes.append(f"wandb: {problem}")
            log(f"WARNING: {problem}")
    wandb = "wandb" in pythons
    for lib, v in vers.items():
        print(f"versions ({lib}): " + ", ".join(f"{k} {x}" for k, x in v.items()), flush=True)
    flags = (["--quick"] if args.quick else []) + (["--no-wandb"] if not wandb else [])
    table_flags = flags + (["--reps", str(reps)] if args.reps or args.quick else [])
    failures: list[str] = []

    if "table" not in skip:
        code, out = run_script("bench_table.py",
                               table_flags + (["--write-docs"] if args.write_docs else []),
                               timeout=900)
        print(out, flush=True)
        everything.raw["table"] = out
        if code != 0:
            failures.append(f"bench_table.py exit {code}")
        summarize_table(out, everything)
    if "logging" not in skip:
        cache = None
        if wandb:
            fingerprint = {k: info[k] for k in ("cpu", "cores", "ram")}
            fingerprint.update(vers["wandb"])
            cache = WandbCache(WANDB_CACHE, fingerprint, fresh=args.fresh_wandb)
        res = measure_logging(pythons, quick=args.quick, reps=reps, scratch=args.scratch,
                              wandb_cache=cache)
        if res.wandb_reused:
            times = sorted(set(res.wandb_reused.values()))
            when = times[0] if len(times) == 1 else f"{times[0]} to {times[-1]}"
            everything.notes.append(f"wandb's figures for run.log, growing tables and "
                                    f"import/init were measured on this machine at {when} and "
                                    "reused (`--fresh-wandb` measures them again); its Table "
                                    "construction and training-loop figures were measured in "
                                    "this run.")
        everything.raw["logging"] = {f"{k[0]}/{k[1]}": s.to_json()
                                     for k, s in res.series.items()}
        everything.raw["profile"] = res.profile
        everything.sections.update(render_sections(res, wandb))
        summarize_logging(res, wandb, everything)
        failures += [f"{s.library}/{s.label}" for s in res.series.values() if s.error]
        for heading in ("## run.log blocking time", "## Growing tables",
                        "## Import, init and finish"):
            print(everything.sections[heading], flush=True)
    if "training" not in skip:
        tres = measure_training(pythons, quick=args.quick, reps=max(reps, 1),
                                scratch=args.scratch)
        everything.raw["training"] = {f"{k[0]}/{k[1]}": s.to_json()
                                      for k, s in tres.series.items()}
        everything.sections["## Training loop"] = render_section(tres)
        summarize_training(tres, wandb, everything)
        failures += [f"{s.library}/train_{s.label}" for s in tres.series.values() if s.error]
        print(everything.sections["## Training loop"], flush=True)
    if "sync" not in skip:
        if (HERE / "bench_sync.py").exists():
            code, out = run_script("bench_sync.py",
                                   (["--quick"] if args.quick else [])
                                   + (["--write-docs"] if args.write_docs else []), timeout=900)
            print(out, flush=True)
            everything.raw["sync"] = out
            if code != 0:
                failures.append(f"bench_sync.py exit {code}")
            summarize_sync(out, everything)
        else:
            everything.notes.append("bench/bench_sync.py is not there yet: sync not measured")
    if "gpu" not in skip:
        gpu_step(everything, timeout=900)
    if "## Where tablelog's time goes" in everything.sections:
        print(everything.sections["## Where tablelog's time goes"], flush=True)

    seconds = time.monotonic() - everything.started
    info_after = machine_info()
    everything.sections["## Summary"] = render_summary(everything)
    print(everything.sections["## Summary"], flush=True)
    print(f"total time: {seconds / 60:.1f} min; load average after: {info_after['load']}",
          flush=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "versions": vers,
                                         "rows": [r.__dict__ for r in everything.rows],
                                         "raw": everything.raw}, indent=1, default=str))
    if args.write_docs:
        if args.quick:
            log("note: writing docs from a --quick run (small sizes, 1 repetition)")
        write_docs(everything, render_preamble(info, vers, shown + (" --write-docs"),
                                               seconds, str(info_after["load"])))
        write_readme(readme_section(everything, info, shown + " --write-docs"))
    if failures:
        log("FAILED: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
