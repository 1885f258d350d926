"""`run.log` side by side: tablelog against wandb 0.31.0 (offline), same workloads.

Workloads (rows have 5 columns: int id, float score, 10-character str label,
bool flag, float loss):

- ``log_once``:    one ``run.log({"table": t})`` of an n-row table (1k, 10k,
  100k, 200k). Blocking time = wall time of the ``run.log`` call on the caller
  thread. Also timed: until the data is on local disk (tablelog: ``log`` +
  ``run.flush()``; wandb, which has no public flush: ``log`` + ``run.finish()``).
  Bytes written = growth of every directory the library writes (measured
  after the process exited).
- ``growing``:     one table grown by 1,000 rows and logged after each of 50
  additions, ``log_mode="MUTABLE"`` or ``"INCREMENTAL"``: the 50 ``run.log``
  times (median, max, total) and the bytes written.
- ``import_init``: ``import``, ``init()`` and ``finish()`` of an empty run.

Every repetition runs in a fresh interpreter (``--worker``), for both libraries
alike; tables are built before the timer starts. tablelog's ``run.log`` hands
the table to a background writer thread and returns; the writer keeps working
after ``log`` returns, which is why the second column (until flushed) exists.

    python bench/bench_logging.py               # this file's workloads only
    python bench/bench_logging.py --quick --no-wandb

`bench/run_all.py` runs these together with the other benchmarks and writes
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_common import (
    COLUMNS,
    Stats,
    WorkerError,
    dir_bytes,
    library_env,
    log,
    make_rows,
    run_worker,
)

SCRIPT = Path(__file__).resolve()
LOG_SIZES = (1_000, 10_000, 100_000, 200_000)
QUICK_LOG_SIZES = (1_000, 10_000)
GROW_LOGS, GROW_ROWS = 50, 1_000
QUICK_GROW_LOGS = 10


# =============================================================================================
# worker side: runs inside a fresh interpreter of either library's virtualenv


def import_library(library: str) -> Any:
    """Import the library under test (its directories come from the environment)."""
    if library == "wandb":
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

        return wandb
    if library == "tablelog":
        import tablelog

        return tablelog
    raise ValueError(f"unknown library {library!r}")


def make_durable(library: str, run: Any) -> None:
    """Wait until what was logged is on local disk: tablelog's flush, else finish."""
    if library == "tablelog":
        run.flush()
    else:
        run.finish()


def work_build(library: str, rows: int, path: str) -> dict[str, float]:
    """Build the `rows`-row table once and pickle it for the `log_once` repetitions.

    Only a harness shortcut, the same for both libraries: wandb takes ~15 s
    to build 200,000 rows, which is not what `log_once` measures (bench_table.py
    does), and every repetition would pay it again.
    """
    import pickle

    lib = import_library(library)
    start = time.perf_counter()
    table = lib.Table(columns=COLUMNS, data=make_rows(rows))
    built = time.perf_counter() - start
    with open(path, "wb") as f:
        pickle.dump(table, f, protocol=pickle.HIGHEST_PROTOCOL)
    return {"build_s": built, "rows": float(len(table.data))}


def work_log_once(library: str, rows: int, table_file: str | None = None
                  ) -> dict[str, float]:
    """One run.log of a `rows`-row table: blocking time, time until durable, finish.

    The table is built here, or unpickled from `table_file` (made by `work_build`
    in the same library), before anything is timed.
    """
    lib = import_library(library)
    if table_file:
        import pickle

        with open(table_file, "rb") as f:
            table = pickle.load(f)
        assert isinstance(table, lib.Table) and len(table.data) == rows
    else:
        table = lib.Table(columns=COLUMNS, data=make_rows(rows))
    run = lib.init(project="bench")
    start = time.perf_counter()
    run.log({"table": table})
    logged = time.perf_counter()
    make_durable(library, run)
    durable = time.perf_counter()
    run.finish()
    end = time.perf_counter()
    return {"log_s": logged - start, "durable_s": durable - start, "end_s": end - start,
            "rows": float(len(table.data))}


