"""Images with their boxes and masks drawn over them, and the page's controls for them.

An image that has box or mask sets is drawn as one SVG whose viewBox is the
image's pixel grid: the picture, then each mask as one layer per class (a PNG
of that class's pixels in the class's colour, a data: URL), then each box as a
rectangle with its label and scores. Everything scales together, on the
thumbnail and on the full-size view (viewer.js enlarges the same SVG), and
the page CSP needs nothing inline: SVG presentation attributes only.

Every layer carries ``data-set`` (its box or mask set), ``data-class`` and,
for a box, ``data-scores`` (JSON); `overlay_controls` lists the sets, classes
and score names of a page's images as checkboxes and sliders, which viewer.js
applies to every image of the page. Without the script all is shown.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tablelog import wire
from tablelog_server.viewer.html import Html, el
from tablelog_server.viewer.numbers import fmt_number

THUMB_PX = 128  # the longer side of a thumbnail
MIN_THUMB_PX = 48
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000",
           "#aaffc3", "#808000", "#ffd8b1", "#000075", "#a9a9a9", "#ffe119")
"""Class colours, by class id (mod 20); well apart from each other."""


def class_color(class_id: Any) -> str:
    try:
        return PALETTE[int(class_id) % len(PALETTE)]
    except (TypeError, ValueError):
        return PALETTE[sum(str(class_id).encode()) % len(PALETTE)]


def has_overlays(meta: Mapping[str, Any]) -> bool:
    return bool(meta.get("boxes") or meta.get("masks"))


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _box_rect(position: Any, domain: Any, w: int, h: int) -> tuple[float, ...] | None:
    """(x, y, width, height) in pixels, or None for a position we cannot read."""
    if not isinstance(position, Mapping):
        return None
    sx, sy = (1.0, 1.0) if domain == "pixel" else (float(w), float(h))
    if all(_num(position.get(k)) is not None for k in ("minX", "maxX", "minY", "maxY")):
        x0, x1 = sorted((position["minX"] * sx, position["maxX"] * sx))
        y0, y1 = sorted((position["minY"] * sy, position["maxY"] * sy))
        return x0, y0, x1 - x0, y1 - y0
    middle = position.get("middle")
    if (isinstance(middle, list | tuple) and len(middle) == 2
            and _num(position.get("width")) is not None
            and _num(position.get("height")) is not None):
        bw, bh = position["width"] * sx, position["height"] * sy
        return middle[0] * sx - bw / 2, middle[1] * sy - bh / 2, bw, bh
    return None


def _boxes(meta: Mapping[str, Any], w: int, h: int) -> list[Html]:
    out = []
    font = max(w, h) / 14
    for set_name, box_set in (meta.get("boxes") or {}).items():
        if not isinstance(box_set, Mapping):
            continue
        labels = _labels(box_set.get("class_labels"))
        for box in box_set.get("box_data") or []:
            rect = _box_rect(box.get("position"), box.get("domain"), w, h) \
                if isinstance(box, Mapping) else None
            if rect is None:
                continue
            cid = box.get("class_id")
            color = class_color(cid)
            scores = {str(k): v for k, v in (box.get("scores") or {}).items()
                      if _num(v) is not None}
            text = str(box.get("box_caption") or labels.get(str(cid), "" if cid is None
                                                            else str(cid)))
            text = " ".join([text, *(f"{k} {fmt_number(v)}" for k, v in scores.items())])
            x, y, bw, bh = rect
            out.append(el("g", {"class": "box", "data-set": str(set_name),
                                "data-class": "" if cid is None else str(cid),
                                "data-scores": json.dumps(scores)},
                          el("title", None, f"{set_name}: {text}".strip()),
                          el("rect", {"x": f"{x:.2f}", "y": f"{y:.2f}", "width": f"{bw:.2f}",
                                      "height": f"{bh:.2f}", "fill": "none", "stroke": color,
                                      "stroke-width": "2",
                                      "vector-effect": "non-scaling-stroke"}),
                          el("text", {"x": f"{x:.2f}", "y": f"{max(y - font * 0.2, font):.2f}",
                                      "font-size": f"{font:.2f}", "fill": color,
                                      "class": "box-label"}, text) if text.strip() else None))
    return out


def _mask_layers(meta: Mapping[str, Any], w: int, h: int) -> list[Html]:
    from PIL import Image as PILImage

    out = []
    for set_name, mask in (meta.get("masks") or {}).items():
        if not isinstance(mask, Mapping) or not isinstance(mask.get("png"), bytes):
            continue
        try:
            with PILImage.open(io.BytesIO(mask["png"])) as pil:
                ids = np.asarray(pil.convert("L"))
        except (OSError, ValueError):
            continue
        labels = _labels(mask.get("class_labels"))
        for cid in np.unique(ids).tolist():
            rgba = np.zeros((*ids.shape, 4), dtype=np.uint8)
            color = class_color(cid).lstrip("#")
            rgba[ids == cid] = [int(color[i:i + 2], 16) for i in (0, 2, 4)] + [255]
            buf = io.BytesIO()
            PILImage.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
            href = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
            out.append(el("image", {"class": "mask", "data-set": str(set_name),
                                    "data-class": str(cid), "href": href, "x": "0", "y": "0",
                                    "width": str(w), "height": str(h), "opacity": "0.45",
                                    "preserveAspectRatio": "none"},
                          el("title", None, f"{set_name}: {labels.get(str(cid), cid)}")))
    return out


def overlaid_image(ref: wire.MediaRef, src: str, alt: str, caption: Html | None) -> Html:
    """An image cell with its masks and boxes, as one SVG (see the module docstring)."""
    meta = ref.meta
    w, h = int(meta.get("width") or 1), int(meta.get("height") or 1)
    scale = THUMB_PX / max(w, h)
    tw, th = max(round(w * scale), 1), max(round(h * scale), 1)
    if max(tw, th) < MIN_THUMB_PX:
        tw, th = MIN_THUMB_PX, MIN_THUMB_PX
    svg = el("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "thumb overlaid",
                     "viewBox": f"0 0 {w} {h}", "width": str(tw), "height": str(th),
                     "role": "img", "aria-label": alt},
             el("title", None, f"{alt} ({w}×{h}); click for full size"),
             el("image", {"class": "picture", "href": src, "x": "0", "y": "0",
                          "width": str(w), "height": str(h)}),
             _mask_layers(meta, w, h), _boxes(meta, w, h))
    return el("figure", {"class": "media image with-overlays", "tabindex": "0"}, svg, caption)


@dataclass
class _Found:
    kinds: dict[str, str] = field(default_factory=dict)  # set -> "boxes" | "masks"
    classes: dict[str, dict[str, str]] = field(default_factory=dict)  # set -> id -> name
    scores: dict[str, list[float]] = field(default_factory=dict)  # name -> (min, max)

    def add(self, meta: Mapping[str, Any]) -> None:
        for kind in ("boxes", "masks"):
            for set_name, value in (meta.get(kind) or {}).items():
                if not isinstance(value, Mapping):
                    continue
                name = str(set_name)
                self.kinds.setdefault(name, kind)
                classes = self.classes.setdefault(name, {})
                labels = _labels(value.get("class_labels"))
                if kind == "boxes":
                    for box in value.get("box_data") or []:
                        if not isinstance(box, Mapping):
                            continue
                        cid = box.get("class_id")
                        if cid is not None:
                            classes.setdefault(str(cid), labels.get(str(cid), str(cid)))
                        for k, v in (box.get("scores") or {}).items():
                            if _num(v) is not None:
                                lo_hi = self.scores.setdefault(str(k), [float(v), float(v)])
                                lo_hi[0], lo_hi[1] = min(lo_hi[0], v), max(lo_hi[1], v)
                else:
                    for cid, label in labels.items():
                        classes.setdefault(cid, label)


def overlay_controls(rows: Iterable[Iterable[Any]]) -> Html | None:
    """Checkboxes for each box and mask set and class on the page, and a minimum-score
    slider per score name; None when no image of the page has overlays."""
    found = _Found()
    for row in rows:
        for value in row:
            if (isinstance(value, wire.MediaRef) and value.kind == "image"
                    and isinstance(value.meta, Mapping) and has_overlays(value.meta)):
                found.add(value.meta)
    if not found.kinds:
        return None
    groups = []
    for name, kind in found.kinds.items():
        classes = [el("label", {"class": "class-toggle"},
                      el("input", {"type": "checkbox", "checked": True, "data-set": name,
                                   "data-class": cid}),
                      _swatch(class_color(cid)), label)
                   for cid, label in sorted(found.classes.get(name, {}).items(),
                                            key=lambda item: _sort_key(item[0]))]
        groups.append(el("fieldset", {"class": "overlay-set"},
                         el("legend", None,
                            el("label", None,
                               el("input", {"type": "checkbox", "checked": True,
                                            "data-set": name}),
                               f"{name} ({kind})")),
                         classes))
    sliders = []
    for name, (lo, hi) in sorted(found.scores.items()):
        lo = min(lo, 0.0)
        sliders.append(el("label", {"class": "score"}, f"min {name} ",
                          el("input", {"type": "range", "data-score": name, "min": f"{lo:g}",
                                       "max": f"{hi:g}", "step": f"{(hi - lo) / 100 or 0.01:g}",
                                       "value": f"{lo:g}"}),
                          el("output", None, f"{lo:g}")))
    return el("div", {"class": "overlay-controls", "id": "overlay-controls"},
              el("span", {"class": "dim"}, "overlays:"), groups, sliders)


def _swatch(color: str) -> Html:
    return el("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "swatch",
                      "width": "10", "height": "10", "aria-hidden": "true"},
              el("rect", {"width": "10", "height": "10", "fill": color}))


def _sort_key(class_id: str) -> tuple[int, Any]:
    try:
        return 0, int(class_id)
    except ValueError:
        return 1, class_id
