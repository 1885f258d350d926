"""What an `Image` carries over its pixels, as wandb 0.31 takes them: bounding
boxes, segmentation masks, and the `Classes` their ids name.

- ``boxes={"predictions": {"box_data": [box, ...], "class_labels": {id: name}}}``;
  a box has a ``position`` of ``minX, maxX, minY, maxY`` or ``middle: [x, y],
  width, height`` (``domain="pixel"`` for pixel coordinates, else fractions of
  the image), and optional ``class_id`` (int), ``box_caption`` (str) and
  ``scores`` ({str: number}). Several box sets per image.
- ``masks={"ground_truth": {"mask_data": (H, W) ints in 0-255 | "path": png,
  "class_labels": {id: name}}}``; without class labels, the ids in the mask name
  themselves, as wandb.
- ``Classes([{"id": int | str, "name": str}, ...])``.

A check fails with `OverlayError`, a TypeError (as wandb raises) that is also
tablelog's `MediaError`, naming the box set and the box or mask.

Stored with the image's blob: boxes as their plain dicts, each mask as a PNG of
its class ids (lossless, small), all inside the image's metadata.
"""

from __future__ import annotations

import io
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tablelog.errors import OverlayError

POSITION_ERROR = ("Each box must contain a position with: middle, width, and height or "
                  "minX, maxX, minY, maxY.")


class Classes:
    """wandb's ``Classes(class_set)``: the classes that box and mask ids name."""

    _log_type = "classes"

    def __init__(self, class_set: Sequence[Mapping[str, Any]]) -> None:
        if isinstance(class_set, str | bytes) or not isinstance(class_set, Sequence):
            raise OverlayError(f"Classes takes a list of {{'id', 'name'}} dicts, got "
                               f"{type(class_set).__name__}")
        for i, item in enumerate(class_set):
            if not isinstance(item, Mapping) or "id" not in item or "name" not in item:
                raise OverlayError(f"Classes entry {i} must be a dict with 'id' and 'name', "
                                   f"got {item!r}")
        self._class_set = [dict(item) for item in class_set]

    @property
    def class_set(self) -> list[dict[str, Any]]:
        return [dict(item) for item in self._class_set]

    def labels(self) -> dict[Any, str]:
        """id -> name."""
        return {item["id"]: str(item["name"]) for item in self._class_set}

    def to_json(self, run_or_artifact: Any = None) -> dict[str, Any]:
        return {"_type": self._log_type, "class_set": self.class_set}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Classes) and self._class_set == other._class_set

    def __hash__(self) -> int:
        return hash(repr(self._class_set))

    def __repr__(self) -> str:
        return f"<Classes {len(self._class_set)}>"


def as_classes(value: Any) -> Classes | None:
    """`Image(classes=)`: a Classes, or the list it is made of."""
    if value is None or isinstance(value, Classes):
        return value
    return Classes(value)


def _has_num(obj: Mapping[str, Any], key: str) -> bool:
    return key in obj and isinstance(obj[key], numbers.Number) \
        and not isinstance(obj[key], bool)


def _class_labels(value: Any, where: str) -> dict[Any, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, numbers.Number) and not isinstance(k, bool) and isinstance(v, str)
            for k, v in value.items()):
        raise OverlayError(f"{where}: Class labels must be a dictionary of numbers to strings")
    return {int(k) if float(k).is_integer() else k: v for k, v in value.items()}


def _plain_number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def check_boxes(boxes: Any) -> dict[str, dict[str, Any]]:
    """`Image(boxes=)` checked as wandb checks it; the plain form that is stored."""
    if not isinstance(boxes, Mapping):
        raise OverlayError(f"boxes must be a dict of box set name -> {{'box_data': [...]}}, "
                           f"got {type(boxes).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for name, value in boxes.items():
        if not isinstance(name, str):
            raise OverlayError(f"box set names must be strings, got {name!r}")
        value = getattr(value, "_val", value)  # a wandb-style BoundingBoxes2D
        where = f"boxes[{name!r}]"
        if not isinstance(value, Mapping) or "box_data" not in value:
            raise OverlayError(f"{where} must be a dict with 'box_data' (a list of boxes)")
        labels = _class_labels(value.get("class_labels"), where)
        data = value["box_data"]
        if not isinstance(data, list):
            raise OverlayError(f"{where}: Boxes must be a list")
        plain: list[dict[str, Any]] = []
        for i, box in enumerate(data):
            at = f"{where} box {i}"
            if not isinstance(box, Mapping) or not isinstance(box.get("position"), Mapping):
                raise OverlayError(f"{at}: {POSITION_ERROR}")
            pos = {k: _plain_number(v) for k, v in box["position"].items()}
            middle = pos.get("middle")
            if isinstance(middle, list | tuple | np.ndarray) and len(middle) == 2 \
                    and _has_num(pos, "width") and _has_num(pos, "height"):
                pos["middle"] = [_plain_number(v) for v in middle]
            elif not all(_has_num(pos, k) for k in ("minX", "maxX", "minY", "maxY")):
                raise OverlayError(f"{at}: {POSITION_ERROR}")
            entry: dict[str, Any] = {"position": pos}
            for key in ("class_id", "box_caption", "scores", "domain"):
                if key in box:
                    entry[key] = box[key]
            if "class_id" in entry and (not isinstance(entry["class_id"], int | np.integer)
                                        or isinstance(entry["class_id"], bool)):
                raise OverlayError(f"{at}: A box's class_id must be an integer")
            if "class_id" in entry:
                entry["class_id"] = int(entry["class_id"])
            if "box_caption" in entry and not isinstance(entry["box_caption"], str):
                raise OverlayError(f"{at}: A box's caption must be a string")
            if "scores" in entry:
                scores = entry["scores"]
                if not isinstance(scores, Mapping):
                    raise OverlayError(f"{at}: Box scores must be a dictionary")
                for k, v in scores.items():
                    if not isinstance(k, str):
                        raise OverlayError(f"{at}: A score key must be a string")
                    if not isinstance(v, numbers.Number) or isinstance(v, bool):
                        raise OverlayError(f"{at}: A score value must be a number")
                entry["scores"] = {k: _plain_number(v) for k, v in scores.items()}
            if "domain" in entry and entry["domain"] not in ("pixel", None):
                raise OverlayError(f"{at}: domain must be 'pixel' or None, got "
                                   f"{entry['domain']!r}")
            plain.append(entry)
        out[name] = {"box_data": plain, "class_labels": labels}
    return out


class Mask:
    """One segmentation mask: class ids per pixel, and their names."""

    def __init__(self, data: np.ndarray[Any, Any], class_labels: dict[Any, str]) -> None:
        self.data = data
        self.class_labels = class_labels

    def png(self) -> bytes:
        from PIL import Image as PILImage

        buf = io.BytesIO()
        PILImage.fromarray(self.data, mode="L").save(buf, format="PNG")
        return buf.getvalue()

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Mask) and self.class_labels == other.class_labels
                and self.data.shape == other.data.shape
                and bool(np.array_equal(self.data, other.data)))

    def __hash__(self) -> int:
        return hash((self.data.shape, self.data.tobytes()))


