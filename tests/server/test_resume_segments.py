"""A run resumed where its server state was unknown (entries carry a `segment`): the
server never rewinds its steps and merges config and summary instead of replacing."""

from __future__ import annotations

from server_helpers import Api, entry, run_body


def statuses(results: list[dict[str, object]]) -> list[object]:
    return [r["status"] for r in results]


async def test_a_segment_continues_after_the_last_step_and_merges(api: Api) -> None:
    first = [entry("run", run_body(config={"a": 1, "b": 2})),
             *[entry("history", {"step": s, "row": {"x": s}}) for s in range(5)],
             entry("summary", {"summary": {"x": 4, "y": 2}})]
    assert set(statuses(await api.send(first))) == {"applied"}
    seg = {"segment": "node2seg"}
    resumed = [entry("run", run_body(config={"b": 3, "c": 4}, resumed=False,
                                     resume_base="unknown", **seg)),
               entry("history", {"step": 0, "row": {"x": 100}, **seg}),
               entry("history", {"step": 1, "row": {"x": 101}, **seg}),
               entry("summary", {"summary": {"y": 5, "z": 6}, **seg}),
               entry("config", {"config": {"c": 7}, **seg})]
    assert set(statuses(await api.send(resumed))) == {"applied"}
    # the segment's offset is fixed: a later batch of it continues in the same place
    assert statuses(await api.send([entry("history", {"step": 2, "row": {"x": 102},
                                                      **seg})])) == ["applied"]
    rows = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert [r["_step"] for r in rows] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [r["x"] for r in rows[5:]] == [100, 101, 102]
    run = await api.get("/api/v1/runs/local/proj/run1")
    assert run["config"] == {"a": 1, "b": 3, "c": 7}
    assert run["summary"] == {"x": 4, "y": 5, "z": 6}
    assert run["history_rows"] == 8


async def test_a_segment_already_past_the_last_step_keeps_its_steps(api: Api) -> None:
    await api.send([entry("history", {"step": s, "row": {}}) for s in range(3)])
    await api.send([entry("history", {"step": 50, "row": {}, "segment": "later"}),
                    entry("history", {"step": 51, "row": {}, "segment": "later"})])
    rows = (await api.get("/api/v1/runs/local/proj/run1/history"))["rows"]
    assert [r["_step"] for r in rows] == [0, 1, 2, 50, 51]


async def test_without_a_segment_config_and_summary_are_replaced(api: Api) -> None:
    await api.send([entry("run", run_body(config={"a": 1})),
                    entry("summary", {"summary": {"x": 1}}),
                    entry("config", {"config": {"b": 2}}),
                    entry("summary", {"summary": {"y": 2}})])
    run = await api.get("/api/v1/runs/local/proj/run1")
    assert run["config"] == {"b": 2} and run["summary"] == {"y": 2}


async def test_an_invalid_segment_is_rejected(api: Api) -> None:
    results = await api.send([entry("history", {"step": 0, "row": {}, "segment": "../x"})])
    assert statuses(results) == ["rejected"]
