"""``POST /api/v1/batches`` without the HTTP: turn each entry's bytes into a
validated `Change` (pure, no I/O), then apply them in order.

Per entry, in this order of precedence:

- its idempotency key was applied before            -> ``duplicate`` when the entry's
  (or appears earlier in this batch)                    digest matches the one recorded
                                                       with the key, else ``conflict``
                                                       (not stored; the agent never
                                                       takes it for delivered)
- it cannot be decoded, is invalid, or names an
  entity other than the key's                       -> ``rejected`` with a reason
- an earlier entry of the same run in this batch
  was held back for missing blobs                   -> ``deferred``
- an entry naming blobs the key's entity does not
  hold (an artifact's blobs, media values) -- even
  if another entity stored them                     -> ``missing_blobs`` with the list
- otherwise the store applies it                    -> ``applied`` (or ``duplicate``/
                                                       ``rejected`` if the store says so)

A rejected entry never holds back the entries behind it: the agent dead-letters
it, and waiting for it would block the run forever.

Naming a blob never grants it: ``missing_blobs`` looks the same whether or not
someone else stored the bytes (`tablelog_server.blob_scope`), and only an upload
of the bytes makes the entity a holder; the agent uploads and sends again.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tablelog import wire
from tablelog_server.blob_scope import BlobScope, media_addresses
from tablelog_server.errors import EntryRejectedError
from tablelog_server.metadata import (
    ArtifactFields,
    ArtifactLog,
    ArtifactUpdate,
    Change,
    ConfigReplace,
    HistoryAppend,
    MetadataStore,
    Outcome,
    RunEdit,
    RunEnd,
    RunKey,
    RunStart,
    RunUpdate,
    SummaryReplace,
    UsedArtifact,
    conflict_reason,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT = 65_536  # run names, notes, descriptions: generous, but bounded


@dataclass(frozen=True)
class PlannedEntry:
    """One batch entry after validation: a change to apply, or why it was rejected."""

    id: int
    change: Change | None = None
    reason: str | None = None
    required_blobs: tuple[str, ...] = ()


async def apply_batch(batch: wire.BatchRequest, *, entity: str, metadata: MetadataStore,
                      scope: BlobScope) -> list[dict[str, Any]]:
    """Apply a decoded batch sent with a key of `entity`; one result per entry, in order."""
    ids = [entry_id for entry_id, _ in batch.entries]
    digests = [wire.entry_digest(d) if isinstance(d, bytes) else None
               for _, d in batch.entries]
    applied_before = await metadata.applied_digests(entity, batch.queue_id, ids)
    # The first occurrence of an id in the batch is planned; a repeat is judged by digest.
    first: dict[int, str | None] = {}
    to_plan: list[tuple[int, object]] = []
    for (entry_id, data), digest in zip(batch.entries, digests, strict=True):
        if entry_id not in applied_before and entry_id not in first:
            first[entry_id] = digest
            to_plan.append((entry_id, data))
    # Decoding and re-encoding a large batch is CPU work: keep it off the event loop.
    planned = await asyncio.to_thread(lambda: {i: plan_entry(i, d, entity) for i, d in to_plan})

    results: list[dict[str, Any]] = []
    to_apply: list[tuple[int, Change]] = []
    apply_digests: list[str | None] = []
    apply_slots: list[int] = []  # index in `results` of each change in `to_apply`
    held_back: set[RunKey] = set()
    seen: set[int] = set()
    for (entry_id, _), digest in zip(batch.entries, digests, strict=True):
        known = applied_before.get(entry_id, first.get(entry_id))
        if entry_id in applied_before or entry_id in seen:
            if known is not None and digest is not None and known != digest:
                results.append({"id": entry_id, "status": str(wire.Status.CONFLICT),
                                "reason": conflict_reason(batch.queue_id, entry_id, known,
                                                          digest)})
            else:
                results.append({"id": entry_id, "status": str(wire.Status.DUPLICATE)})
            continue
        seen.add(entry_id)
        plan = planned[entry_id]
        if plan.change is None:
            results.append({"id": entry_id, "status": str(wire.Status.REJECTED),
                            "reason": plan.reason})
            continue
        if plan.change.run in held_back:
            results.append({"id": entry_id, "status": str(wire.Status.DEFERRED)})
            continue
        missing = (await scope.missing(entity, plan.required_blobs)
                   if plan.required_blobs else [])
        if missing:
            held_back.add(plan.change.run)
            results.append({"id": entry_id, "status": str(wire.Status.MISSING_BLOBS),
                            "missing": missing})
            continue
        apply_slots.append(len(results))
        to_apply.append((entry_id, plan.change))
        apply_digests.append(digest)
        results.append({"id": entry_id})

    outcomes = await metadata.apply(entity, batch.queue_id, to_apply, apply_digests)
    for slot, outcome in zip(apply_slots, outcomes, strict=True):
        results[slot]["status"] = str(outcome.outcome)
        if outcome.outcome in (Outcome.REJECTED, Outcome.CONFLICT):
            results[slot]["reason"] = outcome.reason
    return results


def plan_entry(entry_id: int, data: object, key_entity: str) -> PlannedEntry:
    """Validate one entry's bytes; never raises for bad input."""
    try:
        change = entry_change(data, key_entity)
    except (EntryRejectedError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        # ValueError covers wire.WireError; the others are belts for encoding odd values.
        return PlannedEntry(entry_id, reason=str(exc) or type(exc).__name__)
    assert isinstance(data, bytes)  # entry_change refused anything else
    listed = change.blobs if isinstance(change, ArtifactLog) else ()
    required = tuple(dict.fromkeys([*listed, *media_addresses(data)]))
    return PlannedEntry(entry_id, change=change, required_blobs=required)


def entry_change(data: object, key_entity: str) -> Change:
    """The `Change` an entry asks for; `EntryRejectedError` (or WireError) says why not."""
    if not isinstance(data, bytes):
        raise EntryRejectedError("entry data must be msgpack bytes")
    entry = wire.decode_entry(data, max_values=wire.received_values_limit(len(data)))
    entity = entry.entity if entry.entity is not None else key_entity
    if entity != key_entity:
        raise EntryRejectedError(f"the entry is for entity {entity!r} but the API key belongs "
                                 f"to {key_entity!r} (forbidden)")
    run = RunKey(entity, entry.project, entry.run_id)
    body = entry.body
    segment = body.get("segment")
    if segment is not None and not wire.is_valid_name(segment):
        raise EntryRejectedError(f"invalid resume segment {segment!r}")
    merge = segment is not None
    if entry.kind is wire.Kind.RUN:
        config = _opt_map(body, "config")
        tags = body.get("tags")
        if tags is not None and (not isinstance(tags, list)
                                 or not all(isinstance(t, str) for t in tags)):
            raise EntryRejectedError("run 'tags' must be a list of strings")
        return RunStart(run=run, name=_opt_text(body, "name"),
                        config=None if config is None else wire.packb(config),
                        tags=None if tags is None else tuple(tags),
                        notes=_opt_text(body, "notes"), job_type=_opt_text(body, "job_type"),
                        started_at=_opt_time(body, "started_at"), merge=merge,
                        group=_opt_text(body, "group"))
    if entry.kind is wire.Kind.HISTORY:
        step = _int(body.get("step"), "history 'step'", minimum=0)
        row = _map(body, "row")
        if not all(isinstance(k, str) for k in row):
            raise EntryRejectedError("history row keys must be strings")
        merged = {"_step": step, **{k: v for k, v in row.items() if k != "_step"}}
        return HistoryAppend(run=run, step=step, row=wire.packb(merged), segment=segment)
    if entry.kind is wire.Kind.SUMMARY:
        return SummaryReplace(run=run, summary=wire.packb(_map(body, "summary")), merge=merge)
    if entry.kind is wire.Kind.CONFIG:
        return ConfigReplace(run=run, config=wire.packb(_map(body, "config")), merge=merge)
    if entry.kind is wire.Kind.RUN_END:
        exit_code = _int(body.get("exit_code", 0), "run_end 'exit_code'", minimum=INT64_MIN)
        ended_at = _opt_time(body, "ended_at")
        state = body.get("state")
        if state is not None and not isinstance(state, str):
            raise EntryRejectedError("run_end 'state' must be a string")
        return RunEnd(run=run, exit_code=exit_code,
                      ended_at=time.time() if ended_at is None else ended_at,
                      state=wire.run_end_state(exit_code, state))
    if entry.kind is wire.Kind.RUN_UPDATE:
        return _run_update(run, body)
    if entry.kind is wire.Kind.ARTIFACT_UPDATE:
        return _artifact_update(run, body)
    return _artifact_change(run, body)


_METRIC_FIELDS = {"step_metric": (str,), "step_sync": (bool,), "hidden": (bool,),
                  "summary": (list,)}
MAX_METRICS = 10_000  # define_metric definitions per run
ALERT_LEVELS = ("INFO", "WARN", "ERROR")


def _run_update(run: RunKey, body: Mapping[str, Any]) -> RunUpdate:
    """A ``run_update`` body checked: name/notes text, tags strings, metric definitions
    of the known fields, an alert with a title, a text and a known level."""
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list)
                             or not all(isinstance(t, str) for t in tags)):
        raise EntryRejectedError("run 'tags' must be a list of strings")
    metrics = _opt_map(body, "metrics")
    if metrics is not None:
        if len(metrics) > MAX_METRICS:
            raise EntryRejectedError(f"at most {MAX_METRICS} metric definitions per run")
        for name, definition in metrics.items():
            if not isinstance(name, str) or not name or not isinstance(definition, dict):
                raise EntryRejectedError("'metrics' must map metric names to definitions")
            for field_name, value in definition.items():
                kinds = _METRIC_FIELDS.get(field_name)
                if kinds is None or (value is not None and not isinstance(value, kinds)):
                    raise EntryRejectedError(f"metric {name!r}: bad field {field_name!r}")
    alert = _opt_map(body, "alert")
    if alert is not None:
        _opt_text(alert, "title")
        _opt_text(alert, "text")
        _opt_time(alert, "at")
        if alert.get("level") not in ALERT_LEVELS:
            raise EntryRejectedError(f"alert 'level' must be one of {', '.join(ALERT_LEVELS)}")
        alert = {k: alert.get(k) for k in ("title", "text", "level", "wait_duration_ms", "at")}
    used = _opt_map(body, "used_artifact")
    used_artifact = None
    if used is not None:
        entity, project, name = used.get("entity") or run.entity, used.get("project"), \
            used.get("name")
        if not all(wire.is_valid_name(v) for v in (entity, project, name)) or \
                not wire.is_sha256(used.get("digest")):
            raise EntryRejectedError("'used_artifact' needs an entity, project, name and "
                                     "sha256 digest")
        used_artifact = UsedArtifact(str(entity), str(project), str(name), used["digest"])
    return RunUpdate(run=run, name=_opt_text(body, "name"), notes=_opt_text(body, "notes"),
                     tags=None if tags is None else tuple(tags),
                     metrics=None if metrics is None else wire.packb(metrics),
                     alert=None if alert is None else wire.packb(alert), used=used_artifact)


