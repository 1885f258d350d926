"""Builders for the viewer tests: an `Uploader` that writes runs, history and table
versions through the batch API (as the agent would), and a `Viewer` that logs
in and fetches pages as a browser does."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from PIL import Image

from tablelog import wire

API_KEY = "test-key-0123456789"  # the same key as tests/conftest.py's live_server
OTHER_KEY = "other-key-9876543210"
ENTITY = "local"
OTHER_ENTITY = "other"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(1)>"
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A small PNG of one colour."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class LoggedTable:
    """A table version as logged: its artifact version's digest and its entry."""

    digest: str
    entry: wire.ManifestEntry
    version: str


def table_blobs(columns: Sequence[str], rows: Sequence[Sequence[Any]],
                types: Sequence[Any] | None = None, *, log_mode: str = "MUTABLE"
                ) -> tuple[dict[str, bytes], wire.ManifestEntry]:
    """Every blob of a table (manifest and chunks, at `wire.CHUNK_ROWS` boundaries) and
    its manifest entry; media blobs are the caller's."""
    blobs: dict[str, bytes] = {}
    refs = []
    for start in range(0, len(rows), wire.CHUNK_ROWS):
        part = rows[start:start + wire.CHUNK_ROWS]
        data = wire.encode_rows(part)
        sha = wire.sha256_hex(data)
        blobs[sha] = data
        refs.append(wire.ChunkRef(sha, len(part), len(data)))
    plain_types = list(types) if types is not None else [{"wb_type": "any"} for _ in columns]
    manifest = wire.TableManifest(list(columns), plain_types, refs, log_mode)
    data = manifest.to_bytes()
    sha = wire.sha256_hex(data)
    media = [c.sha256 for r in rows for c in r if isinstance(c, wire.MediaRef)]
    entry = wire.ManifestEntry("table", sha, len(data), {"nrows": len(rows)},
                               tuple(dict.fromkeys([*(r.sha256 for r in refs), *media])))
    return {sha: data, **blobs}, entry


class Uploader:
    """Sends queue entries for entity `local` through ``POST /api/v1/batches``."""

    def __init__(self, client: TestClient[Any, Any], key: str = API_KEY) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}
        self._next_id = 1

    async def put_blob(self, data: bytes) -> str:
        """Upload one blob; its address."""
        sha = wire.sha256_hex(data)
        resp = await self.client.put(f"/api/v1/blobs/{sha}", data=data, headers=self.headers)
        assert resp.status == 201, await resp.text()
        return sha

    async def send(self, kind: str, body: dict[str, Any], *, project: str = "proj",
                   run_id: str = "run1") -> None:
        """One entry, which must be applied."""
        data = wire.encode_entry(wire.Kind(kind), entity=None, project=project,
                                 run_id=run_id, body=body)
        batch = wire.encode_batch("viewer-tests", [(self._next_id, data)])
        self._next_id += 1
        resp = await self.client.post("/api/v1/batches", data=batch, headers={
            **self.headers, "Content-Type": "application/msgpack"})
        body_out = await resp.json()
        assert resp.status == 200 and body_out["results"][0]["status"] == "applied", body_out

    async def start_run(self, *, project: str = "proj", run_id: str = "run1",
                        name: str = "my run", config: dict[str, Any] | None = None) -> None:
        """A ``run`` entry."""
        await self.send("run", {"name": name, "config": config or {}, "tags": ["t1"],
                                "notes": None, "job_type": "train", "started_at": 1_700_000_000.0,
                                "resumed": False}, project=project, run_id=run_id)

    async def log_table(self, name: str, entries: dict[str, tuple[dict[str, bytes],
                                                                  wire.ManifestEntry]],
                        *, project: str = "proj", run_id: str = "run1",
                        type_: str = "run_table", extra_blobs: Sequence[bytes] = ()) -> str:
        """Upload every blob, then log an artifact version with `entries`; its digest."""
        for data in extra_blobs:
            await self.put_blob(data)
        plain: dict[str, wire.ManifestEntry] = {}
        for entry_name, (blobs, entry) in entries.items():
            for data in blobs.values():
                await self.put_blob(data)
            plain[entry_name] = entry
        digest = wire.artifact_digest(plain)
        await self.send("artifact", {
            "name": name, "type": type_, "description": "desc", "metadata": {"source": "test"},
            "aliases": [], "digest": digest,
            "entries": {k: e.to_plain() for k, e in plain.items()},
            "blobs": wire.artifact_blobs(plain)}, project=project, run_id=run_id)
        return digest


class Viewer:
    """Fetches viewer pages with a session cookie, as a browser would."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self.token: str | None = None

    async def login(self, key: str = API_KEY, *, status: int = 303) -> Any:
        """Post the login form; keep the session token it sets."""
        self.client.session.cookie_jar.clear()
        resp = await self.client.post("/login", data={"api_key": key, "next": "/"},
                                      allow_redirects=False,
                                      headers={"Accept": HTML_ACCEPT})
        assert resp.status == status, await resp.text()
        cookie = resp.cookies.get("tablelog_session")
        self.token = cookie.value if cookie is not None else None
        self.client.session.cookie_jar.clear()  # sent explicitly by `get`
        return resp

    async def get(self, path: str, *, status: int = 200, **params: Any) -> str:
        """A page's HTML, checking its status."""
        resp = await self.fetch(path, **params)
        text = await resp.text()
        assert resp.status == status, (resp.status, text[:2000])
        return text

    async def fetch(self, path: str, **params: Any) -> Any:
        """The raw response (no redirects followed)."""
        headers = {"Accept": HTML_ACCEPT}
        if self.token:
            headers["Cookie"] = f"tablelog_session={self.token}"
        return await self.client.get(path, headers=headers, allow_redirects=False,
                                     params={k: str(v) for k, v in params.items()})


def cells(html: str, column: int) -> list[str]:
    """The text of one column's cells in the page's data grid (tags stripped)."""
    body = html.split('<table class="data" id="rows">', 1)[1].split("</tbody>", 1)[0]
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.DOTALL):
        tds = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
        out.append(re.sub(r"<[^>]+>", "", tds[column + 1]))  # +1: the row number
    return out
