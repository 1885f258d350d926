"""Find an artifact version by the strings wandb users write:
``name``, ``name:alias``, ``name:vN``, ``project/name:alias``,
``entity/project/name:alias``.

Resolution order: what this TABLELOG_DIR logged itself while entries of it are
still queued (read your own writes: the server does not have them yet), else the
server (when one is configured and answers), else what this directory logged.
"""

from __future__ import annotations

import warnings

from tablelog import wire
from tablelog.artifacts.artifact import Artifact
from tablelog.artifacts.paths import ArtifactPath, parse_artifact_path
from tablelog.artifacts.reader import LocalBlobSource
from tablelog.errors import ApiError, ArtifactNotFoundError, AuthError
from tablelog.settings import SdkConfig
from tablelog.store.queue import Queue, find_artifact, pending_for_read


def resolve_local(path: ArtifactPath, queue: Queue, default_project: str | None) -> Artifact:
    """The artifact version this directory logged, or ArtifactNotFoundError."""
    stored = (find_artifact(queue, path.name, path.ref, path.project or default_project)
              or (None if path.project else find_artifact(queue, path.name, path.ref)))
    if stored is None:
        raise ArtifactNotFoundError(
            f"artifact {path} not found in {queue.dir} (nothing logged from this directory "
            "by that name and alias/version)")
    body = wire.unpackb(stored.manifest)
    art = Artifact(stored.name, stored.type, body.get("description"), body.get("metadata"),
                   _internal=True)
    entries = {k: wire.ManifestEntry.from_plain(v) for k, v in body["entries"].items()}
    art._bind(manifest=entries, digest=stored.digest, version=f"v{stored.version}",
              aliases=list(stored.aliases), source=LocalBlobSource(queue.blobs),
              project=stored.project, entity=path.entity)
    return art


def resolve_artifact(path: str, *, settings: SdkConfig, queue: Queue | None,
                     default_project: str | None, entity: str | None = None) -> Artifact:
    """Resolve `path` to an Artifact whose `get()` reads its entries.

    Online, the server answers first and blobs are downloaded into this
    directory's blob store; when it is unreachable, or does not have the
    artifact yet, what this directory logged is used, with a warning in the
    unreachable case. While entries of runs that logged `path`'s name here are
    still queued, the local version is used first. Offline, only the local directory is read.
    """
    parsed = parse_artifact_path(path)
    if queue is None:
        queue = Queue(settings.dir)
    if settings.mode != "online":
        return resolve_local(parsed, queue, default_project)
    if pending_for_read(queue, project=parsed.project, artifact=parsed.name):
        # The agent has not delivered all this directory logged under that name: the
        # server would answer an older version (or none), so the local one answers.
        try:
            return resolve_local(parsed, queue, default_project)
        except ArtifactNotFoundError:
            pass  # e.g. a version logged elsewhere: the server knows it
    from tablelog.apis.client import HttpClient, fetch_artifact

    client = HttpClient(settings.base_url, settings.api_key)
    server_error: Exception
    try:
        ent = parsed.entity or entity or client.get_json("/api/v1/whoami")["entity"]
        return fetch_artifact(client, queue.blobs, entity=ent,
                              project=parsed.project or default_project or settings.project,
                              name=parsed.name, ref=parsed.ref)
    except ArtifactNotFoundError as exc:
        server_error = exc
    except ApiError as exc:
        if isinstance(exc, AuthError):
            raise
        warnings.warn(f"tablelog: {exc}; reading {parsed} from {settings.dir} instead",
                      RuntimeWarning, stacklevel=3)
        server_error = exc
    try:
        return resolve_local(parsed, queue, default_project)
    except ArtifactNotFoundError:
        raise server_error from None
