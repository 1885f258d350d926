"""The rest of wandb's Run surface: identity attributes, settable name/notes/tags,
alerts, status, save, and the calls accepted without wandb's effect — each checked
against what lands in queue.db."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.store.queue import Queue


def queued(queue_dir: Path) -> list[wire.Entry]:
    with Queue(queue_dir) as q:
        return [wire.decode_entry(e.payload) for e in q.claim_batch(max_entries=100_000,
                                                                      max_bytes=1 << 40)]


def updates(queue_dir: Path) -> list[dict[str, Any]]:
    return [e.body for e in queued(queue_dir) if e.kind == wire.Kind.RUN_UPDATE]


def test_identity_attributes(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_AGENT_AUTOSTART", "0")  # online, but no agent to start
    before = time.time()
    with wandb.init(project="proj", entity="team", mode="offline") as run:
        assert run.path == f"team/proj/{run.id}"
        assert run.url is None  # offline, as wandb
        assert run.offline and not run.disabled
        assert before <= run.start_time <= time.time()
        assert run.step == 0 and run.resumed is False
        assert run.group is None and run.project == "proj" and run.entity == "team"
        assert Path(run.dir).is_dir() and Path(run.dir).is_relative_to(queue_dir)
    with wandb.init(project="proj", mode="online") as run:
        assert run.url is not None and run.url.endswith(f"/p/-/proj/runs/{run.id}")


def test_name_notes_tags_are_settable_and_the_change_queued(queue_dir: Path) -> None:
    with wandb.init(project="p", name="first", tags=["a"]) as run:
        assert updates(queue_dir) == []  # init's own values travel in the run entry
        run.name = "second"
        run.notes = "some notes"
        run.tags = ("b", "c")
        assert (run.name, run.notes, run.tags) == ("second", "some notes", ("b", "c"))
        with pytest.raises(TypeError, match="sequence of strings"):
            run.tags = "abc"
    assert updates(queue_dir) == [{"name": "second"}, {"notes": "some notes"},
                                  {"tags": ["b", "c"]}]


def test_alert_is_queued_with_wandbs_checks(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.alert("Low accuracy", "acc 0.1 < 0.5", level="WARN",
                  wait_duration=dt.timedelta(minutes=5))
        wandb.alert(title="done", text="all good")
        with pytest.raises(ValueError, match="level must be one of"):
            run.alert("x", "y", level="LOUD")
        with pytest.raises(TypeError, match="wait_duration"):
            run.alert("x", "y", wait_duration="soon")
    alerts = [u["alert"] for u in updates(queue_dir)]
    assert [(a["title"], a["text"], a["level"], a["wait_duration_ms"]) for a in alerts] == [
        ("Low accuracy", "acc 0.1 < 0.5", "WARN", 300_000),
        ("done", "all good", "INFO", 60_000)]


def test_status_counts_what_the_queue_still_holds(queue_dir: Path) -> None:
    with wandb.init(project="p", mode="offline") as run:
        run.log({"a": 1})
        run.flush()
        status = run.status()
        assert status.sync_items_pending >= 2  # the run entry and the row, not yet sent
        assert status.sync_items_total == status.sync_items_pending


def test_save_copies_into_run_dir_and_logs_a_files_artifact(
        queue_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    (work / "ckpt").mkdir(parents=True)
    (work / "ckpt" / "model.bin").write_bytes(b"weights")
    (work / "ckpt" / "notes.txt").write_text("hello")
    monkeypatch.chdir(work)
    with wandb.init(project="p") as run:
        saved = wandb.save("ckpt/*.bin")
        assert saved == [os.path.join(run.dir, "ckpt", "model.bin")]
        run.save(str(work / "ckpt" / "notes.txt"), base_path=str(work))
        with pytest.raises(ValueError, match="policies"):
            run.save("ckpt/*", policy="sometimes")
        files = run.use_artifact(f"run-{run.id}-files:latest")
        assert sorted(files.manifest) == ["ckpt/model.bin", "ckpt/notes.txt"]
    artifacts = [e.body for e in queued(queue_dir) if e.kind == wire.Kind.ARTIFACT]
    assert [(a["name"], a["type"]) for a in artifacts] == [
        (f"run-{run.id}-files", "run_files")] * 2


def test_live_and_end_files_are_saved_again_when_the_run_ends(
        queue_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "end.txt").write_text("first")
    (tmp_path / "now.txt").write_text("first")
    with wandb.init(project="p") as run:
        run.save("end.txt", policy="end")
        run.save("now.txt", policy="now")
        (tmp_path / "end.txt").write_text("changed")
        (tmp_path / "now.txt").write_text("changed")
    assert (Path(run.dir) / "end.txt").read_text() == "changed"
    assert (Path(run.dir) / "now.txt").read_text() == "first"
    artifacts = [e.body for e in queued(queue_dir) if e.kind == wire.Kind.ARTIFACT]
    assert len(artifacts) == 3 and len({a["digest"] for a in artifacts}) == 3


def test_watch_without_torch_names_torch(queue_dir: Path) -> None:
    if "torch" in sys.modules:
        pytest.skip("torch is installed here")
    with wandb.init(project="p") as run:
        with pytest.raises(wandb.Error, match="torch"):
            run.watch(object())
        with pytest.raises(ValueError, match="log must be one of"):
            run.watch(object(), log="weights")
        run.unwatch()


def test_log_code_and_link_artifact_are_accepted(queue_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"w")
    with wandb.init(project="p") as run:
        assert run.log_code(".") is None
        art = wandb.Artifact("model", "model")
        art.add_file(model)
        assert run.link_artifact(art, "team/model-registry/best-models",
                                 aliases=["prod"]) is art
    artifacts = [e.body for e in queued(queue_dir) if e.kind == wire.Kind.ARTIFACT]
    assert sorted(artifacts[0]["aliases"]) == ["best-models", "prod"]


def test_module_level_functions_are_exported_lazily() -> None:
    names = ["log", "log_artifact", "use_artifact", "save", "finish", "define_metric",
             "watch", "unwatch", "alert", "mark_preempting", "run", "config", "summary"]
    assert all(name in dir(wandb) for name in names)
    with pytest.raises(wandb.Error, match=r"tablelog.init\(\) before tablelog.alert"):
        wandb.alert("t", "x")


def test_disabled_runs_accept_everything_and_write_nothing(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("TABLELOG_DIR", str(tmp_path / "q"))
    (tmp_path / "f.txt").write_text("x")
    with wandb.init(project="p", mode="disabled") as run:
        assert run.disabled and run.url is None
        run.define_metric("loss", summary="min")
        run.log({"loss": 1.0})
        run.alert("t", "x")
        run.name = "other"
        assert run.save(str(tmp_path / "f.txt")) == []
        assert run.status().sync_items_pending == 0
    assert not (tmp_path / "q").exists()
