"""Configuration and command line, the SQLite store on its own, and draining."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from server_helpers import API_KEY, Api, entry, run_body

from tablelog_server.cli import config_from_args, main
from tablelog_server.config import GiB, MiB, ServerConfig, load_keys_file
from tablelog_server.errors import ConfigError, SchemaVersionError
from tablelog_server.metadata import HistoryAppend, Outcome, RunEnd, RunKey, SummaryReplace
from tablelog_server.sqlite_schema import SCHEMA_VERSION, connect
from tablelog_server.sqlite_store import SqliteMetadataStore
from tablelog_server.state import INFLIGHT

# -- configuration ----------------------------------------------------------------------

# Keys of at least 16 characters (the minimum; see test_keys_and_logins.py).
K1, K2 = "key-one-0123456789", "key-two-0123456789"
KA, KB, KC = "key-a-0123456789ab", "key-b-0123456789ab", "key-c-0123456789ab"


def test_config_is_frozen_keyword_only_and_hides_keys(tmp_path: Path) -> None:
    config = ServerConfig(data_dir=tmp_path, api_keys={"sekrit-0123456789": "local"})
    assert (config.max_body_bytes, config.max_blob_bytes) == (64 * MiB, 2 * GiB)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.api_keys["x"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        ServerConfig(tmp_path)  # type: ignore[misc]
    assert "sekrit-0123456789" not in repr(config)
    with pytest.raises(ConfigError):
        ServerConfig(data_dir=tmp_path, api_keys={"k" * 16: "bad entity"})
    with pytest.raises(ConfigError):
        ServerConfig(data_dir=tmp_path, api_keys={"has space": "local"})


def test_from_env(tmp_path: Path) -> None:
    config = ServerConfig.from_env({"TABLELOG_SERVER_DIR": str(tmp_path),
                                    "TABLELOG_API_KEY": K1, "TABLELOG_SERVER_PORT": "9000"})
    assert config.data_dir == tmp_path and dict(config.api_keys) == {K1: "local"}
    assert config.port == 9000 and config.host == "127.0.0.1"
    assert dict(ServerConfig.from_env({}).api_keys) == {}
    with pytest.raises(ConfigError):
        ServerConfig.from_env({"TABLELOG_SERVER_PORT": "http"})


def test_keys_files(tmp_path: Path) -> None:
    as_json = tmp_path / "keys.json"
    as_json.write_text(json.dumps({K1: "team", K2: "local"}))
    assert load_keys_file(as_json) == {K1: "team", K2: "local"}
    as_lines = tmp_path / "keys.txt"
    as_lines.write_text(f"# key entity\n{K1} team\n\n  {K2}   local  # trailing comment\n")
    assert load_keys_file(as_lines) == {K1: "team", K2: "local"}
    for text in (f"{K1}\n", f"{K1} a b\n", f"{K1} bad/entity\n", f'{{"{K1}": 3}}', "{broken"):
        as_lines.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_keys_file(as_lines)
        assert K1 not in str(info.value) or "line" in str(info.value)
    with pytest.raises(ConfigError):
        load_keys_file(tmp_path / "absent")


def test_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TABLELOG_API_KEY", raising=False)
    monkeypatch.setenv("TABLELOG_SERVER_DIR", str(tmp_path / "env-dir"))
    config, level = config_from_args(["--api-key", KA, "--api-key", KB, "--entity", "team",
                                      "--port", "1234", "--log-level", "debug"])
    assert dict(config.api_keys) == {KA: "team", KB: "team"}
    assert config.data_dir == tmp_path / "env-dir" and config.port == 1234
    assert level == "DEBUG"

    keys = tmp_path / "keys"
    keys.write_text(f"{KC} other\n")
    config, _ = config_from_args(["--keys-file", str(keys), "--api-key", KA,
                                  "--max-body-bytes", "10"])
    assert dict(config.api_keys) == {KA: "local", KC: "other"}
    assert config.max_body_bytes == 10
    keys.write_text(f"{KA} other\n")
    with pytest.raises(ConfigError):
        config_from_args(["--keys-file", str(keys), "--api-key", KA])

    monkeypatch.setenv("TABLELOG_API_KEY", "from-env-0123456789")
    config, _ = config_from_args([])
    assert dict(config.api_keys) == {"from-env-0123456789": "local"}

    monkeypatch.delenv("TABLELOG_API_KEY")
    assert main(["--data-dir", str(tmp_path)]) == 2
    assert "no API key" in capsys.readouterr().err
    assert main(["--keys-file", str(tmp_path / "missing")]) == 2


# -- the SQLite store on its own ------------------------------------------------------------


async def test_store_schema_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    store = await SqliteMetadataStore.open(path)
    await store.close()
    conn = connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaVersionError):
        await SqliteMetadataStore.open(path)


async def test_store_applies_each_change_with_its_key(tmp_path: Path) -> None:
    store = await SqliteMetadataStore.open(tmp_path / "m.db")
    try:
        run = RunKey("local", "p", "r")
        results = await store.apply("local", "q", [
            (1, HistoryAppend(run, 0, b"\x80")),
            (2, RunEnd(run, 2**62, 1.0)),
            (3, SummaryReplace(run, b"\x81\xa1a\x01")),
            (1, HistoryAppend(run, 0, b"\x80")),
        ])
        assert [r.outcome for r in results] == [Outcome.APPLIED] * 3 + [Outcome.DUPLICATE]
        assert set(await store.applied_digests("local", "q", [1, 2, 3, 4])) == {1, 2, 3}
        assert await store.applied_digests("other", "q", [1, 2, 3]) == {}
        record = await store.run(run)
        assert record is not None and record.state == "failed" and record.history_rows == 1
        assert await store.runs("local", "absent") is None
        assert await store.history(RunKey("local", "p", "absent"), 0, 10) is None
    finally:
        await store.close()


async def test_data_files_are_private(api: Api, server_config: ServerConfig) -> None:
    await api.send([entry("run", run_body())])
    await api.put_blob(b"private")
    data_dir = server_config.data_dir
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in ("metadata.db", "metadata.db-wal"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600
    with sqlite3.connect(data_dir / "metadata.db") as conn:
        assert conn.execute("SELECT count(*) FROM applied_keys").fetchone()[0] == 1


# -- draining -----------------------------------------------------------------------------


async def test_draining_answers_503_to_new_requests(client: TestClient[Any, Any]) -> None:
    inflight = client.app[INFLIGHT]
    assert await inflight.drain(0.1)  # nothing running: drained at once
    resp = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert "shutting down" in (await resp.json())["error"]
