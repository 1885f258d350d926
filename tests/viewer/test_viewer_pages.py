"""The viewer's pages at the HTML level: projects, runs, artifacts, and the table
page's paging, sorting, filtering, version picker, rows-added view and joins."""

from __future__ import annotations

import html
import re
from typing import Any

from aiohttp.test_utils import TestClient

from tablelog import wire
from tablelog_server.state import BLOBS
from tests.viewer.dataset import populate
from tests.viewer.viewer_helpers import Uploader, Viewer, cells, table_blobs

PREDS = "/p/local/proj/tables/run-run1-preds"


async def test_projects_runs_and_artifacts(uploader: Uploader, viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login()
    home = await viewer.get("/")
    assert 'href="/p/local/proj">proj</a>' in home and 'api.runs("local/proj")' in home
    project = await viewer.get("/p/local/proj")
    assert 'href="/p/local/proj/runs/run1"' in project and "finished" in project
    assert "2023-11-14 22:13:20 UTC" in project  # started_at
    assert "<th>acc</th><th>comment</th><th>loss</th>" in project  # summary columns
    assert 'href="/p/local/proj/artifacts/pairs">pairs</a>' in project
    assert 'run-run1-preds</a></td><td>run_table</td><td class="num">3</td>' in project
    artifact = await viewer.get("/p/local/proj/artifacts/run-run1-preds")
    assert [m for m in re.findall(r">(v\d)</a>", artifact)] == ["v2", "v1", "v0"]
    assert '<span class="tag">latest</span>' in artifact
    assert 'api.artifact("local/proj/run-run1-preds:latest")' in artifact
    version = await viewer.get("/p/local/proj/artifacts/pairs/v0")
    for entry in ("left", "right", "both", "odd"):
        assert f'href="/p/local/proj/tables/pairs/v0/{entry}">{entry}</a>' in version
    assert "joined table" in version and "source" in version  # kind, metadata
    assert 'run.use_artifact("local/proj/pairs:v0").get("both")' in version


async def test_run_page_has_config_summary_charts_and_tables(uploader: Uploader,
                                                            viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login()
    page = await viewer.get("/p/local/proj/runs/run1")
    assert "<th scope=\"row\">lr</th><td><span class=\"num\">0.1</span>" in page
    assert "[64, 32]" in page  # a list in the config, as JSON
    # One chart per numeric metric (booleans left out), drawn from five steps.
    assert re.findall(r"<figcaption><strong>(\w+)</strong>", page) == ["loss", "acc"]
    assert page.count("<polyline") == 2 and "0.2 at step 4" in page
    # The table key with the versions its logs produced, linked to the table page.
    assert f'href="{PREDS}/v0/preds"' in page and f'href="{PREDS}/v2/preds"' in page
    assert "(10 rows, step 3)" in page and "(15 rows, step 5)" in page
    assert 'api.run("local/proj/run1")' in page
    assert 'href="/p/local/proj/artifacts/pairs">pairs</a><span class="dim"> dataset' in page
    assert 'run.use_artifact("local/proj/run-run1-preds:latest").get("preds")' in page


async def test_table_page_shows_types_thumbnails_and_the_python_that_reads_it(
        client: TestClient[Any, Any], uploader: Uploader, viewer: Viewer) -> None:
    data = await populate(uploader)
    await viewer.login()
    page = await viewer.get(f"{PREDS}/v1/preds")
    assert "15 rows · 5 columns · mutable" in page
    heads = re.findall(r'class="sort">([^<]+)</a><span class="type">([^<]+)<', page)
    assert heads == [("id", "number"), ("image", "image"), ("label", "string"),
                     ("score", "number"), ("note", "string?")]
    thumb = f'<img class="thumb" src="/blobs/{data.image_sha}"'
    assert page.count(thumb) == 15
    assert f'<a href="/blobs/{data.image_sha}" target="_blank"' in page  # full size
    assert 'run.use_artifact("local/proj/run-run1-preds:v1").get("preds")' in page
    resp = await viewer.fetch(f"/blobs/{data.image_sha}")
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/png"
    # ?as=html: how an Html cell's fragment (nothing to sniff) is framed; still sandboxed
    resp = await viewer.fetch(f"/blobs/{data.image_sha}", **{"as": "html"})
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert resp.headers["Content-Security-Policy"] == "sandbox"
    await viewer.get(f"/blobs/{'0' * 64}", status=404)
    await viewer.get("/blobs/not-a-sha", status=400)
    viewer.token = None
    assert (await viewer.fetch(f"/blobs/{data.image_sha}")).status == 303


async def test_paging_sorting_and_filtering(uploader: Uploader, viewer: Viewer) -> None:
    rows = [[i, f"item-{i % 7}", (i * 37) % 101 / 10] for i in range(1100)]
    await uploader.start_run()
    await uploader.log_table("big", {"t": table_blobs(["id", "label", "score"], rows)})
    await viewer.login()
    url = "/p/local/proj/tables/big/latest/t"
    page = await viewer.get(url)
    assert cells(page, 0) == [str(i) for i in range(50)]
    assert "rows 1–50 of 1,100" in page and 'rel="next"' in page
    page = await viewer.get(url, offset=1050, limit=100)
    assert cells(page, 0) == [str(i) for i in range(1050, 1100)]
    assert "rows 1,051–1,100 of 1,100" in page and 'rel="next"' not in page
    assert len(cells(await viewer.get(url, limit=100_000), 0)) == 500  # clamped

    page = await viewer.get(url, sort="score", desc=1, limit=5)
    scores = [float(s) for s in cells(page, 2)]
    assert scores == sorted(scores, reverse=True) and scores[0] == 10.0
    assert "score ▼" in page
    page = await viewer.get(url, q="score > 9.5", sort="id", limit=500)
    expected = [r for r in rows if r[2] > 9.5]
    assert [int(i) for i in cells(page, 0)] == [r[0] for r in expected]
    assert f"of {len(expected):,}" in page and "expression: score &gt; 9.5" in page
    page = await viewer.get(url, q='label == "item-3"', limit=500)
    assert set(cells(page, 1)) == {"item-3"} and len(cells(page, 1)) == 157
    page = await viewer.get(url, q="ITEM-6", limit=500)  # no expression: text search
    assert set(cells(page, 1)) == {"item-6"}
    assert "text search for 'ITEM-6' in every cell" in html.unescape(page)
    page = await viewer.get(url, q="nosuchcolumn > 3")  # not a column: said so
    assert "filter not applied: unknown column 'nosuchcolumn'" in html.unescape(page)
    assert "no column" in await viewer.get(url, sort="nope", status=400)
    assert "must be an integer" in await viewer.get(url, offset="x", status=400)


async def test_a_200000_row_table_opens_reading_one_chunk(
        client: TestClient[Any, Any], uploader: Uploader, viewer: Viewer) -> None:
    rows = [[i, i * 0.5] for i in range(200_000)]
    await uploader.start_run()
    await uploader.log_table("huge", {"t": table_blobs(["id", "half"], rows)})
    await viewer.login()
    blobs = client.app[BLOBS]
    reads: list[str] = []
    original = blobs.read

    async def counting_read(sha256: str, *, max_bytes: int) -> bytes:
        reads.append(sha256)
        return await original(sha256, max_bytes=max_bytes)

    blobs.read = counting_read  # type: ignore[method-assign]
    page = await viewer.get("/p/local/proj/tables/huge/v0/t", offset=293 * wire.CHUNK_ROWS)
    assert cells(page, 0)[:2] == ["150016", "150017"] and "200,000 rows" in page
    assert len(reads) == 2, reads  # the manifest and the one chunk holding the page


async def test_version_picker_and_rows_added_since(uploader: Uploader, viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login()
    page = await viewer.get(f"{PREDS}/v1/preds")
    picker = page.split('id="versions"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="([^"]+)" class="version[^"]*"', picker) == [
        f"{PREDS}/v0/preds", f"{PREDS}/v1/preds", f"{PREDS}/v2/preds", f"{PREDS}/latest/preds"]
    assert 'aria-current="page">v1<' in picker
    assert f'href="{PREDS}/v1/preds?since=v0"' in picker  # only older versions
    assert "since=v2" not in picker
    older = await viewer.get(f"{PREDS}/v0/preds")
    assert cells(older, 0) == [str(i) for i in range(10)]

    added = await viewer.get(f"{PREDS}/v1/preds", since="v0")
    assert cells(added, 0) == ["10", "11", "12", "13", "14"]
    assert "5 rows after the first 10 (rows 11–15)" in added
    assert re.findall(r'<td class="rownum">(\d+)</td>', added) == ["11", "12", "13", "14", "15"]
    changed = await viewer.get(f"{PREDS}/v2/preds", since="v0")
    assert "are not a prefix" in changed and "rows 0–9 differ" in changed
    assert 'id="rows"' not in changed
    await viewer.get(f"{PREDS}/v1/preds", since="v9", status=404)


async def test_rows_added_across_chunk_boundaries(uploader: Uploader, viewer: Viewer) -> None:
    rows = [[i, f"r{i}"] for i in range(1300)]
    await uploader.start_run()
    for n in (600, 1300):  # v0: chunks 512 + 88; v1: 512 + 512 + 276
        await uploader.log_table("grow", {"t": table_blobs(["id", "s"], rows[:n])})
    edited = [list(r) for r in rows]
    edited[5][1] = "edited"  # an early, full chunk changes: not a prefix
    await uploader.log_table("grow", {"t": table_blobs(["id", "s"], edited)})
    await viewer.login()
    url = "/p/local/proj/tables/grow"
    page = await viewer.get(f"{url}/v1/t", since="v0", offset=650)
    assert "700 rows after the first 600" in page
    assert cells(page, 0)[0] == "1250" and len(cells(page, 0)) == 50
    page = await viewer.get(f"{url}/v2/t", since="v0")
    assert "not a prefix" in page and "rows 0–511 differ" in page
    page = await viewer.get(f"{url}/v2/t", since="v1")
    assert "not a prefix" in page


async def test_rows_added_since_is_offered_only_where_tables_grow(uploader: Uploader,
                                                                 viewer: Viewer) -> None:
    # Issue 14.4: a new IMMUTABLE table each step (the demo's predictions) could only
    # answer "none can be shown"; the picker says why instead of offering the links.
    await uploader.start_run()
    for step in range(2):
        rows = [[step * 10 + i, f"p{i}"] for i in range(3)]
        await uploader.log_table("fresh", {"t": table_blobs(["id", "s"], rows,
                                                              log_mode="IMMUTABLE")})
        await uploader.log_table("grows", {"t": table_blobs(["id", "s"], rows[:step + 1],
                                                              log_mode="INCREMENTAL")})
    await viewer.login()
    fresh = await viewer.get("/p/local/proj/tables/fresh/v1/t")
    picker = fresh.split('id="versions"', 1)[1].split("</nav>", 1)[0]
    assert 'class="since"' not in picker and "since=" not in picker
    assert 'id="since-off"' in picker and "an IMMUTABLE table is logged anew" in picker
    first = await viewer.get("/p/local/proj/tables/fresh/v0/t")  # no older version: no note
    assert "since-off" not in first.split('id="versions"', 1)[1].split("</nav>", 1)[0]
    grows = await viewer.get("/p/local/proj/tables/grows/v1/t")
    picker = grows.split('id="versions"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/p/local/proj/tables/grows/v1/t?since=v0" class="since"' in picker
    assert "since-off" not in picker


async def test_joined_table_inner_left_and_outer(uploader: Uploader, viewer: Viewer) -> None:
    await populate(uploader)
    await viewer.login()
    url = "/p/local/proj/tables/pairs/v0/both"
    inner = await viewer.get(url)
    assert "Join of" in inner and 'aria-current="page">inner<' in inner
    assert cells(inner, 0) == ["2", "3", "3"] and cells(inner, 2) == ["g2", "g3", "g3"]
    assert re.findall(r'class="sort">([^<]+)</a>', inner) == ["id", "truth", "guess"]
    left = await viewer.get(url, how="left")
    assert cells(left, 0) == ["0", "1", "2", "3", "3"] and cells(left, 2)[0] == "—"
    outer = await viewer.get(url, how="outer", sort="id", desc=1)
    assert cells(outer, 0) == ["5", "3", "3", "2", "1", "0"]
    assert cells(outer, 1)[0] == "—"
    filtered = await viewer.get(url, how="outer", q='guess == "g3"')
    assert cells(filtered, 0) == ["3", "3"]
    assert 'get("both").to_table(how=\'outer\')' in outer
    await viewer.get(url, how="sideways", status=400)


async def test_missing_things_answer_404_and_odd_entries_422(uploader: Uploader,
                                                           viewer: Viewer) -> None:
    await populate(uploader)
    await uploader.log_table("files", {}, extra_blobs=[b"x"])
    await viewer.login()
    for path in ("/p/local/nope", "/p/local/proj/runs/nope", "/p/local/proj/artifacts/nope",
                 "/p/local/proj/artifacts/pairs/v7", f"{PREDS}/v0/nope",
                 "/p/local/proj/tables/pairs/nope/left"):
        assert "Not found" in await viewer.get(path, status=404)
    await viewer.get("/p/local/proj/artifacts/pairs/bad%20alias", status=400)
    same = await viewer.get("/p/local/proj/tables/pairs/v0/left", since="v0")  # v0 vs itself
    assert "since v0: none; both have the same 4 rows" in same and 'id="rows"' not in same
    media = wire.ManifestEntry("image", wire.sha256_hex(b"x"), 1)
    await uploader.log_table("pics", {"pic": ({}, media)}, extra_blobs=[b"x"])
    page = await viewer.get("/p/local/proj/tables/pics/v0/pic", status=422)
    assert "not a table" in page


async def test_project_and_run_pages_show_how_a_run_ended(uploader: Uploader,
                                                          viewer: Viewer) -> None:
    for run_id, end in (("ok", {"exit_code": 0}), ("pre", {"exit_code": 143,
                                                           "state": "preempted"}),
                        ("bad", {"exit_code": 3, "state": "failed"})):
        await uploader.start_run(run_id=run_id)
        await uploader.send("run_end", end, run_id=run_id)
    await viewer.login()
    project = await viewer.get("/p/local/proj")
    assert '<span class="state finished">finished</span>' in project
    assert '<span class="state preempted">preempted (exit 143)</span>' in project
    assert '<span class="state failed">failed (exit 3)</span>' in project
    page = await viewer.get("/p/local/proj/runs/bad")
    assert "failed (exit 3)" in page and '<th scope="row">exit code</th><td>3</td>' in page


async def test_tables_by_key_and_the_merged_view_across_runs(uploader: Uploader,
                                                             viewer: Viewer) -> None:
    # Two runs log "preds" (their column sets differ), one run logs "other".
    for run_id, rows in (("runa", [[i, f"a{i}", i / 10] for i in range(30)]),
                         ("runb", [[i, f"b{i}"] for i in range(40)])):
        await uploader.start_run(run_id=run_id, name=run_id)
        columns = ["id", "guess", "score"][:len(rows[0])]
        await uploader.log_table(f"run-{run_id}-preds", {"preds": table_blobs(columns, rows)},
                                 run_id=run_id)
    await uploader.log_table("run-runa-other", {"other": table_blobs(["x"], [[1]])},
                             run_id="runa")
    await viewer.login()
    project = await viewer.get("/p/local/proj")
    keys = re.findall(r'<a href="/p/local/proj/keys/(\w+)" class="key">', project)
    assert keys == ["other", "preds"]
    url = "/p/local/proj/keys/preds"
    page = await viewer.get(url)
    assert re.findall(r'class="sort">(\w+)', page) == ["run", "id", "guess", "score"]
    assert "rows 1–50 of 70" in page
    first = cells(page, -1)  # the run column is the first column
    assert first[:30] == ["runa"] * 30 and first[30:] == ["runb"] * 20
    assert cells(page, 2)[30] == "—"  # runb has no score: empty, not an error
    page = await viewer.get(url, offset=50)
    assert cells(page, -1) == ["runb"] * 20 and cells(page, 0)[-1] == "39"
    page = await viewer.get(url, q='run == "runb" and id >= 35')
    assert cells(page, 0) == ["35", "36", "37", "38", "39"] and "of 5" in page
    page = await viewer.get(url, sort="score", desc=1)
    assert cells(page, 2)[:2] == ["2.9", "2.8"] and cells(page, 2)[30] == "—"
    page = await viewer.get(url, runs="runb")
    assert "of 40" in page and set(cells(page, -1)) == {"runb"}
    page = await viewer.get(url, q="scroe > 1")
    assert "filter not applied: unknown column 'scroe'" in html.unescape(page)
    await viewer.get(url, runs="nosuch", status=400)
    await viewer.get("/p/local/proj/keys/missing", status=404)
