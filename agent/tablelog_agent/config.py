"""The agent's settings: one frozen dataclass, read from the environment by `from_env`.

| variable                  | field            | default                 |
|---------------------------|------------------|-------------------------|
| TABLELOG_DIR              | dir              | the user data dir       |
| TABLELOG_BASE_URL         | base_url         | http://127.0.0.1:8765   |
| TABLELOG_API_KEY          | api_key          | the `tablelog login` key, else none |
| TABLELOG_AGENT_IDLE_EXIT  | idle_exit_s      | none (run until stopped)|
| TABLELOG_CACHE_MAX_BYTES  | cache_max_bytes  | 1G (blobs kept once the server has them) |
| TABLELOG_AGENT_AUTH_BACKOFF | auth_backoff_base_s | 15 (first wait after a 401/403) |
| TABLELOG_AGENT_AUTH_BACKOFF_MAX | auth_backoff_cap_s | 300 (longest wait after 401/403) |

Everything else has a default tuned for throughput (big msgpack batches, a few
parallel blob uploads) and is overridable by keyword, which is how tests make
backoff fast.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tablelog.settings import (
    DEFAULT_CACHE_MAX_BYTES,
    default_api_key,
    default_base_url,
    default_dir,
    seconds_from_env,
    size_from_env,
)


@dataclass(frozen=True, kw_only=True)
class AgentConfig:
    """Settings of one agent serving one queue directory."""

    dir: Path
    base_url: str = "http://127.0.0.1:8765"
    api_key: str | None = field(default=None, repr=False)  # never printed
    batch_max_entries: int = 2000
    batch_max_bytes: int = 8 << 20
    # Blob bytes one batch may carry: what its acknowledgement frees at once, so what the
    # local store may exceed its bound by until the next collection (tablelog_agent.gc).
    batch_max_blob_bytes: int = 64 << 20
    parallel_blob_uploads: int = 4
    blob_chunk_bytes: int = 1 << 20
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    # A refused key (401/403) does not fix itself in seconds: wait long, doubling to
    # the cap, rather than hammering the server; `tablelog sync` restarts the agent.
    auth_backoff_base_s: float = 15.0
    auth_backoff_cap_s: float = 300.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0  # between two reads; large blobs stream for longer
    drain_timeout_s: float = 20.0
    idle_exit_s: float | None = None
    heartbeat_s: float = 1.0
    poll_min_s: float = 0.01
    poll_max_s: float = 0.5
    max_resend_rounds: int = 5  # answers without progress before backing off
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES  # uploaded blobs kept locally (LRU)
    gc_interval_s: float = 2.0  # while uploading, at most one blob collection this often

    def __post_init__(self) -> None:
        if self.batch_max_entries < 1 or self.batch_max_bytes < 1:
            raise ValueError("batch limits must be positive")
        if self.cache_max_bytes < 0:
            raise ValueError("cache_max_bytes must be 0 or more")
        if self.parallel_blob_uploads < 1:
            raise ValueError("parallel_blob_uploads must be at least 1")
        if not 0 < self.backoff_base_s <= self.backoff_cap_s:
            raise ValueError("need 0 < backoff_base_s <= backoff_cap_s")
        if not 0 < self.auth_backoff_base_s <= self.auth_backoff_cap_s:
            raise ValueError("need 0 < auth_backoff_base_s <= auth_backoff_cap_s")
        scheme = urllib.parse.urlsplit(self.base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"base URL must be http(s)://…, got {redact_url(self.base_url)!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, /, **overrides: object
                 ) -> AgentConfig:
        """Settings from TABLELOG_* variables; keyword arguments that are not None win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "dir": default_dir(env),
            "base_url": default_base_url(env),
            # TABLELOG_API_KEY, else the `tablelog login` file; never WANDB_API_KEY, which
            # is another service's key: sending it to a tablelog server would leak it
            "api_key": default_api_key(env),
            "idle_exit_s": seconds_from_env(env, "TABLELOG_AGENT_IDLE_EXIT", None),
            "cache_max_bytes": size_from_env(env, "TABLELOG_CACHE_MAX_BYTES",
                                             DEFAULT_CACHE_MAX_BYTES),
        }
        auth_cap = seconds_from_env(env, "TABLELOG_AGENT_AUTH_BACKOFF_MAX", None)
        auth_base = seconds_from_env(env, "TABLELOG_AGENT_AUTH_BACKOFF", None)
        if auth_cap:
            values["auth_backoff_cap_s"] = auth_cap
            values["auth_backoff_base_s"] = min(auth_cap, cls.auth_backoff_base_s)
        if auth_base:
            values["auth_backoff_base_s"] = auth_base
            values.setdefault("auth_backoff_cap_s", max(auth_base, cls.auth_backoff_cap_s))
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["dir"] = Path(str(values["dir"])).expanduser()
        values["base_url"] = str(values["base_url"]).rstrip("/")
        return cls(**values)  # type: ignore[arg-type]


def redact_url(url: str) -> str:
    """The URL without any user:password part, safe to print."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host))
