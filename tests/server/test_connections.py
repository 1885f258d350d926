"""Connection limits of a real `tablelog server` process (issue 13, point 2): the header
timeout, the idle timeout, the cap (longest-waiting connection dropped first, 503 when
every connection is busy), their flags and variables, the fit to the file descriptor
limit, and the unit's LimitNOFILE. The 2,000-connection case is in
tests/reliability/test_security_slow_clients.py."""

from __future__ import annotations

import configparser
import json
import resource
import select
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_helpers import API_KEY

from tablelog_server.cli import config_from_args
from tablelog_server.config import ServerConfig
from tablelog_server.connections import FD_RESERVE, FDS_PER_CONNECTION
from tablelog_server.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


_OPEN: list[socket.socket] = []


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def connect(port: int, data: bytes = b"") -> socket.socket:
    """A raw client connection (closed after the test), having sent `data`."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    _OPEN.append(sock)
    if data:
        sock.sendall(data)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (what it sends first is read)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            return False
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
    return False


def still_open(sock: socket.socket) -> bool:
    """Nothing to read now, and no close: the server still holds the connection."""
    return not select.select([sock], [], [], 0)[0]


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP answer: status, headers (lower-case names), body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return int(lines[0].split()[1]), headers, body


def healthz(url: str) -> int:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
        return int(r.status)


GET = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def test_headers_never_finished_are_closed_after_the_header_timeout(server_factory: Any
                                                                    ) -> None:
    srv = server_factory(extra_args=["--header-timeout", "1", "--idle-timeout", "60"])
    silent = connect(srv.port)
    partial = connect(srv.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    started = time.monotonic()
    assert closed_within(silent, 4) and closed_within(partial, 4)
    assert 0.8 < time.monotonic() - started < 4
    assert healthz(srv.url) == 200


def test_an_idle_keepalive_connection_is_closed_after_the_idle_timeout(server_factory: Any
                                                                       ) -> None:
    srv = server_factory(extra_args=["--header-timeout", "30", "--idle-timeout", "1"])
    sock = connect(srv.port, GET)
    status, headers, _ = read_answer(sock)
    assert status == 200 and headers.get("connection", "").lower() != "close"
    answered = time.monotonic()
    assert closed_within(sock, 5)
    assert 0.8 < time.monotonic() - answered < 5


def test_the_next_request_on_a_keepalive_connection_has_the_header_timeout(
        server_factory: Any) -> None:
    srv = server_factory(extra_args=["--header-timeout", "1", "--idle-timeout", "60"])
    sock = connect(srv.port, GET)
    assert read_answer(sock)[0] == 200
    sock.sendall(GET)  # a second request on the same connection is served too
    assert read_answer(sock)[0] == 200
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and a third never ends
    started = time.monotonic()
    assert closed_within(sock, 5)
    assert time.monotonic() - started < 5  # the header timeout, not the 60 s idle one


def test_over_the_cap_the_longest_waiting_connection_makes_room(server_factory: Any
                                                                ) -> None:
    srv = server_factory(extra_args=["--max-connections", "3", "--header-timeout", "60"])
    keepalive = connect(srv.port, GET)
    assert read_answer(keepalive)[0] == 200  # idle from now on
    silent = connect(srv.port)
    partial = connect(srv.port, b"GET / HTTP/1.1\r\n")
    # A fourth connection, a prompt client: served, and the connection that has waited
    # longest (the idle keep-alive one) is dropped for it.
    assert healthz(srv.url) == 200
    assert closed_within(keepalive, 5)
    assert still_open(silent) and still_open(partial)
    late = connect(srv.port)  # at the cap again (urllib closed its connection)
    assert healthz(srv.url) == 200
    assert closed_within(silent, 5)
    assert still_open(partial) and still_open(late)


def busy(port: int) -> socket.socket:
    """A connection whose request is being handled: an upload whose body has not come.
    The server writes "100 Continue" just before its middlewares run, with no await in
    between, so once the client has read it the connection counts as busy."""
    sock = connect(port, b"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: Bearer " + API_KEY.encode() + b"\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                         b"Expect: 100-continue\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1024)
        assert chunk
        data += chunk
    assert data.startswith(b"HTTP/1.1 100"), data
    return sock


def test_when_every_connection_is_busy_a_new_one_is_answered_503(server_factory: Any
                                                                  ) -> None:
    srv = server_factory(extra_args=["--max-connections", "2"])
    first, second = busy(srv.port), busy(srv.port)
    refused = connect(srv.port, GET)
    status, headers, body = read_answer(refused)
    assert status == 503 and headers["retry-after"] == "1"
    assert headers["connection"].lower() == "close"
    assert "too many" in json.loads(body)["error"]
    assert closed_within(refused, 5)  # a clean close after the answer, not a reset
    # The busy requests were not disturbed: each finishes with its own answer.
    first.sendall(b"{}")
    assert read_answer(first)[0] == 400
    assert healthz(srv.url) == 200  # room again: the first connection is idle now
    second.sendall(b"{}")
    assert read_answer(second)[0] == 400


def test_flags_and_variables() -> None:
    env = {"TABLELOG_SERVER_HEADER_TIMEOUT": "2.5", "TABLELOG_SERVER_IDLE_TIMEOUT": "7",
           "TABLELOG_SERVER_MAX_CONNECTIONS": "50"}
    config = ServerConfig.from_env(env)
    assert (config.header_timeout_s, config.idle_timeout_s, config.max_connections) == (
        2.5, 7.0, 50)
    defaults = ServerConfig.from_env({})
    assert (defaults.header_timeout_s, defaults.idle_timeout_s,
            defaults.max_connections) == (10.0, 180.0, 1000)
    with pytest.raises(ConfigError, match="TABLELOG_SERVER_MAX_CONNECTIONS"):
        ServerConfig.from_env({"TABLELOG_SERVER_MAX_CONNECTIONS": "many"})
    with pytest.raises(ConfigError, match="TABLELOG_SERVER_HEADER_TIMEOUT"):
        ServerConfig.from_env({"TABLELOG_SERVER_HEADER_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="positive"):
        ServerConfig(data_dir=Path("."), idle_timeout_s=0)
    with pytest.raises(ConfigError, match="at least 1"):
        ServerConfig(data_dir=Path("."), max_connections=0)
    config, _ = config_from_args(["--api-key", API_KEY, "--header-timeout", "3",
                                  "--idle-timeout", "4", "--max-connections", "5"])
    assert (config.header_timeout_s, config.idle_timeout_s, config.max_connections) == (
        3.0, 4.0, 5)
    done = subprocess.run([sys.executable, "-m", "tablelog_server", "--help"],
                          capture_output=True, text=True, timeout=60)
    for flag in ("--header-timeout", "--idle-timeout", "--max-connections"):
        assert flag in done.stdout


def fit_in_child(soft: int, hard: int) -> tuple[int, int]:
    """`connections_for_fd_limit(1000)` in a process started with RLIMIT_NOFILE
    (soft, hard), and its soft limit afterwards."""
    code = ("import resource; from tablelog_server.connections import "
            "connections_for_fd_limit as fit; n = fit(1000); "
            "print(n, resource.getrlimit(resource.RLIMIT_NOFILE)[0])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, preexec_fn=lambda: resource.setrlimit(
                              resource.RLIMIT_NOFILE, (soft, hard)))
    assert done.returncode == 0, done.stderr
    n, after = done.stdout.split()
    return int(n), int(after)


def test_the_cap_fits_the_file_descriptor_limit() -> None:
    need = FD_RESERVE + FDS_PER_CONNECTION * 1000
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.fail(f"this test needs a hard RLIMIT_NOFILE of {need}, not {hard}")
    # A hard limit that is too low: the cap shrinks to what the descriptors allow.
    assert fit_in_child(1024, 1024) == ((1024 - FD_RESERVE) // FDS_PER_CONNECTION, 1024)
    # systemd's default, 1024 soft and more hard: the soft limit is raised instead.
    assert fit_in_child(1024, need + 100) == (1000, need)


def test_the_server_unit_allows_the_default_cap() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((REPO / "systemd" / "tablelog-server.service").read_text())
    nofile = int(parser["Service"]["LimitNOFILE"])
    need = FD_RESERVE + FDS_PER_CONNECTION * ServerConfig(data_dir=Path(".")).max_connections
    assert nofile >= 4 * need  # room to raise --max-connections without editing the unit
