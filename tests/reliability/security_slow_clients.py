"""Slow and idle clients (slowloris): thousands of connections that never finish their
headers, at a real `tablelog server` holding only as many file descriptors as a systemd
service gets by default. The server must keep answering everyone else and close the
headerless connections within its header timeout.

Everything here is bounded by deadlines and driven by the sockets' own readiness
(`selectors`), never by sleeps.
"""

from __future__ import annotations

import contextlib
import errno
import resource
import selectors
import socket
import time
import urllib.request
from dataclasses import dataclass, field

from tests.reliability.harness import Counts, Harness

NOFILE = 1024  # a systemd service's default soft limit; the probe makes it the hard one too
HEADER_TIMEOUT_S = 2.0
HEALTHZ_WITHIN_S = 1.5  # "within a second or so", on a loaded 2-core CI machine
WAVE = 100  # connections opened at once: fewer than the server's accept queue (128)
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "  # headers never end


@dataclass
class SlowClients:
    """Idle client sockets and what became of them."""

    open: dict[int, socket.socket] = field(default_factory=dict)  # fileno -> socket
    connected: int = 0
    never_connected: int = 0
    closed_by_server: int = 0
    last_connect: float = 0.0

    def close_all(self) -> None:
        for sock in self.open.values():
            sock.close()
        self.open.clear()


def make_room_for(n: int) -> bool:
    """Raise this process's soft RLIMIT_NOFILE so that it can hold `n` sockets (the hard
    limit stays, so this is reversible); whether it can."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft >= want:
        return True
    if hard != resource.RLIM_INFINITY and hard < want:
        return False
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return True


def open_slow_clients(clients: SlowClients, port: int, n: int, *, within_s: float = 10.0
                      ) -> None:
    """Connect `n` more sockets to 127.0.0.1:`port` without blocking; every other one
    sends the start of a request whose headers never end, the rest send nothing.
    Returns once every socket connected (or failed, or `within_s` passed)."""
    sel = selectors.DefaultSelector()
    pending: dict[int, tuple[socket.socket, int]] = {}
    try:
        for i in range(n):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                sock.close()
                clients.never_connected += 1
                continue
            pending[sock.fileno()] = (sock, i)
            sel.register(sock, selectors.EVENT_WRITE)
        deadline = time.monotonic() + within_s
        while pending and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(min(left, 0.5)):
                sock, i = pending.pop(key.fd)
                sel.unregister(sock)
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    sock.close()
                    clients.never_connected += 1
                    continue
                clients.connected += 1
                clients.last_connect = time.monotonic()
                if i % 2:
                    with contextlib.suppress(OSError):  # already dropped by the server
                        sock.send(PARTIAL)
                clients.open[sock.fileno()] = sock
        for sock, _ in pending.values():  # still connecting: the server never took them
            clients.never_connected += 1
            clients.open[sock.fileno()] = sock
    finally:
        sel.close()


def reap_closed(clients: SlowClients, *, until: float) -> None:
    """Wait (until the monotonic time `until` at most) for the server to close the open
    sockets; those it closed are removed from `clients.open` and counted."""
    sel = selectors.DefaultSelector()
    try:
        for sock in clients.open.values():
            sel.register(sock, selectors.EVENT_READ)
        while clients.open and (left := until - time.monotonic()) > 0:
            for key, _ in sel.select(min(left, 0.5)):
                sock = clients.open[key.fd]
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""  # reset: closed as well
                if data:
                    continue  # an answer (408, 503): the close follows
                sel.unregister(sock)
                del clients.open[key.fd]
                sock.close()
                clients.closed_by_server += 1
    finally:
        sel.close()


def healthz_seconds(url: str, timeout: float = 3.0) -> float | None:
    """How long GET /healthz took on a fresh connection; None if it did not answer 200."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=timeout) as r:
            r.read()
            ok = r.status == 200
    except OSError:
        return None
    return time.monotonic() - started if ok else None


def probe_slow_clients(c: Counts, h: Harness, *, connections: int = 2000) -> int:
    """`connections` idle connections (half of them in the middle of their headers) at a
    server limited to 1,024 file descriptors with a 2 s header timeout: /healthz keeps
    answering within a second or so on fresh connections, every headerless connection
    is closed by the server within the header timeout (plus a little), the server never
    ran out of file descriptors, and it still answers afterwards."""
    probes = 0
    if not c.check(make_room_for(connections), "the probe can hold its idle connections",
                   f"RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)} is too low "
                   f"for {connections} sockets"):
        return probes
    srv = h.server(extra_args=["--header-timeout", str(HEADER_TIMEOUT_S)], nofile=NOFILE)
    clients = SlowClients()
    try:
        # In waves smaller than the listening socket's accept queue, each followed by a
        # /healthz round trip: its connection queues behind the wave's, so its answer
        # also shows that the server took the whole wave off the queue (a burst larger
        # than the queue leaves connections the kernel holds half-open, which no server
        # can see, let alone close).
        latencies: list[float | None] = []
        while clients.connected + clients.never_connected < connections:
            open_slow_clients(clients, srv.port, min(WAVE, connections - clients.connected
                                                     - clients.never_connected))
            latencies.append(healthz_seconds(srv.url))
            if latencies.count(None) >= 3:
                break  # starved: no point waiting out more timeouts
        for _ in range(5 if latencies.count(None) < 3 else 0):
            latencies.append(healthz_seconds(srv.url))
        probes += clients.connected + clients.never_connected + len(latencies)
        c.note(f"slow clients: {clients.connected} of {connections} connected, "
               f"{clients.never_connected} never were; /healthz took at most "
               f"{max((t for t in latencies if t is not None), default=0):.3f} s")
        slow = [t for t in latencies if t is None or t > HEALTHZ_WITHIN_S]
        c.check(not slow, f"/healthz answers within {HEALTHZ_WITHIN_S} s through "
                f"{connections} idle connections at a {NOFILE}-fd server",
                f"{len(slow)} of {len(latencies)} slow or failed, at "
                f"{clients.connected} connections: {latencies}")
        c.check(clients.connected == connections, "every slow client's connection is "
                "established", f"{clients.connected} of {connections}")
        reap_closed(clients, until=max(clients.last_connect + HEADER_TIMEOUT_S + 1.5,
                                       time.monotonic() + 0.5))
        c.check(not clients.open, f"headerless connections closed by the server within "
                f"the {HEADER_TIMEOUT_S} s header timeout",
                f"{len(clients.open)} of {connections} still open")
        c.note(f"slow clients: {clients.closed_by_server} closed by the server")
    finally:
        clients.close_all()
    after = healthz_seconds(srv.url)
    probes += 1
    c.check(after is not None, "the server still answers after the slow clients", after)
    assert srv.proc is not None and srv.log_path is not None
    log = srv.log_path.read_text(errors="replace")
    c.check(srv.proc.poll() is None and "Too many open files" not in log,
            "the server never ran out of file descriptors",
            [line for line in log.splitlines() if "open files" in line][:3])
    return probes
