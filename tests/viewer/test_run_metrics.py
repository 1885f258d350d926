"""The run page's define_metric rules (pure functions): step metrics as x-axes,
hidden metrics left out, globs, and the alerts list."""

from __future__ import annotations

from tablelog_server.viewer.run_metrics import alerts_list, defined_series

ROWS = [{"_step": 0, "loss": 1.0, "debug": 1}, {"_step": 1, "epoch": 0, "val/acc": 0.1},
        {"_step": 2, "loss": 0.5}, {"_step": 3, "epoch": 1, "val/acc": 0.3}]


def test_step_metric_is_the_x_axis_and_hidden_metrics_are_not_charted() -> None:
    series, x_names = defined_series(ROWS, {"val/*": {"step_metric": "epoch"},
                                            "debug": {"hidden": True}})
    assert series == {"loss": [(0, 1.0), (2, 0.5)], "epoch": [(1, 0), (3, 1)],
                      "val/acc": [(0, 0.1), (1, 0.3)]}
    assert x_names == {"loss": "step", "epoch": "step", "val/acc": "epoch"}


def test_without_definitions_every_metric_is_charted_by_step() -> None:
    series, x_names = defined_series(ROWS, {})
    assert set(series) == {"loss", "debug", "epoch", "val/acc"}
    assert set(x_names.values()) == {"step"}


def test_alerts_are_listed_newest_first() -> None:
    html = str(alerts_list([{"title": "a", "text": "first", "level": "INFO"},
                               {"title": "<b>", "text": "second", "level": "WARN"}]))
    assert html.index("second") < html.index("first") and "&lt;b&gt;" in html
    assert "No alerts." in str(alerts_list(None))
