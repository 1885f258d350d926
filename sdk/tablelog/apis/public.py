"""Reading back from the server: `tablelog.Api`, as `wandb.Api`.

Paths take the forms wandb takes: a run is ``entity/project/run_id``,
``entity/project/runs/run_id``, ``project/run_id`` or ``run_id``; a project is
``entity/project`` or ``project``; an artifact is ``[entity/][project/]name[:alias]``.
What a path leaves out comes from ``Api(overrides={"entity", "project"})``, then
TABLELOG_ENTITY / TABLELOG_PROJECT (WANDB_ENTITY / WANDB_PROJECT stand in), then
the API key's own entity and project ``uncategorized``, as in wandb. Runs and
their history are `tablelog.apis.runs`; the HTTP side is `tablelog.apis.client`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tablelog import wire
from tablelog.apis.client import HttpClient, fetch_artifact, url_path
from tablelog.apis.read_your_writes import read_wait_from_env, wait_for_own_writes
from tablelog.apis.runs import PublicRun
from tablelog.artifacts.artifact import Artifact
from tablelog.artifacts.paths import ArtifactPath, parse_artifact_path
from tablelog.errors import ApiError, ArtifactNotFoundError
from tablelog.settings import default_dir, env_value
from tablelog.store.blobstore import BlobStore

OVERRIDE_KEYS = ("entity", "project", "base_url")
DEFAULT_PROJECT = "uncategorized"
_BAD_REQUEST = " answered 400: "


class Api:
    """Public read API (wandb's ``wandb.Api``): runs, their history and files, and
    artifacts, read from the tablelog server.

    A read sees what this machine's TABLELOG_DIR logged: it first waits, at most
    `read_wait` seconds (default TABLELOG_READ_WAIT, 30), for that directory's queued
    entries the read depends on (`tablelog.apis.read_your_writes`)."""

    def __init__(self, overrides: Mapping[str, Any] | None = None,
                 timeout: float | None = None, api_key: str | None = None, *,
                 base_url: str | None = None, cache_dir: str | Path | None = None,
                 read_wait: float | None = None) -> None:
        if isinstance(overrides, str):
            raise TypeError("Api's first argument is `overrides`, a dict (as wandb's); pass "
                            f"the server's URL as Api(base_url={overrides!r})")
        self.settings: dict[str, Any] = dict(overrides or {})
        ignored = sorted(set(self.settings) - set(OVERRIDE_KEYS))
        if ignored:
            logging.getLogger("tablelog").info("tablelog: Api overrides %s are ignored",
                                               ", ".join(ignored))
        if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
        self.client = HttpClient(base_url or self.settings.get("base_url"), api_key,
                                 timeout=30.0 if timeout is None else float(timeout))
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

    # -- defaults and paths ------------------------------------------------------------

    @property
    def api_key(self) -> str | None:
        return self.client._api_key

    @property
    def default_entity(self) -> str:
        """The entity the API key belongs to."""
        if self._entity is None:
            self._entity = str(self.client.get_json("/api/v1/whoami")["entity"])
        return self._entity

    def _entity_default(self) -> str:
        return str(self.settings.get("entity") or env_value(os.environ, "TABLELOG_ENTITY")
                   or self.default_entity)

    def _project_default(self) -> str:
        return str(self.settings.get("project") or env_value(os.environ, "TABLELOG_PROJECT")
                   or DEFAULT_PROJECT)

    def _project_path(self, path: str | None) -> tuple[str, str]:
        """``entity/project`` or ``project`` (None: the defaults)."""
        if path is None:
            return self._entity_default(), self._project_default()
        if not isinstance(path, str):
            raise ValueError(f"a project path must be a string, got {path!r}")
        pieces = path.strip("/").split("/")
        if len(pieces) == 1:
            pieces.insert(0, self._entity_default())
        if len(pieces) != 2 or not all(wire.is_valid_name(p) for p in pieces):
            raise ValueError("expected a project path 'entity/project' or 'project', got "
                             f"{path!r}")
        return pieces[0], pieces[1]

    def _run_path(self, path: str) -> tuple[str, str, str]:
        """``entity/project/run_id``, ``entity/project/runs/run_id``, ``project/run_id``
        or ``run_id``."""
        if not isinstance(path, str) or not path.strip("/"):
            raise ValueError(f"a run path must be a non-empty string, got {path!r}")
        pieces = path.strip("/").split("/")
        if len(pieces) == 4 and pieces[2] == "runs":
            del pieces[2]
        if len(pieces) == 1:
            pieces = [self._entity_default(), self._project_default(), *pieces]
        elif len(pieces) == 2:
            pieces.insert(0, self._entity_default())
        if (len(pieces) != 3 or not all(wire.is_valid_name(p) for p in pieces[:2])
                or not wire.is_valid_run_id(pieces[2])):
            raise ValueError("expected a run path 'entity/project/run_id' (or "
                             "'entity/project/runs/run_id', 'project/run_id', 'run_id'), "
                             f"got {path!r}")
        return pieces[0], pieces[1], pieces[2]

    def _artifact_path(self, name: str) -> tuple[str, str, ArtifactPath]:
        parsed = parse_artifact_path(name)
        return (parsed.entity or self._entity_default(),
                parsed.project or self._project_default(), parsed)

    # -- runs ----------------------------------------------------------------------------

    def runs(self, path: str | None = None, filters: Mapping[str, Any] | None = None,
             order: str = "+created_at", per_page: int = 50, include_sweeps: bool = True,
             lazy: bool = True) -> list[PublicRun]:
        """The project's runs that `filters` matches (MongoDB-style, evaluated by the
        server: `tablelog_server.run_filters`), in `order`. A filter the server cannot
        evaluate is a ValueError saying why."""
        entity, project = self._project_path(path)
        self._await_writes(f"the runs of {entity}/{project}", project=project, entity=entity)
        params: dict[str, Any] = {"order": order}
        if filters:
            params["filters"] = json.dumps(dict(filters))
        try:
            body = self.client.get_json(f"/api/v1/runs/{url_path(entity, project)}", params)
        except ApiError as exc:
            if _BAD_REQUEST in str(exc):
                raise ValueError(str(exc).split(_BAD_REQUEST, 1)[1]) from None
            raise
        return [PublicRun.from_plain(entity, project, r, self.client, self)
                for r in body["runs"]]

    def run(self, path: str = "") -> PublicRun:
        """One run; see the module's docstring for the path forms."""
        entity, project, run_id = self._run_path(path)
        self._await_writes(f"run {entity}/{project}/{run_id}", project=project, entity=entity,
                           run_id=run_id)
        body = self.client.get_json(f"/api/v1/runs/{url_path(entity, project, run_id)}")
        return PublicRun.from_plain(entity, project, body, self.client, self)

    def flush(self) -> None:
        """wandb drops its cached answers; tablelog caches none but blobs, which
        never change."""

    # -- artifacts -----------------------------------------------------------------------

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """A version by ``[entity/][project/]name[:alias]``; with `type`, a version of
        another type is a ValueError, as in wandb."""
        entity, project, parsed = self._artifact_path(name)
        self._await_writes(f"artifact {name}", project=project, entity=entity,
                           artifact=parsed.name)
        art = fetch_artifact(self.client, self._store, entity=entity, project=project,
                             name=parsed.name, ref=parsed.ref)
        if type is not None and art.type != type:
            raise ValueError(f"artifact {name!r} is of type {art.type!r}, not {type!r}")
        return art

    def artifact_exists(self, name: str, type: str | None = None) -> bool:
        """Whether that version exists (of that type, if given)."""
        try:
            self.artifact(name, type)
        except (ArtifactNotFoundError, ValueError):
            return False
        return True

    def _collections(self, entity: str, project: str) -> list[dict[str, Any]]:
        try:
            body = self.client.get_json(f"/api/v1/artifacts/{url_path(entity, project)}")
        except ArtifactNotFoundError:
            return []
        return list(body["artifacts"])

    def artifact_collections(self, project_name: str, type_name: str,
                             per_page: int = 50) -> list[str]:
        """The names of the project's artifacts of type `type_name`."""
        entity, project = self._project_path(project_name)
        return [a["name"] for a in self._collections(entity, project)
                if a["type"] == type_name]

    def artifact_collection_exists(self, name: str, type: str) -> bool:
        """Whether the project has an artifact `name` of type `type`."""
        entity, project, parsed = self._artifact_path(name)
        return any(a["name"] == parsed.name and a["type"] == type
                   for a in self._collections(entity, project))

    def artifacts(self, type_name: str, name: str, per_page: int = 50,
                  tags: list[str] | None = None) -> list[Artifact]:
        """Every version of artifact `name` (``[entity/][project/]name``) of type
        `type_name`, oldest first."""
        entity, project, parsed = self._artifact_path(name)
        self._await_writes(f"artifact {name}", project=project, entity=entity,
                           artifact=parsed.name)
        body = self.client.get_json(
            f"/api/v1/artifacts/{url_path(entity, project, parsed.name)}")
        versions = [v for v in body["versions"] if v.get("type") == type_name]
        if not versions:
            raise ValueError(f"artifact {parsed.name!r} in {entity}/{project} has no "
                             f"versions of type {type_name!r}")
        return [fetch_artifact(self.client, self._store, entity=entity, project=project,
                               name=parsed.name, ref=v["version"]) for v in versions]

    def artifact_versions(self, type_name: str, name: str,
                          per_page: int = 50) -> list[Artifact]:
        """Deprecated in wandb in favour of `artifacts`; the same here."""
        return self.artifacts(type_name, name, per_page)
