"""Runs, run.log and the local queue: what a training job sees, checked against the
entries that land in queue.db (decoded with tablelog.wire)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.errors import RunError
from tablelog.store.queue import Queue


def queued(queue_dir: Path) -> list[wire.Entry]:
    with Queue(queue_dir) as q:
        return [wire.decode_entry(e.payload) for e in q.claim_batch(max_entries=100_000,
                                                                      max_bytes=1 << 40)]


def history(queue_dir: Path) -> list[dict[str, Any]]:
    return [{"_step": e.body["step"], **e.body["row"]} for e in queued(queue_dir)
            if e.kind == wire.Kind.HISTORY]


def test_init_log_finish_writes_run_history_summary_and_end(queue_dir: Path) -> None:
    with wandb.init(project="proj", config={"lr": 0.1}) as run:
        assert len(run.id) == 8 and run.project == "proj"
        assert wandb.run is run
        run.log({"loss": 0.5, "acc": np.float32(0.25), "ok": True, "name": "a"})
        run.log({"loss": 0.4})
        run.config.update({"epochs": 3})
        run.summary["best"] = 0.9
    assert wandb.run is None
    kinds = [e.kind for e in queued(queue_dir)]
    assert kinds[0] == wire.Kind.RUN and kinds[-1] == wire.Kind.RUN_END
    rows = history(queue_dir)
    assert rows == [{"_step": 0, "loss": 0.5, "acc": 0.25, "ok": True, "name": "a"},
                    {"_step": 1, "loss": 0.4}]
    summaries = [e.body["summary"] for e in queued(queue_dir) if e.kind == wire.Kind.SUMMARY]
    assert summaries[-1]["loss"] == 0.4 and summaries[-1]["best"] == 0.9
    configs = [e.body["config"] for e in queued(queue_dir) if e.kind == wire.Kind.CONFIG]
    assert configs[-1] == {"lr": 0.1, "epochs": 3}


def test_step_and_commit_follow_wandb(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.log({"a": 1}, commit=False)
        run.log({"b": 2})
        run.log({"c": 3}, step=5)
        run.log({"d": 4}, step=5)
        run.log({"e": 5})
        with pytest.warns(RuntimeWarning, match="less than the current step"):
            run.log({"f": 6}, step=1)
    assert history(queue_dir) == [{"_step": 0, "a": 1, "b": 2},
                                  {"_step": 5, "c": 3, "d": 4, "e": 5}]


def test_log_rejects_bad_input_clearly(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        with pytest.raises(TypeError, match="dict"):
            run.log([1, 2])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="object"):
            run.log({"x": object()})
    with pytest.raises(RunError, match="finished"):
        run.log({"x": 1})


def test_table_round_trips_through_use_artifact(queue_dir: Path) -> None:
    table = wandb.Table(columns=["a", "b"], data=[["1a", "1b"], ["2a", "2b"]])
    with wandb.init(project="p") as run:
        run.log({"table_key": table})
        got = run.use_artifact(f"run-{run.id}-table_key:latest").get("table_key")
        assert got == table
        assert run.use_artifact(f"p/run-{run.id}-table_key:v0").get("table_key") == table


def test_images_in_tables_come_back_pixel_exact(queue_dir: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, size=(3, 8, 8, 3), dtype=np.uint8)
    table = wandb.Table(columns=["id", "image"],
                        data=[[i, wandb.Image(p, caption=f"c{i}")] for i, p in enumerate(pixels)])
    with wandb.init(project="p") as run:
        run.log({"preds": table})
        got = run.use_artifact(f"run-{run.id}-preds:latest").get("preds")
    assert got == table
    np.testing.assert_array_equal(got.get_column("image", convert_to="numpy"), pixels)


def test_mutable_table_versions_and_reuses_chunks(queue_dir: Path) -> None:
    table = wandb.Table(columns=["i", "x"], log_mode="MUTABLE")
    with wandb.init(project="p") as run:
        name = f"run-{run.id}-grow"
        for step in range(3):
            for i in range(wire.CHUNK_ROWS):
                table.add_data(step * wire.CHUNK_ROWS + i, float(i))
            run.log({"grow": table})
        run.log({"grow": table})  # unchanged: no new version
        versions = [run.use_artifact(f"{name}:v{v}").get("grow") for v in range(3)]
        with pytest.raises(KeyError):
            run.use_artifact(f"{name}:v3")
    assert [len(t.data) for t in versions] == [512, 1024, 1536]
    assert versions[-1] == table
    refs = [e.body["row"]["grow"] for e in queued(queue_dir) if e.kind == wire.Kind.HISTORY]
    assert [r.nrows for r in refs] == [512, 1024, 1536, 1536]
    assert refs[-1] == refs[-2]
    arts = [e.body for e in queued(queue_dir) if e.kind == wire.Kind.ARTIFACT]
    # each version needs every chunk, but earlier chunks are the same blobs
    chunk_sets = [set(a["entries"]["grow"]["blobs"]) for a in arts]
    assert chunk_sets[0] < chunk_sets[1] < chunk_sets[2]


def test_immutable_relog_after_mutation_warns_and_keeps_version(queue_dir: Path) -> None:
    table = wandb.Table(columns=["a"], data=[[1]])
    with wandb.init(project="p") as run:
        run.log({"t": table})
        with pytest.warns(UserWarning, match="IMMUTABLE") as warned:
            table.add_data(2)
            table.add_data(3)
        assert len(warned) == 1  # once per table, not per mutation
        run.log({"t": table})
    refs = [e.body["row"]["t"] for e in queued(queue_dir) if e.kind == wire.Kind.HISTORY]
    assert refs[0] == refs[1] and refs[0].nrows == 1
    assert sum(e.kind == wire.Kind.ARTIFACT for e in queued(queue_dir)) == 1


def test_incremental_writes_new_rows_and_reads_back_whole(queue_dir: Path) -> None:
    table = wandb.Table(columns=["a"], log_mode="INCREMENTAL")
    with wandb.init(project="p", id="incr0001") as run:
        table.add_data(1)
        run.log({"t": table})
        table.add_data(2)
        run.log({"t": table})
        art_name = f"run-{run.id}-incr-t"  # wandb's name for it
        assert run.use_artifact(f"{art_name}:v0").type == "wandb-run-incremental-table"
        assert run.use_artifact(f"{art_name}:v0").get("t").data == [[1]]
        assert run.use_artifact(f"{art_name}:latest").get("t").data == [[1], [2]]
    arts = [e.body for e in queued(queue_dir) if e.kind == wire.Kind.ARTIFACT]
    first, second = (set(a["entries"]["t"]["blobs"]) for a in arts)
    assert first < second and len(second - first) == 1  # one new chunk: the new row only
    refs = [e.body["row"]["t"] for e in queued(queue_dir) if e.kind == wire.Kind.HISTORY]
    assert [r.kind for r in refs] == ["incremental-table"] * 2
    assert [r.nrows for r in refs] == [1, 2]

    # a resumed run continues the same INCREMENTAL table
    with wandb.init(project="p", id="incr0001", resume="allow") as run:
        assert run.resumed and run.step == 2
        more = wandb.Table(columns=["a"], log_mode="INCREMENTAL")
        more.add_data(3)
        run.log({"t": more})
        assert run.use_artifact(f"{art_name}:latest").get("t").data == [[1], [2], [3]]


def test_incremental_table_belongs_to_one_run(queue_dir: Path) -> None:
    table = wandb.Table(columns=["a"], data=[[1]], log_mode="INCREMENTAL")
    with wandb.init(project="p") as run:
        run.log({"t": table})
    with wandb.init(project="p") as run, pytest.raises(wandb.Error, match="one run"):
        run.log({"t": table})


def test_resume_must_needs_an_existing_run(queue_dir: Path) -> None:
    with pytest.raises(RunError, match="resume='must'"):
        wandb.init(project="p", id="nosuchrn", resume="must")


def test_nested_init_as_in_the_guide(queue_dir: Path) -> None:
    # wandb 0.31 (run in its side venv): a second init() while a run is active returns
    # that run (reinit="default" outside notebooks), so inner is outer
    with wandb.init(project="my_project") as outer:
        with wandb.init() as inner:
            inner.log({"x": 1})
        assert outer is inner
    assert wandb.run is None


def test_disabled_mode_is_a_cheap_no_op(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "disabled")
    with wandb.init(project="p") as run:
        run.log({"t": wandb.Table(columns=["a"], data=[[1]]), "x": 1})
        run.summary["y"] = 2
        run.config.update({"z": 3})
        assert isinstance(run.log_artifact(wandb.Artifact("a", "t")), wandb.Artifact)
        run.flush()
    assert not (queue_dir / "queue.db").exists()


def test_queue_files_are_private(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.log({"img": wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8))})
    assert stat.S_IMODE(os.stat(queue_dir).st_mode) == 0o700
    files = [p for p in queue_dir.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
        (p, oct(p.stat().st_mode)) for p in files]


def test_media_logged_directly_reference_their_blobs(queue_dir: Path) -> None:
    with wandb.init(project="p") as run:
        run.log({"img": wandb.Image(np.zeros((4, 4), dtype=np.uint8), caption="z"),
                 "imgs": [wandb.Image(np.ones((2, 2), dtype=np.uint8))] * 2})
    with Queue(queue_dir) as q:
        entry = next(e for e in q.claim_batch(max_entries=100) if e.kind == "history")
        body = wire.decode_entry(entry.payload).body
        ref = body["row"]["img"]
        assert isinstance(ref, wire.MediaRef) and ref.meta["caption"] == "z"
        assert set(entry.blobs) == {ref.sha256, body["row"]["imgs"][0].sha256}
        assert all(q.blobs.verify(b) for b in entry.blobs)


def test_queue_cap_warns_once_and_training_goes_on(queue_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_QUEUE_MAX_BYTES", "2000")
    run = wandb.init(project="p")
    with pytest.warns(RuntimeWarning, match="could not persist"):
        for i in range(50):
            run.log({"x": i, "pad": "y" * 100})
        run.flush()
    assert run.not_persisted and "queue over its cap" in run.not_persisted[0]
    run.finish(quiet=True)


def test_use_artifact_unknown_names_what_is_missing(queue_dir: Path) -> None:
    with wandb.init(project="p") as run, pytest.raises(KeyError, match="nope:latest"):
        run.use_artifact("nope:latest")


def test_artifact_add_get_files_and_joined_tables(queue_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("hello")
    (tmp_path / "d" / "y.txt").write_text("world")
    t1 = wandb.Table(columns=["id", "a"], data=[[1, "x"], [2, "y"]])
    t2 = wandb.Table(columns=["id", "b"], data=[[1, 10], [3, 30]])
    art = wandb.Artifact("bundle", type="dataset", metadata={"k": 1})
    art.add(t1, "t1")
    art.add(t2, "t2")
    art.add(wandb.JoinedTable("t1", "t2", "id"), "joined")
    art.add_dir(tmp_path / "d")
    with pytest.raises(ValueError, match="not found"):
        art.add(wandb.JoinedTable("t1", "missing", "id"), "bad")
    with wandb.init(project="p") as run:
        run.log_artifact(art, aliases=["best"])
        got = run.use_artifact("bundle:best")
        assert got.version == "v0" and "best" in got.aliases
        assert got.get("t1") == t1
        joined = got.get("joined")
        assert joined.to_table(how="inner").data == [[1, "x", 10]]
        assert Path(got.get("x.txt")).read_text() == "hello"
        assert got.get("nothing") is None
        # other content (t1 alone): a new version, and latest moves to it
        other = wandb.Artifact("bundle", type="dataset", metadata={"k": 1})
        other.add(t1, "t1")
        run.log_artifact(other)
        run.flush()
        assert run.use_artifact("bundle:latest").version == "v1"
        # v0's content again, built anew: no new version; v0 takes the aliases back
        same = wandb.Artifact("bundle", type="dataset", metadata={"k": 1})
        same.add(wandb.Table(columns=["id", "a"], data=[[1, "x"], [2, "y"]]), "t1")
        same.add(t2, "t2")
        same.add(wandb.JoinedTable("t1", "t2", "id"), "joined")
        same.add_dir(tmp_path / "d")
        run.log_artifact(same, aliases=["again"])
        run.flush()
        assert run.use_artifact("bundle:again").version == "v0"
        assert run.use_artifact("bundle:latest").version == "v0"
        assert run.use_artifact("bundle:v1").version == "v1"
        with pytest.raises(KeyError, match="bundle:v2"):
            run.use_artifact("bundle:v2")


def test_an_object_added_and_freed_does_not_stand_for_the_next_one() -> None:
    # Artifact.add remembered objects by id() only: an inline JoinedTable is freed once
    # added, and the next one made could get its id and be taken for it (no error for
    # its missing table). Many rounds make the reuse near certain without the fix.
    t1 = wandb.Table(columns=["id", "a"], data=[[1, "x"]])
    for i in range(200):
        art = wandb.Artifact(f"a{i}", type="dataset")
        art.add(t1, "t1")
        joined = wandb.JoinedTable("t1", "t1", "id")
        art.add(joined, "joined")
        del joined  # freed: the next object made may take its id
        bad = wandb.JoinedTable("t1", "missing", "id")
        with pytest.raises(ValueError, match="not found"):
            art.add(bad, "bad")
