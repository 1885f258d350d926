"""The key page's views over several tables: versions of one run merged, side by side
with differences, grouped with aggregates, multi-column sort, CSV/JSON export — each
checked against the same answer computed in Python from the logged rows."""

from __future__ import annotations

import csv
import html
import io
import json
import random
import re
import urllib.parse
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tablelog_server.tables import sort_key, sorted_positions
from tests.viewer.viewer_helpers import Uploader, Viewer, table_blobs

KEY = "/p/local/proj/keys/preds"
LABELS = ["cat", "dog", "bird"]


def _url(**params: Any) -> str:
    pairs = [(k, str(item)) for k, v in params.items()
             for item in (v if isinstance(v, list) else [v])]
    return f"{KEY}?{urllib.parse.urlencode(pairs)}"


def _grid_rows(page: str) -> list[list[str]]:
    body = page.split('id="rows">', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    return [[html.unescape(re.sub(r"<[^>]+>", "", td))
             for td in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)]


def _rows(seed: int, n: int) -> list[list[Any]]:
    rng = random.Random(seed)
    return [[i, rng.choice(LABELS), rng.choice(LABELS), round(rng.random(), 3)]
            for i in range(n)]


async def _two_runs(uploader: Uploader) -> dict[str, list[list[Any]]]:
    logged = {"runa": _rows(1, 60), "runb": _rows(2, 45)}
    logged["runb"] = [r[:3] for r in logged["runb"]]  # runb has no score column
    logged["runb"][:10] = [list(r) for r in [row[:3] for row in logged["runa"][:10]]]
    for run_id, rows in logged.items():
        await uploader.start_run(run_id=run_id, name=run_id)
        columns = ["id", "truth", "guess", "score"][:len(rows[0])]
        await uploader.log_table(f"run-{run_id}-preds", {"preds": table_blobs(columns, rows)},
                                 run_id=run_id)
    return logged


async def test_versions_of_one_run_merge_with_a_version_column(uploader: Uploader,
                                                               viewer: Viewer) -> None:
    await uploader.start_run(run_id="runa", name="runa")
    for step in range(3):
        rows = [[i, f"v{step}-{i}"] for i in range(step + 2)]
        await uploader.log_table("run-runa-preds", {"preds": table_blobs(["id", "text"], rows)},
                                 run_id="runa")
    await viewer.login()
    page = await viewer.get(_url(run="runa", versions="all"))
    rows = _grid_rows(page)
    assert [r[0] for r in rows] == ["v0"] * 2 + ["v1"] * 3 + ["v2"] * 4
    assert rows[2] == ["v1", "0", "v1-0"] and "of 9" in page
    page = await viewer.get(_url(run="runa", versions="v0,v2", q='version == "v2"'))
    assert [r[2] for r in _grid_rows(page)] == [f"v2-{i}" for i in range(4)]
    await viewer.get(_url(run="runa", versions="v7"), status=400)
    await viewer.get(_url(run="nosuch"), status=400)


async def test_multi_column_sort_and_sort_by_the_run_column(uploader: Uploader,
                                                            viewer: Viewer) -> None:
    logged = await _two_runs(uploader)
    await viewer.login()
    page = await viewer.get(_url(sort="guess", then=["run", "id"], then_desc=["id"]))
    got = [(r[0], int(r[1])) for r in _grid_rows(page)]
    every = [(run, row) for run, rows in logged.items() for row in rows]
    every.sort(key=lambda x: -x[1][0])
    every.sort(key=lambda x: x[0])
    every.sort(key=lambda x: x[1][2])
    assert got == [(run, row[0]) for run, row in every][:50]
    assert "▲1" in page and "▲2" in page and "▼3" in page  # the keys are numbered


async def test_side_by_side_marks_differences_and_keeps_rows_that_disagree(
        uploader: Uploader, viewer: Viewer) -> None:
    logged = await _two_runs(uploader)
    a = {r[0]: r for r in logged["runa"]}
    b = {r[0]: r for r in logged["runb"]}
    await viewer.login()
    page = await viewer.get(_url(view="side", on="id"))
    assert "60 rows joined on id across runa, runb" in page
    rows = _grid_rows(page)
    # id, then per compared column (truth, guess, score) the cells of runa and runb
    assert rows[0][:5] == ["0", a[0][1], b[0][1], a[0][2], b[0][2]]
    assert rows[0][5:] == [str(a[0][3]), "—"]  # runb has no score: an empty cell
    differ_guess = [i for i in a if i in b and a[i][2] != b[i][2]]
    page = await viewer.get(_url(view="side", on="id", diff="guess"))
    assert [int(r[0]) for r in _grid_rows(page)] == differ_guess
    assert page.count('class="differs"') >= 2 * len(differ_guess)
    # any difference: a differing truth or guess, or runb lacks the row (ids 45..59);
    # runb has no score column, which is no difference
    page = await viewer.get(_url(view="side", on="id", diff="any"))
    expected = [i for i in a if i not in b or a[i][1:3] != b[i][1:3]]
    assert [int(r[0]) for r in _grid_rows(page)] == expected[:50]
    assert f"of {len(expected)}" in page
    page = await viewer.get(_url(view="side", on="id", diff="score"))
    assert "No rows." in page
    page = await viewer.get(_url(view="side", by_index=1))
    assert "joined on the row index" in page
    await viewer.get(_url(view="side", on="nosuch"), status=400)
    await viewer.get(_url(view="side", on="id", diff="nosuch"), status=400)
    await viewer.get(_url(view="side", runs="runa"), status=400)  # one table: nothing beside


async def test_group_by_two_columns_counts_a_confusion_matrix(uploader: Uploader,
                                                              viewer: Viewer) -> None:
    logged = await _two_runs(uploader)
    await viewer.login()
    page = await viewer.get(_url(view="group", group=["truth", "guess"]))
    body = page.split('id="groups">', 1)[1]
    found = {(g[0], g[1]): int(g[2].replace(",", "")) for g in _grid_rows_of(body)}
    expected = Counter((r[1], r[2]) for rows in logged.values() for r in rows)
    assert found == dict(expected)
    assert f"{len(expected)} groups of 105 rows by truth, guess" in page
    assert '<svg class="hist"' in page and "mean " in page  # the score column's aggregates
    # a group's link opens exactly its rows
    link = html.unescape(re.search(r'<a href="([^"]+)" class="group-link">', page)[1])
    opened = await viewer.get(link)
    first = _grid_rows_of(body)[0]
    assert f"of {int(first[2])}" in opened or f"1–{int(first[2])} of" in opened
    await viewer.get(_url(view="group", group="nosuch"), status=400)


def _grid_rows_of(body: str) -> list[list[str]]:
    body = body.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [[html.unescape(re.sub(r"<[^>]+>", "", td)).strip()
             for td in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL)]


async def test_export_streams_the_current_view_as_csv_and_json(uploader: Uploader,
                                                                viewer: Viewer) -> None:
    logged = await _two_runs(uploader)
    await viewer.login()
    resp = await viewer.fetch(_url(q="score > 0.5", sort="score", desc=1, format="csv"))
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await resp.text())))
    kept = sorted([r for r in logged["runa"] if r[3] > 0.5], key=lambda r: -r[3])
    assert rows[0] == ["run", "id", "truth", "guess", "score"]
    assert rows[1:] == [["runa", str(r[0]), r[1], r[2], str(r[3])] for r in kept]
    resp = await viewer.fetch(_url(format="json"))
    data = json.loads(await resp.text())
    assert data["columns"] == ["run", "id", "truth", "guess", "score"]
    assert len(data["data"]) == 105 and data["data"][-1][-1] is None
    resp = await viewer.fetch(_url(view="group", group="truth", format="json"))
    grouped = json.loads(await resp.text())
    counts = Counter(r[1] for rows in logged.values() for r in rows)
    assert {row[0]: row[1] for row in grouped["data"]} == dict(counts)
    resp = await viewer.fetch(_url(view="side", on="id", diff="guess", format="csv"))
    side = list(csv.reader(io.StringIO(await resp.text())))
    assert side[0] == ["id", "truth@runa", "truth@runb", "guess@runa", "guess@runb",
                       "score@runa", "score@runb"]
    a = {r[0]: r for r in logged["runa"]}
    b = {r[0]: r for r in logged["runb"]}
    assert [int(r[0]) for r in side[1:]] == [i for i in a if i in b and a[i][2] != b[i][2]]
    assert all(r[-1] == "" for r in side[1:])  # runb's missing score: empty
    assert (await viewer.fetch(_url(format="xml"))).status == 400
    assert (await viewer.fetch(_url(q="scroe > 1", format="csv"))).status == 400


