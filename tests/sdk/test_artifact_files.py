"""Artifacts with files the wandb way, offline (the local queue and blob store):
add_file's policies, new_file, add_dir, references, remove, entries, download in
wandb's on-disk form, checkout and verify, wait and save, and wandb's rules for
types, names and aliases."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.errors import ArtifactError, ArtifactStateError
from tablelog.store.queue import Queue


@pytest.fixture(autouse=True)
def offline(queue_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    monkeypatch.chdir(tmp_path)


def _logged(art: wandb.Artifact, **kw: object) -> wandb.Artifact:
    with wandb.init(project="files") as run:
        run.log_artifact(art, **kw)  # type: ignore[arg-type]
        art.wait()
    return art


def test_add_file_copies_by_default_and_reads_later_when_immutable(tmp_path: Path) -> None:
    mutable, immutable = tmp_path / "m.txt", tmp_path / "i.txt"
    mutable.write_text("before")
    immutable.write_text("before")
    art = wandb.Artifact("files", "dataset")
    entry = art.add_file(str(mutable))
    assert entry.path == "m.txt" and entry.size == len("before")
    art.add_file(str(immutable), name="sub/i.txt", policy="immutable")
    mutable.write_text("after, and longer")
    immutable.write_text("after")
    _logged(art)
    assert Path(art.get("m.txt")).read_text() == "before"  # copied at add_file
    assert Path(art.get("sub/i.txt")).read_text() == "after"  # read when logged
    with pytest.raises(ValueError, match="policy"):
        wandb.Artifact("x", "dataset").add_file(str(mutable), policy="sometimes")


def test_is_tmp_names_by_content_and_overwrite(tmp_path: Path) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"\x00\x01")
    art = wandb.Artifact("model", "model")
    entry = art.add_file(str(src), name="ckpt/weights.bin", is_tmp=True)
    digest = wire.sha256_hex(b"\x00\x01")
    assert entry.path == f"ckpt/{digest[:20]}.bin"
    art.add_file(str(src), name="w.bin")
    with pytest.raises(ValueError, match="already has an entry"):
        art.add_file(str(src), name="w.bin")
    art.add_file(str(src), name="w.bin", overwrite=True)


def test_new_file_add_dir_and_remove(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "a" / "x.csv").write_text("1,2\n")
    (data / "y.csv").write_text("3,4\n")
    art = wandb.Artifact("raw", "dataset")
    with art.new_file("notes/readme.md") as fh:
        fh.write("# raw data\n")
    art.add_dir(str(data), name="csv")
    assert {e.path for e in (art.get_entry("csv/a/x.csv"), art.get_entry("csv/y.csv"))}
    art.remove("csv/y.csv")
    with pytest.raises(FileNotFoundError, match="missing entry"):
        art.remove("csv/y.csv")
    art["table"] = wandb.Table(columns=["a"], data=[[1]])
    _logged(art)
    assert sorted(art.entries()) == ["csv/a/x.csv", "notes/readme.md", "table"]
    assert Path(art["notes/readme.md"]).read_text() == "# raw data\n"
    assert art["table"] == wandb.Table(columns=["a"], data=[[1]])


def test_references_file_stored_remote_recorded(tmp_path: Path) -> None:
    local = tmp_path / "shard.txt"
    local.write_text("local bytes")
    art = wandb.Artifact("refs", "dataset")
    (stored,) = art.add_reference(f"file://{local}")
    (remote,) = art.add_reference("s3://bucket/path/train.tfrecord")
    (web,) = art.add_reference("https://example.com/data.csv", name="web.csv")
    assert (stored.path, remote.path, web.path) == ("shard.txt", "train.tfrecord", "web.csv")
    with pytest.raises(ValueError, match="scheme"):
        art.add_reference("just/a/path")
    _logged(art)
    assert Path(art.get("shard.txt")).read_text() == "local bytes"
    entry = art.get_entry("train.tfrecord")
    assert entry.ref == "s3://bucket/path/train.tfrecord" and entry.ref_url() == entry.ref
    assert art.size == len("local bytes")  # references hold no bytes here
    with pytest.raises(ArtifactError, match="allow_missing_references"):
        art.download(str(tmp_path / "out"))
    root = Path(art.download(str(tmp_path / "out"), allow_missing_references=True))
    assert sorted(p.name for p in root.iterdir()) == ["shard.txt"]


def test_download_writes_wandb_form(tmp_path: Path) -> None:
    pixels = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    table = wandb.Table(columns=["id", "img", "when"],
                        data=[[1, wandb.Image(pixels, caption="c"), np.float32(0.5)]])
    src = tmp_path / "labels.txt"
    src.write_text("cat\ndog\n")
    art = wandb.Artifact("preds", "predictions")
    art.add(table, "t")
    art.add(wandb.JoinedTable("t", "t", "id"), "self")
    art.add(wandb.Image(pixels), "cover")
    art.add_file(str(src))
    _logged(art)
    root = Path(art.download())
    assert root == Path("artifacts") / f"preds:{art.version}"
    doc = json.loads((root / "t.table.json").read_text())
    assert doc["_type"] == "table" and doc["columns"] == ["id", "img", "when"]
    assert doc["nrows"] == 1 and doc["data"][0][0] == 1 and doc["data"][0][2] == 0.5
    cell = doc["data"][0][1]
    assert cell["_type"] == "image-file" and cell["path"].startswith("media/images/")
    assert wire.sha256_file(root / cell["path"]) == cell["sha256"] and cell["caption"] == "c"
    joined = json.loads((root / "self.joined-table.json").read_text())
    assert joined == {"_type": "joined-table", "table1": "t.table.json",
                      "table2": "t.table.json", "join_key": "id"}
    assert json.loads((root / "cover.image-file.json").read_text())["width"] == 4
    assert (root / "labels.txt").read_text() == "cat\ndog\n"
    assert art.get_entry("labels.txt").download(str(tmp_path / "one")) == str(
        tmp_path / "one" / "labels.txt")
    art.verify(str(root))
    (root / "labels.txt").write_text("changed")
    with pytest.raises(ValueError, match="does not match"):
        art.verify(str(root))
    (root / "stray.bin").write_bytes(b"x")
    art.checkout(str(root))
    assert not (root / "stray.bin").exists()
    assert (root / "labels.txt").read_text() == "cat\ndog\n"
    art.verify(str(root))


def test_file_of_a_single_file_artifact(tmp_path: Path) -> None:
    src = tmp_path / "model.pt"
    src.write_bytes(b"weights")
    with wandb.init(project="files") as run:
        art = run.log_artifact(str(src), name="model", type="model")
        art.wait()
    assert Path(art.file(str(tmp_path / "dl"))).read_bytes() == b"weights"
    assert art.source_name == f"model:{art.version}" and art.state == "COMMITTED"
    assert art.qualified_name.endswith(f"/files/model:{art.version}")


def test_joined_table_of_entries() -> None:
    left = wandb.Table(columns=["id", "x"], data=[[1, "a"], [2, "b"]])
    right = wandb.Table(columns=["id", "y"], data=[[1, 10], [2, 20]])
    art = wandb.Artifact("pair", "dataset")
    art.add(left, "left")
    art.add(right, "right")
    _logged(art)
    joined = wandb.JoinedTable(art.get_entry("left.table.json"), art.get_entry("right"), "id")
    got = joined.to_table()
    assert got.columns == ["id", "x", "y"]
    assert sorted(got.data) == [[1, "a", 10], [2, "b", 20]]


def test_wandb_rules_for_types_names_and_aliases() -> None:
    for reserved in ("job", "wandb-history"):
        with pytest.raises(ValueError, match="reserved"):
            wandb.Artifact("a", reserved)
    with pytest.raises(ArtifactStateError, match="alphanumeric"):
        wandb.Artifact("bad/name", "dataset")
    with pytest.raises(ArtifactStateError, match="128"):
        wandb.Artifact("a" * 129, "dataset")
    with wandb.init(project="files") as run:
        for alias in ("a/b", "x:y"):
            with pytest.raises(ValueError, match="must not contain"):
                run.log_artifact(wandb.Artifact("ok", "dataset"), aliases=[alias])
        with pytest.raises(ValueError, match="version"):
            run.log_artifact(wandb.Artifact("ok", "dataset"), aliases=["v3"])


def test_wait_and_save_after_logging(queue_dir: Path) -> None:
    art = wandb.Artifact("tuned", "model", description="first")
    art.add(wandb.Table(columns=["a"], data=[[1]]), "t")
    with wandb.init(project="files") as run:
        run.log_artifact(art, aliases=["candidate"])
        assert art.wait() is art and art.version == "v0"
        art.description = "second"
        art.metadata["acc"] = 0.9
        art.aliases.append("best")
        art.tags = ["fast"]
        art.save()
    with Queue(queue_dir) as queue:
        entries = [wire.decode_entry(e.payload) for e in queue.claim_batch(
            max_entries=100_000, max_bytes=1 << 40)]
    bodies = [e.body for e in entries if e.kind is wire.Kind.ARTIFACT_UPDATE]
    assert len(bodies) == 1
    assert bodies[0]["digest"] == art.digest and bodies[0]["description"] == "second"
    assert bodies[0]["metadata"] == {"acc": 0.9} and bodies[0]["tags"] == ["fast"]
    assert sorted(bodies[0]["aliases"]) == ["best", "candidate"]
    with pytest.raises(ArtifactStateError, match="open"):
        art.save()  # the run that logged it has finished


def test_save_before_logging_logs_with_the_active_run() -> None:
    art = wandb.Artifact("later", "dataset")
    art.add(wandb.Table(columns=["a"], data=[[1]]), "t")
    with pytest.raises(ArtifactStateError, match="init"):
        art.save()
    with wandb.init(project="files"):
        art.save()
        art.wait()
    assert art.version == "v0"


def test_staged_copies_are_removed_once_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(1000))
    art = wandb.Artifact("staged", "dataset")
    art.add_file(str(src))
    with art.new_file("n.txt") as fh:
        fh.write("n")
    assert len(list((tmp_path / "tmp").iterdir())) == 2
    _logged(art)
    assert list((tmp_path / "tmp").iterdir()) == []


def test_timestamps_in_wandb_json_are_epoch_milliseconds(tmp_path: Path) -> None:
    import datetime

    rows = [[datetime.datetime(2000, 12, d), datetime.date(2000, 12, d),
             np.datetime64(f"2000-12-0{d}"), d] for d in (1, 2)]
    table = wandb.Table(columns=["dt", "t", "np", "d"], data=rows)
    expected = [[975628800000, 975628800000, 975628800000, 1],
                [975715200000, 975715200000, 975715200000, 2]]
    assert table.to_json(wandb.Artifact("A", "B"))["data"] == expected  # as wandb's
    art = wandb.Artifact("times", "dataset")
    art.add(table, "t")
    _logged(art)
    doc = json.loads((Path(art.download(str(tmp_path / "dl"))) / "t.table.json").read_text())
    assert doc["data"] == expected