def work_growing(library: str, mode: str, logs: int, rows_per_log: int) -> dict[str, float]:
    """Grow one table by `rows_per_log` rows and log it after each addition."""
    lib = import_library(library)
    batches = [make_rows(rows_per_log, start=i * rows_per_log) for i in range(logs)]
    table = lib.Table(columns=COLUMNS, log_mode=mode)
    run = lib.init(project="bench")
    times: list[float] = []
    for batch in batches:
        for row in batch:
            table.add_data(*row)
        start = time.perf_counter()
        run.log({"growing": table})
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    make_durable(library, run)
    durable = time.perf_counter() - start
    run.finish()
    return {"median_s": statistics.median(times), "max_s": max(times), "first_s": times[0],
            "total_s": sum(times), "durable_s": durable, "rows": float(len(table.data))}


def work_import_init(library: str) -> dict[str, float]:
    """import, init() and finish() of an empty run."""
    start = time.perf_counter()
    lib = import_library(library)
    imported = time.perf_counter()
    run = lib.init(project="bench")
    started = time.perf_counter()
    run.finish()
    finished = time.perf_counter()
    return {"import_s": imported - start, "init_s": started - imported,
            "finish_s": finished - started}


def work_profile(rows: int, grow_logs: int, top: int) -> dict[str, Any]:
    """cProfile of tablelog's caller-thread work: init, one big log, one growing log.

    Only tablelog's own functions are kept (by cumulative time), so the report
    can say which function costs what on the training thread.
    """
    import cProfile
    import pstats

    lib = import_library("tablelog")

    def profiled(fn: Callable[[], object]) -> tuple[float, list[dict[str, Any]]]:
        prof = cProfile.Profile()
        start = time.perf_counter()
        prof.enable()
        fn()
        prof.disable()
        wall = time.perf_counter() - start
        stats = pstats.Stats(prof)
        rows_out = []
        entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        for (filename, line, name), (_cc, ncalls, tottime, cumtime, _) in entries.items():
            short = _short_location(filename)
            if short is None:
                continue
            rows_out.append({"function": f"{short}:{line}({name})", "calls": ncalls,
                             "self_s": tottime, "cum_s": cumtime})
        rows_out.sort(key=lambda r: -r["cum_s"])
        return wall, rows_out[:top]

    out: dict[str, Any] = {}
    holder: dict[str, Any] = {}
    out["init"] = profiled(lambda: holder.setdefault("run", lib.init(project="bench")))
    run = holder["run"]
    table = lib.Table(columns=COLUMNS, data=make_rows(rows))
    out["log_big"] = profiled(lambda: run.log({"table": table}))
    out["flush_big"] = (_timed(run.flush), [])
    grow = lib.Table(columns=COLUMNS, log_mode="MUTABLE")
    for i in range(grow_logs):
        for row in make_rows(GROW_ROWS, start=i * GROW_ROWS):
            grow.add_data(*row)
        if i < grow_logs - 1:
            run.log({"growing": grow})
    out["log_growing"] = profiled(lambda: run.log({"growing": grow}))
    run.finish()
    return {k: {"wall_s": v[0], "top": v[1]} for k, v in out.items()}


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _short_location(filename: str) -> str | None:
    """'tablelog/runs.py' for tablelog's files (and its one heavy dependency); else None."""
    norm = filename.replace(os.sep, "/")
    for marker in ("/sdk/tablelog/", "/site-packages/sqlite_utils/"):
        if marker in norm:
            return marker.strip("/").split("/")[-1] + "/" + norm.split(marker, 1)[1]
    return None


WORKERS: dict[str, Callable[..., dict[str, Any]]] = {
    "build": work_build,
    "log_once": work_log_once,
    "growing": work_growing,
    "import_init": work_import_init,
}


def worker_main(name: str, library: str, params_json: str) -> int:
    params = json.loads(params_json)
    if name == "profile":
        print(json.dumps(work_profile(**params)))
    else:
        print(json.dumps(WORKERS[name](library, **params)))
    return 0


# =============================================================================================
# driver side


@dataclass
class Series:
    """All repetitions of one workload for one library."""

    library: str
    label: str
    metrics: dict[str, Stats] = field(default_factory=dict)
    error: str | None = None

    def get(self, metric: str) -> Stats:
        return self.metrics.get(metric) or Stats()

    def median(self, metric: str) -> float | None:
        s = self.get(metric)
        return s.median if s.ok else None

    def to_json(self) -> dict[str, Any]:
        return {"library": self.library, "label": self.label, "error": self.error,
                "metrics": {k: v.to_json() for k, v in self.metrics.items()}}


