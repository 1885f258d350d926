"""The wire format shared by the SDK, the agent and the server.

Everything that crosses a process boundary is msgpack, described here and
nowhere else. The queue stores these bytes opaquely; the agent forwards them
without decoding; the server decodes them with the functions below.

Queue entry (one per `put`)::

    {"v": [MAJOR, MINOR], "kind": <KIND>, "entity": str | None,
     "project": str, "run_id": str, "body": {...}}

Bodies by kind:

- ``run``      {"name", "config", "tags", "notes", "job_type", "group"?, "started_at", "resumed",
                "resume_base"?: "server" | "local" | "unknown"}
- ``history``  {"step": int, "row": {key: value}}; tables appear as TableRef values
- ``summary``  {"summary": {key: value}} — the whole summary after the update
- ``config``   {"config": {key: value}} — the whole config after the update

``run``, ``history``, ``summary`` and ``config`` bodies of a run resumed where its
server state was unknown carry ``"segment": str``: the server shifts that
segment's steps past the run's last stored step and merges (rather than
replaces) its config and summary (see `tablelog.runtime.resume`).
- ``artifact`` {"name", "type", "description", "metadata", "aliases", "digest",
                "entries": {entry_name: ManifestEntry}, "blobs": [sha256, ...]}
- ``run_update`` any of {"name": str, "notes": str, "tags": [str], "metrics": {name:
                {"step_metric", "step_sync", "hidden", "summary": [op]}} (every
                definition so far, see `tablelog.runtime.metrics`), "alert": {"title",
                "text", "level", "wait_duration_ms", "at"}, "used_artifact": {"entity",
                "project", "name", "digest"}}: what changed after the run
                began (settable name/notes/tags, define_metric, run.alert, use_artifact)
- ``artifact_update`` {"name", "digest", and any of "description", "metadata",
                "aliases" (the version's whole list), "tags", "ttl" (seconds or None)}:
                `Artifact.save()` after logging; the version is the one with that digest
- ``run_end``  {"exit_code": int, "ended_at": float, "state": str}; ``state`` (one of
                `RUN_END_STATES`) is optional: without it (older SDKs), or with one this
                side does not know, the state is ``finished`` for exit code 0 and
                ``failed`` otherwise

A table is a blob holding a *table manifest* (see `TableManifest`) whose row
chunks are further blobs; media are blobs too. Special cell values travel as
msgpack ext types so that user dicts are never confused with our markers:
timestamps (ms since epoch, UTC), numpy arrays, media references, table
references, and integers beyond msgpack's own (``[-2**63, 2**64 - 1]``): two's
complement, big-endian, at most `MAX_BIGINT_BYTES` (about 2,466 digits).

Batch request (agent → server, ``POST /api/v1/batches``)::

    {"v": [MAJOR, MINOR], "queue_id": str, "entries": [{"id": int, "data": bytes}]}

The idempotency key of an entry is ``(queue_id, id)``; the server also keeps
`entry_digest` of each applied entry, so a replayed key with other bytes is a
``conflict``, never a ``duplicate``. The answer is
``{"results": [{"id", "status", "reason"?, "missing"?}]}`` with status one of
`Status`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import msgpack

from tablelog.errors import TooManyEntriesError, WireError


def _loaded_numpy() -> Any:
    """numpy if this process imported it, else None: no numpy value can exist
    without it, so the agent and server (which never make one) need not load it."""
    np_ = sys.modules.get("numpy")
    # While another thread imports it (a first Table, say), numpy is in sys.modules
    # half-built, and no numpy value exists yet either.
    if np_ is None or getattr(getattr(np_, "__spec__", None), "_initializing", False):
        return None
    return np_

WIRE_VERSION: tuple[int, int] = (1, 0)
MAX_STEP = 2**63 - 1
"""The largest history step: steps are 64-bit signed integers, as in wandb (and in
the server's database)."""


class Kind(StrEnum):
    """What a queue entry records."""

    RUN = "run"
    HISTORY = "history"
    SUMMARY = "summary"
    CONFIG = "config"
    ARTIFACT = "artifact"
    RUN_END = "run_end"
    RUN_UPDATE = "run_update"
    ARTIFACT_UPDATE = "artifact_update"


# How a run can end (wandb's states): finished = exit code 0; failed = an exception,
# sys.exit(n) or finish(exit_code=n); killed = SIGINT / KeyboardInterrupt; preempted =
# SIGTERM / SIGHUP or run.mark_preempting() before a non-zero exit; crashed = accepted,
# for a process known to have died without ending its run.
RUN_END_STATES = ("finished", "failed", "crashed", "killed", "preempted")


def run_end_state(exit_code: int, state: object = None) -> str:
    """The state a run_end records: `state` when it is a known one, else by exit code."""
    if isinstance(state, str) and state in RUN_END_STATES:
        return state
    return "finished" if exit_code == 0 else "failed"


class Status(StrEnum):
    """The server's verdict on one entry of a batch."""

    APPLIED = "applied"  # stored now
    DUPLICATE = "duplicate"  # stored earlier under the same idempotency key
    MISSING_BLOBS = "missing_blobs"  # upload `missing` and send again
    DEFERRED = "deferred"  # an earlier entry of the same run was not applied; send again
    REJECTED = "rejected"  # permanent: dead-letter it with `reason`
    # The key was applied before with other content (a copied queue, a restored
    # snapshot): this entry was NOT stored. Never to be taken for delivered.
    CONFLICT = "conflict"


# ---------------------------------------------------------------------------
# names and hashes

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
_SANITIZE_RE = re.compile(r"[^A-Za-z0-9_.\-]")


def is_valid_name(name: object) -> bool:
    """Entity, project, run id and artifact names: 1-128 of [A-Za-z0-9_.-]."""
    # fullmatch: `$` would let a trailing newline through
    return isinstance(name, str) and bool(_NAME_RE.fullmatch(name)) and name not in {".", ".."}


RUN_ID_RESERVED = ":;,#?/'"
"""Characters wandb 0.31 refuses in a run id (its Settings.validate_run_id)."""
MAX_RUN_ID = 128


def run_id_problem(run_id: object) -> str | None:
    """Why `run_id` cannot be a run id, in wandb's words; None if it can.

    wandb's rule: not empty, no whitespace at either end, none of ``:;,#?/'``.
    tablelog also refuses control characters, more than 128 characters and
    ``.``/``..`` (ids travel in URL paths and log lines).
    """
    if not isinstance(run_id, str):
        return f"Run ID must be a string, got {type(run_id).__name__}"
    if not run_id:
        return "Run ID cannot be empty"
    if not run_id.strip():
        return "Run ID cannot contain only whitespace"
    if run_id != run_id.strip():
        return "Run ID cannot start or end with whitespace"
    if any(c in RUN_ID_RESERVED for c in run_id):
        return f"Run ID cannot contain the characters: {RUN_ID_RESERVED}"
    if any(ord(c) < 32 or ord(c) == 127 for c in run_id):
        return "Run ID cannot contain control characters"
    if len(run_id) > MAX_RUN_ID:
        return f"Run ID cannot be longer than {MAX_RUN_ID} characters"
    if run_id in {".", ".."}:
        return f"Run ID cannot be {run_id!r}"
    return None


VERSION_LIKE = re.compile(r"v[0-9]+")
"""A version label (fullmatch): never an alias."""


def is_valid_run_id(run_id: object) -> bool:
    """Whether `run_id` is a run id wandb accepts (and tablelog: see `run_id_problem`)."""
    return run_id_problem(run_id) is None


def run_artifact_name(run_id: str, rest: str) -> str:
    """The name of a run's own artifact, ``run-<id>-<rest>`` (`rest` already a valid name).

    For an id of letters, digits, '_', '-', '.' that is the name itself; otherwise it is
    sanitized as wandb 0.31 sanitizes it (InternalArtifact): the other characters
    dropped, and a 6-character suffix (crc32 of the name, url-safe base64) appended, so
    ``run-random-run-id-=1234567-seed-0-t`` becomes ``run-random-run-id-1234567-seed-0-t-O19duA``.
    """
    name = f"run-{run_id}-{rest}"
    if _NAME_RE.fullmatch(run_id):
        return name
    crc = zlib.crc32(name.encode("utf-8")) & 0xFFFFFFFF
    import base64  # here: init() never names a run artifact with an odd id

    suffix = base64.urlsafe_b64encode(crc.to_bytes(4, "big")).rstrip(b"=").decode("ascii")
    return f"{re.sub(r'[^a-zA-Z0-9_.-]+', '', name)}-{suffix}"


def is_sha256(value: object) -> bool:
    """A blob address: exactly 64 lowercase hex characters (nothing else reaches a path)."""
    return isinstance(value, str) and bool(_SHA_RE.fullmatch(value))


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 hex of a file's bytes, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            h.update(piece)
    return h.hexdigest()


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sanitize_artifact_name(name: str) -> str:
    """Make a valid artifact name from a log key, like wandb: strip bad characters and,
    if anything was stripped, add a short stable suffix so different keys stay distinct."""
    cleaned = _SANITIZE_RE.sub("", name)
    if cleaned == name and cleaned:
        return name
    suffix = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{cleaned}-{suffix}"[:128]


# ---------------------------------------------------------------------------
# special values


EXT_TIMESTAMP = 1
EXT_NDARRAY = 2
EXT_MEDIA = 3
EXT_TABLE_REF = 4
EXT_BIGINT = 5
EXT_COMPLEX = 6  # a complex number: [real, imag] (a reader that predates it keeps the ExtType)
MAX_BIGINT_BYTES = 1024
"""The largest integer a value may hold, in bytes: ±2**8191, about 2,466 digits
(Python itself cannot print one of more than 4,300 without a setting)."""


@dataclass(frozen=True)
class MediaRef:
    """A media cell or value: the blob holding its bytes plus what a viewer needs.

    kind is one of image, audio, video, html, file; meta holds e.g. width,
    height, format, caption, sample_rate, fps.
    """

    kind: str
    sha256: str
    size: int
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain form, used by JSON answers and the viewer."""
        return {"_type": f"{self.kind}-file", "sha256": self.sha256, "size": self.size,
                **dict(self.meta)}


@dataclass(frozen=True)
class TableRef:
    """A history/summary value standing for a logged table version."""

    artifact: str  # artifact name, e.g. run-ab12cd34-preds
    entry: str  # entry name inside the artifact
    digest: str  # artifact content digest: identifies the version
    nrows: int
    ncols: int
    kind: str = "table"  # table | joined-table | incremental-table

    def to_dict(self) -> dict[str, Any]:
        return {"_type": f"{self.kind}-ref", "artifact": self.artifact, "entry": self.entry,
                "digest": self.digest, "nrows": self.nrows, "ncols": self.ncols}


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def _timestamp_ms(value: Any) -> int:
    """Milliseconds since the epoch of a datetime (naive = UTC), date or numpy datetime64."""
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=_dt.UTC)
        return int((aware - _EPOCH) // _dt.timedelta(milliseconds=1))
    if isinstance(value, _dt.date):
        return _timestamp_ms(_dt.datetime(value.year, value.month, value.day))
    return int(value.astype("datetime64[ms]").astype("int64"))  # numpy datetime64


Resolver = Callable[[Any], Any]


def _make_default(resolve: Resolver | None) -> Callable[[Any], Any]:
    def default(obj: Any) -> Any:
        if isinstance(obj, MediaRef):
            return msgpack.ExtType(EXT_MEDIA, _packb_plain(
                [obj.kind, obj.sha256, obj.size, dict(obj.meta)]))
        if isinstance(obj, TableRef):
            return msgpack.ExtType(EXT_TABLE_REF, _packb_plain(
                [obj.artifact, obj.entry, obj.digest, obj.nrows, obj.ncols, obj.kind]))
        if isinstance(obj, _dt.date):
            return msgpack.ExtType(EXT_TIMESTAMP, _packb_plain(_timestamp_ms(obj)))
        if isinstance(obj, int):  # msgpack asks only for the ints it cannot hold
            return msgpack.ExtType(EXT_BIGINT, _bigint_bytes(obj))
        if isinstance(obj, complex):
            return msgpack.ExtType(EXT_COMPLEX, _packb_plain([obj.real, obj.imag]))
        np_ = _loaded_numpy()
        if np_ is not None:
            if isinstance(obj, np_.datetime64):
                return msgpack.ExtType(EXT_TIMESTAMP, _packb_plain(_timestamp_ms(obj)))
            if isinstance(obj, np_.ndarray):
                if obj.dtype.hasobject:
                    return [default_or_self(x) for x in obj.tolist()]
                arr = np_.ascontiguousarray(obj)
                return msgpack.ExtType(EXT_NDARRAY, _packb_plain(
                    [arr.dtype.str, list(arr.shape), arr.tobytes()]))
            if isinstance(obj, np_.generic):
                item = obj.item()  # a complex one gives a Python complex: encode it here
                return default(item) if isinstance(item, complex) else item
        if isinstance(obj, tuple | set | frozenset):
            return list(obj)
        plain_form = getattr(obj, "_plain_form", None)  # a Histogram: wandb's plain map
        if plain_form is not None:
            return plain_form()
        if resolve is not None:
            resolved = resolve(obj)
            # msgpack does not run `default` on what `default` returns
            return default(resolved) if isinstance(resolved, MediaRef | TableRef) else resolved
        raise TypeError(f"cannot encode a value of type {type(obj).__name__}")

    def default_or_self(x: Any) -> Any:
        return x if isinstance(x, str | int | float | bool | type(None)) else default(x)

    return default


def _bigint_bytes(value: int) -> bytes:
    size = value.bit_length() // 8 + 1  # room for the sign bit
    if size > MAX_BIGINT_BYTES:
        raise ValueError(f"an integer of {value.bit_length()} bits is too large to log "
                         f"(at most {MAX_BIGINT_BYTES * 8 - 1} bits, about 2,466 digits)")
    return value.to_bytes(size, "big", signed=True)


def _packb_plain(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


_C = TypeVar("_C", list[Any], dict[Any, Any])


class _ValueBudget:
    """Counts the values a decode builds (the items of its arrays, the keys and values
    of its maps) and stops it once `limit` is passed: refusing bytes of many tiny
    values costs memory in proportion to the limit, not to what they would build."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take_items(self, container: list[Any]) -> list[Any]:
        self.left -= len(container)
        return self._check(container)

    def take_pairs(self, container: dict[Any, Any]) -> dict[Any, Any]:
        self.left -= 2 * len(container)
        return self._check(container)

    def _check(self, container: _C) -> _C:
        if self.left < 0:
            raise WireError(f"message decodes to more than {self.limit} values")
        return container

    def options(self) -> dict[str, Any]:
        """msgpack options that count every array and map, and refuse any one that
        alone is over what is left (before it is built)."""
        most = max(self.left, 0)
        return {"list_hook": self.take_items, "object_hook": self.take_pairs,
                "max_array_len": most, "max_map_len": most}


def _ext_hook(code: int, data: bytes, budget: _ValueBudget | None = None) -> Any:
    # An ext's payload is msgpack too: it is decoded under the same budget.
    options = {} if budget is None else budget.options()
    if code == EXT_TIMESTAMP:
        ms = msgpack.unpackb(data, **options)
        return _EPOCH + _dt.timedelta(milliseconds=ms)
    if code == EXT_NDARRAY:
        dtype, shape, raw = msgpack.unpackb(data, raw=False, **options)
        import numpy

        return numpy.frombuffer(raw, dtype=numpy.dtype(dtype)).reshape(shape).copy()
    if code == EXT_MEDIA:
        kind, sha, size, meta = msgpack.unpackb(data, raw=False, **options)
        return MediaRef(kind, sha, size, meta)
    if code == EXT_BIGINT:
        if not 0 < len(data) <= MAX_BIGINT_BYTES:
            raise ValueError(f"a big integer of {len(data)} bytes")
        return int.from_bytes(data, "big", signed=True)
    if code == EXT_COMPLEX:
        real, imag = msgpack.unpackb(data, **options)
        return complex(real, imag)
    if code == EXT_TABLE_REF:
        artifact, entry, digest, nrows, ncols, kind = msgpack.unpackb(data, raw=False,
                                                                      **options)
        return TableRef(artifact, entry, digest, nrows, ncols, kind)
    return msgpack.ExtType(code, data)


def packb(obj: Any, *, resolve: Resolver | None = None) -> bytes:
    """msgpack-encode `obj`, turning datetimes, numpy values, MediaRef and TableRef
    into our ext types; `resolve` is asked for any other object (the SDK uses it to
    turn media values into MediaRefs)."""
    try:
        return msgpack.packb(  # type: ignore[no-any-return]
            obj, use_bin_type=True, default=_make_default(resolve), strict_types=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError(f"cannot encode value: {exc}") from exc


RECEIVED_VALUES_MIN = 100_000


def received_values_limit(size: int) -> int:
    """How many values (see `unpackb`) a receiver lets `size` bytes from a client build:
    one per 8 bytes (a float takes 9 on the wire), and at least `RECEIVED_VALUES_MIN`.
    The largest values built from one byte (an empty map or array) take about 64 bytes
    of memory, so decoding then costs at most a few times the bytes received."""
    return max(RECEIVED_VALUES_MIN, size // 8)


def unpackb(data: bytes | bytearray | memoryview, *, max_size: int = 0,
            max_values: int = 0) -> Any:
    """Decode bytes made by `packb`. Raises WireError for anything malformed, for
    input longer than `max_size`, or decoding to more than `max_values` values
    (the items of arrays, the keys and values of maps; the limits apply when given)."""
    if max_size and len(data) > max_size:
        raise WireError(f"message of {len(data)} bytes is over the limit of {max_size}")
    try:
        if not max_values:
            return msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)
        budget = _ValueBudget(max_values)
        return msgpack.unpackb(data, raw=False, strict_map_key=False,
                               ext_hook=lambda code, raw: _ext_hook(code, raw, budget),
                               **budget.options())
    except WireError:
        raise
    except Exception as exc:  # msgpack raises many unrelated types on garbage
        if max_values and "exceeds max_" in str(exc):
            raise WireError(f"message decodes to more than {max_values} values") from exc
        raise WireError(f"malformed msgpack: {exc}") from exc


def jsonable(value: Any) -> Any:
    """Turn a decoded wire value into something `json.dumps` accepts (for the HTTP API
    and the viewer): timestamps as ISO strings, arrays as nested lists, refs as dicts."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, msgpack.ExtType):  # a kind of value this side does not know
        return {"_type": "ext", "code": value.code, "data": value.data.hex()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, MediaRef | TableRef):
        return value.to_dict()
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    np_ = _loaded_numpy()
    if np_ is not None and isinstance(value, np_.ndarray):
        return jsonable(value.tolist()) if value.dtype.kind in "cO" else value.tolist()
    if isinstance(value, complex):  # JSON has no complex numbers: show it as Python does
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.hex()
    return value


# ---------------------------------------------------------------------------
# queue entries


@dataclass(frozen=True)
class Entry:
    """One decoded queue entry."""

    kind: Kind
    entity: str | None
    project: str
    run_id: str
    body: dict[str, Any]
    version: tuple[int, int] = WIRE_VERSION


def encode_entry(kind: Kind, *, entity: str | None, project: str, run_id: str,
                 body: Mapping[str, Any], resolve: Resolver | None = None) -> bytes:
    """Bytes for one queue entry."""
    return packb({"v": list(WIRE_VERSION), "kind": str(kind), "entity": entity,
                  "project": project, "run_id": run_id, "body": dict(body)}, resolve=resolve)


def check_version(version: object) -> tuple[int, int]:
    """Validate a [major, minor] pair; an unknown major version is a WireError."""
    if (not isinstance(version, list | tuple) or len(version) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in version)):
        raise WireError(f"wire version must be [major, minor], got {version!r}")
    major, minor = version
    if major != WIRE_VERSION[0]:
        raise WireError(f"unsupported wire major version {major} "
                        f"(this side speaks {WIRE_VERSION[0]}.x)")
    return major, minor


def decode_entry(data: bytes, *, max_values: int = 0) -> Entry:
    """Decode and validate a queue entry; WireError says what is wrong. A receiver
    passes `max_values` (see `unpackb`) to bound what one entry may build."""
    obj = unpackb(data, max_values=max_values)
    if not isinstance(obj, dict):
        raise WireError("entry must be a map")
    version = check_version(obj.get("v"))
    try:
        kind = Kind(str(obj.get("kind")))
    except ValueError:
        raise WireError(f"unknown entry kind {obj.get('kind')!r}") from None
    entity = obj.get("entity")
    project, run_id, body = obj.get("project"), obj.get("run_id"), obj.get("body")
    if entity is not None and not is_valid_name(entity):
        raise WireError(f"invalid entity name {entity!r}")
    if not is_valid_name(project):
        raise WireError(f"invalid project name {project!r}")
    if not is_valid_run_id(run_id):
        raise WireError(f"invalid run id {run_id!r}: {run_id_problem(run_id)}")
    if not isinstance(body, dict):
        raise WireError("entry body must be a map")
    return Entry(kind, entity, str(project), str(run_id), body, version)


def entry_digest(data: bytes | bytearray | memoryview) -> str:
    """The digest the server keeps with an applied idempotency key: sha256 of the
    entry's bytes exactly as queued (the same entry sent again has the same digest)."""
    return hashlib.sha256(data).hexdigest()


def encode_batch(queue_id: str, entries: Iterable[tuple[int, bytes]]) -> bytes:
    """Request body for POST /batches: entry payloads travel as opaque bytes."""
    return _packb_plain({"v": list(WIRE_VERSION), "queue_id": queue_id,
                         "entries": [{"id": i, "data": d} for i, d in entries]})


@dataclass(frozen=True)
class BatchRequest:
    queue_id: str
    entries: list[tuple[int, Any]]  # (id, raw bytes, or whatever the client sent)


_ENVELOPE_FIELD_MAX = 256  # wire bytes of the envelope's "v" and of its "queue_id"
_ITEM_KEYS_MAX = 16  # an entry item is {"id", "data"}: a few keys, never thousands
# First bytes of msgpack containers and exts: an item's field that starts with one is
# skipped, not built, since a valid id or data (an int, bytes) is never one.
_CONTAINER_TAGS = frozenset([*range(0x80, 0xA0), 0xC7, 0xC8, 0xC9, *range(0xD4, 0xD9),
                             0xDC, 0xDD, 0xDE, 0xDF])
NOT_BYTES = "<not bytes>"
"""What `decode_batch` gives as an entry's data when the client sent a container:
the receiver rejects that entry alone, as it would any data that is not bytes."""


def decode_batch(data: bytes, *, max_entries: int = 0) -> BatchRequest:
    """Decode a batch envelope. Entry payloads are left as bytes so that one bad
    entry fails alone.

    The envelope is read as a stream and builds nothing it does not need: with
    `max_entries` (when given) a batch announcing more entries is refused with
    TooManyEntriesError from its array header, before a single entry is read; unknown
    fields are skipped; an entry's id and data are read only when they are scalars.
    So decoding costs memory in proportion to the bytes, whatever they hold."""
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False,
                                max_buffer_size=max(len(data), 1))
    unpacker.feed(data)
    fields: dict[str, Any] = {}
    entries: list[tuple[int, Any]] | None = None
    try:
        try:
            keys = unpacker.read_map_header()
        except ValueError:
            raise WireError("batch must be a map") from None
        for _ in range(keys):
            key = _read_scalar(unpacker, data)
            if key == "entries" and entries is None:
                entries = _read_entries(unpacker, data, max_entries)
            elif key in ("v", "queue_id") and key not in fields:
                fields[key] = _read_small(unpacker, data)
            else:
                unpacker.skip()  # a field of a later minor version, or padding: unused
        if unpacker.tell() != len(data):
            raise WireError("malformed msgpack: extra bytes after the batch")
    except WireError:
        raise
    except Exception as exc:  # msgpack raises many unrelated types on garbage
        raise WireError(f"malformed msgpack: {exc}") from exc
    check_version(fields.get("v"))
    queue_id = fields.get("queue_id")
    if not isinstance(queue_id, str) or not is_valid_name(queue_id):
        raise WireError("batch needs a valid queue_id")
    if entries is None:
        raise WireError("batch needs a list of entries")
    return BatchRequest(queue_id, entries)


def _read_entries(unpacker: msgpack.Unpacker, data: bytes, max_entries: int
                  ) -> list[tuple[int, Any]]:
    try:
        count = unpacker.read_array_header()
    except ValueError:
        raise WireError("batch needs a list of entries") from None
    if max_entries and count > max_entries:
        raise TooManyEntriesError(count, max_entries)
    out: list[tuple[int, Any]] = []
    for _ in range(count):
        try:
            keys = unpacker.read_map_header()
        except ValueError:
            raise WireError("each batch entry needs an integer id") from None
        if keys > _ITEM_KEYS_MAX:
            raise WireError(f"a batch entry is a map of at most {_ITEM_KEYS_MAX} keys")
        item: dict[Any, Any] = {}
        for _ in range(keys):
            key = _read_scalar(unpacker, data)
            item[key] = _read_scalar(unpacker, data)
        entry_id = item.get("id")
        if not isinstance(entry_id, int) or isinstance(entry_id, bool):
            raise WireError("each batch entry needs an integer id")
        out.append((entry_id, item.get("data")))
    return out


def _read_scalar(unpacker: msgpack.Unpacker, data: bytes) -> Any:
    """The next object if it is a scalar (its memory is about its bytes); containers
    and exts are skipped unbuilt and read as `NOT_BYTES`."""
    offset = unpacker.tell()
    if offset < len(data) and data[offset] in _CONTAINER_TAGS:
        unpacker.skip()
        return NOT_BYTES
    return unpacker.unpack()


def _read_small(unpacker: msgpack.Unpacker, data: bytes) -> Any:
    """The next object when it takes at most `_ENVELOPE_FIELD_MAX` bytes, else None
    (which the envelope's checks then refuse)."""
    start = unpacker.tell()
    unpacker.skip()
    end = unpacker.tell()
    if end - start > _ENVELOPE_FIELD_MAX:
        return None
    return msgpack.unpackb(data[start:end], raw=False)


# ---------------------------------------------------------------------------
# tables and artifacts

CHUNK_ROWS = 512
"""Rows per table chunk. Boundaries sit at fixed multiples of this from row 0, so a
table that grows rewrites at most its last, partial chunk."""


@dataclass(frozen=True)
class ChunkRef:
    sha256: str
    nrows: int
    size: int


@dataclass(frozen=True)
class TableManifest:
    """A table snapshot: its schema and the chunks holding its rows, in order."""

    columns: list[str]
    column_types: list[Any]  # one type description (plain data) per column
    chunks: list[ChunkRef]
    log_mode: str = "IMMUTABLE"
    increments: int = 0  # INCREMENTAL: how many logs produced these rows

    @property
    def nrows(self) -> int:
        return sum(c.nrows for c in self.chunks)

    def to_bytes(self) -> bytes:
        return _packb_plain({
            "_type": "table", "columns": self.columns, "column_types": self.column_types,
            "chunks": [[c.sha256, c.nrows, c.size] for c in self.chunks],
            "nrows": self.nrows, "log_mode": self.log_mode, "increments": self.increments})

    @classmethod
    def from_bytes(cls, data: bytes) -> TableManifest:
        obj = unpackb(data)
        try:
            if obj["_type"] != "table":
                raise WireError("not a table manifest")
            chunks = [ChunkRef(str(s), int(n), int(z)) for s, n, z in obj["chunks"]]
            if not all(is_sha256(c.sha256) for c in chunks):
                raise WireError("table manifest has an invalid chunk address")
            return cls(list(obj["columns"]), list(obj["column_types"]), chunks,
                       str(obj.get("log_mode", "IMMUTABLE")), int(obj.get("increments", 0)))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, WireError):
                raise
            raise WireError(f"malformed table manifest: {exc}") from exc


