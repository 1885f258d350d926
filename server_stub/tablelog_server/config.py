"""The server's configuration: one frozen dataclass, built from the environment
and overridden by command-line arguments (see `tablelog_server.cli`).

| variable                        | meaning                          | default                     |
|---------------------------------|----------------------------------|-----------------------------|
| TABLELOG_SERVER_DIR             | where metadata.db, blobs/ live   | user data dir + ``/server`` |
| TABLELOG_API_KEY                | one key, for entity ``local``    | none (the CLI needs one)    |
| TABLELOG_SERVER_HOST            | address to listen on             | 127.0.0.1                   |
| TABLELOG_SERVER_PORT            | port to listen on                | 8765                        |
| TABLELOG_SERVER_HEADER_TIMEOUT  | seconds to send request headers  | 10                          |
| TABLELOG_SERVER_IDLE_TIMEOUT    | seconds an idle connection stays | 180                         |
| TABLELOG_SERVER_MAX_CONNECTIONS | connections open at once         | 1000                        |
| TABLELOG_SERVER_MAX_BATCH_ENTRIES | entries per POST /batches      | 10000                       |
| TABLELOG_SERVER_PUBLIC_URL      | where browsers reach the server  | none                        |
| TABLELOG_SERVER_TRUST_PROXY     | ``1``: honour forwarded headers  | off                         |

A keys file maps keys to entities, either as a JSON object ``{"KEY": "entity"}``
or as lines ``KEY ENTITY`` (blank lines and ``#`` comments ignored).
Every key has at least `MIN_KEY_LENGTH` characters; ``tablelog server keygen``
prints a strong one.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import platformdirs

from tablelog import wire
from tablelog_server.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_ENTITY = "local"
MIN_KEY_LENGTH = 16
MiB = 1 << 20
GiB = 1 << 30
N = TypeVar("N", int, float)


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """TABLELOG_SERVER_DIR, else ``<user data dir>/tablelog/server``."""
    env = os.environ if env is None else env
    value = env.get("TABLELOG_SERVER_DIR")
    if value:
        return Path(value).expanduser()
    return Path(platformdirs.user_data_dir("tablelog")) / "server"


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything the server needs to run; pass it to `create_app`.

    `api_keys` maps each accepted key to the one entity it may read and write.
    """

    data_dir: Path
    api_keys: Mapping[str, str] = field(default_factory=dict)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = 64 * MiB
    max_blob_bytes: int = 2 * GiB
    shutdown_timeout_s: float = 30.0
    # Connection limits (see `tablelog_server.connections`). The idle timeout outlasts
    # the upstream keep-alive of nginx (60 s) and Caddy (2 min), so that a proxy closes
    # an idle connection before the server does and never sends a request into one
    # being closed. 1000 connections need about 2,400 file descriptors at most; the
    # server unit allows 65536 (the cap shrinks to fit a lower limit).
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 180.0
    max_connections: int = 1000
    # Behind a TLS proxy (see `tablelog_server.proxy`): the public origin browsers
    # use, and whether the proxy's forwarded headers are believed. Both off by
    # default, since any client can send those headers.
    public_url: str | None = None
    trust_proxy: bool = False
    # Each batch entry costs the server a few KiB of objects whatever its size (decoded
    # envelope, digest, plan, result), so the count is bounded apart from the body size.
    max_batch_entries: int = 10_000

    def __post_init__(self) -> None:
        # Freeze the mapping too, so nobody adds a key to a running server by accident.
        object.__setattr__(self, "api_keys", MappingProxyType(dict(self.api_keys)))
        for key, entity in self.api_keys.items():
            check_key(key)
            if not wire.is_valid_name(entity):
                raise ConfigError(f"invalid entity name {entity!r} (use 1-128 of A-Za-z0-9_.-)")
        if self.max_body_bytes <= 0 or self.max_blob_bytes <= 0:
            raise ConfigError("size limits must be positive")
        if not (self.header_timeout_s > 0 and self.idle_timeout_s > 0):
            raise ConfigError("the header and idle timeouts must be positive")
        if self.max_connections < 1:
            raise ConfigError("max connections must be at least 1")
        if self.public_url is not None:
            object.__setattr__(self, "public_url", check_public_url(self.public_url))
        if self.max_batch_entries < 1:
            raise ConfigError("max batch entries must be at least 1")

    def __repr__(self) -> str:
        # Never show keys, not even in a traceback or a debug log line.
        return (f"ServerConfig(data_dir={self.data_dir!r}, api_keys=<{len(self.api_keys)} keys>, "
                f"host={self.host!r}, port={self.port!r}, "
                f"max_body_bytes={self.max_body_bytes}, max_blob_bytes={self.max_blob_bytes}, "
                f"public_url={self.public_url!r}, trust_proxy={self.trust_proxy})")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        """Settings from the environment (see the module docstring)."""
        env = os.environ if env is None else env
        key = env.get("TABLELOG_API_KEY")
        defaults = cls(data_dir=Path("."))
        return cls(data_dir=default_data_dir(env),
                   api_keys={key: DEFAULT_ENTITY} if key else {},
                   host=env.get("TABLELOG_SERVER_HOST") or DEFAULT_HOST,
                   port=_env_number(env, "TABLELOG_SERVER_PORT", int, DEFAULT_PORT),
                   header_timeout_s=_env_number(env, "TABLELOG_SERVER_HEADER_TIMEOUT", float,
                                                defaults.header_timeout_s),
                   idle_timeout_s=_env_number(env, "TABLELOG_SERVER_IDLE_TIMEOUT", float,
                                              defaults.idle_timeout_s),
                   max_connections=_env_number(env, "TABLELOG_SERVER_MAX_CONNECTIONS", int,
                                               defaults.max_connections),
                   public_url=env.get("TABLELOG_SERVER_PUBLIC_URL") or None,
                   trust_proxy=env.get("TABLELOG_SERVER_TRUST_PROXY", "") not in ("", "0"),
                   max_batch_entries=_env_number(env, "TABLELOG_SERVER_MAX_BATCH_ENTRIES", int,
                                                 defaults.max_batch_entries))