AfterHook = Callable[[Path, dict[str, Any]], None]


def repeat(python: Path | str, library: str, workload: str, params: Mapping[str, Any],
           reps: int, *, label: str, script: Path = SCRIPT, mode: str = "offline",
           env_extra: Mapping[str, str] | None = None, measure_bytes: bool = False,
           after: AfterHook | None = None, scratch: Path | None = None,
           timeout: float = 300.0) -> Series:
    """Run `workload` `reps` times, each in a fresh interpreter and a fresh directory."""
    series = Series(library, label)
    for rep in range(reps):
        with tempfile.TemporaryDirectory(prefix="tablelog-bench-", dir=scratch) as tmp:
            root = Path(tmp)
            env = library_env(library, root, mode=mode, extra=env_extra)
            start = time.perf_counter()
            try:
                out = run_worker(python, script, [workload, library, json.dumps(dict(params))],
                                 env, timeout=timeout, cwd=root)
            except WorkerError as exc:
                series.error = str(exc)
                log(f"  {library:8} {label}: FAILED {exc}")
                return series
            out["process_s"] = time.perf_counter() - start
            if measure_bytes:
                out["bytes"] = dir_bytes(root)
            if after is not None:
                after(root, out)
        for key, value in out.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                series.metrics.setdefault(key, Stats()).add(float(value))
        log(f"  {library:8} {label:28} rep {rep + 1}/{reps}: " + _brief(out))
    return series


def _brief(out: Mapping[str, Any]) -> str:
    keys = [k for k in ("log_s", "durable_s", "median_s", "total_s", "loop_s", "import_s",
                        "init_s", "finish_s", "bytes") if k in out]
    parts = []
    for k in keys:
        v = out[k]
        parts.append(f"{k}={v:,.0f}" if k == "bytes" else f"{k}={v * 1e3:,.1f}ms")
    return " ".join(parts)


@dataclass
class LoggingResults:
    """What `measure_logging` measured, keyed (workload label, library)."""

    series: dict[tuple[str, str], Series] = field(default_factory=dict)
    log_sizes: tuple[int, ...] = LOG_SIZES
    grow_logs: int = GROW_LOGS
    grow_rows: int = GROW_ROWS
    reps: int = 3
    profile: dict[str, Any] | None = None
    wandb_reused: dict[str, str] = field(default_factory=dict)  # label -> when measured

    def get(self, label: str, library: str) -> Series:
        return self.series.get((label, library)) or Series(library, label)


class WandbCache:
    """wandb's measurements, kept between runs on the same machine.

    wandb is pinned (0.31.0), so its figures change only with the machine. A
    rerun after a tablelog change re-measures tablelog and reuses wandb's
    series from the last run whose machine fingerprint (CPU model, cores, RAM,
    Python, wandb version) and workload parameters match; `--fresh-wandb`
    measures wandb again. The report says when wandb's figures were measured.
    """

    def __init__(self, path: Path, fingerprint: Mapping[str, Any], *, fresh: bool) -> None:
        self.path = path
        self.fingerprint = dict(fingerprint)
        self.entries: dict[str, Any] = {}
        self.reused: dict[str, str] = {}  # label -> when it was measured
        if not fresh and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
            if data.get("fingerprint") == self.fingerprint:
                self.entries = dict(data.get("entries") or {})

    @staticmethod
    def key(label: str, params: Mapping[str, Any], reps: int) -> str:
        return f"{label}|{json.dumps(dict(params), sort_keys=True)}|reps={reps}"

    def get(self, label: str, params: Mapping[str, Any], reps: int) -> Series | None:
        hit = self.entries.get(self.key(label, params, reps))
        if not hit:
            return None
        series = Series("wandb", label, {k: Stats(list(v)) for k, v in hit["metrics"].items()})
        self.reused[label] = hit["measured"]
        return series

    def put(self, series: Series, params: Mapping[str, Any], reps: int) -> None:
        if series.error:
            return
        self.entries[self.key(series.label, params, reps)] = {
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "metrics": {k: v.values for k, v in series.metrics.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"fingerprint": self.fingerprint,
                                         "entries": self.entries}, indent=1),
                             encoding="utf-8")


