"""A DataFrame, a matplotlib figure and a plotly figure logged with run.log, uploaded
by `tablelog sync` to a real server on loopback and read back through tablelog.Api."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

import tablelog as wandb
from tests.conftest import API_KEY, ENTITY, ServerProcess
from tests.end_to_end.conftest import sync_queue

matplotlib.use("Agg")  # before pyplot: no display in tests
import matplotlib.pyplot as plt


def test_dataframe_and_figures_read_back_from_the_server(
        live_server: ServerProcess, queue_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_BASE_URL", live_server.url)
    monkeypatch.setenv("TABLELOG_API_KEY", API_KEY)
    monkeypatch.setenv("TABLELOG_MODE", "online")
    monkeypatch.setenv("TABLELOG_AGENT_AUTOSTART", "0")
    df = pd.DataFrame({"id": [1, 2, 3], "label": ["a", "b", "c"]})
    fig, ax = plt.subplots(figsize=(2, 2), dpi=40)
    ax.plot([0, 1], [0, 1])
    plotly_fig = go.Figure(go.Bar(x=["x", "y"], y=[3, 5], name="bars-trace"))
    with wandb.init(project="proj") as run:
        run.log({"preds": df, "chart": fig, "plot": plotly_fig, "acc": np.array(0.75),
                 "eval": {"chart": fig, "loss": np.float32(0.5)}})
    plt.close(fig)
    sync_queue(queue_dir, live_server)

    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    public = api.run(f"{ENTITY}/proj/{run.id}")
    (row,) = public.history(pandas=False)
    assert row["acc"] == 0.75 and row["eval"]["loss"] == 0.5
    table = api.artifact(f"{ENTITY}/proj/run-{run.id}-preds:latest").get("preds")
    assert table.columns == ["id", "label"] and table.data == [[1, "a"], [2, "b"], [3, "c"]]
    assert row["preds"]["_type"] == "table-ref" and row["preds"]["nrows"] == 3

    chart = row["chart"]
    assert chart["_type"] == "image-file" and (chart["width"], chart["height"]) == (80, 80)
    png = api.client.get_bytes(f"/api/v1/blobs/{chart['sha256']}")
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(png)) as pil:
        assert pil.format == "PNG" and pil.size == (80, 80)

    assert row["eval"]["chart"]["sha256"] == chart["sha256"]  # the nested one: the same PNG

    plot = row["plot"]
    assert plot["_type"] == "html-file"
    page = api.client.get_bytes(f"/api/v1/blobs/{plot['sha256']}").decode()
    assert "bars-trace" in page and "<noscript>" in page
    assert public.summary["plot"]["sha256"] == plot["sha256"]
