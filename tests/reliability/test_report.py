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
