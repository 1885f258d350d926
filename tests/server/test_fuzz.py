"""Random bodies at every write route: the server answers, never with a 500.

Four properties, 1,050 examples in all, against one in-process server each
(the same server for every example is the point: garbage must not wedge it).
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import msgpack
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_helpers import API_KEY

from tablelog import wire

AUTH = {"Authorization": f"Bearer {API_KEY}"}
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])



def mostly(valid: list[Any], invalid: list[Any]) -> st.SearchStrategy[Any]:
    """A valid value nine times in ten, so that entries get far enough to be applied."""
    return st.integers(0, 9).flatmap(
        lambda n: st.sampled_from(invalid if n == 0 else valid))


names = mostly(["p", "run1", "run2"], ["..", "", "a b", "x" * 129])
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
           | st.text(max_size=6) | st.binary(max_size=6))
plain = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=5)
sha = st.sampled_from(["ab" * 32, hashlib.sha256(b"").hexdigest(), "AB" * 32, "../x", ""])
manifest_entry = st.fixed_dictionaries({"kind": st.sampled_from(["table", "image", 3]),
                                        "sha256": sha, "size": st.integers(-1, 10),
                                        "blobs": st.lists(sha, max_size=2)})
BODY_KEYS = ["step", "row", "summary", "config", "name", "type", "tags", "exit_code",
             "ended_at", "started_at", "digest", "entries", "blobs", "aliases", "metadata"]
body_values = (plain | names | sha | st.lists(sha, max_size=2) | st.lists(names, max_size=2)
               | st.dictionaries(st.sampled_from(["t", "u"]), manifest_entry, max_size=2))


_EMPTY_ENTRY = wire.ManifestEntry("file", hashlib.sha256(b"").hexdigest(), 0)
TEMPLATES: dict[str, dict[str, Any]] = {  # valid bodies, which the fuzzer then bends
    "run": {"name": "n", "config": {"a": 1}, "tags": ["t"]},
    "history": {"step": 1, "row": {"loss": 0.5}},
    "summary": {"summary": {"loss": 0.5}},
    "config": {"config": {"lr": 0.1}},
    "run_end": {"exit_code": 0},
    "artifact": {"name": "art", "type": "dataset", "aliases": ["best"],
                 "digest": wire.artifact_digest({"f": _EMPTY_ENTRY}),
                 "entries": {"f": _EMPTY_ENTRY.to_plain()}, "blobs": []},
}


@st.composite
def entry_bytes(draw: st.DrawFn) -> Any:
    """Mostly well-formed entries with random bodies, plus some raw garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=20) | scalars)
    kind = draw(st.sampled_from([*(k.value for k in wire.Kind), "nope"]))
    body = dict(TEMPLATES.get(kind, {}))
    body.update(draw(st.dictionaries(st.sampled_from(BODY_KEYS), body_values, max_size=2)))
    entry = {"v": draw(mostly([[1, 0], [1, 7]], [[2, 0], "1.0"])),
             "kind": kind,
             "entity": draw(mostly([None, "local"], ["other", "../x"])),
             "project": draw(names), "run_id": draw(names), "body": body}
    return msgpack.packb(entry, use_bin_type=True)


_ids = itertools.count(1)
# Fresh idempotency keys mostly (a new entry), sometimes one seen before (a replay).
fresh_ids = st.integers(0, 9).map(lambda n: n if n == 0 else next(_ids))


@st.composite
def batch_bodies(draw: st.DrawFn) -> bytes:
    """Batch envelopes, mostly valid, around random entries; some raw garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=40))
    if draw(st.integers(0, 9)) == 0:
        envelope: dict[str, Any] = {
            "v": draw(st.sampled_from([[1, 3], [0, 1], [2, 0], None])),
            "queue_id": draw(st.sampled_from(["q1", "../q", 7])),
            "entries": draw(st.lists(scalars, max_size=2) | scalars)}
    else:
        envelope = {"v": [1, 0], "queue_id": draw(st.sampled_from(["q1", "q2"])),
                    "entries": [{"id": draw(fresh_ids), "data": draw(entry_bytes())}
                                for _ in range(draw(st.integers(0, 4)))]}
    return msgpack.packb(envelope, use_bin_type=True)


def check(status: int) -> None:
    assert status < 500, status


@settings(FUZZ, max_examples=300)
@given(body=batch_bodies())
async def test_batches(client: TestClient[Any, Any], body: bytes) -> None:
    resp = await client.post("/api/v1/batches", data=body, headers=AUTH)
    check(resp.status)
    await resp.read()


@settings(FUZZ, max_examples=400)
@given(body=st.binary(max_size=64) | (plain | st.lists(sha, max_size=3)).map(
    lambda v: msgpack.packb({"sha256": v}, use_bin_type=True)), as_msgpack=st.booleans())
async def test_missing_blobs(client: TestClient[Any, Any], body: bytes, as_msgpack: bool
                             ) -> None:
    content_type = "application/msgpack" if as_msgpack else "application/json"
    resp = await client.post("/api/v1/blobs/missing", data=body,
                             headers={**AUTH, "Content-Type": content_type})
    check(resp.status)
    await resp.read()


@settings(FUZZ, max_examples=250)
@given(body=st.binary(max_size=200), address=sha, honest=st.booleans())
async def test_put_blob(client: TestClient[Any, Any], body: bytes, address: str,
                        honest: bool) -> None:
    if honest:
        address = hashlib.sha256(body).hexdigest()
    resp = await client.put(f"/api/v1/blobs/{address}", data=body, headers=AUTH)
    check(resp.status)
    if honest and resp.status != 201:
        raise AssertionError(await resp.text())
    await resp.read()


@settings(FUZZ, max_examples=100)
@given(path=st.text(max_size=20), query=st.text(max_size=10))
async def test_read_routes_with_random_paths(client: TestClient[Any, Any], path: str,
                                             query: str) -> None:
    for prefix in ("/api/v1/runs/local/", "/api/v1/tables/local/p/a/latest/",
                   "/api/v1/artifacts/local/"):
        resp = await client.get(prefix + path.replace("?", ""), params={"q": query,
                                                                        "limit": query},
                                headers=AUTH)
        check(resp.status)
        await resp.read()
