"""The dict-like `run.config` and `run.summary`, and the checks on logged values.

Both objects only record changes and hand them to a callback (the run sends
them to the writer); they do no I/O themselves. Each change and its hand-off
happen under the object's lock, so that changes made from several threads
reach the writer in the order they were made (none is lost to a stale copy).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from tablelog.wire import MAX_BIGINT_BYTES

_SCALARS = (int, float, bool, str, type(None))


class Config(MutableMapping[str, Any]):
    """`run.config`: a dict with attribute access (`config.lr`); every change is persisted."""

    def __init__(self, values: Mapping[str, Any] | None = None,
                 on_change: Callable[[dict[str, Any]], None] | None = None) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_on_change", None)
        object.__setattr__(self, "_lock", threading.RLock())
        if values:
            self.update(values)
        object.__setattr__(self, "_on_change", on_change)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(dict(self._values))

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def _after_fork(self) -> None:
        """In a forked child: a lock another thread held at the fork stays held."""
        object.__setattr__(self, "_lock", threading.RLock())

    def __setitem__(self, key: str, value: Any) -> None:
        value = plain_value(value, f"config[{key!r}]")
        with self._lock:
            self._values[str(key)] = value
            self._changed()

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._values[key]
            self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def update(self, *args: Any, **kwargs: Any) -> None:  # one persist per update()
        values = dict(*args, **kwargs)
        if len(args) == 1 and isinstance(args[0], argparse.Namespace):
            values = vars(args[0])
        plain = {str(k): plain_value(v, f"config[{k!r}]") for k, v in values.items()}
        with self._lock:
            self._values.update(plain)
            self._changed()

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __reduce__(self) -> tuple[Any, ...]:  # a copy holds the values, not the lock
        return (Config, (dict(self._values),))

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


class Summary(MutableMapping[str, Any]):
    """`run.summary`: the last value logged for each key, settable by hand."""

    def __init__(self, values: Mapping[str, Any] | None = None,
                 on_set: Callable[[dict[str, Any], list[str]], None] | None = None) -> None:
        self._values: dict[str, Any] = dict(values or {})
        self._on_set = on_set
        self._lock = threading.RLock()

    def _after_fork(self) -> None:
        """In a forked child: a lock another thread held at the fork stays held."""
        self._lock = threading.RLock()

    def _record(self, row: Mapping[str, Any]) -> None:
        """Values from a logged row (already sent with the history entry). No lock of
        its own on run.log's hot path: the run's lock is held, and one dict.update is
        atomic under the GIL against update() here."""
        self._values.update(row)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._values[key]
            if self._on_set is not None:
                self._on_set({}, [key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def update(self, *args: Any, **kwargs: Any) -> None:
        values = {str(k): plain_value(v, f"summary[{k!r}]") for k, v in
                  dict(*args, **kwargs).items()}
        with self._lock:
            self._values.update(values)
            if self._on_set is not None:
                self._on_set(values, [])

    def __reduce__(self) -> tuple[Any, ...]:  # a copy holds the values, not the lock
        return (Summary, (dict(self._values),))

    def __repr__(self) -> str:
        return f"Summary({self._values!r})"


def plain_value(value: Any, where: str) -> Any:
    """A logged scalar/collection as plain Python, or TypeError naming `where`.

    Media and table values are handled by the run before this is called.
    """
    if isinstance(value, _SCALARS):
        if isinstance(value, int) and value.bit_length() >= 8 * MAX_BIGINT_BYTES:
            raise ValueError(f"{where}: an integer of {value.bit_length()} bits is too large "
                             f"to log (at most {8 * MAX_BIGINT_BYTES - 1} bits, about 2,466 "
                             "digits)")
        return value
    np = sys.modules.get("numpy")  # no numpy value exists unless numpy was imported
    if np is not None:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):  # 0-d: a number, as wandb stores it
            return value.item() if value.ndim == 0 else value
    if isinstance(value, _dt.datetime | _dt.date):
        return value
    if isinstance(value, list | tuple):
        return [plain_value(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain_value(v, f"{where}[{k!r}]") for k, v in value.items()}
    if getattr(value, "_kind", None) is not None:  # media: resolved by the writer
        return value
    plain_form = getattr(value, "_plain_form", None)  # a Histogram: stored as wandb's map
    if plain_form is not None:
        return plain_form()
    from tablelog.runtime.log_values import figure_media

    media = figure_media(value)  # a matplotlib or plotly figure inside a dict or list
    if media is not value:
        return media
    raise TypeError(f"{where}: cannot log a value of type {type(value).__name__}; use numbers, "
                    "strings, bools, lists, dicts, numpy values, Table or media values")
