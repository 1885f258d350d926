"""What `run.log` accepts beyond numbers, strings, tables and media, and how it
becomes one of those; and the row limit of tables logged in a run.

As in wandb 0.31 (`wandb.sdk.data_types.utils.val_to_json`):

- a pandas ``DataFrame`` becomes a ``Table`` (its columns and rows);
- a matplotlib figure, an object of one (an ``Axes``...) or the
  ``matplotlib.pyplot`` module (its current figure) becomes an ``Image`` (PNG).
  wandb turns a figure into a Plotly chart when ``plotly.tools.mpl_to_plotly``
  can convert it, and into an Image when the figure holds images; tablelog
  always makes an Image: it needs no plotly, looks as the user drew it, and
  does not depend on a converter that fails on many current matplotlib plots;
- a plotly figure becomes an ``Html`` page of the figure (plotly.js from its
  CDN): wandb stores the figure's JSON as a ``plotly-file`` to draw in its UI;
  tablelog's viewer serves user HTML without scripts, so the chart draws when
  the page is opened from a file (``Html.html``), and says so in the viewer.

Conversions run on the calling thread, at the call, because each value is
what the user had when logging: a figure is usually cleared or redrawn right
after `run.log` (matplotlib is not thread-safe either), and a DataFrame may
change. They only draw and copy in memory; the PNG compression of a figure's
pixels is left to the writer thread, as for any Image. Nothing here imports
pandas, matplotlib or plotly: a value of theirs exists only if its package was
imported already, and it is recognised by its class's module.

Numbers and strings never reach this module (`run.log` checks their type
against AS_IS_TYPES first), so plain scalar logging costs no more than before.
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Mapping
from typing import Any

# Types whose values run.log hands on as they are, without calling `loggable`: the
# plain ones, and each type `loggable` has returned unchanged once (numpy scalars and
# arrays, lists, dicts, Table, Image...), so that logging them costs one set lookup.
AS_IS_TYPES: set[type] = {int, float, bool, str, type(None)}


def split_charts(data: Mapping[str, Any], prefix: str = ""
                 ) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """`data` without its `tablelog.plot` charts (nested ones too), and the charts by
    their dotted key (``eval.cm`` for ``{"eval": {"cm": chart}}``), as wandb takes them
    out of a log. Nothing is scanned until the plot module has been imported (no chart
    can exist before), so plain logging pays nothing."""
    module = sys.modules.get("tablelog.plot.custom_chart")
    if module is None:
        return data, {}
    charts: dict[str, Any] = {}
    out: dict[str, Any] | None = None
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, module.CustomChart):
            charts[dotted] = value
            out = dict(data) if out is None else out
            del out[key]
        elif isinstance(value, dict):
            inner, found = split_charts(value, dotted)
            if found:
                charts.update(found)
                out = dict(data) if out is None else out
                out[key] = inner
    return (data if out is None else out), charts


def loggable(value: Any) -> Any:
    """`value` as something `run.log` stores: a Table for a DataFrame, media for a
    figure, `value` itself for anything else (checked later, as before)."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, getattr(pd, "DataFrame", ())):
        from tablelog.data_types.table import Table

        return Table(dataframe=value)
    converted = figure_media(value)
    if converted is value and not isinstance(value, types.ModuleType):
        AS_IS_TYPES.add(type(value))
    return converted


def figure_media(value: Any) -> Any:
    """An Image for a matplotlib figure (or pyplot), an Html for a plotly figure,
    else `value` itself. Used for nested values too (`run_data.plain_value`)."""
    if isinstance(value, types.ModuleType):
        if value.__name__ == "matplotlib.pyplot":
            return matplotlib_image(value.gcf())
        return value
    module = type(value).__module__
    if module.startswith("matplotlib."):
        return matplotlib_image(value)
    if module.startswith("plotly.") and hasattr(value, "to_html"):
        return plotly_html(value)
    return value


def matplotlib_image(obj: Any) -> Any:
    """The figure of `obj` (a Figure, or an artist on one) drawn now, as an Image."""
    from matplotlib.figure import Figure

    fig = obj if isinstance(obj, Figure) else getattr(obj, "figure", None)
    if not isinstance(fig, Figure):
        raise TypeError(f"cannot log a {type(obj).__name__}: only matplotlib.pyplot, a "
                        "Figure or an artist on a Figure (an Axes...) can be logged")
    from tablelog.data_types.image import Image

    canvas = fig.canvas
    if hasattr(canvas, "buffer_rgba"):  # the Agg canvases (Agg, TkAgg, QtAgg, inline)
        canvas.draw()
        return Image(_rgba_pixels(canvas))  # Image copies the pixels
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    with PILImage.open(buf) as pil:
        return Image(pil)


def _rgba_pixels(canvas: Any) -> Any:
    import numpy as np

    return np.asarray(canvas.buffer_rgba())


_NO_SCRIPTS = ("<noscript><p>This plotly chart needs JavaScript: save this page and open "
               "it in a browser.</p></noscript>")


def plotly_html(fig: Any) -> Any:
    """A plotly figure as an Html page (fixed div id: the same figure, the same bytes)."""
    from tablelog.data_types.media import Html

    page = fig.to_html(full_html=True, include_plotlyjs="cdn", div_id="tablelog-plotly")
    page = page.replace("<body>", "<body>" + _NO_SCRIPTS, 1)
    return Html(page, data_is_not_path=True)


# -- tables over Table.MAX_ARTIFACT_ROWS -----------------------------------------------


def row_limit(table: Any, nrows: int, *, start_row: int = 0) -> int | None:
    """The end row of what a run keeps of `table`'s `nrows` rows (from `start_row`, for
    INCREMENTAL increments): None when they fit under `Table.MAX_ARTIFACT_ROWS`."""
    limit = int(type(table).MAX_ARTIFACT_ROWS)
    if nrows - start_row <= limit:
        return None
    return start_row + limit


def report_left_out(key: str, step: int, table: Any, *, kept: int, left_out: int,
                    not_persisted: list[str] | None, warned: set[str],
                    stacklevel: int) -> None:
    """Say that a logged table lost rows to the limit: in `not_persisted` each time,
    and in a warning the first time for `key` in this run."""
    limit = int(type(table).MAX_ARTIFACT_ROWS)
    what = (f"log step {step} ({key}): {left_out} row(s) of the table past "
            f"Table.MAX_ARTIFACT_ROWS = {limit} were left out; the first {kept} were kept")
    if not_persisted is not None:
        not_persisted.append(what)
    if key not in warned:
        warned.add(key)
        warnings.warn(f"tablelog: {what} (as wandb does). Raise the limit with "
                      f"`tablelog.Table.MAX_ARTIFACT_ROWS = N` before logging; "
                      f"`run.not_persisted` lists every log that lost rows.",
                      RuntimeWarning, stacklevel=stacklevel + 1)
