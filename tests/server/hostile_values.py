"""Hostile numbers and hostile query parameters, shared by the route tests
(tests/server/test_big_numbers.py, tests/server/test_route_fuzz.py) and the
security probe (tests/reliability/security_hostile_params.py).

`seed_plan()` is what a server is filled with, through its ingest API (blob
uploads, then one batch): runs whose config, summary, history and tables hold
every value of `BIG_VALUES`, at steps like ``time.time_ns()``; `route_templates`
lists every route of the application from its router, so a route added later is
covered without editing the tests; `fill` puts values into a route's path;
`error_problem` says what is wrong with an answer to hostile input.

Self-contained (wire and the server package only): the probe imports it as
``tests.server.hostile_values``, the server tests as ``hostile_values``.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

import tablelog_server
from tablelog import wire

ENTITY = "local"
PROJECT = "proj"
ARTIFACT = "nums"
INT64_MAX = 2**63 - 1
HTML_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"
SERVER_PACKAGE = Path(tablelog_server.__file__).resolve().parent

BIG_VALUES: dict[str, Any] = {
    "int53": 2**53 + 1,  # the first integer a float cannot hold
    "u64max": 2**64 - 1,  # the largest msgpack integer
    "u64": 2**64,  # one past it
    "i64min": -(2**63),
    "neg70": -(2**70),
    "huge": 2**1100,  # past the largest float
    "neghuge": -(3**700),
    "max": 1e308, "negmax": -1e308, "tiny": 5e-324,
    "inf": math.inf, "ninf": -math.inf, "nan": math.nan,
}
"""Every kind of number a metric, config or cell can hold."""

NS = time.time_ns()
STEPS = {
    # time.time_ns() steps, and neighbours a float cannot tell apart (2**53, 2**53 + 1)
    "big": [0, 1, 2**53, 2**53 + 1, NS, NS + 1, INT64_MAX - 1, INT64_MAX],
    "close": [2**53, 2**53 + 1, 2**53 + 2],
    "times": [NS],
}
SERIES = [1e308, -1e308, 2**64, -(2**70), 2**1100, math.nan, math.inf, 0.5]
"""The values of the charted metric ``loss`` on run ``big``, step by step."""


def _table(columns: list[str], rows: list[list[Any]]) -> tuple[dict[str, bytes],
                                                                 wire.ManifestEntry]:
    chunk = wire.encode_rows(rows)
    ref = wire.ChunkRef(wire.sha256_hex(chunk), len(rows), len(chunk))
    manifest = wire.TableManifest(columns, [{"wb_type": "any"} for _ in columns], [ref])
    data = manifest.to_bytes()
    entry = wire.ManifestEntry("table", wire.sha256_hex(data), len(data),
                               {"nrows": len(rows)}, (ref.sha256,))
    return {entry.sha256: data, ref.sha256: chunk}, entry


@dataclass
class SeedPlan:
    """Blobs to upload first, then queue entries to send (in one batch)."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    entries: list[bytes] = field(default_factory=list)

    def add(self, kind: str, body: Mapping[str, Any], run_id: str) -> None:
        self.entries.append(wire.encode_entry(wire.Kind(kind), entity=None, project=PROJECT,
                                              run_id=run_id, body=dict(body)))

    def batch(self, queue_id: str = "hostile-values") -> bytes:
        """The batch request body holding every entry."""
        return wire.encode_batch(queue_id, list(enumerate(self.entries, start=1)))


def _artifact_body(entries: dict[str, wire.ManifestEntry]) -> dict[str, Any]:
    return {"name": ARTIFACT, "type": "dataset", "description": "big numbers",
            "metadata": dict(BIG_VALUES), "aliases": ["best"],
            "digest": wire.artifact_digest(entries),
            "entries": {k: e.to_plain() for k, e in entries.items()},
            "blobs": wire.artifact_blobs(entries)}


