"""A project's tables by key, and the merged view of one key across runs.

The W&B Tables guide: "compare tables across different runs, as long as you log
them to the same key". A run's table logged as ``key`` is the artifact
``run-<run id>-<key>`` of type ``run_table``; the project page lists the keys,
each with the runs that logged it, and a key's page merges the latest version
of each chosen run's table into one: a ``run`` column first, then the union of
the tables' columns in order of first appearance (a column a table lacks is
empty in its rows), paged, sorted and filtered as one table.

This first version reads each table's rows for a filtered or sorted merged view
(capped at `MERGED_MAX_ROWS`); an unfiltered, unsorted page reads only the rows it
shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tablelog_server.errors import BadRequestError, NotFoundError
from tablelog_server.messages import int_query
from tablelog_server.metadata import ArtifactRecord
from tablelog_server.state import METADATA, TABLES
from tablelog_server.tables import TableQuery
from tablelog_server.viewer import common as c
from tablelog_server.viewer.cells import render_cell
from tablelog_server.viewer.html import Html, document, el, page_response, url
from tablelog_server.viewer.table_page import filter_sort, read_filter

MERGED_MAX_ROWS = 200_000
PAGE_ROWS = 50


@dataclass(frozen=True)
class KeyedTable:
    """One run's table of a key: the artifact that holds its versions."""

    key: str
    run_id: str
    artifact: str


def tables_by_key(artifacts: Sequence[ArtifactRecord]) -> dict[str, list[KeyedTable]]:
    """The project's run tables grouped by the key they were logged under."""
    found: dict[str, list[KeyedTable]] = {}
    for a in artifacts:
        if a.type != "run_table":
            continue
        for run_id in a.run_ids:
            prefix = f"run-{run_id}-"
            if a.name.startswith(prefix):
                key = a.name[len(prefix):]
                found.setdefault(key, []).append(KeyedTable(key, run_id, a.name))
                break
    return dict(sorted(found.items()))


def key_url(entity: str, project: str, key: str, **query: object) -> str:
    return url("p", entity, project, "keys", key, **query)


def tables_by_key_list(entity: str, project: str, found: dict[str, list[KeyedTable]]
                       ) -> Html:
    """The project page's "Tables by key" list."""
    if not found:
        return el("p", {"class": "empty"}, "No run tables.")
    items = [el("li", None,
                el("a", {"href": key_url(entity, project, key), "class": "key"}, key), " ",
                el("span", {"class": "dim"}, f"logged by {len(tables)} run"
                                             f"{'s' if len(tables) != 1 else ''}: "),
                [el("a", {"href": c.run_url(entity, project, t.run_id), "class": "tag"},
                    t.run_id) for t in tables[:8]])
             for key, tables in found.items()]
    return el("ul", {"class": "keys"}, items)


async def _latest(request: web.Request, entity: str, project: str, table: KeyedTable
                  ) -> tuple[str, Any] | None:
    """(version label, manifest entry) of the run's latest version of the table."""
    versions = await request.config_dict[METADATA].artifact_versions(entity, project,
                                                                    table.artifact)
    if not versions:
        return None
    latest = max(versions, key=lambda v: v.version)
    entry = c.entries_of(latest).get(table.key)
    return (latest.label, entry) if entry is not None and entry.kind == "table" else None


def _merged_columns(manifests: Sequence[Any]) -> list[str]:
    columns: list[str] = []
    for m in manifests:
        columns += [str(col) for col in m.columns if str(col) not in columns]
    return ["run", *columns]


