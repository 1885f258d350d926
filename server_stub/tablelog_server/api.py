"""The HTTP API of docs/architecture.md: handlers and `add_api_routes`.

Handlers only translate between HTTP and the stores: authentication, name
checks and the entity rule are enforced for every route by
`tablelog_server.auth` (through the middleware), before a handler runs. Blob
routes have no entity in their path: they go through `tablelog_server.blob_scope`,
which serves a key only the blobs its entity holds.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from tablelog import wire
from tablelog.errors import TooManyEntriesError
from tablelog_server.auth import request_entity
from tablelog_server.batches import apply_batch, artifact_fields, run_edit
from tablelog_server.blobs import sniff_content_type
from tablelog_server.errors import (
    BadRequestError,
    ConflictError,
    EntryRejectedError,
    NotFoundError,
    PayloadTooLargeError,
    UnreadableDataError,
)
from tablelog_server.messages import answer, answer_built, bool_query, int_query, read_data
from tablelog_server.metadata import ArtifactVersionRecord, RunKey, RunRecord
from tablelog_server.run_filters import FilterError, created, iso_time, select_runs
from tablelog_server.state import CONFIG, KEYS, METADATA, SCOPE, TABLES
from tablelog_server.table_filters import FilterError as RowFilterError
from tablelog_server.table_filters import parse_filter
from tablelog_server.tables import TableQuery

T = TypeVar("T")
DEFAULT_PAGE_ROWS = 1000
MAX_PAGE_ROWS = 10_000
MAX_MISSING_QUERY = 100_000  # hashes per /blobs/missing call
_VERSION_REF = re.compile(r"v([0-9]{1,18})")  # fullmatch; version numbers fit 64 bits
_UPLOAD_CHUNK = 1 << 16


def _entity(request: web.Request) -> str:
    return request_entity(request, request.config_dict[KEYS])


def _run_key(request: web.Request) -> RunKey:
    info = request.match_info
    return RunKey(info["entity"], info["project"], info["run_id"])


def _unpack(data: bytes | None, default: Any) -> Any:
    return default if data is None else wire.jsonable(wire.unpackb(data))


def run_plain(run: RunRecord) -> dict[str, Any]:
    """A run as the API answers it."""
    return {"id": run.run_id, "name": run.name, "state": run.state,
            "config": _unpack(run.config, {}), "summary": _unpack(run.summary, {}),
            "tags": list(run.tags), "notes": run.notes, "job_type": run.job_type,
            "group": run.group, "created_at": iso_time(created(run)),
            "started_at": run.started_at, "ended_at": run.ended_at,
            "exit_code": run.exit_code, "history_rows": run.history_rows,
            "metrics": _unpack(run.metrics, {}), "alerts": _unpack(run.alerts, [])}


# -- service ------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """Liveness, without a key."""
    return answer(request, {"ok": True})


async def whoami(request: web.Request) -> web.Response:
    """The entity the request's key belongs to."""
    return answer(request, {"entity": _entity(request)})


# -- blobs -------------------------------------------------------------------------------


async def missing_blobs(request: web.Request) -> web.Response:
    """Which of the listed blobs the key's entity would have to upload (a blob only
    another entity uploaded is missing for this one)."""
    data = await read_data(request)
    shas = data.get("sha256") if isinstance(data, dict) else None
    if not isinstance(shas, list) or not all(wire.is_sha256(s) for s in shas):
        raise BadRequestError('body must be {"sha256": [64 lowercase hex characters, ...]}')
    if len(shas) > MAX_MISSING_QUERY:
        raise PayloadTooLargeError(f"ask about at most {MAX_MISSING_QUERY} blobs at once")
    missing = await request.config_dict[SCOPE].missing(_entity(request), shas)
    return answer(request, {"missing": missing})


