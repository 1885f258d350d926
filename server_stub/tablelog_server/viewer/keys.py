"""A project's tables by key, and the merged view of one key across runs.

The W&B Tables guide: "compare tables across different runs, as long as you log
them to the same key". A run's table logged as ``key`` is the artifact
``run-<run id>-<key>`` of type ``run_table``; the project page lists the keys,
each with the runs that logged it, and a key's page merges the latest version
of each chosen run's table into one: a ``run`` column first, then the union of
the tables' columns in order of first appearance (a column a table lacks is
empty in its rows), paged, sorted and filtered as one table.

``run=<id>&versions=all`` (or ``v0,v3``) merges versions of one run's table
instead, with a ``version`` column. ``view=side&on=<column>`` shows the tables
side by side joined on a column (or the row index), differing cells marked,
``diff=any`` or ``diff=<column>`` keeping the rows where they differ;
``view=group&group=<column>`` (repeatable) groups the rows with aggregates.
``format=csv`` or ``json`` downloads the current view, streamed. Every control
is a link or form carrying the whole state, so a page's URL shares the view.
The rows come from `tablelog_server.table_views`, which never holds a table.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tablelog import wire
from tablelog_server.errors import BadRequestError, NotFoundError
from tablelog_server.messages import int_query
from tablelog_server.metadata import ArtifactRecord
from tablelog_server.state import METADATA
from tablelog_server.table_filters import Column, Literal, TableFilter
from tablelog_server.table_views import (
    MAX_SOURCES,
    MISSING_ROW,
    Grouped,
    Source,
    Views,
    ViewTables,
    group_by,
    view_tables,
)
from tablelog_server.tables import cell_text
from tablelog_server.viewer import common as c
from tablelog_server.viewer.cells import render_cell
from tablelog_server.viewer.groups import grouped_table
from tablelog_server.viewer.html import Child, Html, document, el, page_response, url
from tablelog_server.viewer.table_page import read_filter

PAGE_ROWS = 50
EXPORT_BATCH = 2_000
VIEWS = web.AppKey("viewer_views", Views)
"""Merged and side-by-side row orders, cached (set by `add_viewer_routes`)."""
VIEW_MODES = ("merged", "side", "group")


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



@dataclass(frozen=True)
class KeyView:
    """Everything a key page shows, read from its query: the state every link keeps."""

    entity: str
    project: str
    key: str
    runs: tuple[str, ...] = ()
    run: str | None = None
    versions: str | None = None
    view: str = "merged"
    q: str = ""
    sort: str | None = None
    desc: bool = False
    then: tuple[str, ...] = ()
    then_desc: tuple[str, ...] = ()
    on: str | None = None
    diff: str | None = None
    group: tuple[str, ...] = ()
    offset: int = 0
    by_index: bool = False
    """Side by side on the row index, even where a column looks like a key."""

    @classmethod
    def read(cls, request: web.Request, entity: str) -> KeyView:
        q = request.query
        view = q.get("view") or "merged"
        if view not in VIEW_MODES:
            raise BadRequestError(f"view must be one of {', '.join(VIEW_MODES)}")
        return cls(entity, request.match_info["project"], request.match_info["key"],
                   tuple(r for r in (q.get("runs") or "").split(",") if r),
                   q.get("run") or None, q.get("versions") or None, view,
                   (q.get("q") or "").strip(), q.get("sort") or None, q.get("desc") == "1",
                   tuple(t for t in q.getall("then", []) if t),
                   tuple(t for t in q.getall("then_desc", []) if t),
                   q.get("on") or None, q.get("diff") or None,
                   tuple(g for g in q.getall("group", []) if g),
                   int_query(request, "offset", default=0), q.get("by_index") == "1")

    def state(self) -> dict[str, object]:
        return {"runs": ",".join(self.runs) or None, "run": self.run,
                "versions": self.versions, "view": None if self.view == "merged" else self.view,
                "q": self.q or None, "sort": self.sort, "desc": "1" if self.desc else None,
                "then": list(self.then), "then_desc": list(self.then_desc), "on": self.on,
                "diff": self.diff, "group": list(self.group), "offset": self.offset or None,
                "by_index": "1" if self.by_index else None}

    def link(self, **changes: object) -> str:
        state = self.state()
        state.update(changes)
        return key_url(self.entity, self.project, self.key, **state)

    @property
    def sort_keys(self) -> list[tuple[str, bool]]:
        if self.sort is None:
            return []
        return [(self.sort, self.desc), *((t, t in self.then_desc) for t in self.then)]


async def _sources(request: web.Request, view: KeyView, found: Sequence[KeyedTable]
                   ) -> tuple[str, list[tuple[Source, str, str]]]:
    """The view's label column and its tables: (source, run id, version label) each."""
    metadata = request.config_dict[METADATA]
    if view.run is not None:
        table = next((t for t in found if t.run_id == view.run), None)
        if table is None:
            raise BadRequestError(f"run {view.run!r} did not log {view.key!r}")
        versions = sorted(await metadata.artifact_versions(view.entity, view.project,
                                                           table.artifact),
                          key=lambda v: v.version)
        wanted = None if view.versions in (None, "all") else \
            [v for v in (view.versions or "").split(",") if v]
        if wanted is not None:
            unknown = [w for w in wanted if w not in {v.label for v in versions}]
            if unknown:
                raise BadRequestError(f"run {view.run} has no versions {unknown}")
            versions = [v for v in versions if v.label in wanted]
        else:
            versions = versions[-MAX_SOURCES:]
        out = []
        for v in versions:
            entry = c.entries_of(v).get(view.key)
            if entry is not None and entry.kind == "table":
                out.append((Source(v.label, entry.sha256), table.run_id, v.label))
        return "version", out
    unknown = [r for r in view.runs if r not in {t.run_id for t in found}]
    if unknown:
        raise BadRequestError(f"runs {unknown} did not log {view.key!r}")
    out = []
    for t in found if not view.runs else [t for t in found if t.run_id in view.runs]:
        latest = await _latest(request, view.entity, view.project, t)
        if latest is not None:
            out.append((Source(t.run_id, latest[1].sha256), t.run_id, latest[0]))
    return "run", out[:MAX_SOURCES]


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


