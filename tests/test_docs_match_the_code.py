"""What the docs name exists: every `tablelog` command and its flags (against each
command's own ``--help``), every ``TABLELOG_*`` variable (read somewhere in the three
packages), and every HTTP route (against the server's router).

The docs are README.md and docs/**/*.md, read as a user would: only what is in code
(fenced blocks and inline code spans) counts as a name to check.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tablelog_server.app import create_app
from tablelog_server.config import ServerConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PACKAGES = [ROOT / "sdk" / "tablelog", ROOT / "agent" / "tablelog_agent",
            ROOT / "server_stub" / "tablelog_server"]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# the `tablelog` console script, run by this interpreter
TABLELOG = [sys.executable, "-c", "import sys; from tablelog_agent.cli import main; "
            "sys.exit(main(sys.argv[1:]))"]
ROUTE = re.compile(r"^(GET|POST|PUT|DELETE|HEAD|PATCH) (/.*)")


def code_pieces(path: Path) -> list[str]:
    """The fenced blocks' lines and the inline code spans of one markdown file."""
    text = path.read_text(encoding="utf-8")
    pieces = [line for block in FENCE.findall(text) for line in block.splitlines()]
    pieces += SPAN.findall(FENCE.sub("", text))
    return pieces


def all_pieces() -> list[tuple[str, str]]:
    return [(path.relative_to(ROOT).as_posix(), piece)
            for path in DOCS for piece in code_pieces(path)]


@functools.cache
def help_text(command: str) -> str:
    """``tablelog COMMAND --help`` as a user sees it ("" for the top level)."""
    done = subprocess.run([*TABLELOG, *command.split(), "--help"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"tablelog {command} --help: {done.stderr}"
    return done.stdout


@functools.cache
def commands() -> frozenset[str]:
    """The subcommands `tablelog --help` lists."""
    listed = re.search(r"\{([a-z,-]+)\}", help_text(""))
    choices = listed.group(1).split(",") if listed else re.findall(
        r"^    ([a-z][a-z-]+)\s", help_text(""), re.M)
    assert choices, help_text("")
    return frozenset(choices)


def documented_invocations() -> list[tuple[str, str, str]]:
    """(doc, command, code piece) for each piece that starts a `tablelog COMMAND` line."""
    found = []
    for doc, piece in all_pieces():
        text = piece.strip().removeprefix("$ ")
        match = re.match(r"(?:sudo\s+)?tablelog ([a-z][a-z-]*)\b(.*)", text)
        if match:
            found.append((doc, match.group(1), match.group(2)))
    return found


def test_the_docs_show_commands() -> None:
    # A guard on the reader above: if it found nothing, the checks below check nothing.
    invocations = documented_invocations()
    assert len(invocations) >= 20 and {"sync", "status", "server"} <= {
        c for _, c, _ in invocations}


def test_every_documented_command_and_flag_exists() -> None:
    wrong = []
    for doc, command, rest in documented_invocations():
        if command not in commands():
            wrong.append(f"{doc}: `tablelog {command}` is not a command")
            continue
        # A subcommand of a subcommand (e.g. `tablelog server keygen`) has its own help.
        words = rest.split()
        sub = f"{command} {words[0]}" if words and re.fullmatch(r"[a-z][a-z-]+", words[0]) \
            and words[0] in help_text(command) else command
        options = set(FLAG.findall(help_text(sub)))
        wrong += [f"{doc}: `tablelog {sub}` has no {flag}"
                  for flag in FLAG.findall(rest) if flag not in options]
    assert not wrong, "\n".join(wrong)


def test_every_lone_documented_flag_belongs_to_some_command() -> None:
    # A span that is just a flag (`--idle-timeout`, `--timeout=S`) belongs to one of the
    # commands, or to one of the repository's scripts (dev.py, bench/).
    everything = set(FLAG.findall(" ".join(help_text(c) for c in commands())))
    scripts = "\n".join(p.read_text(encoding="utf-8")
                        for p in [ROOT / "dev.py", *sorted((ROOT / "bench").glob("*.py"))])
    wrong = []
    for doc, piece in all_pieces():
        lone = FLAG.match(piece.strip())
        if lone and lone.group(0) not in everything and f'"{lone.group(0)}"' not in scripts:
            wrong.append(f"{doc}: {piece}")
    assert not wrong, "no command or script has:\n" + "\n".join(wrong)


def test_every_documented_variable_is_read_by_the_code() -> None:
    source = "\n".join(p.read_text(encoding="utf-8")
                       for package in PACKAGES for p in package.rglob("*.py"))
    documented = {(doc, name) for doc, piece in all_pieces()
                  for name in re.findall(r"\bTABLELOG_[A-Z0-9_]*[A-Z0-9]\b", piece)}
    assert len(documented) >= 10
    wrong = [f"{doc}: {name} is read nowhere" for doc, name in sorted(documented)
             if f'"{name}"' not in source]
    assert not wrong, "\n".join(wrong)


def _shape(path: str) -> str:
    """A path with each ``{param}`` (or ``...``) as one placeholder."""
    return re.sub(r"\{[^}]*\}", "{}", path.rstrip("/"))


@pytest.fixture
def routes(tmp_path: Path) -> set[tuple[str, str]]:
    app = create_app(ServerConfig(data_dir=tmp_path, api_keys={"k" * 16: "local"}))
    return {(r.method, _shape(r.resource.canonical)) for r in app.router.routes()
            if r.resource is not None}


def test_every_documented_route_exists(routes: set[tuple[str, str]]) -> None:
    documented = []
    for doc, piece in all_pieces():
        match = ROUTE.match(piece.strip())
        if match:
            path = re.sub(r"\{[^}]*\}", "{}", match.group(2)).split()[0].split("?")[0]
            documented.append((doc, match.group(1), path))
    assert len(documented) >= 14
    wrong = []
    for doc, method, path in documented:
        if "..." in path:  # an abbreviation: some route must start with what is given
            prefix = _shape(path.split("...")[0])
            if not any(m == method and p.startswith(prefix) for m, p in routes):
                wrong.append(f"{doc}: {method} {path}")
        elif (method, _shape(path)) not in routes:
            wrong.append(f"{doc}: {method} {path}")
    assert not wrong, "no such route:\n" + "\n".join(wrong)
