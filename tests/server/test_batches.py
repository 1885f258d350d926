"""POST /api/v1/batches: per-kind semantics, idempotency, ordering, rejections."""

from __future__ import annotations

import datetime as dt

import msgpack
import numpy as np
from server_helpers import Api, artifact_body, entry, run_body

from tablelog import wire


def statuses(results: list[dict[str, object]]) -> list[object]:
    return [r["status"] for r in results]


async def test_run_history_summary_config_and_end(api: Api) -> None:
    results = await api.send([
        entry("run", run_body()),
        entry("history", {"step": 0, "row": {"loss": 1.5}}),
        entry("history", {"step": 1, "row": {"loss": 1.0, "when": dt.datetime(2024, 1, 2,
                                                                              tzinfo=dt.UTC)}}),
        entry("summary", {"summary": {"loss": 1.0}}),
        entry("config", {"config": {"lr": 0.2, "layers": [1, 2]}}),
        entry("run_end", {"exit_code": 0, "ended_at": 2000.0}),
    ])
    assert statuses(results) == ["applied"] * 6
    assert [r["id"] for r in results] == [1, 2, 3, 4, 5, 6]

    run = await api.get("/api/v1/runs/local/proj/run1")
    created_at = run.pop("created_at")  # when the server first heard of the run
    assert isinstance(created_at, str) and created_at.endswith("Z")
    assert run == {"id": "run1", "name": "my run", "state": "finished",
                   "config": {"lr": 0.2, "layers": [1, 2]}, "summary": {"loss": 1.0},
                   "tags": ["a"], "notes": None, "job_type": "train", "started_at": 1000.0,
                   "ended_at": 2000.0, "exit_code": 0, "history_rows": 2,
                   "metrics": {}, "alerts": [], "group": None}
    history = await api.get("/api/v1/runs/local/proj/run1/history")
    assert history == {"rows": [{"_step": 0, "loss": 1.5},
                                {"_step": 1, "loss": 1.0,
                                 "when": "2024-01-02T00:00:00+00:00"}],
                       "offset": 0, "next": None}
    projects = await api.get("/api/v1/projects")
    assert projects == {"projects": [{"entity": "local", "name": "proj", "runs": 1}]}
    runs = await api.get("/api/v1/runs/local/proj")
    assert [r["id"] for r in runs["runs"]] == ["run1"]


async def test_failed_run_and_resume_keeps_history(api: Api) -> None:
    await api.send([entry("run", run_body()),
                    entry("history", {"step": 0, "row": {"x": 1}}),
                    entry("run_end", {"exit_code": 3, "ended_at": 5.0})])
    run = await api.get("/api/v1/runs/local/proj/run1")
    assert (run["state"], run["exit_code"]) == ("failed", 3)

    await api.send([entry("run", run_body(name="resumed", config={"lr": 0.5}, tags=["b"],
                                          resumed=True)),
                    entry("history", {"step": 1, "row": {"x": 2}})])
    run = await api.get("/api/v1/runs/local/proj/run1")
    assert run["name"] == "resumed" and run["config"] == {"lr": 0.5} and run["tags"] == ["b"]
    assert run["state"] == "running" and run["exit_code"] is None
    assert run["started_at"] == 1000.0
    rows = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert [r["x"] for r in rows] == [1, 2]


async def test_special_values_survive_in_history(api: Api) -> None:
    ref = wire.TableRef("run-run1-preds", "preds", "ab" * 32, nrows=3, ncols=2)
    # A media value's blob must be the entity's before the row applies (uploaded first,
    # as the agent does): naming a blob grants nothing.
    media = wire.MediaRef("image", await api.put_blob(b"ten bytes."), 10, {"width": 2})
    row = {"t": ref, "img": media, "arr": np.arange(3), "nan": float("nan")}
    assert statuses(await api.send([entry("history", {"step": 7, "row": row})])) == ["applied"]
    (got,) = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert got["t"] == ref.to_dict() and got["img"] == media.to_dict()
    assert got["arr"] == [0, 1, 2] and got["nan"] is None and got["_step"] == 7


async def test_history_paging(api: Api) -> None:
    await api.send([entry("history", {"step": i, "row": {"i": i}}) for i in range(25)])
    page = await api.get("/api/v1/runs/local/proj/run1/history", offset=0, limit=10)
    assert [r["i"] for r in page["rows"]] == list(range(10)) and page["next"] == 10
    page = await api.get("/api/v1/runs/local/proj/run1/history", offset=20, limit=10)
    assert [r["i"] for r in page["rows"]] == list(range(20, 25)) and page["next"] is None
    page = await api.get("/api/v1/runs/local/proj/run1/history", offset=99)
    assert page == {"rows": [], "offset": 99, "next": None}
    await api.get("/api/v1/runs/local/proj/run1/history", status=400, limit=0)
    await api.get("/api/v1/runs/local/proj/run1/history", status=400, offset=-1)
    await api.get("/api/v1/runs/local/proj/run1/history", status=400, limit="ten")
    await api.get("/api/v1/runs/local/proj/nope/history", status=404)


async def test_replayed_batch_is_duplicate(api: Api) -> None:
    entries = [entry("run", run_body()), entry("history", {"step": 0, "row": {"x": 1}})]
    first = await api.send(entries, ids=[1, 2])
    again = await api.send(entries, ids=[1, 2])
    assert statuses(first) == ["applied", "applied"]
    assert statuses(again) == ["duplicate", "duplicate"]
    # Same ids in the same batch: the second is a duplicate of the first.
    twice = await api.send([entries[1], entries[1]], ids=[3, 3])
    assert statuses(twice) == ["applied", "duplicate"]
    rows = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert len(rows) == 2
    # Another queue's id 1 is another entry.
    assert statuses(await api.send(entries[1:], queue_id="queue-2", ids=[1])) == ["applied"]


