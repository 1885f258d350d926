"""An artifact's life on a real `tablelog server`: save() of changes through the
queue and through the Api, wait() for the server's version, delete() and what
the server refuses, download() from the server, logged_by()."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import tablelog as wandb
from tests.conftest import API_KEY, ENTITY, ServerProcess
from tests.end_to_end.conftest import sync_queue


@pytest.fixture
def api(live_server: ServerProcess, tmp_path: Path) -> wandb.Api:
    return wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")


def _dataset(n: int) -> wandb.Artifact:
    art = wandb.Artifact("ds", "dataset", description=f"version {n}", metadata={"n": n})
    art.add(wandb.Table(columns=["x"], data=[[i] for i in range(n)]), "rows")
    return art


def test_save_through_the_queue_then_through_the_api(online: Path, live_server: ServerProcess,
                                                     api: wandb.Api, tmp_path: Path) -> None:
    with wandb.init(project="life") as run:
        first = run.log_artifact(_dataset(1), aliases=["raw"])
        run.log_artifact(_dataset(2))
        first.description = "the first cut"
        first.metadata["checked"] = True
        first.aliases.append("best")
        first.tags = ["small"]
        first.ttl = dt.timedelta(days=30)
        first.save()
        run_id = run.id
    sync_queue(online, live_server)

    v0 = api.artifact("life/ds:v0")
    assert v0.description == "the first cut" and v0.metadata == {"n": 1, "checked": True}
    assert sorted(v0.aliases) == ["best", "raw"] and v0.tags == ["small"]
    assert v0.ttl == 30 * 24 * 3600.0 and v0.created_at is not None
    assert api.artifact("life/ds:best").version == "v0"
    assert api.artifact("life/ds:latest").version == "v1"
    assert v0.logged_by().id == run_id

    # read back and edited outside any run: the Api's server takes the change
    v0.aliases = ["raw"]
    v0.save()
    assert sorted(api.artifact("life/ds:v0").aliases) == ["raw"]
    assert not api.artifact_exists("life/ds:best")
    v1 = api.artifact("life/ds:latest")
    v1.aliases = [*v1.aliases, "raw"]  # an alias names one version: it moves
    v1.save()
    assert api.artifact("life/ds:raw").version == "v1"
    root = Path(api.artifact("life/ds:v1").download(str(tmp_path / "dl")))
    assert (root / "rows.table.json").is_file()


def test_delete_refuses_what_a_run_needs_and_aliased_versions(online: Path,
                                                              live_server: ServerProcess,
                                                              api: wandb.Api) -> None:
    with wandb.init(project="life") as run:
        run.log_artifact(_dataset(1), aliases=["keep"])
        run.log_artifact(_dataset(2))
        run.log({"table": wandb.Table(columns=["a"], data=[[1]])})
        run_id = run.id
    sync_queue(online, live_server)

    with pytest.raises(wandb.errors.CommError, match="history"):
        api.artifact(f"life/run-{run_id}-table:v0").delete()
    aliased = api.artifact("life/ds:v0")
    with pytest.raises(wandb.errors.CommError, match="delete_aliases"):
        aliased.delete()
    latest = api.artifact("life/ds:latest")
    latest.delete()
    assert api.artifact("life/ds:latest").version == "v0"  # latest moved back
    aliased.delete(delete_aliases=True)
    assert not api.artifact_exists("life/ds:v0") and not api.artifact_exists("life/ds:keep")
    with pytest.raises(wandb.errors.CommError):
        api.artifact("life/ds:latest")


def test_wait_online_gives_the_servers_version(live_server: ServerProcess, queue_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               api: wandb.Api) -> None:
    monkeypatch.setenv("TABLELOG_BASE_URL", live_server.url)
    monkeypatch.setenv("TABLELOG_API_KEY", API_KEY)
    monkeypatch.setenv("TABLELOG_MODE", "online")
    with wandb.init(project="waits") as run:  # the SDK starts its agent
        art = run.log_artifact(_dataset(3))
        art.wait(timeout=60)
        assert art.version == "v0" and art.entity == ENTITY
        assert art.created_at is not None
    assert api.artifact("waits/ds:v0").digest == art.digest
