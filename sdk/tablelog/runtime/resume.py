"""What `init(resume=...)` continues from: this directory's saved run state, the
server's run (asked once, in init, with a short timeout), or neither.

- The server knows the run and this directory has nothing of it still queued:
  continue the server's step, config and summary (base ``server``).
- This directory still queues entries of the run (the server is behind it), or
  the server cannot be asked but the directory logged the run: continue the
  saved state (base ``local``).
- Neither can be known (offline, or the server unreachable, in a directory that
  never saw the run): base ``unknown``. The run gets a *segment* id that every
  history, config and summary entry carries; the server then shifts that
  segment's steps after the run's last stored step and merges its config and
  summary instead of replacing them, so nothing is rewound or dropped. The user
  is warned once.

As wandb 0.31: ``resume="never"`` with a run the server has, and
``resume="must"`` with a run nobody has, raise at init (`RunError`, with wandb's
messages). Network is used here only: never in `run.log`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from tablelog import wire
from tablelog.errors import ApiError, ArtifactNotFoundError, RunError
from tablelog.settings import SdkConfig
from tablelog.store.queue import Queue

RESUMING = ("allow", "must", "auto", True)


@dataclass
class Resumed:
    """The state a run starts from; `base` says where it came from (None: a new run)."""

    state: dict[str, Any] = field(default_factory=dict)
    base: str | None = None  # "server", "local", "unknown" or None
    warning: str | None = None

    @property
    def resumed(self) -> bool:
        return self.base in ("server", "local")


@dataclass(frozen=True)
class ServerRun:
    """What the server holds of a run: the step to continue at, config, summary."""

    next_step: int
    config: dict[str, Any]
    summary: dict[str, Any]


def fetch_server_run(settings: SdkConfig, entity: str | None, project: str, run_id: str
                     ) -> ServerRun | None:
    """The server's state of the run (None: it has no such run). Raises ApiError when
    the server cannot be asked within `settings.resume_timeout_s` in all."""
    from tablelog.apis.client import HttpClient

    deadline = time.monotonic() + settings.resume_timeout_s
    client = HttpClient(settings.base_url, settings.api_key or "")

    def get(path: str, params: dict[str, Any] | None = None) -> Any:
        client.timeout = max(0.05, deadline - time.monotonic())
        return client.get_json(path, params)

    try:
        entity = entity or str(get("/api/v1/whoami")["entity"])
        run = get(f"/api/v1/runs/{entity}/{project}/{run_id}")
        rows = int(run.get("history_rows") or 0)
        next_step = 0
        if rows:
            page = get(f"/api/v1/runs/{entity}/{project}/{run_id}/history",
                       {"offset": rows - 1, "limit": 1})
            next_step = int(page["rows"][-1]["_step"]) + 1
    except ArtifactNotFoundError:  # the client's 404
        return None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ApiError(f"unexpected answer from {settings.base_url}: {exc}") from None
    return ServerRun(next_step, dict(run.get("config") or {}), dict(run.get("summary") or {}))


def resolve(settings: SdkConfig, queue: Queue, entity: str | None, project: str, run_id: str,
            key: str, resume: str | bool | None) -> Resumed:
    """The state `init(resume=resume)` starts from (see the module doc)."""
    if resume not in RESUMING and resume != "never":
        return Resumed()
    raw = queue.get_run_state(key)
    local: dict[str, Any] | None = wire.unpackb(raw) if raw is not None else None
    server: ServerRun | None = None
    asked = False
    why = "offline mode"
    if settings.mode == "online":
        try:
            server, asked = fetch_server_run(settings, entity, project, run_id), True
        except ApiError as exc:
            why = str(exc)
    if resume == "never":
        if asked and server is not None:
            raise RunError(f"resume='never' but run ({run_id}) exists")
        return Resumed()
    if asked:
        if server is None:
            if local is not None:  # logged here, nothing uploaded yet
                return Resumed(local, "local")
            if resume == "must":
                raise RunError(f"resume='must' but run ({run_id}) doesn't exist")
            return Resumed()
        if local is not None and queue.pending_for_run(key):
            # This directory holds what the server has not yet: its state is newer.
            merged = dict(local)
            merged["config"] = {**server.config, **(local.get("config") or {})}
            merged["summary"] = {**server.summary, **(local.get("summary") or {})}
            return Resumed(merged, "local")
        state = dict(local or {})
        steps_here = 0 if local is None or local.get("segment") else int(local.get("step", 0))
        state.update(step=max(server.next_step, steps_here), config=server.config,
                     summary=server.summary, segment=None)
        return Resumed(state, "server")
    if local is not None:
        return Resumed(local, "local")
    if resume == "must":
        raise RunError(f"resume='must' but run ({run_id}) of project {project!r} was never "
                       f"logged from {settings.dir} and the server could not be asked ({why})")
    segment = os.urandom(8).hex()
    return Resumed({"segment": segment}, "unknown", warning=(
        f"tablelog: resuming run {run_id!r} without knowing its state on the server ({why}). "
        "Steps count from 0 here; the server continues them after the run's last stored "
        "step, and merges config and summary into what it has (no key is dropped) instead "
        "of replacing them."))
