"""The security scenario's probe of issue 13 point 3, against a real `tablelog server`
process: a million empty entries are answered 413 with the limits, one entry of a
few MiB of empty maps is rejected alone, each costing the server's memory a small
multiple of the body (see `batch_memory`); ``GET /api/v1/limits`` names the limits
to a key and answers 401 without one; the server keeps serving after each."""

from __future__ import annotations

import http.client
import json

from tests.reliability.batch_memory import (
    EMPTY_ENTRIES,
    allowed_growth,
    big_row_body,
    empty_entries_body,
    send_and_measure,
)
from tests.reliability.harness import Counts, Harness

KEY = "batch-limits-probe-key-2718281828"


def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept": "application/json", **headers})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, None


def probe_batch_limits(c: Counts, h: Harness) -> int:
    """Hostile batches and the limits route (see the module docstring). Returns the
    number of probe requests."""
    srv = h.server(keys={KEY: "local"})
    assert srv.proc is not None
    pid, port, probes = srv.proc.pid, srv.port, 0

    status, body = _get(port, "/api/v1/limits", {"Authorization": f"Bearer {KEY}"})
    probes += 1
    limits = body.get("limits") if isinstance(body, dict) else None
    c.check(status == 200 and isinstance(limits, dict)
            and limits.get("max_batch_entries") == 10_000
            and limits.get("max_body_bytes") == 64 << 20,
            "GET /api/v1/limits names the batch limits", (status, body))
    status, _ = _get(port, "/api/v1/limits", {})
    probes += 1
    c.check(status == 401, "GET /api/v1/limits without a key: 401", status)

    many = empty_entries_body()
    answer = send_and_measure(pid, port, KEY, many)
    probes += 1
    ok = (answer.status == 413 and isinstance(answer.body, dict)
          and f"{EMPTY_ENTRIES} entries" in str(answer.body.get("error"))
          and isinstance(answer.body.get("limits"), dict))
    c.check(ok, "a million empty entries: 413 with the limits", (answer.status,
                                                                  str(answer.body)[:200]))
    c.check(answer.peak_growth <= allowed_growth(len(many)),
            "a million empty entries cost the server a small multiple of their bytes",
            f"{answer.peak_mib:.0f} MiB for {len(many) >> 20} MiB")

    big = big_row_body()
    answer = send_and_measure(pid, port, KEY, big)
    probes += 1
    results = answer.body.get("results") if isinstance(answer.body, dict) else None
    c.check(answer.status == 200 and isinstance(results, list) and len(results) == 1
            and results[0].get("status") == "rejected",
            "an entry of 6 MiB of empty maps is rejected alone", (answer.status,
                                                                   str(answer.body)[:200]))
    c.check(answer.peak_growth <= allowed_growth(len(big)),
            "an entry of empty maps costs the server a small multiple of its bytes",
            f"{answer.peak_mib:.0f} MiB for {len(big) >> 20} MiB")
    status, _ = _get(port, "/healthz", {})
    probes += 1
    c.check(status == 200, "the server keeps serving after the hostile batches", status)
    return probes
