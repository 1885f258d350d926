"""A run's histograms over steps on its page (`tablelog_server.viewer.histograms`):
what counts as a histogram, thinning, and the chart on the run page."""

from __future__ import annotations

import re

from tablelog_server.viewer.histograms import (
    MAX_COLUMNS,
    as_histogram,
    histogram_chart,
    histogram_series,
)
from tests.viewer.viewer_helpers import Uploader, Viewer


def _hist(counts: list[int], low: float = 0.0) -> dict[str, object]:
    return {"_type": "histogram", "values": counts,
            "bins": [low + i for i in range(len(counts) + 1)]}


def test_only_well_formed_histograms_are_drawn() -> None:
    assert as_histogram(_hist([1, 2])) == ((1.0, 2.0), (0.0, 1.0, 2.0))
    for bad in ({"_type": "histogram", "values": [1, 2], "bins": [0, 1]},
                {"_type": "histogram", "values": [], "bins": [0]},
                {"_type": "histogram", "values": [1, float("nan")], "bins": [0, 1, 2]},
                {"_type": "histogram", "values": [True], "bins": [0, 1]},
                {"_type": "image-file", "values": [1], "bins": [0, 1]}, [1, 2], 3.0):
        assert as_histogram(bad) is None, bad


def test_series_per_key_in_step_order_and_cells_by_count() -> None:
    rows = [{"_step": 0, "loss": 1.0, "g/w": _hist([0, 4, 2])},
            {"_step": 1, "loss": 0.5},
            {"_step": 2, "g/w": _hist([1, 1, 0], low=-1.0), "g/b": _hist([3])}]
    series = histogram_series(rows)
    assert list(series) == ["g/w", "g/b"] and [s.step for s in series["g/w"]] == [0.0, 2.0]
    svg = str(histogram_chart("g/w", series["g/w"]))
    assert svg.count('class="bin"') == 4  # empty bins are not drawn
    opacities = sorted(float(v) for v in re.findall(r'fill-opacity="([0-9.]+)"', svg))
    assert opacities[-1] == 1.0 and opacities[0] < 1.0  # the step's peak is opaque
    assert "2 steps, 0 to 2; values -1 to 3" in svg


def test_long_runs_are_thinned() -> None:
    rows = [{"_step": i, "h": _hist([1])} for i in range(1000)]
    svg = str(histogram_chart("h", histogram_series(rows)["h"]))
    assert svg.count('class="bin"') == MAX_COLUMNS and "1000 steps, 0 to 999" in svg


async def test_the_run_page_draws_histograms(uploader: Uploader, viewer: Viewer) -> None:
    await uploader.start_run()
    for step in range(3):
        await uploader.send("history", {"step": step, "row": {
            "gradients/w": _hist([step + 1, 2, 1], low=float(step)), "loss": 1.0}})
    await viewer.login()
    page = await viewer.get("/p/local/proj/runs/run1")
    assert "<h2>Histograms</h2>" in page and "gradients/w" in page
    assert page.count('class="bin"') == 9
    await uploader.start_run(run_id="plain")
    await uploader.send("history", {"step": 0, "row": {"loss": 1.0}}, run_id="plain")
    assert "Histograms" not in await viewer.get("/p/local/proj/runs/plain")


def test_a_histogram_cell_is_a_small_bar_chart() -> None:
    from tablelog_server.viewer.cells import render_cell

    html = str(render_cell(_hist([0, 3, 1])))
    assert 'class="chart histogram-cell"' in html and html.count('class="bin"') == 2
    assert "histogram of 3 bins over [0, 3], 4 values" in html
    assert "histogram-cell" not in str(render_cell({"_type": "histogram", "values": [1]}))