def encode_rows(rows: Sequence[Sequence[Any]], *, resolve: Resolver | None = None) -> bytes:
    """One chunk of rows. `resolve` turns media objects into MediaRef."""
    return packb([list(r) for r in rows], resolve=resolve)


def decode_rows(data: bytes) -> list[list[Any]]:
    rows = unpackb(data)
    if not isinstance(rows, list):
        raise WireError("a table chunk must be a list of rows")
    return rows


def encode_joined_table(table1: str, table2: str, join_key: str | list[str]) -> bytes:
    """A joined-table entry: the entry names of its two tables in the same artifact."""
    return _packb_plain({"_type": "joined-table", "table1": table1, "table2": table2,
                         "join_key": join_key})


def joined_column_names(key: Any, left: Sequence[Any], right: Sequence[Any]) -> list[Any]:
    """Columns of a joined table: the key, table1's other columns, table2's other
    columns; a name in both tables (or a table2 column named like the key) gets the
    suffix ``_1``/``_2``. Shared so the SDK's `JoinedTable.to_table` and the viewer's
    join name columns alike."""
    clashing = (set(left) & set(right)) | ({key} & set(right))
    taken = {key, *left, *right}
    out: list[Any] = [key]
    for names, suffix in ((left, "_1"), (right, "_2")):
        for name in names:
            if name in clashing:
                renamed = f"{name}{suffix}"
                while renamed in taken:
                    renamed += suffix
                taken.add(renamed)
                name = renamed
            out.append(name)
    return out


