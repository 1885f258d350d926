"""The server as a real process (`python -m tablelog_server`, the fixtures of
tests/conftest.py): restarts lose nothing, SIGTERM lets an upload finish, keys
never reach the log, and garbage does not stop it."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from server_helpers import API_KEY, artifact_body, entry, run_body, table_blobs

from tablelog import wire

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def call(url: str, method: str = "GET", data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request; (status, decoded JSON answer)."""
    req = urllib.request.Request(url, data=data, method=method, headers={**AUTH,
                                                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def send(base: str, entries: list[bytes], ids: list[int]) -> list[str]:
    status, body = call(f"{base}/api/v1/batches", "POST",
                        wire.encode_batch("live-queue", zip(ids, entries, strict=True)),
                        {"Content-Type": "application/msgpack"})
    assert status == 200, body
    return [r["status"] for r in body["results"]]


def put_blob(base: str, data: bytes) -> None:
    status, body = call(f"{base}/api/v1/blobs/{wire.sha256_hex(data)}", "PUT", data)
    assert status == 201, body


def test_restart_loses_nothing_and_replays_are_duplicates(live_server: Any) -> None:
    rows = [[i, f"r{i}"] for i in range(wire.CHUNK_ROWS + 10)]
    blobs, table = table_blobs(["i", "s"], rows)
    for data in blobs.values():
        put_blob(live_server.url, data)
    batch = [entry("run", run_body()),
             entry("history", {"step": 0, "row": {"loss": 0.5}}),
             entry("artifact", artifact_body("run-run1-t", {"t": table})),
             entry("run_end", {"exit_code": 0, "ended_at": 9.0})]
    assert send(live_server.url, batch, [1, 2, 3, 4]) == ["applied"] * 4

    live_server.restart()
    assert send(live_server.url, batch, [1, 2, 3, 4]) == ["duplicate"] * 4
    _, run = call(f"{live_server.url}/api/v1/runs/local/proj/run1")
    assert run["state"] == "finished"
    _, history = call(f"{live_server.url}/api/v1/runs/local/proj/run1/history")
    assert history["rows"] == [{"_step": 0, "loss": 0.5}]
    _, page = call(f"{live_server.url}/api/v1/tables/local/proj/run-run1-t/v0/t"
                   f"?offset={wire.CHUNK_ROWS}&limit=20")
    assert page["rows"] == rows[wire.CHUNK_ROWS:] and page["nrows"] == len(rows)

    # Killed outright right after an acknowledged batch: still there.
    assert send(live_server.url, [entry("history", {"step": 1, "row": {"loss": 0.4}})],
                [5]) == ["applied"]
    live_server.stop(sig_kill=True)
    live_server.start()
    _, history = call(f"{live_server.url}/api/v1/runs/local/proj/run1/history")
    assert [r["_step"] for r in history["rows"]] == [0, 1]


def _wait_for_log(server: Any, text: str, timeout: float = 10.0) -> str:
    """The server's log once it holds `text` (the server writes it as it acts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = Path(server.log_path).read_text()
        if text in log:
            return log
        time.sleep(0.02)  # polling a file another process appends to, bounded
    raise AssertionError(f"{text!r} not in the server log after {timeout} s:\n{log}")


def test_sigterm_lets_an_inflight_upload_finish(server_factory: Any) -> None:
    server = server_factory(extra_args=["--log-level", "DEBUG"])
    data = b"streamed slowly " * 4096
    digest = wire.sha256_hex(data)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("PUT", f"/api/v1/blobs/{digest}")
        conn.putheader("Authorization", AUTH["Authorization"])
        conn.putheader("Content-Length", str(len(data)))
        conn.endheaders()
        conn.send(data[:1000])
        # The handler has the request (and waits for the rest of its body) ...
        _wait_for_log(server, f"request started: PUT /api/v1/blobs/{digest} (1 in flight)")
        server.proc.send_signal(signal.SIGTERM)
        # ... and the server is draining with it in flight: it must still read the rest.
        _wait_for_log(server, "stopping: 1 request(s) in flight")
        conn.send(data[1000:])
        resp = conn.getresponse()
        assert resp.status == 201, resp.read()
    finally:
        conn.close()
    assert server.proc.wait(10) == 0
    assert "stopped: every in-flight request finished" in Path(server.log_path).read_text()

    server.start()
    req = urllib.request.Request(f"{server.url}/api/v1/blobs/{digest}", headers=AUTH)
    with urllib.request.urlopen(req, timeout=10) as got:
        assert got.read() == data


def test_log_has_the_ready_line_and_never_a_key(live_server: Any) -> None:
    call(f"{live_server.url}/api/v1/whoami")
    call(f"{live_server.url}/api/v1/whoami", headers={"Authorization": "Bearer wrong-secret"})
    call(f"{live_server.url}/api/v1/batches", "POST", b"garbage")
    call(f"{live_server.url}/api/v1/nothing")
    live_server.stop()
    log = Path(live_server.log_path).read_text()
    assert f"tablelog server listening on {live_server.url}" in log
    assert "/api/v1/whoami" in log  # the access log is on
    assert API_KEY not in log and "wrong-secret" not in log
    assert live_server.proc.returncode == 0


def test_garbage_does_not_stop_the_server(live_server: Any) -> None:
    for body in (b"\x00" * 100, b"\xdd\xff\xff\xff\xff", b"{" * 10000, b"\x91" * 100000):
        for path in ("/api/v1/batches", "/api/v1/blobs/missing"):
            status, answer = call(f"{live_server.url}{path}", "POST", body)
            assert status == 400, (path, answer)
    assert call(f"{live_server.url}/api/v1/whoami")[0] == 200


def test_keys_file_maps_keys_to_entities(server_factory: Any, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"team-key-1-0123456789": "team", API_KEY: "local"}))
    srv = server_factory(extra_args=["--keys-file", str(keys)], api_keys=[])
    assert call(f"{srv.url}/api/v1/whoami")[1] == {"entity": "local"}
    assert call(f"{srv.url}/api/v1/whoami", headers={
        "Authorization": "Bearer team-key-1-0123456789"})[1] == {"entity": "team"}


def test_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "tablelog_server", "--data-dir",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=30,
                          env=env)
    assert proc.returncode == 2
    assert "no API key" in proc.stderr