def run_edit(body: Mapping[str, Any]) -> RunEdit:
    """The fields of a run edit (`public Run.update()`), checked as the SDK's entries are."""
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list)
                             or not all(isinstance(t, str) for t in tags)):
        raise EntryRejectedError("run 'tags' must be a list of strings")
    config, summary = _opt_map(body, "config"), _opt_map(body, "summary")
    return RunEdit(name=_opt_text(body, "name"), notes=_opt_text(body, "notes"),
                   tags=None if tags is None else tuple(tags), group=_opt_text(body, "group"),
                   job_type=_opt_text(body, "job_type"),
                   config=None if config is None else wire.packb(config),
                   summary=None if summary is None else wire.packb(summary))


def artifact_fields(body: Mapping[str, Any]) -> ArtifactFields:
    """The fields of an ``artifact_update`` (or of the API's update), checked."""
    aliases = body.get("aliases")
    if aliases is not None:
        if not isinstance(aliases, list):
            raise EntryRejectedError("artifact 'aliases' must be a list")
        for alias in aliases:
            if not wire.is_valid_name(alias) or wire.VERSION_LIKE.fullmatch(alias):
                raise EntryRejectedError(f"invalid alias {alias!r} (names like v3 are versions)")
    tags = body.get("tags")
    if tags is not None and (not isinstance(tags, list)
                             or not all(isinstance(t, str) and 0 < len(t) <= 256 for t in tags)):
        raise EntryRejectedError("artifact 'tags' must be a list of strings")
    ttl = body.get("ttl")
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float)
                            or not ttl >= 0):
        raise EntryRejectedError("artifact 'ttl' must be seconds >= 0, or null")
    metadata = _opt_map(body, "metadata")
    return ArtifactFields(
        description=_opt_text(body, "description"),
        metadata=None if metadata is None else wire.packb(metadata),
        aliases=None if aliases is None else tuple(aliases),
        tags=None if tags is None else tuple(tags),
        ttl=None if ttl is None else float(ttl), set_ttl="ttl" in body)