async def key_page(request: web.Request, entity: str) -> web.StreamResponse:
    """One key's tables across runs (or one run's versions): merged, side by side or
    grouped, as a page or (``format=``) a CSV or JSON download."""
    view = KeyView.read(request, entity)
    metadata = request.config_dict[METADATA]
    found = tables_by_key(await metadata.artifacts(entity, view.project)).get(view.key)
    if not found:
        raise NotFoundError(f"no table key {view.key!r} in {entity}/{view.project}")
    label_column, chosen = await _sources(request, view, found)
    views = request.config_dict[VIEWS]
    tables = await view_tables(views.reader, label_column, [s for s, _r, _v in chosen],
                               entity=entity)
    columns = tables.merged_columns
    fmt = request.query.get("format")
    if fmt not in (None, "csv", "json"):
        raise BadRequestError("format must be csv or json")
    flt, error = read_filter(view.q, columns)
    if error is not None and fmt is not None:
        raise BadRequestError(f"q: {error}")
    if view.view == "side":
        on = None if view.by_index else view.on if view.on is not None else \
            _default_key(tables)
        side = await views.side_by_side(tables, on, entity=entity)
        keys = side.select(view.diff)
        if fmt is not None:
            return await _export(request, view, fmt, _side_header(side),
                                 _side_rows(views, side, keys, entity))
        content = await _side_page(views, view, side, on, keys, entity)
    elif view.view == "group":
        if not view.group:
            content = [_group_form(view, columns),
                       el("p", {"class": "empty"}, "Choose a column to group by.")]
        else:
            grouped = await group_by(views.reader, tables, flt, view.group, entity=entity)
            if fmt is not None:
                return await _export(request, view, fmt, _group_header(grouped),
                                     _group_rows(grouped))
            content = [_group_form(view, columns), _filter_form(view, flt, error),
                       grouped_table(grouped, lambda values: _group_link(view, grouped,
                                                                          values))]
    else:
        order = await views.merged_order(tables, flt, view.sort_keys, entity=entity)
        if fmt is not None:
            return await _export(request, view, fmt, columns,
                                 _merged_rows(views, tables, order, entity))
        rows = await views.merged_rows(tables, order, view.offset, view.offset + PAGE_ROWS,
                                       entity=entity)
        content = [_filter_form(view, flt, error), _pager(view, len(order), len(rows)),
                   _merged_grid(view, columns, rows)]
    title = f"{view.key} across {'versions of ' + view.run if view.run else 'runs'}"
    page = [_picker(view, found), _versions_line(view, chosen), _modes(view, columns),
            *content]
    return page_response(document(title, page, entity=entity,
                                  crumbs=[("projects", "/"),
                                          (view.project, c.project_url(entity, view.project))]))


