"""The public Api the wandb way, against a real `tablelog server` on loopback:
path forms and overrides, runs filters and order evaluated on the server, sampled
and streamed history, saved files, and the artifacts a run logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tablelog as wandb
from tests.conftest import API_KEY, ENTITY, ServerProcess
from tests.end_to_end.conftest import sync_queue


def _three_runs(work: Path) -> dict[str, str]:
    """Three runs of one project, as a sweep-like script logs them."""
    ids: dict[str, str] = {}
    for name, lr, tags, group in (("base", 0.1, ["baseline"], "g1"),
                                  ("small-lr", 0.01, ["v2"], "g1"),
                                  ("auto", "auto", ["baseline", "v2"], None)):
        with wandb.init(project="sweep", name=name, config={"lr": lr, "opt": {"name": "sgd"}},
                        tags=tags, group=group, job_type="train") as run:
            for step in range(10):
                row: dict[str, Any] = {"loss": 1.0 / (step + 1)}
                if step % 3 == 0:
                    row["val_acc"] = 0.1 * step
                run.log(row)
            run.summary["acc"] = {"base": 0.7, "small-lr": 0.9, "auto": 0.5}[name]
            if name == "base":
                (work / "notes.txt").write_text("hello from base")
                run.save(str(work / "notes.txt"), base_path=str(work))
                art = wandb.Artifact("dataset", "dataset")
                art.add(wandb.Table(columns=["x"], data=[[1], [2]]), "rows")
                run.log_artifact(art)
            ids[name] = run.id
    return ids


@pytest.fixture
def logged(online: Path, live_server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    ids = _three_runs(tmp_path)
    sync_queue(online, live_server)
    return ids


@pytest.fixture
def api(live_server: ServerProcess, tmp_path: Path) -> wandb.Api:
    return wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")


def test_run_paths_and_overrides(logged: dict[str, str], api: wandb.Api,
                                 live_server: ServerProcess, tmp_path: Path) -> None:
    base = logged["base"]
    for path in (f"{ENTITY}/sweep/{base}", f"{ENTITY}/sweep/runs/{base}", f"sweep/{base}"):
        assert api.run(path).id == base
    scoped = wandb.Api(overrides={"project": "sweep", "base_url": live_server.url},
                       api_key=API_KEY, cache_dir=tmp_path / "c2")
    run = scoped.run(base)
    assert run.path == [ENTITY, "sweep", base] and run.name == "base"
    assert run.group == "g1" and run.job_type == "train" and run.tags == ["baseline"]
    assert run.created_at is not None and run.created_at.endswith("Z")
    assert run.url == f"{live_server.url}/p/{ENTITY}/sweep/runs/{base}"
    assert [r.name for r in scoped.runs()] == ["base", "small-lr", "auto"]
    with pytest.raises(ValueError, match="run path"):
        api.run("a/b/c/d/e")
    with pytest.raises(TypeError, match="base_url"):
        wandb.Api(live_server.url)  # type: ignore[arg-type]


def test_runs_filters_and_order_are_the_servers(logged: dict[str, str],
                                                api: wandb.Api) -> None:
    def names(filters: dict[str, Any] | None = None, order: str = "+created_at") -> list[str]:
        return [r.name for r in api.runs(f"{ENTITY}/sweep", filters=filters, order=order)]

    assert names({"config.lr": 0.1}) == ["base"]
    assert names({"config.lr": {"$lt": 0.05}}) == ["small-lr"]
    assert names({"tags": "v2"}) == ["small-lr", "auto"]
    assert names({"tags": {"$in": ["baseline"]}, "group": "g1"}) == ["base"]
    assert names({"$or": [{"summary_metrics.acc": {"$gt": 0.8}}, {"group": None}]}) == [
        "small-lr", "auto"]
    assert names({"display_name": {"$regex": "^s"}}) == ["small-lr"]
    assert names({"state": "finished", "config.opt.name": "sgd"}) == ["base", "small-lr", "auto"]
    assert names(order="-summary_metrics.acc") == ["small-lr", "base", "auto"]
    assert names(order="-created_at") == ["auto", "small-lr", "base"]
    with pytest.raises(ValueError, match="unknown operator '\\$near'"):
        names({"config.lr": {"$near": 1}})
    with pytest.raises(ValueError, match="unknown run field"):
        names({"colour": "red"})


def test_history_sampled_and_streamed(logged: dict[str, str], api: wandb.Api) -> None:
    run = api.run(f"sweep/{logged['base']}")
    frame = run.history()
    assert isinstance(frame, pd.DataFrame) and list(frame["_step"]) == list(range(10))
    sample = run.history(samples=4, pandas=False)
    assert [r["_step"] for r in sample] == [0, 3, 6, 9]  # spread evenly, ends kept
    val = run.history(keys=["val_acc"], pandas=False)
    assert val == [{"_step": s, "val_acc": pytest.approx(0.1 * s)} for s in (0, 3, 6, 9)]
    assert list(run.history(keys=["val_acc"], x_axis="loss").columns) == ["loss", "val_acc"]

    scan = run.scan_history(page_size=3, min_step=2, max_step=8)
    assert [r["_step"] for r in scan] == [2, 3, 4, 5, 6, 7]
    losses = [r["loss"] for r in run.scan_history(keys=["loss"])]
    assert losses == pytest.approx([1.0 / (s + 1) for s in range(10)])
    assert list(run.scan_history(keys=["val_acc"], min_step=4)) == [
        {"val_acc": pytest.approx(0.6)}, {"val_acc": pytest.approx(0.9)}]
    assert list(run.scan_history(min_step=50)) == []
    with pytest.raises(TypeError, match="list of strings"):
        run.history(keys="loss")  # type: ignore[arg-type]


def test_saved_files_list_and_download(logged: dict[str, str], api: wandb.Api,
                                       tmp_path: Path) -> None:
    run = api.run(f"sweep/{logged['base']}")
    assert [f.name for f in run.files()] == ["notes.txt"]
    file = run.file("notes.txt")
    assert file.size == len("hello from base")
    with file.download(root=tmp_path / "out") as fh:
        assert fh.read() == "hello from base"
    with pytest.raises(ValueError, match="already exists"):
        file.download(root=tmp_path / "out")
    with file.download(root=tmp_path / "out", exist_ok=True) as fh:
        assert fh.read() == "hello from base"
    with pytest.raises(wandb.errors.CommError, match=r"no file 'missing\.txt'"):
        run.file("missing.txt")
    assert api.run(f"sweep/{logged['auto']}").files() == []


def test_artifacts_of_a_run_and_of_a_project(logged: dict[str, str], api: wandb.Api) -> None:
    base = api.run(f"sweep/{logged['base']}")
    logged_names = sorted(a.name for a in base.logged_artifacts())
    assert "dataset" in logged_names and f"run-{base.id}-files" in logged_names
    assert api.artifact_collections("sweep", "dataset") == ["dataset"]
    assert api.artifact_collection_exists("sweep/dataset", "dataset")
    versions = api.artifacts("dataset", "sweep/dataset")
    assert [v.version for v in versions] == ["v0"]
    assert versions[0].get("rows") == wandb.Table(columns=["x"], data=[[1], [2]])
    assert api.artifact("sweep/dataset:latest", type="dataset").version == "v0"
    with pytest.raises(ValueError, match="not 'model'"):
        api.artifact("sweep/dataset:latest", type="model")
    assert api.artifact_exists("sweep/dataset:v0")
    assert not api.artifact_exists("sweep/dataset:v7")
    assert not api.artifact_exists("sweep/dataset:v0", type="model")


def test_update_stores_edits_of_a_run(logged: dict[str, str], api: wandb.Api) -> None:
    run = api.run(f"sweep/{logged['auto']}")
    run.name = "renamed"
    run.tags = [*run.tags, "reviewed"]
    run.config["note"] = "checked"
    run.summary["acc"] = 0.55
    run.update()
    again = api.run(f"sweep/{logged['auto']}")
    assert again.name == "renamed" and again.tags == ["baseline", "v2", "reviewed"]
    assert again.config["note"] == "checked" and again.config["lr"] == "auto"
    assert again.summary["acc"] == 0.55
    assert [r.name for r in api.runs("sweep", filters={"tags": "reviewed"})] == ["renamed"]
