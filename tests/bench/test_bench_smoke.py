"""Smoke test of the benchmarks: every workload runs at a tiny size, and the report
code turns results into markdown without error. Nothing here is timed or judged:
the numbers come from `python bench/run_all.py`, not from the test suite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_common  # noqa: E402
import bench_gpu  # noqa: E402
import bench_logging  # noqa: E402
import bench_training  # noqa: E402
import run_all  # noqa: E402
from bench_common import Stats  # noqa: E402


def test_rows_have_the_benchmark_shape() -> None:
    rows = bench_common.make_rows(5, start=10)
    assert [r[0] for r in rows] == list(range(10, 15))
    for _id, score, label, flag, loss in rows:
        assert isinstance(score, float) and isinstance(loss, float)
        assert isinstance(label, str) and len(label) == 10
        assert isinstance(flag, bool)
    assert bench_common.make_rows(5, start=10) == rows  # deterministic


def test_logging_workloads_run_tiny(queue_dir: Path) -> None:
    once = bench_logging.work_log_once("tablelog", rows=50)
    assert once["rows"] == 50 and once["log_s"] <= once["durable_s"] <= once["end_s"]
    for mode in ("MUTABLE", "INCREMENTAL"):
        grown = bench_logging.work_growing("tablelog", mode=mode, logs=3, rows_per_log=20)
        assert grown["rows"] == 60 and grown["median_s"] <= grown["max_s"]
    life = bench_logging.work_import_init("tablelog")
    assert set(life) == {"import_s", "init_s", "finish_s"}
    assert bench_common.dir_bytes(queue_dir) > 0


def test_profile_workload_lists_tablelog_functions(queue_dir: Path) -> None:
    prof = bench_logging.work_profile(rows=100, grow_logs=2, top=3)
    assert set(prof) == {"init", "log_big", "flush_big", "log_growing"}
    assert all(row["function"].startswith("tablelog/") for row in prof["log_big"]["top"])
    assert bench_logging.render_profile(prof).startswith("## Where tablelog's time goes")


def test_training_workload_runs_tiny(queue_dir: Path) -> None:
    bare = bench_training.work_train("none", steps=3, size=16)
    assert bare["finish_s"] == 0.0 and bare["steps"] == 3
    logged = bench_training.work_train("tablelog", steps=4, every=2, table_rows=3,
                                       images=True, size=16)
    assert logged["loop_s"] > 0 and logged["cpu_s"] > 0


def test_worker_subprocess_prints_json(tmp_path: Path) -> None:
    """The real layout: one repetition in a fresh interpreter, bytes measured after."""
    series = bench_logging.repeat(sys.executable, "tablelog", "log_once", {"rows": 10}, 1,
                                  label="log_10", measure_bytes=True, scratch=tmp_path)
    assert series.error is None, series.error
    assert series.get("rows").median == 10 and series.get("bytes").median > 0


def test_gpu_benchmark_skips_cleanly_without_a_gpu() -> None:
    ok, _ = bench_gpu.gpu_available()
    if ok:
        pytest.skip("a GPU is present; the skip path is not taken")
    result = bench_gpu.measure(steps=2, reps=1)
    assert result["skipped"].startswith("skipped: no GPU")
    assert "skipped: no GPU" in bench_gpu.render(result, "python bench/bench_gpu.py")


def _series(lib: str, label: str, **metrics: list[float]) -> bench_logging.Series:
    return bench_logging.Series(lib, label, {k: Stats(v) for k, v in metrics.items()})


def test_reports_render_from_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    res = bench_logging.LoggingResults(log_sizes=(1_000, 200_000), grow_logs=50, reps=3)
    for n, ours, theirs in ((1_000, 0.001, 0.055), (200_000, 0.02, 4.8)):
        res.series[(f"log_{n}", "tablelog")] = _series(
            "tablelog", f"log_{n}", log_s=[ours] * 3, durable_s=[0.1] * 3, bytes=[40.0 * n] * 3)
        res.series[(f"log_{n}", "wandb")] = _series(
            "wandb", f"log_{n}", log_s=[theirs] * 3, durable_s=[theirs] * 3,
            bytes=[210.0 * n] * 3)
    for mode in ("MUTABLE", "INCREMENTAL"):
        for lib in ("tablelog", "wandb"):
            res.series[(f"grow_{mode}", lib)] = _series(
                lib, f"grow_{mode}", median_s=[0.001, 0.002, 0.003], max_s=[0.01] * 3,
                total_s=[0.1] * 3, durable_s=[0.2] * 3, bytes=[3e6] * 3)
    res.series[("final_table", "tablelog")] = _series("tablelog", "final_table", bytes=[2e6] * 3)
    for lib in ("tablelog", "wandb"):
        res.series[("import_init", lib)] = _series(
            lib, "import_init", import_s=[0.01] * 3, init_s=[0.05] * 3, finish_s=[0.01] * 3,
            process_s=[0.3] * 3)
    sections = bench_logging.render_sections(res, wandb_measured=True)
    assert "| 200,000 |" in sections["## run.log blocking time"]

    tres = bench_training.TrainingResults(steps=500, reps=3)
    tres.series[("bare", "none")] = _series("none", "bare", loop_s=[1.0, 1.1, 0.9])
    for variant in ("scalars", "images"):
        tres.series[(variant, "tablelog")] = _series(
            "tablelog", variant, loop_s=[1.05] * 3, finish_s=[0.02] * 3, cpu_s=[1.2] * 3,
            main_cpu_s=[1.0] * 3, agent_cpu_s=[0.5] * 3, server_cpu_s=[0.3] * 3,
            pending_after=[0.0] * 3, drain_after_exit_s=[0.4] * 3)
        tres.series[(variant, "wandb")] = _series("wandb", variant, loop_s=[3.0] * 3,
                                                  finish_s=[0.5] * 3, cpu_s=[3.0] * 3,
                                                  main_cpu_s=[2.9] * 3)
    training = bench_training.render_section(tres)
    assert "1.05x" in training

    everything = run_all.Everything()
    run_all.summarize_table(
        "Building a 200,000 x 5 table\n| workload | tablelog | wandb | speed-up |\n"
        "|---|---|---|---|\n| list | 0.242 s (0.2–0.3) | 18.940 s (18–19) | 78x |\n", everything)
    run_all.summarize_logging(res, True, everything)
    run_all.summarize_training(tres, True, everything)
    run_all.summarize_sync(
        "| workload | entries | queued | wall time | entries/s | MB/s | agent peak RSS |\n"
        "|---|---|---|---|---|---|---|\n"
        "| small entries | 100,008 | 13.5 MB | 4.00 s | 25,002 | 3.4 | 60 MB |\n"
        "| media | 72 | 1,073.7 MB | 9.00 s | 8 | 119.3 | 70 MB |\n", everything)
    met = {r.workload: r.met for r in everything.rows}
    assert met["`Table(...)` of 200,000 rows, from a list"] is True
    assert met["`tablelog sync`: 100,008 small entries to `tablelog server`"] is True
    assert met["`tablelog sync`: 1,073.7 MB of media to `tablelog server`"] is True
    assert met["agent peak RSS while draining small entries"] is True
    everything.sections.update(sections)
    everything.sections["## Training loop"] = training
    everything.sections["## Summary"] = run_all.render_summary(everything)
    assert "| goal met? |" in everything.sections["## Summary"]

    docs, readme = tmp_path / "benchmarks.md", tmp_path / "README.md"
    docs.write_text("# Benchmarks\n\n## Sync throughput\n\ntheirs\n\n## Table construction\n\n"
                    "also theirs\n", encoding="utf-8")
    readme.write_text("# x\n\n## Benchmarks\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n"
                      "\n## How it works\n", encoding="utf-8")
    monkeypatch.setattr(run_all, "DOCS", docs)
    monkeypatch.setattr(run_all, "README", readme)
    info = bench_common.machine_info()
    run_all.write_docs(everything, run_all.render_preamble(info, {}, "cmd", 1.0, "0"))
    written = docs.read_text(encoding="utf-8")
    assert "theirs\n" in written and "also theirs" in written  # their sections kept
    headings = [h for h, _ in bench_common.split_sections(written)[1]]
    assert headings.index("## Summary") < headings.index("## Table construction") \
        < headings.index("## Sync throughput")
    run_all.write_readme(run_all.readme_section(everything, info, "cmd"))
    text = readme.read_text(encoding="utf-8")
    assert "old" not in text and "78x faster" in text and text.count("<!-- bench:start -->") == 1


def test_replace_section_keeps_the_others() -> None:
    text = "# B\n\nintro\n\n## A\n\na\n\n## B\n\nb\n"
    out = bench_common.replace_section(text, "## A", "## A\n\nnew a\n")
    assert out == "# B\n\nintro\n\n## A\n\nnew a\n\n## B\n\nb\n"
    assert bench_common.replace_section(out, "## C", "## C\n\nc\n").endswith("## C\n\nc\n")


def test_wandb_cache_reuses_only_on_the_same_machine(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    cache = bench_logging.WandbCache(path, {"cpu": "x"}, fresh=False)
    series = _series("wandb", "log_10", log_s=[1.0, 2.0, 3.0])
    cache.put(series, {"rows": 10}, 3)
    again = bench_logging.WandbCache(path, {"cpu": "x"}, fresh=False)
    hit = again.get("log_10", {"rows": 10}, 3)
    assert hit is not None and hit.get("log_s").values == [1.0, 2.0, 3.0]
    assert "log_10" in again.reused
    assert again.get("log_10", {"rows": 11}, 3) is None  # other parameters
    assert bench_logging.WandbCache(path, {"cpu": "y"}, fresh=False).get(
        "log_10", {"rows": 10}, 3) is None  # another machine
    assert bench_logging.WandbCache(path, {"cpu": "x"}, fresh=True).get(
        "log_10", {"rows": 10}, 3) is None  # --fresh-wandb
