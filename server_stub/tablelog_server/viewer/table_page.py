"""The table page: one table (or joined table) entry of an artifact version.

Rows come a page at a time from `TableReader`, which reads only the chunks a
page needs, so a 200,000-row table opens as fast as a 10-row one; sorting and
filtering scan the table once and cache the row order. Query parameters:

| parameter | meaning |
|---|---|
| ``offset``, ``limit`` | the page (limit 1–`MAX_PAGE_ROWS`, default `PAGE_ROWS`) |
| ``sort``, ``desc`` | sort by a column, descending when ``desc=1`` |
| ``q`` | a filter expression (``score > 0.5``) or text (`viewer.filters`) |
| ``since`` | ``vN``: only the rows added since version N (`viewer.growth`) |
| ``how`` | joined tables: ``inner`` (default), ``left`` or ``outer`` |
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tablelog import wire
from tablelog_server.api import version_ref
from tablelog_server.errors import BadRequestError, NotFoundError, UnreadableDataError
from tablelog_server.messages import bool_query, int_query
from tablelog_server.metadata import ArtifactVersionRecord
from tablelog_server.state import METADATA, SCOPE, TABLES
from tablelog_server.table_filters import FilterError, TableFilter, parse_filter
from tablelog_server.tables import TableQuery, sort_key
from tablelog_server.viewer import common as c
from tablelog_server.viewer.cells import render_cell, type_label
from tablelog_server.viewer.growth import check_prefix
from tablelog_server.viewer.html import Child, Html, concat, document, el, page_response, python_box
from tablelog_server.viewer.joins import JOIN_HOWS, JOIN_MAX_ROWS, Joiner, JoinSpec
from tablelog_server.viewer.overlays import overlay_controls

PAGE_ROWS = 50
MAX_PAGE_ROWS = 500
MAX_JOIN_ENTRY_BYTES = 1 << 20

JOINER = web.AppKey("viewer_joiner", Joiner)
"""Joins joined-table entries, with a small cache (set by `add_viewer_routes`)."""


@dataclass(frozen=True)
class _View:
    """What the request asks to see, and where the page is."""

    entity: str
    version: ArtifactVersionRecord
    entry: str
    offset: int
    limit: int
    sort: str | None
    desc: bool
    q: str
    since: str | None
    how: str | None

    def link(self, **changes: Any) -> str:
        params: dict[str, Any] = {"offset": self.offset or None, "limit": self.limit
                                  if self.limit != PAGE_ROWS else None, "sort": self.sort,
                                  "desc": "1" if self.desc else None, "q": self.q,
                                  "since": self.since, "how": self.how}
        params.update(changes)
        v = self.version
        return c.table_url(self.entity, v.project, v.name, v.label, self.entry, **params)


def _view(request: web.Request, entity: str, version: ArtifactVersionRecord) -> _View:
    q = request.query
    return _View(entity, version, request.match_info["entry"],
                 int_query(request, "offset", default=0),
                 int_query(request, "limit", default=PAGE_ROWS, minimum=1,
                           maximum=MAX_PAGE_ROWS),
                 q.get("sort") or None, bool_query(request, "desc"), (q.get("q") or "").strip(),
                 q.get("since") or None, q.get("how") or None)


def _columns_head(view: _View, columns: Sequence[Any], types: Sequence[Any], *,
                  sortable: bool) -> Html:
    cells = [el("th", {"class": "rownum"}, "#")]
    for i, name in enumerate(columns):
        label = type_label(types[i]) if i < len(types) else "?"
        title: Child = str(name)
        if sortable:
            desc = view.sort == name and not view.desc
            arrow = "" if view.sort != name else (" ▼" if view.desc else " ▲")
            title = el("a", {"href": view.link(sort=name, desc="1" if desc else None,
                                                offset=None), "class": "sort"},
                       str(name), arrow)
        cells.append(el("th", {"scope": "col"}, title, el("span", {"class": "type"}, label)))
    return el("thead", None, el("tr", None, cells))


def _grid(view: _View, columns: Sequence[Any], types: Sequence[Any], rows: list[list[Any]],
          first: int, *, sortable: bool) -> Html:
    body = [el("tr", None, el("td", {"class": "rownum"}, first + i + 1),
               [el("td", None, render_cell(row[j] if j < len(row) else None))
                for j in range(len(columns))])
            for i, row in enumerate(rows)]
    grid = el("div", {"class": "grid"},
              el("table", {"class": "data", "id": "rows"},
                 _columns_head(view, columns, types, sortable=sortable),
                 el("tbody", None, body)))
    return concat([overlay_controls(rows), grid])


def _pager(view: _View, total: int, shown: int) -> Html:
    if total == 0:
        return el("p", {"class": "pager"}, "No rows.")
    last = max(0, (total - 1) // view.limit * view.limit)
    prev = max(0, view.offset - view.limit)
    links: list[Child] = []
    for label, rel, offset, enabled in (("« first", "first", 0, view.offset > 0),
                                        ("‹ prev", "prev", prev, view.offset > 0),
                                        ("next ›", "next", view.offset + view.limit,
                                         view.offset + view.limit < total),
                                        ("last »", "last", last, view.offset < last)):
        links.append(el("a", {"href": view.link(offset=offset or None), "rel": rel,
                              "class": f"page-{rel}"}, label)
                     if enabled else el("span", {"class": "off"}, label))
    return el("p", {"class": "pager"},
              el("span", {"class": "range"},
                 f"rows {view.offset + 1:,}–{view.offset + shown:,} of {total:,}"
                 if shown else f"no rows at offset {view.offset:,} of {total:,}"), " ", links)


def read_filter(q: str | None, columns: Sequence[Any]) -> tuple[TableFilter, str | None]:
    """The filter `q` of a page, or none and the message saying why it cannot be read."""
    try:
        return parse_filter(q, columns), None
    except FilterError as exc:
        return TableFilter(), str(exc)


def _filter_form(view: _View, flt: TableFilter, error: str | None = None) -> Html:
    state = None
    if error is not None:
        state = el("span", {"class": "error", "role": "alert", "id": "filter-error"},
                   f"filter not applied: {error}")
    elif flt.where is not None:
        state = el("span", {"class": "dim"}, "expression: ", flt.where.describe())
    elif flt.text:
        state = el("span", {"class": "dim"}, f"text search for {flt.text!r} in every cell "
                                             "(to filter a column: score > 0.5)")
    return el("form", {"method": "get", "action": view.link(q=None, offset=None, sort=None,
                                                            desc=None, how=None, since=None),
                       "class": "filter"},
              el("input", {"type": "search", "name": "q", "value": view.q, "id": "filter",
                           "placeholder": 'score > 0.5 and label == "cat", guess != truth, or text',
                           "aria-label": "filter rows"}),
              el("input", {"type": "hidden", "name": "sort", "value": view.sort})
              if view.sort else None,
              el("input", {"type": "hidden", "name": "desc", "value": "1"}) if view.desc else None,
              el("input", {"type": "hidden", "name": "how", "value": view.how})
              if view.how else None,
              el("button", {"type": "submit"}, "Filter"), " ",
              el("a", {"href": view.link(q=None, offset=None)}, "clear") if view.q else None,
              " ", state)


GROWING_MODES = ("MUTABLE", "INCREMENTAL")
"""Log modes whose versions grow, where "rows added since" can show rows."""


def _version_picker(view: _View, versions: list[ArtifactVersionRecord],
                    log_mode: str | None) -> Html:
    """The version links, and "rows added since" links where they can show rows:
    tables that grow (MUTABLE, INCREMENTAL). An IMMUTABLE table is usually a new
    table at each step, so the page says why none are offered instead of offering
    links that can only answer "none can be shown"; `log_mode` None: a joined
    table, whose rows are computed from its parts."""
    items: list[Child] = []
    current = view.version.label
    for v in versions:
        has_entry = view.entry in c.unpack(v.entries, {})
        target = c.table_url(view.entity, v.project, v.name, v.label, view.entry)
        attrs = {"href": target, "class": "version", "aria-current": "page"
                 if v.label == current else None}
        items.append(el("a", attrs, v.label) if has_entry else el("span", {"class": "off"},
                                                                  v.label))
    items.append(el("a", {"href": c.table_url(view.entity, view.version.project,
                                              view.version.name, "latest", view.entry),
                          "class": "version alias"}, "latest"))
    older = [v for v in versions if v.version < view.version.version
             and view.entry in c.unpack(v.entries, {})]
    since: list[Child] = []
    if older and log_mode in GROWING_MODES:
        since = [el("span", {"class": "label"}, " Rows added since: "),
                 [el("a", {"href": view.link(since=v.label, offset=None, sort=None, desc=None,
                                             q=None), "class": "since"}, v.label)
                  for v in older]]
    elif older:
        why = ("an IMMUTABLE table is logged anew at each step, so an earlier version's "
               "rows are not the start of this one's; log it with log_mode=\"MUTABLE\" "
               "or \"INCREMENTAL\" to follow its growth" if log_mode is not None
               else "a joined table is computed from its parts: open a part's versions")
        since = [el("span", {"class": "label", "id": "since-off"},
                    f" Rows added since: not offered ({why})")]
    return el("nav", {"class": "versions", "id": "versions"},
              el("span", {"class": "label"}, "Version: "), items, since)


async def _table(request: web.Request, view: _View, entry: wire.ManifestEntry,
                 entries: dict[str, wire.ManifestEntry]) -> tuple[list[Child], str]:
    """The table's page, and its log mode (for the version picker)."""
    reader = request.config_dict[TABLES]
    manifest = await reader.manifest(entry.sha256, entity=view.entity)
    if view.since is not None:
        return await _added_since(request, view, entry, manifest), manifest.log_mode
    flt, error = read_filter(view.q, manifest.columns)
    if view.sort is not None and view.sort not in manifest.columns:
        raise BadRequestError(f"no column {view.sort!r} to sort by")
    page = await reader.page(entry.sha256, TableQuery(
        offset=view.offset, limit=view.limit, sort=view.sort, desc=view.desc,
        q=flt.text, where=flt.where), entity=view.entity)
    facts = (f"{manifest.nrows:,} rows · {len(manifest.columns)} columns · "
             f"{manifest.log_mode.lower()}")
    return [el("p", {"class": "facts"}, facts), _filter_form(view, flt, error),
            _pager(view, page.nrows, len(page.rows)),
            _grid(view, page.columns, page.column_types, page.rows, view.offset, sortable=True),
            _pager(view, page.nrows, len(page.rows))], manifest.log_mode


