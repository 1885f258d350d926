"""What run.log accepts beyond numbers, tables and media, as wandb 0.31 does: pandas
DataFrames (a Table), matplotlib figures and pyplot (an Image), plotly figures (an Html
page), numpy scalars and 0-d arrays anywhere, nested dicts kept nested. Checked on the
entries and blobs that land in queue.db."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.data_types.media import media_from_encoded
from tablelog.store.queue import Queue

matplotlib.use("Agg")  # before pyplot: no display in tests
import matplotlib.pyplot as plt


def rows_and_blobs(queue_dir: Path) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload) for e in
                   q.claim_batch(max_entries=100_000, max_bytes=1 << 40)]
        rows = [e.body["row"] for e in entries if e.kind == wire.Kind.HISTORY]
        blobs = {b.sha256: q.blobs.read(b.sha256) for b in q.blobs.scan()}
    return rows, blobs


def last_summary(queue_dir: Path) -> dict[str, Any]:
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload) for e in
                   q.claim_batch(max_entries=100_000, max_bytes=1 << 40)]
    summary: dict[str, Any] = [e.body["summary"] for e in entries
                               if e.kind == wire.Kind.SUMMARY][-1]
    return summary


def media(ref: wire.MediaRef, blobs: dict[str, bytes]) -> Any:
    return media_from_encoded(ref.kind, blobs[ref.sha256], dict(ref.meta))


def drawn_figure() -> Any:
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1, 2], [0, 1, 0], color="red", linewidth=4)
    return fig


# -- pandas ------------------------------------------------------------------------


def test_a_dataframe_becomes_a_table_snapshotted_at_the_call(queue_dir: Path) -> None:
    df = pd.DataFrame({"epoch": [1, 2], "label": ["cat", "dog"], "score": [0.5, 0.75]})
    with wandb.init(project="p") as run:
        run.log({"preds": df})
        df.loc[0, "label"] = "changed after the log"
        assert isinstance(run.summary["preds"], wandb.Table)
        table = run.use_artifact(f"run-{run.id}-preds:latest").get("preds")
    assert table.columns == ["epoch", "label", "score"]
    assert table.data == [[1, "cat", 0.5], [2, "dog", 0.75]]
    rows, _ = rows_and_blobs(queue_dir)
    ref = rows[0]["preds"]
    assert isinstance(ref, wire.TableRef) and ref.nrows == 2 and ref.ncols == 3


# -- matplotlib -----------------------------------------------------------------------


def test_a_matplotlib_figure_becomes_an_image_of_what_was_drawn(queue_dir: Path) -> None:
    fig = drawn_figure()
    with wandb.init(project="p") as run:
        run.log({"chart": fig})
        fig.clf()  # cleared at once, as training loops do: the log has its pixels
        assert isinstance(run.summary["chart"], wandb.Image)
    plt.close(fig)
    rows, blobs = rows_and_blobs(queue_dir)
    ref = rows[0]["chart"]
    assert isinstance(ref, wire.MediaRef) and ref.kind == "image"
    assert blobs[ref.sha256].startswith(b"\x89PNG")
    pixels = media(ref, blobs).to_data_array()
    assert pixels.shape == (75, 100, 4)  # 2 x 1.5 inches at 50 dpi, RGBA
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 20  # the red line is in it


def test_pyplot_and_an_axes_log_their_figure(queue_dir: Path) -> None:
    fig = drawn_figure()
    plt.figure(fig.number)  # the current figure
    with wandb.init(project="p") as run:
        run.log({"plt": plt, "axes": fig.axes[0], "figure": fig})
    plt.close(fig)
    rows, _ = rows_and_blobs(queue_dir)
    shas = {rows[0][k].sha256 for k in ("plt", "axes", "figure")}
    assert len(shas) == 1 and all(rows[0][k].kind == "image" for k in ("plt", "axes"))


def test_image_of_a_figure_or_pyplot_as_wandb_takes_it() -> None:
    fig = drawn_figure()
    plt.figure(fig.number)
    try:
        direct = wandb.Image(fig, caption="loss curve")
        assert direct.caption == "loss curve" and (direct.width, direct.height) == (100, 75)
        assert wandb.Image(plt) == wandb.Image(fig.axes[0]) == wandb.Image(fig)
        np.testing.assert_array_equal(wandb.Image(plt).to_data_array(), direct.to_data_array())
        assert wandb.Image(fig, mode="RGB").to_data_array().shape == (75, 100, 3)
    finally:
        plt.close(fig)


def test_a_figure_in_a_nested_dict_is_an_image_there(queue_dir: Path) -> None:
    fig = drawn_figure()
    with wandb.init(project="p") as run:
        run.log({"eval": {"chart": fig, "loss": np.float32(0.5)}})
    plt.close(fig)
    rows, blobs = rows_and_blobs(queue_dir)
    nested = rows[0]["eval"]
    assert nested["loss"] == 0.5
    assert isinstance(nested["chart"], wire.MediaRef) and nested["chart"].sha256 in blobs


# -- plotly -----------------------------------------------------------------------------


def test_a_plotly_figure_becomes_an_html_page_of_it(queue_dir: Path) -> None:
    def figure() -> Any:
        return go.Figure(go.Scatter(x=[1, 2, 3], y=[4, 1, 7], name="the-trace"))

    with wandb.init(project="p") as run:
        run.log({"plot": figure()})
        run.log({"plot": figure()})
        assert isinstance(run.summary["plot"], wandb.Html)
    rows, blobs = rows_and_blobs(queue_dir)
    first, second = rows[0]["plot"], rows[1]["plot"]
    assert first.kind == "html" and first.sha256 == second.sha256  # same figure, same bytes
    page = media(first, blobs).html
    assert "the-trace" in page and "cdn.plot.ly" in page and "<noscript>" in page


# -- numpy and nested dicts -------------------------------------------------------------


def test_numpy_scalars_and_0d_arrays_are_numbers_everywhere(queue_dir: Path) -> None:
    with wandb.init(project="p", config={"lr": np.array(0.25)}) as run:
        run.log({"a": np.array(1.5), "b": np.int64(3), "c": np.bool_(True),
                 "n": {"x": np.array(2), "y": [np.float32(0.5), np.array(4.0)]}})
        run.summary["s"] = np.array(7)
        assert run.config["lr"] == 0.25 and type(run.config["lr"]) is float
        assert run.summary["a"] == 1.5
    rows, _ = rows_and_blobs(queue_dir)
    row = rows[0]
    assert row == {"a": 1.5, "b": 3, "c": True, "n": {"x": 2, "y": [0.5, 4.0]}}
    assert type(row["a"]) is float and type(row["n"]["x"]) is int
    assert last_summary(queue_dir)["s"] == 7


def test_nested_dicts_stay_nested_in_history_and_summary(queue_dir: Path) -> None:
    """As wandb 0.31: history keeps the nested dict (its items keyed by paths a.b and
    a.c.d), and run.summary["a"] is the nested dict."""
    with wandb.init(project="p") as run:
        run.log({"a": {"b": 1, "c": {"d": 2.5}}})
        assert dict(run.summary["a"]) == {"b": 1, "c": {"d": 2.5}}
    rows, _ = rows_and_blobs(queue_dir)
    assert rows == [{"a": {"b": 1, "c": {"d": 2.5}}}]
    assert last_summary(queue_dir)["a"] == {"b": 1, "c": {"d": 2.5}}


def test_other_objects_are_still_refused_naming_the_key(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        with pytest.raises(TypeError, match=r"log\['x'\].*object"):
            run.log({"x": object()})
        with pytest.raises(TypeError, match=r"log\['m'\]\['k'\].*object"):
            run.log({"m": {"k": object()}})
        # tables are logged under top-level keys only (documented in compat-rows/log.md)
        with pytest.raises(TypeError, match=r"log\['m'\]\['df'\].*DataFrame"):
            run.log({"m": {"df": pd.DataFrame({"a": [1]})}})


def test_scalar_logging_imports_none_of_pandas_matplotlib_plotly(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys, tablelog
        run = tablelog.init(project="p", mode="offline", dir=sys.argv[1])
        run.log({"loss": 0.5, "n": {"a": 1}, "s": "x"})
        run.finish()
        print(sorted(m for m in ("pandas", "matplotlib", "plotly") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "q")],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_a_figure_without_an_agg_canvas_is_saved_as_png(queue_dir: Path) -> None:
    """A figure on a canvas that cannot hand over its pixels (a vector backend) is
    saved as PNG instead."""
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    fig = drawn_figure()
    FigureCanvasSVG(fig)
    assert not hasattr(fig.canvas, "buffer_rgba")
    with wandb.init(project="p") as run:
        run.log({"chart": fig})
    plt.close(fig)
    rows, blobs = rows_and_blobs(queue_dir)
    image = media(rows[0]["chart"], blobs)
    assert (image.width, image.height) == (100, 75)
    assert io.BytesIO(blobs[rows[0]["chart"].sha256]).read(4) == b"\x89PNG"
