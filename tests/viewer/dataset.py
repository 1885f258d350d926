"""The data most HTML-level viewer tests look at, written through the batch API:

- project ``proj``, run ``run1`` named with markup, a config and summary holding
  markup, five history rows of ``loss``/``acc`` and two table refs;
- artifact ``run-run1-preds``: v0 (10 rows), v1 (15 rows, v0's rows first), v2
  (15 rows, one of v0's rows changed), with PNG thumbnails, markup in a cell,
  a caption and a column name;
- artifact ``pairs``: two tables and a joined-table entry on ``id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tablelog import wire
from tests.viewer.viewer_helpers import XSS_IMG, XSS_SCRIPT, Uploader, png, table_blobs

PRED_COLUMNS = ["id", "image", "label", "score", "note"]
PRED_TYPES: list[Any] = [{"wb_type": "number"}, {"wb_type": "image-file"},
                         {"wb_type": "string"}, {"wb_type": "number"},
                         {"wb_type": "union", "params": {"allowed_types": [
                             {"wb_type": "none"}, {"wb_type": "string"}]}}]
XSS_COLUMN = "<b>bold</b>"


@dataclass(frozen=True)
class Dataset:
    """Addresses the tests look for."""

    image_sha: str
    digests: list[str]


def pred_row(i: int, image: wire.MediaRef) -> list[Any]:
    """Row `i` of the predictions table: score = i / 20, labels cycling."""
    note = {3: XSS_SCRIPT, 4: XSS_IMG}.get(i, f"note {i}")
    return [i, image, ("cat", "dog", "bird")[i % 3], i / 20, note]


async def populate(up: Uploader) -> Dataset:
    """Write the dataset (see the module docstring)."""
    picture = png(8, 6, (200, 30, 30))
    image = wire.MediaRef("image", wire.sha256_hex(picture), len(picture),
                          {"format": "png", "width": 8, "height": 6, "caption": XSS_IMG})
    await up.put_blob(picture)
    await up.start_run(name=f"run {XSS_SCRIPT}",
                       config={"lr": 0.1, "layers": [64, 32], XSS_IMG: XSS_SCRIPT})
    rows = [pred_row(i, image) for i in range(15)]
    v0 = table_blobs(PRED_COLUMNS, rows[:10], PRED_TYPES)
    v1 = table_blobs(PRED_COLUMNS, rows, PRED_TYPES)
    changed = [list(r) for r in rows]
    changed[2][2] = "changed"
    v2 = table_blobs(PRED_COLUMNS, changed, PRED_TYPES)
    digests = [await up.log_table("run-run1-preds", {"preds": v}) for v in (v0, v1, v2)]
    for step in range(5):
        row: dict[str, Any] = {"loss": 1.0 / (step + 1), "acc": step / 5, "flag": True}
        if step == 3:
            row["preds"] = wire.TableRef("run-run1-preds", "preds", digests[0], 10, 5)
        await up.send("history", {"step": step, "row": row})
    latest = wire.TableRef("run-run1-preds", "preds", digests[2], 15, 5)
    await up.send("history", {"step": 5, "row": {"preds": latest}})
    await up.send("summary", {"summary": {"loss": 0.2, "acc": 0.8, "preds": latest,
                                          "comment": XSS_SCRIPT}})
    odd = table_blobs(["id", XSS_COLUMN], [[1, "x"]])
    left = table_blobs(["id", "truth"], [[i, f"t{i}"] for i in range(4)])
    right = table_blobs(["id", "guess"], [[i, f"g{i}"] for i in (2, 3, 3, 5)])
    joined = wire.encode_joined_table("left", "right", "id")
    joined_entry = wire.ManifestEntry("joined-table", wire.sha256_hex(joined), len(joined))
    await up.log_table("pairs", {"left": left, "right": right, "odd": odd,
                                 "both": ({joined_entry.sha256: joined}, joined_entry)},
                       type_="dataset")
    await up.send("run_end", {"exit_code": 0, "ended_at": 1_700_000_100.0})
    return Dataset(image.sha256, digests)
