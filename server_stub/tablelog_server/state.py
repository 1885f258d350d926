"""Typed keys for what the application holds (`web.AppKey`), in one place so that
route modules (the API now, a web viewer later) can reach the stores without
importing `tablelog_server.app`."""

from __future__ import annotations

from aiohttp import web

from tablelog_server.auth import KeyRing
from tablelog_server.blob_scope import BlobScope
from tablelog_server.blobs import BlobStore
from tablelog_server.config import ServerConfig
from tablelog_server.connections import ConnectionGuard
from tablelog_server.lifecycle import InflightRequests
from tablelog_server.metadata import MetadataStore
from tablelog_server.tables import TableReader

CONFIG = web.AppKey("config", ServerConfig)
"""The `ServerConfig` the application was made with."""

CONNECTIONS = web.AppKey("connections", ConnectionGuard)
"""Header and idle timeouts and the connection cap (see `connections`); the listening
site (`connections.GuardedSite`) and the application's first middleware share it."""

INFLIGHT = web.AppKey("inflight", InflightRequests)
"""Counts running requests so that shutdown can wait for them (see `lifecycle`)."""

KEYS = web.AppKey("keys", KeyRing)
"""The accepted API keys and the entity each belongs to."""

METADATA = web.AppKey[MetadataStore]("metadata")
"""The metadata store; set while the application runs (see `app._stores`)."""

BLOBS = web.AppKey[BlobStore]("blobs")
"""The blob store, shared by every entity; set while the application runs. Routes
reach blobs through `SCOPE`, which answers per entity."""

SCOPE = web.AppKey("blob_scope", BlobScope)
"""The blob store as each entity sees it (`tablelog_server.blob_scope`); set while
the application runs."""

TABLES = web.AppKey("tables", TableReader)
"""Reads pages of stored tables, with its caches; set while the application runs."""