def check_masks(masks: Any) -> dict[str, Mask]:
    """`Image(masks=)` checked as wandb checks it."""
    if not isinstance(masks, Mapping):
        raise OverlayError(f"masks must be a dict of mask name -> {{'mask_data': array}}, "
                           f"got {type(masks).__name__}")
    out: dict[str, Mask] = {}
    for name, value in masks.items():
        if not isinstance(name, str):
            raise OverlayError(f"mask names must be strings, got {name!r}")
        value = getattr(value, "_val", value)  # a wandb-style ImageMask
        where = f"masks[{name!r}]"
        if not isinstance(value, Mapping):
            raise OverlayError(f"{where} must be a dict with 'mask_data' or 'path'")
        if "path" in value and "mask_data" not in value:
            data = _mask_from_file(value["path"], where)
        elif "mask_data" in value:
            data = value["mask_data"]
            if hasattr(data, "detach") and hasattr(data, "cpu"):  # torch
                data = data.detach().cpu().numpy()
            data = np.asarray(data)
        else:
            raise OverlayError(f'{where}: Missing key "mask_data": An image mask requires '
                               "mask data: a 2D array representing the predictions")
        if data.ndim != 2:
            raise OverlayError(f"{where}: mask_data must be a 2D array, got shape "
                               f"{tuple(data.shape)}")
        if not (np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_) \
                or (data.size and (data.min() < 0 or data.max() > 255)):
            raise OverlayError(f"{where}: Mask data must be integers between 0 and 255")
        labels = _class_labels(value.get("class_labels"), where)
        if not labels:  # as wandb: the ids present name themselves
            labels = {int(i): str(int(i)) for i in np.unique(data)}
        out[name] = Mask(np.asarray(data, dtype=np.uint8), labels)
    return out


def _mask_from_file(path: Any, where: str) -> np.ndarray[Any, Any]:
    if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
        raise OverlayError(f"{where}: mask path {path!r} is not a file")
    from PIL import Image as PILImage

    with PILImage.open(path) as pil:
        return np.asarray(pil.convert("L") if pil.mode not in ("L", "P") else pil)


# -- stored form (in the image's metadata) ----------------------------------------------


def boxes_meta(boxes: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {name: {"box_data": list(v["box_data"]),
                   "class_labels": {str(k): n for k, n in v["class_labels"].items()}}
            for name, v in boxes.items()}


def boxes_from_meta(meta: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(meta, Mapping):
        return {}
    return {str(name): {"box_data": list(v.get("box_data") or []),
                        "class_labels": _labels_from_meta(v.get("class_labels"))}
            for name, v in meta.items() if isinstance(v, Mapping)}


def masks_meta(masks: Mapping[str, Mask]) -> dict[str, Any]:
    return {name: {"png": m.png(), "class_labels": {str(k): n for k, n in
                                                    m.class_labels.items()}}
            for name, m in masks.items()}


def masks_from_meta(meta: Any) -> dict[str, Mask]:
    if not isinstance(meta, Mapping):
        return {}
    from PIL import Image as PILImage

    out = {}
    for name, v in meta.items():
        if isinstance(v, Mapping) and isinstance(v.get("png"), bytes):
            with PILImage.open(io.BytesIO(v["png"])) as pil:
                data = np.asarray(pil, dtype=np.uint8).copy()
            out[str(name)] = Mask(data, _labels_from_meta(v.get("class_labels")))
    return out


def _labels_from_meta(value: Any) -> dict[Any, str]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[Any, str] = {}
    for k, v in value.items():
        try:
            out[int(k)] = str(v)
        except (TypeError, ValueError):
            out[k] = str(v)
    return out
