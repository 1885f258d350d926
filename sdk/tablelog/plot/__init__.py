"""`tablelog.plot`: wandb 0.31's chart helpers (``wandb.plot``).

Each builds a Table and a chart description (`CustomChart`); ``run.log({"key":
chart})`` logs the table as the run table ``key_table`` and the description in the
run's config (``_wandb.visualize.key``); the viewer draws the preset charts.
"""

from __future__ import annotations

from tablelog.plot.charts import bar, histogram, line, line_series, scatter
from tablelog.plot.classification import confusion_matrix, pr_curve, roc_curve
from tablelog.plot.custom_chart import CustomChart, CustomChartSpec, plot_table

__all__ = ["CustomChart", "CustomChartSpec", "bar", "confusion_matrix", "histogram", "line",
           "line_series", "plot_table", "pr_curve", "roc_curve", "scatter"]
