"""`Histogram`: a distribution as counts over bins, as ``wandb.Histogram``.

``Histogram(sequence)`` bins a sequence (numpy's ``np.histogram`` with
`num_bins` bins; a torch tensor or anything numpy takes); ``Histogram(
np_histogram=(counts, edges))`` takes a histogram already made. As wandb: at
most `MAX_LENGTH` (512) bins, and ``len(bins) == len(histogram) + 1``.

Logged, it is stored as wandb stores it, a plain map in the history row or the
summary: ``{"_type": "histogram", "values": [...], "bins": [...]}``; the viewer
draws each histogram key of a run as its distribution over the steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tablelog.errors import MediaError

HISTOGRAM_TYPE = "histogram"


class Histogram:
    """wandb's ``Histogram(sequence=None, np_histogram=None, num_bins=64)``."""

    MAX_LENGTH = 512
    _log_type = HISTOGRAM_TYPE

    def __init__(self, sequence: Any = None, np_histogram: Sequence[Any] | None = None,
                 num_bins: int = 64) -> None:
        if np_histogram is not None:
            if len(np_histogram) != 2:
                raise ValueError("Expected np_histogram to be a tuple of (values, bin_edges) "
                                 "or sequence to be specified")
            values, edges = np_histogram
            self.histogram: list[Any] = _as_list(values)
            self.bins: list[Any] = _as_list(edges)
        else:
            if sequence is None:
                raise ValueError("Histogram needs a sequence or np_histogram=(values, "
                                 "bin_edges)")
            if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
                raise ValueError(f"num_bins must be a positive int, got {num_bins!r}")
            import numpy as np

            data = _as_numpy(sequence)
            finite = data[np.isfinite(data)] if data.dtype.kind in "fc" else data
            counts, edges = np.histogram(finite, bins=num_bins)
            self.histogram, self.bins = counts.tolist(), edges.tolist()
        if len(self.histogram) > self.MAX_LENGTH:
            raise ValueError(f"The maximum length of a histogram is {self.MAX_LENGTH}")
        if len(self.histogram) + 1 != len(self.bins):
            raise ValueError("len(bins) must be len(histogram) + 1")
        for label, numbers in (("values", self.histogram), ("bins", self.bins)):
            if not all(isinstance(v, int | float) and not isinstance(v, bool)
                       and math.isfinite(v) for v in numbers):
                raise MediaError(f"Histogram {label} must be finite numbers")

    def to_json(self, run: Any = None) -> dict[str, Any]:
        """wandb's form of it: ``{"_type": "histogram", "values", "bins"}``."""
        return {"_type": HISTOGRAM_TYPE, "values": list(self.histogram),
                "bins": list(self.bins)}

    def _plain_form(self) -> dict[str, Any]:
        """What run.log stores for it (`tablelog.runtime.run_data.plain_value`)."""
        return self.to_json()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return self.histogram == other.histogram and self.bins == other.bins

    def __hash__(self) -> int:
        return hash((tuple(self.histogram), tuple(self.bins)))

    def __repr__(self) -> str:
        return f"<Histogram {len(self.histogram)} bins [{self.bins[0]:g}, {self.bins[-1]:g}]>"


def _as_list(values: Any) -> list[Any]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, list | tuple):
        raise ValueError(f"np_histogram parts must be sequences, got {type(values).__name__}")
    return list(values)


def _as_numpy(sequence: Any) -> Any:
    """A flat numeric array of `sequence` (a torch tensor is detached and moved to the
    CPU)."""
    import numpy as np

    if hasattr(sequence, "detach") and hasattr(sequence, "cpu"):  # torch, without importing it
        sequence = sequence.detach().cpu()
        if hasattr(sequence, "float"):
            sequence = sequence.float()
        sequence = sequence.numpy()
    array = np.asarray(sequence)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"Histogram needs numbers, got an array of {array.dtype}")
    # the sequence's own dtype, as wandb's np.histogram call sees it (same edges)
    return (array.astype(np.int64) if array.dtype.kind == "b" else array).ravel()
