"""The `tablelog` command line: server, agent, sync, status, retry-dead, login, demo.

Exit status (docs/agent.md, "Exit codes"): 0 success; 1 a runtime failure
(entries were dead-lettered, another agent already serves the directory, no
queue in the directory, a directory that cannot be written); 2 usage errors,
settings refused, or a command not available; 3 `sync` gave up because the
server stayed unreachable; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tablelog_agent.config import AgentConfig, redact_url

EXIT_UNAVAILABLE = 2
EXIT_CODES = ("exit status: 0 ok; 1 failed at runtime (dead letters, another agent, no queue,\n"
              "  key refused or none configured); 2 usage or settings error; 3 sync or\n"
              "  login --verify gave up (server unreachable); 130 "
              "interrupted\n  (docs/agent.md, \"Exit codes\")")
EXAMPLES = {
    "agent": ["TABLELOG_API_KEY=KEY tablelog agent --dir ~/.local/share/tablelog "
              "--base-url http://127.0.0.1:8765",
              "tablelog agent --idle-exit 60 -v    # stop after a minute with nothing to do"],
    "sync": ["tablelog sync --dir /mnt/usb/tablelog --base-url http://server:8765",
             "tablelog sync --no-progress --timeout 600 2>> sync.log"],
    "status": ["tablelog status", "tablelog status --dir /mnt/usb/tablelog --json"],
    "retry-dead": ["tablelog retry-dead && tablelog sync"],
    "login": ["tablelog login KEY --host https://tablelog.example.org --verify",
              "tablelog login --relogin  # asks for the key (on a terminal)",
              "tablelog login < /dev/null  # exit status 0 when a key is configured, else 1"],
}
_PASSTHROUGH = {"server": "tablelog_server.cli", "demo": "tablelog_agent.demo"}
log = logging.getLogger("tablelog_agent")


def build_parser() -> argparse.ArgumentParser:
    """The `tablelog` parser (server and demo only listed: they parse their own options)."""
    parser = argparse.ArgumentParser(
        prog="tablelog", description="tablelog: durable, non-blocking table logging.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  tablelog server --data-dir ./server-data --api-key KEY\n"
               "  tablelog status\n  tablelog sync --dir COPY\n  tablelog demo --keep\n"
               "each command has its own --help, with an example\n\n" + EXIT_CODES)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_command(sub, "server", help="run the backend (options: tablelog server --help)",
                 add_help=False)
    add_agent_parser(_add_command(
        sub, "agent", help="upload the queue in the background until stopped"))
    p = _add_command(sub, "sync", help="upload everything pending, then exit")
    _common(p)
    p.add_argument("--timeout", type=float, default=120.0, metavar="S",
                   help="give up when the server keeps failing with nothing delivered "
                        "for S seconds (default 120)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show the progress bar even when stderr is not a terminal")
    bar.add_argument("--no-progress", dest="progress", action="store_false")
    p = _add_command(sub, "status", help="show the queue, dead letters, agent and server")
    p.add_argument("--dir", type=Path, help="queue directory (default: TABLELOG_DIR)")
    p.add_argument("--base-url", help="server to check (default: TABLELOG_BASE_URL)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = _add_command(sub, "retry-dead", help="re-queue every dead letter")
    p.add_argument("--dir", type=Path, help="queue directory (default: TABLELOG_DIR)")
    p = _add_command(sub, "login", help="store an API key (and server URL) for this user")
    p.add_argument("key", nargs="?", metavar="KEY",
                   help="the API key to store (without it: on a terminal, ask for it when "
                        "none is configured; else say whether one is. Typing it at the "
                        "prompt keeps it out of `ps` and the shell history)")
    p.add_argument("--host", metavar="URL", help="server URL to store with the key")
    p.add_argument("--verify", action="store_true",
                   help="check the key against the server first (refused: exit status 1)")
    p.add_argument("--relogin", action="store_true",
                   help="ask for a key even when one is configured (needs a terminal)")
    _add_command(sub, "demo", help="run the demo (options: tablelog demo --help)",
                 add_help=False)
    return parser


def _add_command(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with its examples and the exit codes."""
    if name in EXAMPLES:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("description", kwargs.get("help"))
        kwargs["epilog"] = ("examples:\n" + "".join(f"  {line}\n" for line in EXAMPLES[name])
                            + "\n" + EXIT_CODES)
    parser: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    return parser


