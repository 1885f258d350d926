"""A grouped view as a table: a row per group, its count and each column's aggregate
(pure functions over `table_views.Grouped`).

Numbers show mean, min, max and sum and a small histogram on bins shared by every
group (so bars compare across rows); text shows its distinct values; images a
gallery of the first few; a group's values link to its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tablelog_server.table_views import Aggregate, Grouped
from tablelog_server.viewer.cells import render_cell
from tablelog_server.viewer.html import Child, Html, el
from tablelog_server.viewer.numbers import fmt_number

HIST_W, HIST_H = 80, 24


def _fmt(x: float) -> str:
    return fmt_number(x, digits=4, exact_digits=4)


def histogram_svg(counts: Sequence[int], low: float, high: float) -> Html:
    """Bars of `counts` (equal bins over [low, high]), tallest bar full height."""
    top = max(counts) or 1
    width = HIST_W / len(counts)
    bars = [el("rect", {"x": f"{i * width:.2f}", "y": f"{HIST_H - HIST_H * n / top:.2f}",
                        "width": f"{max(width - 1, 1):.2f}", "height": f"{HIST_H * n / top:.2f}",
                        "class": "bar"}, el("title", None, f"{n:,}"))
            for i, n in enumerate(counts)]
    return el("svg", {"class": "hist", "width": str(HIST_W), "height": str(HIST_H),
                      "viewBox": f"0 0 {HIST_W} {HIST_H}", "role": "img",
                      "aria-label": f"histogram from {_fmt(low)} to {_fmt(high)}"}, bars)


def aggregate_cell(a: Aggregate, span: tuple[float, float] | None) -> Html:
    parts: list[Child] = []
    if a.numbers:
        assert a.mean is not None
        parts.append(el("span", {"class": "stats"},
                        f"mean {_fmt(a.mean)} · min {_fmt(a.low)} · max {_fmt(a.high)} · "
                        f"sum {_fmt(a.total)}"))
        if span is not None:
            parts.append(histogram_svg(a.histogram(*span), *span))
    if a.texts:
        parts.append(el("span", {"class": "distinct"},
                        [el("span", {"class": "tag"}, t) for t in a.texts],
                        f" … more than {len(a.texts)}" if a.more_texts else
                        f" ({len(a.texts)} distinct)"))
    if a.images:
        parts.append(el("span", {"class": "gallery"}, [render_cell(i) for i in a.images]))
    elif a.other:
        parts.append(el("span", {"class": "dim"}, f"{a.other:,} other cells"))
    if a.empty:
        parts.append(el("span", {"class": "dim"}, f" {a.empty:,} empty"))
    return el("td", {"class": "aggregate"}, parts)


def grouped_table(grouped: Grouped, link: Callable[[Sequence[Any]], str | None]) -> Html:
    """The groups, largest first, with `link(values)` opening a group's rows."""
    spans = [grouped.number_range(j) for j in range(len(grouped.columns))]
    head = el("tr", None, [el("th", {"scope": "col"}, col) for col in grouped.by],
              el("th", {"scope": "col"}, "count"),
              [el("th", {"scope": "col"}, col) for col in grouped.columns])
    body = []
    for g in sorted(grouped.groups, key=lambda g: -g.count):  # stable: ties keep first seen
        href = link(g.values)
        body.append(el("tr", {"class": "group-row"},
                       [el("td", None, render_cell(v)) for v in g.values],
                       el("td", {"class": "num"},
                          el("a", {"href": href, "class": "group-link"}, f"{g.count:,}")
                          if href else f"{g.count:,}"),
                       [aggregate_cell(a, span)
                        for a, span in zip(g.aggregates, spans, strict=True)]))
    facts = el("p", {"class": "facts", "id": "group-facts"},
               f"{len(grouped.groups):,} groups of {grouped.rows:,} rows by "
               f"{', '.join(grouped.by)}")
    return el("div", None, facts, el("div", {"class": "grid"},
                                     el("table", {"class": "data grouped", "id": "groups"},
                                        el("thead", None, head), el("tbody", None, body))))
