"""Fixtures for the viewer's HTML-level tests: the real application in-process
(pytest-aiohttp), filled through the batch API, and a `Viewer` that logs in
and fetches pages like a browser (cookie, ``Accept: text/html``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tablelog_server.app import create_app
from tablelog_server.config import ServerConfig
from tests.viewer.viewer_helpers import API_KEY, ENTITY, OTHER_ENTITY, OTHER_KEY, Uploader, Viewer


@pytest.fixture
def viewer_config(tmp_path: Path) -> ServerConfig:
    """Two keys, for entities `local` and `other`."""
    return ServerConfig(data_dir=tmp_path / "server",
                        api_keys={API_KEY: ENTITY, OTHER_KEY: OTHER_ENTITY})


@pytest.fixture
async def client(aiohttp_client: Any, viewer_config: ServerConfig) -> TestClient[Any, Any]:
    """The application, served on loopback by pytest-aiohttp."""
    return await aiohttp_client(create_app(viewer_config))  # type: ignore[no-any-return]


@pytest.fixture
def uploader(client: TestClient[Any, Any]) -> Uploader:
    """Writes runs, history and artifacts through the batch API as entity `local`."""
    return Uploader(client)


@pytest.fixture
def viewer(client: TestClient[Any, Any]) -> Viewer:
    """Fetches pages; log in with `await viewer.login()` first."""
    return Viewer(client)
