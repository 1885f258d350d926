"""`wandb.plot` charts on the run page, drawn from their tables (pure functions, no I/O).

A chart is the run config's ``_wandb.visualize.<key>`` entry (its preset id,
``fieldSettings`` mapping the preset's fields to the table's columns, and
``stringSettings`` such as the title) plus the run table ``<key>_table`` logged at
one or more steps. Each preset is drawn as an SVG: axes with ticks and titles, a
legend of its series, a ``<title>`` on every point, bar and cell (the value shown
on hover). A spec id the viewer does not know is shown as a link to its table.
No script and no style attribute: presentation attributes only (the page CSP).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tablelog_server.viewer.html import Html, el
from tablelog_server.viewer.numbers import fmt_number
from tablelog_server.viewer.overlays import PALETTE

WIDTH, HEIGHT = 420, 260
PAD_L, PAD_R, PAD_T, PAD_B = 52, 12, 10, 38
MAX_SERIES = 20  # more groups than this: the rest are left out (and the legend says so)
MAX_POINTS = 2000  # per series, thinned evenly
HIST_BINS = 20


@dataclass(frozen=True)
class Chart:
    """One logged chart: its key, preset id, fields, strings."""

    key: str
    spec: str
    fields: Mapping[str, Any]
    strings: Mapping[str, Any]

    @property
    def table_key(self) -> str:
        return f"{self.key}_table"

    @property
    def title(self) -> str:
        return str(self.strings.get("title") or self.key)


def charts_of(config: Mapping[str, Any]) -> list[Chart]:
    """The charts recorded in a run's config (``_wandb.visualize``), in key order."""
    internal = config.get("_wandb")
    visualize = internal.get("visualize") if isinstance(internal, Mapping) else None
    if not isinstance(visualize, Mapping):
        return []
    out = []
    for key, value in sorted(visualize.items(), key=lambda kv: str(kv[0])):
        panel = value.get("panel_config") if isinstance(value, Mapping) else None
        if not isinstance(panel, Mapping):
            continue
        fields = panel.get("fieldSettings")
        strings = panel.get("stringSettings")
        out.append(Chart(str(key), str(panel.get("panelDefId", "")),
                         fields if isinstance(fields, Mapping) else {},
                         strings if isinstance(strings, Mapping) else {}))
    return out


