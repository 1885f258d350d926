"""`tablelog.login()` and `tablelog login`: an API key (and server URL) stored for this user.

The key lives in ``credentials.json`` in the user config directory
(``platformdirs.user_config_dir("tablelog")``, e.g. ``~/.config/tablelog``;
``TABLELOG_CONFIG_DIR`` overrides it, which is how tests keep off the real one),
written with mode 0600. It is read, when ``TABLELOG_API_KEY`` is unset, by
`SdkConfig.from_env` (so `init()` and the agent it starts) and by
`AgentConfig.from_env` (so `tablelog agent` and `tablelog sync`); the stored
host is used when ``TABLELOG_BASE_URL`` is unset.

``WANDB_API_KEY`` is never read here nor anywhere in tablelog: it is a key for
another service, and sending it to a tablelog server would leak it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What `login` stored: the key, and the server it is for (None: the default)."""

    api_key: str
    base_url: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"Credentials(api_key=<{len(self.api_key)} chars>, base_url={self.base_url!r})"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """TABLELOG_CONFIG_DIR, else the per-user config directory (e.g. ~/.config/tablelog)."""
    env = os.environ if env is None else env
    value = env.get("TABLELOG_CONFIG_DIR")
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("tablelog"))


def credentials_path(env: Mapping[str, str] | None = None) -> Path:
    """Where `login` stores the key."""
    return config_dir(env) / CREDENTIALS_FILE


def load(env: Mapping[str, str] | None = None) -> Credentials | None:
    """The stored credentials, or None when there are none (or the file is unreadable:
    a broken file must not stop a training job; `tablelog login` rewrites it)."""
    try:
        text = credentials_path(env).read_text(encoding="utf-8")
    except OSError:  # no login yet: the usual case, and init() pays only this
        return None
    import json

    try:
        data = json.loads(text)
    except ValueError:
        return None
    key = data.get("api_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        return None
    url = data.get("base_url")
    return Credentials(api_key=key, base_url=url if isinstance(url, str) and url else None)


def save(credentials: Credentials, env: Mapping[str, str] | None = None) -> Path:
    """Write the credentials atomically, readable by this user only (0600)."""
    import json
    import tempfile

    path = credentials_path(env)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps({"api_key": credentials.api_key, "base_url": credentials.base_url})
    # mkstemp creates the file 0600, so the key is never readable by others, not even
    # for the moment between writing and renaming
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".credentials-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def verify(api_key: str, base_url: str, timeout: float | None = None) -> None:
    """Ask the server who the key belongs to (GET /api/v1/whoami). A refused key raises
    `AuthenticationError`; an unreachable server or an odd answer raises `CommError`."""
    import urllib.error
    import urllib.request

    from tablelog.errors import AuthenticationError, CommError

    req = urllib.request.Request(f"{base_url.rstrip('/')}/api/v1/whoami")
    req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout or 10.0) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise AuthenticationError(
                f"the server at {base_url} refused the API key (HTTP {exc.code}): check the "
                "key, or run `tablelog login KEY --host URL` with the right one") from None
        raise CommError(f"verifying the API key at {base_url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CommError(f"cannot reach {base_url} to verify the API key: {exc}") from None


def login(key: str | None = None, relogin: bool | None = None, host: str | None = None,
          force: bool | None = None, timeout: int | None = None, verify: bool = False,
          referrer: str | None = None, prompt: bool = True, anonymous: object = None,
          *, env: Mapping[str, str] | None = None) -> bool:
    """Store `key` (and `host` as the server URL) for this user, as ``wandb.login`` does.

    Without a key, returns whether one is configured (TABLELOG_API_KEY or a stored
    key); on a terminal it first asks for one when none is configured (or `relogin`),
    unless `prompt=False`. Never prompts when stdin is not a terminal. `verify=True`
    checks the key against the server and raises `AuthenticationError` when it is
    refused (wandb's default is True; ours is False so that login works before the
    server is up). `force`, `referrer` and `anonymous` are accepted for wandb's sake
    and do nothing.
    """
    env = os.environ if env is None else env
    from tablelog.settings import DEFAULT_BASE_URL

    if key is None and prompt and sys.stdin is not None and sys.stdin.isatty() and (
            relogin or not (env.get("TABLELOG_API_KEY") or load(env))):
        import getpass  # as wandb: ask on a terminal when no key is configured, or relogin

        key = getpass.getpass("tablelog API key: ").strip() or None
    if key is not None:
        key = key.strip()
        if not key:
            from tablelog.errors import UsageError

            raise UsageError("login(key=...) got an empty key")
        stored = load(env)
        url = (host or env.get("TABLELOG_BASE_URL")
               or (stored.base_url if stored else None) or DEFAULT_BASE_URL).rstrip("/")
        if verify:
            _verify(key, url, timeout)
        save(Credentials(api_key=key, base_url=host.rstrip("/") if host else
                         (stored.base_url if stored else None)), env)
        return True
    current = env.get("TABLELOG_API_KEY") or None
    stored = load(env)
    if current is None and stored is not None:
        current = stored.api_key
    if current is None:
        return False
    if verify:
        url = (host or env.get("TABLELOG_BASE_URL") or (stored.base_url if stored else None)
               or DEFAULT_BASE_URL)
        _verify(current, url, timeout)
    return True


_verify = verify  # `login` has a parameter of the same name
