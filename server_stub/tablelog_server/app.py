"""The application factory: `create_app(config)` builds the aiohttp application;
nothing starts until a runner starts it (see `tablelog_server.cli`).

The stores open in a `cleanup_ctx` when the application starts and close when
it stops, after in-flight requests have finished. Routes come from separate
modules: `add_api_routes` (the HTTP API) and `add_viewer_routes` (the web viewer).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web

from tablelog_server.api import add_api_routes
from tablelog_server.auth import KeyRing
from tablelog_server.blob_scope import BlobScope
from tablelog_server.blobs import FileBlobStore
from tablelog_server.config import ServerConfig
from tablelog_server.connections import ConnectionGuard
from tablelog_server.lifecycle import InflightRequests
from tablelog_server.middleware import auth_middleware, error_middleware
from tablelog_server.proxy import proxy_middleware
from tablelog_server.sqlite_store import SqliteMetadataStore
from tablelog_server.state import (
    BLOBS,
    CONFIG,
    CONNECTIONS,
    INFLIGHT,
    KEYS,
    METADATA,
    SCOPE,
    TABLES,
)
from tablelog_server.tables import TableReader
from tablelog_server.viewer import add_viewer_routes


def create_app(config: ServerConfig) -> web.Application:
    """A ready-to-run application serving the tablelog HTTP API from `config.data_dir`."""
    inflight = InflightRequests()
    guard = ConnectionGuard(header_timeout_s=config.header_timeout_s,
                            idle_timeout_s=config.idle_timeout_s,
                            max_connections=config.max_connections)
    # The guard's middleware is first: a connection is busy from its request's start.
    # Behind a proxy, the request the rest see carries the public origin and the
    # client's address. The error middleware is outside auth, so authentication
    # failures answer as JSON too.
    behind_proxy = proxy_middleware(config)
    app = web.Application(client_max_size=config.max_body_bytes,
                          middlewares=[guard.middleware, inflight.middleware,
                                       *([behind_proxy] if behind_proxy else []),
                                       error_middleware, auth_middleware])
    app[CONFIG] = config
    app[CONNECTIONS] = guard
    app[INFLIGHT] = inflight
    app[KEYS] = KeyRing(config.api_keys)
    app.cleanup_ctx.append(_stores)
    add_api_routes(app)
    add_viewer_routes(app)  # after _stores: its cleanup context needs the table reader
    return app


async def _stores(app: web.Application) -> AsyncIterator[None]:
    """Open the metadata and blob stores for the application's lifetime."""
    data_dir = app[CONFIG].data_dir
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    db_path = data_dir / "metadata.db"
    # SQLite gives -wal and -shm the database file's mode: owner only for all three.
    os.close(os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600))
    metadata = await SqliteMetadataStore.open(db_path)
    blobs = FileBlobStore(data_dir / "blobs")
    app[METADATA] = metadata
    scope = BlobScope(blobs, metadata)
    app[BLOBS] = blobs
    app[SCOPE] = scope
    app[TABLES] = TableReader(scope)
    try:
        yield
    finally:
        await blobs.close()
        await metadata.close()
