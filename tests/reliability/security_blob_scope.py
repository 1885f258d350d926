"""The security scenario's probe of issue 13 point 5: blobs are stored once per hash
but each entity reads only its own, against a real `tablelog server` and real
`tablelog sync` runs for two keys (entities `local` and `other`)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from pathlib import Path
from typing import Any

from tablelog import wire
from tests.reliability.harness import PROJECT, Counts, Harness, child_env, cli
from tests.reliability.scenarios import log_workload

LOCAL_KEY = "blob-scope-local-key-2718281828"
OTHER_KEY = "blob-scope-other-key-3141592653"
NEVER = wire.sha256_hex(b"bytes no one ever uploaded")


def _call(port: int, method: str, path: str, headers: dict[str, str] | None = None,
          body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _json(port: int, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    status, _, raw = _call(port, method, path, headers, data)
    return status, json.loads(raw) if raw else None


def _session(port: int, key: str) -> str:
    """A viewer session cookie for `key` (the login form, as a browser posts it)."""
    form = urllib.parse.urlencode({"api_key": key, "next": "/"}).encode()
    status, headers, _ = _call(port, "POST", "/login", {
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}, form)
    cookie = headers.get("set-cookie", "")
    return cookie.split(";", 1)[0] if status == 303 else ""


def _blob_answers(port: int, sha: str, key: str, cookie: str) -> list[tuple[int, bytes]]:
    """Every way to read a blob by its address, for one entity (the address taken out of
    the answers, so two addresses' answers compare)."""
    auth = {"Authorization": f"Bearer {key}"}
    out = []
    for method, path, headers in (
            ("GET", f"/api/v1/blobs/{sha}", auth), ("HEAD", f"/api/v1/blobs/{sha}", auth),
            ("GET", f"/blobs/{sha}", auth),
            ("GET", f"/blobs/{sha}", {"Cookie": cookie, "Accept": "text/html"})):
        status, _, body = _call(port, method, path, headers)
        out.append((status, body.replace(sha.encode(), b"<sha>")))
    return out


def _batch(port: int, key: str, queue_id: str, entries: list[bytes]) -> list[Any]:
    status, _, raw = _call(port, "POST", "/api/v1/batches", {
        "Authorization": f"Bearer {key}", "Content-Type": "application/msgpack"},
        wire.encode_batch(queue_id, list(enumerate(entries, 1))))
    return list(json.loads(raw)["results"]) if status == 200 else [status]


def _server_files(data_dir: Path) -> list[str]:
    root = data_dir / "blobs"
    return sorted(p.parent.name + p.name for p in root.glob("??/*") if p.is_file())


def probe_blob_scope(c: Counts, h: Harness) -> int:
    """Two entities log the same workload (identical images and table chunks) through
    the SDK and `tablelog sync`. Before `other` syncs, its key and its viewer session
    get 404 for every blob of `local`'s — word for word the answer for a hash never
    stored — on the API and viewer routes, `missing` names them all, and entries of
    `other`'s naming them (a history image, `local`'s table) answer `missing_blobs`,
    as does a forged table whose manifest points at `local`'s chunks (404 to read).
    Then `other`'s agent uploads them again (its `missing` said so) and delivers
    everything; the server still keeps one file per hash; `other` reads the bytes;
    `local` is unaffected. Returns the number of probe requests."""
    probes = 0
    srv = h.server(keys={LOCAL_KEY: "local", OTHER_KEY: "other"})
    port = srv.port
    ours, theirs = h.path("blob-scope-local"), h.path("blob-scope-other")
    for queue in (ours, theirs):  # the same seed: the same images and table chunks
        log_workload(queue, 1, 20, media_every=5, table_every=10, seed=13, prefix="scope")
    done = cli("sync", "--dir", str(ours), "--timeout", "60", "--no-progress",
               env=child_env(ours, srv.url, key=LOCAL_KEY), timeout=300)
    c.check(done.returncode == 0, "blob scope: `local` synced its workload", done.stderr[-300:])
    blobs = {p.parent.name + p.name: p.read_bytes() for p in (ours / "blobs").glob("??/*")}
    shas = sorted(blobs)
    on_disk = _server_files(srv.data_dir)
    c.check(set(shas) <= set(on_disk) and len(shas) >= 6,
            "blob scope: `local`'s images, table manifests and chunks are on the server",
            (len(shas), len(on_disk)))

    cookie = _session(port, OTHER_KEY)
    probes += 1
    never = _blob_answers(port, NEVER, OTHER_KEY, cookie)
    crossed = []
    for sha in shas:
        answers = _blob_answers(port, sha, OTHER_KEY, cookie)
        probes += len(answers)
        if answers != never or [s for s, _ in answers] != [404] * 4:
            crossed.append((sha[:12], [s for s, _ in answers]))
    c.check(cookie and not crossed, f"blob scope: another entity's key and session get the "
            f"never-stored 404 for all {len(shas)} of `local`'s blobs (API and viewer routes)",
            crossed[:5] or "no session cookie")
    _, mine = _json(port, "POST", "/api/v1/blobs/missing", LOCAL_KEY, {"sha256": shas})
    _, foreign = _json(port, "POST", "/api/v1/blobs/missing", OTHER_KEY, {"sha256": shas})
    probes += 2
    c.check(mine == {"missing": []} and foreign == {"missing": shas},
            "blob scope: `missing` answers for the asking entity alone", (mine, foreign))

    forged = _claims_by_reference(c, port, blobs)
    probes += 7

    done = cli("sync", "--dir", str(theirs), "--timeout", "60", "--no-progress",
               env=child_env(theirs, srv.url, key=OTHER_KEY), timeout=300)
    c.check(done.returncode == 0, "blob scope: `other` synced the same workload (its agent "
            "uploaded the blobs `local` had stored)", done.stderr[-300:])
    status, rows = _json(port, "GET", f"/api/v1/runs/other/{PROJECT}/scope00/history", OTHER_KEY)
    probes += 1
    c.check(status == 200 and len(rows["rows"]) == 20, "blob scope: `other`'s rows all stored",
            (status, rows))
    c.check(_server_files(srv.data_dir) == sorted([*on_disk, forged]),
            "blob scope: the same bytes from two entities stay one file per hash (plus "
            "the forged manifest)",
            (len(on_disk), len(_server_files(srv.data_dir))))
    unread = []
    for sha in shas:
        for key in (OTHER_KEY, LOCAL_KEY):
            status, _, body = _call(port, "GET", f"/api/v1/blobs/{sha}",
                                    {"Authorization": f"Bearer {key}"})
            probes += 1
            if status != 200 or body != blobs[sha]:
                unread.append((sha[:12], key[:17], status))
    c.check(not unread, "blob scope: after uploading, `other` reads the bytes; `local` still "
            "does", unread[:5])
    c.note(f"blob scope: {len(shas)} blobs of `local`'s probed from `other` (4 routes each: "
           f"404); {probes} probe requests")
    return probes


def _claims_by_reference(c: Counts, port: int, blobs: dict[str, bytes]) -> str:
    """`other` names `local`'s blobs in entries without uploading them: nothing applies
    and nothing becomes readable; a forged manifest of its own naming `local`'s chunks
    reads as not stored (7 requests). The forged manifest's address."""
    status, versions = _json(port, "GET", f"/api/v1/artifacts/local/{PROJECT}/"
                             "run-scope00-preds/latest", LOCAL_KEY)
    table = wire.ManifestEntry.from_plain(versions["entries"]["preds"])
    image = next(s for s, d in blobs.items() if d.startswith(b"\x89PNG"))
    media = wire.MediaRef("image", image, len(blobs[image]), {})

    def art(name: str, entries: dict[str, wire.ManifestEntry]) -> bytes:
        return wire.encode_entry(wire.Kind.ARTIFACT, entity=None, project=PROJECT,
                                 run_id=f"claims-{name}", body={
                                     "name": name, "type": "run_table", "aliases": [],
                                     "digest": wire.artifact_digest(entries),
                                     "entries": {k: e.to_plain() for k, e in entries.items()},
                                     "blobs": wire.artifact_blobs(entries)})

    results = _batch(port, OTHER_KEY, "claims", [
        wire.encode_entry(wire.Kind.HISTORY, entity=None, project=PROJECT, run_id="claims",
                          body={"step": 0, "row": {"img": media}}),
        art("stolen", {"preds": table})])
    c.check(status == 200 and [r.get("status") for r in results] == ["missing_blobs"] * 2
            and results[0].get("missing") == [image],
            "blob scope: entries naming another entity's blobs answer missing_blobs", results)
    manifest = wire.TableManifest.from_bytes(blobs[table.sha256])
    forged = wire.TableManifest(manifest.columns, manifest.column_types, manifest.chunks)
    data = forged.to_bytes()
    sha = wire.sha256_hex(data)
    put, _, _ = _call(port, "PUT", f"/api/v1/blobs/{sha}",
                      {"Authorization": f"Bearer {OTHER_KEY}"}, data)
    lying = wire.ManifestEntry("table", sha, len(data), {}, ())
    applied = _batch(port, OTHER_KEY, "forged", [art("forged", {"t": lying})])
    status, page = _json(port, "GET", f"/api/v1/tables/other/{PROJECT}/forged/latest/t",
                         OTHER_KEY)
    viewer, _, _ = _call(port, "GET", f"/p/other/{PROJECT}/tables/forged/latest/t",
                         {"Authorization": f"Bearer {OTHER_KEY}"})
    c.check(put == 201 and [r.get("status") for r in applied] == ["applied"]
            and status == 404 and viewer == 404,
            "blob scope: a forged manifest naming another entity's chunks reads as not stored",
            (put, applied, status, page, viewer))
    return sha
