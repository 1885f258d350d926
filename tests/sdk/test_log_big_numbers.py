"""Integers of any size, NaN and infinities logged through the SDK: they reach the
queue intact (integers past msgpack's own range as wire's big-integer ext type),
and what cannot be stored is refused in the caller's thread, as wandb does."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgpack
import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.errors import WireError
from tablelog.store.queue import Queue

VALUES: dict[str, Any] = {"int53": 2**53 + 1, "u64": 2**64, "neg70": -(2**70),
                          "i64min": -(2**63), "huge": 2**1100, "neghuge": -(3**700),
                          "largest": 2**8191 - 1, "max": 1e308, "inf": math.inf,
                          "ninf": -math.inf}


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included."""
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def test_integers_of_any_size_round_trip_through_wire() -> None:
    value = {"v": [*VALUES.values(), math.nan], "nested": dict(VALUES)}
    assert same(wire.unpackb(wire.packb(value)), value)
    assert len(wire.packb(2**64 - 1)) == 9  # msgpack's own uint64: no ext below 2**64
    assert wire.packb(2**64)[:2] == b"\xc7\x09" and wire.packb(2**64)[2] == wire.EXT_BIGINT
    with pytest.raises(WireError, match="too large"):
        wire.packb(2**8191)


def test_a_malformed_big_integer_is_a_wire_error() -> None:
    for data in (b"", b"\x01" * (wire.MAX_BIGINT_BYTES + 1)):
        with pytest.raises(WireError):
            wire.unpackb(msgpack.packb(msgpack.ExtType(wire.EXT_BIGINT, data)))


def test_unknown_ext_types_are_plain_for_json() -> None:
    decoded = wire.unpackb(msgpack.packb({"x": msgpack.ExtType(99, b"\x01\x02")}))
    assert wire.jsonable(decoded) == {"x": {"_type": "ext", "code": 99, "data": "0102"}}


def test_names_and_addresses_are_matched_whole() -> None:
    assert not wire.is_valid_name("proj\n") and wire.is_valid_name("proj")
    assert not wire.is_sha256("ab" * 32 + "\n") and wire.is_sha256("ab" * 32)


def _queued(queue_dir: Path) -> list[wire.Entry]:
    with Queue(queue_dir) as q:
        return [wire.decode_entry(e.payload) for e in q.claim_batch(max_entries=10_000,
                                                                      max_bytes=1 << 40)]


def test_huge_values_and_time_ns_steps_reach_the_queue(queue_dir: Path) -> None:
    steps = [2**53, 2**53 + 1, 1_796_194_470_046_916_872, wire.MAX_STEP]
    with wandb.init(project="proj", config={**VALUES, "nan": math.nan}) as run:
        table = wandb.Table(columns=["k", "v"], data=[[k, v] for k, v in VALUES.items()])
        run.log({"t": table}, step=0)
        for step in steps:
            run.log({**VALUES, "nan": math.nan}, step=step)
        run.summary["sum"] = 2**70
    assert run.not_persisted == []
    entries = _queued(queue_dir)
    history = [e.body for e in entries if e.kind == wire.Kind.HISTORY]
    assert [h["step"] for h in history if "u64" in h["row"]] == steps
    for h in history:
        if "u64" in h["row"]:
            assert same(h["row"], {**VALUES, "nan": math.nan}), h["row"]
    config = [e.body["config"] for e in entries if e.kind == wire.Kind.RUN][-1]
    assert same(config, {**VALUES, "nan": math.nan})
    summary = [e.body["summary"] for e in entries if e.kind == wire.Kind.SUMMARY][-1]
    assert summary["sum"] == 2**70 and summary["huge"] == 2**1100


def test_steps_past_int64_are_refused_when_logged(queue_dir: Path) -> None:
    """wandb's steps are int64: a larger one is a ValueError at the call."""
    with wandb.init(project="proj") as run:
        with pytest.raises(ValueError, match="2\\*\\*63 - 1"):
            run.log({"x": 1}, step=wire.MAX_STEP + 1)
        run.log({"x": 2}, step=wire.MAX_STEP)  # the largest step, open
        run.log({"y": 3})  # joins it, and commits it: no step is left after it
        with pytest.raises(ValueError, match="2\\*\\*63 - 1"):
            run.log({"x": 4})
    assert run.not_persisted == []
    rows = [(e.body["step"], e.body["row"]) for e in _queued(queue_dir)
            if e.kind == wire.Kind.HISTORY]
    assert rows == [(wire.MAX_STEP, {"x": 2, "y": 3})]


def test_an_integer_too_large_to_store_is_refused_when_logged(queue_dir: Path) -> None:
    with wandb.init(project="proj") as run:
        with pytest.raises(ValueError, match="too large"):
            run.log({"x": 2**8191})
        with pytest.raises(ValueError, match="too large"):
            run.summary["x"] = [2**10000]
        run.log({"x": 2**8191 - 1})
    assert run.not_persisted == []
