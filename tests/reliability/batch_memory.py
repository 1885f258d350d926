"""What a hostile batch costs a real server's memory (issue 13.3), shared by the
test (`test_batch_memory.py`), the security probe (`security_batch_limits.py`)
and the figures (`bench/bench_server_memory.py`).

Two bodies that cost little on the wire and a lot once decoded: a million empty
entries, and one entry whose history row is a few MiB of empty maps. The growth
of the server's peak RSS while it answers one is read from the kernel
(/proc/PID/status VmHWM, reset first through /proc/PID/clear_refs), with VmRSS
sampled meanwhile where the reset is not allowed.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from tablelog import wire

MiB = 1 << 20
EMPTY_ENTRIES = 1_000_000
BIG_ROW_BYTES = 6 * MiB
_SAMPLE_S = 0.005


def allowed_growth(body_bytes: int) -> int:
    """The peak RSS growth a request of `body_bytes` may cost the server: a small
    multiple of the body, plus room for the interpreter's own arenas."""
    return 8 * body_bytes + 48 * MiB


def _envelope(count: int) -> bytes:
    """A batch envelope up to its entries' array header announcing `count` items."""
    head: bytes = msgpack.packb({"v": list(wire.WIRE_VERSION), "queue_id": "hostile-queue"})
    key: bytes = msgpack.packb("entries")
    return (bytes([head[0] + 1]) + head[1:] + key
            + b"\xdd" + count.to_bytes(4, "big"))


def empty_entries_body(count: int = EMPTY_ENTRIES) -> bytes:
    """A batch of `count` entries {"id": i, "data": b""}: 16 bytes each on the wire,
    built from bytes so that a million take a fraction of a second."""
    items = (b"\x82\xa2id\xce" + i.to_bytes(4, "big") + b"\xa4data\xc4\x00"
             for i in range(1, count + 1))
    return _envelope(count) + b"".join(items)


def big_row_body(row_bytes: int = BIG_ROW_BYTES) -> bytes:
    """A batch of one history entry whose row holds about `row_bytes` empty maps,
    in arrays of 1024 (each array alone is small; together they would build
    ~70 bytes of Python objects per byte received)."""
    inner: list[dict[str, int]] = [{}] * 1024
    row = {"x": [inner] * max(1, row_bytes // 1027)}
    payload = wire.encode_entry(wire.Kind.HISTORY, entity=None, project="hostile",
                                run_id="r1", body={"step": 0, "row": row})
    return wire.encode_batch("hostile-queue", [(1, payload)])


@dataclass(frozen=True)
class Answer:
    """A server's answer to one hostile batch and what it cost."""

    status: int
    body: Any
    body_bytes: int  # of the request
    peak_growth: int  # bytes of peak RSS over the RSS before the request

    @property
    def peak_mib(self) -> float:
        return self.peak_growth / MiB


def post_batch(port: int, key: str, body: bytes, *, timeout: float = 120) -> tuple[int, Any]:
    """POST `body` to /api/v1/batches on 127.0.0.1:`port`; the status and JSON answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/api/v1/batches", body=body, headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/msgpack",
            "Accept": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw[:200].decode(errors="replace")


def send_and_measure(pid: int, port: int, key: str, body: bytes) -> Answer:
    """POST `body` to the server `pid` listening on `port`; its answer and the growth
    of its peak RSS meanwhile."""
    return _measured(pid, lambda: post_batch(port, key, body), len(body))


def _measured(pid: int, send: Callable[[], tuple[int, Any]], body_bytes: int) -> Answer:
    before = _status_bytes(pid, "VmRSS")
    reset = _reset_peak(pid)
    sampled = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(_SAMPLE_S):
            sampled[0] = max(sampled[0], _status_bytes(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        status, answer = send()
    finally:
        done.set()
        sampler.join(5)
    peak = max(sampled[0], _status_bytes(pid, "VmHWM") if reset else 0)
    return Answer(status, answer, body_bytes, peak - before)


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # the kernel counts kB
    raise LookupError(f"/proc/{pid}/status has no {field}")


def _reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux 4.0+); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
