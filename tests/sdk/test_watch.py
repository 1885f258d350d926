"""`run.watch(model)` as wandb's: gradient and parameter histograms of a PyTorch
model every `log_freq` steps, joined to the step's row; `unwatch` removes them.

The torch tests need torch installed; CI's environment does not have it (only its
CUDA build is on the package index, several GB), so there they are skipped, and
they were run by hand in a virtualenv with torch (see the closing note)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.errors import RunError
from tablelog.store.queue import Queue


@pytest.fixture(autouse=True)
def offline(queue_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLELOG_MODE", "offline")


def _rows(queue_dir: Path) -> list[dict[str, Any]]:
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload) for e in q.claim_batch(
            max_entries=100_000, max_bytes=1 << 40)]
    return [{"_step": e.body["step"], **e.body["row"]} for e in entries
            if e.kind == wire.Kind.HISTORY]


def test_without_torch_watch_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails
    with wandb.init(project="w") as run:
        with pytest.raises(RunError, match="needs PyTorch"):
            run.watch(object())
        with pytest.raises(ValueError, match="log must be one of"):
            run.watch(object(), log="weights")


def test_gradients_and_parameters_every_log_freq_steps(queue_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with wandb.init(project="w") as run:
        wandb.watch(model, log="all", log_freq=2)
        with pytest.raises(ValueError, match=r"torch\.nn\.Module"):
            run.watch(object())
        for _ in range(4):
            loss = model(torch.randn(16, 4)).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run.log({"loss": loss.item()})
        run.unwatch(model)
        model(torch.randn(2, 4)).sum().backward()
        run.log({"loss": 0.0})
    rows = _rows(queue_dir)
    names = [n for n, _ in model.named_parameters()]
    for step in (1, 3):  # the 2nd and 4th call of each hook
        assert {f"gradients/{n}" for n in names} <= set(rows[step])
        assert {f"parameters/{n}" for n in names} <= set(rows[step])
    for step in (0, 2, 4):  # not due, and after unwatch
        assert not any(k.startswith(("gradients/", "parameters/")) for k in rows[step])
    hist = rows[1]["gradients/0.weight"]
    assert hist["_type"] == "histogram" and len(hist["values"]) == 64
    assert len(hist["bins"]) == 65 and sum(hist["values"]) == 8 * 4
    weights = rows[3]["parameters/2.bias"]
    assert sum(weights["values"]) == 1  # one value: one bin around it


def test_tensor_histogram_bins_finite_values() -> None:
    torch = pytest.importorskip("torch")
    from tablelog.runtime.watch import tensor_histogram

    hist = tensor_histogram(torch.tensor([0.0, 1.0, float("inf"), float("nan"), 0.5]), bins=2)
    assert hist is not None and hist.histogram == [1, 2] and hist.bins == [0.0, 0.5, 1.0]
    assert tensor_histogram(torch.tensor([float("nan")])) is None
