"""The viewer's pages other than tables: projects, a project's runs and artifacts,
a run (config, summary, metric charts, its tables), an artifact and a version.

Each handler takes the request and the entity it is served to (see
`tablelog_server.viewer.access.viewer_page`, which has already checked that the
path names that entity only).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tablelog import wire
from tablelog_server.errors import NotFoundError
from tablelog_server.metadata import RunKey, RunRecord
from tablelog_server.state import METADATA, TABLES
from tablelog_server.tables import TableQuery
from tablelog_server.viewer import common as c
from tablelog_server.viewer.cells import blob_url, render_cell
from tablelog_server.viewer.charts import charts
from tablelog_server.viewer.histograms import histogram_charts, histogram_series
from tablelog_server.viewer.html import (
    Html,
    document,
    el,
    key_values,
    page_response,
    py_str,
    python_box,
)
from tablelog_server.viewer.keys import tables_by_key, tables_by_key_list
from tablelog_server.viewer.plots import Chart, charts_of, draw, table_key_of
from tablelog_server.viewer.run_metrics import alerts_list, defined_series

HISTORY_MAX_ROWS = 20_000
"""History rows a run page reads (for its charts and table list); later rows are
left out, and the page says so."""
_HISTORY_PAGE = 2_000
SUMMARY_COLUMNS = 6  # summary values shown per run on a project page
MAX_RUN_TABLES = 50


def _crumbs(entity: str, project: str | None = None) -> list[tuple[str, str | None]]:
    crumbs: list[tuple[str, str | None]] = [("projects", "/")]
    if project is not None:
        crumbs.append((project, c.project_url(entity, project)))
    return crumbs


def _scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str) or value is None


async def home(request: web.Request, entity: str) -> web.Response:
    """The entity's projects."""
    projects = await request.config_dict[METADATA].projects(entity)
    rows = [el("tr", None, el("td", None, el("a", {"href": c.project_url(entity, p.name)},
                                               p.name)),
               el("td", {"class": "num"}, p.runs)) for p in projects]
    body = [
        el("table", {"class": "list"},
           el("thead", None, el("tr", None, el("th", None, "project"), el("th", None, "runs"))),
           el("tbody", None, rows)) if rows else el("p", {"class": "empty"},
                                                     "Nothing logged yet."),
        python_box(*c.api_lines(),
                   *(f"runs = api.runs({py_str(f'{entity}/{p.name}')})" for p in projects[:3]))]
    return page_response(document(f"Projects of {entity}", body, entity=entity,
                                  crumbs=_crumbs(entity)))


def _summary_keys(runs: list[RunRecord]) -> tuple[list[str], list[dict[str, Any]]]:
    summaries = [c.unpack(r.summary, {}) for r in runs]
    keys: dict[str, None] = {}
    for summary in summaries:
        for key, value in summary.items():
            if isinstance(key, str) and not key.startswith("_") and _scalar(value):
                keys.setdefault(key)
    return sorted(keys)[:SUMMARY_COLUMNS], summaries


async def project(request: web.Request, entity: str) -> web.Response:
    """A project's runs (name, state, start, summary values) and artifacts."""
    name = request.match_info["project"]
    metadata = request.config_dict[METADATA]
    runs = await metadata.runs(entity, name)
    if runs is None:
        raise NotFoundError(f"no project {entity}/{name}")
    artifacts = await metadata.artifacts(entity, name)
    keys, summaries = _summary_keys(runs)
    head = el("tr", None, [el("th", None, h) for h in ("run", "id", "state", "started")],
              [el("th", None, k) for k in keys])
    run_rows = [
        el("tr", None,
           el("td", None, el("a", {"href": c.run_url(entity, name, r.run_id)},
                             r.name or r.run_id)),
           el("td", None, el("code", None, r.run_id)),
           el("td", None, c.state_badge(r.state, r.exit_code)),
           el("td", None, c.fmt_time(r.started_at)),
           [el("td", None, render_cell(s.get(k)) if _scalar(s.get(k)) else "") for k in keys])
        for r, s in zip(runs, summaries, strict=True)]
    art_rows = [
        el("tr", None,
           el("td", None, el("a", {"href": c.artifact_url(entity, name, a.name)}, a.name)),
           el("td", None, a.type), el("td", {"class": "num"}, a.versions),
           el("td", None, [el("a", {"href": c.run_url(entity, name, run_id),
                                    "class": "tag"}, run_id) for run_id in a.run_ids[:5]]))
        for a in artifacts]
    body = [
        el("h2", None, "Runs"),
        el("table", {"class": "list runs"}, el("thead", None, head), el("tbody", None, run_rows)),
        el("h2", None, "Tables by key"),
        tables_by_key_list(entity, name, tables_by_key(artifacts)),
        el("h2", None, "Artifacts"),
        el("table", {"class": "list"},
           el("thead", None, el("tr", None, [el("th", None, h) for h in
                                             ("artifact", "type", "versions", "logged by")])),
           el("tbody", None, art_rows)) if art_rows else el("p", {"class": "empty"},
                                                             "No artifacts."),
        python_box(*c.api_lines(), f"runs = api.runs({py_str(f'{entity}/{name}')})")]
    return page_response(document(name, body, entity=entity, crumbs=_crumbs(entity)))


