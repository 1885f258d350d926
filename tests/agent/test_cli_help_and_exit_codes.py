"""Every `tablelog` command's --help shows an example, and bad invocations exit with
the codes docs/agent.md ("Exit codes") documents, each message saying what to do next
(issue 14.5). Real processes: the console script's code path, as a user runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from agent_helpers import cli_env, fill, run_cli, unreachable_url

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agent.md"
COMMANDS = ["", "agent", "sync", "status", "retry-dead", "login", "demo", "server"]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c or "tablelog")
def test_help_has_an_example_and_the_exit_codes(tmp_path: Path, command: str) -> None:
    done = run_cli(*command.split(), "--help", env=cli_env(tmp_path, "http://127.0.0.1:1"))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert re.search(r"^examples?:$", text, re.M), text
    # an example is a command line of this very command
    assert re.search(rf"^  (?:\S.*? )?tablelog {command}\b", text, re.M), text
    assert "exit status" in text and "Exit codes" in text


def test_the_exit_codes_have_a_section_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ("0", "1", "2", "3", "130"):
        assert f"| `{code}` |" in section, code


def _case(tmp_path: Path, name: str) -> tuple[list[str], int, str]:
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    queue = tmp_path / "queue"
    if name in ("bad-url", "unreachable"):
        fill(queue, "proj", ["r1"], 2)
    cases: dict[str, tuple[list[str], int, str]] = {
        "unknown-command": (["nonsense"], 2, "invalid choice"),
        "unknown-option": (["sync", "--bogus"], 2, "unrecognized arguments"),
        "status-unknown-option": (["status", "--bogus"], 2, "unrecognized arguments"),
        "demo-unknown-option": (["demo", "--bogus"], 2, "unrecognized arguments"),
        "server-without-key": (["server", "--data-dir", str(tmp_path / "s")], 2,
                               "pass --api-key KEY"),
        "sync-no-queue": (["sync", "--dir", str(empty)], 1, "pass --dir, or set TABLELOG_DIR"),
        "retry-dead-no-queue": (["retry-dead", "--dir", str(empty)], 1,
                                "pass --dir, or set TABLELOG_DIR"),
        "bad-url": (["sync", "--dir", str(queue), "--base-url", "ftp://x"], 2,
                    "`tablelog sync --help` has an example"),
        "unreachable": (["sync", "--dir", str(queue), "--timeout", "1", "--base-url",
                         unreachable_url()], 3, "run `tablelog sync` again later"),
    }
    return cases[name]


@pytest.mark.parametrize("name", ["unknown-command", "unknown-option", "status-unknown-option",
                                  "demo-unknown-option", "server-without-key", "sync-no-queue",
                                  "retry-dead-no-queue", "bad-url", "unreachable"])
def test_bad_invocations_exit_with_the_documented_code(tmp_path: Path, name: str) -> None:
    args, code, next_step = _case(tmp_path, name)
    env = cli_env(tmp_path / "default", "http://127.0.0.1:1")
    if name == "server-without-key":
        env.pop("TABLELOG_API_KEY")
    done = run_cli(*args, env=env)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert next_step in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
