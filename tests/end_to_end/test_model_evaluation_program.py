"""A whole program in the style of wandb's model-evaluation examples, run with
``import tablelog as wandb`` against a real `tablelog server`: a data run logs a
dataset artifact; training runs use it, log a model artifact and a predictions
table; the best model gets its alias and metadata with `save()`; then `wandb.Api()`
finds, filters and downloads them, and follows which run used what."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tablelog as wandb
from tests.conftest import API_KEY, ENTITY, ServerProcess
from tests.end_to_end.conftest import sync_queue

CLASSES = ["cat", "dog", "bird"]


def _program(work: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(12, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, len(CLASSES), size=12)

    with wandb.init(project="eval", job_type="upload") as run:  # the data run
        raw = wandb.Artifact("animals", type="dataset", description="12 tiny animals",
                             metadata={"classes": CLASSES})
        table = wandb.Table(columns=["id", "image", "label"])
        for i, (img, label) in enumerate(zip(images, labels, strict=True)):
            table.add_data(i, wandb.Image(img), CLASSES[label])
        raw.add(table, "samples")
        with raw.new_file("labels.json") as fh:
            json.dump({"labels": labels.tolist()}, fh)
        run.log_artifact(raw)

    ids = {}
    for lr in (0.1, 0.01):
        config = {"lr": lr, "epochs": 2}
        with wandb.init(project="eval", job_type="train", config=config, group="sweep") as run:
            data = run.use_artifact("animals:latest")
            samples = data.get("samples")
            for epoch in range(config["epochs"]):
                run.log({"epoch": epoch, "loss": lr / (epoch + 1)})
            accuracy = 0.9 if lr == 0.1 else 0.6
            preds = wandb.Table(columns=["id", "truth", "guess", "score"])
            for row in samples.data:
                guess = row[2] if row[0] % 3 else CLASSES[0]
                preds.add_data(row[0], row[2], guess, accuracy)
            run.log({"predictions": preds})
            run.summary["accuracy"] = accuracy
            weights = work / f"model-{lr}.npy"
            np.save(weights, np.full((4, 4), lr))
            model = wandb.Artifact(f"model-{run.id}", type="model", metadata={"lr": lr})
            model.add_file(str(weights), name="weights.npy")
            run.log_artifact(model, aliases=["candidate"])
            ids[str(lr)] = run.id
    return ids


def test_model_evaluation_program(online: Path, live_server: ServerProcess,
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _program(tmp_path)
    sync_queue(online, live_server)
    monkeypatch.chdir(tmp_path)
    api = wandb.Api(overrides={"entity": ENTITY, "project": "eval",
                               "base_url": live_server.url}, api_key=API_KEY)

    # find the best training run with a filter the server evaluates
    best = api.runs("eval", filters={"$and": [{"jobType": "train"},
                                              {"summary_metrics.accuracy": {"$gt": 0.8}}]},
                    order="-summary_metrics.accuracy")
    assert [r.id for r in best] == [ids["0.1"]] and best[0].config["lr"] == 0.1
    assert [r.id for r in api.runs("eval", filters={"group": "sweep"})] == [
        ids["0.1"], ids["0.01"]]

    # promote its model: alias and metadata through save()
    model = api.artifact(f"model-{best[0].id}:candidate", type="model")
    model.aliases.append("production")
    model.metadata["accuracy"] = best[0].summary["accuracy"]
    model.save()
    promoted = api.artifact(f"{ENTITY}/eval/model-{best[0].id}:production")
    assert promoted.metadata == {"lr": 0.1, "accuracy": 0.9}
    assert sorted(promoted.aliases) == ["candidate", "latest", "production"]

    # download it and load the weights as a wandb program would
    path = Path(promoted.download())
    assert path == Path("artifacts") / f"model-{best[0].id}:v0"
    assert np.load(path / "weights.npy")[0, 0] == pytest.approx(0.1)

    # lineage: the dataset the run used, and the runs that used the dataset
    (used,) = best[0].used_artifacts()
    assert used.name == "animals" and used.type == "dataset"
    assert sorted(r.id for r in used.used_by()) == sorted(ids.values())
    logged = {a.name for a in best[0].logged_artifacts()}
    assert {f"model-{best[0].id}", f"run-{best[0].id}-predictions"} <= logged

    # the predictions table and the dataset, read back and downloaded
    preds = api.artifact(f"run-{best[0].id}-predictions:latest").get("predictions")
    assert preds.columns == ["id", "truth", "guess", "score"] and len(preds.data) == 12
    data_dir = Path(api.artifact("animals:latest").download())
    samples = json.loads((data_dir / "samples.table.json").read_text())
    assert samples["nrows"] == 12 and samples["data"][0][1]["_type"] == "image-file"
    assert (data_dir / samples["data"][0][1]["path"]).is_file()
    assert json.loads((data_dir / "labels.json").read_text())["labels"][0] in range(3)
    history = best[0].history(keys=["loss"], pandas=False)
    assert [h["loss"] for h in history] == pytest.approx([0.1, 0.05])
