"""Pieces of the agent with no server: config, retry policy, lock, notify, status text."""

from __future__ import annotations

import email.utils
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_helpers import REPO, cli_env, fill
from tenacity import Future, RetryCallState

from tablelog_agent.cli import main
from tablelog_agent.config import AgentConfig, redact_url
from tablelog_agent.errors import AgentLockedError, RetryableError
from tablelog_agent.lock import AgentLock, lock_holder
from tablelog_agent.retry import BackoffWait, parse_retry_after
from tablelog_agent.sdnotify import Notifier
from tablelog_agent.status import format_status, gather_status


def test_config_from_env_and_overrides(tmp_path: Path) -> None:
    env = {"TABLELOG_DIR": str(tmp_path / "q"), "TABLELOG_BASE_URL": "http://h:1/",
           "TABLELOG_API_KEY": "sekrit", "TABLELOG_AGENT_IDLE_EXIT": "60"}
    config = AgentConfig.from_env(env)
    assert config.dir == tmp_path / "q" and config.base_url == "http://h:1"
    assert config.api_key == "sekrit" and config.idle_exit_s == 60.0
    assert "sekrit" not in repr(config)
    assert AgentConfig.from_env(env, base_url="https://x", api_key=None).base_url == "https://x"
    assert AgentConfig.from_env({}).idle_exit_s is None
    with pytest.raises(ValueError, match="http"):
        AgentConfig(dir=tmp_path, base_url="ftp://user:pw@host")
    with pytest.raises(ValueError, match="backoff"):
        AgentConfig(dir=tmp_path, backoff_base_s=10, backoff_cap_s=1)


def test_redact_url_drops_credentials() -> None:
    assert redact_url("https://bob:pw@example.org:8443/x") == "https://example.org:8443/x"
    assert redact_url("http://127.0.0.1:8765") == "http://127.0.0.1:8765"


def test_retry_after_seconds_and_http_date() -> None:
    now = time.time()
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True),
                             now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("99999999") == 3600.0


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    wait = BackoffWait(0.5, 8.0, random.Random(1))
    samples = {n: [wait.backoff(n) for _ in range(200)] for n in (1, 2, 3, 5, 30)}
    assert all(0.25 <= s <= 0.5 for s in samples[1])
    assert all(0.5 <= s <= 1.0 for s in samples[2])
    assert all(4.0 <= s <= 8.0 for s in samples[5] + samples[30])
    assert len(set(samples[3])) > 100  # jittered


def test_backoff_uses_the_servers_retry_after() -> None:
    wait = BackoffWait(0.5, 8.0, random.Random(1))
    state = RetryCallState(None, lambda: None, (), {})  # type: ignore[arg-type]
    state.attempt_number = 9
    state.outcome = Future(9)
    state.outcome.set_exception(RetryableError("429", retry_after=2.0))
    assert 2.0 <= wait(state) <= 2.2


def test_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    assert lock_holder(tmp_path) is None
    with AgentLock(tmp_path):
        assert lock_holder(tmp_path) == os.getpid()
        with pytest.raises(AgentLockedError, match=f"pid {os.getpid()}"):
            AgentLock(tmp_path).acquire()
    assert lock_holder(tmp_path) is None
    assert (tmp_path / "agent.lock").stat().st_mode & 0o077 == 0


def test_lock_holder_sees_another_process(tmp_path: Path) -> None:
    code = ("import sys, time; from tablelog_agent.lock import AgentLock; "
            f"l = AgentLock({str(tmp_path)!r}).acquire(); print('locked', flush=True); "
            "sys.stdin.readline()")
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, cwd=REPO) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            assert lock_holder(tmp_path) == proc.pid
        finally:
            proc.kill()
            proc.wait(10)
    assert lock_holder(tmp_path) is None  # released by the kernel on death


def test_notifier_sends_datagrams(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
        assert notifier.watchdog_interval_s == 2.0
        assert notifier.ready("hi") and notifier.watchdog() and notifier.stopping()
        got = [sock.recv(100).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=hi", "WATCHDOG=1", "STOPPING=1"]
    assert not Notifier({}).ready()
    assert Notifier({"WATCHDOG_USEC": "1", "WATCHDOG_PID": "1"}).watchdog_interval_s is None


def test_status_of_a_directory_without_queue(tmp_path: Path) -> None:
    status = gather_status(tmp_path / "nothing", None)
    assert status["queue"] is None and "none here" in format_status(status)
    assert not (tmp_path / "nothing").exists()  # status never creates a queue


def test_cli_usage_errors_and_missing_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2
    assert main(["sync", "--dir", str(tmp_path / "none")]) == 1
    assert "no queue" in capsys.readouterr().err
    assert main(["sync", "--dir", str(tmp_path), "--base-url", "ftp://u:pw@x"]) == 2
    err = capsys.readouterr().err
    assert "base URL must be http" in err and "pw" not in err


def test_cli_passes_server_and_demo_through(tmp_path: Path) -> None:
    for command, expected in (("server", "--data-dir"), ("demo", "usage")):
        done = subprocess.run([sys.executable, "-c", "import sys; from tablelog_agent.cli "
                               "import main; sys.exit(main(sys.argv[1:]))", command, "--help"],
                              capture_output=True, text=True, timeout=60, cwd=REPO,
                              env=cli_env(tmp_path, "http://127.0.0.1:1"))
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout


def test_retry_dead_on_an_empty_queue(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    fill(tmp_path, "proj", ["r1"], 1)
    assert main(["retry-dead", "--dir", str(tmp_path)]) == 0
    assert "re-queued 0 dead letters" in capsys.readouterr().out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc knob")
def test_mmap_threshold_is_pinned_on_glibc() -> None:
    import platform

    from tablelog_agent.memory import pin_mmap_threshold

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert pin_mmap_threshold() is True


def test_unusable_queue_directory_is_a_clear_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["agent", "--dir", str(blocker / "q"), "--idle-exit", "0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tablelog agent: ") and "Traceback" not in err
