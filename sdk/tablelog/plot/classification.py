"""Classifier charts as wandb 0.31 builds them: `confusion_matrix`, `pr_curve`,
`roc_curve`, with the same tables, computed with numpy alone.

wandb computes the curves with scikit-learn and pandas (``precision_recall_curve``,
``roc_curve`` with its default ``drop_intermediate=True``, ``DataFrame.round(3)``,
and ``sklearn.utils.resample(..., stratify=class, random_state=42)`` when a table
would pass ``Table.MAX_ROWS``); tablelog needs neither: the same steps are done
here in numpy, the resampling with the same legacy ``RandomState(42)`` draws, so
the tables match row for row (tests/sdk/test_plot.py holds wandb's own output).

Where wandb prints an error and returns None (an input missing), tablelog raises
ValueError: a None logged in its place would lose the chart silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tablelog.plot.custom_chart import CustomChart, plot_table


def _table(columns: list[str], data: Any) -> Any:
    from tablelog.data_types.table import Table

    return Table(columns=columns, data=data)


# -- confusion matrix -------------------------------------------------------------------


def confusion_matrix(probs: Sequence[Sequence[float]] | None = None,
                     y_true: Sequence[Any] | None = None, preds: Sequence[Any] | None = None,
                     class_names: Sequence[str] | None = None,
                     title: str = "Confusion Matrix Curve",
                     split_table: bool = False) -> CustomChart:
    """Counts of (actual, predicted) pairs, one row per pair of classes (wandb's
    ``Actual``, ``Predicted``, ``nPredictions`` columns, counts as floats). With
    `class_names`, labels are indices into it; without, the classes are the sorted
    labels seen, named ``Class_1`` ...; `probs` gives the predictions by argmax."""
    if probs is not None and preds is not None:
        raise ValueError("Only one of `probs` or `preds` should be provided, not both.")
    if probs is not None:
        preds = np.argmax(np.asarray(probs), axis=1)
    if preds is None or y_true is None:
        raise ValueError("confusion_matrix needs `y_true` and one of `preds` or `probs`")
    truth, guess = np.asarray(y_true), np.asarray(preds)
    if truth.ndim != 1 or guess.ndim != 1:
        raise ValueError(f"`y_true` and `preds` are sequences of labels, got shapes "
                         f"{truth.shape} and {guess.shape}")
    if len(guess) != len(truth):
        raise ValueError("The number of predictions and true labels must be equal.")
    if class_names is not None:
        names = [str(n) if not isinstance(n, str) else n for n in class_names]
        n = len(names)
        if len(np.unique(guess)) > n:
            raise ValueError("The number of unique predicted classes exceeds the number of "
                             "class names.")
        if len(np.unique(truth)) > n:
            raise ValueError("The number of unique true labels exceeds the number of class "
                             "names.")
        t_idx, g_idx = _indices(truth, n, "y_true"), _indices(guess, n, "preds")
    else:
        seen, inverse = np.unique(np.concatenate([truth, guess]), return_inverse=True)
        n = len(seen)
        names = [f"Class_{i + 1}" for i in range(n)]
        t_idx, g_idx = inverse[:len(truth)], inverse[len(truth):]
    counts = np.bincount(t_idx * n + g_idx, minlength=n * n).astype(np.float64).reshape(n, n)
    data = [[names[i], names[j], float(counts[i, j])] for i in range(n) for j in range(n)]
    return plot_table(data_table=_table(["Actual", "Predicted", "nPredictions"], data),
                      vega_spec_name="wandb/confusion_matrix/v1",
                      fields={"Actual": "Actual", "Predicted": "Predicted",
                              "nPredictions": "nPredictions"},
                      string_fields={"title": title}, split_table=split_table)


def _indices(labels: np.ndarray[Any, Any], n: int, what: str) -> np.ndarray[Any, Any]:
    """Labels that index `class_names`, checked (wandb fails with a KeyError)."""
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"with class_names, `{what}` holds indices into class_names "
                         f"(0 to {n - 1}); got {labels.dtype} values")
    bad = labels[(labels < 0) | (labels >= n)]
    if bad.size:
        raise ValueError(f"`{what}` holds {bad[0]!r}, not an index into the {n} class_names")
    return labels.astype(np.int64)


# -- binary curves, as scikit-learn computes them ---------------------------------------


def _binary_counts(truth: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], positive: Any
                   ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """False and true positives at each distinct score, highest score first."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    ranked, hits = scores[order], (truth == positive)[order]
    last = np.r_[np.where(np.diff(ranked))[0], hits.size - 1]
    tps = np.cumsum(hits, dtype=np.float64)[last]
    return 1 + last - tps, tps


def _precision_recall(truth: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], positive: Any
                      ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    fps, tps = _binary_counts(truth, scores, positive)
    predicted = tps + fps
    precision = np.zeros_like(tps)
    np.divide(tps, predicted, out=precision, where=predicted != 0)
    recall = np.ones_like(tps) if tps[-1] == 0 else tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]


