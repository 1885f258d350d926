"""What a table snapshot counts against the pending-bytes budget, by column type."""

from __future__ import annotations

import numpy as np

import tablelog
from tablelog.runtime.snapshot import TableSnapshot


def _snapshot(table: tablelog.Table) -> TableSnapshot:
    return TableSnapshot(table, first=0, base=None)


def test_plain_columns_hold_no_media_bytes() -> None:
    table = tablelog.Table(columns=["n", "s", "maybe"], data=[[1, "a", None], [2, "b", 3.5]])
    assert _snapshot(table).media_bytes() == 0


def test_image_columns_count_their_pixels_optional_or_not() -> None:
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    table = tablelog.Table(columns=["img", "maybe_img", "n"],
                           data=[[tablelog.Image(pixels), None, 1],
                                 [tablelog.Image(pixels), tablelog.Image(pixels), 2]])
    held = _snapshot(table).media_bytes()
    assert held >= 3 * pixels.nbytes


def test_columns_of_any_type_are_read_for_media() -> None:
    pixels = np.zeros((8, 8, 3), dtype=np.uint8)
    table = tablelog.Table(columns=["x"], data=[[tablelog.Image(pixels)], ["text"]],
                           allow_mixed_types=True)
    assert _snapshot(table).media_bytes() >= pixels.nbytes


def test_column_types_are_described_when_asked() -> None:
    table = tablelog.Table(columns=["n"], data=[[1]])
    before = table._column_types_plain()
    snap = _snapshot(table)
    table.add_column("m", [5])  # the live table changes; the snapshot keeps its types
    assert snap.column_types == before
    assert len(table._column_types_plain()) == 2