async def _added_since(request: web.Request, view: _View, entry: wire.ManifestEntry,
                       manifest: wire.TableManifest) -> list[Child]:
    assert view.since is not None
    old_version = await request.config_dict[METADATA].artifact_version(
        view.entity, view.version.project, view.version.name, version_ref(view.since))
    if old_version is None:
        raise NotFoundError(f"no version {view.since!r} to compare with")
    old_entry = c.entries_of(old_version).get(view.entry)
    if old_entry is None or old_entry.kind != "table":
        raise NotFoundError(f"{view.since} has no table {view.entry!r}")
    check = await check_prefix(request.config_dict[TABLES], old_entry.sha256, entry.sha256,
                               entity=view.entity)
    back = el("a", {"href": view.link(since=None, offset=None)}, "show the whole table")
    head = f"Rows added in {view.version.label} since {old_version.label}"
    if not check.is_prefix:
        return [el("p", {"class": "note", "id": "since-note"},
                   f"{head}: none can be shown, because {old_version.label}'s "
                   f"{check.old_nrows:,} rows are not a prefix of {view.version.label}'s "
                   f"{check.new_nrows:,} rows ({check.reason}). ", back)]
    if not check.added:
        return [el("p", {"class": "note", "id": "since-note"},
                   f"{head}: none; both have the same {check.old_nrows:,} rows. ", back)]
    offset = min(view.offset, max(check.added - 1, 0))
    page = await request.config_dict[TABLES].page(entry.sha256, TableQuery(
        offset=check.old_nrows + offset, limit=max(1, min(view.limit, check.added - offset))),
        entity=view.entity)
    rows = page.rows
    note = el("p", {"class": "note", "id": "since-note"},
              f"{head}: {check.added:,} rows after the first {check.old_nrows:,} "
              f"(rows {check.old_nrows + 1:,}–{check.new_nrows:,}). ", back)
    return [note, _pager(view, check.added, len(rows)),
            _grid(view, manifest.columns, manifest.column_types, rows,
                  check.old_nrows + offset, sortable=False)]


