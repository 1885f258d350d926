"""Fixtures for the server tests: the real application in-process (pytest-aiohttp's
`aiohttp_client`, real SQLite and blob files under tmp_path)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from server_helpers import API_KEY, ENTITY, OTHER_ENTITY, OTHER_KEY, Api

from tablelog_server.app import create_app
from tablelog_server.config import ServerConfig


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    """Two keys, for entities `local` and `other`; real files under tmp_path."""
    return ServerConfig(data_dir=tmp_path / "server", api_keys={API_KEY: ENTITY,
                                                                OTHER_KEY: OTHER_ENTITY})


@pytest.fixture
async def client(aiohttp_client: Any, server_config: ServerConfig) -> TestClient[Any, Any]:
    """The application, served on loopback by pytest-aiohttp."""
    return await aiohttp_client(create_app(server_config))  # type: ignore[no-any-return]


@pytest.fixture
def api(client: TestClient[Any, Any]) -> Api:
    """`Api` with the `local` key."""
    return Api(client)


@pytest.fixture
def other_api(client: TestClient[Any, Any]) -> Api:
    """`Api` with the `other` entity's key."""
    return Api(client, OTHER_KEY)