async def key_page(request: web.Request, entity: str) -> web.Response:
    """The merged view of one key across the runs that logged it (``runs=`` picks them)."""
    project, key = request.match_info["project"], request.match_info["key"]
    metadata = request.config_dict[METADATA]
    found = tables_by_key(await metadata.artifacts(entity, project)).get(key)
    if not found:
        raise NotFoundError(f"no table key {key!r} in {entity}/{project}")
    chosen = [r for r in (request.query.get("runs") or "").split(",") if r]
    unknown = [r for r in chosen if r not in {t.run_id for t in found}]
    if unknown:
        raise BadRequestError(f"runs {unknown} did not log {key!r}")
    tables = [t for t in found if not chosen or t.run_id in chosen]
    reader = request.config_dict[TABLES]
    parts = []  # (table, label, entry, manifest)
    for t in tables:
        latest = await _latest(request, entity, project, t)
        if latest is not None:
            parts.append((t, *latest, await reader.manifest(latest[1].sha256, entity=entity)))
    columns = _merged_columns([p[3] for p in parts])
    q = request.query.get("q") or ""
    sort = request.query.get("sort") or None
    desc = request.query.get("desc") == "1"
    offset = int_query(request, "offset", default=0)
    if sort is not None and sort not in columns:
        raise BadRequestError(f"no column {sort!r} to sort by")
    flt, error = read_filter(q, columns)
    total = sum(p[3].nrows for p in parts)
    if not flt.active and sort is None:
        rows = await _slice(request, entity, parts, columns, offset, PAGE_ROWS)
    else:
        every = await _slice(request, entity, parts, columns, 0, MERGED_MAX_ROWS)
        kept = await asyncio.to_thread(filter_sort, every, columns, flt, sort, desc)
        total = len(kept)
        rows = kept[offset:offset + PAGE_ROWS]

    def link(**changes: object) -> str:
        state: dict[str, object] = {"runs": ",".join(chosen) or None, "q": q or None,
                                    "sort": sort, "desc": "1" if desc else None,
                                    "offset": offset or None}
        state.update(changes)
        return key_url(entity, project, key, **state)

    head = el("tr", None, [el("th", None, el("a", {"href": link(
        sort=col, desc="1" if sort == col and not desc else None, offset=None),
        "class": "sort"}, col, " ▼" if sort == col and desc else " ▲" if sort == col else ""))
        for col in columns])
    body = [el("tr", None, [el("td", None, render_cell(v)) for v in row]) for row in rows]
    picker = el("p", {"class": "runs-picker"}, "runs: ",
                [el("a", {"href": link(runs=t.run_id, offset=None), "class": "tag",
                          "aria-current": "page" if chosen == [t.run_id] else None}, t.run_id)
                 for t in found], " ",
                el("a", {"href": link(runs=None, offset=None)}, "all") if chosen else None)
    state = (el("span", {"class": "error", "role": "alert", "id": "filter-error"},
                f"filter not applied: {error}") if error else
             el("span", {"class": "dim"}, "expression: ", flt.where.describe())
             if flt.where is not None else None)
    form = el("form", {"method": "get", "action": key_url(entity, project, key),
                       "class": "filter"},
              el("input", {"type": "hidden", "name": "runs", "value": ",".join(chosen)})
              if chosen else None,
              el("input", {"type": "search", "name": "q", "value": q, "id": "filter",
                           "aria-label": "filter rows",
                           "placeholder": 'run == "abc123" and score > 0.5'}),
              el("button", {"type": "submit"}, "Filter"), " ", state)
    pager = el("p", {"class": "pager"},
               f"rows {offset + 1:,}–{offset + len(rows):,} of {total:,}" if rows
               else "No rows.", " ",
               el("a", {"href": link(offset=max(offset - PAGE_ROWS, 0) or None)}, "‹ prev")
               if offset else None, " ",
               el("a", {"href": link(offset=offset + PAGE_ROWS)}, "next ›")
               if offset + PAGE_ROWS < total else None)
    versions = el("p", {"class": "dim"}, "latest versions: ",
                  [el("a", {"href": c.table_url(entity, project, t.artifact, label, key),
                            "class": "version"}, f"{t.run_id} {label}") for t, label, _, _
                   in parts])
    page = [picker, versions, form, pager,
            el("div", {"class": "grid"}, el("table", {"class": "data", "id": "rows"},
                                            el("thead", None, head), el("tbody", None, body)))]
    return page_response(document(f"{key} across runs", page, entity=entity,
                                  crumbs=[("projects", "/"),
                                          (project, c.project_url(entity, project))]))


async def _slice(request: web.Request, entity: str, parts: Sequence[Any],
                 columns: Sequence[str], offset: int, limit: int) -> list[list[Any]]:
    """Rows ``[offset, offset + limit)`` of the merged table (only the tables they fall in
    are read), each as the merged columns."""
    reader = request.config_dict[TABLES]
    out: list[list[Any]] = []
    start = 0
    for t, _label, entry, manifest in parts:
        n = manifest.nrows
        if offset < start + n and len(out) < limit:
            local = max(offset - start, 0)
            page = await reader.page(entry.sha256, TableQuery(offset=local,
                                                              limit=limit - len(out)),
                                     entity=entity)
            where = {str(col): i for i, col in enumerate(page.columns)}
            out += [[t.run_id, *[row[where[col]] if col in where and where[col] < len(row)
                                 else None for col in columns[1:]]] for row in page.rows]
        start += n
    return out