async def _joined(request: web.Request, view: _View, entry: wire.ManifestEntry,
                  entries: dict[str, wire.ManifestEntry]) -> list[Child]:
    data = await request.config_dict[SCOPE].read(view.entity, entry.sha256,
                                                 max_bytes=MAX_JOIN_ENTRY_BYTES)
    spec = JoinSpec.from_bytes(data)
    shas = []
    for name in (spec.table1, spec.table2):
        part = entries.get(name)
        if part is None or part.kind != "table":
            raise UnreadableDataError(f"joined table names {name!r}, which is not a table "
                                      f"of {view.version.name}:{view.version.label}")
        shas.append(part.sha256)
    how = view.how or "inner"
    if how not in JOIN_HOWS:
        raise BadRequestError(f"how must be one of {', '.join(JOIN_HOWS)}")
    joined = await request.config_dict[JOINER].join(shas[0], shas[1], spec, how,
                                                    entity=view.entity)
    flt, error = read_filter(view.q, joined.columns)
    if view.sort is not None and view.sort not in joined.columns:
        raise BadRequestError(f"no column {view.sort!r} to sort by")
    rows = await asyncio.to_thread(filter_sort, joined.rows, joined.columns, flt, view.sort,
                                   view.desc)
    page = rows[view.offset:view.offset + view.limit]
    switch = [el("a", {"href": view.link(how=h, offset=None), "class": "how",
                       "aria-current": "page" if h == how else None}, h) for h in JOIN_HOWS]
    links = [el("a", {"href": c.table_url(view.entity, view.version.project, view.version.name,
                                          view.version.label, name)}, name)
             for name in (spec.table1, spec.table2)]
    key = spec.left_key if spec.left_key == spec.right_key else \
        f"{spec.left_key} = {spec.right_key}"
    facts = el("p", {"class": "facts"}, "Join of ", links[0], " and ", links[1], f" on {key}: "
               f"{len(joined.rows):,} rows. Join: ", el("span", {"class": "hows"}, switch))
    partial = el("p", {"class": "note"}, f"Partial join: at most {JOIN_MAX_ROWS:,} rows of "
                 "each table are joined on the server.") if joined.partial else None
    return [facts, partial, _filter_form(view, flt, error), _pager(view, len(rows), len(page)),
            _grid(view, joined.columns, joined.column_types, page, view.offset, sortable=True),
            _pager(view, len(rows), len(page))]


