"""Big numbers, NaN and infinities everywhere a run can hold them (config, summary,
history at ``time.time_ns()`` steps, table cells, artifact metadata): every page
and API route renders them, and numbers in query parameters past what SQLite or a
float can hold are refused with a 4xx, never a 500."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hostile_site import Site
from hostile_values import BIG_VALUES, INT64_MAX, NS, Answer, error_problem, seeded_paths
from server_helpers import Api, entry

EXACT = {"int53": "9007199254740993", "u64": "18446744073709551616",
         "neg70": "-1180591620717411303424", "i64min": "-9223372036854775808"}


@pytest.fixture
async def site(client: TestClient[Any, Any]) -> Site:
    """The seeded server, logged in."""
    seeded = Site(client)
    await seeded.seed()
    return seeded


def ok(answer: Answer) -> str:
    assert answer.status == 200, (answer.status, answer.text[:2000])
    return answer.text


async def test_every_route_renders_the_seeded_values(site: Site) -> None:
    """Every route with every seeded path: no 500, and errors (a joined table that is
    not in v0, say) are proper error answers."""
    answered = 0
    for route in site.routes:
        if route.method != "GET":
            continue
        for path in seeded_paths(route):
            answer = await site.request(route, path)
            assert error_problem(route.method, answer) is None, (path, answer.text[:1000])
            answered += answer.status == 200
    assert answered >= 30


async def test_run_page_charts_time_ns_steps_and_huge_values(site: Site) -> None:
    page = ok(await site.get("/p/local/proj/runs/big"))
    charts = re.findall(r'<figure class="metric">.*?</figure>', page, re.DOTALL)
    titles = [re.search(r"<strong>(\w+)</strong>", c)[1] for c in charts]  # type: ignore[index]
    assert titles[:3] == ["loss", "flat", "count"]
    for chart in charts:
        coords = re.findall(r'(?:points|cx|cy)="([^"]*)"', chart)
        numbers = [float(n) for c in coords for n in re.split(r"[ ,]", c)]
        assert numbers and all(math.isfinite(n) and 0 <= n <= 320 for n in numbers), chart
    loss = charts[0]
    assert "at step 9223372036854775807" in loss  # the last step, in full
    # config and summary: exact integers, NaN and both infinities
    for text in EXACT.values():
        assert f'<span class="num">{text}</span>' in page, text
    assert '<span class="num">NaN</span>' in page and '<span class="num">-∞</span>' in page
    assert "1.3583e+331" in page  # 2**1100, past any float
    close = ok(await site.get("/p/local/proj/runs/close"))
    # steps 2**53 and 2**53 + 1 are one float: the chart tells them apart anyway
    xs = re.findall(r'points="([^"]*)"', close)[0].split()
    assert len({x.split(",")[0] for x in xs}) == 3, xs
    times = ok(await site.get("/p/local/proj/runs/times"))
    assert "failed (exit -9223372036854775808)" in times and "1e+308" in times


async def test_project_and_table_pages_show_the_values(site: Site) -> None:
    project = ok(await site.get("/p/local/proj"))
    assert "<th>huge</th>" in project and "1.3583e+331" in project and ">∞<" in project
    base = "/p/local/proj/tables/nums/v1/t"
    table = ok(await site.get(base))
    for text in EXACT.values():
        assert f'<span class="num">{text}</span>' in table
    for sort in ("v", "k", "i"):
        for desc in ("", "1"):
            ok(await site.get(base, sort=sort, desc=desc))
    ascending = ok(await site.get(base, sort="v"))
    values = re.findall(r'<td><span class="num">([^<]*)</span></td><td><span class="num">\d+<',
                        ascending)
    assert values[0] == "-∞" and values[-2:] == ["∞", "NaN"], values
    for q in ("v > 1e300", "v >= 18446744073709551616", "v < -1e308", "v == nan", "v ~ 9"):
        ok(await site.get(base, q=q))
    grid = ok(await site.get(base, q="v > 1e308")).split('<table class="data"')[1]
    assert re.findall(r'<span class="num">([^<]*)</span></td><td><span class="num">\d+<',
                      grid) == ["1.3583e+331", "∞"]
    since = ok(await site.get(base, since="v0"))
    assert "Rows added in v1 since v0" in since
    for how in ("inner", "left", "outer"):
        ok(await site.get("/p/local/proj/tables/nums/v1/both", how=how, sort="w"))
    version = ok(await site.get("/p/local/proj/artifacts/nums/v1"))
    assert EXACT["neg70"] in version and "NaN" in version
    assert "1.26501e+322 GiB" in version  # 2**1100 bytes, as a manifest entry claims


async def test_api_answers_the_values_as_json(site: Site) -> None:
    run = json.loads(ok(await site.get("/api/v1/runs/local/proj/big")))
    summary, config = run["summary"], run["config"]
    for name, value in BIG_VALUES.items():
        expected = None if isinstance(value, float) and not math.isfinite(value) else value
        assert summary[name] == expected and config[name] == expected, name
    history = json.loads(ok(await site.get("/api/v1/runs/local/proj/big/history")))
    assert [r["_step"] for r in history["rows"]] == [0, 1, 2**53, 2**53 + 1, NS, NS + 1,
                                                     INT64_MAX - 1, INT64_MAX]
    assert history["rows"][2]["count"] == 2**64 + 2
    table = json.loads(ok(await site.get("/api/v1/tables/local/proj/nums/v1/t", sort="v")))
    assert table["rows"][0][1] is None and table["rows"][-3][1] == 2**1100


@pytest.mark.parametrize("path", ["/api/v1/runs/local/proj/big/history",
                                  "/api/v1/tables/local/proj/nums/v1/t",
                                  "/p/local/proj/tables/nums/v1/t",
                                  "/p/local/proj/tables/nums/v1/both"])
@pytest.mark.parametrize("offset", [str(INT64_MAX + 1), str(2**64), str(10**40), "9" * 5000])
async def test_offsets_past_int64_are_a_400(site: Site, path: str, offset: str) -> None:
    answer = await site.get(path, offset=offset)
    assert answer.status == 400, answer.text[:500]
    assert error_problem("GET", answer) is None and "offset" in answer.text


async def test_offsets_up_to_int64_are_an_empty_page(site: Site) -> None:
    history = json.loads(ok(await site.get("/api/v1/runs/local/proj/big/history",
                                           offset=str(INT64_MAX), limit="10000")))
    assert history == {"rows": [], "offset": 2**63 - 1, "next": None}
    table = json.loads(ok(await site.get("/api/v1/tables/local/proj/nums/v1/t",
                                         offset=str(INT64_MAX))))
    assert table["rows"] == [] and table["offset"] == INT64_MAX
    assert "no rows at offset" in ok(await site.get("/p/local/proj/tables/nums/v1/t",
                                                    offset=str(INT64_MAX)))


@pytest.mark.parametrize("since", ["v" + str(2**63), "v" + "9" * 40, "v\u00b2", "v\u0663",
                                   "v-1", "v1\n", "vinf", "nope", "v2"])
async def test_since_names_a_version_or_is_a_4xx(site: Site, since: str) -> None:
    answer = await site.get("/p/local/proj/tables/nums/v1/t", since=since)
    assert answer.status in (400, 404), answer.text[:500]
    assert error_problem("GET", answer) is None


async def test_a_resumed_segment_shifted_past_int64_is_rejected_not_a_500(api: Api) -> None:
    """A segment's steps are shifted past the run's last step; shifted past INT64_MAX they
    are rejected (as any step past it is), and the batch is applied otherwise."""
    first = await api.send([entry("history", {"step": INT64_MAX, "row": {"x": 1}})])
    assert first == [{"id": 1, "status": "applied"}]
    results = await api.send([
        entry("history", {"step": 5, "row": {"x": 2}, "segment": "s1"}),
        entry("summary", {"summary": {"x": 3}})])
    assert results[0]["status"] == "rejected" and "2**63" in results[0]["reason"]
    assert results[1]["status"] == "applied"
    history = await api.get("/api/v1/runs/local/proj/run1/history")
    assert [r["_step"] for r in history["rows"]] == [INT64_MAX]


async def test_steps_past_int64_are_rejected_with_a_clear_reason(api: Api) -> None:
    results = await api.send([entry("history", {"step": INT64_MAX + 1, "row": {"x": 1}})])
    assert results[0]["status"] == "rejected" and "step" in results[0]["reason"]
