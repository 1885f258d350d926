"""A run's histograms over steps (``wandb.Histogram`` values in history rows, as
``run.watch`` logs them): one SVG per key, a column per logged step, each bin a
cell whose opacity is its share of that step's largest count. Pure functions,
no script, presentation attributes only (the page's CSP allows them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tablelog_server.viewer.charts import MAX_CHARTS
from tablelog_server.viewer.html import Html, el
from tablelog_server.viewer.numbers import fmt_number

MAX_COLUMNS = 120  # steps drawn per chart; more are thinned evenly (first and last kept)


@dataclass(frozen=True)
class Snapshot:
    """One logged histogram: its step, counts and bin edges (len(counts) + 1)."""

    step: float
    counts: tuple[float, ...]
    edges: tuple[float, ...]


def as_histogram(value: Any) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """(counts, edges) of a stored ``{"_type": "histogram", "values", "bins"}``, or None
    for anything else (or a malformed one: nothing is drawn from it)."""
    if not isinstance(value, Mapping) or value.get("_type") != "histogram":
        return None
    counts, edges = value.get("values"), value.get("bins")
    if not isinstance(counts, list) or not isinstance(edges, list) or not counts:
        return None
    if len(edges) != len(counts) + 1:
        return None
    numbers = [*counts, *edges]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in numbers):
        return None
    return tuple(float(c) for c in counts), tuple(float(e) for e in edges)


def histogram_series(rows: Iterable[Mapping[str, Any]], *, max_series: int = MAX_CHARTS
                     ) -> dict[str, list[Snapshot]]:
    """Per history key holding histograms, its snapshots in step order."""
    series: dict[str, list[Snapshot]] = {}
    for index, row in enumerate(rows):
        step = row.get("_step", index)
        x = float(step) if isinstance(step, int | float) and not isinstance(step, bool) \
            else float(index)
        for key, value in row.items():
            if not isinstance(key, str) or key.startswith("_"):
                continue
            found = as_histogram(value)
            if found is None:
                continue
            if key not in series:
                if len(series) >= max_series:
                    continue
                series[key] = []
            series[key].append(Snapshot(x, *found))
    return series


def _thin(snaps: Sequence[Snapshot], limit: int = MAX_COLUMNS) -> list[Snapshot]:
    if len(snaps) <= limit:
        return list(snaps)
    step = (len(snaps) - 1) / (limit - 1)
    return [snaps[round(i * step)] for i in range(limit)]


def histogram_chart(title: str, snaps: Sequence[Snapshot], *, width: int = 320,
                    height: int = 160) -> Html:
    """One key's distribution over steps."""
    shown = _thin(snaps)
    pad_l, pad_r, pad_t, pad_b = 44, 8, 8, 20
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b
    low = min(s.edges[0] for s in shown)
    high = max(s.edges[-1] for s in shown)
    span = (high - low) or 1.0
    col_w = plot_w / len(shown)
    cells: list[Html] = []
    for i, snap in enumerate(shown):
        peak = max(snap.counts) or 1.0
        for count, lo, hi in zip(snap.counts, snap.edges, snap.edges[1:], strict=False):
            if count <= 0:
                continue
            y_top = pad_t + (1 - (hi - low) / span) * plot_h
            y_bottom = pad_t + (1 - (lo - low) / span) * plot_h
            cells.append(el("rect", {
                "class": "bin", "x": f"{pad_l + i * col_w:.1f}", "y": f"{y_top:.1f}",
                "width": f"{max(col_w, 0.5):.1f}", "height": f"{max(y_bottom - y_top, 0.5):.1f}",
                "fill-opacity": f"{0.15 + 0.85 * count / peak:.2f}"}))
    first, last = shown[0], shown[-1]
    caption = (f"{len(snaps)} steps, {fmt_number(first.step)} to {fmt_number(last.step)}; "
               f"values {fmt_number(low)} to {fmt_number(high)}")
    svg = el("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "chart histogram",
                     "viewBox": f"0 0 {width} {height}", "width": str(width),
                     "height": str(height), "role": "img",
                     "aria-label": f"{title}: distribution over {caption}"},
             el("rect", {"class": "frame", "x": str(pad_l), "y": str(pad_t),
                         "width": str(plot_w), "height": str(plot_h), "fill": "none"}),
             cells,
             el("text", {"class": "tick", "x": str(pad_l - 4), "y": str(pad_t + 8),
                         "text-anchor": "end"}, fmt_number(high, digits=3)),
             el("text", {"class": "tick", "x": str(pad_l - 4), "y": str(pad_t + plot_h),
                         "text-anchor": "end"}, fmt_number(low, digits=3)),
             el("text", {"class": "tick", "x": str(pad_l), "y": str(height - 4)},
                fmt_number(first.step)),
             el("text", {"class": "tick", "x": str(width - pad_r), "y": str(height - 4),
                         "text-anchor": "end"}, fmt_number(last.step)))
    return el("figure", {"class": "metric"},
              el("figcaption", None, el("strong", None, title), " ",
                 el("span", {"class": "last"}, caption)), svg)


def histogram_charts(series: Mapping[str, Sequence[Snapshot]]) -> Html | None:
    """Every histogram key as a chart, in a grid; None when the run logged none."""
    if not series:
        return None
    return el("div", {"class": "charts"}, [histogram_chart(k, v) for k, v in series.items()])