@dataclass
class _LoggedTable:
    """One table key of a run: the versions its logs produced, in order."""

    artifact: str
    entry: str
    kind: str
    logs: list[tuple[int | None, str, int]] = field(default_factory=list)  # step, digest, rows


def _collect_tables(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]
                    ) -> dict[tuple[str, str], _LoggedTable]:
    found: dict[tuple[str, str], _LoggedTable] = {}

    def add(ref: wire.TableRef, step: int | None) -> None:
        key = (ref.artifact, ref.entry)
        if key not in found:
            if len(found) >= MAX_RUN_TABLES:
                return
            found[key] = _LoggedTable(ref.artifact, ref.entry, ref.kind)
        logs = found[key].logs
        if not logs or logs[-1][1] != ref.digest:
            logs.append((step, ref.digest, ref.nrows))

    for row in rows:
        step = row.get("_step")
        for value in row.values():
            if isinstance(value, wire.TableRef):
                add(value, step if isinstance(step, int) else None)
    for value in summary.values():
        if isinstance(value, wire.TableRef):
            add(value, None)
    return found


async def _history(request: web.Request, key: RunKey) -> tuple[list[dict[str, Any]], int]:
    metadata = request.config_dict[METADATA]
    raw: list[bytes] = []
    total = 0
    while len(raw) < HISTORY_MAX_ROWS:
        page = await metadata.history(key, len(raw), min(_HISTORY_PAGE,
                                                         HISTORY_MAX_ROWS - len(raw)))
        if page is None or not page.rows:
            total = page.total if page else 0
            break
        raw.extend(page.rows)
        total = page.total
    rows = await asyncio.to_thread(lambda: [wire.unpackb(r) for r in raw])
    return [r for r in rows if isinstance(r, dict)], total


def _tables_by_key(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[int, wire.TableRef]]]:
    """History key -> the tables logged under it, with their steps, in step order."""
    found: dict[str, list[tuple[int, wire.TableRef]]] = {}
    for index, row in enumerate(rows):
        step = row.get("_step", index)
        for k, v in row.items():
            if isinstance(v, wire.TableRef) and isinstance(k, str):
                found.setdefault(k, []).append((step if isinstance(step, int) else index, v))
    return found


async def _plot(request: web.Request, entity: str, key: RunKey, chart: Chart,
                logs: list[tuple[int, wire.TableRef]]) -> Html:
    """One `wandb.plot` chart of the run page: at the step asked for (``?chart.<key>=``,
    else the last), with a picker of the steps it was logged at."""
    wanted = request.query.get(f"chart.{chart.key}")
    step, ref = logs[-1]
    for s, r in logs:
        if wanted is not None and str(s) == wanted:
            step, ref = s, r
    metadata = request.config_dict[METADATA]
    version = next((v for v in await metadata.artifact_versions(entity, key.project,
                                                                ref.artifact)
                    if v.digest == ref.digest), None)
    entry = c.entries_of(version).get(ref.entry) if version is not None else None
    link = (el("a", {"href": c.table_url(entity, key.project, ref.artifact, version.label,
                                         ref.entry)}, "its table")
            if version is not None and entry is not None else el(
                "span", {"class": "dim"}, "its table is not uploaded yet"))
    drawn = None
    if entry is not None:
        page = await request.config_dict[TABLES].page(entry.sha256, TableQuery(limit=10_000),
                                                      entity=entity)
        drawn = draw(chart, page.columns, page.rows)
    if drawn is None:
        drawn = el("p", {"class": "empty"}, f"A chart of spec {chart.spec!r}, which the viewer "
                                            "does not draw: see ", link, ".")
    steps = [el("a", {"href": "?" + f"chart.{chart.key}={s}", "class": "version",
                      "aria-current": "page" if s == step else None}, str(s))
             for s, _ in logs[-30:]] if len(logs) > 1 else []
    return el("figure", {"class": "metric plot", "id": f"chart-{chart.key}"},
              el("figcaption", None, el("strong", None, chart.title), " ",
                 el("span", {"class": "dim"}, f"{chart.spec} · step {step} · "), link,
                 el("span", {"class": "steps"}, " steps: ", steps) if steps else None),
              drawn)


