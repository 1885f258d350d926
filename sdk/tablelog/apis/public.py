"""Reading back from the server: `tablelog.Api` (like `wandb.Api`) and the
blob source that downloads artifact blobs into the local content-addressed
cache (the queue's blob store, so each hash is stored once per machine).

Plain blocking HTTP (urllib): reading happens in notebooks and analysis
scripts, never on the training hot path.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.apis.read_your_writes import read_wait_from_env, wait_for_own_writes
from tablelog.artifacts.artifact import Artifact
from tablelog.artifacts.paths import parse_artifact_path
from tablelog.errors import ApiError, ArtifactError, ArtifactNotFoundError, AuthError
from tablelog.settings import default_api_key, default_base_url, default_dir
from tablelog.store.blobstore import BlobStore

_KEY_HINT = ("set TABLELOG_API_KEY, run `tablelog login KEY` (or pass Api(api_key=...)) "
             "with a key the server accepts")


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
                raise ArtifactNotFoundError(f"not found on {self.base_url}: {what} "
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
                   body.get("metadata"))
    entries = {k: wire.ManifestEntry.from_plain(v) for k, v in body["entries"].items()}
    art._bind(manifest=entries, digest=body["digest"], version=body["version"],
              aliases=list(body.get("aliases") or []), source=CachingBlobSource(client, store),
              project=project, entity=entity)
    return art


@dataclass
class PublicRun:
    """A run as the server stores it."""

    entity: str
    project: str
    id: str
    name: str
    state: str
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    _client: HttpClient | None = field(default=None, repr=False, compare=False)
    _api: Api | None = field(default=None, repr=False, compare=False)

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"

    def history(self, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every history row, in step order, each with `_step`."""
        assert self._client is not None
        if self._api is not None:
            self._api._await_writes(f"the history of run {self.path}", project=self.project,
                                    entity=self.entity, run_id=self.id)
        rows: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            page = self._client.get_json(f"/api/v1/runs/{self.path}/history",
                                         {"offset": offset, "limit": page_size})
            rows.extend(page["rows"])
            offset = page.get("next")
        return rows


class Api:
    """Public read API: `Api().runs("entity/project")`, `.run("entity/project/id")`,
    `.artifact("entity/project/name:alias")`.

    A read sees what this machine's TABLELOG_DIR logged: it first waits, at most
    `read_wait` seconds (default TABLELOG_READ_WAIT, 30), for that directory's queued
    entries the read depends on (`tablelog.apis.read_your_writes`)."""

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = 30.0, cache_dir: str | Path | None = None,
                 read_wait: float | None = None) -> None:
        self.client = HttpClient(base_url, api_key, timeout=timeout)
        self._store = BlobStore(Path(cache_dir or default_dir()) / "blobs")
        self._entity: str | None = None
        self._queue_dir = default_dir()
        if read_wait is not None and not read_wait >= 0:
            raise ValueError(f"read_wait must be a number of seconds >= 0, got {read_wait!r}")
        self.read_wait = read_wait_from_env() if read_wait is None else float(read_wait)

    def _await_writes(self, what: str, *, project: str | None, entity: str | None = None,
                      run_id: str | None = None, artifact: str | None = None) -> None:
        wait_for_own_writes(self._queue_dir, what=what, bound=self.read_wait, project=project,
                            entity=entity, run_id=run_id, artifact=artifact)

    @property
    def default_entity(self) -> str:
        """The entity the API key belongs to."""
        if self._entity is None:
            self._entity = str(self.client.get_json("/api/v1/whoami")["entity"])
        return self._entity

    def _split(self, path: str, parts: int) -> list[str]:
        pieces = [p for p in path.strip("/").split("/") if p]
        if len(pieces) == parts - 1:
            pieces.insert(0, self.default_entity)
        if len(pieces) != parts or not all(wire.is_valid_name(p) for p in pieces):
            raise ValueError(f"expected a path of {parts} names separated by '/', got {path!r}")
        return pieces

    def runs(self, path: str) -> list[PublicRun]:
        entity, project = self._split(path, 2)
        self._await_writes(f"the runs of {entity}/{project}", project=project, entity=entity)
        body = self.client.get_json(f"/api/v1/runs/{entity}/{project}")
        return [self._run(entity, project, r) for r in body["runs"]]

    def run(self, path: str) -> PublicRun:
        entity, project, run_id = self._split(path, 3)
        self._await_writes(f"run {entity}/{project}/{run_id}", project=project, entity=entity,
                           run_id=run_id)
        return self._run(entity, project,
                         self.client.get_json(f"/api/v1/runs/{entity}/{project}/{run_id}"))

    def _run(self, entity: str, project: str, body: dict[str, Any]) -> PublicRun:
        return PublicRun(entity, project, body["id"], body.get("name") or body["id"],
                         body.get("state") or "unknown", dict(body.get("config") or {}),
                         dict(body.get("summary") or {}), list(body.get("tags") or []),
                         body.get("notes"), self.client, self)

    def artifact(self, path: str) -> Artifact:
        parsed = parse_artifact_path(path)
        entity = parsed.entity or self.default_entity
        if parsed.project is None:
            raise ValueError(f"Api.artifact needs at least project/name, got {path!r}")
        self._await_writes(f"artifact {path}", project=parsed.project, entity=entity,
                           artifact=parsed.name)
        return fetch_artifact(self.client, self._store, entity=entity, project=parsed.project,
                              name=parsed.name, ref=parsed.ref)
