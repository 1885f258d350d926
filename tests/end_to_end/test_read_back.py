"""Reading back through the server: tablelog.Api, use_artifact with its local
fallback, and errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tablelog as wandb
from tablelog.errors import ApiError, ArtifactNotFoundError, AuthError
from tests.conftest import API_KEY, ENTITY, ServerProcess, free_port
from tests.end_to_end.conftest import sync_queue


def _log_sample(queue_dir: Path) -> tuple[str, wandb.Table]:
    pixels = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    table = wandb.Table(columns=["id", "img"],
                        data=[[i, wandb.Image(p, caption=f"c{i}")] for i, p in enumerate(pixels)])
    with wandb.init(project="proj", config={"lr": 0.1}) as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)})
        run.log({"preds": table})
        art = wandb.Artifact("ds", "dataset")
        art.add(table, "t")
        art.add(wandb.JoinedTable("t", "t", "id"), "self_join")
        run.log_artifact(art)
    return run.id, table


def test_api_reads_runs_history_and_artifacts(online: Path, live_server: ServerProcess,
                                              tmp_path: Path) -> None:
    run_id, table = _log_sample(online)
    sync_queue(online, live_server)
    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    assert [r.id for r in api.runs(f"{ENTITY}/proj")] == [run_id]
    run = api.run(f"proj/{run_id}")  # the key's own entity
    assert run.config == {"lr": 0.1} and run.state == "finished"
    history = run.history(pandas=False)
    assert [h["_step"] for h in history] == [0, 1, 2, 3]
    assert history[1]["loss"] == 0.5 and run.summary["loss"] == pytest.approx(1 / 3)
    got = api.artifact(f"{ENTITY}/proj/run-{run_id}-preds:latest").get("preds")
    assert got == table  # pixels and captions
    joined = api.artifact(f"{ENTITY}/proj/ds:v0").get("self_join")
    assert isinstance(joined, wandb.JoinedTable) and len(joined.to_table().data) == 2


def test_use_artifact_downloads_into_an_empty_dir(online: Path, live_server: ServerProcess,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run_id, table = _log_sample(online)
    sync_queue(online, live_server)
    monkeypatch.setenv("TABLELOG_DIR", str(tmp_path / "elsewhere"))
    with wandb.init(project="proj") as run:
        got = run.use_artifact(f"run-{run_id}-preds:latest").get("preds")
        assert got == table
        art = run.use_artifact(f"{ENTITY}/proj/ds:latest")
        assert art.version == "v0" and art.get("t") == table
        with pytest.raises(ArtifactNotFoundError, match="no-such"):
            run.use_artifact("no-such:latest")


def test_unreachable_server_falls_back_to_local_with_a_warning(
        queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    table = wandb.Table(columns=["a"], data=[[1]])
    with wandb.init(project="proj") as run:
        run.log({"t": table})
    from tablelog.store.queue import Queue

    with Queue(queue_dir) as q:  # as if delivered: a pending version is served locally anyway
        q.ack(q.pending_ids())
    monkeypatch.setenv("TABLELOG_MODE", "online")
    monkeypatch.setenv("TABLELOG_BASE_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("TABLELOG_API_KEY", "k")
    from tablelog.artifacts.resolve import resolve_artifact
    from tablelog.settings import SdkConfig

    with pytest.warns(RuntimeWarning, match="cannot reach"):
        art = resolve_artifact(f"run-{run.id}-t:latest", settings=SdkConfig.from_env(),
                               queue=None, default_project="proj")
    assert art.get("t") == table


def test_errors_say_what_to_do(live_server: ServerProcess, tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="TABLELOG_API_KEY"):
        wandb.Api(base_url=live_server.url, api_key="wrong-key",
                  cache_dir=tmp_path).runs("local/proj")
    with pytest.raises(ApiError, match="cannot reach"):
        wandb.Api(base_url=f"http://127.0.0.1:{free_port()}", api_key=API_KEY,
                  cache_dir=tmp_path).runs("a/b")
    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path)
    with pytest.raises(ArtifactNotFoundError):
        api.artifact("local/proj/nothing:latest")
    with pytest.raises(ValueError, match="path"):
        api.run("too/many/parts/here")
