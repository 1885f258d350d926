"""The SDK's layout: subpackages by concept, the public names where they were, and
which modules import which (no import circles between the artifact modules)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import tablelog

PKG = Path(tablelog.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules of tablelog that `path` imports, at the top or inside functions, but not
    under ``if TYPE_CHECKING:`` (those are never executed)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for b in node.body for n in ast.walk(b))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tablelog"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (PKG.parent / candidate.replace(".", "/")).with_suffix(
                    ".py").exists() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("tablelog"))
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        here = todo.pop()
        if here == goal:
            return True
        if here not in seen:
            seen.add(here)
            todo.extend(graph.get(here, ()))
    return False


def test_every_module_lives_in_a_subpackage_but_the_shared_few() -> None:
    top = sorted(p.stem for p in PKG.glob("*.py"))
    assert top == ["__init__", "errors", "settings", "wire"]
    packages = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    # plot: wandb.plot's chart helpers, a package of its own as in wandb
    assert packages == ["apis", "artifacts", "data_types", "plot", "runtime", "store"]


def test_public_names_stay_where_wandb_programs_find_them() -> None:
    for name in tablelog.__all__:
        assert getattr(tablelog, name, None) is not None or name in {"run", "config", "summary"}
    assert tablelog.Table.__module__ == "tablelog.data_types.table"
    assert tablelog.Api.__module__ == "tablelog.apis.public"


def test_the_read_api_and_resolution_import_each_other_in_one_direction_only() -> None:
    graph = _graph()
    assert _reaches(graph, "tablelog.artifacts.resolve", "tablelog.apis.client")
    assert not _reaches(graph, "tablelog.apis.public", "tablelog.artifacts.resolve")
    assert not _reaches(graph, "tablelog.apis.client", "tablelog.artifacts.resolve")


def test_an_artifact_reads_its_entries_but_the_reader_needs_no_artifact() -> None:
    graph = _graph()
    assert _reaches(graph, "tablelog.artifacts.artifact", "tablelog.artifacts.reader")
    assert not _reaches(graph, "tablelog.artifacts.reader", "tablelog.artifacts.artifact")


def test_wire_imports_alone_and_tablelog_imports_cheaply() -> None:
    code = ("import sys, tablelog.wire; "
            "print(sorted(m for m in sys.modules if m.startswith('tablelog')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['tablelog', 'tablelog.errors', 'tablelog.wire']"
    code = "import sys, tablelog; print(sorted(m for m in sys.modules if m.startswith('tablelog')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['tablelog']"


def test_an_empty_run_never_imports_numpy(tmp_path: Path) -> None:
    # numpy's import costs ~100 ms here: a run that logs no table or media must not pay it
    code = ("import sys, tablelog; run = tablelog.init(project='p'); run.log({'x': 1}); "
            "run.finish(); print('numpy' in sys.modules)")
    env = {**os.environ, "TABLELOG_DIR": str(tmp_path), "TABLELOG_MODE": "offline"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip() == "False"