async def run(request: web.Request, entity: str) -> web.Response:
    """A run: config, summary, metric charts, and the tables it logged."""
    info = request.match_info
    key = RunKey(entity, info["project"], info["run_id"])
    metadata = request.config_dict[METADATA]
    record = await metadata.run(key)
    if record is None:
        raise NotFoundError(f"no run {entity}/{key.project}/{key.run_id}")
    config = c.unpack(record.config, {})
    summary = c.unpack(record.summary, {})
    rows, total = await _history(request, key)
    tables = _collect_tables(rows, summary)
    versions = {}
    for artifact in {t.artifact for t in tables.values()}:
        versions[artifact] = {v.digest: v.label for v in await metadata.artifact_versions(
            entity, key.project, artifact)}

    def table_link(ref: wire.TableRef) -> str | None:
        label = versions.get(ref.artifact, {}).get(ref.digest)
        return None if label is None else c.table_url(entity, key.project, ref.artifact, label,
                                                      ref.entry)

    table_items = []
    for t in tables.values():
        labels = [(versions.get(t.artifact, {}).get(d), step, n) for step, d, n in t.logs]
        links = [el("span", {"class": "logged"},
                    el("a", {"href": c.table_url(entity, key.project, t.artifact, label,
                                                 t.entry), "class": "version"}, label),
                    el("span", {"class": "dim"},
                       f" ({n} rows{'' if step is None else f', step {step}'})"))
                 if label else el("span", {"class": "dim"}, "not uploaded yet")
                 for label, step, n in labels]
        table_items.append(el("li", None, el("strong", None, t.entry), " ",
                              el("span", {"class": "dim"}, t.kind.replace("-", " ")), ": ",
                              links))
    logged = [a for a in await metadata.artifacts(entity, key.project)
              if key.run_id in a.run_ids]
    artifact_items = [el("li", None, el("a", {"href": c.artifact_url(entity, key.project, a.name)},
                                        a.name), el("span", {"class": "dim"}, f" {a.type}"))
                      for a in logged]
    series, x_names = defined_series(rows, c.unpack(record.metrics, {}))
    histograms = histogram_charts(histogram_series(rows))  # run.watch, wandb.Histogram
    by_key = _tables_by_key(rows)
    plots = [await _plot(request, entity, key, chart, by_key[table_key])
             for chart in charts_of(config)
             if (table_key := table_key_of(chart, list(by_key))) is not None]
    cut = (el("p", {"class": "note"}, f"Charts and tables use the first {len(rows)} of "
                                       f"{total} history rows.") if total > len(rows) else None)
    facts = key_values([
        ("id", el("code", None, record.run_id)),
        ("state", c.state_badge(record.state, record.exit_code)),
        ("exit code", "—" if record.exit_code is None else str(record.exit_code)),
        ("started", c.fmt_time(record.started_at)), ("ended", c.fmt_time(record.ended_at)),
        ("job type", record.job_type or "—"),
        ("group", record.group or "—"), ("tags", ", ".join(record.tags) or "—"),
        ("notes", record.notes or "—"), ("history rows", record.history_rows)])
    body = [
        facts,
        el("h2", None, "Tables"),
        el("ul", {"class": "tables"}, table_items) if table_items else el(
            "p", {"class": "empty"}, "No tables logged."),
        el("h2", None, "Metrics"), cut, charts(series, x_names),
        *([el("h2", None, "Histograms"), histograms] if histograms is not None else []),
        *([el("h2", None, "Charts"), el("div", {"class": "charts"}, plots)] if plots else []),
        el("h2", None, "Alerts"), alerts_list(c.unpack(record.alerts, [])),
        el("h2", None, "Artifacts"),
        el("ul", {"class": "artifacts"}, artifact_items) if artifact_items else el(
            "p", {"class": "empty"}, "No artifacts."),
        el("div", {"class": "columns"},
           el("section", None, el("h2", None, "Config"),
              key_values(((str(k), render_cell(v)) for k, v in sorted(
                  config.items(), key=lambda kv: str(kv[0])) if k != "_wandb"),
                  empty="No config.")),
           el("section", None, el("h2", None, "Summary"),
              key_values(((str(k), render_cell(v, table_link=table_link)) for k, v in sorted(
                  summary.items(), key=lambda kv: str(kv[0])) if not str(k).startswith("_")),
                  empty="No summary."))),
        python_box(*c.api_lines(),
                   f"logged = api.run({py_str(f'{entity}/{key.project}/{key.run_id}')})",
                   "history = logged.history()  # a list of dicts, one per step",
                   *(["# its tables, from inside a run (or with api.artifact):"] if tables
                     else []),
                   *(c.entry_snippet(entity, key.project, t.artifact, "latest", t.entry)[4]
                     for t in list(tables.values())[:3]))]
    return page_response(document(record.name or record.run_id, body, entity=entity,
                                  crumbs=_crumbs(entity, key.project)))