def _default_key(tables: ViewTables) -> str | None:
    """A column every table has whose name says it is an id, else None (the row index)."""
    shared = [col for col in tables.merged_columns[1:]
              if all(col in cols for cols in tables.columns)]
    for col in shared:
        if col.lower() in ("id", "key", "uid", "index", "idx", "name", "sample_id", "image_id"):
            return col
    return None


def _picker(view: KeyView, found: Sequence[KeyedTable]) -> Html:
    runs = el("span", None, "runs: ",
              [el("a", {"href": view.link(runs=t.run_id, run=None, versions=None, offset=None),
                        "class": "tag", "aria-current": "page"
                        if view.runs == (t.run_id,) and view.run is None else None}, t.run_id)
               for t in found], " ",
              el("a", {"href": view.link(runs=None, run=None, versions=None, offset=None)},
                 "all runs") if view.runs or view.run else None)
    versions = el("span", None, " · versions of one run: ",
                  [el("a", {"href": view.link(run=t.run_id, runs=None, versions="all",
                                              offset=None), "class": "tag run-versions",
                            "aria-current": "page" if view.run == t.run_id else None},
                      t.run_id) for t in found])
    return el("p", {"class": "runs-picker"}, runs, versions)


def _versions_line(view: KeyView, chosen: Sequence[tuple[Source, str, str]]) -> Html:
    label = "versions: " if view.run else "latest versions: "
    links = [[el("a", {"href": c.table_url(view.entity, view.project,
                                           f"run-{run_id}-{view.key}", version, view.key),
                       "class": "version"}, version if view.run else f"{run_id} {version}"),
              " "] for _s, run_id, version in chosen]
    return el("p", {"class": "dim"}, label, links)


def _modes(view: KeyView, columns: Sequence[str]) -> Html:
    names = {"merged": "merged", "side": "side by side", "group": "grouped"}
    tabs = [el("a", {"href": view.link(view=None if m == "merged" else m, offset=None),
                     "class": "mode", "id": f"mode-{m}",
                     "aria-current": "page" if view.view == m else None}, names[m])
            for m in VIEW_MODES]
    exports = [el("a", {"href": view.link(format=f, offset=None), "class": "export",
                        "id": f"export-{f}", "download": f"{view.key}.{f}"}, f)
               for f in ("csv", "json")]
    share = el("a", {"href": view.link(), "id": "share", "rel": "bookmark"}, "link to this view")
    return el("nav", {"class": "modes"}, "view: ", tabs, " · download: ", exports, " · ", share)


def _filter_form(view: KeyView, flt: TableFilter, error: str | None) -> Html:
    state = (el("span", {"class": "error", "role": "alert", "id": "filter-error"},
                f"filter not applied: {error}") if error else
             el("span", {"class": "dim"}, "expression: ", flt.where.describe())
             if flt.where is not None else
             el("span", {"class": "dim"}, f"text search for {flt.text!r} in every cell")
             if flt.text else None)
    keep = {k: v for k, v in view.state().items() if k not in ("q", "offset")}
    hidden = [el("input", {"type": "hidden", "name": k, "value": item})
              for k, v in keep.items() for item in (v if isinstance(v, list) else [v])
              if item not in (None, "")]
    return el("form", {"method": "get", "action": key_url(view.entity, view.project, view.key),
                       "class": "filter"}, hidden,
              el("input", {"type": "search", "name": "q", "value": view.q, "id": "filter",
                           "aria-label": "filter rows",
                           "placeholder": 'run == "abc123" and score > 0.5'}),
              el("button", {"type": "submit"}, "Filter"), " ", state)


def _pager(view: KeyView, total: int, shown: int) -> Html:
    return el("p", {"class": "pager"},
              el("span", {"class": "range"}, f"rows {view.offset + 1:,}–{view.offset + shown:,}"
                 f" of {total:,}" if shown else "No rows."), " ",
              el("a", {"href": view.link(offset=max(view.offset - PAGE_ROWS, 0) or None),
                       "rel": "prev"}, "‹ prev") if view.offset else None, " ",
              el("a", {"href": view.link(offset=view.offset + PAGE_ROWS), "rel": "next"},
                 "next ›") if view.offset + PAGE_ROWS < total else None)