def decode_joined_table(data: bytes) -> tuple[str, str, str | list[str]]:
    obj = unpackb(data)
    if not isinstance(obj, dict) or obj.get("_type") != "joined-table":
        raise WireError("not a joined-table entry")
    return obj["table1"], obj["table2"], obj["join_key"]


@dataclass(frozen=True)
class ManifestEntry:
    """One named entry of an artifact: a blob and what kind of thing it holds.

    kind: table | joined-table | image | audio | video | html | file.
    blobs: every blob the entry needs besides its own (chunks, media in cells).
    """

    kind: str
    sha256: str
    size: int
    meta: Mapping[str, Any] = field(default_factory=dict)
    blobs: tuple[str, ...] = ()

    def to_plain(self) -> dict[str, Any]:
        return {"kind": self.kind, "sha256": self.sha256, "size": self.size,
                "meta": dict(self.meta), "blobs": list(self.blobs)}

    @classmethod
    def from_plain(cls, obj: Mapping[str, Any]) -> ManifestEntry:
        try:
            entry = cls(str(obj["kind"]), str(obj["sha256"]), int(obj["size"]),
                        dict(obj.get("meta") or {}), tuple(obj.get("blobs") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise WireError(f"malformed manifest entry: {exc}") from exc
        if not is_sha256(entry.sha256) or not all(is_sha256(b) for b in entry.blobs):
            raise WireError("manifest entry has an invalid blob address")
        return entry


def artifact_digest(entries: Mapping[str, ManifestEntry]) -> str:
    """Content digest of an artifact: same entries (names and bytes) -> same digest,
    hence the same version on the server."""
    h = hashlib.sha256()
    for name in sorted(entries):
        h.update(name.encode())
        h.update(b"\0")
        h.update(entries[name].sha256.encode())
        h.update(b"\n")
    return h.hexdigest()


def artifact_blobs(entries: Mapping[str, ManifestEntry]) -> list[str]:
    """Every blob an artifact needs, each once, in a stable order."""
    seen: dict[str, None] = {}
    for name in sorted(entries):
        if entries[name].kind == "reference":  # a URI recorded, no blob behind it
            continue
        seen[entries[name].sha256] = None
        for b in entries[name].blobs:
            seen[b] = None
    return list(seen)
