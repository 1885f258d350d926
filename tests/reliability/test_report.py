"""bench/reliability_report.py: its plan covers every scenario and its page renders."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import tests.reliability
from tests.reliability.harness import Counts

_HELPERS = {"harness", "queue_model"}  # modules that hold no scenarios
REPORT = Path(__file__).resolve().parents[2] / "bench" / "reliability_report.py"


def _report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reliability_report", REPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scenario_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(tests.reliability.__path__)
             if not m.name.startswith("test_") and m.name not in _HELPERS]
    return [importlib.import_module(f"tests.reliability.{name}") for name in names]


def test_the_report_runs_every_scenario_with_arguments_it_accepts() -> None:
    report = _report()
    planned = {(fn.__module__, fn.__name__) for _, fn, _, _ in report.PLAN}
    # every scenario module: tests/reliability/<family>.py (not the tests, not helpers)
    public = {(module.__name__, name) for module in _scenario_modules()
              for name, fn in vars(module).items() if inspect.isfunction(fn)
              and fn.__module__ == module.__name__ and not name.startswith("_")
              and inspect.signature(fn).return_annotation in (Counts, "Counts")}
    assert planned == public
    for _, fn, full, quick in report.PLAN:
        params = inspect.signature(fn).parameters
        assert set(full) <= set(params) and set(quick) <= set(params), fn.__name__


def test_the_page_has_the_table_and_how_to_rerun() -> None:
    report = _report()
    good = Counts("1. good", done="did | things", sent=3, stored=3, requests=7)
    good.check(True, "held")
    good.check(True, "held")
    bad = Counts("2. bad", done="x", sent=3, stored=2, lost=1)
    bad.check(False, "broke", "because")
    text = report.page([good, bad], quick=True, elapsed=61.0, where="here")
    assert "| scenario | what was done | sent | stored | duplicated | lost | requests |" \
           " verdict |" in text
    assert "| 1. good | did \\| things | 3 | 3 | 0 | 0 | 7 | PASS |" in text
    assert "| 2. bad | x | 3 | 2 | 0 | 1 | — | **FAIL** |" in text
    assert "bench/reliability_report.py --write-docs" in text and "--quick" in text
    assert "- [ok] held (x2)" in text and "- [FAILED] broke: `because`" in text


def test_rerunning_some_scenarios_replaces_only_their_rows_and_sections() -> None:
    report = _report()
    first = [Counts("1. alpha", "did a", 5, 5), Counts("2. beta", "did b", 7, 7),
             Counts("3. gamma", "did c", 9, 9)]
    first[1].check(True, "beta held")
    old = report.page(first, quick=False, elapsed=60.0, where="tmp")
    again = Counts("2. beta", "did b again", 8, 7, lost=1)
    again.check(False, "beta held", "one row missing")
    added = Counts("4. delta", "did d", 1, 1)
    new = report.merged_page(old, [again, added])
    rows = [line for line in new.splitlines() if line.startswith("| ")][1:]
    assert [r.split(" | ")[0] for r in rows] == ["| 1. alpha", "| 2. beta", "| 3. gamma",
                                                 "| 4. delta"]
    assert "did b again" in rows[1] and "**FAIL**" in rows[1]
    assert rows[0] == next(x for x in old.splitlines() if x.startswith("| 1. alpha"))
    assert "3 of 4 scenarios passed." in new
    assert "Re-run on " in new and "2. beta, 4. delta" in new
    assert new.count("### 2. beta") == 1 and "[FAILED] beta held: `one row missing`" in new
    assert "[ok] beta held" not in new
    assert "### 4. delta — PASS" in new and "### 1. alpha — PASS" in new
