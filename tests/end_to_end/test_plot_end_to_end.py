"""wandb.plot charts through the whole path: the SDK's queue, `tablelog sync`, the
server, the public Api and the viewer's run page."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tablelog as wandb
from tests.conftest import API_KEY, ServerProcess
from tests.end_to_end.conftest import sync_queue


def test_a_chart_arrives_as_a_run_table_and_a_config_entry(
        online: Path, live_server: ServerProcess, tmp_path: Path) -> None:
    truth = np.array([0, 1, 2, 1, 0, 2])
    with wandb.init(project="charts", config={"lr": 0.1}) as run:
        for step, guess in enumerate(([0, 1, 2, 1, 0, 2], [0, 2, 2, 1, 1, 2])):
            run.log({"cm": wandb.plot.confusion_matrix(y_true=truth, preds=guess,
                                                       class_names=["a", "b", "c"]),
                     "acc": 1.0 - step / 3})
        run_id = run.id
    sync_queue(online, live_server)

    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    logged = api.run(f"charts/{run_id}")
    assert logged.config == {"lr": 0.1}  # as wandb's Api: internal keys left out
    panel = logged.rawconfig["_wandb"]["visualize"]["cm"]["panel_config"]
    assert panel["panelDefId"] == "wandb/confusion_matrix/v1"
    steps = [row["_step"] for row in logged.history(pandas=False) if "cm_table" in row]
    assert steps == [0, 1]
    table = api.artifact(f"charts/run-{run_id}-cm_table:latest").get("cm_table")
    assert table.columns == ["Actual", "Predicted", "nPredictions"]
    counts = {(a, p): n for a, p, n in table.data}
    assert counts[("a", "b")] == 1.0 and counts[("b", "c")] == 1.0 and sum(counts.values()) == 6
    logged.update()  # writing the run back keeps its charts
    assert api.run(f"charts/{run_id}").rawconfig["_wandb"]["visualize"]["cm"] == \
        logged.rawconfig["_wandb"]["visualize"]["cm"]