def add_agent_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `agent` options (shared with ``python -m tablelog_agent``)."""
    _common(p)
    p.add_argument("--idle-exit", type=float, default=None, metavar="S",
                   help="exit after S seconds with an empty queue (default: never)")
    p.add_argument("--drain-timeout", type=float, default=None, metavar="S",
                   help="on SIGTERM, how long in-flight uploads may finish (default 20)")
    p.add_argument("-v", "--verbose", action="store_true", help="log every batch")
    return p


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", type=Path, help="queue directory (default: TABLELOG_DIR)")
    p.add_argument("--base-url", help="server URL (default: TABLELOG_BASE_URL)")
    p.add_argument("--api-key", help="API key (default: TABLELOG_API_KEY; prefer the "
                   "variable: arguments are visible to other users in `ps`)")


class _BadSettings(Exception):
    """Settings that AgentConfig refused; reported as a usage error."""


def config_from_args(args: argparse.Namespace, **overrides: object) -> AgentConfig:
    """AgentConfig from the environment, with the command's options on top."""
    try:
        return AgentConfig.from_env(dir=args.dir, base_url=args.base_url,
                                    api_key=args.api_key, **overrides)
    except ValueError as exc:  # e.g. a base URL that is not http(s)
        raise _BadSettings(f"tablelog {args.command}: {exc} (fix the option or the "
                           f"TABLELOG_ variable; `tablelog {args.command} --help` has an "
                           "example)") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tablelog` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _PASSTHROUGH:
        return _run_passthrough(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    if args.command in ("agent", "sync"):
        from tablelog_agent.memory import pin_mmap_threshold

        pin_mmap_threshold()  # uploads stream large buffers: keep RSS flat
    from tablelog.errors import QueueError

    try:
        return _dispatch(args)
    except _BadSettings as exc:
        print(exc, file=sys.stderr)
        return EXIT_UNAVAILABLE
    except (QueueError, OSError) as exc:  # e.g. a queue directory we may not write
        print(f"tablelog {args.command}: {exc} (check that the directory exists, is "
              "yours and its disk has room; `tablelog status` shows the queue)", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "agent":
        return run_agent(args)
    if args.command == "sync":
        return _cmd_sync(args)
    if args.command == "status":
        return _cmd_status(args)
    if args.command == "retry-dead":
        return _cmd_retry_dead(args)
    if args.command == "login":
        return _cmd_login(args)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover


def _run_passthrough(command: str, rest: list[str]) -> int:
    import importlib

    module_name = _PASSTHROUGH[command]
    try:
        module = importlib.import_module(module_name)
        entry = module.main
    except (ModuleNotFoundError, AttributeError) as exc:
        if isinstance(exc, ModuleNotFoundError) and not module_name.startswith(exc.name or "-"):
            raise  # the module exists but one of its imports is missing: a real error
        print(f"tablelog {command}: not available in this installation ({module_name} is "
              "missing): reinstall tablelog (`pip install tablelog`)", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return int(entry(rest) or 0)


def run_agent(args: argparse.Namespace) -> int:
    """`tablelog agent`: serve the queue until SIGTERM/SIGINT (or idle exit)."""
    from tablelog_agent.agent import Agent, StopReason
    from tablelog_agent.errors import AgentLockedError

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="tablelog agent: %(message)s", stream=sys.stderr)
    config = config_from_args(args, idle_exit_s=args.idle_exit,
                              drain_timeout_s=args.drain_timeout)

    async def serve() -> int:
        # After an idle exit the lock is released first and the queue looked at again:
        # an SDK that committed before that look is seen here, one that commits after
        # it finds the lock free and spawns an agent. Nothing falls in between. Each
        # round needs an idle period, so this loop cannot spin.
        for round_ in itertools.count():
            agent = Agent(config)
            with agent.signals_handled():
                try:
                    async with agent:
                        log.info("serving %s for %s", config.dir, redact_url(config.base_url))
                        result = await agent.run()
                except AgentLockedError:
                    if round_ == 0:
                        raise
                    return 0  # another agent took over in between: it serves the queue
            log.info("stopped (%s): %d entries delivered, %d dead-lettered",
                     result.reason, result.entries_acked, result.dead_lettered)
            if result.reason is not StopReason.IDLE or not await asyncio.to_thread(
                    still_needed, config.dir):
                return 0
        return 0  # pragma: no cover - itertools.count() does not end

    try:
        return asyncio.run(serve())
    except AgentLockedError as exc:
        print(f"tablelog agent: {exc}; not starting a second one "
              "(`tablelog status` shows it; stop it first to run this one)", file=sys.stderr)
        return 1


def still_needed(directory: Path) -> bool:
    """True when the queue has pending entries or a run open in a live process."""
    from tablelog.runtime.lifetime import live_open_runs
    from tablelog.store.queue import Queue

    with Queue(directory) as queue:
        return queue.stats().pending > 0 or live_open_runs(queue) > 0


def _cmd_sync(args: argparse.Namespace) -> int:
    from tablelog_agent.errors import AgentLockedError
    from tablelog_agent.sync import summary_line, sync

    config = config_from_args(args)
    if not (config.dir / "queue.db").exists():
        print(f"tablelog sync: no queue in {config.dir}: nothing to sync "
              "(pass --dir, or set TABLELOG_DIR, to the directory the jobs logged to)",
              file=sys.stderr)
        return 1
    try:
        outcome = asyncio.run(sync(config, timeout_s=args.timeout, progress=args.progress))
    except AgentLockedError as exc:  # lost every race for the lock: rare, but say so
        print(f"tablelog sync: {exc}", file=sys.stderr)
        return 1
    print(summary_line(outcome, config.dir), file=sys.stderr)
    return outcome.exit_code


def _cmd_status(args: argparse.Namespace) -> int:
    from tablelog.settings import default_base_url, default_dir
    from tablelog_agent.status import format_status, gather_status, to_json

    directory = (args.dir or default_dir()).expanduser()
    status = gather_status(directory, args.base_url or default_base_url())
    print(to_json(status) if args.json else format_status(status))
    return 0


def _cmd_retry_dead(args: argparse.Namespace) -> int:
    from tablelog.settings import default_dir
    from tablelog.store.queue import Queue
    from tablelog_agent.lock import lock_holder

    directory = (args.dir or default_dir()).expanduser()
    if not (directory / "queue.db").exists():
        print(f"tablelog retry-dead: no queue in {directory} (pass --dir, or set "
              "TABLELOG_DIR, to the directory the jobs logged to)", file=sys.stderr)
        return 1
    with Queue(directory) as queue:
        count = queue.retry_dead()
    holder = lock_holder(directory)
    after = (f"the agent (pid {holder}) will upload them" if holder is not None
             else "run `tablelog sync` (or start the agent) to upload them")
    print(f"re-queued {count} dead letter{'s' if count != 1 else ''}"
          + (f"; {after}" if count else ""))
    return 0


def _cmd_login(args: argparse.Namespace) -> int:
    from tablelog.errors import ApiError, AuthError
    from tablelog.runtime.credentials import credentials_path, login

    try:
        configured = login(args.key, relogin=args.relogin, host=args.host, verify=args.verify)
    except AuthError as exc:
        print(f"tablelog login: {exc}", file=sys.stderr)
        return 1
    except ApiError as exc:  # could not verify: the server is down or unreachable
        print(f"tablelog login: {exc} (start the server, fix --host, or log in without "
              "--verify)", file=sys.stderr)
        return 3
    if not configured:
        print("tablelog login: no API key configured: run `tablelog login KEY` (or set "
              "TABLELOG_API_KEY)", file=sys.stderr)
        return 1
    if args.key is not None or args.relogin:
        print(f"tablelog login: key stored in {credentials_path()}", file=sys.stderr)
    else:
        print("tablelog login: an API key is configured", file=sys.stderr)
    return 0
