"""Writes plot_expectations.json: what wandb 0.31's `wandb.plot` builds for fixed inputs.

Run once with a Python that has wandb 0.31, scikit-learn and pandas (not tablelog's
dependencies), e.g. a side virtualenv:

    python3 -m venv /tmp/wandbenv && /tmp/wandbenv/bin/pip install wandb==0.31.0 \\
        scikit-learn pandas numpy
    /tmp/wandbenv/bin/python tests/sdk/data/make_plot_expectations.py

tests/sdk/test_plot.py builds the same charts with tablelog from the inputs stored
in the file and compares the tables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import wandb


def _probas(rng: np.random.Generator, truth: np.ndarray, k: int, noise: float) -> np.ndarray:
    logits = rng.normal(0, noise, (len(truth), k))
    logits[np.arange(len(truth)), truth] += 1.0
    e = np.exp(logits)
    return np.round(e / e.sum(1, keepdims=True), 4)  # rounded: ties, as real scores have


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


def main() -> int:
    rng = np.random.default_rng(7)
    cases = []

    def add(name, fn, kwargs, stored):
        chart = getattr(wandb.plot, fn)(**kwargs)
        cases.append({"name": name, "fn": fn, "inputs": stored,
                      "spec": chart.spec.spec_name, "fields": chart.spec.fields,
                      "string_fields": chart.spec.string_fields,
                      "columns": list(chart.table.columns),
                      "data": [[_plain(v) for v in row] for row in chart.table.data]})

    truth = rng.integers(0, 4, 200)
    guess = np.where(rng.random(200) < 0.7, truth, rng.integers(0, 4, 200))
    add("cm_names", "confusion_matrix",
        {"y_true": truth.tolist(), "preds": guess.tolist(), "class_names": list("abcd")},
        {"y_true": truth.tolist(), "preds": guess.tolist(), "class_names": list("abcd")})
    words = np.array(["cat", "dog", "owl"])
    t_words, g_words = words[truth % 3].tolist(), words[guess % 3].tolist()
    add("cm_strings", "confusion_matrix", {"y_true": t_words, "preds": g_words},
        {"y_true": t_words, "preds": g_words})
    probs = _probas(rng, truth, 4, 1.0)
    add("cm_probs", "confusion_matrix",
        {"probs": probs.tolist(), "y_true": truth.tolist(), "title": "from probs"},
        {"probs": probs.tolist(), "y_true": truth.tolist(), "title": "from probs"})

    t3 = rng.integers(0, 3, 300)
    p3 = _probas(rng, t3, 3, 1.2)
    inputs = {"y_true": t3.tolist(), "y_probas": p3.tolist(), "labels": ["x", "y", "z"]}
    add("pr_labels", "pr_curve", dict(inputs), inputs)
    add("roc_labels", "roc_curve", dict(inputs), inputs)
    subset = {"y_true": t3.tolist(), "y_probas": p3.tolist(), "classes_to_plot": [0, 2],
              "interp_size": 11, "title": "two"}
    add("pr_subset", "pr_curve", dict(subset), subset)
    s3 = np.array(["a", "b", "c"])[t3].tolist()
    strs = {"y_true": s3, "y_probas": p3.tolist()}
    add("pr_strings", "pr_curve", dict(strs), strs)
    add("roc_strings", "roc_curve", dict(strs), strs)

    t2 = rng.integers(0, 2, 12000)
    p2 = _probas(rng, t2, 2, 2.0)
    p2 = np.round(p2 + rng.normal(0, 1e-6, p2.shape), 7)  # few ties: many ROC corners
    big = {"y_true": t2.tolist(), "y_probas": p2.tolist()}
    add("roc_resampled", "roc_curve", dict(big), big)

    xs = [0, 1, 2, 3]
    add("series_shared", "line_series",
        {"xs": xs, "ys": [[1, 2, 3, 4], [4, 3, 2, 1]], "keys": ["up", "down"],
         "title": "t", "xname": "epoch"},
        {"xs": xs, "ys": [[1, 2, 3, 4], [4, 3, 2, 1]], "keys": ["up", "down"],
         "title": "t", "xname": "epoch"})
    add("series_own_xs", "line_series", {"xs": [[0, 1], [5, 6, 7]], "ys": [[1, 2], [3, 4, 5]]},
        {"xs": [[0, 1], [5, 6, 7]], "ys": [[1, 2], [3, 4, 5]]})
    table = wandb.Table(columns=["a", "b"], data=[[1, 2], [3, 4]])
    for fn, kwargs in (("line", {"x": "a", "y": "b", "stroke": "a", "title": "L"}),
                       ("scatter", {"x": "a", "y": "b"}), ("bar", {"label": "a", "value": "b"}),
                       ("histogram", {"value": "b", "title": "H"})):
        add(f"{fn}_spec", fn, {"table": table, **kwargs}, kwargs)
    out = Path(__file__).with_name("plot_expectations.json")
    out.write_text(json.dumps({"wandb": wandb.__version__, "cases": cases}, indent=None))
    print(f"wrote {out} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