def _roc(truth: np.ndarray[Any, Any], scores: np.ndarray[Any, Any], positive: Any
         ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    fps, tps = _binary_counts(truth, scores, positive)
    if len(fps) > 2:  # keep only the corners of the curve
        keep = np.where(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])[0]
        fps, tps = fps[keep], tps[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
        tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr


def _check_inputs(y_true: Any, y_probas: Any, what: str
                  ) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    for name, value in (("y_true", y_true), ("y_probas", y_probas)):
        if value is None:
            raise ValueError(f"{what}: {name} is None")
    truth, probas = np.asarray(y_true), np.asarray(y_probas)
    if probas.ndim != 2 or len(probas) != len(truth):
        raise ValueError(f"{what}: y_probas must be (n_samples, n_classes) for the "
                         f"{len(truth)} labels of y_true, got shape {probas.shape}")
    if len(np.unique(truth)) > probas.shape[1]:
        raise ValueError(f"{what}: y_true has {len(np.unique(truth))} classes but y_probas "
                         f"only {probas.shape[1]} columns (one per sorted class)")
    return truth, probas


def _class_label(classes: np.ndarray[Any, Any], i: int, labels: Sequence[Any] | None) -> Any:
    if labels is not None and (isinstance(classes[i], int)
                               or isinstance(classes[0], np.integer)):
        return labels[classes[i]]
    return classes[i]


def _curve_table(columns: list[str], per_class: dict[Any, tuple[Any, Any]],
                 sort_by: list[str]) -> Any:
    """wandb's DataFrame of the curves, rounded to 3 places, resampled to
    ``Table.MAX_ROWS`` rows as scikit-learn's stratified resample does."""
    from tablelog.data_types.table import Table

    label_col = np.hstack([[k] * len(a) for k, (a, _) in per_class.items()]) \
        if per_class else np.array([])
    a_col = np.round(np.hstack([a for a, _ in per_class.values()]), 3) \
        if per_class else np.array([])
    b_col = np.round(np.hstack([b for _, b in per_class.values()]), 3) \
        if per_class else np.array([])
    if len(label_col) > Table.MAX_ROWS:
        import logging

        logging.getLogger("tablelog").warning(
            "tablelog: a chart's table has a limit of %d rows; resampling to fit",
            Table.MAX_ROWS)
        pick = _stratified_sample(label_col, Table.MAX_ROWS)
        label_col, a_col, b_col = label_col[pick], a_col[pick], b_col[pick]
        by = {columns[0]: label_col, columns[1]: a_col, columns[2]: b_col}
        order = np.lexsort([by[c] for c in reversed(sort_by)])
        label_col, a_col, b_col = label_col[order], a_col[order], b_col[order]
    rows = [[_plain(k), float(a), float(b)] for k, a, b in zip(label_col, a_col, b_col,
                                                                strict=True)]
    return Table(columns=columns, data=rows)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _stratified_sample(labels: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
    """Row indices of scikit-learn's ``resample(replace=False, n_samples=n,
    random_state=42, stratify=labels)``: per class a share of `n` by its count (the
    remainder to the largest fractions, ties drawn), drawn without replacement, then
    shuffled, all from one ``RandomState(42)``."""
    rng = np.random.RandomState(42)
    _, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    members = np.split(np.argsort(inverse, kind="mergesort"), np.cumsum(counts)[:-1])
    exact = counts / counts.sum() * n
    share = np.floor(exact)
    missing = int(n - share.sum())
    if missing > 0:
        rest = exact - share
        for value in np.sort(np.unique(rest))[::-1]:
            (tied,) = np.where(rest == value)
            take = min(len(tied), missing)
            share[rng.choice(tied, size=take, replace=False)] += 1
            missing -= take
            if missing == 0:
                break
    picked: list[Any] = []
    for rows, k in zip(members, share.astype(int), strict=True):
        picked.extend(rng.choice(rows, k, replace=False))
    return np.asarray(rng.permutation(picked), dtype=np.int64)


def pr_curve(y_true: Any = None, y_probas: Any = None, labels: list[str] | None = None,
             classes_to_plot: list[Any] | None = None, interp_size: int = 21,
             title: str = "Precision-Recall Curve", split_table: bool = False) -> CustomChart:
    """Precision against recall, one curve per class (the classes of `y_true`, or
    `classes_to_plot`), each at `interp_size` recall points from 1 to 0; `labels`
    names integer classes."""
    truth, probas = _check_inputs(y_true, y_probas, "pr_curve")
    classes = np.unique(truth)
    wanted = classes if classes_to_plot is None else classes_to_plot
    recall_points = np.linspace(0, 1, interp_size)[::-1]
    curves: dict[Any, tuple[Any, Any]] = {}
    for i in np.where(np.isin(classes, wanted))[0]:
        precision, recall = _precision_recall(truth, probas[:, i], classes[i])
        precision = np.maximum.accumulate(precision)[::-1]
        at = np.searchsorted(recall[::-1], recall_points, side="left")
        curves[_class_label(classes, i, labels)] = (precision[at], recall_points)
    table = _curve_table(["class", "precision", "recall"], curves,
                         ["precision", "recall", "class"])
    return plot_table(data_table=table, vega_spec_name="wandb/area-under-curve/v0",
                      fields={"x": "recall", "y": "precision", "class": "class"},
                      string_fields={"title": title, "x-axis-title": "Recall",
                                     "y-axis-title": "Precision"},
                      split_table=split_table)


def roc_curve(y_true: Any = None, y_probas: Any = None, labels: list[str] | None = None,
              classes_to_plot: list[Any] | None = None, title: str = "ROC Curve",
              split_table: bool = False) -> CustomChart:
    """True against false positive rate, one curve per class (one-vs-rest)."""
    truth, probas = _check_inputs(y_true, y_probas, "roc_curve")
    classes = np.unique(truth)
    wanted = classes if classes_to_plot is None else classes_to_plot
    curves: dict[Any, tuple[Any, Any]] = {}
    for i in np.where(np.isin(classes, wanted))[0]:
        curves[_class_label(classes, i, labels)] = _roc(truth, probas[..., i], classes[i])
    table = _curve_table(["class", "fpr", "tpr"], curves, ["fpr", "tpr", "class"])
    return plot_table(data_table=table, vega_spec_name="wandb/area-under-curve/v0",
                      fields={"x": "fpr", "y": "tpr", "class": "class"},
                      string_fields={"title": title, "x-axis-title": "False positive rate",
                                     "y-axis-title": "True positive rate"},
                      split_table=split_table)
