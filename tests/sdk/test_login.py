"""`tablelog.login()` and `tablelog login` (issue 16.1): the key stored 0600 in the config
directory, used by init(), the agent and `tablelog sync` when TABLELOG_API_KEY is unset;
verify=True asks a real server on 127.0.0.1. As wandb 0.31: login() without a key and
nothing configured returns False (checked with wandb 0.31 in a non-terminal process)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import tablelog
from tablelog.errors import AuthenticationError, CommError
from tablelog.runtime.credentials import credentials_path, load
from tablelog.settings import SdkConfig
from tablelog_agent.config import AgentConfig

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key-0123456789"


def test_login_with_a_key_stores_it_for_this_user_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLELOG_API_KEY", raising=False)
    monkeypatch.delenv("TABLELOG_BASE_URL", raising=False)
    assert tablelog.login() is False
    assert tablelog.login(key="k" * 20, host="http://tl.example:9000/") is True
    path = credentials_path()
    assert path.parent == Path(os.environ["TABLELOG_CONFIG_DIR"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tablelog.login() is True
    config = SdkConfig.from_env()
    assert (config.api_key, config.base_url) == ("k" * 20, "http://tl.example:9000")
    agent = AgentConfig.from_env()
    assert (agent.api_key, agent.base_url) == ("k" * 20, "http://tl.example:9000")
    assert "k" * 20 not in repr(load()) + repr(config) + repr(agent)


def test_the_environment_wins_over_the_login_file(monkeypatch: pytest.MonkeyPatch) -> None:
    tablelog.login(key="stored-key-0123456789", host="http://stored:1")
    monkeypatch.setenv("TABLELOG_API_KEY", "env-key-0123456789")
    monkeypatch.setenv("TABLELOG_BASE_URL", "http://env:2")
    config = SdkConfig.from_env()
    assert (config.api_key, config.base_url) == ("env-key-0123456789", "http://env:2")


def test_a_relogin_keeps_the_stored_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TABLELOG_BASE_URL", raising=False)
    tablelog.login(key="first-key-0123456789", host="http://stored:1")
    tablelog.login(key="second-key-0123456789")
    stored = load()
    assert stored is not None
    assert (stored.api_key, stored.base_url) == ("second-key-0123456789", "http://stored:1")


def test_verify_asks_the_server(live_server: object) -> None:
    url = live_server.url  # type: ignore[attr-defined]
    assert tablelog.login(key=API_KEY, host=url, verify=True) is True
    with pytest.raises(AuthenticationError, match="refused the API key"):
        tablelog.login(key="wrong-key-0123456789", host=url, verify=True)
    stored = load()
    assert stored is not None and stored.api_key == API_KEY  # a refused key is not stored
    with pytest.raises(tablelog.errors.AuthenticationError):  # wandb's spelling
        tablelog.login(key="wrong-key-0123456789", host=url, verify=True)


def test_verify_against_no_server_is_a_comm_error() -> None:
    with pytest.raises(CommError, match="cannot reach"):
        tablelog.login(key=API_KEY, host="http://127.0.0.1:1", verify=True, timeout=2)


def test_login_never_prompts_without_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TABLELOG_API_KEY"}
    done = subprocess.run([sys.executable, "-c", "import tablelog; "
                           "print(tablelog.login(relogin=True))"], stdin=subprocess.DEVNULL,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "import sys; from tablelog_agent.cli import "
                           "main; sys.exit(main(sys.argv[1:]))", *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def test_the_login_command(live_server: object) -> None:
    url = live_server.url  # type: ignore[attr-defined]
    env = {k: v for k, v in os.environ.items()
           if k not in ("TABLELOG_API_KEY", "TABLELOG_BASE_URL")}
    assert _cli("login", env=env).returncode == 1
    done = _cli("login", "wrong-key-0123456789", "--host", url, "--verify", env=env)
    assert done.returncode == 1 and "refused" in done.stderr, done.stderr
    done = _cli("login", API_KEY, "--host", "http://127.0.0.1:1", "--verify", env=env)
    assert done.returncode == 3 and "cannot reach" in done.stderr, done.stderr
    done = _cli("login", API_KEY, "--host", url, "--verify", env=env)
    assert done.returncode == 0, done.stderr
    assert API_KEY not in done.stderr + done.stdout
    assert _cli("login", env=env).returncode == 0
    assert AgentConfig.from_env(env).base_url == url


def test_sync_delivers_with_the_stored_key_and_host(live_server: object, queue_dir: Path,
                                                    tmp_path: Path) -> None:
    url = live_server.url  # type: ignore[attr-defined]
    tablelog.login(key=API_KEY, host=url)
    with tablelog.init(project="proj") as run:
        run.log({"loss": 0.5})
    env = {k: v for k, v in os.environ.items()
           if k not in ("TABLELOG_API_KEY", "TABLELOG_BASE_URL")}
    done = _cli("sync", "--timeout", "30", "--no-progress", env=env)
    assert done.returncode == 0, done.stderr
    api = tablelog.Api(base_url=url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    assert [r.id for r in api.runs("local/proj")] == [run.id]


def test_the_read_api_uses_the_stored_key_and_host(live_server: object,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.delenv("TABLELOG_API_KEY", raising=False)
    monkeypatch.delenv("TABLELOG_BASE_URL", raising=False)
    tablelog.login(key=API_KEY, host=live_server.url)  # type: ignore[attr-defined]
    assert tablelog.Api(cache_dir=tmp_path / "cache").default_entity == "local"
