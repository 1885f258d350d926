"""Issue 13.1 against a real nginx: the TLS site of docs/agent.md (read from the doc,
so the doc is what is tested; only its ports and certificate paths are changed) in
front of a real `tablelog server --public-url https://... --trust-proxy`. A viewer
login over HTTPS through nginx works and its cookie is Secure; the API answers a key.

nginx is installed by `dev.py test` (.ci/install-nginx); without it the test skips."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.conftest import API_KEY, free_port

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent.md"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                  else None)


def site_from_the_doc(*, port: int, upstream: int, cert: Path, key: Path) -> str:
    """The ```nginx block of docs/agent.md, listening on 127.0.0.1:`port`."""
    match = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert match, "docs/agent.md shows no nginx site"
    site = match.group(1)
    replaced = {"listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
                "/etc/ssl/tl.example.org/fullchain.pem": str(cert),
                "/etc/ssl/tl.example.org/privkey.pem": str(key),
                "http://127.0.0.1:8765": f"http://127.0.0.1:{upstream}"}
    for old, new in replaced.items():
        assert old in site, f"the site in docs/agent.md no longer has {old!r}"
        site = site.replace(old, new)
    return site


@pytest.fixture
def nginx_port(tmp_path: Path, server_factory: Any) -> Iterator[tuple[int, Any]]:
    """nginx on 127.0.0.1 with a self-signed certificate, in front of a real server."""
    if NGINX is None:
        pytest.skip("nginx is not installed (dev.py test installs it: .ci/install-nginx)")
    port = free_port()
    server = server_factory(extra_args=["--public-url", f"https://tl.example.org:{port}",
                                        "--trust-proxy"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=tl.example.org", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
{site_from_the_doc(port=port, upstream=server.port, cert=cert, key=key)}
}}
""")
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, f"nginx refuses the site of docs/agent.md: {check.stderr}"
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc, prefix / "error.log")
        yield port, server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path,
                    timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)  # a process just started; bounded by the deadline
    raise RuntimeError(f"nginx did not listen on {port} in {timeout}s")


async def test_a_viewer_login_through_nginx_over_https(nginx_port: tuple[int, Any]) -> None:
    port, _ = nginx_port
    base = f"https://127.0.0.1:{port}"
    origin = f"https://tl.example.org:{port}"
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    connector = aiohttp.TCPConnector(ssl=insecure)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(f"{base}/api/v1/whoami",
                               headers={"Authorization": f"Bearer {API_KEY}"}) as resp:
            assert resp.status == 200 and (await resp.json())["entity"] == "local"
        async with session.post(f"{base}/login", data={"api_key": API_KEY, "next": "/"},
                                headers={"Origin": origin, "Accept": "text/html"},
                                allow_redirects=False) as resp:
            text = await resp.text()
            assert resp.status == 303, text[:300]
            assert resp.headers["Location"] == "/"
            cookie = resp.headers["Set-Cookie"]
        assert "; secure" in cookie.lower() and "httponly" in cookie.lower()
        name_value = cookie.split(";", 1)[0]
        async with session.get(f"{base}/", headers={"Cookie": name_value},
                               allow_redirects=False) as resp:
            assert resp.status == 200, await resp.text()
        # A cross-site form is still refused through the proxy.
        async with session.post(f"{base}/login", data={"api_key": API_KEY, "next": "/"},
                                headers={"Origin": "https://evil.example", "Accept": "text/html"},
                                allow_redirects=False) as resp:
            assert resp.status == 403
