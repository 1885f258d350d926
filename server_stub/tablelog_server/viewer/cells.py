"""How one table cell and one column type look on a page (pure functions, no I/O).

Cells are rendered from the decoded wire values, not from their JSON form, so a
user's dict that happens to hold ``"_type": "image-file"`` is shown as a dict,
never mistaken for an image. Media cells point at ``/blobs/<sha256>``, the
viewer's session-checked blob route; a sha256 is checked before it becomes part
of a URL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tablelog import wire
from tablelog_server.viewer.html import Html, el, url
from tablelog_server.viewer.numbers import fmt_number
from tablelog_server.viewer.overlays import has_overlays, overlaid_image

MAX_TEXT_CHARS = 2000  # longer strings are cut on the page (the full value is in the API)


def blob_url(sha256: str) -> str:
    """Where the viewer serves a blob (session-checked)."""
    return url("blobs", sha256)


def type_label(plain: Any) -> str:
    """A column type as a short label: ``number``, ``string?`` (optional), ``image``,
    ``number | string``."""
    if not isinstance(plain, Mapping):
        return "?"
    name = str(plain.get("wb_type", "?"))
    if name == "union":
        members = (plain.get("params") or {}).get("allowed_types") or []
        labels = [type_label(m) for m in members if isinstance(m, Mapping)]
        optional = "none" in labels and len(labels) > 1
        rest = [label for label in labels if label != "none"]
        return " | ".join(rest) + ("?" if optional else "") if rest else "none"
    return name.removesuffix("-file")


def _media(ref: wire.MediaRef) -> Html:
    if not wire.is_sha256(ref.sha256):
        return el("span", {"class": "bad"}, f"[{ref.kind}: bad address]")
    src = blob_url(ref.sha256)
    meta = ref.meta if isinstance(ref.meta, Mapping) else {}
    caption = meta.get("caption")
    caption_el = el("span", {"class": "caption"}, str(caption)) if caption else None
    fmt = str(meta.get("format", ""))
    alt = str(caption) if caption else f"{ref.kind} {ref.sha256[:12]}"
    if ref.kind == "image" and has_overlays(meta):
        return overlaid_image(ref, src, alt, caption_el)
    if ref.kind == "image" or (ref.kind == "video" and fmt == "gif"):
        size = (f"{meta.get('width')}×{meta.get('height')}"
                if meta.get("width") and meta.get("height") else None)
        return el("figure", {"class": f"media {ref.kind}"},
                  el("a", {"href": src, "target": "_blank", "rel": "noopener",
                           "title": f"open full size{f' ({size})' if size else ''}"},
                     el("img", {"class": "thumb", "src": src, "alt": alt, "loading": "lazy"})),
                  caption_el)
    if ref.kind == "audio":
        return el("figure", {"class": "media audio"},
                  el("audio", {"controls": True, "preload": "none", "src": src}), caption_el)
    if ref.kind == "video":
        return el("figure", {"class": "media video"},
                  el("video", {"controls": True, "preload": "metadata", "src": src,
                               "class": "thumb"}), caption_el)
    if ref.kind == "html":
        # Served as text/html under the blob route's CSP sandbox: no script runs, and the
        # frame has no access to the viewer (its origin is opaque).
        html_src = url("blobs", ref.sha256, **{"as": "html"})
        return el("figure", {"class": "media html"},
                  el("iframe", {"class": "html-cell", "sandbox": "", "src": html_src,
                                "loading": "lazy", "title": alt}),
                  el("a", {"href": html_src, "target": "_blank", "rel": "noopener"},
                     "open HTML"), caption_el)
    if ref.kind == "object3D" and fmt == "pts.json":
        points = meta.get("points")
        label = f"point cloud ({points} points)" if isinstance(points, int) else "point cloud"
        return el("figure", {"class": "media object3D"},
                  el("canvas", {"class": "points", "data-src": src, "width": "192",
                                "height": "144", "title": f"{label}: drag to turn it"}),
                  el("a", {"href": src, "target": "_blank", "rel": "noopener"},
                     f"open {label}"), caption_el)
    label = {"object3D": f"open 3D file (.{fmt})", "molecule": f"open molecule (.{fmt})"}.get(
        ref.kind, f"open {ref.kind}")
    return el("figure", {"class": f"media {ref.kind}"},
              el("a", {"href": src, "target": "_blank", "rel": "noopener"}, label), caption_el)


def render_cell(value: Any, *,
                table_link: Callable[[wire.TableRef], str | None] = lambda _ref: None) -> Html:
    """One cell. `table_link` gives the viewer URL of a nested table reference."""
    if value is None:
        return el("span", {"class": "null"}, "—")
    if isinstance(value, bool | int | float):
        return el("span", {"class": "num"}, fmt_number(value))
    if isinstance(value, str):
        text = value if len(value) <= MAX_TEXT_CHARS else value[:MAX_TEXT_CHARS] + "…"
        return el("span", {"class": "text"}, text)
    if isinstance(value, wire.MediaRef):
        return _media(value)
    if isinstance(value, wire.TableRef):
        href = table_link(value)
        label = f"{value.entry} ({value.nrows} rows)"
        return el("a", {"href": href}, label) if href else el("span", None, label)
    if isinstance(value, dt.datetime):
        return el("time", {"datetime": value.isoformat()}, value.isoformat(sep=" "))
    bars = histogram_bars(value)
    if bars is not None:
        return bars
    if isinstance(value, np.ndarray):
        shape = "×".join(str(n) for n in value.shape) or "scalar"
        preview = json.dumps(wire.jsonable(value.ravel()[:8]), default=str)
        return el("code", {"class": "array", "title": f"{value.dtype} array"},
                  f"array {shape} {preview[:120]}{'…' if value.size > 8 else ''}")
    text = json.dumps(wire.jsonable(value), default=str, ensure_ascii=False)
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "…"
    return el("code", {"class": "json"}, text)


def histogram_bars(value: Any, *, width: int = 120, height: int = 36) -> Html | None:
    """A histogram cell (``{"_type": "histogram", "values", "bins"}``) as a small bar
    chart; None for any other value."""
    from tablelog_server.viewer.histograms import as_histogram

    found = as_histogram(value)
    if found is None:
        return None
    counts, edges = found
    peak = max(counts) or 1.0
    bar_w = width / len(counts)
    bars = [el("rect", {"class": "bin", "x": f"{i * bar_w:.1f}",
                        "y": f"{height * (1 - c / peak):.1f}", "width": f"{max(bar_w, 0.5):.1f}",
                        "height": f"{height * c / peak:.1f}"})
            for i, c in enumerate(counts) if c > 0]
    label = (f"histogram of {len(counts)} bins over [{fmt_number(edges[0])}, "
             f"{fmt_number(edges[-1])}], {fmt_number(sum(counts))} values")
    return el("svg", {"xmlns": "http://www.w3.org/2000/svg", "class": "chart histogram-cell",
                      "viewBox": f"0 0 {width} {height}", "width": str(width),
                      "height": str(height), "role": "img", "aria-label": label},
              el("title", None, label), bars)