async def artifact(request: web.Request, entity: str) -> web.Response:
    """An artifact's versions with their aliases."""
    info = request.match_info
    project_name, name = info["project"], info["name"]
    versions = await request.config_dict[METADATA].artifact_versions(entity, project_name, name)
    if not versions:
        raise NotFoundError(f"no artifact {entity}/{project_name}/{name}")
    rows = [el("tr", None,
               el("td", None, el("a", {"href": c.artifact_url(entity, project_name, name,
                                                               v.label)}, v.label)),
               el("td", None, [el("span", {"class": "tag"}, a) for a in v.aliases]),
               el("td", None, el("code", {"title": v.digest}, v.digest[:12])),
               el("td", None, c.fmt_time(v.created)),
               el("td", None, el("a", {"href": c.run_url(entity, project_name, v.run_id)},
                                 v.run_id)))
            for v in reversed(versions)]
    body = [key_values([("type", versions[-1].type), ("versions", len(versions))]),
            el("table", {"class": "list"},
               el("thead", None, el("tr", None, [el("th", None, h) for h in (
                   "version", "aliases", "digest", "created", "logged by")])),
               el("tbody", None, rows)),
            python_box(*c.api_lines(), f"artifact = api.artifact("
                       f"{py_str(c.artifact_path(entity, project_name, name, 'latest'))})")]
    return page_response(document(name, body, entity=entity,
                                  crumbs=_crumbs(entity, project_name)))


def _entry_link(entity: str, project_name: str, name: str, label: str, entry_name: str,
                entry: wire.ManifestEntry) -> Html:
    if entry.kind in ("table", "joined-table"):
        return el("a", {"href": c.table_url(entity, project_name, name, label, entry_name)},
                  entry_name)
    return el("a", {"href": blob_url(entry.sha256), "target": "_blank", "rel": "noopener"},
              entry_name)


async def artifact_version(request: web.Request, entity: str) -> web.Response:
    """One artifact version: aliases, description, metadata and entries."""
    version = await c.artifact_version(request)
    project_name, name, label = version.project, version.name, version.label
    entries = c.entries_of(version)
    metadata = c.unpack(version.metadata, {})
    rows = [el("tr", None,
               el("td", None, _entry_link(entity, project_name, name, label, n, e)),
               el("td", None, e.kind.replace("-", " ")),
               el("td", {"class": "num"}, e.meta.get("nrows", "")),
               el("td", {"class": "num"}, c.fmt_bytes(e.size)))
            for n, e in sorted(entries.items())]
    first_table = next((n for n, e in sorted(entries.items())
                        if e.kind in ("table", "joined-table")), None)
    path = py_str(c.artifact_path(entity, project_name, name, label))
    snippet = (c.entry_snippet(entity, project_name, name, label, first_table)
               if first_table else [*c.api_lines(), f"artifact = api.artifact({path})"])
    body = [
        key_values([
            ("version", label), ("aliases", [el("span", {"class": "tag"}, a)
                                             for a in version.aliases] or "—"),
            ("type", version.type), ("digest", el("code", None, version.digest)),
            ("created", c.fmt_time(version.created)),
            ("logged by", el("a", {"href": c.run_url(entity, project_name, version.run_id)},
                             version.run_id)),
            ("description", version.description or "—")]),
        el("h2", None, "Entries"),
        el("table", {"class": "list"},
           el("thead", None, el("tr", None, [el("th", None, h) for h in
                                             ("entry", "kind", "rows", "size")])),
           el("tbody", None, rows)),
        el("h2", None, "Metadata"),
        key_values(((str(k), render_cell(v)) for k, v in sorted(
            metadata.items(), key=lambda kv: str(kv[0]))), empty="No metadata."),
        python_box(*snippet)]
    crumbs = [*_crumbs(entity, project_name),
              (name, c.artifact_url(entity, project_name, name))]
    return page_response(document(f"{name}:{label}", body, entity=entity, crumbs=crumbs))
