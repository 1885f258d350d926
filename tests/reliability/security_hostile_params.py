"""The security scenario's hostile-parameters probe (issue 13, point 4): a real
`tablelog server` seeded with big numbers, NaN and infinities, and every route
of its router asked with hostile query and path parameters."""

from __future__ import annotations

import http.client
import json
import math
import re
import tempfile
import urllib.parse
from pathlib import Path

from tablelog_server.app import create_app
from tablelog_server.config import ServerConfig
from tests.conftest import API_KEY
from tests.reliability.harness import Counts, Harness
from tests.server.hostile_values import (
    HOSTILE_PATH,
    HOSTILE_QUERY,
    HTML_ACCEPT,
    PATH_SEEDS,
    SERVER_PACKAGE,
    Answer,
    RouteTemplate,
    error_problem,
    fill,
    query_names,
    route_templates,
    seed_plan,
    seeded_paths,
)

_AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _request(port: int, method: str, path: str, headers: dict[str, str],
             body: bytes = b"") -> Answer:
    """One request, its path sent exactly as given."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            conn.putheader(key, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        content_type = (resp.getheader("Content-Type") or "").split(";")[0].strip()
        return Answer(resp.status, content_type, resp.read())
    finally:
        conn.close()


def _ask(port: int, route: RouteTemplate, path: str, params: dict[str, str]) -> Answer:
    """A route as `hostile_site.Site` asks it: the key, and for viewer pages as a
    browser (HTML errors)."""
    headers = {**_AUTH, **({"Accept": HTML_ACCEPT} if route.viewer else {})}
    query = urllib.parse.urlencode(params)
    return _request(port, route.method, path + (f"?{query}" if query else ""), headers)


def _routes() -> list[RouteTemplate]:
    with tempfile.TemporaryDirectory() as unused:
        app = create_app(ServerConfig(data_dir=Path(unused), api_keys={"k" * 16: "local"}))
        return route_templates(app)


def _seed(c: Counts, port: int) -> int:
    plan = seed_plan()
    failed = [sha for sha, data in plan.blobs.items()
              if _request(port, "PUT", f"/api/v1/blobs/{sha}", _AUTH, data).status != 201]
    answer = _request(port, "POST", "/api/v1/batches",
                      {**_AUTH, "Content-Type": "application/msgpack"}, plan.batch())
    results = json.loads(answer.body).get("results", []) if answer.status == 200 else []
    applied = [r.get("status") for r in results] == ["applied"] * len(plan.entries)
    c.check(not failed and applied, "hostile params: runs full of 2**64, -2**70, 2**1100, "
            "1e308, inf, -inf, NaN at time.time_ns() steps are stored",
            f"blobs refused {failed[:3]}; batch {answer.status} {answer.text[:300]}")
    return len(plan.blobs) + 1


def _charts(c: Counts, port: int) -> int:
    route = RouteTemplate("GET", "/p/{entity}/{project}/runs/{run_id}", "viewer.run")
    for run_id, lines in (("big", 3), ("close", 2)):
        answer = _ask(port, route, f"/p/local/proj/runs/{run_id}", {})
        coords = [float(n) for attr in re.findall(r'(?:points|cx|cy)="([^"]*)"', answer.text)
                  for n in re.split(r"[ ,]", attr)]
        c.check(answer.status == 200 and answer.text.count("<polyline") >= lines
                and coords and all(math.isfinite(n) for n in coords),
                "hostile params: the run page charts steps past 2**53 and values past a float",
                f"{run_id}: {answer.status} {answer.text[:300]}")
    return 2


def probe_hostile_params(c: Counts, h: Harness) -> int:
    """A real server seeded with huge ints (past 2**64, negative too), 1e308, the
    infinities and NaN in config, summary, history (at ``time.time_ns()`` steps) and
    tables. Every route its router registers, with each hostile query value (numbers
    past 2**63 and 2**64, other scripts' digits, ``v<huge>`` versions, filter
    expressions, garbage) in every query parameter the server's code reads, and
    hostile path values: never a 5xx, every error a JSON ``{"error": ...}`` or an HTML
    page saying what is wrong; the run page renders its charts; the server logs no
    unexpected error. Returns the number of requests made."""
    srv = h.server()
    probes = _seed(c, srv.port) + _charts(c, srv.port)
    names = query_names(SERVER_PACKAGE)
    problems: list[tuple[str, str, str]] = []
    routes = [r for r in _routes() if r.method != "HEAD"]
    for r, route in enumerate(routes):
        paths = list(seeded_paths(route))
        # Each route gets a third of the values, each value a third of the routes: the
        # in-process tests (tests/server/test_route_fuzz.py) send them all everywhere.
        for i, value in enumerate(HOSTILE_QUERY[r % 3::3]):
            every = {n: value for n in names}
            # A request line past 8 KiB is refused by aiohttp's parser before any route.
            params = every if len(value) * len(names) < 6000 else {names[i % len(names)]: value}
            path = paths[i % len(paths)]
            problem = error_problem(route.method, _ask(srv.port, route, path, params))
            probes += 1
            if problem:
                problems.append((route.method, path + " " + value[:40], problem))
        for i, param in enumerate(route.params):
            hostile = {p: PATH_SEEDS[p][0] for p in route.params}
            for value in HOSTILE_PATH[i % 2::2]:
                path = fill(route.template, {**hostile, param: value})
                problem = error_problem(route.method, _ask(srv.port, route, path, {}))
                probes += 1
                if problem:
                    problems.append((route.method, path, problem))
    c.check(not problems, f"hostile params: {len(routes)} routes, {len(HOSTILE_QUERY)} query "
            "values and hostile path values: no 5xx, every error says what is wrong",
            problems[:5])
    health = _request(srv.port, "GET", "/healthz", {})
    log = srv.log_path.read_text() if srv.log_path is not None else ""
    c.check(health.status == 200 and "unexpected error" not in log,
            "hostile params: the server still serves and logged no unexpected error",
            f"healthz {health.status}; log: {log[-500:]}")
    return probes + 1