def _merged_grid(view: KeyView, columns: Sequence[str], rows: list[list[Any]]) -> Html:
    keys = view.sort_keys
    head = []
    for col in columns:
        rank = next((i for i, (k, _d) in enumerate(keys) if k == col), None)
        arrow = "" if rank is None else (" ▼" if keys[rank][1] else " ▲") + \
            (f"{rank + 1}" if len(keys) > 1 else "")
        primary = view.link(sort=col, desc="1" if view.sort == col and not view.desc
                            else None, then=None, then_desc=None, offset=None)
        extra = None
        if view.sort is not None and view.sort != col:
            then = [t for t in view.then if t != col]
            flip = col in view.then and col not in view.then_desc
            then_desc = [t for t in view.then_desc if t != col] + ([col] if flip else [])
            extra = el("a", {"href": view.link(then=[*then, col], then_desc=then_desc,
                                               offset=None), "class": "then-sort",
                             "title": f"then sort by {col}"}, "+")
        head.append(el("th", {"scope": "col"},
                       el("a", {"href": primary, "class": "sort"}, col, arrow), " ", extra))
    body = [el("tr", None, [el("td", None, render_cell(v)) for v in row]) for row in rows]
    return el("div", {"class": "grid"},
              el("table", {"class": "data", "id": "rows"}, el("thead", None, el("tr", None, head)),
                 el("tbody", None, body)))


async def _side_page(views: Views, view: KeyView, side: Any, on: str | None,
                     keys: list[int], entity: str) -> list[Any]:
    shown = keys[view.offset:view.offset + PAGE_ROWS]
    page = await side.page(views.reader, shown, entity=entity)
    labels = [s.label for s in side.tables.sources]
    shared = [col for col in side.tables.merged_columns[1:]
              if all(col in cols for cols in side.tables.columns)]
    on_links: list[Child] = [
        [el("a", {"href": view.link(on=col, by_index=None, diff=None, offset=None),
                  "class": "on", "aria-current": "page" if col == on else None}, col), " "]
        for col in shared]
    on_links.append(el("a", {"href": view.link(on=None, by_index="1", diff=None, offset=None),
                             "class": "on", "aria-current": "page" if on is None else None},
                       "row index"))
    diff_links = [el("a", {"href": view.link(diff=d, offset=None), "class": "diff",
                           "aria-current": "page" if view.diff == d else None}, label)
                  for d, label in ((None, "all rows"), ("any", "rows that differ"))] + \
        [el("a", {"href": view.link(diff=col, offset=None), "class": "diff",
                  "aria-current": "page" if view.diff == col else None}, f"{col} differs")
         for col in side.compared]
    facts = el("p", {"class": "facts"},
               f"{len(side.keys):,} rows joined on {on if on is not None else 'the row index'}"
               f" across {', '.join(labels)}; {sum(1 for b in side.differs if b):,} differ. ",
               "join on: ", on_links or "(no column every table has)")
    notes = [el("p", {"class": "note"}, f"{s.label}: {n:,} rows repeat a key; the first "
                "of each is shown") for s, n in zip(side.tables.sources, side.duplicates,
                                                     strict=True) if n]
    if side.cut:
        notes.append(el("p", {"class": "note"}, "Only the first keys are joined."))
    head1 = el("tr", None, el("th", {"rowspan": "2"}, on or "#"),
               [el("th", {"colspan": str(len(labels)), "class": "group"}, col)
                for col in side.compared])
    head2 = el("tr", None, [[el("th", {"class": "label"}, label) for label in labels]
                            for _col in side.compared])
    body = []
    for value, cells, bits in page:
        tds = []
        for j in range(len(side.compared)):
            differs = bool(bits & (1 << j))
            for per in cells:
                if per is None:
                    tds.append(el("td", {"class": "missing"}, "—"))
                else:
                    tds.append(el("td", {"class": "differs" if differs else None},
                                  render_cell(per[j])))
        cls = "differs" if bits else None
        if bits & MISSING_ROW:
            cls = "differs missing-row"
        body.append(el("tr", {"class": cls}, el("th", {"scope": "row"}, render_cell(value)),
                       tds))
    return [facts, el("p", {"class": "diffs"}, "show: ", diff_links), *notes,
            _pager(view, len(keys), len(page)),
            el("div", {"class": "grid"}, el("table", {"class": "data side", "id": "rows"},
                                            el("thead", None, head1, head2),
                                            el("tbody", None, body)))]