async def put_blob(request: web.Request) -> web.Response:
    """Store a blob, streamed; it must hash to its address. Bytes already stored (by
    any entity) are verified and kept once; the key's entity then holds the blob."""
    sha256 = request.match_info["sha256"]
    limit = request.config_dict[CONFIG].max_blob_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"blob is larger than {limit} bytes")
    size = await request.config_dict[SCOPE].put_stream(
        _entity(request), sha256, request.content.iter_chunked(_UPLOAD_CHUNK),
        max_bytes=limit)
    return answer(request, {"sha256": sha256, "size": size}, status=201)


async def get_blob(request: web.Request) -> web.StreamResponse:
    """A blob of the key's entity (404 for any other, as for one never stored)."""
    return await serve_blob(request, _entity(request))


async def serve_blob(request: web.Request, entity: str) -> web.StreamResponse:
    """Blob ``{sha256}`` of the path, if `entity` holds it: its bytes, streamed, with
    a content type sniffed from its first bytes (the API's and the viewer's route);
    ``?as=html`` serves it as HTML, for an Html value that is a fragment (no doctype
    to sniff). Every blob is served under ``CSP: sandbox``: no script runs in it."""
    sha256 = request.match_info["sha256"]
    scope = request.config_dict[SCOPE]
    size = await scope.size(entity, sha256)
    chunks = scope.blobs.stream(sha256)
    try:
        first = await anext(chunks, b"")
        response = web.StreamResponse(headers={
            "Content-Type": ("text/html; charset=utf-8" if request.query.get("as") == "html"
                             else sniff_content_type(first)),
            "X-Content-Type-Options": "nosniff",
            # User HTML must not run scripts with the viewer's origin.
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, max-age=31536000, immutable",
            "ETag": f'"{sha256}"'})
        response.content_length = size
        await response.prepare(request)
        if request.method != "HEAD":
            await response.write(first)
            async for chunk in chunks:
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        await chunks.aclose()


# -- batches -----------------------------------------------------------------------------


def batch_limits(request: web.Request) -> dict[str, int]:
    """What one ``POST /batches`` may hold: the agent asks ``GET /limits`` for these,
    and every 413 from /batches names them."""
    config = request.config_dict[CONFIG]
    return {"max_batch_entries": config.max_batch_entries,
            "max_body_bytes": config.max_body_bytes, "max_blob_bytes": config.max_blob_bytes}


async def get_limits(request: web.Request) -> web.Response:
    """The batch limits of this server (see `batch_limits`)."""
    return answer(request, {"limits": batch_limits(request)})


def _too_large(request: web.Request, message: str) -> web.Response:
    return answer(request, {"error": message, "limits": batch_limits(request)}, status=413)


async def post_batch(request: web.Request) -> web.Response:
    """Apply a batch of queue entries (see `tablelog_server.batches`); 413 with the
    limits for a body or an entry count over them, before any entry is decoded."""
    max_entries = request.config_dict[CONFIG].max_batch_entries
    try:
        raw = await request.read()  # at most max_body_bytes: aiohttp answers 413 past that
    except web.HTTPRequestEntityTooLarge as exc:
        return _too_large(request, exc.text or "request body is too large")
    try:
        batch = await asyncio.to_thread(wire.decode_batch, raw, max_entries=max_entries)
    except TooManyEntriesError as exc:
        return _too_large(request, str(exc))
    except ValueError as exc:  # wire.WireError: bad envelope or unknown major version
        raise BadRequestError(str(exc)) from None
    del raw  # the entries hold their own bytes; the body need not live through the apply
    results = await apply_batch(batch, entity=_entity(request),
                                metadata=request.config_dict[METADATA],
                                scope=request.config_dict[SCOPE])
    return answer(request, {"results": results})


# -- projects, runs, history ----------------------------------------------------------------


async def list_projects(request: web.Request) -> web.Response:
    """The key's entity's projects."""
    projects = await request.config_dict[METADATA].projects(_entity(request))
    return answer(request, {"projects": [
        {"entity": p.entity, "name": p.name, "runs": p.runs} for p in projects]})


