"""`run.define_metric()`: metric definitions and the summary they keep.

As in wandb 0.31, a definition names a metric (or a prefix glob, ``"val/*"``)
and may give it a step metric (its chart's x-axis), ``step_sync`` (log the
step metric's last value with it), ``hidden`` (no chart) and ``summary``: the
aggregates the run summary keeps for it instead of the last value —
``summary="min"`` keeps ``summary["loss"] == {"min": 0.1}``, ``"max,mean"``
keeps both, ``"none"`` keeps nothing, ``"copy"`` (deprecated) the last value.

This module does no I/O: `MetricRules` holds the definitions, turns logged
rows into summary values and says what to send; the run sends it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tablelog.errors import MetricError

SUMMARY_OPS = ("min", "max", "mean", "last", "first", "copy", "none")
"""The summary aggregations wandb 0.31 accepts (comma-combined, any case)."""


class Metric:
    """What one `define_metric` call defined (wandb's `wandb_metric.Metric`)."""

    def __init__(self, name: str, step_metric: str | None = None,
                 step_sync: bool | None = None, hidden: bool | None = None,
                 summary: tuple[str, ...] | None = None, overwrite: bool | None = None) -> None:
        self._name = name
        self._step_metric = step_metric
        self._step_sync = step_sync
        self._hidden = hidden
        self._summary = summary
        self._overwrite = overwrite

    @property
    def name(self) -> str:
        return self._name

    @property
    def step_metric(self) -> str | None:
        return self._step_metric

    @property
    def step_sync(self) -> bool | None:
        return self._step_sync

    @property
    def summary(self) -> tuple[str, ...] | None:
        return self._summary

    @property
    def hidden(self) -> bool | None:
        return self._hidden

    def __repr__(self) -> str:
        return (f"Metric(name={self._name!r}, step_metric={self._step_metric!r}, "
                f"summary={self._summary!r}, hidden={self._hidden!r})")


@dataclass
class Definition:
    """A metric's definition after every call for its name is merged (`overwrite`)."""

    step_metric: str | None = None
    step_sync: bool | None = None
    hidden: bool | None = None
    summary: tuple[str, ...] | None = None

    def to_plain(self) -> dict[str, Any]:
        """The wire form (what the server stores and the viewer reads)."""
        return {"step_metric": self.step_metric, "step_sync": self.step_sync,
                "hidden": self.hidden, "summary": list(self.summary or ())}


def check_definition(name: object, step_metric: object, step_sync: object, hidden: object,
                     summary: object, overwrite: object) -> tuple[str, ...] | None:
    """wandb's checks, with its messages; returns the summary ops (lowercase)."""
    if not name:
        raise MetricError("define_metric() requires non-empty name argument")
    for arg_name, value, expected in (("name", name, str), ("step_metric", step_metric, str),
                                      ("step_sync", step_sync, bool), ("hidden", hidden, bool),
                                      ("summary", summary, str),
                                      ("overwrite", overwrite, bool)):
        if value is not None and not isinstance(value, expected):
            raise MetricError(f"Unhandled define_metric() arg: {arg_name} type: "
                              f"{type(value).__name__}")
    assert isinstance(name, str)
    stripped = name[:-1] if name.endswith("*") else name
    if "*" in stripped:
        raise MetricError(f"Unhandled define_metric() arg: name (glob suffixes only): {name}")
    if not summary:
        return None
    assert isinstance(summary, str)
    ops = tuple(s.lower() for s in summary.split(","))
    for op in ops:
        if op not in SUMMARY_OPS:
            raise MetricError(f"Unhandled define_metric() arg: summary op: {op}")
    if "copy" in ops:
        warnings.warn("define_metric(summary='copy') is deprecated and will be removed.",
                      DeprecationWarning, stacklevel=4)
    return ops


def _scalar(value: Any) -> Any:
    """A numpy scalar (np.float32(0.5), a 0-d array) as the Python number it holds."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


@dataclass
class _Aggregate:
    """What a metric's summary ops need of the values logged so far."""

    first: Any = None
    last: Any = None
    min: float | None = None
    max: float | None = None
    total: float = 0.0
    count: int = 0
    seen: bool = False

    @classmethod
    def resumed(cls, stored: Any) -> _Aggregate:
        """An aggregate carrying on from a stored summary value ({"min": ..., ...})."""
        aggregate = cls()
        if isinstance(stored, Mapping):
            if "first" in stored:
                aggregate.first, aggregate.seen = stored["first"], True
            for op in ("min", "max"):
                if isinstance(stored.get(op), int | float) and not isinstance(
                        stored.get(op), bool):
                    setattr(aggregate, op, stored[op])
        return aggregate

    def add(self, value: Any) -> None:
        if not self.seen:
            self.first, self.seen = value, True
        self.last = value
        if isinstance(value, int | float) and not isinstance(value, bool) \
                and not (isinstance(value, float) and math.isnan(value)):
            self.min = value if self.min is None else min(self.min, value)
            self.max = value if self.max is None else max(self.max, value)
            self.total += value
            self.count += 1

    def summary(self, ops: tuple[str, ...]) -> Any:
        """The summary value for `ops` (a dict of op -> value, or the last value for
        "copy"); ops a non-number cannot have (min, max, mean) are left out."""
        if "copy" in ops:
            return self.last
        values: dict[str, Any] = {}
        for op in ops:
            if op == "first":
                values["first"] = self.first
            elif op == "last":
                values["last"] = self.last
            elif op in ("min", "max") and getattr(self, op) is not None:
                values[op] = getattr(self, op)
            elif op == "mean" and self.count:
                values["mean"] = self.total / self.count
        return values if values else self.last


@dataclass
class MetricRules:
    """The run's metric definitions, and the summary they make of logged rows.

    Called under the run's lock (run.log holds it), so it needs none of its own."""

    definitions: dict[str, Definition] = field(default_factory=dict)
    _aggregates: dict[str, _Aggregate] = field(default_factory=dict)
    _last: dict[str, Any] = field(default_factory=dict)  # last value of each step metric
    pending_summary: dict[str, Any] = field(default_factory=dict)
    pending_removed: set[str] = field(default_factory=set)
    # what rule_for found per logged key, and the step metrics: cleared by define()
    _rules: dict[str, Definition | None] = field(default_factory=dict)
    _step_keys: frozenset[str] = frozenset()

    def define(self, name: str, step_metric: str | None, step_sync: bool | None,
               hidden: bool | None, summary: tuple[str, ...] | None,
               overwrite: bool | None) -> Definition:
        """Add or merge a definition: unspecified arguments keep what an earlier call for
        this name gave, unless `overwrite` (then the call replaces it)."""
        new = Definition(step_metric, step_sync, hidden, summary)
        old = self.definitions.get(name)
        if old is not None and not overwrite:
            new = Definition(
                step_metric if step_metric is not None else old.step_metric,
                step_sync if step_sync is not None else old.step_sync,
                hidden if hidden is not None else old.hidden,
                summary if summary is not None else old.summary)
        self.definitions[name] = new
        self._rules.clear()
        self._step_keys = frozenset(d.step_metric for d in self.definitions.values()
                                    if d.step_metric)
        return new

    def rule_for(self, key: str) -> Definition | None:
        """The definition of `key`: its own, else the longest glob prefix that matches."""
        if key in self._rules:
            return self._rules[key]
        self._rules[key] = found = self._find_rule(key)
        return found

    def _find_rule(self, key: str) -> Definition | None:
        found = self.definitions.get(key)
        if found is not None:
            return found
        best: tuple[int, Definition] | None = None
        for name, definition in self.definitions.items():
            if name.endswith("*") and key.startswith(name[:-1]) \
                    and (best is None or len(name) > best[0]):
                best = (len(name), definition)
        return None if best is None else best[1]

    def sync_steps(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """`data` with the last value of each step metric added for the metrics that
        have step_sync (on by default with a step metric), when `data` lacks it."""
        added: dict[str, Any] = {}
        for key in data:
            rule = self.rule_for(key)
            if rule is None or rule.step_metric is None or rule.step_sync is False:
                continue
            step_key = rule.step_metric
            if step_key not in data and step_key in self._last:
                added[step_key] = self._last[step_key]
        for key in self._step_keys & data.keys():
            self._last[key] = data[key]
        return {**data, **added} if added else data

    def record(self, data: Mapping[str, Any], summary: Mapping[str, Any],
               summary_record: Callable[[Mapping[str, Any]], None]) -> None:
        """Record a logged row in the summary: plain values as they are, defined metrics
        as their summary ops make them; what differs from the row is kept in
        `pending_summary` / `pending_removed` for the run to send after the row.
        A metric's first aggregate starts from what `summary` holds of it (a resumed
        run's min, max, first; a mean starts again)."""
        plain: dict[str, Any] = {}
        for key, value in data.items():
            rule = self.rule_for(key)
            if rule is None or not rule.summary:
                plain[key] = value
                continue
            if "none" in rule.summary:
                self.pending_removed.add(key)
                self.pending_summary.pop(key, None)
                continue
            aggregate = self._aggregates.get(key)
            if aggregate is None:
                aggregate = self._aggregates[key] = _Aggregate.resumed(summary.get(key))
            aggregate.add(_scalar(value))
            result = aggregate.summary(rule.summary)
            plain[key] = result
            self.pending_summary[key] = result
            self.pending_removed.discard(key)
        summary_record(plain)

    def take_pending(self) -> tuple[dict[str, Any], list[str]]:
        """The summary changes to send after the row just committed (then forgotten)."""
        values, removed = self.pending_summary, sorted(self.pending_removed)
        self.pending_summary, self.pending_removed = {}, set()
        return values, removed

    def to_plain(self) -> dict[str, Any]:
        """Every definition, for the server (name -> definition)."""
        return {name: d.to_plain() for name, d in self.definitions.items()}
