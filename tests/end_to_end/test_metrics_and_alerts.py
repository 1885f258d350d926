"""A wandb-docs-style program (define_metric, alerts, renamed runs, saved files)
run with ``import tablelog as wandb`` against a real `tablelog server` on
loopback; the summary, metric definitions, alerts and files read back through
the API and show on the viewer's run page."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

import tablelog as wandb
from tests.conftest import API_KEY, ENTITY, ServerProcess
from tests.end_to_end.conftest import sync_queue


def _docs_program(work: Path) -> str:
    """The wandb docs' define_metric / alert examples, unchanged but for the import."""
    (work / "model.txt").write_text("weights")
    run = wandb.init(project="metrics", name="draft")
    wandb.define_metric("epoch")
    wandb.define_metric("val/*", step_metric="epoch")
    wandb.define_metric("loss", summary="min")
    wandb.define_metric("acc", summary="max,mean")
    wandb.define_metric("debug", hidden=True)
    for epoch in range(3):
        for batch in range(2):
            wandb.log({"loss": 1.0 - 0.1 * (2 * epoch + batch), "acc": 0.3 * epoch + 0.1 * batch,
                       "debug": batch})
        wandb.log({"val/acc": 0.2 * epoch, "epoch": epoch})
        if epoch == 1:
            wandb.alert(title="Low accuracy", text=f"val/acc {0.2 * epoch} is below 0.5",
                        level="WARN")
    run.name = "final"
    run.tags = ["baseline"]
    wandb.save(str(work / "model.txt"), base_path=str(work))
    run_id = str(run.id)
    wandb.finish()
    return run_id


def test_docs_program_round_trips_through_the_server(online: Path, live_server: ServerProcess,
                                                     tmp_path: Path) -> None:
    run_id = _docs_program(tmp_path)
    sync_queue(online, live_server)
    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    run = api.run(f"{ENTITY}/metrics/{run_id}")
    assert run.name == "final" and run.tags == ["baseline"]
    assert run.summary["loss"] == {"min": pytest.approx(0.5)}
    assert run.summary["acc"] == {"max": pytest.approx(0.7), "mean": pytest.approx(0.35)}
    assert run.summary["val/acc"] == pytest.approx(0.4) and run.summary["epoch"] == 2

    raw = api.client.get_json(f"/api/v1/runs/{ENTITY}/metrics/{run_id}")
    assert raw["metrics"]["val/*"]["step_metric"] == "epoch"
    assert raw["metrics"]["loss"]["summary"] == ["min"]
    assert raw["metrics"]["debug"]["hidden"] is True
    assert [(a["title"], a["level"]) for a in raw["alerts"]] == [("Low accuracy", "WARN")]

    files = api.artifact(f"{ENTITY}/metrics/run-{run_id}-files:latest")
    assert sorted(files.manifest) == ["model.txt"]

    page = urllib.request.Request(f"{live_server.url}/p/{ENTITY}/metrics/runs/{run_id}",
                                  headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(page, timeout=30) as resp:
        html = resp.read().decode()
    assert "at epoch 2" in html  # val/acc is charted against its step metric
    assert "<strong>debug</strong>" not in html  # hidden: no chart
    assert "Low accuracy" in html and "below 0.5" in html
