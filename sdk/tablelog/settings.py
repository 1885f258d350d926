"""Configuration from the environment, overridable by arguments.

| variable            | meaning                                         | default                  |
|---------------------|-------------------------------------------------|--------------------------|
| TABLELOG_DIR        | local queue / blob / cache directory            | the user data dir        |
| TABLELOG_BASE_URL   | backend URL                                     | http://127.0.0.1:8765    |
| TABLELOG_API_KEY    | key sent by the agent / required by the server  | none                     |
| TABLELOG_MODE       | online, offline or disabled                     | online                   |
| TABLELOG_PROJECT    | default project for init()                      | uncategorized            |
| TABLELOG_ENTITY     | default entity for init()                       | the key's own entity     |
| TABLELOG_QUEUE_MAX_BYTES | cap on pending queue bytes (0 = no cap)    | 0                        |
| TABLELOG_AGENT_AUTOSTART | online mode starts an agent if none runs   | 1                        |
| TABLELOG_AGENT_IDLE_EXIT | seconds a started agent stays idle, then exits | 60                   |
| TABLELOG_RESUME_TIMEOUT | seconds init(resume=...) may ask the server | 3                      |
| TABLELOG_MAX_PENDING_BYTES | memory logged values may hold while they wait for the writer | 256M |
| TABLELOG_CACHE_MAX_BYTES | blobs the agent keeps locally once the server has them (LRU) | 1G |
| TABLELOG_EXIT_TIMEOUT | seconds the exit hook may take to commit    | 10                       |
| TABLELOG_SIGNAL_TIMEOUT | seconds a SIGTERM/SIGINT/SIGHUP may take  | 2                        |
| TABLELOG_READ_WAIT | seconds `Api()` reads wait for this directory's queued entries | 30 |
| TABLELOG_CONFIG_DIR | where `tablelog login` stores the key           | the user config dir      |

Sizes take a unit: 512M, 1G, 64KiB, 1.5GB (K/M/G/T are powers of 1024), or plain bytes.
Booleans are 1/0, true/false, yes/no, on/off. A value that does not parse is a
ValueError naming the variable.

For wandb programs and launchers, WANDB_MODE (dryrun = offline), WANDB_DIR,
WANDB_PROJECT and WANDB_ENTITY stand in for the TABLELOG_ variable when that is
unset (the run-level ones, WANDB_NAME, WANDB_RUN_ID... are read by init(), see
tablelog.runtime.init_args). Precedence: init() argument > TABLELOG_* > WANDB_* >
the `tablelog login` file > default. WANDB_API_KEY and WANDB_BASE_URL are NEVER
read: they are another service's, and sending that key to a tablelog server would
leak it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

DEFAULT_BASE_URL = "http://127.0.0.1:8765"
MODES = ("online", "offline", "disabled")
DEFAULT_MAX_PENDING_BYTES = 256 << 20
DEFAULT_CACHE_MAX_BYTES = 1 << 30
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


# TABLELOG_ variable -> the WANDB_ one a wandb launcher sets for the same thing.
# Never WANDB_API_KEY nor WANDB_BASE_URL: they belong to another service (see above).
WANDB_ALIASES = {"TABLELOG_MODE": "WANDB_MODE", "TABLELOG_DIR": "WANDB_DIR",
                 "TABLELOG_PROJECT": "WANDB_PROJECT", "TABLELOG_ENTITY": "WANDB_ENTITY"}
_WANDB_MODES = {"dryrun": "offline", "run": "online"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """The TABLELOG_ variable `name`, else its WANDB_ stand-in; None when both are unset."""
    value = env.get(name)
    if not value and name in WANDB_ALIASES:
        value = env.get(WANDB_ALIASES[name])
    return value or None


def default_dir(env: Mapping[str, str] | None = None) -> Path:
    """TABLELOG_DIR (else WANDB_DIR), else the per-user data directory
    (e.g. ~/.local/share/tablelog)."""
    env = os.environ if env is None else env
    value = env_value(env, "TABLELOG_DIR")
    return Path(value).expanduser() if value else Path(platformdirs.user_data_dir("tablelog"))


def default_base_url(env: Mapping[str, str] | None = None) -> str:
    """TABLELOG_BASE_URL, else the host `tablelog login` stored, else the default."""
    env = os.environ if env is None else env
    url = env.get("TABLELOG_BASE_URL")
    if not url:
        from tablelog.runtime.credentials import load

        stored = load(env)
        url = stored.base_url if stored else None
    return (url or DEFAULT_BASE_URL).rstrip("/")


def default_api_key(env: Mapping[str, str] | None = None) -> str | None:
    """TABLELOG_API_KEY, else the key `tablelog login` stored (never WANDB_API_KEY)."""
    env = os.environ if env is None else env
    key = env.get("TABLELOG_API_KEY")
    if key:
        return key
    from tablelog.runtime.credentials import load

    stored = load(env)
    return stored.api_key if stored else None


def parse_mode(value: str, name: str) -> str:
    """online / offline / disabled (wandb's dryrun = offline, run = online)."""
    mode = value.strip().lower()
    mode = _WANDB_MODES.get(mode, mode)
    if mode not in MODES:
        raise ValueError(f"{name} must be one of {', '.join(MODES)}, got {value!r}")
    return mode


def parse_bool(value: str, name: str) -> bool:
    """1/0, true/false, yes/no, on/off (any case); ValueError naming `name` otherwise."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be 1/0, true/false, yes/no or on/off, got {value!r}")


def bool_from_env(env: Mapping[str, str], name: str, default: bool) -> bool:
    """The boolean in variable `name`, or `default` when it is unset or empty."""
    value = env.get(name)
    return parse_bool(value, name) if value and value.strip() else default


def parse_size(value: str, name: str) -> int:
    """Bytes from "512M", "1G", "64KiB", "1.5GB" or "1048576" (units are powers of 1024);
    ValueError naming the variable `name` for anything else."""
    text = value.strip().lower().replace(" ", "")
    for suffix in ("ib", "b"):
        if text.endswith(suffix) and text[:-len(suffix)][-1:] in _UNITS.keys() - {"", "b"}:
            text = text[:-len(suffix)]
            break
    number, unit = (text[:-1], text[-1]) if text and text[-1] in _UNITS else (text, "")
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if not 0 <= amount < float(1 << 62):  # also refuses NaN and infinity
        raise ValueError(f"{name} must be a size such as 512M, 1G or a number of bytes, "
                         f"got {value!r}")
    return int(amount * _UNITS[unit])


def size_from_env(env: Mapping[str, str], name: str, default: int) -> int:
    """The size in variable `name`, or `default` when it is unset or empty."""
    value = env.get(name)
    return parse_size(value, name) if value and value.strip() else default


@dataclass(frozen=True, kw_only=True)
class SdkConfig:
    """Settings of the training-side SDK."""

    dir: Path
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)  # never printed
    mode: str = "online"
    project: str = "uncategorized"
    entity: str | None = None
    queue_max_bytes: int | None = None
    agent_idle_exit_s: float = 60.0
    agent_autostart: bool = True
    resume_timeout_s: float = 3.0
    max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES
    exit_timeout_s: float = 10.0  # the exit hook's bound (process exit without finish())
    signal_timeout_s: float = 2.0  # the bound on committing when a signal ends the process

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SdkConfig:
        env = os.environ if env is None else env
        mode_name = "TABLELOG_MODE" if env.get("TABLELOG_MODE") else "WANDB_MODE"
        mode = parse_mode(env_value(env, "TABLELOG_MODE") or "online", mode_name)
        cap = size_from_env(env, "TABLELOG_QUEUE_MAX_BYTES", 0)
        return cls(dir=default_dir(env), base_url=default_base_url(env),
                   api_key=default_api_key(env), mode=mode,
                   project=env_value(env, "TABLELOG_PROJECT") or "uncategorized",
                   entity=env_value(env, "TABLELOG_ENTITY"),
                   queue_max_bytes=cap or None,
                   agent_idle_exit_s=_seconds(env, "TABLELOG_AGENT_IDLE_EXIT", 60.0),
                   agent_autostart=bool_from_env(env, "TABLELOG_AGENT_AUTOSTART", True),
                   resume_timeout_s=_seconds(env, "TABLELOG_RESUME_TIMEOUT", 3.0),
                   max_pending_bytes=size_from_env(env, "TABLELOG_MAX_PENDING_BYTES",
                                                   DEFAULT_MAX_PENDING_BYTES),
                   exit_timeout_s=_seconds(env, "TABLELOG_EXIT_TIMEOUT", 10.0),
                   signal_timeout_s=_seconds(env, "TABLELOG_SIGNAL_TIMEOUT", 2.0))


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    seconds = seconds_from_env(env, name, default)
    assert seconds is not None
    return seconds


def seconds_from_env(env: Mapping[str, str], name: str, default: float | None
                     ) -> float | None:
    """The number of seconds (>= 0) in variable `name`, or `default` when it is unset;
    ValueError naming the variable for anything else."""
    value = env.get(name)
    if not value or not value.strip():
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return seconds