async def test_bad_view_parameters_are_400(uploader: Uploader, viewer: Viewer) -> None:
    await _two_runs(uploader)
    await viewer.login()
    await viewer.get(_url(view="pivot"), status=400)
    await viewer.get(_url(sort="nosuch"), status=400)
    page = await viewer.get(_url(view="group"))
    assert "Choose a column to group by." in page


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-3, 3), st.sampled_from("abc"),
                                    st.just(float("nan"))),
                          st.one_of(st.none(), st.integers(-3, 3))), max_size=30),
       st.lists(st.booleans(), min_size=2, max_size=2))
def test_sorted_positions_agrees_with_a_reference(values: list[tuple[Any, Any]],
                                                   descending: list[bool]) -> None:
    def empty(v: Any) -> bool:
        return v is None or (isinstance(v, float) and v != v)

    def reference() -> list[int]:
        def key(i: int) -> tuple[Any, ...]:
            out: list[Any] = []
            for k, desc in enumerate(descending):
                v = values[i][k]
                rank = sort_key(v) if not empty(v) else None
                out.append((empty(v), _Reversed(rank) if desc and rank is not None else rank
                            if rank is not None else 0))
            return (*out, i)
        return sorted(range(len(values)), key=key)

    assert sorted_positions(values, descending) == reference()


class _Reversed:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.value < self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value
