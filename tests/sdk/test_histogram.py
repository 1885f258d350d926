"""`wandb.Histogram`: wandb's constructor, checks and stored form, logged into a
run's history and summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.store.queue import Queue


def test_from_a_sequence_and_from_np_histogram() -> None:
    data = np.arange(100, dtype=np.float32)
    hist = wandb.Histogram(data, num_bins=10)
    counts, edges = np.histogram(data, bins=10)
    assert hist.histogram == counts.tolist() and hist.bins == edges.tolist()
    again = wandb.Histogram(np_histogram=(counts, edges))
    assert again == hist and hash(again) == hash(hist)
    assert hist.to_json() == {"_type": "histogram", "values": counts.tolist(),
                              "bins": edges.tolist()}
    assert len(wandb.Histogram([1, 2, 3]).histogram) == 64  # wandb's default bins
    with_nan = wandb.Histogram([1.0, float("nan"), 3.0], num_bins=2)
    assert sum(with_nan.histogram) == 2  # non-finite values are not binned


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"np_histogram": ([1, 2], [0, 1, 2], [3])}, "tuple of \\(values, bin_edges\\)"),
    ({"np_histogram": ([1, 2], [0, 1])}, "len\\(bins\\) must be len\\(histogram\\) \\+ 1"),
    ({"np_histogram": ([1] * 513, list(range(514)))}, "maximum length of a histogram is 512"),
    ({}, "sequence or np_histogram"),
    ({"sequence": [1, 2], "num_bins": 0}, "num_bins"),
    ({"sequence": ["a", "b"]}, "numbers"),
])
def test_wandbs_checks(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wandb.Histogram(**kwargs)  # type: ignore[arg-type]


def test_logged_as_wandbs_map(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    hist = wandb.Histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0]))
    with wandb.init(project="h") as run:
        run.log({"weights": hist, "nested": {"h": hist}})
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload) for e in q.claim_batch(
            max_entries=1000, max_bytes=1 << 30)]
    (row,) = [e.body["row"] for e in entries if e.kind == wire.Kind.HISTORY]
    assert row["weights"] == {"_type": "histogram", "values": [1, 2], "bins": [0.0, 0.5, 1.0]}
    assert row["nested"]["h"] == row["weights"]
    summaries = [e.body["summary"] for e in entries if e.kind == wire.Kind.SUMMARY]
    assert summaries[-1]["weights"] == row["weights"]


def test_in_table_cells_through_a_run(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")
    hists = [wandb.Histogram(np.arange(10) * k, num_bins=4) for k in (1, 2)]
    table = wandb.Table(columns=["layer", "weights"], data=[[0, hists[0]], [1, hists[1]]])
    with wandb.init(project="h") as run:
        run.log({"layers": table})
        assert run.not_persisted == []
        back = run.use_artifact(f"run-{run.id}-layers:latest").get("layers")
    assert [row[1] for row in back.data] == hists
    assert isinstance(back.data[0][1], wandb.Histogram)