def table_key_of(chart: Chart, logged_keys: Sequence[str]) -> str | None:
    """The history key the chart's table was logged under (split_table charts live
    under ``Custom Chart Tables/``)."""
    for candidate in (chart.table_key, f"Custom Chart Tables/{chart.table_key}"):
        if candidate in logged_keys:
            return candidate
    return None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _column(columns: Sequence[Any], fields: Mapping[str, Any], name: str) -> int | None:
    col = fields.get(name)
    return columns.index(col) if col is not None and col in columns else None


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / (n - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


class _Frame:
    """The plot area's scales and its axes."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float], *, y_from_zero: bool) -> None:
        self.x0, self.x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
        self.y0, self.y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
        if y_from_zero:
            self.y0 = min(self.y0, 0.0)
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 0.5, self.y1 + 0.5
        self.w, self.h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def sx(self, x: float) -> float:
        return PAD_L + (x - self.x0) / (self.x1 - self.x0) * self.w

    def sy(self, y: float) -> float:
        return PAD_T + (1 - (y - self.y0) / (self.y1 - self.y0)) * self.h

    def axes(self, x_title: str, y_title: str, *, x_ticks: bool = True) -> list[Html]:
        out = [el("rect", {"class": "frame", "x": PAD_L, "y": PAD_T, "width": self.w,
                           "height": self.h, "fill": "none"})]
        for y in _ticks(self.y0, self.y1):
            out.append(el("text", {"class": "tick", "x": PAD_L - 4, "y": f"{self.sy(y) + 3:.1f}",
                                   "text-anchor": "end"}, fmt_number(y, digits=3)))
        if x_ticks:
            for x in _ticks(self.x0, self.x1):
                out.append(el("text", {"class": "tick", "x": f"{self.sx(x):.1f}",
                                       "y": PAD_T + self.h + 12, "text-anchor": "middle"},
                              fmt_number(x, digits=3)))
        out.append(el("text", {"class": "axis-title", "x": PAD_L + self.w / 2,
                               "y": HEIGHT - 6, "text-anchor": "middle"}, x_title))
        out.append(el("text", {"class": "axis-title", "x": 12, "y": PAD_T + self.h / 2,
                               "text-anchor": "middle",
                               "transform": f"rotate(-90 12 {PAD_T + self.h / 2:.1f})"},
                      y_title))
        return out


def _svg(chart: Chart, label: str, *parts: Any) -> Html:
    return el("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "chart plot",
                      "viewBox": f"0 0 {WIDTH} {HEIGHT}", "width": WIDTH, "height": HEIGHT,
                      "role": "img", "aria-label": label, "data-spec": chart.spec},
              el("title", None, label), parts)


def _legend(names: Sequence[str], dropped: int) -> Html | None:
    if len(names) <= 1 and not dropped:
        return None
    items = [el("span", {"class": "legend-item"},
                el("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": 10, "height": 10,
                           "aria-hidden": "true"},
                   el("rect", {"width": 10, "height": 10, "fill": PALETTE[i % len(PALETTE)]})),
                " ", name) for i, name in enumerate(names)]
    if dropped:
        items.append(el("span", {"class": "dim"}, f" +{dropped} more not drawn"))
    return el("div", {"class": "legend"}, items)


def _groups(rows: Sequence[Sequence[Any]], x: int, y: int, g: int | None
            ) -> tuple[dict[str, list[tuple[float, float]]], int]:
    groups: dict[str, list[tuple[float, float]]] = {}
    dropped: set[str] = set()
    for row in rows:
        px, py = _num(row[x]), _num(row[y])
        if px is None or py is None:
            continue
        name = "" if g is None else str(row[g])
        if name not in groups:
            if len(groups) >= MAX_SERIES:
                dropped.add(name)
                continue
            groups[name] = []
        groups[name].append((px, py))
    for name, points in groups.items():
        if len(points) > MAX_POINTS:
            step = (len(points) - 1) / (MAX_POINTS - 1)
            groups[name] = [points[round(i * step)] for i in range(MAX_POINTS)]
    return groups, len(dropped)


def _xy(chart: Chart, columns: Sequence[Any], rows: Sequence[Sequence[Any]], *, x: str,
        y: str, group: str | None, lines: bool, sort_x: bool) -> Html | None:
    xi, yi = _column(columns, chart.fields, x), _column(columns, chart.fields, y)
    gi = _column(columns, chart.fields, group) if group else None
    if xi is None or yi is None:
        return None
    groups, dropped = _groups(rows, xi, yi, gi)
    every = [p for points in groups.values() for p in points]
    frame = _Frame([p[0] for p in every], [p[1] for p in every], y_from_zero=False)
    x_title = str(chart.strings.get("x-axis-title") or chart.strings.get("xname")
                  or chart.fields.get(x))
    y_title = str(chart.strings.get("y-axis-title") or chart.fields.get(y))
    marks = []
    for i, (name, points) in enumerate(groups.items()):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted(points) if sort_x else points
        label = f"{name}: " if name else ""
        if lines:
            marks.append(el("polyline", {
                "class": "series", "data-series": name, "fill": "none", "stroke": color,
                "stroke-width": "1.6", "points": " ".join(
                    f"{frame.sx(px):.1f},{frame.sy(py):.1f}" for px, py in pts)},
                el("title", None, f"{label}{len(pts)} points")))
        for px, py in pts if not lines or len(pts) <= 60 else []:
            marks.append(el("circle", {"class": "mark", "cx": f"{frame.sx(px):.1f}",
                                       "cy": f"{frame.sy(py):.1f}", "r": "2.5" if not lines
                                       else "1.8", "fill": color},
                            el("title", None, f"{label}{x_title} {fmt_number(px)}, "
                                              f"{y_title} {fmt_number(py)}")))
    svg = _svg(chart, f"{chart.title}: {y_title} against {x_title}",
               frame.axes(x_title, y_title), marks)
    return el("div", None, svg, _legend([n or y_title for n in groups], dropped))


def _bars(chart: Chart, columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> Html | None:
    li, vi = _column(columns, chart.fields, "label"), _column(columns, chart.fields, "value")
    if li is None or vi is None:
        return None
    items = [(str(r[li]), v) for r in rows[:60] if (v := _num(r[vi])) is not None]
    frame = _Frame([0.0, float(max(len(items), 1))], [v for _, v in items], y_from_zero=True)
    width = frame.w / max(len(items), 1)
    marks = []
    for i, (label, value) in enumerate(items):
        top, base = frame.sy(max(value, 0.0)), frame.sy(min(value, 0.0))
        marks.append(el("rect", {"class": "mark bar", "x": f"{frame.sx(i) + width * 0.1:.1f}",
                                 "y": f"{top:.1f}", "width": f"{width * 0.8:.1f}",
                                 "height": f"{max(base - top, 0.5):.1f}", "fill": PALETTE[2]},
                        el("title", None, f"{label}: {fmt_number(value)}")))
        if len(items) <= 20:
            marks.append(el("text", {"class": "tick", "x": f"{frame.sx(i) + width / 2:.1f}",
                                     "y": PAD_T + frame.h + 12, "text-anchor": "middle"},
                            label[:10]))
    y_title = str(chart.fields.get("value"))
    return _svg(chart, f"{chart.title}: {y_title} by {chart.fields.get('label')}",
                frame.axes(str(chart.fields.get("label")), y_title, x_ticks=False), marks)


def _histogram(chart: Chart, columns: Sequence[Any], rows: Sequence[Sequence[Any]]
               ) -> Html | None:
    vi = _column(columns, chart.fields, "value")
    if vi is None:
        return None
    values = [v for r in rows if (v := _num(r[vi])) is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    counts = [0] * HIST_BINS
    for v in values:
        counts[min(int((v - lo) / (hi - lo) * HIST_BINS), HIST_BINS - 1)] += 1
    frame = _Frame([lo, hi], [float(c) for c in counts], y_from_zero=True)
    edge = (hi - lo) / HIST_BINS
    marks = [el("rect", {"class": "mark bar", "x": f"{frame.sx(lo + i * edge):.1f}",
                         "y": f"{frame.sy(c):.1f}", "width": f"{frame.w / HIST_BINS - 1:.1f}",
                         "height": f"{frame.sy(0) - frame.sy(c):.1f}", "fill": PALETTE[2]},
                 el("title", None, f"[{fmt_number(lo + i * edge)}, "
                                   f"{fmt_number(lo + (i + 1) * edge)}): {c}"))
             for i, c in enumerate(counts)]
    name = str(chart.fields.get("value"))
    return _svg(chart, f"{chart.title}: histogram of {name} ({len(values)} values)",
                frame.axes(name, "count"), marks)


def _heat_map(chart: Chart, columns: Sequence[Any], rows: Sequence[Sequence[Any]]
              ) -> Html | None:
    ai, pi = _column(columns, chart.fields, "Actual"), _column(columns, chart.fields,
                                                               "Predicted")
    ni = _column(columns, chart.fields, "nPredictions")
    if ai is None or pi is None or ni is None:
        return None
    actual: list[str] = []
    predicted: list[str] = []
    counts: dict[tuple[str, str], float] = {}
    for r in rows:
        a, p, n = str(r[ai]), str(r[pi]), _num(r[ni]) or 0.0
        actual += [] if a in actual else [a]
        predicted += [] if p in predicted else [p]
        counts[(a, p)] = counts.get((a, p), 0.0) + n
    peak = max(counts.values(), default=0.0) or 1.0
    size = max(len(actual), len(predicted), 1)
    cell = min((HEIGHT - PAD_T - PAD_B) / size, 36.0)
    left, top = 80.0, float(PAD_T)
    marks = []
    for i, a in enumerate(actual):
        marks.append(el("text", {"class": "tick", "x": left - 4,
                                 "y": f"{top + (i + .6) * cell:.1f}", "text-anchor": "end"},
                        a[:12]))
        for j, p in enumerate(predicted):
            n = counts.get((a, p), 0.0)
            marks.append(el("rect", {"class": "mark cell", "x": f"{left + j * cell:.1f}",
                                     "y": f"{top + i * cell:.1f}", "width": f"{cell:.1f}",
                                     "height": f"{cell:.1f}", "fill": PALETTE[2],
                                     "fill-opacity": f"{0.06 + 0.94 * n / peak:.3f}",
                                     "stroke": "#fff"},
                            el("title", None, f"actual {a}, predicted {p}: {fmt_number(n)}")))
            if size <= 12:
                marks.append(el("text", {"class": "count", "x": f"{left + (j + .5) * cell:.1f}",
                                         "y": f"{top + (i + .6) * cell:.1f}",
                                         "text-anchor": "middle"}, fmt_number(n)))
    for j, p in enumerate(predicted):
        x = left + (j + .5) * cell
        y = top + size * cell + 12
        marks.append(el("text", {"class": "tick", "x": f"{x:.1f}", "y": f"{y:.1f}",
                                 "text-anchor": "middle"}, p[:8]))
    marks.append(el("text", {"class": "axis-title", "x": f"{left + size * cell / 2:.1f}",
                             "y": HEIGHT - 6, "text-anchor": "middle"}, "Predicted"))
    marks.append(el("text", {"class": "axis-title", "x": 12, "y": f"{top + size * cell / 2:.1f}",
                             "text-anchor": "middle",
                             "transform": f"rotate(-90 12 {top + size * cell / 2:.1f})"},
                    "Actual"))
    return _svg(chart, f"{chart.title}: {len(actual)} actual × {len(predicted)} predicted "
                       "classes", marks)


def draw(chart: Chart, columns: Sequence[Any], rows: Sequence[Sequence[Any]]) -> Html | None:
    """The chart of a preset, or None for a spec id the viewer does not draw (or a
    table without the columns its fields name)."""
    spec = chart.spec
    if spec == "wandb/line/v0":
        return _xy(chart, columns, rows, x="x", y="y", group="stroke", lines=True, sort_x=True)
    if spec == "wandb/scatter/v0":
        return _xy(chart, columns, rows, x="x", y="y", group=None, lines=False, sort_x=False)
    if spec == "wandb/lineseries/v0":
        return _xy(chart, columns, rows, x="step", y="lineVal", group="lineKey", lines=True,
                   sort_x=True)
    if spec == "wandb/area-under-curve/v0":
        return _xy(chart, columns, rows, x="x", y="y", group="class", lines=True, sort_x=True)
    if spec == "wandb/bar/v0":
        return _bars(chart, columns, rows)
    if spec == "wandb/histogram/v0":
        return _histogram(chart, columns, rows)
    if spec == "wandb/confusion_matrix/v1":
        return _heat_map(chart, columns, rows)
    return None
