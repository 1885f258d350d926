"""The workflows of W&B's Tables guide (docs.wandb.ai, "Tables"), as written there,
with only the import changed. The guide's undefined names (image files, MNIST
data, a model, table tags) are supplied here, deterministically, so that a
fresh process can rebuild what was logged and compare.

    python guide.py log  WORKDIR   # log every workflow (offline or online, per env)
    python guide.py read WORKDIR   # read every table back by name and compare
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage

import tablelog as wandb

IDS = {"basic": "guide001", "artifact": "guide002", "join": "guide003", "resume": "guide004",
       "frames": "guide005"}


class Model:
    """Stands in for the guide's `my_model`."""

    def predict(self, img: np.ndarray) -> int:
        return int(img.sum()) % 10


def mnist() -> tuple[list[np.ndarray], list[int]]:
    rng = np.random.default_rng(42)
    data = [rng.integers(0, 255, size=(28, 28), dtype=np.uint8) for _ in range(12)]
    return data, [int(x) for x in rng.integers(0, 10, size=12)]


def write_images(workdir: Path) -> None:
    rng = np.random.default_rng(3)
    for i in range(4):
        PILImage.fromarray(rng.integers(0, 255, size=(6, 5, 3), dtype=np.uint8)).save(
            workdir / f"img_{i}.png")


def predictions_table(workdir: Path) -> Any:
    # "From an existing array or dataframe" (the guide's img_N.jpg, as lossless PNG here)
    my_data = [
        [0, wandb.Image(str(workdir / "img_0.png")), 0, 0],
        [1, wandb.Image(str(workdir / "img_1.png")), 8, 0],
        [2, wandb.Image(str(workdir / "img_2.png")), 7, 1],
        [3, wandb.Image(str(workdir / "img_3.png")), 1, 1],
    ]
    columns = ["id", "image", "prediction", "truth"]
    return wandb.Table(data=my_data, columns=columns)


def dataframe_table() -> Any:
    import pandas as pd

    my_df = pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"], "z": [0.5, 1.5, 2.5]})
    return wandb.Table(dataframe=my_df)


def incremental_table(mnist_test_data: list[np.ndarray], mnist_test_data_labels: list[int],
                      my_model: Model) -> Any:
    """The guide's incremental example, with the 10 score columns filled in as well
    (the guide passes 4 values to a 14-column table; `guide_incremental_as_written`
    checks that tablelog says so clearly)."""
    columns = ["id", "image", "guess", "truth"]
    for digit in range(10):
        columns.append(f"score_{digit}")
    test_table = wandb.Table(columns=columns)
    for img_id, img in enumerate(mnist_test_data):
        true_label = mnist_test_data_labels[img_id]
        guess_label = my_model.predict(img)
        scores = [float(d == guess_label) for d in range(10)]
        test_table.add_data(img_id, wandb.Image(img), guess_label, true_label, *scores)
    return test_table


def guide_incremental_as_written(mnist_test_data: list[np.ndarray],
                                 mnist_test_data_labels: list[int], my_model: Model) -> None:
    columns = ["id", "image", "guess", "truth"]
    for digit in range(10):
        columns.append(f"score_{digit}")
    test_table = wandb.Table(columns=columns)
    for img_id, img in enumerate(mnist_test_data):
        true_label = mnist_test_data_labels[img_id]
        guess_label = my_model.predict(img)
        test_table.add_data(img_id, wandb.Image(img), guess_label, true_label)


def expected(workdir: Path) -> dict[str, Any]:
    """Every table the `log` step logs, by `artifact path|entry`."""
    data, labels = mnist()
    t = wandb.Table(columns=["a", "b", "c"], data=[["1a", "1b", "1c"], ["2a", "2b", "2c"]])
    t.add_data("3a", "3b", "3c")
    t.add_column(name="d", data=[1, 2, 3])
    songs = wandb.Table(columns=["song_id", "title"], data=[[i, f"s{i}"] for i in range(5)])
    synth = wandb.Table(columns=["song_id", "score"], data=[[i, i / 10] for i in range(0, 5, 2)])
    return {
        f"run-{IDS['basic']}-table_key:latest|table_key":
            wandb.Table(columns=["a", "b"], data=[["1a", "1b"], ["2a", "2b"]]),
        f"run-{IDS['basic']}-grown:latest|grown": t,
        f"run-{IDS['frames']}-df:latest|df": dataframe_table(),
        f"run-{IDS['frames']}-predictions:latest|predictions": predictions_table(workdir),
        "mnist_test_preds:latest|my_test_key": incremental_table(data, labels, Model()),
        "original_songs:latest|original_samples": songs,
        "synth_songs:latest|synth_samples": synth,
        f"run-{IDS['resume']}-best_checkpt:v0|best_checkpt":
            wandb.Table(columns=["col1", "col2", "col3"], data=[[0, 0.5, 0.1]]),
        f"run-{IDS['resume']}-best_checkpt:latest|best_checkpt":
            wandb.Table(columns=["col1", "col2", "col3"], data=[[0, 0.5, 0.1], [1, 0.6, 0.05]]),
    }


