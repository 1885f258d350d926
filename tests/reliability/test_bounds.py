"""Scenario 14 (issue 12, points 6 and 7): memory of pending media is bounded in bytes,
and the local blob store shrinks to a bounded cache once the server has the blobs."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tablelog
from tablelog.errors import ArtifactError
from tablelog.runtime.writer import CELL_BYTES, LogRequest, TableLog, _cost
from tablelog.settings import SdkConfig, parse_size
from tablelog.store.blobgc import collect
from tablelog.store.queue import Queue
from tablelog_agent.config import AgentConfig
from tests.conftest import API_KEY
from tests.reliability.bounds import blob_store_bound, pending_memory
from tests.reliability.harness import PROJECT, Harness, child_env, cli, drain, queue_state


def test_peak_rss_stays_under_the_pending_budget_plus_a_constant(tmp_path: Path) -> None:
    pending_memory(tmp_path, images=300, budget="16M").assert_ok()


def test_blob_store_holds_at_most_the_cache_bound_once_uploaded(tmp_path: Path) -> None:
    blob_store_bound(tmp_path, media_mb=40, cache="8M").assert_ok()


# -- the budget counts bytes -------------------------------------------------------------


def test_the_hand_off_budget_counts_pixels_not_cells() -> None:
    image = tablelog.Image(np.zeros((512, 512, 3), dtype=np.uint8))
    assert _cost(LogRequest(1, {"img": image})) >= 512 * 512 * 3
    assert _cost(LogRequest(1, {"imgs": [image, image]})) >= 2 * 512 * 512 * 3
    table = tablelog.Table(columns=["i", "img"])
    for i in range(3):
        table.add_data(i, tablelog.Image(np.zeros((64, 64), dtype=np.uint8)))
    art = tablelog.Artifact("t", "run_table")
    art.add(table, "t")
    assert _cost(LogRequest(1, {}, [TableLog("t", table, art)])) >= 3 * 64 * 64
    numbers = tablelog.Table(columns=["a", "b"], data=[[i, float(i)] for i in range(1000)])
    art = tablelog.Artifact("n", "run_table")
    art.add(numbers, "n")
    assert _cost(LogRequest(1, {}, [TableLog("n", numbers, art)])) >= 2000 * CELL_BYTES


def test_sizes_take_units_and_a_bad_one_names_its_variable() -> None:
    assert parse_size("512M", "X") == 512 << 20
    assert parse_size("1G", "X") == 1 << 30
    assert parse_size("64KiB", "X") == 64 << 10
    assert parse_size("1000", "X") == 1000
    env = {"TABLELOG_MAX_PENDING_BYTES": "64M", "TABLELOG_DIR": "/nonexistent"}
    assert SdkConfig.from_env(env).max_pending_bytes == 64 << 20
    with pytest.raises(ValueError, match="TABLELOG_MAX_PENDING_BYTES"):
        SdkConfig.from_env({"TABLELOG_MAX_PENDING_BYTES": "lots"})
    cfg = AgentConfig.from_env({"TABLELOG_CACHE_MAX_BYTES": "2G", "TABLELOG_DIR": "/x"})
    assert cfg.cache_max_bytes == 2 << 30
    with pytest.raises(ValueError, match="TABLELOG_CACHE_MAX_BYTES"):
        AgentConfig.from_env({"TABLELOG_CACHE_MAX_BYTES": "-1G"})


# -- what deletion must never do -----------------------------------------------------------


def test_a_blob_put_but_not_yet_committed_is_never_deleted(tmp_path: Path) -> None:
    """The writer's side (`writing()`) and the agent's (`collect`) on two Queue objects
    of one directory, as in two processes: a blob put inside `writing()` survives a
    round made before its entry is committed, and stays while that entry is queued."""
    with Queue(tmp_path) as sdk_side, Queue(tmp_path) as agent_side:
        with sdk_side.blobs.writing():
            sha = sdk_side.blobs.put(b"x" * 5000)
            busy = collect(agent_side, 0, lock_timeout_s=0.2)
            assert not busy.locked and busy.deleted_files == 0
            assert sdk_side.blobs.exists(sha)
            (entry,) = sdk_side.put_many([_blob_entry(sha, 5000)])
        kept = collect(agent_side, 0)
        assert kept.locked and kept.deleted_files == 0 and sdk_side.blobs.exists(sha)
        agent_side.ack([entry])
        gone = collect(agent_side, 0)
        assert gone.deleted_files == 1 and not sdk_side.blobs.exists(sha)


def test_an_entry_committed_while_a_round_waits_for_the_lock_keeps_its_blob(
        tmp_path: Path) -> None:
    """A round reads what entries need, then waits for the lock while a writer puts a
    blob and commits its entry: once the round gets the lock it must see that entry."""
    with Queue(tmp_path) as sdk_side, Queue(tmp_path) as agent_side:
        results: list[Any] = []
        lock_file = str(tmp_path / "blobs" / "gc.lock")
        with sdk_side.blobs.writing():
            sha = sdk_side.blobs.put(b"y" * 5000)
            round_ = threading.Thread(
                target=lambda: results.append(collect(agent_side, 0, lock_timeout_s=60)))
            round_.start()
            # The round opens the lock file (a second descriptor on it) only after it
            # read what entries need: poll for that, bounded.
            deadline = time.monotonic() + 30
            while _open_count(lock_file) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert _open_count(lock_file) == 2
            sdk_side.put_many([_blob_entry(sha, 5000)])
        round_.join(60)
        assert results and results[0].locked and results[0].deleted_files == 0
        assert sdk_side.blobs.exists(sha)


def _open_count(path: str) -> int:
    fds = Path("/proc/self/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd) == path
    return count


def test_a_batch_carries_at_most_its_blob_bytes(tmp_path: Path) -> None:
    with Queue(tmp_path) as queue:
        queue.put_many([_blob_entry("ab" * 32, 10) for _ in range(5)])
        assert len(queue.claim_batch(max_entries=100, max_blob_bytes=25)) == 2
        assert len(queue.claim_batch(max_entries=100, max_blob_bytes=5)) == 1  # at least one
        assert len(queue.claim_batch(max_entries=100)) == 5


def _blob_entry(sha: str, size: int) -> Any:
    from tablelog.store.queue import NewEntry

    return NewEntry("/p/r", "artifact", b"payload", (sha,), size)


def test_the_blobs_of_dead_lettered_entries_are_kept(tmp_path: Path) -> None:
    """An image over the server's blob limit is dead-lettered; with a cache of 0 the
    agent deletes every uploaded blob but keeps that one (a retry needs it), and
    `tablelog status` counts it as needed."""
    q = tmp_path / "queue"
    rng = np.random.default_rng(1)
    big = tablelog.Image(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8), file_type="bmp")
    with tablelog.init(project=PROJECT, id="dead", dir=q, mode="offline") as run:
        run.log({"seq": 0, "img": tablelog.Image(np.full((8, 8), 3, dtype=np.uint8))})
        run.log({"seq": 1, "img": big})
        run.log({"seq": 2, "img": tablelog.Image(np.full((8, 8), 5, dtype=np.uint8))})
    with Harness(tmp_path / "h") as h:
        srv = h.server(extra_args=["--max-blob-bytes", "100000"])
        outcome = drain(q, srv.url, cache_max_bytes=0)
        assert outcome.dead == 1 and outcome.left == 0
        with Queue(q) as queue:
            left = queue.blobs.scan()
        assert [f.sha256 for f in left] == [big.sha256]
        status = cli("status", "--json", "--dir", str(q), env=child_env(q, srv.url))
        disk = json.loads(status.stdout)["disk"]
        assert disk["needed_blob_bytes"] == left[0].size == disk["blob_bytes"]
        text = cli("status", "--dir", str(q), env=child_env(q, srv.url)).stdout
        assert "needed by queued or dead entries" in text


# -- reads after eviction --------------------------------------------------------------------


def _online(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("TABLELOG_BASE_URL", url)
    monkeypatch.setenv("TABLELOG_API_KEY", API_KEY)
    monkeypatch.setenv("TABLELOG_AGENT_AUTOSTART", "0")


def test_reads_after_eviction_come_from_the_server_or_fail_clearly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    q = tmp_path / "queue"
    pictures = [np.full((16, 16, 3), i * 40, dtype=np.uint8) for i in range(3)]
    table = tablelog.Table(columns=["i", "img"],
                           data=[[i, tablelog.Image(p)] for i, p in enumerate(pictures)])
    with tablelog.init(project=PROJECT, id="reads", dir=q, mode="offline") as run:
        art = tablelog.Artifact("pics", "dataset")
        art.add(table, "t")
        run.log_artifact(art)
    with Harness(tmp_path / "h") as h:
        srv = h.server()
        outcome = drain(q, srv.url, cache_max_bytes=0)
        assert outcome.dead == 0 and outcome.left == 0
        assert queue_state(q)["pending"] == 0
        with Queue(q) as queue:
            assert queue.blobs.scan() == []  # all uploaded, none kept: cache of 0
        with (tablelog.init(project=PROJECT, id="offline-reader", dir=q, mode="offline") as r,
              pytest.raises(ArtifactError, match="not in the local store")):
            r.use_artifact("pics:latest").get("t")
        _online(monkeypatch, srv.url)
        with tablelog.init(project=PROJECT, id="online-reader", dir=q) as r:
            got = r.use_artifact("pics:latest").get("t")
        assert [row[0] for row in got.data] == [0, 1, 2]
        for (_, image), want in zip(got.data, pictures, strict=True):
            assert np.array_equal(image.to_data_array(), want)


def test_a_growing_table_reuses_chunks_evicted_locally(tmp_path: Path) -> None:
    """A MUTABLE table past one chunk is logged, uploaded and evicted; logged again with
    more rows, its new version names the first chunk by hash without having it
    locally: the server has it, so the version is delivered, not dead-lettered."""
    from tablelog import wire

    q = tmp_path / "queue"
    rows = wire.CHUNK_ROWS + 20
    table = tablelog.Table(columns=["i"], log_mode="MUTABLE")
    for i in range(rows):
        table.add_data(i)
    with Harness(tmp_path / "h") as h:
        srv = h.server()
        with tablelog.init(project=PROJECT, id="grow", dir=q, mode="offline") as run:
            run.log({"t": table})
            run.flush()
            assert drain(q, srv.url, cache_max_bytes=0).dead == 0
            with Queue(q) as queue:
                assert queue.blobs.scan() == []
            table.add_data(rows)
            run.log({"t": table})
        outcome = drain(q, srv.url, cache_max_bytes=0)
        assert outcome.dead == 0 and outcome.left == 0
        api = tablelog.Api(base_url=srv.url, api_key=API_KEY, cache_dir=tmp_path / "reader")
        got = api.artifact(f"{PROJECT}/run-grow-t:latest").get("t")
        assert [r[0] for r in got.data] == list(range(rows + 1))
