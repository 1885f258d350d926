"""Hostile query (and path) parameters at every route the application registers,
read from its router, against one server seeded with big numbers, NaN and
infinities: never a 500, and every error says what is wrong.

A sweep sends each value of `HOSTILE_QUERY` to every route, then hypothesis
draws routes, path values and query parameters (a bounded, derandomized run;
about 20 s in all on a loaded machine).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hostile_site import Site
from hostile_values import (
    HOSTILE_PATH,
    HOSTILE_QUERY,
    PATH_SEEDS,
    error_problem,
    fill,
    seeded_paths,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture
async def site(client: TestClient[Any, Any]) -> Site:
    """The seeded server, logged in (once per test: every example shares it)."""
    seeded = Site(client)
    await seeded.seed()
    return seeded


def test_routes_come_from_the_router_and_query_names_from_the_source(
        client: TestClient[Any, Any]) -> None:
    site = Site(client)
    names = {r.name for r in site.routes}
    assert {"viewer.run", "viewer.table", "viewer.blob", "viewer.static"} <= names
    assert {"/api/v1/runs/{entity}/{project}/{run_id}/history",
            "/p/{entity}/{project}/tables/{name}/{version}/{entry}"} <= {
        r.template for r in site.routes}
    assert {"offset", "limit", "sort", "desc", "q", "since", "how", "next"} <= set(
        site.query_names)


async def test_every_hostile_value_at_every_route(site: Site) -> None:
    """Each value in every query parameter at once, and in one parameter alone (taking
    the parameters in turn), at each route and its seeded paths in turn."""
    problems = []
    for route in site.routes:
        if route.method == "HEAD":
            continue  # the same handler as GET
        paths = list(seeded_paths(route))
        for i, value in enumerate(HOSTILE_QUERY):
            path = paths[i % len(paths)]
            alone = site.query_names[i % len(site.query_names)]
            every = {n: value for n in site.query_names}
            # A request line past 8 KiB is refused by aiohttp's parser before any route.
            short = len(value) * len(every) < 6000
            for params in ([every] if short else []) + [{alone: value}]:
                problem = error_problem(route.method, await site.request(route, path, params))
                if problem:
                    problems.append((route.method, path, params if len(params) == 1 else value,
                                     problem))
    assert not problems, problems[:10]


def _mostly(valid: list[str], invalid: list[str]) -> st.SearchStrategy[str]:
    return st.integers(0, 9).flatmap(
        lambda n: st.sampled_from(invalid if n == 0 else valid))


query_values = (st.sampled_from(HOSTILE_QUERY)
                | st.integers(-(2**80), 2**80).map(str)
                | st.integers(-(2**70), 2**70).map(lambda n: f"v{n}")
                | st.floats().map(repr)
                | st.text(max_size=8))


@settings(FUZZ, max_examples=500)
@given(data=st.data())
async def test_fuzzed_parameters_at_every_route(site: Site, data: st.DataObject) -> None:
    route = data.draw(st.sampled_from(site.routes), label="route")
    values = {p: data.draw(_mostly(PATH_SEEDS[p], HOSTILE_PATH), label=p) for p in route.params}
    # A request line past 8 KiB is refused by aiohttp's parser before any route.
    params = data.draw(st.dictionaries(st.sampled_from(site.query_names), query_values,
                                       max_size=4).filter(
                                           lambda p: len(urllib.parse.urlencode(p)) < 7000),
                       label="query")
    path = fill(route.template, values)
    answer = await site.request(route, path, params)
    problem = error_problem(route.method, answer)
    assert problem is None, (route.method, path, params, problem)
