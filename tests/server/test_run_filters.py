"""The runs filters and order (`tablelog_server.run_filters`) on records built in
memory: MongoDB's semantics where wandb programs rely on them, and a clear error
for anything the server cannot evaluate (never a silent match-all)."""

from __future__ import annotations

from typing import Any

import pytest

from tablelog import wire
from tablelog_server.metadata import RunRecord
from tablelog_server.run_filters import FilterError, select_runs


def _run(run_id: str, *, created: float, state: str = "finished", tags: tuple[str, ...] = (),
         config: dict[str, Any] | None = None, summary: dict[str, Any] | None = None,
         group: str | None = None, name: str | None = None) -> RunRecord:
    return RunRecord(entity="e", project="p", run_id=run_id, name=name, state=state,
                     config=None if config is None else wire.packb(config),
                     summary=None if summary is None else wire.packb(summary), tags=tags,
                     notes=None, job_type=None, started_at=created, ended_at=None,
                     exit_code=None, history_rows=0, group=group, created=created)


RUNS = [
    _run("a", created=1.0, tags=("baseline", "v1"), config={"lr": 0.1, "opt": {"name": "sgd"}},
         summary={"acc": 0.7}, group="sweep-1", name="first"),
    _run("b", created=2.0, state="crashed", tags=("v2",), config={"lr": 0.01},
         summary={"acc": 0.9}, group="sweep-1"),
    _run("c", created=3.0, config={"lr": "auto"}, summary={"acc": None}),
    _run("d", created=4.0, state="running", tags=("baseline",), config={"lr": 1, "flag": True}),
]


def ids(filters: Any = None, order: str | None = None) -> list[str]:
    return [r.run_id for r in select_runs(RUNS, filters, order)]


def test_equality_on_plain_and_dotted_fields() -> None:
    assert ids({"state": "finished"}) == ["a", "c"]
    assert ids({"config.lr": 0.1}) == ["a"]
    assert ids({"config.lr.value": 0.1}) == ["a"]  # wandb's stored form of a config value
    assert ids({"config.opt.name": "sgd"}) == ["a"]
    assert ids({"group": "sweep-1", "state": "crashed"}) == ["b"]
    assert ids({"display_name": "first"}) == ["a"]
    assert ids({"display_name": "b"}) == ["b"]  # no name: the display name is the id


def test_lists_match_when_an_element_does() -> None:
    assert ids({"tags": "baseline"}) == ["a", "d"]
    assert ids({"tags": {"$in": ["v2", "v1"]}}) == ["a", "b"]
    assert ids({"tags": {"$nin": ["baseline"]}}) == ["b", "c"]
    assert ids({"tags": {"$regex": "^v[0-9]$"}}) == ["a", "b"]


def test_comparisons_never_cross_kinds() -> None:
    assert ids({"config.lr": {"$gt": 0.05}}) == ["a", "d"]  # "auto" is not compared
    assert ids({"config.lr": {"$lte": 0.1, "$gte": 0.01}}) == ["a", "b"]
    assert ids({"config.flag": {"$gt": 0}}) == []  # a bool is not a number here
    assert ids({"config.flag": True}) == ["d"]
    assert ids({"config.lr": 1}) == ["d"] and ids({"config.lr": True}) == []


def test_missing_equals_none_and_exists() -> None:
    assert ids({"summary_metrics.acc": None}) == ["c", "d"]
    assert ids({"summary_metrics.acc": {"$exists": True}}) == ["a", "b"]
    assert ids({"summary_metrics.acc": {"$ne": None}}) == ["a", "b"]
    assert ids({"group": {"$exists": False}}) == ["c", "d"]


def test_joins() -> None:
    assert ids({"$or": [{"state": "crashed"}, {"tags": "v1"}]}) == ["a", "b"]
    assert ids({"$and": [{"tags": "baseline"}, {"state": "running"}]}) == ["d"]
    assert ids({"$nor": [{"state": "finished"}, {"state": "running"}]}) == ["b"]
    assert ids({"created_at": {"$gte": "1970-01-01T00:00:03Z"}}) == ["c", "d"]


def test_order() -> None:
    assert ids() == ["a", "b", "c", "d"]  # +created_at, as wandb's default
    assert ids(order="-created_at") == ["d", "c", "b", "a"]
    assert ids(order="-summary_metrics.acc") == ["b", "a", "c", "d"]  # missing ones last
    assert ids(order="summary_metrics.acc") == ["a", "b", "c", "d"]
    assert ids(order="+config.lr") == ["b", "a", "d", "c"]  # numbers, then strings


@pytest.mark.parametrize(("filters", "message"), [
    ({"$where": "1"}, "unknown operator '\\$where'"),
    ({"state": {"$near": 1}}, "unknown operator '\\$near'"),
    ({"$or": []}, "non-empty list"),
    ({"$and": {"state": "x"}}, "non-empty list"),
    ({"tags": {"$in": "v1"}}, "takes a list"),
    ({"tags": {"$regex": "("}}, "bad \\$regex"),
    ({"config.lr": {"$gt": [1]}}, "number or a string"),
    ({"state": {"$exists": 1}}, "true or false"),
    ({"colour": "red"}, "unknown run field 'colour'"),
    ({"state": {"$eq": "x", "plain": 1}}, "mix of operators"),
    (["state"], "must be an object"),
])
def test_a_malformed_filter_is_an_error(filters: Any, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        ids(filters)


def test_deep_nesting_and_a_bad_order_are_errors() -> None:
    deep: dict[str, Any] = {"state": "finished"}
    for _ in range(40):
        deep = {"$and": [deep]}
    with pytest.raises(FilterError, match="deeper"):
        ids(deep)
    with pytest.raises(FilterError, match="invalid order"):
        ids(order="-")
    with pytest.raises(FilterError, match="unknown run field"):
        ids(order="colour")