def measure_logging(pythons: Mapping[str, Path], *, quick: bool = False, reps: int = 3,
                    scratch: Path | None = None, profile: bool = True,
                    wandb_cache: WandbCache | None = None) -> LoggingResults:
    """Run this file's workloads for every library in `pythons` (name -> interpreter)."""
    sizes = QUICK_LOG_SIZES if quick else LOG_SIZES
    grow_logs = QUICK_GROW_LOGS if quick else GROW_LOGS
    res = LoggingResults(log_sizes=sizes, grow_logs=grow_logs, reps=reps)
    tables = tempfile.TemporaryDirectory(prefix="tablelog-bench-tables-", dir=scratch)

    def run(library: str, workload: str, params: dict[str, Any], label: str, what: str,
            *, prebuilt: int | None = None) -> None:
        if library == "wandb" and wandb_cache is not None:
            cached = wandb_cache.get(label, params, reps)
            if cached is not None:
                log(f"{what}: wandb: reusing the figures measured {wandb_cache.reused[label]}")
                res.series[(label, library)] = cached
                return
        log(f"{what}: {library}")
        python = pythons[library]
        extra = ({} if prebuilt is None else
                 _built(python, library, prebuilt, Path(tables.name), scratch))
        series = repeat(python, library, workload, {**params, **extra}, reps, label=label,
                        scratch=scratch, measure_bytes=True, timeout=600)
        res.series[(label, library)] = series
        if library == "wandb" and wandb_cache is not None:
            wandb_cache.put(series, params, reps)

    final_rows = grow_logs * GROW_ROWS
    try:
        for library in pythons:
            run(library, "import_init", {}, "import_init", "import / init / finish")
        for n in sizes:
            for library in pythons:
                run(library, "log_once", {"rows": n}, f"log_{n}",
                    f"run.log of a {n:,}-row table", prebuilt=n)
        # the final grown table logged once: what "bytes <= 2x the final table" compares with
        if "tablelog" in pythons:
            run("tablelog", "log_once", {"rows": final_rows}, "final_table",
                f"reference: one log of the final {final_rows:,}-row table",
                prebuilt=final_rows)
    finally:
        tables.cleanup()
    for mode in ("MUTABLE", "INCREMENTAL"):
        for library in pythons:
            run(library, "growing", {"mode": mode, "logs": grow_logs, "rows_per_log": GROW_ROWS},
                f"grow_{mode}", f"growing {mode} table, {grow_logs} logs x {GROW_ROWS:,} rows")
    if "tablelog" in pythons and profile:
        log("profiling tablelog's caller thread (cProfile)")
        try:
            with tempfile.TemporaryDirectory(prefix="tablelog-bench-", dir=scratch) as tmp:
                env = library_env("tablelog", Path(tmp))
                res.profile = run_worker(
                    pythons["tablelog"], SCRIPT,
                    ["profile", "tablelog", json.dumps({"rows": max(sizes),
                                                        "grow_logs": grow_logs,
                                                        "top": 8})],
                    env, timeout=300, cwd=Path(tmp))
        except WorkerError as exc:
            log(f"  profile failed: {exc}")
    if wandb_cache is not None:
        res.wandb_reused = dict(wandb_cache.reused)
    return res


def _built(python: Path | str, library: str, rows: int, folder: Path,
           scratch: Path | None) -> dict[str, str]:
    """{"table_file": path} of a pickled `rows`-row table of `library`; {} if that failed
    (the repetitions then build the table themselves, untimed)."""
    path = folder / f"{library}-{rows}.pickle"
    with tempfile.TemporaryDirectory(prefix="tablelog-bench-", dir=scratch) as tmp:
        env = library_env(library, Path(tmp))
        try:
            run_worker(python, SCRIPT, ["build", library,
                                        json.dumps({"rows": rows, "path": str(path)})],
                       env, timeout=600, cwd=Path(tmp))
        except WorkerError as exc:
            log(f"  could not pre-build the table ({exc}); each repetition builds it")
            return {}
    return {"table_file": str(path)}


# =============================================================================================
# report


def _cell(series: Series, metric: str, unit: str = "ms", scale: float = 1e3) -> str:
    if series.error:
        return "failed"
    return series.get(metric).fmt(unit, scale)


