"""tablelog.plot against wandb 0.31: the same inputs give the same tables and chart
descriptions (tests/sdk/data/plot_expectations.json, made by running wandb itself:
see make_plot_expectations.py beside it), and bad input fails clearly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog as wandb

CASES = json.loads((Path(__file__).parent / "data" / "plot_expectations.json").read_text())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, int | float) and isinstance(b, int | float)
                and (a == b or (math.isnan(a) and math.isnan(b))))
    return bool(a == b)


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_the_table_and_spec_are_wandbs(case: dict[str, Any]) -> None:
    inputs = dict(case["inputs"])
    if case["fn"] in ("line", "scatter", "bar", "histogram"):
        inputs["table"] = wandb.Table(columns=["a", "b"], data=[[1, 2], [3, 4]])
    chart = getattr(wandb.plot, case["fn"])(**inputs)
    assert chart.spec.spec_name == case["spec"]
    assert chart.spec.fields == case["fields"]
    assert chart.spec.string_fields == case["string_fields"]
    if case["fn"] in ("line", "scatter", "bar", "histogram"):
        return
    assert list(chart.table.columns) == case["columns"]
    got = [list(row) for row in chart.table.data]
    assert len(got) == len(case["data"])
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got, case["data"], strict=True))
           if len(g) != len(w) or not all(_same(x, y) for x, y in zip(g, w, strict=True))]
    assert not bad, bad[:5]


def test_plot_table_keeps_any_spec_name_and_checks_the_table() -> None:
    table = wandb.Table(columns=["x"], data=[[1]])
    chart = wandb.plot_table("me/my-chart/v3", table, {"x": "x"}, {"title": "mine"},
                             split_table=True)
    chart.set_key("custom")
    assert chart.spec.table_key == "Custom Chart Tables/custom_table"
    value = chart.spec.config_value["panel_config"]
    assert value["panelDefId"] == "me/my-chart/v3" and value["stringSettings"] == {
        "title": "mine"}
    with pytest.raises(wandb.Error, match=r"Expected `data_table` to be `wandb\.Table`"):
        wandb.plot_table("wandb/line/v0", [[1]], {"x": "x"})
    with pytest.raises(wandb.Error, match="Key for the custom chart spec is not set"):
        _ = wandb.plot.line(table, "x", "x").spec.table_key


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"probs": [[0.1, 0.9]], "preds": [1], "y_true": [1]}, "Only one of `probs` or `preds`"),
    ({"preds": [0, 1], "y_true": [1]}, "must be equal"),
    ({"preds": [0, 1, 2], "y_true": [0, 1, 2], "class_names": ["a", "b"]},
     "unique predicted classes exceeds"),
    ({"preds": [0, 0, 0], "y_true": [0, 1, 2], "class_names": ["a", "b"]},
     "unique true labels exceeds"),
    ({"preds": [0, 5], "y_true": [0, 1], "class_names": ["a", "b"]}, "not an index"),
    ({"preds": ["a", "b"], "y_true": ["a", "b"], "class_names": ["a", "b"]},
     "holds indices into class_names"),
    ({"y_true": [0, 1]}, "needs `y_true` and one of"),
])
def test_confusion_matrix_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wandb.plot.confusion_matrix(**kwargs)


@pytest.mark.parametrize("fn", ["pr_curve", "roc_curve"])
def test_curve_errors(fn: str) -> None:
    curve = getattr(wandb.plot, fn)
    with pytest.raises(ValueError, match="y_probas is None"):
        curve([0, 1])
    with pytest.raises(ValueError, match=r"y_probas must be \(n_samples, n_classes\)"):
        curve([0, 1, 1], [0.2, 0.8, 0.5])
    with pytest.raises(ValueError, match="3 classes but y_probas only 2 columns"):
        curve([0, 1, 2], np.full((3, 2), 0.5))


def test_line_series_errors() -> None:
    with pytest.raises(ValueError, match=r"Number of x-series \(2\) must match y-series \(1\)"):
        wandb.plot.line_series([[0], [1]], [[1]])
    with pytest.raises(ValueError, match=r"Number of keys \(1\) must match y-series \(2\)"):
        wandb.plot.line_series([0], [[1], [2]], keys=["a"])


def test_charts_in_a_run_log_nested_ones_too(queue_dir: Path) -> None:
    table = wandb.Table(columns=["x", "y"], data=[[1, 2], [2, 4]])
    with wandb.init(project="charts") as run:
        run.log({"curve": wandb.plot.line(table, "x", "y"),
                 "eval": {"cm": wandb.plot.confusion_matrix(y_true=[0, 1], preds=[1, 1]),
                          "loss": 0.5}})
        visualize = run.config["_wandb"]["visualize"]
        assert sorted(visualize) == ["curve", "eval.cm"]  # dotted, as wandb
        assert visualize["eval.cm"]["panel_config"]["panelDefId"] == "wandb/confusion_matrix/v1"
        assert run.summary["eval"] == {"loss": 0.5}
        cm = run.use_artifact(f"run-{run.id}-eval.cm_table:latest").get("eval.cm_table")
        assert cm.data == [["Class_1", "Class_1", 0.0], ["Class_1", "Class_2", 1.0],
                           ["Class_2", "Class_1", 0.0], ["Class_2", "Class_2", 1.0]]
        assert run.summary["curve_table"].data == [[1, 2], [2, 4]]