def seed_plan() -> SeedPlan:
    """Runs ``big``, ``close`` and ``times`` and artifact ``nums`` (v0 and v1, v0's
    rows a prefix of v1's, with a joined table), every one full of `BIG_VALUES`."""
    plan = SeedPlan()
    rows = [[name, value, i] for i, (name, value) in enumerate(BIG_VALUES.items())]
    versions: list[dict[str, wire.ManifestEntry]] = []
    for upto in (len(rows) // 2, len(rows)):
        blobs, entry = _table(["k", "v", "i"], rows[:upto])
        other_blobs, other = _table(["i", "w"], [[v, k] for k, v, _ in rows])
        joined = wire.encode_joined_table("t", "left", ["v", "i"])  # joins on big values
        joined_entry = wire.ManifestEntry("joined-table", wire.sha256_hex(joined), len(joined))
        # a client's manifest entry says what it likes about a file's size and rows
        odd = wire.ManifestEntry("file", joined_entry.sha256, 2**1100, {"nrows": -(2**70)})
        plan.blobs.update({**blobs, **other_blobs, joined_entry.sha256: joined})
        versions.append({"t": entry, "left": other, "both": joined_entry, "odd": odd})
    nested = {"values": list(BIG_VALUES.values()), "by_name": dict(BIG_VALUES)}
    for run_id, steps in STEPS.items():
        started = {"times": -1e308}.get(run_id, 1_700_000_000.0)
        plan.add("run", {"name": f"run {run_id}", "config": {**BIG_VALUES, "nested": nested},
                         "tags": ["big"], "notes": None, "job_type": "train",
                         "started_at": started, "resumed": False}, run_id)
        for i, step in enumerate(steps):
            row: dict[str, Any] = {"loss": SERIES[i % len(SERIES)], "flat": 1e308,
                                   "count": 2**64 + i}
            if run_id == "big":
                row.update(BIG_VALUES)
            plan.add("history", {"step": step, "row": row}, run_id)
    ref = wire.TableRef(ARTIFACT, "t", wire.artifact_digest(versions[1]), len(rows), 3)
    for version in versions:
        plan.add("artifact", _artifact_body(version), "big")
    plan.add("history", {"step": INT64_MAX, "row": {"table": ref}}, "close")
    plan.add("summary", {"summary": {**BIG_VALUES, "table": ref, "nested": nested}}, "big")
    plan.add("run_end", {"exit_code": -(2**63), "ended_at": 1e308}, "times")
    plan.add("run_end", {"exit_code": 0, "ended_at": 1_700_000_100.0}, "big")
    return plan


# -- routes -------------------------------------------------------------------------------


PATH_SEEDS: dict[str, list[str]] = {
    "entity": [ENTITY], "project": [PROJECT], "run_id": list(STEPS), "name": [ARTIFACT],
    "version": ["v0", "v1", "latest", "best"], "entry": ["t", "both", "left"],
    "filename": ["viewer.css"], "key": ["t", "preds"],
    "sha256": [wire.sha256_hex(wire.encode_joined_table("t", "left", ["v", "i"]))],  # uploaded
}
"""Real values for each path parameter, so that hostile query parameters reach the
handlers' code rather than a 404. A route with a parameter missing here fails
`route_templates` (add its seeds)."""

HOSTILE_PATH = ["v99999999999999999999", "v" + "9" * 30, "v-1", "v\u0663", "v1\n", "vinf",
                "latest", "..", "a b", "\u2603", "x" * 200, "0" * 64, "nan", "-1"]
"""Path parameter values that are valid names, nearly valid, or not at all."""

HOSTILE_QUERY = [
    "", "0", "-0", "1", "-1", "00", " 5 ", "1_000", "0x10", "1e3", "1.5", "nan", "inf",
    "-inf", "1e308", "1e309", str(INT64_MAX), str(INT64_MAX + 1), str(2**64), str(-(2**63) - 1),
    str(10**40), "9" * 4400, "-" + "9" * 30, "\u0663", "\u00b2", "\u0669" * 25, "1\n", "true",
    "v0", "v1", "v-1", "v" + "9" * 25, "v" + str(2**63), "v\u00b2", "vinf", "latest", "best",
    "inner", "left", "outer", "cross", "k", "v", "i", "k > 1e300", "v >= -inf", "v == nan",
    "v < " + "9" * 400, "i != 1e999", "~", "\x00", "\u2603", "a" * 3000, "%", "'", '"',
]
"""Query parameter values: numbers at every edge, numbers in other scripts, column
names, filter expressions and garbage."""

_QUERY_READS = re.compile(
    r"""(?:int_query|bool_query)\(\s*request,\s*"(\w+)"|\bq(?:uery)?\.get\("(\w+)"\)""")


def query_names(package: Path) -> list[str]:
    """Every query parameter the server's code reads, found in its source (so that a new
    parameter is fuzzed too), plus one no route reads."""
    found: dict[str, None] = {}
    for source in sorted(package.rglob("*.py")):
        for match in _QUERY_READS.finditer(source.read_text()):
            found.setdefault(match.group(1) or match.group(2))
    return [*found, "unknown"]


@dataclass(frozen=True)
class RouteTemplate:
    """One route: its method, its path with ``{name}`` placeholders, its name."""

    method: str
    template: str
    name: str

    @property
    def params(self) -> list[str]:
        """The path parameters, in order."""
        return re.findall(r"\{(\w+)\}", self.template)

    @property
    def viewer(self) -> bool:
        """A viewer page (HTML errors for a browser) rather than an API route."""
        return self.name.startswith("viewer.")


def route_templates(app: web.Application) -> list[RouteTemplate]:
    """Every route of `app`, read from its router; `AssertionError` names a path
    parameter that `PATH_SEEDS` has no values for."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template is None and "prefix" in info:  # a static route
            template = f"{info['prefix']}/{{filename}}"
        assert isinstance(template, str), info
        name = (route.resource.name if route.resource is not None else None) or ""
        out.append(RouteTemplate(route.method, template, name))
        missing = [p for p in out[-1].params if p not in PATH_SEEDS]
        assert not missing, f"route {template} has path parameters {missing} without seeds " \
                            "in tests/server/hostile_values.py PATH_SEEDS"
    return out


def fill(template: str, values: Mapping[str, str]) -> str:
    """`template` with each ``{name}`` replaced by its value, percent-encoded."""
    return re.sub(r"\{(\w+)\}", lambda m: urllib.parse.quote(values[m.group(1)], safe=""),
                  template)


def seeded_paths(route: RouteTemplate) -> Iterable[str]:
    """The route with every combination of seeded path values."""
    combos: list[dict[str, str]] = [{}]
    for param in route.params:
        combos = [{**c, param: v} for c in combos for v in PATH_SEEDS[param]]
    return [fill(route.template, c) for c in combos]


# -- answers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a route answered."""

    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def error_problem(method: str, answer: Answer) -> str | None:
    """Why `answer` is not an acceptable answer to hostile input, or None: never a 5xx,
    and an error is a JSON ``{"error": "..."}`` or an HTML page saying what is wrong."""
    if answer.status >= 500:
        return f"{answer.status}: {answer.text[:300]}"
    if answer.status < 400 or method == "HEAD":
        return None
    if answer.content_type == "text/html":
        return None if 'class="error"' in answer.text else f"HTML {answer.status} without " \
                                                            "an error message"
    try:
        body = json.loads(answer.body)
    except ValueError:
        return f"{answer.status} {answer.content_type}: not JSON: {answer.text[:100]}"
    ok = isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    return None if ok else f"{answer.status} JSON without an error message: {body!r:.200}"
