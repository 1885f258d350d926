"""How many of wandb's own unit tests for tables, data types and dtypes pass against tablelog.

    python bench/wandb_tests_pass_rate.py WANDB_CHECKOUT [--before REV]
        [--out bench/results/wandb_tests.md]

WANDB_CHECKOUT is a wandb repository: a working tree, or a bare git directory
(as the `fetch` tool leaves it; files are read with ``git show HEAD:...``).
Without it the script says so and exits 0: it fetches nothing over the network.

What runs (an adapted selection, written to a temporary directory, never into
tablelog's tests):

- ``tests/unit_tests/test_tables.py`` and ``test_dtypes.py``: every test;
- ``tests/unit_tests/test_data_types.py``: the tests with "table" in their name
  (the Table section; the rest is about media tablelog does not have).

Adapted how: only the imports of wandb, numpy, pandas, pytest and the stdlib
are kept (the rest of test_data_types.py imports torch, rdkit, bokeh...);
``wandb`` is tablelog (``sys.modules["wandb"] = tablelog``), ``wandb.data_types``
and ``wandb.errors`` are tablelog's modules of those names, and wandb's private
modules (``wandb.sdk.data_types._dtypes`` ...) map the names tablelog has under
the same name; any other private name is a placeholder that fails the test
that uses it (counted apart: "uses a wandb internal tablelog lacks"). Tests that
need wandb's mock run and record-queue fixtures are not run (listed).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_FILES = {
    "test_tables.py": None,  # None: every test
    "test_dtypes.py": None,
    "test_data_types.py": "table",  # only tests whose name contains this
}
KEPT_IMPORTS = {"wandb", "numpy", "pandas", "pytest", "datetime", "json", "os", "io",
                "pathlib", "platform"}
# fixtures of wandb's own conftest that stand for a wandb run's internals
INTERNAL_FIXTURES = {"mock_run", "mocker", "record_q", "parse_records", "mock_wandb_log",
                     "mock_reference_get_responses", "user", "wandb_backend_spy"}

SHIM_CONFTEST = '''
import sys
import types
from pathlib import Path

import pytest
import tablelog
import tablelog.data_types
import tablelog.errors


class MissingInTablelog(Exception):
    """A wandb-internal name that tablelog does not have was used."""


class _Missing:
    def __init__(self, name):
        self._name = name

    def _fail(self, *args, **kwargs):
        raise MissingInTablelog(self._name)

    __call__ = _fail
    __getattr__ = _fail
    __eq__ = _fail
    __hash__ = object.__hash__
    __iter__ = _fail


def _module(name, mapping):
    module = types.ModuleType(name)

    def __getattr__(attr):
        if attr in mapping:
            return mapping[attr]()
        return _Missing(f"{name}.{attr}")

    module.__getattr__ = __getattr__
    module.__path__ = []
    sys.modules[name] = module
    return module


def _from(module_name, *names, rename=None):
    rename = rename or {}

    def get(name):
        import importlib

        module = importlib.import_module(module_name)
        return lambda: getattr(module, name)

    out = {n: get(n) for n in names}
    out.update({wandb_name: get(ours) for wandb_name, ours in rename.items()})
    return out


def _dtype_names():
    import tablelog.data_types.dtypes as d

    return {n: (lambda n=n: getattr(d, n)) for n in d.__all__}


def _table_names():
    import tablelog.data_types.table as t

    return {n: (lambda n=n: getattr(t, n)) for n in dir(t) if n.startswith("_") and
            not n.startswith("__")}


# `wandb` forwards every attribute to tablelog; its submodules are tablelog's of that name
_wandb = _module("wandb", {})
_wandb.__getattr__ = lambda attr: getattr(tablelog, attr)
_wandb.data_types = sys.modules["wandb.data_types"] = tablelog.data_types
_wandb.errors = sys.modules["wandb.errors"] = tablelog.errors
_wandb.env = _module("wandb.env", {})
_module("wandb.sdk", {})
_module("wandb.sdk.data_types", {"_dtypes": lambda: sys.modules["wandb.sdk.data_types._dtypes"]})
_module("wandb.sdk.data_types._dtypes", _dtype_names())
_module("wandb.sdk.data_types.table", _table_names())
_module("wandb.sdk.data_types.image", {})
_module("wandb.sdk.data_types.helper_types", {})
_module("wandb.sdk.data_types.helper_types.classes", {})
_module("wandb.sdk.data_types.utils", {})
_module("wandb.sdk.data_types.base_types", {})
_module("wandb.sdk.data_types.base_types.media", {})
_module("wandb.sdk.wandb_settings", {})

ASSETS = Path(__file__).parent / "assets"


@pytest.fixture
def assets_path():
    return lambda name: str(ASSETS / name)
'''


def read_file(checkout: Path, rel: str) -> bytes:
    """A file of the wandb checkout: from the work tree, else from a (bare) git dir's HEAD."""
    plain = checkout / rel
    if plain.is_file():
        return plain.read_bytes()
    git_dir = checkout / ".git" if (checkout / ".git").exists() else checkout
    return subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{rel}"],
                          check=True, capture_output=True).stdout