async def list_runs(request: web.Request) -> web.Response:
    """A project's runs: those the ``filters`` query parameter (a JSON object,
    `tablelog_server.run_filters`) matches, in ``order`` (default newest first)."""
    info = request.match_info
    filters: Any = None
    text = request.query.get("filters")
    if text:
        try:
            filters = json.loads(text)
        except ValueError as exc:
            raise BadRequestError(f"filters is not JSON: {exc}") from None
    runs = await request.config_dict[METADATA].runs(info["entity"], info["project"])
    if runs is None:
        raise NotFoundError(f"no project {info['entity']}/{info['project']}")
    try:
        chosen = await asyncio.to_thread(select_runs, runs, filters,
                                         request.query.get("order") or None)
    except FilterError as exc:
        raise BadRequestError(f"runs filters: {exc}") from None
    return answer(request, {"runs": [run_plain(r) for r in chosen]})


async def get_run(request: web.Request) -> web.Response:
    """One run."""
    key = _run_key(request)
    run = await request.config_dict[METADATA].run(key)
    if run is None:
        raise NotFoundError(f"no run {key.entity}/{key.project}/{key.run_id}")
    return answer(request, run_plain(run))


async def _json_fields(request: web.Request, parse: Callable[[dict[str, Any]], T]) -> T:
    """The request's JSON object body checked by `parse`; 400 for anything else."""
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError as exc:
        raise BadRequestError(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    try:
        return parse(body)
    except EntryRejectedError as exc:
        raise BadRequestError(str(exc)) from None


async def edit_run(request: web.Request) -> web.Response:
    """`public Run.update()`: a JSON object of any of name, notes, tags, group,
    job_type, config, summary (config and summary whole)."""
    fields = await _json_fields(request, run_edit)
    key = _run_key(request)
    run = await request.config_dict[METADATA].edit_run(key, fields)
    if run is None:
        raise NotFoundError(f"no run {key.entity}/{key.project}/{key.run_id}")
    return answer(request, run_plain(run))


async def get_history(request: web.Request) -> web.Response:
    """A page of a run's history; `next` is the offset of the next page, or null."""
    key = _run_key(request)
    offset = int_query(request, "offset", default=0)
    limit = int_query(request, "limit", default=DEFAULT_PAGE_ROWS, minimum=1,
                      maximum=MAX_PAGE_ROWS)
    min_step = (int_query(request, "min_step", default=0) if "min_step" in request.query
                else None)
    page = await request.config_dict[METADATA].history(key, offset, limit, min_step)
    if page is None:
        raise NotFoundError(f"no run {key.entity}/{key.project}/{key.run_id}")
    end = page.offset + len(page.rows)
    return await answer_built(request, lambda: {
        "rows": [_unpack(r, None) for r in page.rows], "offset": page.offset,
        "next": end if end < page.total else None})


async def list_run_artifacts(request: web.Request) -> web.Response:
    """The artifact versions a run logged, oldest first."""
    key = _run_key(request)
    store = request.config_dict[METADATA]
    if await store.run(key) is None:
        raise NotFoundError(f"no run {key.entity}/{key.project}/{key.run_id}")
    versions = await store.run_artifact_versions(key)
    return answer(request, {"artifacts": [_version_plain(v) for v in versions]})


async def list_used_artifacts(request: web.Request) -> web.Response:
    """The artifact versions a run used (`use_artifact`), in the order it did."""
    key = _run_key(request)
    store = request.config_dict[METADATA]
    if await store.run(key) is None:
        raise NotFoundError(f"no run {key.entity}/{key.project}/{key.run_id}")
    versions = await store.used_artifact_versions(key)
    return answer(request, {"artifacts": [
        {**_version_plain(v), "entity": v.entity, "project": v.project} for v in versions]})


async def list_version_users(request: web.Request) -> web.Response:
    """The runs that used one artifact version."""
    info = request.match_info
    runs = await request.config_dict[METADATA].version_users(
        info["entity"], info["project"], info["name"], _version_number(request))
    return answer(request, {"runs": [
        {**run_plain(r), "entity": r.entity, "project": r.project} for r in runs]})


# -- artifacts and tables -------------------------------------------------------------------


def _version_plain(v: ArtifactVersionRecord) -> dict[str, Any]:
    return {"name": v.name, "version": v.label, "digest": v.digest, "aliases": list(v.aliases),
            "type": v.type, "created": v.created, "created_at": iso_time(v.created),
            "run_id": v.run_id, "tags": list(v.tags), "ttl": v.ttl}


async def list_artifacts(request: web.Request) -> web.Response:
    """A project's artifacts (collections): name, type and how many versions."""
    info = request.match_info
    records = await request.config_dict[METADATA].artifacts(info["entity"], info["project"])
    return answer(request, {"artifacts": [
        {"name": a.name, "type": a.type, "versions": a.versions} for a in records]})


async def list_artifact_versions(request: web.Request) -> web.Response:
    """Every version of an artifact, oldest first."""
    info = request.match_info
    versions = await request.config_dict[METADATA].artifact_versions(
        info["entity"], info["project"], info["name"])
    if not versions:
        raise NotFoundError(f"no artifact {info['entity']}/{info['project']}/{info['name']}")
    return answer(request, {"versions": [_version_plain(v) for v in versions]})


def version_ref(text: str) -> str | int:
    """What names a version: ``vN`` its number, else an alias; `BadRequestError` for
    neither. (``v`` and 19 digits or more is an alias, which no version has: aliases
    like ``v3`` are refused when logged.)"""
    match = _VERSION_REF.fullmatch(text)
    if match is not None:
        return int(match.group(1))
    if not wire.is_valid_name(text):
        raise BadRequestError(f"invalid version or alias {text!r}")
    return text


async def artifact_version(request: web.Request) -> ArtifactVersionRecord:
    """The artifact version a route's path names (``vN`` or an alias); 400/404."""
    info = request.match_info
    ref_text = info["version"]
    record = await request.config_dict[METADATA].artifact_version(
        info["entity"], info["project"], info["name"], version_ref(ref_text))
    if record is None:
        raise NotFoundError(f"no version {ref_text!r} of artifact "
                            f"{info['entity']}/{info['project']}/{info['name']}")
    return record


async def get_artifact_version(request: web.Request) -> web.Response:
    """One artifact version and its manifest, by alias or ``vN``."""
    v = await artifact_version(request)
    return answer(request, _version_body(v))


def _version_body(v: ArtifactVersionRecord) -> dict[str, Any]:
    return {**_version_plain(v), "description": v.description,
            "metadata": _unpack(v.metadata, {}), "entries": _unpack(v.entries, {})}


def _version_number(request: web.Request) -> int:
    ref = version_ref(request.match_info["version"])
    if not isinstance(ref, int):
        raise BadRequestError("name the version to change as vN, not by an alias")
    return ref


async def update_artifact_version(request: web.Request) -> web.Response:
    """`Artifact.save()` of a version read through the API: a JSON object of any of
    description, metadata, aliases (the whole list), tags, ttl."""
    info = request.match_info
    fields = await _json_fields(request, artifact_fields)
    record = await request.config_dict[METADATA].update_artifact_version(
        info["entity"], info["project"], info["name"], _version_number(request), fields)
    if record is None:
        raise NotFoundError(f"no version {info['version']} of artifact "
                            f"{info['entity']}/{info['project']}/{info['name']}")
    return answer(request, _version_body(record))


async def delete_artifact_version(request: web.Request) -> web.Response:
    """`Artifact.delete()`: 409 for a version a run needs, or with aliases unless
    ``delete_aliases=1``."""
    info = request.match_info
    try:
        deleted = await request.config_dict[METADATA].delete_artifact_version(
            info["entity"], info["project"], info["name"], _version_number(request),
            delete_aliases=bool_query(request, "delete_aliases"))
    except EntryRejectedError as exc:
        raise ConflictError(str(exc)) from None
    if not deleted:
        raise NotFoundError(f"no version {info['version']} of artifact "
                            f"{info['entity']}/{info['project']}/{info['name']}")
    return answer(request, {"deleted": True})


async def get_table(request: web.Request) -> web.Response:
    """A page of a table entry of an artifact version: only the chunks it needs."""
    version = await artifact_version(request)
    entry_name = request.match_info["entry"]
    plain = wire.unpackb(version.entries).get(entry_name)
    if plain is None:
        raise NotFoundError(f"no entry {entry_name!r} in {version.name}:{version.label}")
    try:
        entry = wire.ManifestEntry.from_plain(plain)
    except ValueError as exc:
        raise UnreadableDataError(str(exc)) from None
    if entry.kind != "table":
        raise UnreadableDataError(f"entry {entry_name!r} is a {entry.kind}, not a table")
    reader = request.config_dict[TABLES]
    manifest = await reader.manifest(entry.sha256, entity=_entity(request))
    try:  # the filter language of the viewer (tablelog_server.table_filters)
        flt = parse_filter(request.query.get("q"), manifest.columns)
    except RowFilterError as exc:
        raise BadRequestError(f"q: {exc}") from None
    query = TableQuery(
        offset=int_query(request, "offset", default=0),
        limit=int_query(request, "limit", default=DEFAULT_PAGE_ROWS, minimum=1,
                        maximum=MAX_PAGE_ROWS),
        sort=request.query.get("sort") or None, desc=bool_query(request, "desc"),
        q=flt.text, where=flt.where)
    page = await reader.page(entry.sha256, query, entity=_entity(request))
    return await answer_built(request, page.to_plain)


def add_api_routes(app: web.Application) -> None:
    """Register the API of docs/architecture.md on `app`."""
    api = "/api/v1"
    app.router.add_get("/healthz", healthz)
    app.router.add_get(f"{api}/whoami", whoami)
    app.router.add_post(f"{api}/blobs/missing", missing_blobs)
    app.router.add_put(f"{api}/blobs/{{sha256}}", put_blob)
    app.router.add_get(f"{api}/blobs/{{sha256}}", get_blob)
    app.router.add_post(f"{api}/batches", post_batch)
    app.router.add_get(f"{api}/limits", get_limits)
    app.router.add_get(f"{api}/projects", list_projects)
    app.router.add_get(f"{api}/runs/{{entity}}/{{project}}", list_runs)
    app.router.add_get(f"{api}/runs/{{entity}}/{{project}}/{{run_id}}", get_run)
    app.router.add_post(f"{api}/runs/{{entity}}/{{project}}/{{run_id}}", edit_run)
    app.router.add_get(f"{api}/runs/{{entity}}/{{project}}/{{run_id}}/history", get_history)
    app.router.add_get(f"{api}/runs/{{entity}}/{{project}}/{{run_id}}/artifacts",
                       list_run_artifacts)
    app.router.add_get(f"{api}/runs/{{entity}}/{{project}}/{{run_id}}/used_artifacts",
                       list_used_artifacts)
    app.router.add_get(f"{api}/artifacts/{{entity}}/{{project}}", list_artifacts)
    app.router.add_get(f"{api}/artifacts/{{entity}}/{{project}}/{{name}}",
                       list_artifact_versions)
    app.router.add_get(f"{api}/artifacts/{{entity}}/{{project}}/{{name}}/{{version}}",
                       get_artifact_version)
    app.router.add_post(f"{api}/artifacts/{{entity}}/{{project}}/{{name}}/{{version}}",
                        update_artifact_version)
    app.router.add_get(f"{api}/artifacts/{{entity}}/{{project}}/{{name}}/{{version}}/used_by",
                       list_version_users)
    app.router.add_delete(f"{api}/artifacts/{{entity}}/{{project}}/{{name}}/{{version}}",
                          delete_artifact_version)
    app.router.add_get(f"{api}/tables/{{entity}}/{{project}}/{{name}}/{{version}}/{{entry:.+}}",
                       get_table)
