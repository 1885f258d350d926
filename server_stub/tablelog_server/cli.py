"""``tablelog server``: run the backend until SIGTERM or Ctrl-C.

    tablelog server --host 127.0.0.1 --port 8765 --data-dir DIR --api-key KEY
    tablelog server keygen        # print a strong key, then exit

Keys: ``--api-key`` (repeatable; entity ``local`` unless ``--entity NAME``) and/or
``--keys-file FILE`` mapping keys to entities; ``TABLELOG_API_KEY`` counts as an
``--api-key`` when none is given. At least one key is required: the server
never runs open. Keys have at least 16 characters (``tablelog server keygen``
prints one); wrong keys are limited per client address (`tablelog_server.auth_limits`).

Behind a TLS proxy: ``--public-url https://HOST`` and/or ``--trust-proxy`` (see
`tablelog_server.proxy`).

Slow and idle clients: ``--header-timeout``, ``--idle-timeout`` and
``--max-connections`` (see `tablelog_server.connections`).

Shutdown: the signal handlers only set an event; the main coroutine then stops
listening, lets in-flight requests finish (up to ``--shutdown-timeout`` seconds;
see `tablelog_server.lifecycle`) and closes the stores.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from tablelog_server.app import create_app
from tablelog_server.config import DEFAULT_ENTITY, ServerConfig, load_keys_file
from tablelog_server.connections import GuardedSite, connections_for_fd_limit
from tablelog_server.errors import ConfigError, StorageError
from tablelog_server.lifecycle import stop_gracefully
from tablelog_server.state import CONNECTIONS, INFLIGHT

EXIT_USAGE = 2
log = logging.getLogger(__name__)


def _parser(defaults: ServerConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tablelog server", description="Run the tablelog backend (HTTP API).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  TABLELOG_API_KEY=$(tablelog server keygen) tablelog server "
               "--host 127.0.0.1 --port 8765 --data-dir ./server-data\n\n"
               "'tablelog server keygen' prints a strong API key (keys have at least 16 "
               "characters).\n\n"
               "exit status: 0 stopped by SIGTERM/Ctrl-C; 1 the port or the data directory "
               "failed; 2 usage or settings error (docs/agent.md, \"Exit codes\")")
    p.add_argument("--host", default=defaults.host, help="address to listen on (%(default)s)")
    p.add_argument("--port", type=int, default=defaults.port, help="port (%(default)s)")
    p.add_argument("--data-dir", type=Path, default=defaults.data_dir,
                   help="metadata.db and blobs/ live here (TABLELOG_SERVER_DIR; %(default)s)")
    p.add_argument("--api-key", action="append", default=[], metavar="KEY",
                   help="accept this key (repeatable; default TABLELOG_API_KEY)")
    p.add_argument("--entity", default=DEFAULT_ENTITY,
                   help="entity of the --api-key keys (%(default)s)")
    p.add_argument("--keys-file", type=Path, metavar="FILE",
                   help='keys and their entities: JSON {"KEY": "entity"} or lines "KEY ENTITY"')
    p.add_argument("--max-body-bytes", type=int, default=defaults.max_body_bytes,
                   help="largest request body other than a blob (%(default)s)")
    p.add_argument("--max-blob-bytes", type=int, default=defaults.max_blob_bytes,
                   help="largest blob (%(default)s)")
    p.add_argument("--shutdown-timeout", type=float, default=defaults.shutdown_timeout_s,
                   help="seconds in-flight requests get at shutdown (%(default)s)")
    p.add_argument("--header-timeout", type=float, default=defaults.header_timeout_s,
                   metavar="SECONDS", help="close a connection whose request headers are "
                   "not complete within this time (TABLELOG_SERVER_HEADER_TIMEOUT; "
                   "%(default)s)")
    p.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout_s,
                   metavar="SECONDS", help="close a keep-alive connection idle this long "
                   "(TABLELOG_SERVER_IDLE_TIMEOUT; %(default)s)")
    p.add_argument("--max-connections", type=int, default=defaults.max_connections,
                   metavar="N", help="connections open at once; over it the longest idle "
                   "one is dropped, or the new one answered 503 when all are busy "
                   "(TABLELOG_SERVER_MAX_CONNECTIONS; %(default)s; lowered to fit the "
                   "file descriptor limit)")
    p.add_argument("--public-url", default=defaults.public_url, metavar="URL",
                   help="where browsers reach the server, e.g. https://tl.example.org behind a "
                   "TLS proxy: the login form's origin check and Secure cookies follow it "
                   "(TABLELOG_SERVER_PUBLIC_URL)")
    p.add_argument("--trust-proxy", action="store_true", default=defaults.trust_proxy,
                   help="believe X-Forwarded-Proto/-Host/-For and Forwarded from the proxy in "
                   "front (only when nothing else can reach the port; "
                   "TABLELOG_SERVER_TRUST_PROXY=1)")
    p.add_argument("--max-batch-entries", type=int, default=defaults.max_batch_entries,
                   metavar="N", help="entries per POST /batches; a larger batch is answered "
                   "413 with the limits (TABLELOG_SERVER_MAX_BATCH_ENTRIES; %(default)s)")
    p.add_argument("--log-level", default="INFO", type=str.upper,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="(%(default)s)")
    return p


def config_from_args(argv: list[str] | None) -> tuple[ServerConfig, str]:
    """The configuration the arguments (over the environment) describe, and the log level."""
    env = ServerConfig.from_env()
    args = _parser(env).parse_args(argv)
    plain_keys = args.api_key or list(env.api_keys)
    keys = dict.fromkeys(plain_keys, args.entity)
    if args.keys_file is not None:
        for key, entity in load_keys_file(args.keys_file).items():
            if keys.get(key, entity) != entity:
                raise ConfigError("a key is given for two different entities")
            keys[key] = entity
    if not keys:
        raise ConfigError("no API key: pass --api-key KEY or --keys-file FILE, "
                          "or set TABLELOG_API_KEY (the server never runs without keys)")
    config = ServerConfig(data_dir=args.data_dir, api_keys=keys, host=args.host, port=args.port,
                          max_body_bytes=args.max_body_bytes, max_blob_bytes=args.max_blob_bytes,
                          shutdown_timeout_s=args.shutdown_timeout,
                          header_timeout_s=args.header_timeout, idle_timeout_s=args.idle_timeout,
                          max_connections=args.max_connections,
                          public_url=args.public_url, trust_proxy=args.trust_proxy,
                          max_batch_entries=args.max_batch_entries)
    return config, str(args.log_level)


def _announce(url: str) -> None:
    print(f"tablelog server listening on {url}", flush=True)


async def serve(config: ServerConfig, *, ready: Callable[[str], None] = _announce) -> None:
    """Serve `config` until SIGTERM/SIGINT, then shut down gracefully."""
    app = create_app(config)
    guard = app[CONNECTIONS]
    guard.max_connections = connections_for_fd_limit(config.max_connections)
    if guard.max_connections < config.max_connections:
        log.warning("at most %d connections, not %d: the file descriptor limit "
                    "(RLIMIT_NOFILE, systemd's LimitNOFILE=) allows no more",
                    guard.max_connections, config.max_connections)
    # aiohttp's own keep-alive timeout backs up the guard's idle timeout.
    runner = web.AppRunner(app, shutdown_timeout=config.shutdown_timeout_s,
                           keepalive_timeout=config.idle_timeout_s)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        site = GuardedSite(runner, guard, config.host, config.port)
        await site.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        port = runner.addresses[0][1]  # the real one, should --port be 0
        host = config.host
        ready(f"http://{f'[{host}]' if ':' in host else host}:{port}")
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await stop_gracefully(runner, app[INFLIGHT], config.shutdown_timeout_s)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tablelog server`` (and ``python -m tablelog_server``)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keygen"]:
        return keygen(argv[1:])
    try:
        config, level = config_from_args(argv)
    except ConfigError as exc:
        print(f"tablelog server: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(config))
    except (StorageError, OSError) as exc:
        print(f"tablelog server: {exc}", file=sys.stderr)
        return 1
    return 0


def keygen(argv: list[str]) -> int:
    """``tablelog server keygen``: print a new random key (43 URL-safe characters,
    256 bits) for ``--api-key``, ``TABLELOG_API_KEY`` or a keys file."""
    argparse.ArgumentParser(prog="tablelog server keygen",
                            description="Print a strong random API key.").parse_args(argv)
    print(secrets.token_urlsafe(32))
    return 0