def filter_sort(rows: list[list[Any]], columns: Sequence[Any], flt: TableFilter,
                sort: str | None, desc: bool) -> list[list[Any]]:
    """The rows `flt` keeps, sorted by column `sort` (empty cells, None and NaN, last)."""
    kept = [r for r in rows if flt.matches(r)] if flt.active else rows
    if sort is None:
        return kept
    index = list(columns).index(sort)

    def empty(row: list[Any]) -> bool:
        value = row[index] if index < len(row) else None
        return value is None or (isinstance(value, float) and value != value)

    present = [r for r in kept if not empty(r)]
    present.sort(key=lambda r: sort_key(r[index]), reverse=desc)
    return present + [r for r in kept if empty(r)]


async def table(request: web.Request, entity: str) -> web.Response:
    """A table or joined-table entry of an artifact version, a page of rows at a time."""
    version = await c.artifact_version(request)
    view = _view(request, entity, version)
    entries = c.entries_of(version)
    entry = entries.get(view.entry)
    if entry is None:
        raise NotFoundError(f"no entry {view.entry!r} in {version.name}:{version.label}")
    log_mode: str | None = None
    if entry.kind == "joined-table":
        content = await _joined(request, view, entry, entries)
        suffix = f".to_table(how={(view.how or 'inner')!r})"
    elif entry.kind == "table":
        content, log_mode = await _table(request, view, entry, entries)
        suffix = ""
    else:
        raise UnreadableDataError(f"entry {view.entry!r} is a {entry.kind}, not a table")
    versions = await request.config_dict[METADATA].artifact_versions(
        entity, version.project, version.name)
    body = [el("p", {"class": "subtitle"}, "artifact ",
               el("a", {"href": c.artifact_url(entity, version.project, version.name,
                                               version.label)},
                  f"{version.name}:{version.label}"),
               [" ", [el("span", {"class": "tag"}, a) for a in version.aliases]],
               " · logged by run ",
               el("a", {"href": c.run_url(entity, version.project, version.run_id)},
                  version.run_id)),
            _version_picker(view, versions, log_mode), content,
            python_box(*c.entry_snippet(entity, version.project, version.name, version.label,
                                        view.entry, suffix=suffix))]
    crumbs = [("projects", "/"), (version.project, c.project_url(entity, version.project)),
              (version.name, c.artifact_url(entity, version.project, version.name))]
    return page_response(document(view.entry, body, entity=entity, crumbs=crumbs))
