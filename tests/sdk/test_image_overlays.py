"""Boxes, masks and classes on `Image`, as wandb 0.31 takes and checks them: kept
through a run and read back with `use_artifact(...).get(...)`, with real PNG
encoding of the masks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog as wandb
from tablelog.errors import MediaError, OverlayError

PIXELS = np.zeros((8, 10, 3), dtype=np.uint8)
LABELS = {0: "background", 1: "cat", 2: "dog"}


def _boxes() -> dict[str, Any]:
    return {"predictions": {"box_data": [
        {"position": {"minX": 0.1, "maxX": 0.5, "minY": 0.2, "maxY": 0.6}, "class_id": 1,
         "box_caption": "cat 0.9", "scores": {"conf": np.float32(0.9)}},
        {"position": {"middle": [5, 4], "width": 4, "height": 2}, "domain": "pixel",
         "class_id": np.int64(2)}], "class_labels": LABELS},
        "ground_truth": {"box_data": [
            {"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1}, "class_id": 1}]}}


def _mask() -> np.ndarray[Any, Any]:
    mask = np.zeros((8, 10), dtype=np.int64)
    mask[2:5, 3:7] = 1
    mask[6:, :2] = 2
    return mask


def test_boxes_masks_and_classes_are_kept(tmp_path: Path) -> None:
    classes = wandb.Classes([{"id": i, "name": n} for i, n in LABELS.items()])
    image = wandb.Image(PIXELS, caption="c", boxes=_boxes(),
                        masks={"truth": {"mask_data": _mask(), "class_labels": LABELS}},
                        classes=classes)
    assert set(image.boxes) == {"predictions", "ground_truth"}
    first = image.boxes["predictions"]["box_data"][0]
    assert first["scores"] == {"conf": pytest.approx(0.9)} and first["class_id"] == 1
    assert image.boxes["predictions"]["box_data"][1]["class_id"] == 2
    assert np.array_equal(image.masks["truth"].data, _mask())
    assert image.classes == classes and classes.to_json()["_type"] == "classes"
    png = tmp_path / "mask.png"
    from PIL import Image as PILImage

    PILImage.fromarray(_mask().astype(np.uint8)).save(png)
    from_file = wandb.Image(PIXELS, masks={"m": {"path": str(png)}})
    assert np.array_equal(from_file.masks["m"].data, _mask())
    assert from_file.masks["m"].class_labels == {0: "0", 1: "1", 2: "2"}  # as wandb
    assert wandb.Image(image) == image  # a copy keeps the overlays
    assert wandb.Image(PIXELS, caption="c") != image


def test_stored_and_read_back(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    image = wandb.Image(PIXELS, boxes=_boxes(), masks={"truth": {"mask_data": _mask()}},
                        classes=[{"id": 1, "name": "cat"}])
    table = wandb.Table(columns=["id", "image"], data=[[0, image]])
    with wandb.init(project="overlays") as run:
        run.log({"samples": table})
        got = run.use_artifact(f"run-{run.id}-samples:latest").get("samples")
    back = got.data[0][1]
    assert back == image
    assert back.boxes == image.boxes and back.classes == image.classes
    assert np.array_equal(back.masks["truth"].data, _mask())
    assert wandb.Image.all_boxes([back, wandb.Image(PIXELS)]) == [image.boxes, {}]
    masks = wandb.Image.all_masks([back])
    assert masks is not False and np.array_equal(masks[0]["truth"]["mask_data"], _mask())
    assert wandb.Image.all_captions([back]) is False
    assert wandb.Image.all_masks([wandb.Image(PIXELS)]) is False


def test_the_column_type_carries_wandbs_layers_and_class_maps() -> None:
    from tablelog.data_types.dtypes import dtype_from_plain

    table = wandb.Table(columns=["image"])
    table.add_data(wandb.Image(PIXELS))
    assert table._column_types["image"].to_plain()["params"]["allowed_types"][0] == {
        "wb_type": "image-file"}  # no layers yet: wandb's params are all empty
    table.add_data(wandb.Image(PIXELS, boxes={"predictions": _boxes()["predictions"]},
                               classes=[{"id": 1, "name": "cat"}]))
    table.add_data(wandb.Image(PIXELS, masks={"truth": {"mask_data": _mask(),
                                                        "class_labels": {0: "bg", 7: "x"}}},
                               boxes={"predictions": {"box_data": [], "class_labels": {
                                   9: "bird"}}}))
    (image_type,) = [m for m in table._column_types["image"].members  # type: ignore
                     if m.to_plain()["wb_type"] == "image-file"]
    assert image_type.to_plain() == {"wb_type": "image-file", "params": {
        "box_layers": {"predictions": [0, 1, 2, 9]}, "box_score_keys": ["conf"],
        "mask_layers": {"truth": [0, 7]},
        "box_class_maps": {"predictions": {"0": "background", "1": "cat", "2": "dog",
                                           "9": "bird"}},
        "mask_class_maps": {"truth": {"0": "bg", "7": "x"}},
        "class_map": {"1": "cat"}}}
    assert dtype_from_plain(image_type.to_plain()) == image_type  # as stored and read back
    assert image_type.assign(wandb.Image(PIXELS)) is image_type  # never refused, unchanged
    assert image_type.assign(wandb.Audio(np.zeros(10), sample_rate=8000)) is None


@pytest.mark.parametrize(("boxes", "message"), [
    ({"p": {"box_data": [{"class_id": 1}]}}, "must contain a position"),
    ({"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0}}]}},
     "must contain a position"),
    ({"p": {"box_data": [{"position": {"middle": [1], "width": 1, "height": 1}}]}},
     "must contain a position"),
    ({"p": {"box_data": {"position": {}}}}, "Boxes must be a list"),
    ({"p": {"box_data": [], "class_labels": {"a": "b"}}}, "numbers to strings"),
    ({"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1},
                          "class_id": 1.5}]}}, "class_id must be an integer"),
    ({"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1},
                          "scores": {"a": "high"}}]}}, "score value must be a number"),
    ({"p": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1},
                          "box_caption": 3}]}}, "caption must be a string"),
    ({"p": [1, 2]}, "must be a dict with 'box_data'"),
    ([1], "boxes must be a dict"),
])
def test_bad_boxes_are_typeerrors_naming_the_box(boxes: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message) as caught:
        wandb.Image(PIXELS, boxes=boxes)
    assert isinstance(caught.value, MediaError) and isinstance(caught.value, OverlayError)


@pytest.mark.parametrize(("masks", "message"), [
    ({"m": {"class_labels": {}}}, 'Missing key "mask_data"'),
    ({"m": {"mask_data": np.zeros((2, 2, 2), dtype=np.int64)}}, "2D array"),
    ({"m": {"mask_data": np.full((2, 2), 300)}}, "between 0 and 255"),
    ({"m": {"mask_data": np.zeros((2, 2)) + 0.5}}, "between 0 and 255"),
    ({"m": {"path": "/no/such.png"}}, "not a file"),
])
def test_bad_masks(masks: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        wandb.Image(PIXELS, masks=masks)


def test_bad_classes() -> None:
    with pytest.raises(TypeError, match="'id' and 'name'"):
        wandb.Classes([{"id": 1}])
    with pytest.raises(TypeError, match="list"):
        wandb.Classes("cat")
