"""`run.watch(model)`: histograms of a PyTorch model's gradients and parameters.

As wandb's: ``log="gradients"`` (default) hooks every parameter's gradient,
``"parameters"`` hooks the module's forward pass, ``"all"`` both; every
`log_freq`-th call of a hook logs ``gradients/<name>`` (or ``parameters/<name>``)
as a `Histogram` into the run's current step (``commit=False``: it joins the
row of the next ``run.log``).

What a hook costs the step: a counter increment, except on the calls that log.
Those bin the tensor where it lives (``torch.histc`` on its device, 64 bins)
and copy only the counts and the range to the host, so a GPU model pays one
small transfer per watched tensor every `log_freq` steps. torch is imported
only here, by `watch()` itself.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tablelog.errors import RunError

if TYPE_CHECKING:
    from tablelog.data_types.histogram import Histogram

log = logging.getLogger("tablelog")
LOG_CHOICES = ("gradients", "parameters", "all", None)
BINS = 64


def tensor_histogram(tensor: Any, bins: int = BINS) -> Histogram | None:
    """A Histogram of a tensor's finite values, binned on its device; None if none."""
    import torch

    from tablelog.data_types.histogram import Histogram

    with torch.no_grad():
        flat = tensor.detach().flatten()
        if not flat.is_floating_point():
            flat = flat.float()
        flat = flat[torch.isfinite(flat)]
        if flat.numel() == 0:
            return None
        low, high = flat.min().item(), flat.max().item()
        if low == high:  # one value: a bin around it, as numpy does
            low, high = low - 0.5, high + 0.5
        counts = torch.histc(flat.float(), bins=bins, min=low, max=high)
    step = (high - low) / bins
    edges = [low + i * step for i in range(bins)] + [high]
    return Histogram(np_histogram=([int(c) for c in counts.tolist()], edges))


class Watch:
    """The hooks of one watched model; `remove()` takes them off."""

    def __init__(self, run: Any, model: Any, *, log: str | None, log_freq: int,
                 prefix: str) -> None:
        self._run = weakref.ref(run)
        self.model = model
        self.log_freq = log_freq
        self._handles: list[Any] = []
        self._lock = threading.Lock()  # hooks may run on autograd's threads
        if log in ("gradients", "all"):
            for name, param in model.named_parameters():
                if param.requires_grad:
                    self._handles.append(param.register_hook(
                        self._gradient_hook(f"gradients/{prefix}{name}")))
        if log in ("parameters", "all"):
            self._handles.append(model.register_forward_hook(self._forward_hook(prefix)))

    def _due(self, counter: list[int]) -> bool:
        with self._lock:
            counter[0] += 1
            return counter[0] % self.log_freq == 0

    def _emit(self, values: dict[str, Any]) -> None:
        run = self._run()
        if run is None or getattr(run, "_finished", True) or not values:
            return
        try:
            run.log(values, commit=False)
        except Exception:  # never break the user's backward pass over a histogram
            log.warning("tablelog: watch() could not log %s", sorted(values), exc_info=True)

    def _gradient_hook(self, key: str) -> Callable[[Any], None]:
        counter = [0]

        def hook(grad: Any) -> None:
            if self._due(counter):
                histogram = tensor_histogram(grad)
                if histogram is not None:
                    self._emit({key: histogram})

        return hook

    def _forward_hook(self, prefix: str) -> Callable[..., None]:
        counter = [0]

        def hook(module: Any, inputs: Any, outputs: Any) -> None:
            if not module.training or not self._due(counter):
                return
            values = {}
            for name, param in module.named_parameters():
                histogram = tensor_histogram(param)
                if histogram is not None:
                    values[f"parameters/{prefix}{name}"] = histogram
            self._emit(values)

        return hook

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def watch(run: Any, models: Any, *, log: str | None, log_freq: int,
          idx: int | None) -> list[Watch]:
    """Hook `models` (a torch module or a sequence of them) into `run`."""
    if log not in LOG_CHOICES:
        raise ValueError("log must be one of 'gradients', 'parameters', 'all', or None")
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise ValueError(f"log_freq must be a positive int, got {log_freq!r}")
    try:
        import torch
    except ImportError:
        raise RunError("run.watch() needs PyTorch: the 'torch' package is not installed "
                       "(pip install torch)") from None
    listed: Sequence[Any] = models if isinstance(models, list | tuple) else [models]
    for model in listed:
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"Expected a pytorch model (torch.nn.Module). Received "
                             f"{type(model).__name__}")
    if log is None:
        return []
    several = len(listed) > 1
    return [Watch(run, model, log=log, log_freq=log_freq,
                  prefix=f"graph_{(idx or 0) + i}." if several else "")
            for i, model in enumerate(listed)]