def log_all(workdir: Path) -> None:
    write_images(workdir)
    exp = expected(workdir)
    mnist_test_data, mnist_test_data_labels = mnist()
    my_model = Model()

    # Log a table to a run
    with wandb.init(project="my_project", id=IDS["basic"]) as run:
        my_table = wandb.Table(columns=["a", "b"], data=[["1a", "1b"], ["2a", "2b"]])
        run.log({"table_key": my_table})
        # Add data: a row and a column
        table = wandb.Table(columns=["a", "b", "c"], data=[["1a", "1b", "1c"], ["2a", "2b", "2c"]])
        table.add_data("3a", "3b", "3c")
        table.add_column(name="d", data=[1, 2, 3])
        run.log({"grown": table})

    with wandb.init(project="my_project", id=IDS["frames"]) as run:
        run.log({"df": dataframe_table(), "predictions": predictions_table(workdir)})

    # Artifact tables
    with wandb.init(project="my_project", id=IDS["artifact"]) as run:
        test_predictions = wandb.Artifact("mnist_test_preds", type="predictions")
        test_table = incremental_table(mnist_test_data, mnist_test_data_labels, my_model)
        test_predictions.add(test_table, "my_test_key")
        run.log_artifact(test_predictions)
        songs = wandb.Artifact("original_songs", type="dataset")
        songs.add(exp["original_songs:latest|original_samples"], "original_samples")
        run.log_artifact(songs)
        synth = wandb.Artifact("synth_songs", type="dataset")
        synth.add(exp["synth_songs:latest|synth_samples"], "synth_samples")
        run.log_artifact(synth)

    # Join artifact tables (as written in the guide)
    with wandb.init(project="my_project", id=IDS["join"]) as run:
        orig_songs = run.use_artifact("original_songs:latest")
        orig_table = orig_songs.get("original_samples")
        synth_songs = run.use_artifact("synth_songs:latest")
        synth_table = synth_songs.get("synth_samples")
        join_table = wandb.JoinedTable(orig_table, synth_table, "song_id")
        join_at = wandb.Artifact("synth_summary", "analysis")
        join_at.add(join_table, "synth_explore")
        run.log_artifact(join_at)

    # Add data to resumed runs: first a run that logs the table...
    table_name = "best_checkpt"
    with wandb.init(project="my_project", id=IDS["resume"]) as run:
        run.log({table_name: wandb.Table(columns=["col1", "col2", "col3"], data=[[0, 0.5, 0.1]])})
    table_tag = f"run-{IDS['resume']}-{table_name}:latest"
    # ...then the guide's code, with the resumed id so the new version lands on the same key
    with wandb.init(project="my_project", id=IDS["resume"], resume="allow") as run:
        best_checkpt_table = run.use_artifact(table_tag).get(table_name)
        best_iter, best_metric_max, best_metric_min = best_checkpt_table.data[-1]
        best_iter, best_metric_max, best_metric_min = best_iter + 1, 0.6, 0.05
        best_checkpt_table.add_data(best_iter, best_metric_max, best_metric_min)
        best_checkpt_table = wandb.Table(
            columns=["col1", "col2", "col3"], data=best_checkpt_table.data
        )
        with wandb.init(id=IDS["resume"], project="my_project", resume="allow") as run:
            run.log({table_name: best_checkpt_table})


def read_all(workdir: Path) -> dict[str, Any]:
    """Read every expected table back by name (in a fresh process) and compare."""
    results: dict[str, Any] = {}
    with wandb.init(project="my_project", id="reader01") as run:
        for path, want in expected(workdir).items():
            art_path, entry = path.split("|")
            got = run.use_artifact(art_path).get(entry)
            results[path] = bool(got == want)
        joined = run.use_artifact("synth_summary:latest").get("synth_explore")
        results["synth_summary:latest|synth_explore inner rows"] = len(
            joined.to_table(how="inner").data)
    return results


if __name__ == "__main__":
    command, workdir = sys.argv[1], Path(sys.argv[2])
    if command == "log":
        log_all(workdir)
    else:
        print(json.dumps(read_all(workdir)))
