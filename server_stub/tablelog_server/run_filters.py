"""The runs filters and order of ``GET /api/v1/runs/{entity}/{project}``: the
MongoDB-style subset that wandb's ``Api.runs(path, filters=..., order=...)``
documents, evaluated here on the server over the project's runs.

A filter is a JSON object. Each key is either an operator joining filters
(``$and``, ``$or``, ``$nor``: lists of filters) or a field name whose value is
either a literal (equality) or an object of comparisons: ``$eq``, ``$ne``,
``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$nin``, ``$regex`` (Python
`re.search`), ``$exists``. Fields, as wandb names them:

- ``state``, ``name`` (the run id, as wandb's GraphQL names it), ``display_name``,
  ``group``, ``job_type``, ``notes``, ``tags``, ``created_at``/``createdAt``
  (ISO 8601 UTC, compared as text, as wandb's are), ``exit_code``;
- ``config.<key>`` (``config.<key>.value`` as wandb stores config, too) and
  ``summary_metrics.<key>`` (also ``summary.<key>``); a dotted key reaches into
  nested dicts.

As in MongoDB, a list-valued field (``tags``) matches a comparison when any of
its elements does, and a missing field equals ``None``. Comparisons between a
number and a string are false rather than errors. A malformed filter is a
`FilterError` (the API answers 400 with its message), never a silent match.

``order`` is a field name, ``+`` (or nothing) in front for ascending, ``-`` for
descending; the default is ``+created_at``, oldest first, as wandb's. Numbers sort
before strings; runs without the field sort last.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tablelog import wire
from tablelog_server.metadata import RunRecord

MAX_FILTER_DEPTH = 32
MAX_REGEX_CHARS = 1000
_MISSING = object()
_JOINS = ("$and", "$or", "$nor")
_COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex",
                "$exists")


class FilterError(ValueError):
    """A filter or order the server cannot evaluate; the message says why."""


def iso_time(ts: float | None) -> str | None:
    """A timestamp as wandb writes ``created_at``: ``2024-01-02T03:04:05Z`` (UTC)."""
    if ts is None:
        return None
    try:
        return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a time no calendar date holds
        return None


def created(run: RunRecord) -> float | None:
    """When the run began: its own start time (an offline run synced later keeps it, as
    in wandb), else when the server first heard of it."""
    return run.started_at if run.started_at is not None else run.created


class RunFields:
    """The fields of one run that filters and order read, decoded once."""

    def __init__(self, run: RunRecord) -> None:
        self.run = run
        self._config: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None

    def _decoded(self, data: bytes | None) -> dict[str, Any]:
        value = {} if data is None else wire.jsonable(wire.unpackb(data))
        return value if isinstance(value, dict) else {}

    def get(self, field: str) -> Any:
        run = self.run
        simple: dict[str, Callable[[], Any]] = {
            "state": lambda: run.state, "name": lambda: run.run_id, "id": lambda: run.run_id,
            "display_name": lambda: run.name or run.run_id, "displayName": lambda: run.name,
            "group": lambda: run.group, "job_type": lambda: run.job_type,
            "jobType": lambda: run.job_type, "notes": lambda: run.notes,
            "tags": lambda: list(run.tags), "exit_code": lambda: run.exit_code,
            "created_at": lambda: iso_time(created(run)),
            "createdAt": lambda: iso_time(created(run)),
        }
        if field in simple:
            return simple[field]()
        head, _, rest = field.partition(".")
        if not rest:
            raise FilterError(f"unknown run field {field!r} (fields: {', '.join(simple)}, "
                              "config.<key>, summary_metrics.<key>)")
        if head == "config":
            if self._config is None:
                self._config = self._decoded(run.config)
            found = _dig(self._config, rest)
            if found is _MISSING and rest.endswith(".value"):  # wandb's {"value": ...} form
                found = _dig(self._config, rest[: -len(".value")])
            return found
        if head in ("summary_metrics", "summary"):
            if self._summary is None:
                self._summary = self._decoded(run.summary)
            return _dig(self._summary, rest)
        raise FilterError(f"unknown run field {field!r}")


def _dig(values: Mapping[str, Any], dotted: str) -> Any:
    if dotted in values:
        return values[dotted]
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def compile_filter(spec: Any, depth: int = 0) -> Callable[[RunFields], bool]:
    """A predicate for the filter `spec` (a decoded JSON object); `FilterError` if it
    is malformed."""
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"filters nest deeper than {MAX_FILTER_DEPTH} levels")
    if not isinstance(spec, dict):
        raise FilterError(f"a filter must be an object, got {type(spec).__name__}")
    parts: list[Callable[[RunFields], bool]] = []
    for key, value in spec.items():
        if key in _JOINS:
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters")
            subs = [compile_filter(v, depth + 1) for v in value]
            parts.append(_join(key, subs))
        elif key.startswith("$"):
            raise FilterError(f"unknown operator {key!r} at the top of a filter "
                              f"(joins: {', '.join(_JOINS)})")
        else:
            parts.append(_field_test(key, value))
    return lambda fields: all(p(fields) for p in parts)


def _join(op: str, subs: list[Callable[[RunFields], bool]]) -> Callable[[RunFields], bool]:
    if op == "$and":
        return lambda f: all(s(f) for s in subs)
    if op == "$or":
        return lambda f: any(s(f) for s in subs)
    return lambda f: not any(s(f) for s in subs)


def _field_test(field: str, condition: Any) -> Callable[[RunFields], bool]:
    if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition):
        tests = [_comparison(op, arg, field) for op, arg in condition.items()]
        return lambda f: all(t(f.get(field)) for t in tests)
    if isinstance(condition, dict) and any(k.startswith("$") for k in condition):
        raise FilterError(f"field {field!r}: mix of operators and plain keys")
    test = _comparison("$eq", condition, field)
    return lambda f: test(f.get(field))


def _comparison(op: str, arg: Any, field: str) -> Callable[[Any], bool]:
    if op == "$exists":
        if not isinstance(arg, bool):
            raise FilterError(f"field {field!r}: $exists takes true or false")
        return lambda v: (v is not _MISSING and v is not None) == arg
    if op in ("$in", "$nin"):
        if not isinstance(arg, list):
            raise FilterError(f"field {field!r}: {op} takes a list")
        def within(v: Any) -> bool:
            return _any_element(v, lambda x: any(_equal(x, a) for a in arg))
        return within if op == "$in" else (lambda v: not within(v))
    if op == "$regex":
        if not isinstance(arg, str) or len(arg) > MAX_REGEX_CHARS:
            raise FilterError(f"field {field!r}: $regex takes a pattern of at most "
                              f"{MAX_REGEX_CHARS} characters")
        try:
            pattern = re.compile(arg)
        except re.error as exc:
            raise FilterError(f"field {field!r}: bad $regex {arg!r}: {exc}") from None
        return lambda v: _any_element(v, lambda x: isinstance(x, str)
                                      and pattern.search(x) is not None)
    if op in ("$eq", "$ne"):
        def equal(v: Any) -> bool:
            if isinstance(arg, list):  # a list equals a list (as MongoDB), not an element
                return _equal(v, arg)
            return _any_element(v, lambda x: _equal(x, arg))
        return equal if op == "$eq" else (lambda v: not equal(v))
    order = {"$gt": lambda c: c > 0, "$gte": lambda c: c >= 0, "$lt": lambda c: c < 0,
             "$lte": lambda c: c <= 0}.get(op)
    if order is None:
        raise FilterError(f"field {field!r}: unknown operator {op!r} "
                          f"(operators: {', '.join(_COMPARISONS)})")
    if _kind(arg) is None:
        raise FilterError(f"field {field!r}: {op} takes a number or a string")
    def ordered(v: Any) -> bool:
        def one(x: Any) -> bool:
            c = _compare(x, arg)
            return c is not None and order(c)
        return _any_element(v, one)
    return ordered


def _any_element(value: Any, test: Callable[[Any], bool]) -> bool:
    if isinstance(value, list):
        return test(value) or any(test(x) for x in value)
    return test(value)


def _equal(value: Any, arg: Any) -> bool:
    if value is _MISSING:
        return arg is None
    if isinstance(value, bool) or isinstance(arg, bool):
        return type(value) is type(arg) and value == arg
    return bool(value == arg)


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return "number"
    return "string" if isinstance(value, str) else None


def _compare(value: Any, arg: Any) -> int | None:
    """-1, 0, 1 for value <, ==, > arg; None when they are not of one orderable kind."""
    kind = _kind(value)
    if kind is None or kind != _kind(arg):
        return None
    return int(value > arg) - int(value < arg)


def sort_runs(runs: Iterable[RunFields], order: str | None) -> list[RunFields]:
    """`runs` in `order` (``field``, ``+field`` or ``-field``); oldest first by default.
    Ties keep the stored order (oldest first)."""
    order = order or "+created_at"
    descending = order.startswith("-")
    field = order.lstrip("+-")
    if not field:
        raise FilterError(f"invalid order {order!r}: a field name, '-' in front for "
                          "descending")
    keyed: list[tuple[Any, RunFields]] = []
    absent: list[RunFields] = []
    for f in runs:
        # created_at sorts by the timestamp: its text has whole seconds only
        value = (created(f.run) if field in ("created_at", "createdAt") else f.get(field))
        if _kind(value) is None:
            absent.append(f)
        else:
            keyed.append((value, f))
    numbers = [(v, f) for v, f in keyed if _kind(v) == "number"]
    strings = [(v, f) for v, f in keyed if _kind(v) == "string"]
    ordered: list[RunFields] = []
    for group in (numbers, strings):
        group.sort(key=lambda item: item[0], reverse=descending)
        ordered.extend(f for _, f in group)
    return ordered + absent


def select_runs(runs: list[RunRecord], filters: Any, order: str | None) -> list[RunRecord]:
    """The runs `filters` matches, in `order`; `FilterError` for a malformed one."""
    predicate = compile_filter(filters) if filters else (lambda _f: True)
    return [f.run for f in sort_runs((f for f in map(RunFields, runs) if predicate(f)),
                                     order)]