def _ratio(theirs: float | None, ours: float | None) -> float | None:
    if theirs is None or ours is None or ours <= 0:
        return None
    return theirs / ours


def render_sections(res: LoggingResults, wandb_measured: bool) -> dict[str, str]:
    """Markdown sections (heading -> text) for docs/benchmarks.md."""
    from bench_common import fmt_ratio

    sections: dict[str, str] = {}
    spread = (f"Median of {res.reps} repetitions, each in a fresh process; the fastest and "
              "slowest repetition in brackets.")

    # -- run.log blocking time
    lines = ["## run.log blocking time", "",
             "One `run.log({\"table\": t})` of an n-row, 5-column table (int, float, "
             "10-character str, bool, float), built before the timer starts. **Blocking** is "
             "the wall time of the `run.log` call on the caller's thread. tablelog's `run.log` "
             "copies the rows and hands them to a background writer thread, which goes on "
             "working after `log` returns; **until on disk** is the time until that data is "
             "durable (tablelog: `run.log` + `run.flush()`; wandb has no public flush, so "
             "`run.log` + `run.finish()`). Bytes are the growth of every directory the "
             f"library writes, after the process exited. {spread}", "",
             "| rows | tablelog blocking | wandb blocking | less blocking | "
             "tablelog until on disk | wandb until on disk | tablelog bytes | wandb bytes |",
             "|---|---|---|---|---|---|---|---|"]
    for n in res.log_sizes:
        mine, theirs = res.get(f"log_{n}", "tablelog"), res.get(f"log_{n}", "wandb")
        ratio = _ratio(theirs.median("log_s"), mine.median("log_s"))
        lines.append(f"| {n:,} | {_cell(mine, 'log_s')} | {_cell(theirs, 'log_s')} | "
                     f"{fmt_ratio(ratio)} | {_cell(mine, 'durable_s')} | "
                     f"{_cell(theirs, 'durable_s')} | {_mb(mine)} | {_mb(theirs)} |")
    big = max(res.log_sizes)
    mine, theirs = res.get(f"log_{big}", "tablelog"), res.get(f"log_{big}", "wandb")
    lines += ["", f"Bytes written per row of the {big:,}-row table: tablelog "
                  f"{_per_row(mine, big)}, wandb {_per_row(theirs, big)} (the whole directory "
                  "growth, empty-run overhead included, divided by the rows)."]
    if not wandb_measured:
        lines += ["", "wandb was not measured in this run."]
    lines += _reused_note(res, [f"log_{n}" for n in res.log_sizes])
    sections["## run.log blocking time"] = "\n".join(lines) + "\n"

    # -- growing tables
    final_rows = res.grow_logs * res.grow_rows
    final = res.get("final_table", "tablelog")
    final_bytes = final.median("bytes")
    lines = ["## Growing tables", "",
             f"One table grows by {res.grow_rows:,} rows and is logged after each addition, "
             f"{res.grow_logs} times (final size {final_rows:,} rows). MUTABLE logs the "
             "whole table each time (a new version); INCREMENTAL logs only the new rows. "
             "Per-log figures are the median over the logs of one process, then the median "
             f"over repetitions. {spread} **x final** compares the bytes written with "
             f"tablelog's bytes for logging the final table once "
             f"({_fmt_bytes(final_bytes)}).", "",
             "| log_mode | library | median log | slowest log | all logs | "
             "flush/finish after | bytes written | x final |",
             "|---|---|---|---|---|---|---|---|"]
    for mode in ("MUTABLE", "INCREMENTAL"):
        for library in ("tablelog", "wandb"):
            s = res.get(f"grow_{mode}", library)
            if not s.metrics and not s.error:
                continue
            xfinal = (f"{s.median('bytes') / final_bytes:.1f}x"  # type: ignore[operator]
                      if final_bytes and s.median("bytes") is not None else "n/a")
            lines.append(f"| {mode} | {library} | {_cell(s, 'median_s')} | "
                         f"{_cell(s, 'max_s')} | {_cell(s, 'total_s', 's', 1)} | "
                         f"{_cell(s, 'durable_s')} | {_mb(s)} | {xfinal} |")
    lines += _reused_note(res, ["grow_MUTABLE", "grow_INCREMENTAL"])
    sections["## Growing tables"] = "\n".join(lines) + "\n"

    # -- import and init
    lines = ["## Import, init and finish", "",
             "`import`, `init()` and `finish()` of an empty run (tablelog offline, wandb "
             "offline). tablelog's `import` is lazy: names load on first use, so `init` "
             "pays for the modules a run needs. **process** is the whole worker process, "
             f"interpreter start-up and exit included. {spread}", "",
             "| library | import | init | finish | import + init + finish | process |",
             "|---|---|---|---|---|---|"]
    for library in ("tablelog", "wandb"):
        s = res.get("import_init", library)
        if not s.metrics and not s.error:
            continue
        total = Stats([a + b + c for a, b, c in zip(s.get("import_s").values,
                                                    s.get("init_s").values,
                                                    s.get("finish_s").values, strict=True)])
        lines.append(f"| {library} | {_cell(s, 'import_s')} | {_cell(s, 'init_s')} | "
                     f"{_cell(s, 'finish_s')} | {total.fmt()} | {_cell(s, 'process_s')} |")
    lines += _reused_note(res, ["import_init"])
    sections["## Import, init and finish"] = "\n".join(lines) + "\n"

    if res.profile:
        sections["## Where tablelog's time goes"] = render_profile(res.profile)
    return sections