def _env_number(env: Mapping[str, str], name: str, kind: type[N], default: N) -> N:
    """The number in variable `name`, or `default` when it is unset or empty."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}") from None


def check_key(key: object) -> str:
    """A usable API key: at least `MIN_KEY_LENGTH` printable characters without
    whitespace (it travels in a header). The error never shows the key."""
    if (not isinstance(key, str) or not key or not key.isprintable()
            or any(c.isspace() for c in key)):
        raise ConfigError("an API key must be a non-empty string of printable, non-space "
                          "characters")
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(f"an API key must have at least {MIN_KEY_LENGTH} characters "
                          f"(one has {len(key)}): make a strong one with "
                          f"'tablelog server keygen'")
    return key


def check_public_url(url: str) -> str:
    """``--public-url``: an http(s) origin (``https://host[:port]``, no path), without
    its trailing slash and default port."""
    parts = urllib.parse.urlsplit(url.strip())
    if (parts.scheme not in ("http", "https") or not parts.hostname
            or parts.path not in ("", "/") or parts.query or parts.fragment
            or parts.username or parts.password):
        raise ConfigError(f"the public URL must look like https://host or https://host:port "
                          f"(no path), not {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"the public URL {url!r} has an invalid port") from None
    netloc = parts.netloc.lower()
    if port == {"http": 80, "https": 443}[parts.scheme]:
        netloc = netloc.rsplit(":", 1)[0]  # browsers leave the default port out of Origin
    return f"{parts.scheme}://{netloc}"


def load_keys_file(path: Path) -> dict[str, str]:
    """Read a keys file: a JSON object ``{"KEY": "entity"}`` or lines ``KEY ENTITY``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read keys file {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"keys file {path} is not valid JSON: line {exc.lineno}") from None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
            raise ConfigError(f"keys file {path}: every key and entity must be a string")
        keys: dict[str, str] = dict(obj)
    else:
        keys = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2:
                # The line may hold a key: say where, never what.
                raise ConfigError(f"keys file {path}, line {lineno}: expected 'KEY ENTITY'")
            keys[parts[0]] = parts[1]
    for key, entity in keys.items():
        check_key(key)
        if not wire.is_valid_name(entity):
            raise ConfigError(f"keys file {path}: invalid entity name {entity!r}")
    return keys
