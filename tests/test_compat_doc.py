"""docs/compat.md (and docs/compat-rows/*.md) against the code, both ways.

Every row of a `| wandb name | status | why |` table names one wandb name; its
status says whether tablelog has it. A name marked as existing must be there, a
name marked `not yet` / `not planned` must not (so the page cannot lag a change
either way), no name has two rows, and every name in `tablelog.__all__` has one.
The format is described at the top of docs/compat.md.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs" / "compat.md", *sorted((ROOT / "docs" / "compat-rows").glob("*.md"))]
HEADER = ["wandb name", "status", "why"]
EXISTS = ("works", "accepted and ignored", "deviates", "not in wandb")
ABSENT = ("not yet", "not planned")
NAME = re.compile(r"`(?P<path>[A-Za-z_][\w.]*)(?:\((?P<keyword>\w+)=\))?`")
_MISSING = object()


@dataclass(frozen=True)
class Row:
    page: str
    line: int
    area: str
    name: str
    status: str
    why: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line} ({self.area}) {self.name}"


def _rows(page: Path) -> Iterator[Row]:
    area, header = "", None
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.startswith("#"):
            area, header = line.lstrip("#").strip(), None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif header == HEADER and not set(line) <= set("|-: "):
            assert len(cells) == 3, f"{page.name}:{number}: a row has three cells: {line}"
            yield Row(page.name, number, area, *cells)


ROWS = [row for page in PAGES for row in _rows(page)]


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An instance of each class the rows name, for attributes set in __init__."""
    from tablelog.apis.public import PublicRun

    tmp = tmp_path_factory.mktemp("compat")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TABLELOG_DIR", str(tmp / "queue"))
        mp.setenv("TABLELOG_MODE", "offline")
        run = tablelog.init(project="compat")
        run.finish()
        yield {
            "Run": run,
            "Table": tablelog.Table(columns=["a"], data=[[1]]),
            "JoinedTable": tablelog.JoinedTable("t1", "t2", "a"),
            "Image": tablelog.Image(np.zeros((2, 2, 3), dtype=np.uint8)),
            "Artifact": tablelog.Artifact("compat", "dataset"),
            "Api": tablelog.Api(base_url="http://127.0.0.1:9", api_key="key",
                                cache_dir=tmp / "cache"),
            "public.Run": PublicRun("e", "p", "id", "name", "finished", {}, {}),
        }


def _classes() -> dict[str, Any]:
    from tablelog.apis.public import PublicRun

    return {"public.Run": PublicRun,
            **{n: getattr(tablelog, n) for n in tablelog.__all__
               if inspect.isclass(getattr(tablelog, n))}}


def _lookup(path: str, probes: dict[str, Any]) -> Any:
    """What `path` names in tablelog, or _MISSING."""
    classes = _classes()
    root = next((r for r in sorted(classes, key=len, reverse=True)
                 if path == r or path.startswith(f"{r}.")), None)
    if path.startswith("wandb.") or path == "wandb":
        obj: Any = tablelog
        rest = path.split(".")[1:]
    elif root is not None:
        obj = classes[root]
        rest = path[len(root):].split(".")[1:]
    else:
        raise AssertionError(f"{path!r}: a name starts with `wandb.` or a class of tablelog "
                             f"({', '.join(sorted(classes))})")
    for i, attr in enumerate(rest):
        value = getattr(obj, attr, _MISSING)
        if value is _MISSING and i == 0 and root in probes:
            value = getattr(probes[root], attr, _MISSING)
        if value is _MISSING:
            return _MISSING
        obj = value
    return obj


def _keyword(func: Any, keyword: str) -> tuple[bool, bool]:
    """(a named parameter, taken by **kwargs) of `func` (a class: its constructor)."""
    params = inspect.signature(func).parameters
    named = keyword in params and params[keyword].kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_the_page_has_rows_in_every_area() -> None:
    areas = {row.area for row in ROWS if row.page == "compat.md"}
    assert {"Module functions and state", "init keywords", "Run attributes and methods",
            "Table", "Media", "Artifact", "Api"} <= areas


def test_rows_from_other_branches_name_an_area_of_the_page() -> None:
    # docs/compat-rows/*.md are pasted into the table of the same heading
    areas = {row.area for row in ROWS if row.page == "compat.md"}
    for row in ROWS:
        assert row.area in areas, f"{row.where}: no '## {row.area}' table in docs/compat.md"


def test_every_row_is_well_formed() -> None:
    for row in ROWS:
        assert NAME.fullmatch(row.name), f"{row.where}: one name in backticks"
        assert row.status.startswith(EXISTS + ABSENT), f"{row.where}: unknown status"
        if not row.status.startswith(("works", "not yet")):  # not yet: its issue says why
            assert row.why, f"{row.where}: status {row.status!r} needs a why"


def test_no_name_has_two_rows() -> None:
    seen: dict[str, Row] = {}
    for row in ROWS:
        assert row.name not in seen, f"{row.where} repeats {seen[row.name].where}"
        seen[row.name] = row


@pytest.mark.parametrize("row", ROWS, ids=[r.name.strip("`") for r in ROWS])
def test_the_status_matches_the_code(row: Row, probes: dict[str, Any]) -> None:
    match = NAME.fullmatch(row.name)
    assert match, f"{row.where}: one name in backticks"
    exists = row.status.startswith(EXISTS)
    target = _lookup(match["path"], probes)
    keyword = match["keyword"]
    if keyword is None:
        there = target is not _MISSING
    else:
        assert target is not _MISSING, f"{row.where}: {match['path']} itself is missing"
        named, var_keyword = _keyword(target, keyword)
        # a keyword swallowed by **kwargs is accepted and ignored, and nothing more
        there = named or (var_keyword and row.status.startswith("accepted and ignored"))
        if not exists:
            assert not var_keyword or not named, row.where
    if exists:
        assert there, f"{row.where} is marked {row.status!r} but tablelog does not have it"
    else:
        assert not there, (f"{row.where} is marked {row.status!r} but tablelog has it now: "
                           "update its row")


def test_every_public_name_has_a_row() -> None:
    named = {NAME.fullmatch(r.name)["path"] for r in ROWS  # type: ignore[index]
             if NAME.fullmatch(r.name)}
    missing = [n for n in tablelog.__all__ if f"wandb.{n}" not in named]
    assert not missing, f"docs/compat.md has no row for tablelog.{', tablelog.'.join(missing)}"


def _env_rows() -> dict[str, str]:
    text = PAGES[0].read_text().split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`WANDB_"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def test_the_environment_table_matches_what_the_sdk_reads() -> None:
    from tablelog.runtime import init_args
    from tablelog.settings import WANDB_ALIASES

    read = set(WANDB_ALIASES.values()) | {pair[1] for pair in init_args.RUN_VARIABLES.values()}
    rows = _env_rows()
    listed = {name for name, status in rows.items() if not status.endswith("(never read)")}
    assert listed == read
    never = {name for name, status in rows.items() if status.endswith("(never read)")}
    assert never == {"WANDB_API_KEY", "WANDB_BASE_URL"}
    sources = "\n".join(p.read_text() for p in Path(tablelog.__file__).parent.rglob("*.py"))
    for name in never:  # named in comments that warn, never as a string the code looks up
        assert f'"{name}"' not in sources and f"'{name}'" not in sources
