"""What `define_metric` and `run.alert` change on a run's page (pure functions):
a metric with a step metric is charted against it (its x-axis), a hidden one is
not charted, and the run's alerts are listed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tablelog_server.viewer.charts import MAX_CHARTS
from tablelog_server.viewer.html import Html, el
from tablelog_server.viewer.numbers import Number, chartable

Series = dict[str, list[tuple[Number, Number]]]


def definition_of(key: str, definitions: Mapping[str, Any]) -> Mapping[str, Any]:
    """The definition that applies to `key`: its own, else the longest glob prefix
    (``"val/*"``) that matches, else none (empty) — the SDK's rule."""
    own = definitions.get(key)
    if isinstance(own, Mapping):
        return own
    globs = [n for n in definitions if isinstance(n, str) and n.endswith("*")
             and key.startswith(n[:-1]) and isinstance(definitions[n], Mapping)]
    return definitions[max(globs, key=len)] if globs else {}


def defined_series(rows: Iterable[Mapping[str, Any]], definitions: Mapping[str, Any], *,
                   max_series: int = MAX_CHARTS) -> tuple[Series, dict[str, str]]:
    """Like `charts.scalar_series`, with the definitions applied: the (x, value) pairs
    per charted key, and each key's x-axis name (``step`` or its step metric; a row
    without the step metric's value gives no point)."""
    series: Series = {}
    x_names: dict[str, str] = {}
    for index, row in enumerate(rows):
        step = row.get("_step", index)
        for key, value in row.items():
            if not isinstance(key, str) or key.startswith("_") or not chartable(value):
                continue
            if key not in x_names:
                definition = definition_of(key, definitions)
                if definition.get("hidden") or len(series) >= max_series:
                    x_names[key] = ""  # not charted
                    continue
                step_metric = definition.get("step_metric")
                x_names[key] = step_metric if isinstance(step_metric, str) else "step"
                series[key] = []
            x_name = x_names[key]
            if not x_name:
                continue
            x = (step if chartable(step) else index) if x_name == "step" else row.get(x_name)
            if isinstance(x, int | float) and chartable(x):
                series[key].append((x, value))
    return series, {k: v for k, v in x_names.items() if v}


def alerts_list(alerts: object) -> Html:
    """The run's alerts, newest first."""
    items = [a for a in alerts if isinstance(a, Mapping)] if isinstance(alerts, list) else []
    if not items:
        return el("p", {"class": "empty"}, "No alerts.")
    return el("ul", {"class": "alerts"}, [
        el("li", {"class": f"alert {str(a.get('level', 'INFO')).lower()}"},
           el("strong", None, str(a.get("level", ""))), " ", el("strong", None,
                                                                 str(a.get("title", ""))),
           ": ", str(a.get("text", ""))) for a in reversed(items)])
