"""Issue 13.3: one hostile batch costs a real `tablelog server` process memory within a
small multiple of its body, read from the kernel (see `batch_memory`): a million
empty entries are answered 413 with the limits before any entry is built; a few
MiB of empty maps in one entry get that entry rejected, the batch answered."""

from __future__ import annotations

from typing import Any

from tests.conftest import API_KEY
from tests.reliability.batch_memory import (
    EMPTY_ENTRIES,
    allowed_growth,
    big_row_body,
    empty_entries_body,
    send_and_measure,
)


def _pid(server: Any) -> int:
    assert server.proc is not None
    return int(server.proc.pid)


def test_a_million_empty_entries_cost_a_small_multiple_of_their_bytes(
        live_server: Any) -> None:
    body = empty_entries_body()
    answer = send_and_measure(_pid(live_server), live_server.port, API_KEY, body)
    assert answer.status == 413, answer.body
    assert f"{EMPTY_ENTRIES} entries" in answer.body["error"]
    assert answer.body["limits"]["max_batch_entries"] == 10_000
    assert answer.peak_growth <= allowed_growth(len(body)), (
        f"{answer.peak_mib:.0f} MiB for a body of {len(body) / 2**20:.0f} MiB")


def test_an_entry_of_empty_maps_costs_a_small_multiple_of_its_bytes(
        live_server: Any) -> None:
    body = big_row_body()
    answer = send_and_measure(_pid(live_server), live_server.port, API_KEY, body)
    assert answer.status == 200, answer.body
    (result,) = answer.body["results"]
    assert result["status"] == "rejected" and "values" in result["reason"], result
    assert answer.peak_growth <= allowed_growth(len(body)), (
        f"{answer.peak_mib:.0f} MiB for a body of {len(body) / 2**20:.0f} MiB")
