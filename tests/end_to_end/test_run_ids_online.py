"""A run id wandb accepts but tablelog's name rule did not (``=``, spaces, unicode) goes
through the queue, the agent and the server, and reads back there."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import tablelog as wandb
from tablelog import wire
from tests.conftest import API_KEY, ENTITY, ServerProcess
from tests.end_to_end.conftest import sync_queue


@pytest.mark.parametrize("run_id", ["random-run-id-=1234567-seed-0", "eval run 7 (ü)"])
def test_an_id_wandb_accepts_is_stored_and_served(online: Path, live_server: ServerProcess,
                                                  tmp_path: Path, run_id: str) -> None:
    table = wandb.Table(columns=["a"], data=[[1], [2]])
    with wandb.init(project="ids", id=run_id, config={"seed": 0}) as run:
        run.log({"loss": 0.25, "preds": table})
    sync_queue(online, live_server)

    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    assert [r.id for r in api.runs(f"{ENTITY}/ids")] == [run_id]
    name = wire.run_artifact_name(run_id, "preds")
    assert api.artifact(f"{ENTITY}/ids/{name}:latest").get("preds") == table

    quoted = urllib.parse.quote(run_id, safe="")
    request = urllib.request.Request(f"{live_server.url}/api/v1/runs/{ENTITY}/ids/{quoted}",
                                     headers={"Authorization": f"Bearer {API_KEY}"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        body = json.loads(resp.read())
    assert body["id"] == run_id and body["config"] == {"seed": 0}
    assert body["summary"]["loss"] == 0.25
