"""The security scenario's probe of issue 13 points 1 and 6, against real
`tablelog server` processes: keys shorter than 16 characters are refused at start
with a pointer to ``tablelog server keygen``; behind a TLS proxy (``--public-url``,
``--trust-proxy``) logins work with the headers nginx sends and the cookie is
``Secure``, while without the flags forwarded headers are not believed; wrong keys
from one client address get 429 with Retry-After, and other addresses are not
slowed."""

from __future__ import annotations

import http.client
import urllib.parse

from tests.reliability.harness import Counts, Harness, child_env, cli

KEY = "proxy-probe-key-1618033988749"
WRONG = "proxy-probe-wrong-key-0000000"
PUBLIC = "https://tl.example.org"
BURST = 10  # tablelog_server.auth_limits.DEFAULT_BURST


def _call(port: int, method: str, path: str, headers: dict[str, str],
          body: bytes | None = None) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def _nginx(client_ip: str) -> dict[str, str]:
    """What nginx adds with the site in docs/agent.md."""
    return {"Host": "tl.example.org", "X-Forwarded-For": client_ip,
            "X-Forwarded-Proto": "https"}


def _login(port: int, key: str) -> tuple[int, dict[str, str]]:
    form = urllib.parse.urlencode({"api_key": key, "next": "/"}).encode()
    return _call(port, "POST", "/login", {
        **_nginx("203.0.113.5"), "Origin": PUBLIC, "Accept": "text/html",
        "Content-Type": "application/x-www-form-urlencoded"}, form)


def probe_proxy_and_keys(c: Counts, h: Harness) -> int:
    """Short keys refused, keygen, logins behind a proxy, per-address limits (see the
    module docstring). Returns the number of probe requests."""
    probes = 0
    env = child_env(None, None, key=None)
    short = cli("server", "--api-key", "secret", "--port", "0", "--data-dir",
                str(h.path("short-key-server")), env=env, timeout=60)
    c.check(short.returncode == 2 and "tablelog server keygen" in short.stderr
            and "secret" not in short.stderr,
            "a key under 16 characters: the server refuses to start, naming keygen",
            (short.returncode, short.stderr[-300:]))
    made = cli("server", "keygen", env=env, timeout=60)
    c.check(made.returncode == 0 and len(made.stdout.strip()) >= 40,
            "`tablelog server keygen` prints a strong key", made.stdout[-100:])

    plain = h.server(keys={KEY: "local"})
    status, _ = _login(plain.port, KEY)
    probes += 1
    c.check(status == 403, "without --public-url/--trust-proxy, nginx's forwarded "
            "headers are not believed (login refused as cross-site)", status)

    srv = h.server(keys={KEY: "local"}, extra_args=["--public-url", PUBLIC, "--trust-proxy"])
    status, headers = _login(srv.port, KEY)
    probes += 1
    cookie = headers.get("set-cookie", "").lower()
    c.check(status == 303 and "; secure" in cookie and headers.get("location") == "/",
            "behind a TLS proxy: login works, the cookie is Secure, the redirect relative",
            (status, cookie, headers.get("location")))

    answers = []
    for _ in range(BURST + 1):
        answers.append(_call(srv.port, "GET", "/api/v1/whoami", {
            **_nginx("198.51.100.1"), "Authorization": f"Bearer {WRONG}"}))
        probes += 1
    c.check([s for s, _ in answers] == [401] * BURST + [429]
            and answers[-1][1].get("retry-after") == "1",
            f"{BURST} wrong keys from one address: 401, then 429 with Retry-After",
            [s for s, _ in answers])
    status, _ = _call(srv.port, "GET", "/api/v1/whoami", {
        **_nginx("198.51.100.2"), "Authorization": f"Bearer {KEY}"})
    probes += 1
    c.check(status == 200, "the right key from another address is not slowed", status)
    return probes
