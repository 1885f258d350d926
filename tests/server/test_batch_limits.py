"""Batch limits (issue 13.3): entries per ``POST /batches`` are bounded, a batch over
the limit is answered 413 with the limits before its entries are decoded, and
``GET /api/v1/limits`` tells the agent what to stay under."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import msgpack
import pytest
from aiohttp.test_utils import TestClient
from server_helpers import API_KEY, ENTITY, entry, run_body

from tablelog import wire
from tablelog.errors import TooManyEntriesError, WireError
from tablelog_server.app import create_app
from tablelog_server.cli import config_from_args
from tablelog_server.config import ServerConfig

LIMIT = 5
BODY_LIMIT = 64 * 1024
LIMITS = {"max_batch_entries": LIMIT, "max_body_bytes": BODY_LIMIT,
          "max_blob_bytes": ServerConfig.max_blob_bytes}
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/msgpack"}


@pytest.fixture
async def small(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    """A server taking at most LIMIT entries and BODY_LIMIT bytes per batch."""
    config = ServerConfig(data_dir=tmp_path / "server", api_keys={API_KEY: ENTITY},
                          max_batch_entries=LIMIT, max_body_bytes=BODY_LIMIT)
    return await aiohttp_client(create_app(config))  # type: ignore[no-any-return]


def history_entries(n: int) -> list[bytes]:
    """A run entry then n - 1 history rows of run1."""
    return [entry("run", run_body()),
            *(entry("history", {"step": i, "row": {"x": i}}) for i in range(n - 1))]


def envelope_with_raw_entries(count: int, item: bytes) -> bytes:
    """A batch envelope whose entries array announces `count` items, each `item`
    (already msgpack); built from bytes so a million items cost no encoding time."""
    head = msgpack.packb({"v": list(wire.WIRE_VERSION), "queue_id": "queue-1"})
    # Turn the 2-key fixmap into a 3-key one and append "entries": array32 header.
    return (bytes([head[0] + 1]) + head[1:] + msgpack.packb("entries")
            + b"\xdd" + count.to_bytes(4, "big") + item * count)


async def post(client: TestClient[Any, Any], body: bytes) -> tuple[int, Any]:
    resp = await client.post("/api/v1/batches", data=io.BytesIO(body), headers=HEADERS)
    return resp.status, await resp.json()


async def test_a_batch_at_the_limit_is_applied(small: TestClient[Any, Any]) -> None:
    status, body = await post(small, wire.encode_batch(
        "queue-1", enumerate(history_entries(LIMIT), 1)))
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["applied"] * LIMIT


async def test_one_entry_over_the_limit_is_413_with_the_limits_and_applies_nothing(
        small: TestClient[Any, Any]) -> None:
    status, body = await post(small, wire.encode_batch(
        "queue-1", enumerate(history_entries(LIMIT + 1), 1)))
    assert status == 413
    assert body["limits"] == LIMITS
    assert f"{LIMIT + 1} entries" in body["error"] and str(LIMIT) in body["error"]
    resp = await small.get("/api/v1/runs/local/proj/run1", headers=HEADERS)
    assert resp.status == 404  # nothing of the refused batch was applied


async def test_a_million_entries_are_refused_from_the_header_before_decoding(
        aiohttp_client: Any, tmp_path: Path) -> None:
    # Default limits. The items are not even valid entries (nil): a server decoding
    # them first would answer 400 "each batch entry needs an integer id"; the count
    # alone must get the 413.
    client = await aiohttp_client(create_app(ServerConfig(
        data_dir=tmp_path / "server", api_keys={API_KEY: ENTITY})))
    status, body = await post(client, envelope_with_raw_entries(1_000_000, b"\xc0"))
    assert status == 413, body
    assert body["limits"]["max_batch_entries"] == 10_000
    assert "1000000 entries" in body["error"]


async def test_an_announced_count_without_its_entries_is_refused_too(
        small: TestClient[Any, Any]) -> None:
    # A header claiming 2**32-1 entries in a few bytes: refused, not waited for.
    status, body = await post(small, envelope_with_raw_entries(2**32 - 1, b"")[:200])
    assert status == 413 and body["limits"]["max_batch_entries"] == LIMIT


async def test_a_body_over_max_body_bytes_is_413_with_the_limits(
        small: TestClient[Any, Any]) -> None:
    big = entry("history", {"step": 0, "row": {"x": "y" * (BODY_LIMIT + 10)}})
    status, body = await post(small, wire.encode_batch("queue-1", [(1, big)]))
    assert status == 413
    assert body["limits"] == LIMITS


async def test_limits_route_answers_the_limits_to_a_key_only(
        small: TestClient[Any, Any]) -> None:
    resp = await small.get("/api/v1/limits", headers=HEADERS)
    assert resp.status == 200
    assert await resp.json() == {"limits": LIMITS}
    resp = await small.get("/api/v1/limits")
    assert resp.status == 401


def test_the_limit_comes_from_the_command_line_or_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config, _ = config_from_args(["--api-key", API_KEY, "--data-dir", str(tmp_path),
                                  "--max-batch-entries", "7"])
    assert config.max_batch_entries == 7
    monkeypatch.setenv("TABLELOG_SERVER_MAX_BATCH_ENTRIES", "9")
    assert ServerConfig.from_env().max_batch_entries == 9
    with pytest.raises(ValueError, match="max batch entries"):
        ServerConfig(data_dir=tmp_path, max_batch_entries=0)


def test_streamed_decode_reads_any_key_order_and_refuses_garbage() -> None:
    items = [{"id": 1, "data": b"a"}, {"id": 2, "data": b"b"}]
    body = msgpack.packb({"entries": items, "queue_id": "q", "v": list(wire.WIRE_VERSION)})
    batch = wire.decode_batch(body, max_entries=2)
    assert (batch.queue_id, batch.entries) == ("q", [(1, b"a"), (2, b"b")])
    with pytest.raises(TooManyEntriesError) as info:
        wire.decode_batch(body, max_entries=1)
    assert (info.value.entries, info.value.max_entries) == (2, 1)
    with pytest.raises(WireError, match="extra bytes"):
        wire.decode_batch(body + b"\xc0")
    with pytest.raises(WireError, match="batch must be a map"):
        wire.decode_batch(msgpack.packb([1, 2]))
    with pytest.raises(WireError, match="malformed"):
        wire.decode_batch(body[:-3])


def test_streamed_decode_builds_no_containers_the_envelope_does_not_need() -> None:
    # Unknown fields are skipped, data that is a container is read as NOT_BYTES (the
    # server rejects that entry alone), and a huge "v" or "queue_id" is never built.
    hostile = [{}] * 1000
    body = msgpack.packb({"v": list(wire.WIRE_VERSION), "queue_id": "q", "junk": hostile,
                          "entries": [{"id": 1, "data": hostile}, {"id": 2, "data": b"x"}]})
    batch = wire.decode_batch(body)
    assert batch.entries == [(1, wire.NOT_BYTES), (2, b"x")]
    with pytest.raises(WireError, match="wire version"):
        wire.decode_batch(msgpack.packb({"v": hostile, "queue_id": "q", "entries": []}))
    with pytest.raises(WireError, match="integer id"):
        wire.decode_batch(msgpack.packb({"v": list(wire.WIRE_VERSION), "queue_id": "q",
                                         "entries": [{"id": hostile}]}))


def test_an_entry_decodes_within_its_value_budget() -> None:
    small = wire.packb({"rows": [{}] * 10})
    assert wire.unpackb(small, max_values=12) == {"rows": [{}] * 10}
    with pytest.raises(WireError, match="more than 11 values"):
        wire.unpackb(small, max_values=11)
    # An array alone over the budget is refused from its header; exts count too.
    with pytest.raises(WireError, match="more than 5 values"):
        wire.unpackb(msgpack.packb([None] * 6), max_values=5)
    media = wire.packb(wire.MediaRef("image", "a" * 64, 3, {"k": list(range(50))}))
    with pytest.raises(WireError, match="values"):
        wire.unpackb(media, max_values=20)
    assert wire.received_values_limit(80_000_000) == 10_000_000
    assert wire.received_values_limit(10) == wire.RECEIVED_VALUES_MIN


async def test_an_entry_building_too_many_values_is_rejected_alone(
        aiohttp_client: Any, tmp_path: Path) -> None:
    # 2 Mi empty maps in one history row (2 MiB) would build ~150 MiB of dicts.
    client = await aiohttp_client(create_app(ServerConfig(
        data_dir=tmp_path / "server", api_keys={API_KEY: ENTITY})))
    hostile = entry("history", {"step": 0, "row": {"x": [{}] * (2 << 20)}})
    entries = [entry("run", run_body()), hostile, entry("history", {"step": 1, "row": {}})]
    status, body = await post(client, wire.encode_batch("queue-1", enumerate(entries, 1)))
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["applied", "rejected", "applied"]
    assert re.search(r"decodes to more than \d+ values", body["results"][1]["reason"])