async def test_idempotency_keys_are_per_entity(api: Api, other_api: Api) -> None:
    assert statuses(await other_api.send([entry("history", {"step": 0, "row": {}})],
                                         ids=[1])) == ["applied"]
    assert statuses(await api.send([entry("history", {"step": 0, "row": {}})],
                                   ids=[1])) == ["applied"]


async def test_run_end_state_is_recorded_and_optional(api: Api) -> None:
    ends = {"pre": {"exit_code": 143, "ended_at": 5.0, "state": "preempted"},
            "kil": {"exit_code": 130, "state": "killed"},
            "old": {"exit_code": 0},  # an older SDK: no state, derived from the exit code
            "new": {"exit_code": 4, "state": "some-future-state"},  # unknown: derived
            "bad": {"exit_code": 1, "state": 7}}
    for run_id, body in ends.items():
        results = await api.send([entry("run", run_body(), run_id=run_id),
                                  entry("run_end", body, run_id=run_id)])
        assert statuses(results) == ["applied", "rejected" if run_id == "bad" else "applied"]
    got = {run_id: await api.get(f"/api/v1/runs/local/proj/{run_id}") for run_id in ends}
    assert {k: (r["state"], r["exit_code"]) for k, r in got.items()} == {
        "pre": ("preempted", 143), "kil": ("killed", 130), "old": ("finished", 0),
        "new": ("failed", 4), "bad": ("running", None)}


async def test_bad_entries_are_rejected_alone(api: Api) -> None:
    bad_version = msgpack.packb({"v": [9, 0], "kind": "run", "entity": None, "project": "p",
                                 "run_id": "r", "body": {}})
    results = await api.send([
        b"\xc1 not msgpack",
        entry("history", {"step": -1, "row": {}}),
        entry("history", {"step": 0, "row": "not a map"}),
        entry("run", run_body(tags="x")),
        entry("summary", {"summary": [1]}),
        entry("run_end", {"exit_code": 2**64 - 1}),
        bad_version,
        entry("history", {"step": 0, "row": {"ok": True}}),
        msgpack.packb({"kind": "run"}),
    ])
    assert statuses(results) == ["rejected"] * 7 + ["applied", "rejected"]
    assert all(r.get("reason") for r in results if r["status"] == "rejected")
    assert "unsupported wire major version 9" in str(results[6]["reason"])


async def test_entity_of_entry_must_be_the_keys(api: Api) -> None:
    results = await api.send([entry("run", run_body(), entity="other"),
                              entry("run", run_body(), entity="local"),
                              entry("run", run_body(), run_id="run2")])
    assert statuses(results) == ["rejected", "applied", "applied"]
    assert "other" in str(results[0]["reason"]) and "forbidden" in str(results[0]["reason"])


async def test_missing_blobs_defers_the_rest_of_that_run(api: Api) -> None:
    blob = b"image bytes"
    sha = wire.sha256_hex(blob)
    entries = {"img": wire.ManifestEntry("image", sha, len(blob))}
    batch = [entry("run", run_body()),
             entry("artifact", artifact_body("pics", entries, type_="dataset")),
             entry("history", {"step": 0, "row": {"x": 1}}),
             entry("history", {"step": 0, "row": {"y": 1}}, run_id="run2")]
    results = await api.send(batch, ids=[1, 2, 3, 4])
    assert statuses(results) == ["applied", "missing_blobs", "deferred", "applied"]
    assert results[1]["missing"] == [sha]
    await api.get("/api/v1/artifacts/local/proj/pics", status=404)

    await api.put_blob(blob)
    results = await api.send(batch, ids=[1, 2, 3, 4])
    assert statuses(results) == ["duplicate", "applied", "applied", "duplicate"]
    versions = await api.get("/api/v1/artifacts/local/proj/pics")
    assert [v["version"] for v in versions["versions"]] == ["v0"]


async def test_whole_body_problems_are_400(api: Api) -> None:
    post = api.client.post
    for body in (b"", b"\xc1", msgpack.packb([1, 2]), b'{"v": [1, 0]}',
                 msgpack.packb({"v": [2, 0], "queue_id": "q", "entries": []}),
                 msgpack.packb({"v": [1, 0], "queue_id": "../q", "entries": []}),
                 msgpack.packb({"v": [1, 0], "queue_id": "q", "entries": [{"id": "x"}]})):
        resp = await post("/api/v1/batches", data=body, headers=api.headers)
        assert resp.status == 400, body
        assert (await resp.json())["error"]
    resp = await post("/api/v1/batches", headers=api.headers,
                      data=msgpack.packb({"v": [2, 0], "queue_id": "q", "entries": []}))
    assert "unsupported wire major version 2" in (await resp.json())["error"]
    # and the server keeps serving
    assert statuses(await api.send([entry("run", run_body())])) == ["applied"]


async def test_msgpack_answers(api: Api) -> None:
    data = wire.encode_batch("q", [(1, entry("run", run_body()))])
    resp = await api.client.post("/api/v1/batches", data=data, headers={
        **api.headers, "Accept": "application/msgpack"})
    assert resp.headers["Content-Type"].startswith("application/msgpack")
    assert wire.unpackb(await resp.read()) == {"results": [{"id": 1, "status": "applied"}]}