def _reused_note(res: LoggingResults, labels: Sequence[str]) -> list[str]:
    when = sorted({res.wandb_reused[x] for x in labels if x in res.wandb_reused})
    if not when:
        return []
    return ["", f"wandb's figures in this section were measured on this machine on "
                f"{', '.join(when)} and reused (wandb 0.31.0 is pinned; "
                "`run_all.py --fresh-wandb` measures it again)."]


def render_profile(profile: Mapping[str, Any]) -> str:
    titles = {"init": "`tablelog.init()` (first run of the process)",
              "log_big": "`run.log` of the largest table",
              "log_growing": "`run.log` of the grown MUTABLE table (its last log)"}
    lines = ["## Where tablelog's time goes", "",
             "cProfile of tablelog's caller-thread work in one process (profiling slows "
             "Python code, so the wall times here are higher than the unprofiled figures "
             "above). Only tablelog's own functions (and `sqlite_utils`, which it imports) are "
             "listed, by cumulative time."]
    flush = profile.get("flush_big", {})
    for key, title in titles.items():
        part = profile.get(key)
        if not part:
            continue
        lines += ["", f"**{title}**: {part['wall_s'] * 1e3:,.1f} ms wall"
                      + (f" (then `run.flush()`: {flush['wall_s'] * 1e3:,.0f} ms)"
                         if key == "log_big" and flush else "") + ".", "",
                  "| function | calls | self | cumulative |", "|---|---|---|---|"]
        for row in part["top"]:
            lines.append(f"| `{row['function']}` | {row['calls']:,} | "
                         f"{row['self_s'] * 1e3:,.1f} ms | {row['cum_s'] * 1e3:,.1f} ms |")
    return "\n".join(lines) + "\n"


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "n/a"
    if n >= 1e6:
        return f"{n / 1e6:,.1f} MB"
    if n >= 1e3:
        return f"{n / 1e3:,.1f} kB"
    return f"{n:,.0f} B"


def _mb(series: Series) -> str:
    if series.error:
        return "failed"
    return _fmt_bytes(series.median("bytes"))


def _per_row(series: Series, rows: int) -> str:
    b = series.median("bytes")
    return "n/a" if b is None or series.error else f"{b / rows:,.0f} B"


# =============================================================================================


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 2 repetitions")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; 2 with --quick)")
    parser.add_argument("--no-wandb", action="store_true", help="measure tablelog only")
    parser.add_argument("--worker", nargs=3, metavar=("WORKLOAD", "LIB", "PARAMS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(*args.worker)
    pythons: dict[str, Path] = {"tablelog": Path(sys.executable)}
    if not args.no_wandb:
        from _wandb_env import ensure_wandb_env

        env = ensure_wandb_env()
        if env.ok and env.python is not None:
            pythons["wandb"] = env.python
        else:
            log(f"WARNING: wandb not measured: {env.error}")
    res = measure_logging(pythons, quick=args.quick,
                          reps=args.reps or (2 if args.quick else 3))
    for text in render_sections(res, "wandb" in pythons).values():
        print(text)
    return 0 if not any(s.error for s in res.series.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