def _artifact_update(run: RunKey, body: Mapping[str, Any]) -> ArtifactUpdate:
    name, digest = body.get("name"), body.get("digest")
    if not wire.is_valid_name(name):
        raise EntryRejectedError(f"invalid artifact name {name!r}")
    if not wire.is_sha256(digest):
        raise EntryRejectedError("artifact_update 'digest' must be a sha256 hex digest")
    assert isinstance(name, str) and isinstance(digest, str)
    return ArtifactUpdate(run=run, name=name, digest=digest, fields=artifact_fields(body))


def _artifact_change(run: RunKey, body: Mapping[str, Any]) -> ArtifactLog:
    name, type_ = body.get("name"), body.get("type")
    if not wire.is_valid_name(name):
        raise EntryRejectedError(f"invalid artifact name {name!r}")
    if not wire.is_valid_name(type_):
        raise EntryRejectedError(f"invalid artifact type {type_!r}")
    assert isinstance(name, str) and isinstance(type_, str)
    raw_entries = _map(body, "entries")
    entries: dict[str, wire.ManifestEntry] = {}
    for entry_name, plain in raw_entries.items():
        if not isinstance(entry_name, str) or not entry_name or len(entry_name) > 1024:
            raise EntryRejectedError("artifact entry names must be strings of 1-1024 characters")
        if not isinstance(plain, dict):
            raise EntryRejectedError(f"artifact entry {entry_name!r} must be a map")
        entries[entry_name] = wire.ManifestEntry.from_plain(plain)
    digest = body.get("digest")
    expected = wire.artifact_digest(entries)
    if digest != expected:
        raise EntryRejectedError(f"artifact digest {digest!r} does not match its entries "
                                 f"(artifact_digest gives {expected})")
    listed = body.get("blobs", [])
    if not isinstance(listed, list) or not all(wire.is_sha256(b) for b in listed):
        raise EntryRejectedError("artifact 'blobs' must be a list of sha256 hex digests")
    aliases = body.get("aliases") or []
    if not isinstance(aliases, list):
        raise EntryRejectedError("artifact 'aliases' must be a list")
    for alias in aliases:
        if not wire.is_valid_name(alias) or wire.VERSION_LIKE.fullmatch(alias):
            raise EntryRejectedError(f"invalid alias {alias!r} (names like v3 are versions)")
    metadata = _opt_map(body, "metadata") or {}
    return ArtifactLog(
        run=run, name=name, type=type_, description=_opt_text(body, "description"),
        metadata=wire.packb(metadata), digest=expected,
        aliases=tuple(dict.fromkeys(["latest", *aliases])),
        entries=wire.packb({k: e.to_plain() for k, e in entries.items()}),
        blobs=tuple(dict.fromkeys([*wire.artifact_blobs(entries), *listed])))


# -- field checks ----------------------------------------------------------------------


def _map(body: Mapping[str, Any], key: str) -> dict[Any, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise EntryRejectedError(f"{key!r} must be a map")
    return value


def _opt_map(body: Mapping[str, Any], key: str) -> dict[Any, Any] | None:
    return None if body.get(key) is None else _map(body, key)


def _opt_text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or len(value) > MAX_TEXT):
        raise EntryRejectedError(f"{key!r} must be a string of at most {MAX_TEXT} characters")
    return value


def _opt_time(body: Mapping[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value)):
        raise EntryRejectedError(f"{key!r} must be seconds since the epoch")
    return float(value)


def _int(value: object, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (
            minimum <= value <= INT64_MAX):
        raise EntryRejectedError(f"{what} must be an integer in [{minimum}, {INT64_MAX}]")
    return value