def _uses_internal_fixture(node: ast.FunctionDef) -> bool:
    return any(a.arg in INTERNAL_FIXTURES for a in node.args.args)


def adapt(source: str, name_filter: str | None) -> tuple[str, list[str]]:
    """The selected tests of one wandb test file, with the imports kept; and those left out."""
    tree = ast.parse(source)
    lines = source.splitlines()
    kept: list[str] = []
    left_out: list[str] = []
    wanted_fixtures: set[str] = set()
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    for node in functions:
        if node.name.startswith("test_") and (name_filter is None or name_filter in node.name):
            if _uses_internal_fixture(node):
                left_out.append(node.name)
            else:
                wanted_fixtures.update(a.arg for a in node.args.args)
    for node in tree.body:
        segment = "\n".join(lines[(node.decorator_list[0].lineno if getattr(
            node, "decorator_list", None) else node.lineno) - 1: node.end_lineno])
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if (module or "").split(".")[0] in KEPT_IMPORTS:
                kept.append(segment)
        elif isinstance(node, ast.FunctionDef):
            is_test = node.name.startswith("test_")
            selected = (is_test and (name_filter is None or name_filter in node.name)
                        and node.name not in left_out)
            # helpers (non-tests) are kept when the file is taken whole, or are fixtures in use
            if selected or (not is_test and (name_filter is None or node.name in wanted_fixtures)):
                kept.append(segment)
        elif name_filter is None and isinstance(node, ast.Assign | ast.ClassDef):
            kept.append(segment)
    return "\n\n\n".join(kept) + "\n", left_out


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def _sdk_at(rev: str, into: Path) -> Path:
    """tablelog's `sdk/` as it was at git revision `rev`, unpacked under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "sdk"],
                             capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "sdk"


def _run_tests(work: Path, sdk: Path, label: str) -> dict[str, list[tuple[str, str]]]:
    junit = work / f"junit-{label}.xml"
    paths = [str(sdk), str(REPO / "agent"), str(REPO / "server_stub")]
    env = {"PYTHONPATH": ":".join(paths), "PATH": "/usr/bin:/bin", "HOME": str(work),
           "TABLELOG_MODE": "disabled", "TABLELOG_DIR": str(work / "tl")}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "-p", "no:randomly", f"--junitxml={junit}", *TEST_FILES],
                   cwd=work, env=env, capture_output=True, check=False)
    return _parse(junit)


def run(checkout: Path, out: Path, workdir: Path | None = None,
        before: str | None = None) -> int:
    """Run the selection against this checkout's tablelog (and `before`, a git revision)."""
    with tempfile.TemporaryDirectory(prefix="wandb-tests-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "assets").mkdir(exist_ok=True)
        for asset in ("test.png", "test2.png", "2x2.png"):
            (work / "assets" / asset).write_bytes(read_file(checkout, f"tests/assets/{asset}"))
        (work / "conftest.py").write_text(SHIM_CONFTEST)
        (work / "pytest.ini").write_text("[pytest]\n")
        left_out: dict[str, list[str]] = {}
        for name, name_filter in TEST_FILES.items():
            source = read_file(checkout, f"tests/unit_tests/{name}").decode()
            adapted, left_out[name] = adapt(source, name_filter)
            (work / name).write_text(adapted)
        earlier = None
        if before is not None:
            sdk = _sdk_at(before, Path(tmp) / "before")
            earlier = (_git("rev-parse", "--short", before), _run_tests(work, sdk, "before"))
        results = _run_tests(work, REPO / "sdk", "now")
    dirty = " (with uncommitted changes)" if _git("status", "--porcelain", "sdk") else ""
    report = _report(results, left_out, _git("rev-parse", "--short", "HEAD") + dirty, earlier)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(report)
    return 0


def _parse(junit: Path) -> dict[str, list[tuple[str, str]]]:
    """file -> [(test, outcome)], outcome: pass, fail, internal (wandb name tablelog lacks)."""
    results: dict[str, list[tuple[str, str]]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        file = case.get("classname", "?").split(".")[0] + ".py"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if case.find("skipped") is not None:
            outcome = "skipped"
        elif problem is None:
            outcome = "pass"
        elif "MissingInTablelog" in (problem.get("message", "") + (problem.text or "")):
            outcome = "internal"
        else:
            outcome = "fail"
        results.setdefault(file, []).append((case.get("name", "?"), outcome))
    return results


def _report(results: dict[str, list[tuple[str, str]]], left_out: dict[str, list[str]],
            head: str, earlier: tuple[str, dict[str, list[tuple[str, str]]]] | None) -> str:
    lines = ["# wandb's unit tests against tablelog", "",
             f"Generated by `bench/wandb_tests_pass_rate.py` at tablelog `{head}`"
             + (f", compared with `{earlier[0]}`" if earlier else "") + ".", "",
             "What runs and how it is adapted: see the script's docstring. \"internal\": the "
             "test uses a wandb-internal name (TypeRegistry, InvalidType, ...) tablelog lacks.",
             ""]
    runs = ([(f"before ({earlier[0]})", earlier[1])] if earlier else []) + [("now", results)]
    for label, outcome_by_file in runs:
        lines += [f"## {label}", "",
                  "| file | passed | failed | uses a wandb internal tablelog lacks | run |",
                  "|---|---|---|---|---|"]
        total: Counter[str] = Counter()
        for file, cases in sorted(outcome_by_file.items()):
            counts = Counter(outcome for _, outcome in cases)
            total.update(counts)
            lines.append(f"| {file} | {counts['pass']} | {counts['fail']} | "
                         f"{counts['internal']} | {len(cases)} |")
        run_total = sum(total.values())
        lines += [f"| **all** | **{total['pass']}** | {total['fail']} | {total['internal']} "
                  f"| {run_total} |", "", f"Pass rate ({label}): {total['pass']}/{run_total}.",
                  ""]
    lines += ["## Not passing now", ""]
    for file, cases in sorted(results.items()):
        for test, outcome in cases:
            if outcome != "pass":
                lines.append(f"- {file}::{test} ({outcome})")
    lines += ["", "## Not run (need wandb's mock run / record queue fixtures)", ""]
    for file, names in sorted(left_out.items()):
        lines += [f"- {file}::{n}" for n in names]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", nargs="?", help="a wandb repository (work tree or git dir)")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/wandb_tests.md")
    parser.add_argument("--workdir", type=Path, help="keep the adapted tests here (to debug)")
    parser.add_argument("--before", metavar="REV",
                        help="also run against tablelog's sdk/ at this git revision")
    args = parser.parse_args()
    if not args.checkout or not Path(args.checkout).exists():
        print("skipped: give the path of a wandb checkout (nothing is fetched)")
        return 0
    return run(Path(args.checkout), args.out, args.workdir, args.before)


if __name__ == "__main__":
    sys.exit(main())
