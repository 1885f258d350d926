"""Small inline SVG line charts of a run's scalar metrics (pure functions, no I/O).

No script and no style attribute: the lines are SVG presentation attributes and
CSS classes from the viewer's stylesheet, which the page's CSP allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tablelog_server.viewer.html import Html, el
from tablelog_server.viewer.numbers import Number, chartable, fmt_number, position

MAX_POINTS = 400  # per line; longer series are thinned evenly (first and last kept)
MAX_CHARTS = 12


def scalar_series(rows: Iterable[Mapping[str, Any]], *,
                  max_series: int = MAX_CHARTS) -> dict[str, list[tuple[Number, Number]]]:
    """(step, value) pairs per numeric history key, in key order of first appearance;
    keys starting with '_' are left out, and so are booleans and non-finite values.
    Steps and values stay as logged (an int past 2**53 is not rounded to a float)."""
    series: dict[str, list[tuple[Number, Number]]] = {}
    for index, row in enumerate(rows):
        step = row.get("_step", index)
        x: Number = step if chartable(step) else index
        for key, value in row.items():
            if not isinstance(key, str) or key.startswith("_") or not chartable(value):
                continue
            if key not in series:
                if len(series) >= max_series:
                    continue
                series[key] = []
            series[key].append((x, value))
    return series


def thin(points: Sequence[tuple[Number, Number]], limit: int = MAX_POINTS
         ) -> list[tuple[Number, Number]]:
    """At most `limit` points, evenly spaced by index, keeping the first and last."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _fmt(value: Number) -> str:
    return fmt_number(value, digits=4, exact_digits=4)


def line_chart(title: str, points: Sequence[tuple[Number, Number]], *, width: int = 320,
               height: int = 160, x_name: str = "step") -> Html:
    """One metric as a titled SVG line chart with its value range and last value;
    `x_name` names its x-axis (a define_metric step metric, else ``step``)."""
    pts = thin(points)
    pad_l, pad_r, pad_t, pad_b = 44, 8, 8, 20
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    xs = [p[0] for p in pts] or [0]
    ys = [p[1] for p in pts] or [0]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)

    # Positions by exact arithmetic (see viewer.numbers): steps past 2**53 and ranges
    # wider than the largest float are drawn as well as small ones.
    def sx(x: Number) -> float:
        return pad_l + (position(x, x0, x1) if x1 != x0 else 0.0) * plot_w

    def sy(y: Number) -> float:
        return pad_t + (1 - position(y, y0, y1)) * plot_h

    coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
    shape: Html
    if len(pts) == 1:
        shape = el("circle", {"class": "point", "cx": f"{sx(pts[0][0]):.1f}",
                              "cy": f"{sy(pts[0][1]):.1f}", "r": "3"})
    else:
        shape = el("polyline", {"class": "line", "points": coords, "fill": "none"})
    last = f"{_fmt(ys[-1])} at {x_name} {fmt_number(xs[-1])}" if pts else "no values"
    svg = el("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "chart",
                     "viewBox": f"0 0 {width} {height}", "width": str(width),
                     "height": str(height), "role": "img",
                     "aria-label": f"{title}: {len(points)} values, last {last}"},
             el("rect", {"class": "frame", "x": str(pad_l), "y": str(pad_t),
                         "width": str(plot_w), "height": str(plot_h), "fill": "none"}),
             el("text", {"class": "tick", "x": str(pad_l - 4), "y": str(pad_t + 8),
                         "text-anchor": "end"}, _fmt(y1)),
             el("text", {"class": "tick", "x": str(pad_l - 4), "y": str(pad_t + plot_h),
                         "text-anchor": "end"}, _fmt(y0)),
             el("text", {"class": "tick", "x": str(pad_l), "y": str(height - 4)}, _fmt(x0)),
             el("text", {"class": "tick", "x": str(width - pad_r), "y": str(height - 4),
                         "text-anchor": "end"}, _fmt(x1)),
             shape)
    return el("figure", {"class": "metric"},
              el("figcaption", None, el("strong", None, title), " ",
                 el("span", {"class": "last"}, last)), svg)


def charts(series: Mapping[str, Sequence[tuple[Number, Number]]],
           x_names: Mapping[str, str] | None = None) -> Html:
    """Every series as a chart, in a grid (`x_names`: each one's x-axis, else step)."""
    if not series:
        return el("p", {"class": "empty"}, "No scalar metrics logged.")
    names = x_names or {}
    return el("div", {"class": "charts"}, [line_chart(k, v, x_name=names.get(k, "step"))
                                           for k, v in series.items()])
