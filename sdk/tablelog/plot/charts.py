"""Charts of a table's columns, as wandb 0.31's `wandb.plot.line`, `scatter`, `bar`,
`histogram` and `line_series`: each is `plot_table` with a preset spec."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tablelog.plot.custom_chart import CustomChart, plot_table


def line(table: Any, x: str, y: str, stroke: str | None = None, title: str = "",
         split_table: bool = False) -> CustomChart:
    """y against x, one line per value of `stroke` (a column) if given."""
    return plot_table(data_table=table, vega_spec_name="wandb/line/v0",
                      fields={"x": x, "y": y, "stroke": stroke},
                      string_fields={"title": title}, split_table=split_table)


def scatter(table: Any, x: str, y: str, title: str = "",
            split_table: bool = False) -> CustomChart:
    return plot_table(data_table=table, vega_spec_name="wandb/scatter/v0",
                      fields={"x": x, "y": y}, string_fields={"title": title},
                      split_table=split_table)


def bar(table: Any, label: str, value: str, title: str = "",
        split_table: bool = False) -> CustomChart:
    return plot_table(data_table=table, vega_spec_name="wandb/bar/v0",
                      fields={"label": label, "value": value}, string_fields={"title": title},
                      split_table=split_table)


def histogram(table: Any, value: str, title: str = "",
              split_table: bool = False) -> CustomChart:
    return plot_table(data_table=table, vega_spec_name="wandb/histogram/v0",
                      fields={"value": value}, string_fields={"title": title},
                      split_table=split_table)


def _is_series(value: Any) -> bool:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes)


def line_series(xs: Any, ys: Any, keys: Iterable[str] | None = None, title: str = "",
                xname: str = "x", split_table: bool = False) -> CustomChart:
    """Several lines in one chart: ``ys[i]`` against ``xs[i]`` (or one shared `xs`),
    named ``keys[i]`` (default ``line_i``); the table has wandb's columns ``step``,
    ``lineKey``, ``lineVal``, one row per point."""
    from tablelog.data_types.table import Table

    ys = list(ys)
    xs = list(xs)
    if not xs or not _is_series(xs[0]):
        xs = [xs] * len(ys)
    if len(xs) != len(ys):
        raise ValueError(f"Number of x-series ({len(xs)}) must match y-series ({len(ys)}).")
    names = [f"line_{i}" for i in range(len(ys))] if keys is None else list(keys)
    if len(names) != len(ys):
        raise ValueError(f"Number of keys ({len(names)}) must match y-series ({len(ys)}).")
    data = [[x, names[i], y] for i, (xx, yy) in enumerate(zip(xs, ys, strict=False))
            for x, y in zip(xx, yy, strict=False)]
    return plot_table(data_table=Table(data=data, columns=["step", "lineKey", "lineVal"]),
                      vega_spec_name="wandb/lineseries/v0",
                      fields={"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"},
                      string_fields={"title": title, "xname": xname},
                      split_table=split_table)
