"""WANDB_* variables that wandb programs and launchers set (issue 16.2): each stands in for
the TABLELOG_* one when that is unset; precedence init() argument > TABLELOG_* > WANDB_* >
the login file > default. WANDB_API_KEY and WANDB_BASE_URL are never read: a real server
on 127.0.0.1 records the Authorization headers `tablelog sync` sends."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

import tablelog as wandb
from tablelog import wire
from tablelog.settings import SdkConfig
from tablelog.store.queue import Queue
from tablelog_agent.config import AgentConfig

REPO = Path(__file__).resolve().parents[2]
WANDB_KEY = "wandb-secret-key-0123456789abcdef"


def run_body(queue_dir: Path) -> dict[str, object]:
    with Queue(queue_dir) as q:
        entries = [wire.decode_entry(e.payload)
                   for e in q.claim_batch(max_entries=1000, max_bytes=1 << 30)]
    return next(e.body for e in entries if e.kind == wire.Kind.RUN)


def test_wandb_variables_stand_in_for_unset_tablelog_ones(queue_dir: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.delenv("TABLELOG_MODE")
    monkeypatch.delenv("TABLELOG_DIR")
    wandb_dir = tmp_path / "wandb-dir"
    for name, value in {"WANDB_PROJECT": "wproj", "WANDB_ENTITY": "went",
                        "WANDB_RUN_ID": "wid123", "WANDB_NAME": "wname",
                        "WANDB_NOTES": "wnotes", "WANDB_TAGS": "a, b,,c",
                        "WANDB_JOB_TYPE": "train", "WANDB_RUN_GROUP": "wgroup",
                        "WANDB_MODE": "dryrun", "WANDB_DIR": str(wandb_dir),
                        "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(name, value)
    with wandb.init() as run:
        assert (run.project, run.entity, run.id, run.name) == ("wproj", "went", "wid123",
                                                               "wname")
        assert (run.notes, run.tags, run.job_type, run.group) == ("wnotes", ("a", "b", "c"),
                                                                  "train", "wgroup")
        assert run.mode == "offline"  # dryrun = offline
    body = run_body(wandb_dir)
    assert (body["group"], body["job_type"], body["tags"]) == ("wgroup", "train",
                                                               ["a", "b", "c"])


def test_tablelog_variables_and_arguments_win(queue_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "wproj")
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_RUN_GROUP", "wgroup")
    monkeypatch.setenv("TABLELOG_PROJECT", "tproj")
    monkeypatch.setenv("TABLELOG_RUN_GROUP", "tgroup")
    with wandb.init() as run:
        assert (run.project, run.mode, run.group) == ("tproj", "offline", "tgroup")
    with wandb.init(project="arg", group="garg") as run:
        assert (run.project, run.group) == ("arg", "garg")


def test_a_bad_wandb_mode_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="WANDB_MODE"):
        SdkConfig.from_env({"WANDB_MODE": "sometimes"})


def test_wandb_resume_and_silent_are_parsed_naming_the_variable() -> None:
    from tablelog.runtime.init_args import run_defaults

    assert run_defaults({"WANDB_RESUME": "allow", "WANDB_SILENT": "1"}) == {
        "resume": "allow", "silent": True}
    assert run_defaults({"WANDB_RESUME": "true"})["resume"] is True
    assert run_defaults({"TABLELOG_RESUME": "never", "WANDB_RESUME": "must"}) == {
        "resume": "never"}
    with pytest.raises(ValueError, match="WANDB_RESUME"):
        run_defaults({"WANDB_RESUME": "sometimes"})
    with pytest.raises(ValueError, match="WANDB_SILENT"):
        run_defaults({"WANDB_SILENT": "loud"})


def test_wandb_run_id_resumes_as_in_wandb(queue_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_RUN_ID", "again1")
    with wandb.init(project="p") as run:
        run.log({"x": 1})
    monkeypatch.setenv("WANDB_RESUME", "must")
    with wandb.init(project="p") as run:  # the local queue knows the run: no warning
        assert run.id == "again1" and run.resumed


def test_wandb_api_key_and_base_url_are_never_read(tmp_path: Path) -> None:
    env = {"TABLELOG_CONFIG_DIR": str(tmp_path / "cfg"), "WANDB_API_KEY": WANDB_KEY,
           "WANDB_BASE_URL": "http://127.0.0.1:9"}
    assert SdkConfig.from_env(env).api_key is None
    assert SdkConfig.from_env(env).base_url == "http://127.0.0.1:8765"
    assert AgentConfig.from_env(env).api_key is None


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def _answer(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(503)  # retryable: the agent tries again until --timeout
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    thread.join(10)
    server.server_close()


def test_sync_never_sends_the_wandb_key(queue_dir: Path, recording_server: tuple[
        str, list[str | None]]) -> None:
    url, seen = recording_server
    with wandb.init(project="p") as run:
        run.log({"x": 1})
    env = {k: v for k, v in os.environ.items() if k != "TABLELOG_API_KEY"}
    env.update({"TABLELOG_BASE_URL": url, "WANDB_API_KEY": WANDB_KEY,
                "WANDB_BASE_URL": url})
    done = subprocess.run([sys.executable, "-c", "import sys; from tablelog_agent.cli import "
                           "main; sys.exit(main(sys.argv[1:]))", "sync", "--timeout", "2",
                           "--no-progress"], env=env, capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 3, done.stderr
    assert seen, "the agent sent nothing"
    assert all(header is None or WANDB_KEY not in header for header in seen), seen
