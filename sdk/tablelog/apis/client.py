"""The HTTP side of reading back: `HttpClient` (GET requests against the
server's /api/v1 with errors that say what to do) and the blob source that
downloads artifact blobs into the local content-addressed cache (the queue's
blob store, so each hash is stored once per machine).

Plain blocking HTTP (urllib): reading happens in notebooks and analysis
scripts, never on the training hot path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.artifacts.artifact import Artifact
from tablelog.errors import ApiError, ArtifactError, AuthError, NotFoundOnServerError
from tablelog.settings import default_api_key, default_base_url
from tablelog.store.blobstore import BlobStore

_KEY_HINT = ("set TABLELOG_API_KEY, run `tablelog login KEY` (or pass Api(api_key=...)) "
             "with a key the server accepts")


def url_path(*parts: str) -> str:
    """`parts` joined by '/', each quoted whole (run ids may hold '=', spaces, ...)."""
    return "/".join(urllib.parse.quote(p, safe="") for p in parts)


class HttpClient:
    """GET requests against the tablelog server's /api/v1, with clear errors."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 30.0) -> None:
        self.base_url = (base_url or default_base_url()).rstrip("/")
        # TABLELOG_API_KEY, else the `tablelog login` key (never WANDB_API_KEY)
        self._api_key = api_key if api_key is not None else default_api_key()
        self.timeout = timeout

    def _request(self, path: str, params: dict[str, Any] | None = None) -> urllib.request.Request:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        req = urllib.request.Request(f"{self.base_url}{path}{query}")
        if self._api_key:
            req.add_header("Authorization", f"Bearer {self._api_key}")
        return req

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        req = self._request(path, params)
        req.add_header("Accept", "application/json")
        return json.loads(self._open(req, path))

    def send_json(self, method: str, path: str, body: Any = None,
                  params: dict[str, Any] | None = None) -> Any:
        """A POST/DELETE with a JSON body (or none); the JSON answer."""
        req = self._request(path, params)
        req.method = method
        req.add_header("Accept", "application/json")
        if body is not None:
            req.data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        return json.loads(self._open(req, path))

    def get_bytes(self, path: str) -> bytes:
        return self._open(self._request(path), path)

    def _open(self, req: urllib.request.Request, what: str) -> bytes:
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code == 401:
                raise AuthError(f"the server at {self.base_url} refused the API key "
                                f"({detail}); {_KEY_HINT}") from None
            if exc.code == 403:
                raise AuthError(f"the API key may not read {what} ({detail})") from None
            if exc.code == 404:
                raise NotFoundOnServerError(f"not found on {self.base_url}: {what} "
                                            f"({detail})") from None
            raise ApiError(f"{self.base_url}{what} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"cannot reach the tablelog server at {self.base_url} ({reason}); "
                           "start it with `tablelog server` or set TABLELOG_BASE_URL") from None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        return str(body.get("error") or exc.reason)
    except (ValueError, OSError):
        return str(exc.reason)


class CachingBlobSource:
    """Blobs from the local store, downloading (and verifying) missing ones first."""

    def __init__(self, client: HttpClient, store: BlobStore) -> None:
        self.client = client
        self.store = store

    def local_path(self, sha256: str) -> Path:
        if not self.store.exists(sha256):
            self.read(sha256)
        return self.store.path(sha256)

    def read(self, sha256: str) -> bytes:
        if self.store.exists(sha256):
            return self.store.read(sha256)
        data = self.client.get_bytes(f"/api/v1/blobs/{sha256}")
        if wire.sha256_hex(data) != sha256:
            raise ArtifactError(f"blob {sha256[:12]}… from the server does not match its hash")
        self.store.put(data, sha256, fsync=False)
        return data


def fetch_artifact(client: HttpClient, store: BlobStore, *, entity: str, project: str, name: str,
                   ref: str) -> Artifact:
    """Resolve an artifact version on the server; its entries are read lazily."""
    for label, value in (("entity", entity), ("project", project), ("name", name), ("ref", ref)):
        if not wire.is_valid_name(value):
            raise ValueError(f"invalid artifact {label} {value!r}")
    body = client.get_json(f"/api/v1/artifacts/{entity}/{project}/{name}/{ref}")
    art = Artifact(body["name"], body.get("type") or "unknown", body.get("description"),
                   body.get("metadata"), _internal=True)
    entries = {k: wire.ManifestEntry.from_plain(v) for k, v in body["entries"].items()}
    art._bind(manifest=entries, digest=body["digest"], version=body["version"],
              aliases=list(body.get("aliases") or []), source=CachingBlobSource(client, store),
              project=project, entity=entity, created_at=body.get("created_at"),
              logged_by=body.get("run_id"))
    art.tags, art.ttl = list(body.get("tags") or []), body.get("ttl")
    art._client = client  # save() and delete() go to this server
    return art