def _group_form(view: KeyView, columns: Sequence[str]) -> Html:
    options = [el("option", {"value": col, "selected": col in view.group}, col)
               for col in columns]
    keep = {k: v for k, v in view.state().items() if k not in ("group", "offset")}
    hidden = [el("input", {"type": "hidden", "name": k, "value": item})
              for k, v in keep.items() for item in (v if isinstance(v, list) else [v])
              if item not in (None, "")]
    return el("form", {"method": "get", "action": key_url(view.entity, view.project, view.key),
                       "class": "group-by"}, hidden,
              el("label", {"for": "group-by"}, "group by: "),
              el("select", {"name": "group", "id": "group-by", "multiple": True,
                            "size": str(min(len(columns), 6))}, options),
              el("button", {"type": "submit"}, "Group"))


def _group_link(view: KeyView, grouped: Grouped, values: Sequence[Any]) -> str | None:
    """The merged view of one group's rows: the filter that keeps exactly them."""
    parts = []
    for name, value in zip(grouped.by, values, strict=True):
        if not (value is None or isinstance(value, bool | int | float | str)):
            return None  # a list or media cell: no literal the filter language has
        if isinstance(value, float) and value != value:
            return None
        parts.append(f"{Column(name, 0).describe()} == {Literal(value).describe()}")
    q = " and ".join(parts)
    if view.q:
        q = f"({view.q}) and {q}"
    return view.link(view=None, group=None, q=q, offset=None, sort=None, then=None,
                     then_desc=None)


# -- export ---------------------------------------------------------------------------


async def _merged_rows(views: Views, tables: ViewTables, order: Any, entity: str
                       ) -> AsyncIterator[list[Any]]:
    for start in range(0, len(order), EXPORT_BATCH):
        for row in await views.merged_rows(tables, order, start, start + EXPORT_BATCH,
                                           entity=entity):
            yield row


def _side_header(side: Any) -> list[str]:
    return [side.on or "index", *(f"{col}@{s.label}" for col in side.compared
                                  for s in side.tables.sources)]


async def _side_rows(views: Views, side: Any, keys: list[int], entity: str
                     ) -> AsyncIterator[list[Any]]:
    for start in range(0, len(keys), EXPORT_BATCH):
        for value, cells, _bits in await side.page(views.reader, keys[start:start +
                                                                      EXPORT_BATCH],
                                                   entity=entity):
            yield [value, *(None if per is None else per[j]
                            for j in range(len(side.compared)) for per in cells)]


def _group_header(grouped: Grouped) -> list[str]:
    return [*grouped.by, "count", *(f"{col}.{what}" for col in grouped.columns
                                    for what in ("mean", "min", "max", "sum", "distinct"))]


async def _group_rows(grouped: Grouped) -> AsyncIterator[list[Any]]:
    for g in grouped.groups:
        cells: list[Any] = [*g.values, g.count]
        for a in g.aggregates:
            has = bool(a.numbers)
            cells += [a.mean, a.low if has else None, a.high if has else None,
                      a.total if has else None,
                      "|".join(a.texts) + ("|..." if a.more_texts else "") or None]
        yield cells


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    return cell_text(wire.jsonable(value))


async def _export(request: web.Request, view: KeyView, fmt: str, columns: Sequence[str],
                  rows: AsyncIterator[list[Any]]) -> web.StreamResponse:
    """The view's rows as a CSV or JSON (``{"columns": [...], "data": [...]}``, the shape
    of a wandb table's JSON) download, written a batch at a time."""
    name = f"{view.key.replace('/', '_')}-{view.view}.{fmt}"
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8" if fmt == "csv"
        else "application/json; charset=utf-8",
        "Content-Disposition": f"attachment; filename=\"{name}\"",
        "X-Content-Type-Options": "nosniff"})
    await response.prepare(request)
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer)
        writer.writerow(columns)
    else:
        buffer.write('{"columns": ' + json.dumps(list(columns)) + ', "data": [')
    count = 0
    async for row in rows:
        if fmt == "csv":
            writer.writerow([_csv_cell(v) for v in row])
        else:
            buffer.write((", " if count else "") + json.dumps(wire.jsonable(row), default=str))
        count += 1
        if buffer.tell() > 1 << 16:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    if fmt == "json":
        buffer.write("]}\n")
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response
