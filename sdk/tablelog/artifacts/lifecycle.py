"""What happens to an artifact after it is built: `wait()` for its version,
`save()` of changed fields, `delete()` on the server.

An artifact knows where it came from:

- logged by a run of this process (`run.log_artifact`): `_logging_run`, a weak
  reference to that run. `save()` of changes sends an ``artifact_update`` entry
  through the run's writer and queue (never the network on the caller's
  thread), so it reaches the server after the version itself;
- read through the server (`Api().artifact`, online `use_artifact`):
  `_client`, the HTTP client it was read with. `save()` and `delete()` go to the
  server directly: such a program is reading and editing, not training.

A version is its content (its digest): `save()` never makes a new version, it
changes the fields of the one there is, as wandb's does for a logged artifact.
"""

from __future__ import annotations

import sys
import time
import weakref
from typing import TYPE_CHECKING, Any

from tablelog import wire
from tablelog.errors import ApiError, ArtifactNotFoundError, ArtifactStateError

if TYPE_CHECKING:
    from tablelog.apis.client import HttpClient
    from tablelog.artifacts.artifact import Artifact
    from tablelog.runtime.runs import Run


def attach_run(art: Artifact, run: Run) -> None:
    """Record that `run` logs `art` (called by `run.log_artifact`)."""
    art._logging_run = weakref.ref(run)
    art._logged_by = run.id
    art.project, art.entity = run.project, run.entity


def _run_of(art: Artifact) -> Run | None:
    ref = getattr(art, "_logging_run", None)
    return None if ref is None else ref()


def _client_of(art: Artifact) -> HttpClient | None:
    return getattr(art, "_client", None)


def _fields(art: Artifact) -> dict[str, Any]:
    from tablelog.artifacts.artifact import check_aliases

    aliases = check_aliases([a for a in art.aliases if a != "latest"])
    ttl = art.ttl.total_seconds() if hasattr(art.ttl, "total_seconds") else art.ttl
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)
                            or ttl < 0):
        raise ValueError(f"ttl must be a datetime.timedelta or None, got {art.ttl!r}")
    if isinstance(art.tags, str) or not all(isinstance(t, str) and t for t in art.tags):
        raise ValueError(f"tags must be a list of non-empty strings, got {art.tags!r}")
    return {"description": art.description, "metadata": dict(art.metadata),
            "aliases": aliases, "tags": list(art.tags), "ttl": ttl}


def save(art: Artifact) -> None:
    """`Artifact.save()`."""
    if art._manifest is None and _run_of(art) is None:
        # no import: a program that never called init() has no active run
        runs = sys.modules.get("tablelog.runtime.runs")
        active = None if runs is None else runs._active
        if active is None:
            raise ArtifactStateError(
                f"artifact {art.name!r} was never logged: call tablelog.init() first (save() "
                "logs it with the active run), or run.log_artifact(artifact)")
        active.log_artifact(art)
        return
    body = _fields(art)
    client = _client_of(art)
    if client is not None and art.version not in (None, "pending"):
        answer = client.send_json(
            "POST", f"/api/v1/artifacts/{_api_path(art)}/{art.version}", body)
        art.aliases = list(answer.get("aliases") or art.aliases)
        return
    run = _run_of(art)
    if run is None or run._finished or run._writer is None:
        raise ArtifactStateError(
            f"artifact {art.name!r}: save() after logging needs the run that logged it to "
            "be open (or read the artifact with tablelog.Api() and save it there)")
    if art._manifest is None:  # logged but not yet written by the writer
        run.flush()
    from tablelog.runtime.writer import EntryRequest

    assert art.digest is not None
    run._writer.submit(EntryRequest(wire.Kind.ARTIFACT_UPDATE,
                                    {"name": art.name, "digest": art.digest, **body}))


def _api_path(art: Artifact) -> str:
    from tablelog.apis.client import url_path

    if art.entity is None or art.project is None:
        raise ArtifactStateError(f"artifact {art.name!r} does not know its entity and project")
    return url_path(art.entity, art.project, art.name)


def wait_for_version(art: Artifact, timeout: float | None) -> None:
    """`Artifact.wait()`: the version is numbered once it is committed locally (the
    local number); online, once the server has it (the server's number)."""
    run = _run_of(art)
    if art._manifest is None and run is None:
        raise ArtifactStateError(f"artifact {art.name!r} has not been logged: log it with "
                                 "run.log_artifact() first")
    if run is not None and not run._finished:
        run.flush(timeout)
    if run is None or run.settings.mode != "online":
        if art.version in (None, "pending"):
            raise ArtifactStateError(f"artifact {art.name!r} was not committed (see "
                                     "run.not_persisted)")
        return
    from tablelog.apis.client import HttpClient
    from tablelog.apis.read_your_writes import wait_for_own_writes

    bound = 30.0 if timeout is None else float(timeout)
    start = time.monotonic()
    wait_for_own_writes(run.settings.dir, what=f"artifact {art.name}", bound=bound,
                        project=art.project, entity=art.entity, artifact=art.name)
    client = HttpClient(run.settings.base_url, run.settings.api_key)
    entity = art.entity or client.get_json("/api/v1/whoami")["entity"]
    art.entity = entity
    while True:
        try:
            versions = client.get_json(f"/api/v1/artifacts/{_api_path(art)}")["versions"]
        except ArtifactNotFoundError:  # delivered, but not applied yet
            versions = []
        found = next((v for v in versions if v["digest"] == art.digest), None)
        if found is not None:
            art.version = found["version"]
            art.aliases = list(found["aliases"])
            art.created_at = found.get("created_at")
            return
        if time.monotonic() - start > bound:  # delivered, yet not there: refused
            raise ApiError(f"artifact {art.name!r} was delivered but the server has no "
                           "version with its digest (see `tablelog status` dead letters)")
        time.sleep(0.05)


def delete(art: Artifact, *, delete_aliases: bool) -> None:
    """`Artifact.delete()` on the server."""
    client = _client_of(art)
    if client is None:
        run = _run_of(art)
        if run is None or run.settings.mode != "online":
            raise ArtifactStateError(
                f"artifact {art.name!r}: delete() removes a version from the server; read "
                "it with tablelog.Api().artifact(...) (or log it online and wait()) first")
        from tablelog.apis.client import HttpClient

        wait_for_version(art, None)
        client = HttpClient(run.settings.base_url, run.settings.api_key)
    if art.version in (None, "pending"):
        raise ArtifactStateError(f"artifact {art.name!r} has no version to delete")
    client.send_json("DELETE", f"/api/v1/artifacts/{_api_path(art)}/{art.version}",
                     params={"delete_aliases": "1" if delete_aliases else "0"})
    art.version = None
